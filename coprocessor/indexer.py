"""The indexer: fetch headers and EIP-1186 proofs, verify them, cache them, emit bundles.

Data flow for one block ``N`` with ``K`` ancestors-to-anchor:
headers ``N..N+K`` (batched ``eth_getBlockByNumber``, each hash recomputed and the
chain linked) → ``eth_getProof`` per account at ``N`` (keys chunked by 1,024) →
:func:`coprocessor.bundle.build_bundle` (verifies everything) → store (one
transaction) → bundle file (written atomically). Values already verified and cached
for the same block hash are rebuilt from the store instead of refetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coprocessor.bundle import (
    AccountRead,
    Bundle,
    ProofAtBlock,
    StorageRead,
    VerifiedBundle,
    build_bundle,
    verify_bundle,
)
from coprocessor.errors import RpcError, UserInputError, VerificationError
from coprocessor.headers import Header, header_from_json
from coprocessor.hexutil import hexstr
from coprocessor.keccak import keccak256
from coprocessor.mpt import NodePool
from coprocessor.proofs import Account
from coprocessor.rpc import RpcClient
from coprocessor.store import Store

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Read:
    """An account and the storage slots to read from it."""

    address: bytes
    slots: tuple[bytes, ...] = ()


@dataclass
class IndexStats:
    """What one indexing run did (printed in the summary, used by benchmarks)."""

    rpc_seconds: float = 0.0
    verify_seconds: float = 0.0
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
    block: int,
    reads: Sequence[Read],
) -> VerifiedBundle | None:
    """Rebuild a bundle from cached, previously verified data (then verify it again);
    ``None`` when something is not cached."""
    target = next(h for h in headers if h.number == block)
    pool = NodePool.from_nodes(store.nodes_for_block(target.hash))
    account_reads = []
    for read in reads:
        cached = store.cached_values(target.hash, read.address, list(read.slots))
        if cached is None:
            return None
        present, nonce, balance, storage_root, code_hash = cached["account"]
        account = (
            Account(int(nonce, 16), int(balance, 16), storage_root, code_hash) if present else None
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
    account_reads.sort(key=lambda r: (r.block, r.address))
    used = sorted(pool.used)
    bundle = Bundle(
        chain_id=chain_id,
        anchor_number=headers[-1].number,
        anchor_hash=headers[-1].hash,
        headers=tuple(h.raw for h in headers),
        accounts=tuple(account_reads),
        nodes=tuple(pool.nodes[d] for d in used),
    )
    return verify_bundle(bundle)


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
    say = progress or (lambda _msg: None)
    stats = stats if stats is not None else IndexStats()
    chain_id = rpc.chain_id
    if chain_id is None:
        raise UserInputError("RPC client is not connected")
    head = await rpc.block_number()
    anchor = block + ancestors
    if anchor > head:
        raise UserInputError(
            f"anchor block {anchor} (block {block} + {ancestors} ancestors) is above head {head}"
        )
    t0 = time.perf_counter()
    headers = await fetch_headers(rpc, block, anchor)
    stats.rpc_seconds += time.perf_counter() - t0
    say(f"block {block}: {len(headers)} header(s) verified")

    cached = bundle_from_store(store, chain_id, headers, block, reads)
    if cached is not None:
        stats.cached = True
        say(f"block {block}: values served from the store")
        t2 = time.perf_counter()
        store.save_verified(cached)  # refresh canonical flags of the headers
        stats.store_seconds += time.perf_counter() - t2
        return cached

    t0 = time.perf_counter()

    responses = await asyncio.gather(
        *(rpc.get_proof(read.address, list(read.slots), block) for read in reads)
    )
    stats.rpc_seconds += time.perf_counter() - t0
    total_slots = sum(len(r.slots) for r in reads)
    say(f"block {block}: {len(reads)} account proof(s), {total_slots} storage proof(s) fetched")

    t1 = time.perf_counter()
    for read, response in zip(reads, responses, strict=True):
        _check_proof_shape(response, hexstr(read.address))
        returned = str(response.get("address", "")).lower()
        if returned != hexstr(read.address):
            raise VerificationError(
                f"asked for a proof of {hexstr(read.address)}, node answered for {returned}"
            )
        keys = {
            str(entry.get("key", "")).lower().removeprefix("0x").rjust(64, "0")
            for entry in response.get("storageProof", [])
        }
        wanted = {slot.hex() for slot in read.slots}
        if keys != wanted:
            raise VerificationError(
                f"node answered storage proofs for other keys than asked ({hexstr(read.address)})"
            )
    verified = build_bundle(
        chain_id,
        [h.raw for h in headers],
        [ProofAtBlock(block, response) for response in responses],
    )
    stats.verify_seconds += time.perf_counter() - t1
    t2 = time.perf_counter()
    store.save_verified(verified)
    stats.store_seconds += time.perf_counter() - t2
    say(f"block {block}: verified and stored ({len(verified.bundle.nodes)} unique nodes)")
    return verified


def _check_proof_shape(response: dict[str, Any], address: str) -> None:
    """The JSON types of an eth_getProof answer (a node sending other types is
    broken or lying: a clear RpcError rather than a crash further down)."""
    entries = response.get("storageProof", [])
    ok = (
        isinstance(response.get("accountProof"), list)
        and isinstance(entries, list)
        and all(isinstance(e, dict) and isinstance(e.get("proof"), list) for e in entries)
    )
    if not ok:
        raise RpcError(f"eth_getProof answer for {address} is malformed (JSON types)")


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
