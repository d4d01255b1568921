"""What the indexer must fetch for a spec's protocol reads (docs/formats.md §3c): their
slots follow from proven values, so the reads are run against the node, over a
:class:`~coprocessor.scoring.protocols.storage.VerifiedStorage` per block (each round
one verified bundle; the reads of every subject run concurrently and share rounds),
and every (block, address, slot) they load is recorded. The indexer then writes one
bundle holding the recorded slots with the spec's other reads (served from the store,
where the rounds left them verified)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from coprocessor.chain.slots import slot_bytes
from coprocessor.index.indexer import Read
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.scoring.features import ReadFeature, Spec
from coprocessor.scoring.protocol_spec import AaveRead, MorphoRead
from coprocessor.scoring.protocol_values import read_protocol
from coprocessor.scoring.protocols.storage import VerifiedStorage


def has_protocol_reads(spec: Spec) -> bool:
    """Whether any feature of ``spec`` is a protocol read."""
    return any(
        isinstance(f, ReadFeature) and isinstance(f.read, AaveRead | MorphoRead)
        for f in spec.features
    )


async def record_protocol_reads(
    rpc: RpcClient, store: Store, spec: Spec, subjects: Sequence[str], block: int
) -> dict[int, list[Read]]:
    """Every read the spec's protocol features load for ``subjects`` at request block
    ``block``, by block (accounts sorted, slots ascending); empty without protocol reads."""
    storages: dict[int, VerifiedStorage] = {}
    jobs = {}
    for feat in spec.features:
        if not isinstance(feat, ReadFeature) or not isinstance(feat.read, AaveRead | MorphoRead):
            continue
        for number in feat.blocks(block):
            storage = storages.setdefault(number, VerifiedStorage(rpc, store, number))
            for subject in subjects:
                user = bytes.fromhex(subject.removeprefix("0x"))
                jobs[(feat.read.entry, number, user)] = (feat.read, storage, user)
    await asyncio.gather(*(read_protocol(r, s, u) for r, s, u in jobs.values()))
    out: dict[int, list[Read]] = {}
    for number, storage in sorted(storages.items()):
        by_address: dict[bytes, set[int]] = {a: set() for a in storage.accounts}
        for address, slot in storage.pairs():
            by_address[address].add(slot)
        out[number] = [
            Read(a, tuple(slot_bytes(s) for s in sorted(slots)))
            for a, slots in sorted(by_address.items())
        ]
    return out


def merge_reads(
    first: Mapping[int, Sequence[Read]], second: Mapping[int, Sequence[Read]]
) -> dict[int, list[Read]]:
    """The union of two read sets: each account once per block, slots in first-seen order."""
    merged: dict[int, dict[bytes, dict[bytes, None]]] = {}  # dicts as ordered sets
    for reads in (first, second):
        for number, block_reads in reads.items():
            accounts = merged.setdefault(number, {})
            for read in block_reads:
                accounts.setdefault(read.address, {}).update(dict.fromkeys(read.slots))
    return {
        number: [Read(address, tuple(slots)) for address, slots in accounts.items()]
        for number, accounts in sorted(merged.items())
    }


__all__ = ["has_protocol_reads", "merge_reads", "record_protocol_reads"]
