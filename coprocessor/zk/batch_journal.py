"""Batch journal v1 (docs/formats.md): one receipt committing to a Merkle root of many
results, and the sorted-pair keccak tree the contracts check leaf proofs against
(``contracts/src/oracle/BatchJournalV1.sol``, ``contracts/src/utils/SortedMerkle.sol``).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode
from eth_hash.auto import keccak

from coprocessor.errors import UserInputError

VERSION = 1
BATCH_TYPES = ["uint8", "uint64", "uint64", "bytes32", "bytes32", "uint32", "bytes32"]
LEAF_TYPES = ["uint64", "address", "bytes32", "bytes32", "uint32", "bytes32"]


@dataclass(frozen=True)
class Leaf:
    """One result of a batch."""

    block_number: int
    subject: str
    model_hash: bytes
    feature_spec_hash: bytes
    score: int
    request_id: bytes

    def as_tuple(self) -> tuple[int, str, bytes, bytes, int, bytes]:
        """ABI order (also the contract's ``Leaf`` struct as a web3 argument)."""
        return (
            self.block_number,
            self.subject,
            self.model_hash,
            self.feature_spec_hash,
            self.score,
            self.request_id,
        )

    def hash(self) -> bytes:
        """keccak256(keccak256(abi.encode(fields))): double-hashed so that no internal
        node (64 bytes of hashes) can pass as a leaf."""
        return bytes(keccak(keccak(encode(LEAF_TYPES, list(self.as_tuple())))))


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


def _parent(a: bytes, b: bytes) -> bytes:
    return bytes(keccak(a + b if a < b else b + a))


def _up(level: list[bytes]) -> list[bytes]:
    return [
        _parent(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
        for i in range(0, len(level), 2)
    ]


def root(leaf_hashes: list[bytes]) -> bytes:
    """Root of the tree over ``leaf_hashes`` (pairs sorted, an odd node carried up)."""
    if not leaf_hashes:
        raise UserInputError("empty batch has no root")
    level = list(leaf_hashes)
    while len(level) > 1:
        level = _up(level)
    return level[0]


def proof(leaf_hashes: list[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` up to the root."""
    if not 0 <= index < len(leaf_hashes):
        raise UserInputError(f"leaf index {index} out of range (0..{len(leaf_hashes) - 1})")
    out: list[bytes] = []
    level = list(leaf_hashes)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            out.append(level[sibling])
        level = _up(level)
        index //= 2
    return out


def verify(leaf_hash: bytes, siblings: list[bytes], expected_root: bytes) -> bool:
    """Whether ``siblings`` fold ``leaf_hash`` into ``expected_root``."""
    node = leaf_hash
    for sibling in siblings:
        node = _parent(node, sibling)
    return node == expected_root
