"""keccak256, the one hash function of the execution layer."""

from __future__ import annotations

from eth_hash.auto import keccak as _keccak


def keccak256(data: bytes) -> bytes:
    """keccak256 (the pre-standard SHA-3 that Ethereum uses) of ``data``."""
    return bytes(_keccak(data))


#: keccak256(rlp(b"")): the root of an empty trie
EMPTY_TRIE_ROOT = keccak256(b"\x80")
#: keccak256(b""): the code hash of an account without code
EMPTY_CODE_HASH = keccak256(b"")
