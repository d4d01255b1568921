"""Batch journal v1 (docs/formats.md §5): one receipt committing to a Merkle root of many
results. The leaf and the sorted-pair keccak tree the contracts check leaf proofs
against (``contracts/src/oracle/BatchJournalV1.sol``, ``contracts/src/utils/SortedMerkle.sol``)
are defined in :mod:`coprocessor.scoring.batch`, the twin of the guest's ``batch::run``;
this module encodes and decodes the journal and checks a leaf against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode

from coprocessor.errors import UserInputError, VerificationError
from coprocessor.scoring.batch import LEAF_TYPES, Leaf, proof, root, verify

VERSION = 1
LENGTH = 224
BATCH_TYPES = ["uint8", "uint64", "uint64", "bytes32", "bytes32", "uint32", "bytes32"]
FIELDS = ("version", "chainId", "anchorNumber", "anchorHash", "resultsRoot", "count", "batchId")
#: bits of each word's type (bytes32: the whole word)
_BITS = (8, 64, 64, 256, 256, 32, 256)


def encode_batch(
    chain_id: int,
    anchor_number: int,
    anchor_hash: bytes,
    results_root: bytes,
    count: int,
    batch_id: bytes,
) -> bytes:
    """The 224-byte batch journal."""
    if count <= 0:
        raise UserInputError("a batch holds at least one result")
    return bytes(
        encode(
            BATCH_TYPES,
            [VERSION, chain_id, anchor_number, anchor_hash, results_root, count, batch_id],
        )
    )


def encode_fields(fields: dict[str, Any]) -> bytes:
    """:func:`encode_batch` of a field dict (``BatchScored.journal_fields``)."""
    return encode_batch(
        fields["chainId"],
        fields["anchorNumber"],
        fields["anchorHash"],
        fields["resultsRoot"],
        fields["count"],
        fields["batchId"],
    )


def decode_batch(raw: bytes) -> dict[str, Any]:
    """The fields of a batch journal, strictly (``BatchJournalV1.decode``): exactly 224
    bytes, every word within its type, version 1, a non-zero count."""
    if len(raw) != LENGTH:
        raise VerificationError(f"batch journal: {len(raw)} bytes, expected {LENGTH}")
    out: dict[str, Any] = {}
    for i, (name, bits) in enumerate(zip(FIELDS, _BITS, strict=True)):
        word = raw[32 * i : 32 * (i + 1)]
        value = int.from_bytes(word, "big")
        if bits < 256 and value >> bits:
            raise VerificationError(f"batch journal: word {i} ({name}) out of range")
        out[name] = word if bits == 256 else value
    if out["version"] != VERSION:
        raise VerificationError(f"batch journal: version {out['version']}, expected {VERSION}")
    if out["count"] == 0:
        raise VerificationError("batch journal: count is zero")
    return out


def decode_leaf(raw: bytes) -> Leaf:
    """A leaf from its 192-byte ABI encoding, strictly (every word within its type)."""
    if len(raw) != 32 * len(LEAF_TYPES):
        raise VerificationError(f"batch leaf: {len(raw)} bytes, expected {32 * len(LEAF_TYPES)}")
    words = [raw[32 * i : 32 * (i + 1)] for i in range(len(LEAF_TYPES))]
    for i, bits in ((0, 64), (1, 160), (4, 32)):
        if int.from_bytes(words[i], "big") >> bits:
            raise VerificationError(f"batch leaf: word {i} out of range")
    return Leaf(
        block_number=int.from_bytes(words[0], "big"),
        subject="0x" + words[1][12:].hex(),
        model_hash=words[2],
        feature_spec_hash=words[3],
        score=int.from_bytes(words[4], "big"),
        request_id=words[5],
    )


def proof_length(count: int, index: int) -> int:
    """How many siblings the proof of leaf ``index`` of ``count`` has."""
    n, length = count, 0
    while n > 1:
        if index ^ 1 < n:
            length += 1
        n, index = (n + 1) // 2, index // 2
    return length


def check_leaf(journal: bytes, leaf: Leaf, index: int, siblings: Sequence[bytes]) -> None:
    """Leaf ``index`` with its proof belongs to the batch ``journal``: the proof has the
    shape of that index in a tree of ``count`` leaves and folds the leaf hash into the
    results root; the leaf's block is not after the anchor. Raises VerificationError."""
    fields = decode_batch(journal)
    if not 0 <= index < fields["count"]:
        raise VerificationError(f"batch leaf {index}: index out of range (count {fields['count']})")
    if len(siblings) != proof_length(fields["count"], index) or any(len(s) != 32 for s in siblings):
        raise VerificationError(f"batch leaf {index}: the proof has the wrong shape")
    if not verify(leaf.hash(), siblings, fields["resultsRoot"]):
        raise VerificationError(f"batch leaf {index}: not in the batch (proof fails)")
    if leaf.block_number > fields["anchorNumber"]:
        raise VerificationError(f"batch leaf {index}: block after the anchor")


__all__ = [
    "BATCH_TYPES",
    "FIELDS",
    "LEAF_TYPES",
    "LENGTH",
    "Leaf",
    "check_leaf",
    "decode_batch",
    "decode_leaf",
    "encode_batch",
    "encode_fields",
    "proof",
    "proof_length",
    "root",
    "verify",
]
