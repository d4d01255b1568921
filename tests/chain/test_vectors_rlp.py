"""ethereum/tests RLPTests against the strict decoder our chain code relies on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from rlp.exceptions import DecodingError


def _load(shared: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((shared / "rlp" / name).read_text()))


def _to_obj(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_obj(v) for v in value]
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("#"):
        return int(value[1:])
    return value.encode()


def test_valid_vectors_roundtrip(shared_vectors: Path) -> None:
    cases = _load(shared_vectors, "rlptest.json")
    assert len(cases) >= 28
    for name, case in cases.items():
        expected = bytes.fromhex(case["out"].removeprefix("0x"))
        assert rlp.encode(_to_obj(case["in"])) == expected, name
        rlp.decode(expected, strict=True)  # canonical encodings decode strictly


def test_invalid_vectors_rejected(shared_vectors: Path) -> None:
    cases = _load(shared_vectors, "invalidRLPTest.json")
    assert cases
    for name, case in cases.items():
        raw = bytes.fromhex(case["out"].removeprefix("0x"))
        with pytest.raises(DecodingError):
            rlp.decode(raw, strict=True)
            pytest.fail(f"{name} decoded")
