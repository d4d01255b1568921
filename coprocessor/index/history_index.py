"""Indexing reads far behind the anchor into a bundle v2 (docs/formats.md §1b).

The planner (``history_plan.py``) says which headers the bundle carries and which
EIP-2935 hops tie them to the anchor; this module fetches those headers (one batch,
each hash recomputed), the ``eth_getProof`` answers of the reads and of the history
contract at every hop source (all at once), and builds and verifies the bundle.

With a store, hops come from its cache (``hop_cache.py``) where it has every hop of
a source: that source's history answer and the headers of its blocks are not
fetched (the anchor's header always is). The bundle is the one built without the
cache, byte for byte, and its verification checks the cached hops again: a cached
hop whose source is not the block the bundle proves (a reorg) fails it, and the
bundle is then built again without the cache. Every hop fetched is cached once the
bundle verified.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from coprocessor.chain.bundle import ProofAtBlock
from coprocessor.chain.bundle_v2 import VerifiedBundleV2, build_bundle_v2
from coprocessor.chain.headers import Header
from coprocessor.chain.history import HISTORY_ADDRESS, activation, history_slot
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.index.history_plan import CHAIN_MAX, MAX_CHAIN, HistoryPlan, plan_history
from coprocessor.index.hop_cache import VerifiedHop, history_answer, hop_from_answer, verified_hop
from coprocessor.index.indexer import Read, fetch_headers
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store

log = logging.getLogger("coproc.index")


@dataclass
class HistoryStats:
    """What one run fetched (for the CLI summary and benchmarks)."""

    rpc_seconds: float = 0.0
    build_seconds: float = 0.0
    headers: int = 0
    proofs: int = 0
    #: hops taken from the store's cache
    hops_cached: int = 0
    #: cached hop rows that did not verify again (left out, fetched instead)
    hops_rejected: int = 0
    #: bundles with cached hops that did not verify, built again without them
    cache_fallbacks: int = 0


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


#: the hops of one source block, from the cache
Cached = dict[int, list[VerifiedHop]]


def _from_cache(
    store: Store,
    chain_id: int,
    plan: HistoryPlan,
    reads: Mapping[int, Sequence[Read]],
    first: int | None,
    stats: HistoryStats,
) -> Cached:
    """Source block -> its cached hops, for the sources whose every hop of the plan
    is cached and verifies again (and where no read asks for the history contract)."""
    cached: Cached = {}
    for source, targets in plan.sources().items():
        if any(read.address == HISTORY_ADDRESS for read in reads.get(source, ())):
            continue
        found = store.cached_hops(chain_id, source, targets, first)
        stats.hops_rejected += found.rejected
        if set(found.hops) == set(targets):
            cached[source] = [found.hops[t] for t in targets]
    return cached


def _cached_headers(cached: Cached) -> dict[int, bytes]:
    """Block -> header RLP of the cached hops' blocks; two different headers of one
    block (a source cached before a reorg) fail like a bundle that does not verify."""
    known: dict[int, bytes] = {}
    for hops in cached.values():
        for hop in hops:
            for header in (hop.source, hop.target):
                if known.setdefault(header.number, header.raw) != header.raw:
                    raise VerificationError(
                        f"hop cache: two different headers of block {header.number}"
                    )
    return known


async def _build(
    rpc: RpcClient,
    chain_id: int,
    plan: HistoryPlan,
    reads: Mapping[int, Sequence[Read]],
    first: int | None,
    cached: Cached,
    stats: HistoryStats,
) -> tuple[VerifiedBundleV2, list[VerifiedHop]]:
    """Fetch what ``cached`` lacks, build and verify the bundle; the hops fetched."""
    requests = {
        key: slots
        for key, slots in _proof_requests(plan, reads).items()
        if not (key[1] == HISTORY_ADDRESS and key[0] in cached)
    }
    known = _cached_headers(cached)
    known.pop(plan.anchor, None)  # the anchor is what the node says it is
    started = time.perf_counter()
    headers, answers = await asyncio.gather(
        _headers(rpc, [n for n in plan.headers if n not in known]),
        asyncio.gather(
            *(rpc.get_proof(address, slots, block) for (block, address), slots in requests.items())
        ),
    )
    stats.rpc_seconds += time.perf_counter() - started
    stats.headers += len(headers)
    stats.proofs += len(answers)
    started = time.perf_counter()
    raws = {**known, **{h.number: h.raw for h in headers}}
    proofs = [
        ProofAtBlock(block, answer) for (block, _), answer in zip(requests, answers, strict=True)
    ]
    proofs += [ProofAtBlock(source, history_answer(hops)) for source, hops in cached.items()]
    verified = build_bundle_v2(
        chain_id, [raws[n] for n in plan.headers], plan.hops, proofs, first=first
    )
    stats.build_seconds += time.perf_counter() - started
    stats.hops_cached += sum(len(hops) for hops in cached.values())
    fetched = dict(zip(requests, answers, strict=True))
    fresh = []
    for source, targets in plan.sources().items():
        if source in cached:
            continue
        answer = fetched[(source, HISTORY_ADDRESS)]
        for target in targets:
            hop = hop_from_answer(raws[source], raws[target], answer, target)
            try:
                fresh.append(verified_hop(hop, verified.header(source).hash, chain_id, first))
            except VerificationError as exc:  # in a verified bundle: not expected
                log.warning("hop %d -> %d not cached: %s", source, target, exc)
    return verified, fresh


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
    store: Store | None = None,
) -> tuple[VerifiedBundleV2, HistoryPlan]:
    """Index ``reads`` (block -> reads) into a verified bundle v2 anchored at
    ``anchor``. ``first`` overrides the chain's activation; with ``store``, hops come
    from its cache where it has them, and the hops fetched are cached."""
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
    cached = _from_cache(store, chain_id, plan, reads, first, stats) if store else {}
    try:
        verified, fresh = await _build(rpc, chain_id, plan, reads, first, cached, stats)
    except VerificationError as exc:
        if not cached:
            raise
        log.warning("bundle with cached hops did not verify (%s); building it without", exc)
        stats.cache_fallbacks += 1
        verified, fresh = await _build(rpc, chain_id, plan, reads, first, {}, stats)
    if store is not None:
        store.save_hops(chain_id, fresh)
    return verified, plan


__all__ = ["HistoryStats", "index_history"]
