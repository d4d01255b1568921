"""The fast trie-node decoder equals the strict general RLP decoder (naive vs fast),
on real nodes, on arbitrary bytes and on single-byte mutations of real nodes."""

from __future__ import annotations

import json

import rlp
from hypothesis import given, settings
from hypothesis import strategies as st
from locations import CHAIN_VECTORS
from rlp.exceptions import DecodingError

from coprocessor.chain.mpt import _fast_decode

VECTORS = CHAIN_VECTORS


def _real_nodes() -> list[bytes]:
    nodes = []
    for path in sorted((VECTORS / "proofs").glob("*.json")):
        proof = json.loads(path.read_text())["proof"]
        nodes += [bytes.fromhex(n[2:]) for n in proof["accountProof"]]
        for entry in proof["storageProof"]:
            nodes += [bytes.fromhex(n[2:]) for n in entry["proof"]]
    return nodes


REAL = _real_nodes()


def _strict(raw: bytes) -> object:
    try:
        return rlp.decode(raw, strict=True)
    except DecodingError:
        return "error"


def _agrees(raw: bytes) -> None:
    fast = _fast_decode(raw)
    if fast is not None:  # when the fast path answers, it must say what the spec says
        assert _strict(raw) == fast


def test_real_nodes_take_the_fast_path() -> None:
    assert len(REAL) > 100
    fast = [n for n in REAL if _fast_decode(n) is not None]
    assert len(fast) > 0.9 * len(REAL)
    for node in REAL:
        _agrees(node)


@settings(max_examples=400, derandomize=True)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(raw: bytes) -> None:
    _agrees(raw)


@settings(max_examples=600, derandomize=True)
@given(st.sampled_from(REAL), st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_mutated_real_nodes(node: bytes, index: int, byte: int) -> None:
    mutated = bytearray(node)
    mutated[index % len(node)] = byte
    _agrees(bytes(mutated))
    _agrees(node[: index % len(node)])  # truncations
    _agrees(node + bytes([byte]))  # trailing bytes
