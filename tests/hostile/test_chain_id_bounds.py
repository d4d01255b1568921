"""Chain ids are uint64 end to end: the store keeps and finds bundles at the
bounds, including [2^63, 2^64) where SQLite's signed INTEGER used to overflow,
and the RPC client refuses a chain id that is not a uint64."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from lying_proxy import ThreadedServer, json_response

from coprocessor.chain.bundle import parse_bundle, verify_bundle
from coprocessor.errors import RpcError
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.sqlite import from_int64, to_int64
from coprocessor.zk import journal, receipt_store

VECTOR = Path(__file__).resolve().parent.parent / "vectors" / "features" / "lending_bundle.json"
BOUNDS = [0, 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]


def test_int64_mapping_at_the_bounds() -> None:
    for value in BOUNDS:
        stored = to_int64(value)
        assert -(2**63) <= stored < 2**63
        assert from_int64(stored) == value
        assert to_int64(stored) == stored  # idempotent
    assert to_int64(2**63 - 1) == 2**63 - 1  # rows written before keep their meaning
    with pytest.raises(OverflowError):
        to_int64(2**64)


@pytest.mark.parametrize("chain_id", BOUNDS)
def test_the_store_keeps_each_bound_apart(tmp_path: Path, chain_id: int) -> None:
    obj: dict[str, Any] = json.loads(VECTOR.read_text())["bundle"]
    bundle = parse_bundle(obj)
    other = 31337 if chain_id != 31337 else 1
    store = Store(tmp_path / "store.sqlite")
    try:
        store.save_verified(verify_bundle(dataclasses.replace(bundle, chain_id=chain_id)))
        anchor = bundle.anchor_number
        rows = store.headers_at(chain_id, anchor)
        assert [r.hash for r in rows] == [bundle.anchor_hash]
        assert store.canonical_header(chain_id, anchor) is not None
        assert store.headers_at(other, anchor) == []
    finally:
        store.close()
    conn = sqlite3.connect(tmp_path / "store.sqlite")
    (stored,) = conn.execute("SELECT DISTINCT chain_id FROM headers").fetchone()
    conn.close()
    assert stored == (chain_id if chain_id < 2**63 else chain_id - 2**64)


@pytest.mark.parametrize("answer", ["0x10000000000000000", "-0x1", "0x" + "f" * 100])
def test_rpc_refuses_a_chain_id_that_is_not_uint64(answer: str) -> None:
    async def handle(request: Any) -> Any:
        call = await request.json()
        return json_response({"jsonrpc": "2.0", "id": call["id"], "result": answer})

    server = ThreadedServer(handle).start()
    try:

        async def connect() -> None:
            async with RpcClient(server.url, retries=0) as rpc:
                await rpc.connect()

        with pytest.raises(RpcError, match="eth_chainId answer is not a hex quantity"):
            asyncio.run(connect())
    finally:
        server.stop()


def test_the_receipt_index_keeps_uint64_journal_fields_at_the_bounds(tmp_path: Path) -> None:
    top = 2**64 - 1
    fields = {
        "version": 1,
        "chainId": top,
        "anchorNumber": 2**63,
        "anchorHash": "0x" + "11" * 32,
        "blockNumber": 2**63 - 1,
        "subject": "0x" + "22" * 20,
        "modelHash": "0x" + "33" * 32,
        "featureSpecHash": "0x" + "44" * 32,
        "score": 1234,
        "requestId": "0x" + "55" * 32,
    }
    doc = {
        "format": "coproc-receipt",
        "version": 1,
        "journal_hex": "0x" + journal.encode(fields).hex(),
        "claim_digest": "0x" + "66" * 32,
        "image_id": "0x" + "77" * 32,
    }
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(doc))
    store = receipt_store.ReceiptStore(tmp_path / "receipts.sqlite")
    try:
        store.record(path, doc)
        (row,) = store.rows()
    finally:
        store.close()
    assert (row["chain_id"], row["anchor_number"], row["block_number"]) == (
        top,
        2**63,
        2**63 - 1,
    )
