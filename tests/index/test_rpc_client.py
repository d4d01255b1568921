"""RpcClient against real in-process HTTP servers (aiohttp.web on 127.0.0.1, no mocks):
id matching, bounded concurrency, batch splitting, eth_getProof key chunking, error
objects, retries and what is never retried."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from lying_proxy import LyingProxy, ThreadedServer, cut, json_response

from coprocessor.dev.devnet import AnvilNode, rpc_call
from coprocessor.errors import ChainMismatchError, RpcError, RpcTimeoutError
from coprocessor.index.indexer import KEYS_PER_CALL, Read, index_block
from coprocessor.index.rpc import PROOF_KEYS_PER_CALL, RpcClient
from coprocessor.index.store import Store

Answer = Callable[[str, list[Any]], Any]


def default_answer(method: str, params: list[Any]) -> Any:
    if method == "eth_chainId":
        return "0x7a69"
    if method == "echo":
        return params
    if method == "eth_getProof":
        address, keys, _block = params
        return {
            "address": address,
            "accountProof": ["0xaa"],
            "storageProof": [{"key": k, "value": "0x0", "proof": []} for k in keys],
        }
    raise KeyError(method)


class FakeNode:
    """A JSON-RPC server answering from ``answer``; batch answers are shuffled
    (never in request order) and every request is recorded."""

    def __init__(self, answer: Answer = default_answer, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.requests: list[Any] = []
        self.active = 0
        self.peak = 0
        self.before: Callable[[Any], web.Response | None] = lambda _payload: None
        self.server = ThreadedServer(self._handle)

    def _one(self, call: dict[str, Any]) -> dict[str, Any]:
        try:
            result = self.answer(call["method"], call["params"])
        except KeyError:
            error = {"code": -32601, "message": f"no method {call['method']}", "data": "x"}
            return {"jsonrpc": "2.0", "id": call["id"], "error": error}
        if isinstance(result, dict) and "error" in result and len(result) == 1:
            return {"jsonrpc": "2.0", "id": call["id"], "error": result["error"]}
        return {"jsonrpc": "2.0", "id": call["id"], "result": result}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        payload = json.loads(await request.read())
        self.requests.append(payload)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            early = self.before(payload)
            if early is not None:
                return early
            if isinstance(payload, list):
                answers = [self._one(c) for c in payload]
                if len(answers) > 1:
                    shuffled = answers[:]
                    while shuffled == answers:
                        random.shuffle(shuffled)
                    answers = shuffled
                return json_response(answers)
            return json_response(self._one(payload))
        finally:
            self.active -= 1

    def calls(self, method: str) -> list[dict[str, Any]]:
        out = []
        for payload in self.requests:
            for call in payload if isinstance(payload, list) else [payload]:
                if call["method"] == method:
                    out.append(call)
        return out

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def node() -> Iterator[FakeNode]:
    fake = FakeNode()
    fake.server.start()
    yield fake
    fake.server.stop()


async def test_batch_results_are_matched_by_id(node: FakeNode) -> None:
    async with RpcClient(node.url) as rpc:
        results = await rpc.batch([("echo", [i]) for i in range(50)])
    assert results == [[i] for i in range(50)]
    batches = [p for p in node.requests if isinstance(p, list)]
    assert len(batches) == 1 and len(batches[0]) == 50


async def test_batches_are_split_and_rejoined_in_order(node: FakeNode) -> None:
    async with RpcClient(node.url, max_batch=10) as rpc:
        results = await rpc.batch([("echo", [i]) for i in range(35)])
    assert results == [[i] for i in range(35)]
    sizes = sorted(len(p) for p in node.requests if isinstance(p, list))
    assert sizes == [5, 10, 10, 10]


async def test_single_call_with_another_id_is_refused(node: FakeNode) -> None:
    async with RpcClient(node.url) as rpc:

        def wrong_id(payload: Any) -> web.Response | None:
            if isinstance(payload, dict) and payload["method"] == "echo":
                return json_response({"jsonrpc": "2.0", "id": payload["id"] + 1, "result": 1})
            return None

        node.before = wrong_id
        with pytest.raises(RpcError, match="answer id"):
            await rpc.call("echo", [1])


async def test_concurrency_is_bounded() -> None:
    fake = FakeNode(delay=0.05)
    with fake.server:
        async with RpcClient(fake.url, max_concurrency=3) as rpc:
            results = await asyncio.gather(*(rpc.call("echo", [i]) for i in range(20)))
    assert results == [[i] for i in range(20)]
    assert fake.peak == 3  # reached, never exceeded


async def test_unbounded_control_exceeds_the_bound() -> None:
    """Control: the server can see more than 3 concurrent requests (so the bound
    above is the client's doing, not the server's)."""
    fake = FakeNode(delay=0.05)
    with fake.server:
        async with RpcClient(fake.url, max_concurrency=20) as rpc:
            await asyncio.gather(*(rpc.call("echo", [i]) for i in range(20)))
    assert fake.peak > 3


async def test_get_proof_chunks_2500_keys(node: FakeNode) -> None:
    keys = [i.to_bytes(32, "big") for i in range(2500)]
    async with RpcClient(node.url) as rpc:
        merged = await rpc.get_proof(b"\x11" * 20, keys, 7)
    calls = node.calls("eth_getProof")
    assert PROOF_KEYS_PER_CALL == 1024
    assert sorted(len(c["params"][1]) for c in calls) == [452, 1024, 1024]
    sent = sorted(k for c in calls for k in c["params"][1])
    assert sent == sorted("0x" + k.hex() for k in keys)  # each key exactly once
    assert all(c["params"][2] == "0x7" for c in calls)
    assert [e["key"] for e in merged["storageProof"]] == ["0x" + k.hex() for k in keys]
    assert merged["accountProof"] == ["0xaa"]


@pytest.mark.parametrize(("count", "sizes"), [(0, [0]), (1024, [1024]), (1025, [1, 1024])])
async def test_get_proof_chunk_edges(node: FakeNode, count: int, sizes: list[int]) -> None:
    keys = [i.to_bytes(32, "big") for i in range(count)]
    async with RpcClient(node.url) as rpc:
        merged = await rpc.get_proof(b"\x11" * 20, keys, 1)
    assert sorted(len(c["params"][1]) for c in node.calls("eth_getProof")) == sizes
    assert len(merged["storageProof"]) == count


async def test_get_proof_chunks_that_disagree_are_refused() -> None:
    answers = iter(["0xaa", "0xbb", "0xaa"])

    def answer(method: str, params: list[Any]) -> Any:
        result = default_answer(method, params)
        if method == "eth_getProof":
            result["accountProof"] = [next(answers)]
        return result

    fake = FakeNode(answer)
    with fake.server:
        async with RpcClient(fake.url) as rpc:
            with pytest.raises(RpcError, match="disagree on the account proof"):
                await rpc.get_proof(b"\x11" * 20, [i.to_bytes(32, "big") for i in range(2100)], 1)


async def test_error_object_is_kept(node: FakeNode) -> None:
    async with RpcClient(node.url) as rpc:
        with pytest.raises(RpcError) as info:
            await rpc.call("nope", [])
    assert info.value.response == {"code": -32601, "message": "no method nope", "data": "x"}
    assert "no method nope (code -32601)" in str(info.value)


async def test_error_object_in_a_batch_is_kept(node: FakeNode) -> None:
    async with RpcClient(node.url) as rpc:
        with pytest.raises(RpcError) as info:
            await rpc.batch([("echo", [1]), ("nope", []), ("echo", [2])])
    assert info.value.response == {"code": -32601, "message": "no method nope", "data": "x"}


async def test_whole_batch_rejected_keeps_the_error(node: FakeNode) -> None:
    error = {"code": -32005, "message": "batch too large"}

    def reject(payload: Any) -> web.Response | None:
        if isinstance(payload, list):
            return json_response({"jsonrpc": "2.0", "id": None, "error": error})
        return None

    async with RpcClient(node.url) as rpc:
        node.before = reject
        with pytest.raises(RpcError, match="batch rejected: batch too large") as info:
            await rpc.batch([("echo", [1]), ("echo", [2])])
    assert info.value.response == error


async def test_client_errors_are_not_retried(node: FakeNode) -> None:
    async with RpcClient(node.url, backoff=0.01) as rpc:
        node.before = lambda _p: web.Response(status=400, text="bad request")
        with pytest.raises(RpcError, match="HTTP 400"):
            await rpc.call("echo", [1])
    assert len(node.requests) == 2  # eth_chainId, then the one failed echo


async def test_429_is_retried_honouring_retry_after(node: FakeNode) -> None:
    failures = iter([True, True, False])

    def limited(payload: Any) -> web.Response | None:
        if isinstance(payload, dict) and payload["method"] == "echo" and next(failures):
            return web.Response(status=429, headers={"Retry-After": "0"})
        return None

    async with RpcClient(node.url, backoff=0.01) as rpc:
        node.before = limited
        assert await rpc.call("echo", [5]) == [5]
    assert len(node.calls("echo")) == 3


async def test_retries_are_bounded(node: FakeNode) -> None:
    async with RpcClient(node.url, backoff=0.01, retries=3) as rpc:
        node.before = lambda _p: web.Response(status=503)
        with pytest.raises(RpcError, match="HTTP 503"):
            await rpc.batch([("echo", [1]), ("echo", [2])])
    assert len([p for p in node.requests if isinstance(p, list)]) == 4


async def test_timeout_error_is_a_timeout() -> None:
    fake = FakeNode()
    with fake.server:
        async with RpcClient(fake.url, timeout=0.2, retries=1, backoff=0.01) as rpc:
            fake.delay = 1.0
            with pytest.raises(RpcTimeoutError, match=r"no answer within 0\.2s") as info:
                await rpc.call("echo", [1])
    assert isinstance(info.value, TimeoutError)
    assert len(fake.calls("echo")) == 2


async def test_writes_are_not_batched(node: FakeNode) -> None:
    async with RpcClient(node.url) as rpc:
        with pytest.raises(RpcError, match="not batched"):
            await rpc.batch([("echo", [1]), ("eth_sendRawTransaction", ["0x00"])])
    assert node.calls("eth_sendRawTransaction") == []


async def test_write_failure_is_sent_once(node: FakeNode) -> None:
    async with RpcClient(node.url, backoff=0.01) as rpc:
        node.before = lambda _p: web.Response(status=502)
        with pytest.raises(RpcError, match="HTTP 502"):
            await rpc.call("eth_sendRawTransaction", ["0x00"])
    assert len(node.calls("eth_sendRawTransaction")) == 1


async def test_chain_id_is_checked_on_connect(node: FakeNode) -> None:
    rpc = RpcClient(node.url, expected_chain_id=1)
    with pytest.raises(ChainMismatchError, match="serves chain id 31337, expected 1"):
        await rpc.connect()
    assert rpc._session is None  # closed again
    async with RpcClient(node.url, expected_chain_id=31337) as ok:
        assert ok.chain_id == 31337


async def test_unreachable_node_is_one_clear_error() -> None:
    fake = FakeNode()
    fake.server.start()
    url = fake.url
    fake.server.stop()  # nothing listens there any more
    rpc = RpcClient(url, retries=1, backoff=0.01)
    with pytest.raises(RpcError, match="cannot reach the node"):
        await rpc.connect()
    assert rpc._session is None


def test_2500_slots_from_a_real_node_in_three_proof_calls(anvil: AnvilNode, tmp_path: Path) -> None:
    """The chunked eth_getProof answers of a real anvil merge into one verified read
    (counted at a proxy): ``get_proof`` asks 1,024 + 1,024 + 452 keys, the indexer
    ``KEYS_PER_CALL`` at a time; values as eth_getStorageAt says."""
    contract = "0x00000000000000000000000000000000c0ffee05"
    present = {i * 97: i + 1 for i in range(20)}
    for slot, value in present.items():
        word = "0x" + value.to_bytes(32, "big").hex()
        rpc_call(anvil.rpc, "anvil_setStorageAt", [contract, hex(slot), word])
    rpc_call(anvil.rpc, "anvil_mine", ["0x1"])
    block = int(rpc_call(anvil.rpc, "eth_blockNumber"), 16)
    slots = tuple(i.to_bytes(32, "big") for i in range(2500))

    with LyingProxy(anvil.rpc) as proxy:

        async def run() -> Any:
            store = Store(tmp_path / "s.sqlite")
            try:
                async with RpcClient(proxy.url) as rpc:
                    read = Read(bytes.fromhex(contract[2:]), slots)
                    joined = await rpc.get_proof(read.address, slots, block)
                    assert len(joined["storageProof"]) == 2500
                    asked_by_client.extend(proof_sizes())
                    return await index_block(rpc, store, block, [read])
            finally:
                store.close()

        def proof_sizes() -> list[int]:
            return sorted(
                len(p["params"][1])
                for p in proxy.requests
                if isinstance(p, dict) and p["method"] == "eth_getProof"
            )

        asked_by_client: list[int] = []
        verified = asyncio.run(run())
        asked_by_indexer = proof_sizes()
        for size in asked_by_client:
            asked_by_indexer.remove(size)
    assert asked_by_client == [452, 1024, 1024]
    assert KEYS_PER_CALL < 1024
    assert asked_by_indexer == sorted(
        [2500 % KEYS_PER_CALL] + [KEYS_PER_CALL] * (2500 // KEYS_PER_CALL)
    )
    (read,) = verified.bundle.accounts
    values = {int.from_bytes(s.slot, "big"): s.value for s in read.storage}
    assert len(values) == 2500
    assert {k: v for k, v in values.items() if v} == present
    for slot in (0, 97, 98, 2499):
        word = rpc_call(anvil.rpc, "eth_getStorageAt", [contract, hex(slot), hex(block)])
        assert values[slot] == int(word, 16)


async def test_connection_cut_mid_body_is_a_payload_error(node: FakeNode) -> None:
    """What the proxy's ``cut`` rule really does: headers and half the body, then
    the connection closes (without retries the client reports exactly that)."""
    with LyingProxy(node.url) as proxy:
        async with RpcClient(proxy.url, retries=0) as rpc:
            proxy.rule = cut(None)
            with pytest.raises(RpcError, match=r"ClientPayloadError"):
                await rpc.call("echo", ["x" * 1000])
        assert proxy.lies == 1
