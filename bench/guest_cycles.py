"""zkVM guest cycles (RISC Zero executor, real guest): an ERC20 balance read on real
mainnet data, then 1 / 8 / 64 storage slots on a local anvil token with and without
16 headers of ancestry, and per model size. Baseline (ratio 1.0): the single-slot anvil
request without ancestry, measured in the same run. ``--prove`` also proves the mainnet
request locally (composite receipt) and reports seconds per million cycles.

Run: ``.venv/bin/python -m bench guest_cycles`` (or ``python -m bench.guest_cycles --prove``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import table
from coprocessor.chain.bundle import ProofAtBlock, build_bundle
from coprocessor.chain.headers import encode_header_json
from coprocessor.chain.slots import mapping_slot
from coprocessor.dev.devnet import rpc_call, start_anvil, stop_pid
from coprocessor.zk import prover

REPO = Path(__file__).resolve().parent.parent
VECTORS = REPO / "tests" / "vectors" / "chain"  # copied by scripts/copy_vectors.py
TOKEN = "0x" + "70" * 20
SUBJECT = "0x" + "42" * 20
TARGET_TOTAL = 1_500_000


def model(inputs: int, hidden: int) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    width = inputs
    if hidden:
        bound = (2**31 - 1) // inputs
        w = [
            [((i * 31 + j * 17) % 2000 - 1000) * min(bound // 1000, 64) for j in range(inputs)]
            for i in range(hidden)
        ]
        layers += [
            {"op": "dense", "in": inputs, "out": hidden, "weights": w, "bias": [0] * hidden},
            {"op": "relu"},
        ]
        width = hidden
    layers += [
        {"op": "dense", "in": width, "out": 1, "weights": [[100] * width], "bias": [0]},
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ]
    return {
        "format": "coproc-model",
        "version": 1,
        "name": "bench",
        "scale_bits": 16,
        "input_dim": inputs,
        "layers": layers,
    }


def holder(i: int) -> str:
    return "0x" + (i + 1).to_bytes(20, "big").hex()


def token_spec(n: int) -> dict[str, Any]:
    feats = [
        {
            "name": f"bal{i}",
            "read": {
                "kind": "storage",
                "address": TOKEN,
                "slot": {"base": 0, "path": [{"mapping": holder(i)}]},
            },
            "decimals": 18,
        }
        for i in range(n)
    ]
    return {"format": "coproc-features", "version": 1, "name": f"token-{n}", "features": feats}


def anvil_bundles(work: Path) -> dict[tuple[int, int], dict[str, Any]]:
    """Bundles for (slots, ancestry) on a real anvil: a token account holding 64 balances."""
    node = start_anvil("bench-guest", work, persist=False)
    try:
        url = node.rpc
        rpc_call(url, "anvil_setCode", [TOKEN, "0x6001"])
        for i in range(64):
            slot = "0x" + mapping_slot(0, bytes.fromhex(holder(i)[2:])).to_bytes(32, "big").hex()
            rpc_call(
                url,
                "anvil_setStorageAt",
                [TOKEN, slot, "0x" + ((i + 1) * 10**18).to_bytes(32, "big").hex()],
            )
        rpc_call(url, "anvil_mine", ["0x3"])
        read_block = int(rpc_call(url, "eth_blockNumber"), 16)
        rpc_call(url, "anvil_mine", ["0x10"])
        headers = {
            n: encode_header_json(rpc_call(url, "eth_getBlockByNumber", [hex(n), False]))
            for n in range(read_block, read_block + 17)
        }
        out = {}
        for slots in (1, 8, 64):
            keys = [
                "0x" + mapping_slot(0, bytes.fromhex(holder(i)[2:])).to_bytes(32, "big").hex()
                for i in range(slots)
            ]
            proof = rpc_call(url, "eth_getProof", [TOKEN, keys, hex(read_block)], timeout=30)
            for ancestry in (0, 16):
                chain = [headers[n] for n in range(read_block, read_block + ancestry + 1)]
                out[(slots, ancestry)] = build_bundle(
                    node.chain_id, chain, [ProofAtBlock(read_block, proof)]
                ).bundle.to_json()
        return out
    finally:
        stop_pid(node.pid)


def mainnet_weth() -> tuple[dict[str, Any], dict[str, Any]]:
    header = encode_header_json(
        json.loads((VECTORS / "headers" / "prague_23223655.json").read_text())
    )
    proof = json.loads((VECTORS / "proofs" / "prague_23223655_weth_storage.json").read_text())[
        "proof"
    ]
    bundle = build_bundle(1, [header], [ProofAtBlock(23223655, proof)]).bundle.to_json()
    slot = int(bundle["accounts"][0]["storage"][0]["slot"], 16)
    weth = bundle["accounts"][0]["address"]
    spec = {
        "format": "coproc-features",
        "version": 1,
        "name": "weth-balance",
        "features": [
            {
                "name": "bal",
                "read": {"kind": "storage", "address": weth, "slot": {"base": slot}},
                "decimals": 18,
            }
        ],
    }
    return bundle, spec


def request_in(d: Path, block: int | None = None) -> prover.ProveRequest:
    """The request of the files ``run`` wrote to ``d``."""
    return prover.ProveRequest(
        d / "bundle.json", d / "model.json", d / "spec.json", SUBJECT, block=block
    )


def run(
    work: Path,
    name: str,
    bundle: dict[str, Any],
    spec: dict[str, Any],
    mdl: dict[str, Any],
    block: int | None = None,
) -> dict[str, Any]:
    d = work / name
    d.mkdir()
    for k, v in (("bundle", bundle), ("spec", spec), ("model", mdl)):
        (d / f"{k}.json").write_text(json.dumps(v))
    out = prover.execute(request_in(d, block))
    out["dir"] = d
    return out


def main() -> None:
    do_prove = "--prove" in sys.argv
    with tempfile.TemporaryDirectory(prefix="bench-guest-") as tmp:
        work = Path(tmp)
        bundles = anvil_bundles(work / "anvil")
        rows: list[list[object]] = []
        results: dict[str, dict[str, Any]] = {}
        base_bundle = bundles[(1, 0)]
        base = run(work, "base", base_bundle, token_spec(1), model(1, 0))
        base_total = base["cycles"]["total"]

        def add(label: str, out: dict[str, Any], nodes: int, headers: int) -> None:
            c = out["cycles"]
            rows.append(
                [
                    label,
                    headers,
                    nodes,
                    f"{c['user']:,}",
                    f"{c['total']:,}",
                    c["segments"],
                    f"{c['total'] / base_total:.2f}",
                ]
            )
            results[label] = out

        weth_bundle, weth_spec = mainnet_weth()
        weth = run(work, "weth", weth_bundle, weth_spec, model(1, 0))
        add("mainnet WETH balanceOf: 1 account + 1 slot", weth, len(weth_bundle["nodes"]), 1)
        for slots in (1, 8, 64):
            for ancestry in (0, 16):
                b = bundles[(slots, ancestry)]
                out = (
                    base
                    if (slots, ancestry) == (1, 0)
                    else run(
                        work,
                        f"s{slots}a{ancestry}",
                        b,
                        token_spec(slots),
                        model(slots, 0),
                        block=b["anchor"]["number"] - ancestry,
                    )
                )
                add(
                    f"anvil token: {slots} slot(s), ancestry {ancestry}",
                    out,
                    len(b["nodes"]),
                    len(b["headers"]),
                )
        for hidden in (4, 32, 128):
            out = run(work, f"m{hidden}", weth_bundle, weth_spec, model(1, hidden))
            add(f"mainnet WETH, model 1-{hidden}-1", out, len(weth_bundle["nodes"]), 1)
        out64 = run(work, "s64m64", bundles[(64, 0)], token_spec(64), model(64, 64))
        add("anvil token: 64 slots, model 64-64-1", out64, len(bundles[(64, 0)]["nodes"]), 1)
        print(
            table(
                "zkVM guest cycles (executor)",
                [
                    "request",
                    "headers",
                    "pool nodes",
                    "user cycles",
                    "total cycles",
                    "segments",
                    "total vs 1-slot anvil",
                ],
                rows,
            )
        )
        total = weth["cycles"]["total"]
        verdict = "meets" if total < TARGET_TOTAL else "MISSES"
        print(
            f"ERC20 balance (mainnet WETH) total cycles: {total:,} -> "
            f"{verdict} the < {TARGET_TOTAL:,} target"
        )
        if do_prove:
            d = results["mainnet WETH balanceOf: 1 account + 1 slot"]["dir"]
            start = time.perf_counter()
            summary = prover.prove(request_in(d), d / "receipt.json")
            secs = time.perf_counter() - start
            c = summary["cycles"]
            print(
                table(
                    "local proving (CPU, composite receipt)",
                    ["request", "total cycles", "segments", "prove s", "s per Mcycle"],
                    [
                        [
                            "mainnet WETH balanceOf",
                            f"{c['total']:,}",
                            c["segments"],
                            f"{secs:.1f}",
                            f"{secs / (c['total'] / 1e6):.1f}",
                        ]
                    ],
                )
            )


if __name__ == "__main__":
    main()
