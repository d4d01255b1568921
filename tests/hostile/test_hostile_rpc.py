"""A hostile JSON-RPC node (a real proxy in front of anvil answering eth_getProof
with hostile bodies) can only make the call fail: RpcError with one line, nothing
stored, and the same client and store index honestly right after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from lying_proxy import LyingProxy, stored_rows

from coprocessor.dev.devnet import AnvilNode, rpc_call
from coprocessor.errors import RpcError
from coprocessor.index import rpc as rpc_module
from coprocessor.index.indexer import Read
from coprocessor.index.indexer import index_block as index_one
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store

CONTRACT = "0x00000000000000000000000000000000c0ffee20"
SLOT = "0x" + "00" * 31 + "07"
SIZE_LIMIT = 200_000

Body = Callable[[int], bytes]


def answer(result: bytes) -> Body:
    """A JSON-RPC answer body with ``result`` spliced in as raw bytes."""
    return lambda call_id: b'{"jsonrpc":"2.0","id":%d,"result":%s}' % (call_id, result)


HOSTILE: dict[str, Body] = {
    "deep": answer(b"[" * 90_000 + b"]" * 90_000),
    "duplicate_keys": answer(b'{"address":"0x00","address":"0x01"}'),
    "huge_integer": answer(b"9" * 5001),
    "oversized": answer(b'"' + b"a" * (2 * SIZE_LIMIT) + b'"'),
    "not_utf8": answer(b'"\xff"'),
    "nan": answer(b"NaN"),
}

EXPECTED = {
    "deep": "nested deeper than",
    "duplicate_keys": "duplicate key 'address'",
    "huge_integer": "more than 78 digits",
    "oversized": f"answer larger than {SIZE_LIMIT:,} bytes",
    "not_utf8": "not UTF-8 text",
    "nan": "NaN is not a JSON number",
}


def answer_proofs_with(body: Body) -> Any:
    async def rule(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
        calls = payload if isinstance(payload, list) else [payload]
        if any(c.get("method") == "eth_getProof" for c in calls):
            proxy.lies += 1
            return web.Response(body=body(calls[0]["id"]), content_type="application/json")
        return web.json_response(await proxy.forward(payload))

    return rule


@pytest.fixture(scope="module")
def proxy(anvil: AnvilNode) -> Iterator[LyingProxy]:
    rpc_call(anvil.rpc, "anvil_setStorageAt", [CONTRACT, SLOT, "0x" + "5a" * 32])
    rpc_call(anvil.rpc, "anvil_mine", ["0x1"])
    server = LyingProxy(anvil.rpc).start()
    yield server
    server.stop()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_body_fails_the_call_and_stores_nothing(
    proxy: LyingProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(rpc_module, "MAX_ANSWER_BYTES", SIZE_LIMIT)
    proxy.reset()
    path = tmp_path / "store.sqlite"
    store = Store(path)
    read = Read(bytes.fromhex(CONTRACT[2:]), (bytes.fromhex(SLOT[2:]),))

    async def index(lie: bool) -> Any:
        proxy.rule = answer_proofs_with(HOSTILE[kind]) if lie else None
        async with RpcClient(proxy.url, retries=1, backoff=0.01) as rpc:
            await rpc.connect()
            head = await rpc.block_number()
            return await index_one(rpc, store, head, [read])

    try:
        with pytest.raises(RpcError) as caught:
            asyncio.run(index(lie=True))
        message = str(caught.value)
        assert "\n" not in message and EXPECTED[kind] in message, message
        assert proxy.lies >= 1
        assert not any(stored_rows(path).values()), stored_rows(path)
        verified = asyncio.run(index(lie=False))  # the honest node right after: indexed
        assert verified.bundle.accounts and any(stored_rows(path).values())
    finally:
        store.close()
