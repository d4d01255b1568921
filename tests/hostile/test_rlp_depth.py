"""RLP nesting is bounded before decoding (coprocessor/chain/rlpdepth.py): the
measured depth matches how the bytes were built, and hostile nesting is a
one-line VerificationError from every decoder that reads chain data."""

from __future__ import annotations

import contextlib
import random

import pytest
import rlp

from coprocessor.chain.headers import decode_header
from coprocessor.chain.mpt import NodePool
from coprocessor.chain.proofs import decode_account, decode_storage_value
from coprocessor.chain.rlpdepth import MAX_DEPTH, decode_bounded, nesting
from coprocessor.errors import CoprocessorError, VerificationError


def list_of(payload: bytes) -> bytes:
    """RLP list header + ``payload`` (written out here, not by the encoder under test)."""
    if len(payload) < 56:
        return bytes([0xC0 + len(payload)]) + payload
    size = len(payload).to_bytes((len(payload).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + payload


def deep_rlp(depth: int) -> bytes:
    """``depth`` lists around the byte string "x", built without recursion."""
    raw = b"x"
    for _ in range(depth):
        raw = list_of(raw)
    return raw


def wrapped(depth: int, leaf: object = b"x") -> object:
    """A value of ``depth`` nested lists (depth 0 is the leaf itself)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [0, 1, 2, 5, MAX_DEPTH, MAX_DEPTH + 1, 40])
def test_nesting_counts_the_lists_the_encoder_wrote(depth: int) -> None:
    raw = rlp.encode(wrapped(depth, b"y" * 60))  # 60 bytes: a long-string prefix inside
    assert nesting(raw, limit=100) == depth


def test_long_list_prefixes_are_followed() -> None:
    value = [[b"a" * 70] * 3, [b"b"] * 80, [[b"c"]]]  # payloads over 55 bytes use 0xf8+
    assert nesting(rlp.encode(value)) == 3


def test_up_to_the_bound_decodes_and_one_more_is_refused() -> None:
    assert decode_bounded(rlp.encode(wrapped(MAX_DEPTH)), "t") == wrapped(MAX_DEPTH)
    with pytest.raises(VerificationError, match=f"t: RLP lists nested deeper than {MAX_DEPTH}"):
        decode_bounded(rlp.encode(wrapped(MAX_DEPTH + 1)), "t")


@pytest.mark.parametrize("size", [20_000, 200_000])
def test_the_issue_header_of_repeated_0xcd_is_a_clean_error(size: int) -> None:
    """200,000 bytes of 0xcd gave a RecursionError traceback."""
    with pytest.raises(VerificationError, match="nested deeper than"):
        decode_header(b"\xcd" * size)


def test_every_chain_decoder_refuses_deep_rlp() -> None:
    deep = deep_rlp(5_000)
    assert deep_rlp(3) == rlp.encode(wrapped(3))
    for decode in (
        lambda: decode_header(deep),
        lambda: decode_account(deep, "acct"),
        lambda: decode_storage_value(deep, "slot"),
    ):
        with pytest.raises(VerificationError, match="nested deeper than"):
            decode()
    pool = NodePool()
    root = pool.add(deep)
    with pytest.raises(VerificationError, match="nested deeper than"):
        pool.get(root, b"\x00" * 32, "node")


def test_random_bytes_only_ever_raise_project_errors() -> None:
    """Fixed seed, bounded count: random and prefix-heavy byte strings through every
    decoder give a value or a CoprocessorError, never another exception."""
    rng = random.Random(20)
    prefixes = [0xC0, 0xCD, 0xF7, 0xF8, 0xF9, 0xB7, 0xB8, 0xBF, 0x80, 0x81]
    for i in range(3_000):
        size = rng.randrange(0, 300)
        if i % 2:
            raw = bytes(
                rng.choice(prefixes) if rng.random() < 0.7 else rng.randrange(256)
                for _ in range(size)
            )
        else:
            raw = rng.randbytes(size)
        with contextlib.suppress(CoprocessorError):
            decode_header(raw)
        with contextlib.suppress(CoprocessorError):
            decode_account(raw, "acct")
        with contextlib.suppress(CoprocessorError):
            decode_storage_value(raw, "slot")
        pool = NodePool()
        with contextlib.suppress(CoprocessorError):
            pool.get(pool.add(raw), b"\x01" * 32, "node")
