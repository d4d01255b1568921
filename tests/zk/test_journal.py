"""coprocessor.zk.journal: journal v1 by field name, field list read from spec/journal_v1.json;
checked against the word layout of formats.md §4, read independently."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from locations import REPO

from coprocessor.errors import UserInputError, VerificationError
from coprocessor.zk import journal

SPEC = REPO / "spec" / "journal_v1.json"


def sample() -> dict[str, object]:
    return {
        "version": 1,
        "chainId": 42161,
        "anchorNumber": 19000010,
        "anchorHash": "0x" + "aa" * 32,
        "blockNumber": 19000000,
        "subject": "0x" + "11" * 20,
        "modelHash": "0x" + "bb" * 32,
        "featureSpecHash": "0x" + "cc" * 32,
        "score": 10000,
        "requestId": "0x" + "dd" * 32,
    }


def test_fields_come_from_the_spec_file() -> None:
    spec = json.loads(SPEC.read_text())
    assert journal.fields() == tuple((f["name"], f["type"]) for f in spec["fields"])
    assert len(journal.fields()) == 10


def test_word_layout() -> None:
    raw = journal.encode(sample())
    assert len(raw) == 320
    words = [raw[32 * i : 32 * (i + 1)] for i in range(10)]
    assert words[0] == (1).to_bytes(32, "big")
    assert words[1] == (42161).to_bytes(32, "big")
    assert words[3] == b"\xaa" * 32
    assert words[5] == bytes(12) + b"\x11" * 20
    assert words[8] == (10000).to_bytes(32, "big")
    assert words[9] == b"\xdd" * 32
    assert journal.decode(raw) == sample()


def test_rejects_bad_journals() -> None:
    raw = journal.encode(sample())
    with pytest.raises(VerificationError):
        journal.decode(raw[:-1])
    with pytest.raises(VerificationError):
        journal.decode(raw + b"\0")
    bad_pad = bytearray(raw)
    bad_pad[0] = 1  # uint8 version word with a high byte set
    with pytest.raises(VerificationError):
        journal.decode(bytes(bad_pad))
    v2 = sample() | {"version": 2}
    with pytest.raises(VerificationError):
        journal.decode(journal.encode(v2))
    with pytest.raises(UserInputError):
        journal.encode({k: v for k, v in sample().items() if k != "score"})
    with pytest.raises(UserInputError):
        journal.encode(sample() | {"score": 2**32})
    with pytest.raises(VerificationError):
        journal.decode_hex("0x12")


@given(
    chain=st.integers(0, 2**64 - 1),
    numbers=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
    score=st.integers(0, 2**32 - 1),
    blobs=st.lists(st.binary(min_size=32, max_size=32), min_size=4, max_size=4),
    subject=st.binary(min_size=20, max_size=20),
)
def test_roundtrip_and_word_values(
    chain: int, numbers: tuple[int, int], score: int, blobs: list[bytes], subject: bytes
) -> None:
    values = {
        "version": 1,
        "chainId": chain,
        "anchorNumber": numbers[0],
        "anchorHash": "0x" + blobs[0].hex(),
        "blockNumber": numbers[1],
        "subject": "0x" + subject.hex(),
        "modelHash": "0x" + blobs[1].hex(),
        "featureSpecHash": "0x" + blobs[2].hex(),
        "score": score,
        "requestId": "0x" + blobs[3].hex(),
    }
    raw = journal.encode(values)
    assert journal.decode(raw) == values
    # an independent reading of the ten words
    w = [raw[32 * i : 32 * (i + 1)] for i in range(10)]
    assert int.from_bytes(w[1], "big") == chain
    assert int.from_bytes(w[2], "big") == numbers[0]
    assert int.from_bytes(w[4], "big") == numbers[1]
    assert w[5] == bytes(12) + subject
    assert int.from_bytes(w[8], "big") == score
    assert [w[3], w[6], w[7], w[9]] == blobs
