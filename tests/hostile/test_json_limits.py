"""The JSON reader every file, RPC answer and HTTP body goes through
(coprocessor/jsonfile.py): each limit holds at its bound, one past it is a
one-line UserInputError naming the source, and no input crashes the process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import coprocessor
from coprocessor.errors import UserInputError
from coprocessor.jsonfile import MAX_DEPTH, MAX_INT_DIGITS, load_json, loads_json


def nested(depth: int) -> str:
    """``depth`` arrays, each holding the next (depth 1 is ``[]``)."""
    return "[" * depth + "]" * depth


def depth_of(value: object) -> int:
    """Nesting of a parsed value, counted independently of the reader."""
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


def test_nesting_up_to_the_bound_is_read_and_one_more_is_refused() -> None:
    assert depth_of(loads_json(nested(MAX_DEPTH), "t")) == MAX_DEPTH
    deep_objects = '{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    assert depth_of(loads_json(deep_objects, "t")) == MAX_DEPTH
    for text in (nested(MAX_DEPTH + 1), '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)):
        with pytest.raises(UserInputError, match=f"t: nested deeper than {MAX_DEPTH}"):
            loads_json(text, "t")


@pytest.mark.parametrize("depth", [1_000, 90_000, 1_000_000])
def test_very_deep_nesting_is_a_clean_error(depth: int) -> None:
    """The issue's 90,000 levels segfaulted the process; now an error at any depth."""
    with pytest.raises(UserInputError, match="nested deeper than"):
        loads_json(nested(depth), "deep")


def test_the_recursion_limit_stays_at_the_default_after_web3_is_imported() -> None:
    """py_ecc (via eth_account/web3) raises it to 100,000 when imported. Checked in a
    fresh interpreter: in this one, test libraries may have changed it."""
    code = "import sys, coprocessor, web3; print(sys.getrecursionlimit())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == coprocessor.RECURSION_LIMIT == 1000
    code = "import sys, web3, coprocessor.chain.bundle; print(sys.getrecursionlimit())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == 1000


def test_integer_length_bound() -> None:
    top = 2**256 - 1
    assert len(str(top)) == MAX_INT_DIGITS
    assert loads_json(f"[{top}, -{top}]", "t") == [top, -top]
    for text in ("1" * (MAX_INT_DIGITS + 1), "-" + "9" * (MAX_INT_DIGITS + 1), "9" * 5001):
        with pytest.raises(UserInputError, match=f"more than {MAX_INT_DIGITS} digits"):
            loads_json(f'{{"chain_id": {text}}}', "t")


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 1}',
        '{"a": 1, "b": 2, "a": 3}',
        '{"outer": [{"x": 1, "x": 2}]}',
        '{"k": {"\\u0061": 1, "a": 2}}',  # the same key spelled two ways
    ],
)
def test_duplicate_keys_are_refused_at_any_depth(text: str) -> None:
    assert json.loads(text)  # Python's own reader takes them (the last wins)
    with pytest.raises(UserInputError, match="duplicate key"):
        loads_json(text, "t")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    with pytest.raises(UserInputError, match=f"{constant} is not a JSON number"):
        loads_json(f"[{constant}]", "t")


def test_integers_only() -> None:
    assert loads_json("[1, 2]", "t", integers_only=True) == [1, 2]
    for number in ("1.0", "1e3", "-0.5"):
        with pytest.raises(UserInputError, match="only integers"):
            loads_json(f"[{number}]", "t", integers_only=True)


def test_size_bound_is_checked_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text('"' + "x" * 998 + '"')  # 1,000 bytes
    assert load_json(path, "file", max_bytes=1000) == "x" * 998
    path.write_text('"' + "x" * 999 + '"')
    with pytest.raises(UserInputError, match=f"file {path}: larger than 1,000 bytes"):
        load_json(path, "file", max_bytes=1000)


def test_file_errors_name_what_and_where(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(UserInputError, match=f"cannot read bundle {missing}: "):
        load_json(missing, "bundle")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(UserInputError, match=f"model {bad}: not UTF-8 text"):
        load_json(bad, "model")
    bad.write_text('{"a": ')
    with pytest.raises(UserInputError, match=f"feature spec {bad}: not valid JSON \\(line 1"):
        load_json(bad, "feature spec")


def test_rule_codes_travel_with_format_errors() -> None:
    with pytest.raises(UserInputError) as caught:
        loads_json('{"a": 1, "a": 2}', "spec", rule="spec_json")
    assert caught.value.rule == "spec_json"
