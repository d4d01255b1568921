"""Feature spec v1 validation, canonical form and the ``coproc features`` CLI."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coprocessor.cli import main as cli
from coprocessor.errors import UserInputError
from coprocessor.scoring import features

POOL = "0x" + "22" * 20


def spec_with(*feats: dict[str, Any]) -> dict[str, Any]:
    return {"format": "coproc-features", "version": 1, "name": "t", "features": list(feats)}


BAL: dict[str, Any] = {"name": "bal", "read": {"kind": "balance", "address": "$subject"}}


def test_defaults_do_not_change_the_hash() -> None:
    short = spec_with(BAL, {"name": "s", "read": {"kind": "storage", "address": POOL,
                                                  "slot": {"base": 2}}})  # fmt: skip
    full = spec_with(
        {**BAL, "read": {**BAL["read"], "block_offset": 0}, "decimals": 0, "signed": False,
         "min": -(2**31), "max": 2**31 - 1},
        {"name": "s", "read": {"kind": "storage", "address": POOL.upper().replace("0X", "0x"),
                               "slot": {"base": 2, "path": []}, "bits": {"offset": 0, "size": 32},
                               "block_offset": 0},
         "decimals": 0, "signed": False, "min": -(2**31), "max": 2**31 - 1},
    )  # fmt: skip
    typed_short, typed_full = features.normalize(short), features.normalize(full)
    assert features.spec_hash(typed_short) == features.spec_hash(typed_full)
    assert features.canonical_bytes(typed_short) == features.canonical_bytes(typed_full)
    changed = spec_with({**BAL, "decimals": 1}, short["features"][1])
    assert features.spec_hash(features.normalize(changed)) != features.spec_hash(typed_short)
    # canonical bytes: no whitespace, sorted keys, ASCII
    text = features.canonical_bytes(typed_short).decode("ascii")
    assert " " not in text and text.startswith('{"features":[{"decimals":0,')


BAD: list[tuple[dict[str, Any], str]] = [
    ({**spec_with(BAL), "format": "x"}, "format"),
    ({**spec_with(BAL), "version": 3}, "version"),
    ({**spec_with(BAL), "extra": 1}, "unknown key"),
    (spec_with(), "features"),
    (spec_with(BAL, BAL), "duplicate"),
    (spec_with({**BAL, "name": "has space"}), "name must match"),
    (spec_with({"name": "x"}), "read` or `combine"),
    (spec_with({"name": "x", "read": {"kind": "code", "address": POOL}}), "read.kind"),
    (spec_with({"name": "x", "read": {"kind": "balance", "address": "0x1234"}}), "20-byte"),
    (spec_with({"name": "x", "read": {"kind": "storage", "address": POOL}}), "needs a slot"),
    (
        spec_with({"name": "x", "read": {"kind": "balance", "address": POOL, "slot": {"base": 1}}}),
        "no slot",
    ),
    (spec_with({**BAL, "signed": True}), "cannot be signed"),
    (spec_with({**BAL, "decimals": 78}), "outside"),
    (spec_with({**BAL, "decimals": -1}), "outside"),
    (spec_with({**BAL, "min": 5, "max": 4}), "min 5 > max 4"),
    (spec_with({**BAL, "max": 2**31}), "outside"),
    (spec_with({**BAL, "min": 0.5}), "integer"),
    (
        spec_with(
            {
                "name": "x",
                "read": {
                    "kind": "storage",
                    "address": POOL,
                    "slot": {"base": 1},
                    "bits": {"offset": 30, "size": 4},
                },
            }
        ),
        "outside",
    ),
    (
        spec_with(
            {
                "name": "x",
                "read": {
                    "kind": "storage",
                    "address": POOL,
                    "slot": {"base": 1, "path": [{"mapping": "0x1234"}]},
                },
            }
        ),
        "mapping key",
    ),
    (
        spec_with(
            {
                "name": "x",
                "read": {
                    "kind": "storage",
                    "address": POOL,
                    "slot": {"base": 1, "path": [{"walk": 1}]},
                },
            }
        ),
        "a step is",
    ),
    (spec_with({"name": "c", "combine": {"op": "sub", "args": ["bal", "bal"]}}, BAL), "earlier"),
    (spec_with(BAL, {"name": "c", "combine": {"op": "pow", "args": ["bal", "bal"]}}), "combine.op"),
    (spec_with(BAL, {"name": "c", "combine": {"op": "sub", "args": ["bal"]}}), "two features"),
]


#: the code of the rule each BAD spec breaks (docs/formats.md §6), by its message
CODES = {
    "format": "F001",
    "version": "F002",
    "unknown key": "F003",
    "features": "F006",
    "duplicate": "F008",
    "name must match": "F007",
    "read` or `combine": "F009",
    "read.kind": "F009",
    "20-byte": "F010",
    "no slot": "F012",
    "needs a slot": "F012",
    "cannot be signed": "F012",
    "outside": "F004",
    "min 5 > max 4": "F014",
    "integer": "F004",
    "mapping key": "F011",
    "a step is": "F011",
    "earlier": "F015",
    "combine.op": "F009",
    "two features": "F015",
}


@pytest.mark.parametrize(("spec", "message"), BAD, ids=[m for _, m in BAD])
def test_invalid_specs(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(UserInputError, match=message) as caught:
        features.normalize(spec)
    assert caught.value.code == CODES[message]


def test_combine_ops_saturate() -> None:
    hi, lo = 2**31 - 1, -(2**31)
    assert features.combine("add", hi, 1, hi) == hi
    assert features.combine("sub", lo, 1, hi) == lo
    assert features.combine("mul", hi, hi, hi) == hi
    assert features.combine("mul", 3, 32768, hi) == 2  # 1.5 rounds half up
    assert features.combine("mul", -3, 32768, hi) == -1  # -1.5 rounds half up
    assert features.combine("ratio", hi, 1, hi) == hi
    assert features.combine("ratio", -65536, 3 * 65536, hi) == -21845  # trunc, not floor
    assert features.combine("ratio", 5, 0, 77) == 77
    assert features.to_q16(-1, 0) == -65536 and features.to_q16(-1, 5) == 0


def test_float_in_spec_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(spec_with({**BAL, "decimals": 18.0})))
    with pytest.raises(UserInputError, match="only integers"):
        features.load(path)


def test_cli_spec_hash_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("features",))
    path = tmp_path / "s.json"
    path.write_text(json.dumps(spec_with(BAL)))
    assert cli.main(["features", "--spec", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["spec_hash"] == "0x" + features.spec_hash(features.normalize(spec_with(BAL))).hex()
    assert out["features"] == ["bal"]
    assert cli.main(["features", "--spec", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read feature spec" in err[0]
    assert cli.main(["features", "--spec", str(path), "--bundle", str(path)]) == 2
    assert "--subject" in capsys.readouterr().err


# --- conversions and combine ops against exact rationals (hypothesis) -----------------

I32 = st.integers(-(2**31), 2**31 - 1)


def _trunc(q: Fraction) -> int:
    return math.floor(q) if q >= 0 else math.ceil(q)


def _sat(v: int) -> int:
    return max(-(2**31), min(2**31 - 1, v))


@settings(max_examples=300, deadline=None)
@given(v=st.integers(-(2**255), 2**256 - 1), decimals=st.integers(0, 77))
def test_to_q16_is_truncation_towards_zero(v: int, decimals: int) -> None:
    assert features.to_q16(v, decimals) == _trunc(Fraction(v * 65536, 10**decimals))


@settings(max_examples=300, deadline=None)
@given(a=I32, b=I32, hi=I32)
def test_combine_ops_match_rationals(a: int, b: int, hi: int) -> None:
    assert features.combine("add", a, b, hi) == _sat(a + b)
    assert features.combine("sub", a, b, hi) == _sat(a - b)
    assert features.combine("mul", a, b, hi) == _sat(
        math.floor(Fraction(a * b, 65536) + Fraction(1, 2))
    )
    expected = hi if b == 0 else _sat(_trunc(Fraction(a * 65536, b)))
    assert features.combine("ratio", a, b, hi) == expected
