"""Integration on a real anvil: a compiled Solidity contract with values, packed
fields, (nested) mappings, dynamic arrays and structs. Slots derived in Python are
checked against eth_getStorageAt, then indexed, verified, cached and compared."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from locations import TESTS
from solidity import deploy
from web3 import Web3
from web3.types import RPCEndpoint

from coprocessor.chain.bundle import load_bundle, verify_bundle
from coprocessor.chain.slots import (
    array_element_slot,
    extract_packed,
    field_slot,
    mapping_slot,
    nested_mapping_slot,
    packed_array_element,
    slot_bytes,
)
from coprocessor.dev.devnet import AnvilNode
from coprocessor.index.indexer import Read, index_block
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store

FIXTURE = TESTS / "solidity" / "StorageLayout.sol"
WHO = bytes.fromhex("00000000000000000000000000000000000000aa")


@pytest.fixture(scope="module")
def layout(anvil: AnvilNode) -> tuple[Any, Any]:
    w3, contract = deploy(anvil.rpc, FIXTURE, "StorageLayout", Web3.to_checksum_address(WHO))
    w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    return w3, contract


def _slots() -> dict[str, int]:
    return {
        "value": 0,
        "packed": 1,
        "balance": mapping_slot(2, WHO),
        "nested": nested_mapping_slot(3, WHO, 7),
        "items_len": 4,
        "item2": array_element_slot(4, 2),
        "pos_collateral_debt": mapping_slot(5, WHO),
        "pos_updated": field_slot(mapping_slot(5, WHO), 1),
        "small_len": 6,
        "small9": packed_array_element(6, 9, 4)[0],
        "fixed_updated": field_slot(7, 1),
        "missing": mapping_slot(2, b"\x01" * 20),
    }


def test_slot_helpers_match_solidity(layout: tuple[Any, Any]) -> None:
    w3, contract = layout
    at = contract.address

    def word(slot: int) -> int:
        return int.from_bytes(w3.eth.get_storage_at(at, slot), "big")

    s = _slots()
    assert word(s["value"]) == 0x1234
    packed = word(s["packed"])
    assert extract_packed(packed, 0, 16) == 0xDEADBEEF
    assert extract_packed(packed, 16, 8) == 77
    assert extract_packed(packed, 24, 4, signed=True) == -5
    assert extract_packed(packed, 28, 1) == 1
    assert word(s["balance"]) == 1000 * 10**18
    assert word(s["nested"]) == 42
    assert word(s["items_len"]) == 3
    assert word(s["item2"]) == 33
    pos = word(s["pos_collateral_debt"])
    assert extract_packed(pos, 0, 16) == 5 * 10**18
    assert extract_packed(pos, 16, 16) == 2 * 10**18
    assert word(s["pos_updated"]) == 123456
    slot, offset = packed_array_element(6, 9, 4)
    assert extract_packed(word(slot), offset, 4) == 9 * 3 + 1
    assert word(s["fixed_updated"]) == 7  # Position(9, 8, 7).updatedAt
    assert word(s["missing"]) == 0
    # the public getters agree too (independent of our slot arithmetic)
    assert contract.functions.positions(Web3.to_checksum_address(WHO)).call()[2] == 123456


def test_index_verifies_and_caches(
    layout: tuple[Any, Any], anvil: AnvilNode, tmp_path: Path
) -> None:
    w3, contract = layout
    address = bytes.fromhex(contract.address[2:])
    slots = [slot_bytes(v) for v in _slots().values()]
    absent = bytes.fromhex("00000000000000000000000000000000000000ff")
    store = Store(tmp_path / "db.sqlite")

    async def run() -> Any:
        async with RpcClient(anvil.rpc) as rpc:
            head = await rpc.block_number()
            block = head - 2
            first = await index_block(
                rpc, store, block, [Read(address, tuple(slots)), Read(absent)], ancestors=2
            )
            proofs = rpc.calls_by_method["eth_getProof"]
            second = await index_block(
                rpc, store, block, [Read(address, tuple(slots)), Read(absent)], ancestors=2
            )
            return block, first, second, rpc.calls_by_method["eth_getProof"] - proofs

    block, first, second, proof_calls = asyncio.run(run())
    assert second.bundle == first.bundle  # rebuilt from the store, byte-identical
    assert proof_calls == 0  # the second run's proofs came from the cache
    values = first.to_json()
    read = next(a for a in values["accounts"] if a["address"] == "0x" + address.hex())
    for slot in slots:
        onchain = int.from_bytes(w3.eth.get_storage_at(contract.address, slot, block), "big")
        assert int(read["storage"]["0x" + slot.hex()], 16) == onchain
    missing = next(a for a in values["accounts"] if a["address"] == "0x" + absent.hex())
    assert missing["account"] is None
    assert first.anchor.number == block + 2
    assert store.counts()["headers"] == 3
    assert store.counts()["slots"] == len(slots)
    store.close()


def test_cli_index_and_verify(layout: tuple[Any, Any], anvil: AnvilNode, tmp_path: Path) -> None:
    _, contract = layout
    coproc = Path(sys.executable).parent / "coproc"
    out = tmp_path / "bundle.json"
    args = [
        str(coproc),
        "--data-dir",
        str(tmp_path / "data"),
        "index",
        "--rpc",
        anvil.rpc,
        "--block",
        "latest",
        "--address",
        contract.address,
        "--slot",
        "0",
        "--slot",
        hex(mapping_slot(2, WHO)),
        "--out",
        str(out),
    ]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout)
    assert summary["slots"] == 2 and summary["accounts"] == 1
    verified = verify_bundle(load_bundle(out))
    assert verified.to_json()["accounts"][0]["storage"]["0x" + "00" * 32] == "0x1234"
    shown = subprocess.run(
        [str(coproc), "verify-bundle", str(out)], capture_output=True, text=True, check=True
    )
    assert json.loads(shown.stdout) == verified.to_json()
    history = subprocess.run(
        [
            *args[:6],
            "--blocks",
            f"{max(1, summary['block'] - 3)}..{summary['block']}",
            "--every",
            "2",
            *args[8:-2],
            "--out",
            str(tmp_path / "hist"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(history.stdout)["bundles"] == 2
    assert len(list((tmp_path / "hist").glob("bundle-*.json"))) == 2


def test_cli_index_for_feature_spec(
    layout: tuple[Any, Any], anvil: AnvilNode, tmp_path: Path
) -> None:
    """``--spec``: exactly the reads a feature spec needs, at several blocks, in one
    bundle whose header chain runs from the oldest read to the anchor."""
    from coprocessor.scoring import features

    w3, contract = layout
    who = Web3.to_checksum_address(WHO)
    contract.functions.setBalance(who, 5 * 10**18).transact({"from": w3.eth.accounts[0]})
    w3.provider.make_request(RPCEndpoint("anvil_mine"), [3])
    spec = {
        "format": "coproc-features",
        "version": 1,
        "name": "layout-test",
        "features": [
            {
                "name": "bal_now",
                "read": {
                    "kind": "storage",
                    "address": contract.address.lower(),
                    "slot": {"base": 2, "path": [{"mapping": "$subject"}]},
                },
                "decimals": 18,
                "min": 0,
                "max": 2**31 - 1,
            },
            {
                "name": "bal_before",
                "read": {
                    "kind": "storage",
                    "address": contract.address.lower(),
                    "slot": {"base": 2, "path": [{"mapping": "$subject"}]},
                    "block_offset": 3,
                },
                "decimals": 18,
                "min": 0,
                "max": 2**31 - 1,
            },
            {"name": "eth", "read": {"kind": "balance", "address": "$subject"}, "decimals": 18},
        ],
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    head = w3.eth.block_number
    block = head - 1
    out = tmp_path / "spec-bundle.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "coproc"),
            "--data-dir",
            str(tmp_path / "data"),
            "index",
            "--rpc",
            anvil.rpc,
            "--block",
            str(block),
            "--ancestors",
            "1",
            "--spec",
            str(spec_path),
            "--subject",
            who,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    verified = verify_bundle(load_bundle(out))
    assert [h.number for h in verified.headers] == list(range(block - 3, head + 1))
    vector = features.compute(features.normalize(spec), verified.to_json(), who, block)
    slot = mapping_slot(2, WHO)
    now = int.from_bytes(w3.eth.get_storage_at(contract.address, slot, block), "big")
    before = int.from_bytes(w3.eth.get_storage_at(contract.address, slot, block - 3), "big")
    assert now == 5 * 10**18 and before == 1000 * 10**18
    assert vector.values[0] == (now << 16) // 10**18
    assert vector.values[1] == (before << 16) // 10**18
    assert vector.values[2] == 0  # WHO holds no ETH
