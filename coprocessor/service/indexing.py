"""Which bundle the indexing stage builds for a job (docs/operations.md, "Deep history").

A bundle v1 ties the reads to the anchor by the consecutive header chain from the
lowest read block (``indexer.index_reads``, values cached in the store). A spec v2
(series) or reads further back than :data:`V1_MAX_HEADERS` headers take a bundle v2:
EIP-2935 hops planned over the read blocks (``history_index.index_history``, hops
cached in the store). Both are verified before they are written; the scoring stage,
the prover and the guest read either version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from coprocessor.chain.bundle import VerifiedBundle
from coprocessor.chain.bundle_v2 import BundleV2, VerifiedBundleV2
from coprocessor.chain.history import activation
from coprocessor.index.history_index import index_history
from coprocessor.index.history_plan import plan_history
from coprocessor.index.indexer import Read, index_reads
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.scoring.features import Spec

#: the longest header chain (request block .. anchor, both included) a v1 bundle of the
#: service carries; reads further back take hops. 256 headers (BLOCKHASH's window) cost
#: the guest about 20M user cycles (~78k each), a hop about 435k (docs/benchmarks.md)
V1_MAX_HEADERS = 256


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


__all__ = ["V1_MAX_HEADERS", "bundle_json", "check_reachable", "index_job", "needs_hops"]
