"""Indexing reads far behind the anchor into a bundle v2 (docs/formats.md §1b).

The planner (``history_plan.py``) says which headers the bundle carries and which
EIP-2935 hops tie them to the anchor; this module fetches those headers (one batch,
each hash recomputed), the ``eth_getProof`` answers of the reads and of the history
contract at every hop source (all at once), and builds and verifies the bundle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from coprocessor.chain.bundle import ProofAtBlock
from coprocessor.chain.bundle_v2 import VerifiedBundleV2, build_bundle_v2
from coprocessor.chain.headers import Header
from coprocessor.chain.history import HISTORY_ADDRESS, activation, history_slot
from coprocessor.errors import UserInputError
from coprocessor.index.history_plan import CHAIN_MAX, MAX_CHAIN, HistoryPlan, plan_history
from coprocessor.index.indexer import Read, fetch_headers
from coprocessor.index.rpc import RpcClient


@dataclass
class HistoryStats:
    """What one run fetched (for the CLI summary and benchmarks)."""

    rpc_seconds: float = 0.0
    build_seconds: float = 0.0
    headers: int = 0
    proofs: int = 0


async def _headers(rpc: RpcClient, numbers: Sequence[int]) -> list[Header]:
    """The headers of ``numbers`` (hashes recomputed, numbers checked), in order;
    consecutive runs are fetched together."""
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    parts = await asyncio.gather(*(fetch_headers(rpc, lo, hi) for lo, hi in runs))
    return [header for part in parts for header in part]


def _proof_requests(
    plan: HistoryPlan, reads: Mapping[int, Sequence[Read]]
) -> dict[tuple[int, bytes], tuple[bytes, ...]]:
    """(block, address) -> slots: the reads asked for, plus the history contract's
    slots at each hop source (merged if a read asks for the contract there)."""
    wanted: dict[tuple[int, bytes], set[bytes]] = {}
    for block, block_reads in reads.items():
        for read in block_reads:
            key = (block, read.address)
            if key in wanted:
                raise UserInputError(f"block {block}: account 0x{read.address.hex()} read twice")
            wanted[key] = set(read.slots)
    for source, targets in plan.sources().items():
        wanted.setdefault((source, HISTORY_ADDRESS), set()).update(history_slot(t) for t in targets)
    return {key: tuple(sorted(slots)) for key, slots in sorted(wanted.items())}


async def index_history(
    rpc: RpcClient,
    reads: Mapping[int, Sequence[Read]],
    *,
    anchor: int,
    first: int | None = None,
    available: Callable[[int], bool] | None = None,
    chain_max: int = CHAIN_MAX,
    max_chain: int = MAX_CHAIN,
    stats: HistoryStats | None = None,
) -> tuple[VerifiedBundleV2, HistoryPlan]:
    """Index ``reads`` (block -> reads) into a verified bundle v2 anchored at
    ``anchor``. ``first`` overrides the chain's activation."""
    stats = stats if stats is not None else HistoryStats()
    chain_id = rpc.chain_id if rpc.chain_id is not None else await rpc.connect()
    first = activation(chain_id) if first is None else first
    plan = plan_history(
        anchor,
        reads.keys(),
        first=first,
        available=available,
        chain_max=chain_max,
        max_chain=max_chain,
    )
    requests = _proof_requests(plan, reads)
    started = time.perf_counter()
    headers, answers = await asyncio.gather(
        _headers(rpc, plan.headers),
        asyncio.gather(
            *(rpc.get_proof(address, slots, block) for (block, address), slots in requests.items())
        ),
    )
    stats.rpc_seconds += time.perf_counter() - started
    stats.headers += len(headers)
    stats.proofs += len(answers)
    started = time.perf_counter()
    proofs = [
        ProofAtBlock(block, answer) for (block, _), answer in zip(requests, answers, strict=True)
    ]
    verified = build_bundle_v2(chain_id, [h.raw for h in headers], plan.hops, proofs, first=first)
    stats.build_seconds += time.perf_counter() - started
    return verified, plan


__all__ = ["HistoryStats", "index_history"]
