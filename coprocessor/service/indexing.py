"""Which bundle the indexing stage builds for a job (docs/operations.md, "Deep history").

A bundle v1 ties the reads to the anchor by the consecutive header chain from the
lowest read block (``indexer.index_reads``, values cached in the store). A spec v2
(series) or reads further back than :data:`V1_MAX_HEADERS` headers take a bundle v2:
EIP-2935 hops planned over the read blocks (``history_index.index_history``, hops
cached in the store). Both are verified before they are written; the scoring stage,
the prover and the guest read either version.

The reads are those of the spec's fixed features, with the slots its protocol reads
(docs/formats.md §3c) load at their blocks, recorded by running the reads over verified
storage for the job's subjects (``protocol_index``). The batching stage uses the same
functions for one bundle of all its subjects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from coprocessor.chain.bundle import VerifiedBundle
from coprocessor.chain.bundle_v2 import BundleV2, VerifiedBundleV2
from coprocessor.chain.history import activation
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.index.history_index import index_history
from coprocessor.index.history_plan import plan_history
from coprocessor.index.indexer import Read, index_reads
from coprocessor.index.rpc import NodeStateError, RpcClient
from coprocessor.index.store import Store
from coprocessor.scoring.batch import batch_reads
from coprocessor.scoring.features import ReadFeature, Spec
from coprocessor.scoring.protocol_index import (
    has_protocol_reads,
    merge_reads,
    record_protocol_reads,
)

#: the longest header chain (request block .. anchor, both included) a v1 bundle of the
#: service carries; reads further back take hops. 256 headers (BLOCKHASH's window) cost
#: the guest about 20M user cycles (~78k each), a hop about 435k (docs/benchmarks.md)
V1_MAX_HEADERS = 256

#: refusals of a protocol read that are the chain's state, not the node's answers: the
#: deployed version is not the one named, or the state is one the protocol reverts on
PROTOCOL_RULES = ("protocol_version", "protocol_state")


def needs_hops(spec: Spec, reads: Mapping[int, Sequence[Read]], anchor: int) -> bool:
    """Whether the job's bundle is a v2: a spec v2, or a v1 header chain longer than
    :data:`V1_MAX_HEADERS`."""
    return spec.version >= 2 or anchor - min(reads) + 1 > V1_MAX_HEADERS


def check_reachable(
    spec: Spec, reads: Mapping[int, Sequence[Read]], anchor: int, chain_id: int
) -> None:
    """Refuse (UserInputError naming the block and why) a v2 job whose read blocks
    no plan ties to the anchor, before anything is fetched."""
    if needs_hops(spec, reads, anchor):
        plan_history(anchor, reads.keys(), first=activation(chain_id))


def planned_reads(spec: Spec, subjects: Sequence[str], block: int) -> dict[int, list[Read]]:
    """The fixed reads of every subject by block, with every block a read feature samples
    (a protocol read's slots are not known before it runs: its blocks start empty)."""
    reads = batch_reads(spec, subjects, block)
    for feat in spec.features:
        if isinstance(feat, ReadFeature):
            for number in feat.blocks(block):
                reads.setdefault(number, [])
    if min(reads) < 1:
        raise UserInputError(f"block {block}: reads reach before block 1")
    return reads


async def recorded_reads(
    rpc: RpcClient, store: Store, spec: Spec, subjects: Sequence[str], block: int
) -> dict[int, list[Read]]:
    """The slots the spec's protocol reads load for ``subjects`` (over verified storage,
    values cached in the store). A refusal of the protocol (:data:`PROTOCOL_RULES`) is the
    request's; any other failure to verify is the node's (:class:`NodeStateError`: asking
    again may succeed)."""
    try:
        return await record_protocol_reads(rpc, store, spec, subjects, block)
    except (VerificationError, UserInputError) as exc:
        if exc.rule in PROTOCOL_RULES:
            raise
        raise NodeStateError(f"the node's answers do not verify: {exc}") from None


async def job_reads(
    rpc: RpcClient,
    store: Store,
    spec: Spec,
    subjects: Sequence[str],
    block: int,
    anchor: int,
    chain_id: int,
) -> dict[int, list[Read]]:
    """Every read of the bundle for ``subjects`` at request block ``block``: the blocks
    checked reachable from ``anchor`` before anything is fetched, then the protocol
    reads' slots recorded and merged in."""
    reads = planned_reads(spec, subjects, block)
    check_reachable(spec, reads, anchor, chain_id)
    if not has_protocol_reads(spec):
        return reads
    return merge_reads(reads, await recorded_reads(rpc, store, spec, subjects, block))


async def index_job(
    rpc: RpcClient,
    store: Store,
    spec: Spec,
    reads: Mapping[int, Sequence[Read]],
    anchor: int,
) -> VerifiedBundle:
    """The job's bundle, verified (a :class:`VerifiedBundleV2` when it needs hops)."""
    if needs_hops(spec, reads, anchor):
        verified, _ = await index_history(rpc, reads, anchor=anchor, store=store)
        return verified
    return await index_reads(rpc, store, reads, anchor=anchor)


def bundle_json(verified: VerifiedBundle) -> dict[str, Any]:
    """The bundle file's JSON of either version."""
    if isinstance(verified, VerifiedBundleV2):
        return BundleV2(base=verified.bundle, hops=verified.hops).to_json()
    return verified.bundle.to_json()


__all__ = [
    "PROTOCOL_RULES",
    "V1_MAX_HEADERS",
    "bundle_json",
    "check_reachable",
    "index_job",
    "job_reads",
    "needs_hops",
    "planned_reads",
    "recorded_reads",
]
