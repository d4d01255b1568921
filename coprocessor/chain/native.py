"""The native verifier: bundle v1 checked by the guest's Rust core from Python.

``coproc_native`` (built from ``native/`` by ``scripts/setup.d/25-native.sh``) wraps
``coproc_core::bundle::verify``, the function the zkVM guest proves with. Python's
:func:`coprocessor.chain.bundle.verify_bundle` stays the reference: tests keep both equal
(accept/reject and verified values). When the extension is not importable every
function here falls back to the Python path, so verification never goes missing, only
gets slower. ``COPROC_NATIVE=0`` forces the Python path (benchmarks, tests).

On a rejection the Python reference runs once more to name the fault in its words
(the messages users and tests know); if it were to accept what Rust rejected, the
bundle is still rejected: anything the guest would refuse is never emitted.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from coprocessor.chain.bundle import (
    AccountRead,
    Bundle,
    ProofAtBlock,
    StorageRead,
    VerifiedBundle,
    assemble_bundle,
    build_bundle,
    verify_bundle,
)
from coprocessor.chain.headers import Header, decode_header, verify_chain
from coprocessor.chain.mpt import NodePool
from coprocessor.errors import CoprocessorError, UserInputError, VerificationError, split_code

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


class NativeUnsupported(Exception):
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
    """:func:`~coprocessor.chain.bundle.verify_bundle` for a parsed bundle, by the Rust core
    (the Python reference when the extension is missing)."""
    mod = module()
    if mod is None:
        return verify_bundle(bundle)
    try:
        if any(s.value >= 2**256 for a in bundle.accounts for s in a.storage):
            raise NativeUnsupported
        _verify_parts(mod, bundle, [_read_parts(a) for a in bundle.accounts])
        headers = _headers(bundle.headers)
        hashes = tuple(mod.keccak_many(list(bundle.nodes)))
    except (NativeUnsupported, CoprocessorError, mod.NativeError, OverflowError) as exc:
        return reject_with_reference(exc, lambda: verify_bundle(bundle))
    return VerifiedBundle(bundle=bundle, headers=headers, node_hashes=hashes)


def verify_bundle_json_native(data: bytes) -> dict[str, Any]:
    """Verify bundle JSON text entirely in Rust (parsing included); returns what
    ``VerifiedBundle.to_json()`` returns. Raises UserInputError for malformed input
    and VerificationError when a rule fails, with the Rust core's message."""

    mod = module()
    if mod is None:
        raise UserInputError("the native verifier is not installed (scripts/setup.d/25-native.sh)")
    try:
        out = mod.verify_bundle_json(data)
    except mod.InputError as exc:
        rule, message = split_code(str(exc))
        raise UserInputError(message, rule=rule) from None
    except mod.VerifyError as exc:
        rule, message = split_code(str(exc))
        raise VerificationError(message, rule=rule) from None
    result: dict[str, Any] = json.loads(out)
    return result


def reject_with_reference(exc: BaseException, reference: Any) -> VerifiedBundle:
    """The fast path failed: run the Python reference, whose error names the fault.
    Input the native reader only does not take is then verified by Python; a native
    *verification* failure stays a rejection even if Python accepted."""
    result: VerifiedBundle = reference()
    if isinstance(exc, NativeUnsupported):
        return result
    rule, message = split_code(str(exc))
    raise VerificationError(f"native verifier rejected the bundle: {message}", rule=rule)


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
        bundle, decoded, digests, parts = assemble(mod, chain_id, headers, items)
    except (NativeUnsupported, CoprocessorError, mod.NativeError, OverflowError) as exc:
        return reject_with_reference(exc, lambda: build_bundle(chain_id, headers, items))
    return pending(mod, chain_id, headers, lambda: items, bundle, decoded, digests, parts)


def pending(
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
            return reject_with_reference(exc, lambda: build_bundle(chain_id, headers, items()))
        return VerifiedBundle(bundle=bundle, headers=decoded, node_hashes=digests)

    return Pending(bundle, decoded, digests, verify)


def build_bundle_native(
    chain_id: int, headers: Sequence[bytes], proofs: Iterable[ProofAtBlock]
) -> VerifiedBundle:
    """:func:`~coprocessor.chain.bundle.build_bundle` with the storage proofs parsed and
    hashed in bulk and the bundle verified by the Rust core. Same bundle, same
    accept/reject as the Python function (tests check both); that function is used
    when the extension is missing."""
    prepared = prepare_bundle_native(chain_id, headers, proofs)
    return prepared.verify() if isinstance(prepared, Pending) else prepared


#: one item's storage proofs parsed: storage_claims' claims (sorted by slot), the
#: StorageReads of those claims, and the storage proof nodes by hash
ParsedStorage = tuple[list[Any], tuple[StorageRead, ...], dict[bytes, bytes]]


def storage_reads(claims: Sequence[Any]) -> tuple[StorageRead, ...]:
    return tuple(
        StorageRead.prehashed(slot, int.from_bytes(value, "big"), key)
        for slot, key, value in claims
    )


def assemble(
    mod: ModuleType,
    chain_id: int,
    raws: Sequence[bytes],
    items: list[ProofAtBlock],
    parsed: Sequence[ParsedStorage] | None = None,
) -> tuple[Bundle, tuple[Header, ...], tuple[bytes, ...], list[tuple[Any, ...]]]:
    """build_bundle's loop (:func:`~coprocessor.chain.bundle.assemble_bundle`) with
    storage proofs parsed and hashed in bulk by the extension. ``parsed``, when
    given, holds each item's storage proofs already parsed (:class:`ProofAssembler`)."""

    def storage(
        index: int, item: ProofAtBlock, _where: str, pool: NodePool | None
    ) -> tuple[tuple[StorageRead, ...], list[Any]]:
        if parsed is not None:
            claims, reads, storage_nodes = parsed[index]
            if pool is not None:
                pool.nodes.update(storage_nodes)
            return reads, claims
        entries = item.response.get("storageProof", [])
        if not isinstance(entries, list):
            raise NativeUnsupported
        try:
            claims = mod.storage_claims(entries, pool.nodes if pool is not None else None)
        except mod.InputError:
            raise NativeUnsupported from None
        return storage_reads(claims), claims

    done = assemble_bundle(chain_id, raws, items, storage)
    parts = [
        _read_parts(read, claims)
        for read, claims in zip(done.bundle.accounts, done.extras, strict=True)
    ]
    return done.bundle, done.headers, done.digests, parts


__all__ = [
    "NativeUnsupported",
    "ParsedStorage",
    "Pending",
    "assemble",
    "available",
    "build_bundle_native",
    "module",
    "pending",
    "prepare_bundle_native",
    "reject_with_reference",
    "storage_reads",
    "verify_bundle_json_native",
    "verify_bundle_native",
]
