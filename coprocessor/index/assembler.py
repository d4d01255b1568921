"""The streaming proof assembler: ``eth_getProof`` answers that arrive in parts are
parsed and hashed in Rust as they arrive (``coproc_native.proof_part``), then joined
into one bundle that the native verifier (:mod:`coprocessor.chain.native`) checks whole."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from coprocessor.chain.bundle import ProofAtBlock, StorageRead, VerifiedBundle, build_bundle
from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.native import (
    NativeUnsupported,
    ParsedStorage,
    Pending,
    assemble,
    module,
    pending,
    prepare_bundle_native,
    reject_with_reference,
    storage_reads,
)
from coprocessor.errors import CoprocessorError
from coprocessor.index.rpc import ProofReader, ReadAnswer, merge_proof_chunks


@dataclass(frozen=True)
class NativePart(ReadAnswer):
    """One ``eth_getProof`` part read from its HTTP body by ``coproc_native.proof_part``
    (:meth:`ProofAssembler.reader`): checked against what was asked, its storage
    claims parsed and its nodes hashed; the JSON body is decoded by Python only if
    the slow path needs the whole answer."""

    #: the result's members but ``storageProof``
    account: dict[str, Any]
    claims: list[Any]
    reads: tuple[StorageRead, ...]
    body: bytes

    def answer(self) -> dict[str, Any]:
        """The whole ``eth_getProof`` result, decoded by Python."""
        result: dict[str, Any] = json.loads(self.body)["result"]
        return result


class ProofAssembler:
    """:func:`prepare_bundle_native` for ``eth_getProof`` answers that arrive in parts
    (one per chunk of an account's key list): :meth:`add` parses a part's storage
    proofs and hashes their nodes as soon as it arrives (in Rust), so that work
    overlaps with the node computing the other parts; :meth:`finish` builds the same
    bundle :func:`prepare_bundle_native` builds from the joined answers (tests check
    it), still unverified. Nothing here trusts a part: the parsed claims and hashed
    nodes only go into a bundle that is then verified as a whole."""

    def __init__(self, blocks: Sequence[int]) -> None:
        """``blocks``: the block of each job (one job = one account's answer)."""
        self._mod = module()
        self._blocks = list(blocks)
        self._parts: list[dict[int, dict[str, Any] | NativePart]] = [{} for _ in self._blocks]
        #: per job and part: storage_claims' claims and their StorageReads
        self._claims: list[dict[int, tuple[list[Any], tuple[StorageRead, ...]]]] = [
            {} for _ in self._blocks
        ]
        self._nodes: list[dict[bytes, bytes]] = [{} for _ in self._blocks]
        #: a part the native reader does not take: the Python path builds it all
        self._unsupported = False
        #: time spent in :meth:`reader`'s readers (while the other calls run)
        self.read_seconds = 0.0

    def reader(self, job: int, address: bytes) -> ProofReader | None:
        """A reader for :meth:`RpcClient.proof_calls <coprocessor.index.rpc.RpcClient.proof_calls>`
        of job ``job`` (the account ``address``): each answer's body is read by
        ``coproc_native.proof_part`` straight into a :class:`NativePart` (no Python
        JSON objects for the ~1,000 node strings of a 256-key part); any answer it
        does not take is decoded by Python and given to :meth:`add` as a dict.
        ``None`` without the extension."""
        mod = self._mod
        if mod is None:
            return None
        pool = self._nodes[job]
        asked = hexstr(address)

        def read(body: bytes, request_id: int, slots: tuple[bytes, ...]) -> NativePart | None:
            if self._unsupported:
                return None  # the Python path builds it all anyway
            started = time.perf_counter()
            try:
                got = mod.proof_part(body, request_id, asked, b"".join(slots), pool)
                if got is None:
                    return None
                account, claims = got
                return NativePart(json.loads(account), claims, storage_reads(claims), body)
            finally:
                self.read_seconds += time.perf_counter() - started

        return read

    def add(self, job: int, part: int, answer: dict[str, Any] | NativePart) -> None:
        """The answer for chunk ``part`` of job ``job``: a decoded ``eth_getProof``
        result (checked by the caller against what was asked) or a :class:`NativePart`
        of :meth:`reader`."""
        if part in self._parts[job]:
            raise ValueError(f"part {part} of job {job} added twice")
        self._parts[job][part] = answer
        if isinstance(answer, NativePart):
            self._claims[job][part] = (answer.claims, answer.reads)
            return
        mod = self._mod
        if mod is None or self._unsupported:
            return
        entries = answer.get("storageProof", [])
        try:
            if not isinstance(entries, list):
                raise NativeUnsupported
            claims = mod.storage_claims(entries, self._nodes[job])
            self._claims[job][part] = (claims, storage_reads(claims))
        except (NativeUnsupported, mod.InputError):
            self._unsupported = True

    def answers(self, *, accounts_only: bool = False) -> list[ProofAtBlock]:
        """Each job's parts joined into one answer (as ``RpcClient.get_proof`` joins
        them; the parts must agree on the account proof). ``accounts_only``: without
        the storage proofs of parts read by :meth:`reader` (not decoded then)."""

        def whole(part: dict[str, Any] | NativePart) -> dict[str, Any]:
            if isinstance(part, NativePart):
                return part.account if accounts_only else part.answer()
            return part

        out = []
        for block, parts in zip(self._blocks, self._parts, strict=True):
            if sorted(parts) != list(range(len(parts))) or not parts:
                raise ValueError("proof assembler: parts missing")
            joined = merge_proof_chunks([whole(parts[i]) for i in sorted(parts)])
            out.append(ProofAtBlock(block, joined))
        return out

    def finish(self, chain_id: int, headers: Sequence[bytes]) -> Pending | VerifiedBundle:
        """The bundle of all parts, for :meth:`Pending.verify` (or already verified
        by the Python path, as :func:`prepare_bundle_native` returns it)."""
        mod = self._mod
        if mod is None or self._unsupported:
            return prepare_bundle_native(chain_id, headers, self.answers())
        # the storage proofs are parsed already: only the account members are read
        items = self.answers(accounts_only=True)
        parsed = [
            join_parts(parts, nodes) for parts, nodes in zip(self._claims, self._nodes, strict=True)
        ]
        try:
            bundle, decoded, digests, parts = assemble(mod, chain_id, headers, items, parsed)
        except (NativeUnsupported, CoprocessorError, mod.NativeError, OverflowError) as exc:
            return reject_with_reference(
                exc, lambda: build_bundle(chain_id, headers, self.answers())
            )
        return pending(mod, chain_id, headers, self.answers, bundle, decoded, digests, parts)


def join_parts(
    parts: dict[int, tuple[list[Any], tuple[StorageRead, ...]]], nodes: dict[bytes, bytes]
) -> ParsedStorage:
    """The parts of one job joined as storage_claims returns them for the joined
    answer: sorted by slot, stably (the indexer asks the slots in ascending order, so
    the parts usually come sorted already)."""
    if len(parts) == 1:
        ((claims, reads),) = parts.values()
        return claims, reads, nodes
    ordered = [parts[i] for i in sorted(parts)]
    edges = [(c[0][0], c[-1][0]) for c, _ in ordered if c]
    if all(last < first for (_, last), (first, _) in itertools.pairwise(edges)):
        # each part is sorted (storage_claims sorts) and the parts' key ranges follow
        # each other: joined in order, they are sorted
        return (
            list(itertools.chain.from_iterable(claims for claims, _ in ordered)),
            tuple(itertools.chain.from_iterable(reads for _, reads in ordered)),
            nodes,
        )
    pairs = [pair for part in ordered for pair in zip(*part, strict=True)]
    pairs.sort(key=lambda pair: pair[0][0])
    return [claim for claim, _ in pairs], tuple(read for _, read in pairs), nodes


__all__ = ["NativePart", "ProofAssembler", "join_parts"]
