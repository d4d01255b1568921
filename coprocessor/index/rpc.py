"""Async JSON-RPC client (aiohttp) for Ethereum nodes.

- batches (JSON-RPC arrays) whose answers are matched by ``id``, never by order;
- bounded concurrency (a semaphore), a timeout per request;
- retries with exponential backoff for reads only (429, 5xx, timeouts, dropped
  connections); writes are never resent blindly;
- a chain-id check on connect;
- ``eth_getProof`` key lists split into chunks of at most 1,024 keys.
Errors keep the node's raw error object (``RpcError.response``).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from coprocessor.chain.hexutil import hexstr
from coprocessor.errors import ChainMismatchError, RpcError, RpcTimeoutError, UserInputError
from coprocessor.jsonfile import loads_json

#: the largest storage-key list real nodes accept in one eth_getProof
PROOF_KEYS_PER_CALL = 1024
#: the largest answer body read: an eth_getProof answer of 1,024 slots is ~10 MB, and
#: a node that sends more only fails the call (never the process)
MAX_ANSWER_BYTES = 128 * 1024 * 1024


async def _read_at_most(response: aiohttp.ClientResponse, limit: int, url: str) -> bytes:
    """The body, refused (RpcError) once it passes ``limit`` bytes, before it is all read."""
    if response.content_length is not None and response.content_length > limit:
        raise RpcError(f"{url}: answer larger than {limit:,} bytes")
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > limit:
            raise RpcError(f"{url}: answer larger than {limit:,} bytes")
    return bytes(body)


#: methods that change state: never retried after a request may have reached the node
WRITE_METHODS = frozenset(
    {"eth_sendRawTransaction", "eth_sendTransaction", "personal_sendTransaction"}
)

Call = tuple[str, Sequence[Any]]


class NodeStateError(RpcError):
    """The node's answers, each well-formed, do not fit together: a proof that does not
    hash to the header's state root (the verifier says ``missing trie node <root>``),
    a header above the head the node named a moment before. A lying node does this,
    but so does an honest one whose state moved between two calls: anvil answers
    ``eth_getProof`` at its head block from the state it is mining the next block into
    (docs/operations.md), any node across a reorg between the header and proof calls,
    a node restarted from an older state dump. Nothing was stored, and asking again
    later may succeed: a caller that can retry (the service) retries it with backoff,
    like a dropped connection, and gives up after its attempts."""


class ReadAnswer:
    """Base class of what a fast reader returns: a call's result that the reader took
    straight from the HTTP body and checked itself (see :meth:`RpcClient.call`)."""


#: a fast reader of one answer: ``(body, request_id)`` to the call's result, or
#: ``None`` to have the body decoded and checked by :mod:`json` as usual
Reader = Callable[[bytes, int], ReadAnswer | None]
#: a fast reader of one ``eth_getProof`` part: ``(body, request_id, slots)``
ProofReader = Callable[[bytes, int, tuple[bytes, ...]], ReadAnswer | None]


class RpcClient:
    """One node endpoint. Use as ``async with RpcClient(url) as rpc: ...``."""

    def __init__(
        self,
        url: str,
        *,
        expected_chain_id: int | None = None,
        timeout: float = 30.0,
        max_concurrency: int = 8,
        retries: int = 4,
        backoff: float = 0.25,
        max_batch: int = 100,
    ) -> None:
        self.url = url
        self.expected_chain_id = expected_chain_id
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_batch = max_batch
        self.chain_id: int | None = None
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        #: counters for progress and benchmarks
        self.requests_sent = 0
        self.calls_sent = 0
        self.calls_by_method: Counter[str] = Counter()

    async def __aenter__(self) -> RpcClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> int:
        """Open the session and check the chain id (raises ChainMismatchError)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            answer = await self.call("eth_chainId", [])
            chain_id = int(answer, 16)
            if not 0 <= chain_id < 2**64:  # a uint64 (formats.md: journal and bundle)
                raise ValueError
        except (TypeError, ValueError):
            await self.close()
            raise RpcError(f"{self.url}: eth_chainId answer is not a hex quantity") from None
        except BaseException:
            await self.close()  # else aiohttp warns about an unclosed session on stderr
            raise
        if self.expected_chain_id is not None and chain_id != self.expected_chain_id:
            await self.close()
            raise ChainMismatchError(
                f"{self.url} serves chain id {chain_id}, expected {self.expected_chain_id}"
            )
        self.chain_id = chain_id
        return chain_id

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ transport

    async def _post(
        self, payload: object, retry: bool, reader: Callable[[bytes], Any] | None = None
    ) -> Any:
        if self._session is None:
            raise RpcError("RPC client is not connected")
        attempts = self.retries + 1 if retry else 1
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)
                await asyncio.sleep(delay)
            try:
                async with self._semaphore:
                    self.requests_sent += 1
                    async with self._session.post(
                        self.url, json=payload, headers={"Content-Type": "application/json"}
                    ) as response:
                        body = await _read_at_most(response, MAX_ANSWER_BYTES, self.url)
                        if response.status == 429 or response.status >= 500:
                            last = RpcError(f"{self.url}: HTTP {response.status}")
                            retry_after = response.headers.get("Retry-After", "")
                            if retry and retry_after.isdigit():
                                await asyncio.sleep(min(float(retry_after), 10.0))
                            continue
                        if response.status != 200:
                            raise RpcError(f"{self.url}: HTTP {response.status}")
                if reader is not None and (read := reader(body)) is not None:
                    return read
                try:
                    return loads_json(body, f"{self.url}: answer", max_bytes=MAX_ANSWER_BYTES)
                except UserInputError as exc:  # a hostile body fails the call, nothing more
                    last = RpcError(str(exc))
                    continue
            except TimeoutError:
                last = RpcTimeoutError(f"{self.url}: no answer within {self.timeout:g}s")
            except aiohttp.ClientError as exc:
                last = RpcError(f"{self.url}: cannot reach the node ({exc.__class__.__name__})")
        assert last is not None
        raise last

    # ------------------------------------------------------------------ calls

    async def call(
        self, method: str, params: Sequence[Any], *, reader: Reader | None = None
    ) -> Any:
        """One call; reads are retried, writes are sent once.

        ``reader``, if given, sees the HTTP body first: what it returns (a
        :class:`ReadAnswer`) is the result, as it is; when it returns ``None`` the body
        is decoded and checked as without it (so a reader only ever takes answers it
        fully understands, and the usual checks name every fault)."""
        self.calls_sent += 1
        self.calls_by_method[method] += 1
        request_id = next(self._ids)
        payload = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        answer = await self._post(
            payload,
            retry=method not in WRITE_METHODS,
            reader=None if reader is None else lambda body: reader(body, request_id),
        )
        if isinstance(answer, ReadAnswer):
            return answer
        return _result_of(answer, request_id, method)

    async def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Several reads as JSON-RPC arrays (``max_batch`` per request, sent
        concurrently); results come back in the order of ``calls``, matched by id."""
        if any(method in WRITE_METHODS for method, _ in calls):
            raise RpcError("writes are not batched")
        chunks = [calls[i : i + self.max_batch] for i in range(0, len(calls), self.max_batch)]
        parts = await asyncio.gather(*(self._batch_once(chunk) for chunk in chunks))
        return [result for part in parts for result in part]

    async def _batch_once(self, calls: Sequence[Call]) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        self.calls_sent += len(calls)
        self.calls_by_method.update(method for method, _ in calls)
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
            for i, (m, p) in zip(ids, calls, strict=True)
        ]
        answer = await self._post(payload, retry=True)
        if not isinstance(answer, list):
            if isinstance(answer, Mapping) and "error" in answer:
                raise RpcError(f"batch rejected: {_message(answer['error'])}", answer["error"])
            raise RpcError("batch answer is not a JSON array")
        by_id: dict[Any, Any] = {}
        for item in answer:
            if not isinstance(item, Mapping) or "id" not in item:
                raise RpcError("batch answer item without id")
            if item["id"] in by_id:
                raise RpcError(f"batch answer repeats id {item['id']}")
            by_id[item["id"]] = item
        results = []
        for request_id, (method, _) in zip(ids, calls, strict=True):
            if request_id not in by_id:
                raise RpcError(f"batch answer lacks the result of {method} (id {request_id})")
            results.append(_result_of(by_id[request_id], request_id, method))
        if len(by_id) != len(ids):
            raise RpcError("batch answer has results for ids that were not asked")
        return results

    # ------------------------------------------------------------------ helpers

    async def block_number(self) -> int:
        """The node's head block number."""
        return _hex_quantity(await self.call("eth_blockNumber", []), "eth_blockNumber")

    async def get_block(self, tag: int | str) -> dict[str, Any]:
        """``eth_getBlockByNumber(tag, false)``; raises if the block does not exist."""
        param = hex(tag) if isinstance(tag, int) else tag
        block = await self.call("eth_getBlockByNumber", [param, False])
        if block is None:
            raise RpcError(f"block {tag} does not exist on {self.url}")
        if not isinstance(block, dict):
            raise RpcError(f"block {tag}: answer is not an object")
        return block

    async def get_blocks(self, numbers: Sequence[int]) -> list[dict[str, Any]]:
        """Several blocks in batched requests."""
        blocks = await self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        for number, block in zip(numbers, blocks, strict=True):
            if not isinstance(block, dict):
                raise RpcError(f"block {number} does not exist on {self.url}")
        return blocks

    async def get_proof(self, address: bytes, slots: Sequence[bytes], block: int) -> dict[str, Any]:
        """``eth_getProof`` for any number of slots: key lists are split into chunks
        of at most 1,024, requested concurrently, and the storage proofs joined
        (:func:`merge_proof_chunks`)."""
        calls = self.proof_calls(address, slots, block)
        answers = await asyncio.gather(*(call for _, call in calls))
        return merge_proof_chunks(answers)

    def proof_calls(
        self,
        address: bytes,
        slots: Sequence[bytes],
        block: int,
        keys_per_call: int = PROOF_KEYS_PER_CALL,
        reader: ProofReader | None = None,
    ) -> list[tuple[tuple[bytes, ...], Coroutine[Any, Any, Any]]]:
        """The ``eth_getProof`` calls of :meth:`get_proof`, not yet awaited, each with
        the slots it asks: a caller can handle each answer as it arrives (the indexer
        parses one chunk while the node works on the next). Every slot list gets at
        least one call; ``keys_per_call`` is at most 1,024. Each call's answer is a dict,
        or what ``reader`` (given the body, the request id and the call's slots, sent
        as lowercase ``0x``-hex in this order) made of it (see :meth:`call`)."""
        if not 1 <= keys_per_call <= PROOF_KEYS_PER_CALL:
            raise ValueError(f"keys_per_call must be 1..{PROOF_KEYS_PER_CALL}")
        parts = [tuple(slots[i : i + keys_per_call]) for i in range(0, len(slots), keys_per_call)]
        return [(part, self._proof_call(address, part, block, reader)) for part in parts or [()]]

    async def _proof_call(
        self,
        address: bytes,
        slots: tuple[bytes, ...],
        block: int,
        reader: ProofReader | None = None,
    ) -> Any:
        read: Reader | None = None
        if reader is not None:
            read = lambda body, request_id: reader(body, request_id, slots)  # noqa: E731
        answer = await self.call(
            "eth_getProof", [hexstr(address), [hexstr(s) for s in slots], hex(block)], reader=read
        )
        if not isinstance(answer, dict | ReadAnswer):
            raise RpcError("eth_getProof answer is not an object")
        return answer


def merge_proof_chunks(answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One ``eth_getProof`` answer from the answers for chunks of its key list (in
    order): the storage proofs joined. Each chunk must agree on the account part,
    every field but ``storageProof`` (else the node changed its answer and we refuse
    to mix)."""
    first = answers[0]
    if not isinstance(first, Mapping):
        raise RpcError("eth_getProof answer is not an object")
    merged = dict(first)
    merged["storageProof"] = list(first.get("storageProof", []))
    account = {k: v for k, v in first.items() if k != "storageProof"}
    for other in answers[1:]:
        if not isinstance(other, Mapping) or account != {
            k: v for k, v in other.items() if k != "storageProof"
        }:
            raise RpcError("eth_getProof chunks disagree on the account proof")
        merged["storageProof"].extend(other.get("storageProof", []))
    return merged


def _hex_quantity(value: object, what: str) -> int:
    """A node's hex quantity answer; anything else is the node's error, not a crash."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcError(f"{what}: answer is not a hex quantity: {value!r:.40}")


def _message(error: object) -> str:
    if isinstance(error, Mapping):
        return f"{error.get('message', '?')} (code {error.get('code', '?')})"
    return str(error)


def _result_of(answer: object, request_id: int, method: str) -> Any:
    if not isinstance(answer, Mapping):
        raise RpcError(f"{method}: answer is not a JSON object")
    if answer.get("id") != request_id:
        raise RpcError(f"{method}: answer id {answer.get('id')!r} != request id {request_id}")
    if "error" in answer and answer["error"] is not None:
        raise RpcError(f"{method}: {_message(answer['error'])}", answer["error"])
    if "result" not in answer:
        raise RpcError(f"{method}: answer has neither result nor error")
    return answer["result"]
