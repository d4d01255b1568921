"""The indexer: fetch headers and EIP-1186 proofs, verify them, cache them, emit bundles.

Data flow for one block ``N`` with ``K`` ancestors-to-anchor:
headers ``N..N+K`` (batched ``eth_getBlockByNumber``, each hash recomputed and the
chain linked) → ``eth_getProof`` per account at ``N`` (``KEYS_PER_CALL`` keys per call,
all calls at once; each answer checked, parsed and its nodes hashed as it arrives by
:class:`coprocessor.index.assembler.ProofAssembler`) → the bundle of the joined answers,
verified whole by the Rust core (or :func:`coprocessor.chain.bundle.build_bundle`) while
the store writes it in one transaction, committed only if it verified → bundle file
(written atomically). Values already verified and cached
for the same block hash are rebuilt from the store instead of refetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coprocessor.chain.bundle import (
    AccountRead,
    Bundle,
    StorageRead,
    VerifiedBundle,
)
from coprocessor.chain.headers import Header, header_from_json
from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.mpt import NodePool
from coprocessor.chain.native import Pending, verify_bundle_native
from coprocessor.chain.proofs import Account
from coprocessor.errors import RpcError, UserInputError, VerificationError
from coprocessor.index.assembler import NativePart, ProofAssembler
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store

Progress = Callable[[str], None]

#: storage keys per ``eth_getProof`` call when indexing (nodes accept up to 1,024):
#: the calls go out together and each answer is parsed and hashed as it arrives,
#: while the node still works on the others (docs/benchmarks.md)
KEYS_PER_CALL = 256


@dataclass(frozen=True)
class Read:
    """An account and the storage slots to read from it."""

    address: bytes
    slots: tuple[bytes, ...] = ()


@dataclass
class IndexStats:
    """What one indexing run did (printed in the summary, used by benchmarks)."""

    rpc_seconds: float = 0.0
    #: building the bundle (and verifying it on the Python path); includes parsing the
    #: answers as they arrive, which overlaps ``rpc_seconds``
    verify_seconds: float = 0.0
    #: the store's write (native path: with the verification running beside it)
    store_seconds: float = 0.0
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


async def resolve_block(rpc: RpcClient, spec: str | int) -> int:
    """A block number from ``N``, ``latest`` or ``finalized``; refuses blocks above head."""
    head = await rpc.block_number()
    if isinstance(spec, int):
        if spec > head:
            raise UserInputError(f"block {spec} is above the node's head ({head})")
        return spec
    if spec in ("latest", "finalized", "safe"):
        block = await rpc.get_block(spec)
        return header_from_json(block).number
    raise UserInputError(f"block must be a number, latest or finalized, not {spec!r}")


async def fetch_headers(rpc: RpcClient, first: int, last: int) -> list[Header]:
    """Headers ``first..last`` with recomputed hashes (a lying node is rejected)."""
    blocks = await rpc.get_blocks(list(range(first, last + 1)))
    headers = []
    for number, block in zip(range(first, last + 1), blocks, strict=True):
        header = header_from_json(block)
        if header.number != number:
            raise VerificationError(f"asked for block {number}, node sent block {header.number}")
        headers.append(header)
    return headers


def bundle_from_store(
    store: Store,
    chain_id: int,
    headers: Sequence[Header],
    reads: Mapping[int, Sequence[Read]],
) -> VerifiedBundle | None:
    """Rebuild a bundle from cached, previously verified data (then verify it again);
    ``None`` when something is not cached."""
    by_number = {h.number: h for h in headers}
    nodes: dict[bytes, bytes] = {}
    account_reads = []
    pools: dict[int, NodePool] = {}
    for block, block_reads in reads.items():
        target = by_number[block]
        first = store.cached_values(target.hash, block_reads[0].address, []) if block_reads else 1
        if first is None:  # cheap miss: no account row at all for this block
            return None
        pool = NodePool.from_nodes(store.nodes_for_block(target.hash))
        pools[block] = pool
        for read in block_reads:
            cached = store.cached_values(target.hash, read.address, list(read.slots))
            if cached is None:
                return None
            present, nonce, balance, storage_root, code_hash = cached["account"]
            account = (
                Account(int(nonce, 16), int(balance, 16), storage_root, code_hash)
                if present
                else None
            )
            try:
                pool.get(target.state_root, keccak256(read.address), "cache")
                if account is not None:
                    for slot in read.slots:
                        pool.get(account.storage_root, keccak256(slot), "cache")
            except VerificationError:
                return None
            account_reads.append(
                AccountRead(
                    block=block,
                    address=read.address,
                    account=account,
                    storage=tuple(
                        StorageRead(slot, int(cached["storage"][slot], 16))
                        for slot in sorted(read.slots)
                    ),
                )
            )
    for pool in pools.values():
        nodes.update((d, pool.nodes[d]) for d in pool.used)
    account_reads.sort(key=lambda r: (r.block, r.address))
    bundle = Bundle(
        chain_id=chain_id,
        anchor_number=headers[-1].number,
        anchor_hash=headers[-1].hash,
        headers=tuple(h.raw for h in headers),
        accounts=tuple(account_reads),
        nodes=tuple(nodes[d] for d in sorted(nodes)),
    )
    return verify_bundle_native(bundle)


async def index_block(
    rpc: RpcClient,
    store: Store,
    block: int,
    reads: Sequence[Read],
    *,
    ancestors: int = 0,
    progress: Progress | None = None,
    stats: IndexStats | None = None,
) -> VerifiedBundle:
    """Index one block: verify, cache and return its bundle (anchor = block + ancestors)."""
    return await index_reads(
        rpc, store, {block: reads}, anchor=block + ancestors, progress=progress, stats=stats
    )


async def index_reads(
    rpc: RpcClient,
    store: Store,
    reads: Mapping[int, Sequence[Read]],
    *,
    anchor: int,
    progress: Progress | None = None,
    stats: IndexStats | None = None,
) -> VerifiedBundle:
    """Index reads at one or several blocks into one bundle anchored at ``anchor``
    (the header chain runs from the lowest read block to the anchor)."""
    say = progress or (lambda _msg: None)
    stats = stats if stats is not None else IndexStats()
    chain_id = rpc.chain_id
    if chain_id is None:
        raise UserInputError("RPC client is not connected")
    if not reads:
        raise UserInputError("nothing to index")
    first = min(reads)
    if anchor < max(reads):
        raise UserInputError(f"anchor {anchor} is below read block {max(reads)}")
    jobs = [(block, read) for block, block_reads in sorted(reads.items()) for read in block_reads]
    t0 = time.perf_counter()
    # The header chain and (when nothing at these heights is cached, so the proofs will
    # be needed whatever the headers say) the proofs are requested at once: on a fast
    # node the proofs dominate and the rest hides behind them. The head is asked only
    # when a header is missing (to say "above head" rather than "does not exist").
    headers_task = asyncio.ensure_future(fetch_headers(rpc, first, anchor))
    assembler = ProofAssembler([block for block, _ in jobs])
    proofs_task = (
        None
        if _anything_cached(store, chain_id, reads)
        else asyncio.ensure_future(_fetch_proofs(rpc, jobs, assembler, stats))
    )
    try:
        try:
            headers = await headers_task
        except RpcError:
            head = await rpc.block_number()
            if anchor > head:
                raise UserInputError(f"anchor block {anchor} is above head {head}") from None
            raise
    except BaseException:
        await _cancel(headers_task, proofs_task)
        raise
    stats.rpc_seconds += time.perf_counter() - t0
    say(f"blocks {first}..{anchor}: {len(headers)} header(s) verified")

    try:
        cached = bundle_from_store(store, chain_id, headers, reads)
    except BaseException:
        await _cancel(proofs_task)
        raise
    if cached is not None:
        await _cancel(proofs_task)
        stats.cached = True
        say("values served from the store")
        t2 = time.perf_counter()
        store.save_verified(cached)  # refresh canonical flags of the headers
        stats.store_seconds += time.perf_counter() - t2
        return cached

    t0 = time.perf_counter()
    await (proofs_task or _fetch_proofs(rpc, jobs, assembler, stats))
    stats.rpc_seconds += time.perf_counter() - t0
    stats.verify_seconds += assembler.read_seconds
    stats.extra["parsed_while_fetching_seconds"] = (
        stats.extra.get("parsed_while_fetching_seconds", 0.0) + assembler.read_seconds
    )
    total_slots = sum(len(read.slots) for _, read in jobs)
    say(f"{len(jobs)} account proof(s), {total_slots} storage proof(s) fetched")

    t1 = time.perf_counter()
    prepared = assembler.finish(chain_id, [h.raw for h in headers])
    stats.verify_seconds += time.perf_counter() - t1
    t2 = time.perf_counter()
    if isinstance(prepared, Pending):
        # the Rust core verifies in a worker thread while the rows are written; the
        # transaction commits only if it succeeds (stats: store includes verify)
        verified = store.save_while_verifying(prepared)
        stats.extra["verify_overlapped_with_store"] = True
    else:
        verified = prepared
        store.save_verified(verified)
    stats.store_seconds += time.perf_counter() - t2
    say(f"verified and stored ({len(verified.bundle.nodes)} unique nodes)")
    return verified


async def _fetch_proofs(
    rpc: RpcClient,
    jobs: Sequence[tuple[int, Read]],
    assembler: ProofAssembler,
    stats: IndexStats,
) -> None:
    """Every job's ``eth_getProof`` calls at once (``KEYS_PER_CALL`` keys each, the
    client bounds the concurrency); each answer is checked against what it was asked
    and handed to ``assembler`` when it arrives. On the first failure the calls still
    running are cancelled."""
    running: dict[asyncio.Future[Any], tuple[int, int, Read, tuple[bytes, ...]]] = {}
    for job, (block, read) in enumerate(jobs):
        # ascending, so that the parts' parsed claims come in order (cheaper to join)
        calls = rpc.proof_calls(
            read.address,
            sorted(read.slots),
            block,
            KEYS_PER_CALL,
            reader=assembler.reader(job, read.address),
        )
        for part, (slots, call) in enumerate(calls):
            running[asyncio.ensure_future(call)] = (job, part, read, slots)
    try:
        while running:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                job, part, read, slots = running.pop(future)
                answer = future.result()
                t = time.perf_counter()
                if isinstance(answer, NativePart):  # checked by its reader
                    counter = "parts_read_natively"
                else:
                    counter = "parts_read_by_python"
                    _check_answer_matches(read, slots, answer)
                stats.extra[counter] = stats.extra.get(counter, 0) + 1
                assembler.add(job, part, answer)
                parsed = time.perf_counter() - t
                stats.verify_seconds += parsed
                stats.extra["parsed_while_fetching_seconds"] = (
                    stats.extra.get("parsed_while_fetching_seconds", 0.0) + parsed
                )
    except BaseException:
        await _cancel(*running)
        raise


async def _cancel(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel tasks no longer needed and collect their outcome (no stray warnings)."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    await asyncio.gather(*live, return_exceptions=True)


def _anything_cached(store: Store, chain_id: int, reads: Mapping[int, Sequence[Read]]) -> bool:
    """Whether the store holds an account read at any header it knows at these
    heights (then the headers decide whether the proofs are needed at all)."""
    for block, block_reads in reads.items():
        for header in store.headers_at(chain_id, block):
            if any(store.cached_values(header.hash, r.address, []) for r in block_reads):
                return True
    return False


def _check_answer_matches(read: Read, slots: Sequence[bytes], response: Mapping[str, Any]) -> None:
    """The node must answer for the address and exactly the keys asked (``slots``,
    this call's part of ``read.slots``), with the JSON types of an eth_getProof
    answer (else a clear RpcError, not a crash)."""
    entries = response.get("storageProof", [])
    if not (
        isinstance(response.get("accountProof"), list)
        and isinstance(entries, list)
        # decoded JSON: objects are dicts (an ABC isinstance per entry costs more)
        and all(isinstance(e, dict) and isinstance(e.get("proof"), list) for e in entries)
    ):
        raise RpcError(f"eth_getProof answer for {hexstr(read.address)} is malformed (JSON types)")
    returned = str(response.get("address", "")).lower()
    if returned != hexstr(read.address):
        raise VerificationError(
            f"asked for a proof of {hexstr(read.address)}, node answered for {returned}"
        )
    answered = {entry.get("key") for entry in entries}
    if answered == {"0x" + slot.hex() for slot in slots}:
        return  # the keys exactly as sent (what nodes do): nothing to normalize
    keys = {str(key).lower().removeprefix("0x").rjust(64, "0") for key in answered}
    if keys != {slot.hex() for slot in slots}:
        raise VerificationError(
            f"node answered storage proofs for other keys than asked ({hexstr(read.address)})"
        )


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename (no partial files)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(obj, indent=1) + "\n")
        tmp.replace(path)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def stderr_progress(enabled: bool) -> Progress:
    """A progress printer on stderr (off when not wanted)."""

    def say(message: str) -> None:
        if enabled:
            print(f"[index] {message}", file=sys.stderr, flush=True)

    return say
