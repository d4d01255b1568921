"""The native verifier: bundle v1 checked by the guest's Rust core from Python.

``coproc_native`` (built from ``native/`` by ``scripts/setup.d/25-native.sh``) wraps
``coproc_core::bundle::verify``, the function the zkVM guest proves with. Python's
:func:`coprocessor.bundle.verify_bundle` stays the reference: tests keep both equal
(accept/reject and verified values). When the extension is not importable every
function here falls back to the Python path, so verification never goes missing, only
gets slower. ``COPROC_NATIVE=0`` forces the Python path (benchmarks, tests).

On a rejection the Python reference runs once more to name the fault in its words
(the messages users and tests know); if it were to accept what Rust rejected, the
bundle is still rejected: anything the guest would refuse is never emitted.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from coprocessor.bundle import (
    AccountRead,
    Bundle,
    ProofAtBlock,
    StorageRead,
    VerifiedBundle,
    build_bundle,
    proven_account,
    verify_bundle,
)
from coprocessor.errors import CoprocessorError, UserInputError, VerificationError
from coprocessor.headers import Header, decode_header, verify_chain
from coprocessor.hexutil import hexstr, to_bytes
from coprocessor.mpt import NodePool
from coprocessor.rpc import ProofReader, ReadAnswer

_module: ModuleType | None
try:
    _module = importlib.import_module("coproc_native")
except ImportError:  # not built on this machine: the Python path verifies
    _module = None


def module() -> ModuleType | None:
    """The extension module, or ``None`` when missing or disabled (``COPROC_NATIVE=0``)."""
    if os.environ.get("COPROC_NATIVE", "1") == "0":
        return None
    return _module


def available() -> bool:
    """Whether verification goes through the Rust core."""
    return module() is not None


class _Unsupported(Exception):
    """Input the strict native reader does not take (e.g. JSON integers where hex is
    usual): the Python path handles it, verification included."""


# ----------------------------------------------------------------------------- verifying


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _read_parts(read: AccountRead, storage: list[Any] | None = None) -> tuple[Any, ...]:
    acc = read.account
    account = (
        None
        if acc is None
        else (_word(acc.nonce), _word(acc.balance), acc.storage_root, acc.code_hash)
    )
    if storage is None:
        storage = [(s.slot, s.key, _word(s.value)) for s in read.storage]
    return (read.block, read.address, read.key, account, storage)


def _verify_parts(mod: ModuleType, bundle: Bundle, parts: list[tuple[Any, ...]]) -> None:
    mod.verify_parts(
        bundle.chain_id,
        bundle.anchor_number,
        bundle.anchor_hash,
        list(bundle.headers),
        parts,
        list(bundle.nodes),
    )


def _headers(raws: Sequence[bytes]) -> tuple[Header, ...]:
    headers = tuple(decode_header(raw, f"headers[{i}]") for i, raw in enumerate(raws))
    verify_chain(headers)
    return headers


def verify_bundle_native(bundle: Bundle) -> VerifiedBundle:
    """:func:`~coprocessor.bundle.verify_bundle` for a parsed bundle, by the Rust core
    (the Python reference when the extension is missing)."""
    mod = module()
    if mod is None:
        return verify_bundle(bundle)
    try:
        if any(s.value >= 2**256 for a in bundle.accounts for s in a.storage):
            raise _Unsupported
        _verify_parts(mod, bundle, [_read_parts(a) for a in bundle.accounts])
        headers = _headers(bundle.headers)
        hashes = tuple(mod.keccak_many(list(bundle.nodes)))
    except (_Unsupported, CoprocessorError, mod.NativeError, OverflowError) as exc:
        return _reject(exc, lambda: verify_bundle(bundle))
    return VerifiedBundle(bundle=bundle, headers=headers, node_hashes=hashes)


def verify_bundle_json_native(data: bytes) -> dict[str, Any]:
    """Verify bundle JSON text entirely in Rust (parsing included); returns what
    ``VerifiedBundle.to_json()`` returns. Raises UserInputError for malformed input
    and VerificationError when a rule fails, with the Rust core's message."""
    import json

    mod = module()
    if mod is None:
        raise UserInputError("the native verifier is not installed (scripts/setup.d/25-native.sh)")
    try:
        out = mod.verify_bundle_json(data)
    except mod.InputError as exc:
        raise UserInputError(str(exc)) from None
    except mod.VerifyError as exc:
        raise VerificationError(str(exc)) from None
    result: dict[str, Any] = json.loads(out)
    return result


def _reject(exc: BaseException, reference: Any) -> VerifiedBundle:
    """The fast path failed: run the Python reference, whose error names the fault.
    Input the native reader only does not take is then verified by Python; a native
    *verification* failure stays a rejection even if Python accepted."""
    result: VerifiedBundle = reference()
    if isinstance(exc, _Unsupported):
        return result
    raise VerificationError(f"native verifier rejected the bundle: {exc}")


# ----------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Pending:
    """A bundle built from node answers, not verified yet: :meth:`verify` is the only
    way to a :class:`VerifiedBundle` (and rejects with the reference's message)."""

    bundle: Bundle
    headers: tuple[Header, ...]
    node_hashes: tuple[bytes, ...]
    _verify: Callable[[], VerifiedBundle]

    def verify(self) -> VerifiedBundle:
        """Verify (the Rust core releases the GIL: this may run in a worker thread)."""
        return self._verify()


def prepare_bundle_native(
    chain_id: int, headers: Sequence[bytes], proofs: Iterable[ProofAtBlock]
) -> Pending | VerifiedBundle:
    """The build step of :func:`build_bundle_native` without its verification, so the
    caller can overlap verification with other work (the store's write). Returns an
    already verified bundle when the Python path had to build it (extension missing,
    or answers the native reader does not take)."""
    items = list(proofs)
    mod = module()
    if mod is None:
        return build_bundle(chain_id, headers, items)
    try:
        bundle, decoded, digests, parts = _build(mod, chain_id, headers, items)
    except (_Unsupported, CoprocessorError, mod.NativeError, OverflowError) as exc:
        return _reject(exc, lambda: build_bundle(chain_id, headers, items))
    return _pending(mod, chain_id, headers, lambda: items, bundle, decoded, digests, parts)


def _pending(
    mod: ModuleType,
    chain_id: int,
    headers: Sequence[bytes],
    items: Callable[[], list[ProofAtBlock]],
    bundle: Bundle,
    decoded: tuple[Header, ...],
    digests: tuple[bytes, ...],
    parts: list[tuple[Any, ...]],
) -> Pending:
    def verify() -> VerifiedBundle:
        try:
            _verify_parts(mod, bundle, parts)
        except (CoprocessorError, mod.NativeError, OverflowError) as exc:
            return _reject(exc, lambda: build_bundle(chain_id, headers, items()))
        return VerifiedBundle(bundle=bundle, headers=decoded, node_hashes=digests)

    return Pending(bundle, decoded, digests, verify)


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
        """A reader for :meth:`RpcClient.proof_calls <coprocessor.rpc.RpcClient.proof_calls>`
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
                return NativePart(json.loads(account), claims, _storage_reads(claims), body)
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
                raise _Unsupported
            claims = mod.storage_claims(entries, self._nodes[job])
            self._claims[job][part] = (claims, _storage_reads(claims))
        except (_Unsupported, mod.InputError):
            self._unsupported = True

    def answers(self, *, accounts_only: bool = False) -> list[ProofAtBlock]:
        """Each job's parts joined into one answer (as ``RpcClient.get_proof`` joins
        them; the parts must agree on the account proof). ``accounts_only``: without
        the storage proofs of parts read by :meth:`reader` (not decoded then)."""
        from coprocessor.rpc import merge_proof_chunks

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
            _joined(parts, nodes) for parts, nodes in zip(self._claims, self._nodes, strict=True)
        ]
        try:
            bundle, decoded, digests, parts = _build(mod, chain_id, headers, items, parsed)
        except (_Unsupported, CoprocessorError, mod.NativeError, OverflowError) as exc:
            return _reject(exc, lambda: build_bundle(chain_id, headers, self.answers()))
        return _pending(mod, chain_id, headers, self.answers, bundle, decoded, digests, parts)


def _joined(
    parts: dict[int, tuple[list[Any], tuple[StorageRead, ...]]], nodes: dict[bytes, bytes]
) -> _Parsed:
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


def build_bundle_native(
    chain_id: int, headers: Sequence[bytes], proofs: Iterable[ProofAtBlock]
) -> VerifiedBundle:
    """:func:`~coprocessor.bundle.build_bundle` with the storage proofs parsed and
    hashed in bulk and the bundle verified by the Rust core. Same bundle, same
    accept/reject as the Python function (tests check both); that function is used
    when the extension is missing."""
    prepared = prepare_bundle_native(chain_id, headers, proofs)
    return prepared.verify() if isinstance(prepared, Pending) else prepared


#: one item's storage proofs parsed: storage_claims' claims (sorted by slot), the
#: StorageReads of those claims, and the storage proof nodes by hash
_Parsed = tuple[list[Any], tuple[StorageRead, ...], dict[bytes, bytes]]


def _storage_reads(claims: Sequence[Any]) -> tuple[StorageRead, ...]:
    return tuple(
        StorageRead.prehashed(slot, int.from_bytes(value, "big"), key)
        for slot, key, value in claims
    )


def _build(
    mod: ModuleType,
    chain_id: int,
    raws: Sequence[bytes],
    items: list[ProofAtBlock],
    parsed: Sequence[_Parsed] | None = None,
) -> tuple[Bundle, tuple[Header, ...], tuple[bytes, ...], list[tuple[Any, ...]]]:
    """Mirrors build_bundle step by step (see there for the why of each step).
    ``parsed``, when given, holds each item's storage proofs already parsed
    (:class:`ProofAssembler`)."""
    if not raws:
        raise UserInputError("a bundle needs at least one header")
    headers = _headers(raws)
    by_number = {h.number: h for h in headers}
    pool = NodePool()
    seen: set[str] = set()
    for item in items:
        for node in item.response.get("accountProof", []):
            if node not in seen:
                seen.add(node)
                raw = to_bytes(node, "accountProof")
                if raw != b"\x80":
                    pool.add(raw)
    reads: list[tuple[AccountRead, list[Any]]] = []
    for item in items:
        header = by_number.get(item.block)
        if header is None:
            raise UserInputError(f"proof for block {item.block}, which is not among the headers")
        response = item.response
        address, account, _where = proven_account(pool, header.state_root, item)
        if parsed is not None:
            claims, storage, storage_nodes = parsed[len(reads)]
            if account is not None:  # an absent account has no storage trie to prove
                pool.nodes.update(storage_nodes)
        else:
            entries = response.get("storageProof", [])
            if not isinstance(entries, list):
                raise _Unsupported
            try:
                claims = mod.storage_claims(entries, pool.nodes if account is not None else None)
            except mod.InputError:
                raise _Unsupported from None
            storage = _storage_reads(claims)
        reads.append((AccountRead(item.block, address, account, storage), claims))
    reads.sort(key=lambda r: (r[0].block, r[0].address))
    digests = sorted(pool.nodes)
    bundle = Bundle(
        chain_id=chain_id,
        anchor_number=headers[-1].number,
        anchor_hash=headers[-1].hash,
        headers=tuple(raws),
        accounts=tuple(read for read, _ in reads),
        nodes=tuple(map(pool.nodes.__getitem__, digests)),
    )
    parts = [_read_parts(read, claims) for read, claims in reads]
    return bundle, headers, tuple(digests), parts


__all__ = [
    "NativePart",
    "Pending",
    "ProofAssembler",
    "available",
    "build_bundle_native",
    "module",
    "prepare_bundle_native",
    "verify_bundle_json_native",
    "verify_bundle_native",
]
