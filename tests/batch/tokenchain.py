"""A token on a real anvil with many holders, for batch tests: balances in mapping slot
0 (as an ERC20's), a subject-independent total in slot 2, ETH on every other holder
(the rest are absent accounts), and the spec and model that score them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coprocessor.chain.slots import mapping_slot
from coprocessor.dev.devnet import rpc_call

TOKEN = "0x" + "70" * 20


def holder(i: int) -> str:
    return "0x" + (0x5000 + i).to_bytes(20, "big").hex()


def balance(i: int) -> int:
    return (i * 7919 % 1000 + 1) * 10**18


SPEC: dict[str, Any] = {
    "format": "coproc-features",
    "version": 1,
    "name": "batch-token",
    "features": [
        {
            "name": "bal",
            "read": {
                "kind": "storage",
                "address": TOKEN,
                "slot": {"base": 0, "path": [{"mapping": "$subject"}]},
            },
            "decimals": 18,
        },
        {
            "name": "supply",
            "read": {"kind": "storage", "address": TOKEN, "slot": {"base": 2}},
            "decimals": 21,
        },
        {"name": "eth", "read": {"kind": "balance", "address": "$subject"}, "decimals": 18},
    ],
}

MODEL: dict[str, Any] = {
    "format": "coproc-model",
    "version": 1,
    "name": "batch-token",
    "scale_bits": 16,
    "input_dim": 3,
    "layers": [
        {"op": "dense", "in": 3, "out": 1, "weights": [[-300, 2000, 500]], "bias": [-65536]},
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}


def word(v: int) -> str:
    return "0x" + v.to_bytes(32, "big").hex()


def fund(url: str, count: int) -> int:
    """Give ``count`` holders their balances; return the block that holds them."""
    rpc_call(url, "anvil_setCode", [TOKEN, "0x6001"])
    for i in range(count):
        slot = mapping_slot(0, bytes.fromhex(holder(i)[2:]))
        rpc_call(url, "anvil_setStorageAt", [TOKEN, word(slot), word(balance(i))])
        if i % 2 == 0:
            rpc_call(url, "anvil_setBalance", [holder(i), hex((i + 1) * 10**17)])
    rpc_call(url, "anvil_setStorageAt", [TOKEN, word(2), word(sum(map(balance, range(count))))])
    rpc_call(url, "anvil_mine", ["0x1"])
    return int(rpc_call(url, "eth_blockNumber"), 16)


def write_inputs(d: Path) -> tuple[Path, Path]:
    """The spec and model files."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "spec.json").write_text(json.dumps(SPEC))
    (d / "model.json").write_text(json.dumps(MODEL))
    return d / "spec.json", d / "model.json"
