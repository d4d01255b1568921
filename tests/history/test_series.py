"""Spec v2 series aggregates (coprocessor/scoring/series.py) against an oracle in
exact fractions (tests/series_oracle.py): on the shared vectors
(tests/vectors/features/series_v2.json, which the Rust core reads too) and on
hypothesis samples. ``python tests/history/test_series.py`` rewrites the vectors
from the oracle."""

from __future__ import annotations

import itertools
import json
import random
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from locations import VECTORS
from series_oracle import INT32_MAX, INT32_MIN, oracle

from coprocessor.errors import UserInputError
from coprocessor.scoring.series import OPS, Series, aggregate, parse_series

VECTOR_FILE = VECTORS / "features" / "series_v2.json"


def make_vectors() -> dict[str, Any]:
    """Deterministic inputs (edges and seeded random), expected values by the oracle."""
    rng = random.Random(2935)
    inputs: list[list[int]] = [
        [0],
        [INT32_MAX],
        [INT32_MIN],
        [1, 2],
        [-1, -2],
        [1, 2, 4],
        [-3, 0, 0, 1],  # halves: mean -0.5 rounds up to 0
        [INT32_MIN, INT32_MAX],
        [INT32_MAX] * 30,
        [INT32_MIN, INT32_MAX] * 15,
        [INT32_MIN] * 29 + [INT32_MAX],
        list(range(-15, 15)),
        [65536 * i * i for i in range(30)],
    ]
    for _ in range(40):
        k = rng.choice([2, 3, 7, 30, 31, 90, 365])
        scale = rng.choice([10, 65536, 2**20, 2**31])
        inputs.append([rng.randrange(-scale, scale) for _ in range(k)])
    cases = []
    for xs in inputs:
        threshold = xs[len(xs) // 2]
        expected = {op: oracle(op, xs, threshold) for op in OPS}
        cases.append({"samples": xs, "threshold": threshold, "expected": expected})
    return {"format": "coproc-series-vectors", "version": 1, "cases": cases}


def test_the_vectors_are_the_oracles() -> None:
    assert json.loads(VECTOR_FILE.read_text()) == make_vectors()


def test_aggregates_match_the_vectors() -> None:
    for case in json.loads(VECTOR_FILE.read_text())["cases"]:
        for op, expected in case["expected"].items():
            assert aggregate(op, case["samples"], case["threshold"]) == expected, op


int32 = st.integers(INT32_MIN, INT32_MAX)


@settings(max_examples=400, deadline=None)
@given(
    xs=st.lists(st.one_of(int32, st.integers(-300, 300)), min_size=1, max_size=40),
    op=st.sampled_from(OPS),
    threshold=int32,
)
def test_aggregates_match_the_oracle(xs: list[int], op: str, threshold: int) -> None:
    assert aggregate(op, xs, threshold) == oracle(op, xs, threshold)


def test_series_blocks_and_parsing() -> None:
    series = parse_series({"samples": 30, "every": 7200, "op": "mean"}, "f.series")
    blocks = series.blocks(300_000, 10)
    assert blocks[-1] == 299_990 and blocks[0] == 299_990 - 29 * 7200
    assert len(blocks) == 30 and all(b - a == 7200 for a, b in itertools.pairwise(blocks))
    assert parse_series(
        {"samples": 2, "every": 1, "op": "count_above", "threshold": -5}, "x"
    ) == Series(2, 1, "count_above", -5)
    with pytest.raises(UserInputError, match="below block 0"):
        Series(3, 10, "mean").blocks(15, 0)
    for bad, message in (
        ({"samples": 0, "every": 1, "op": "mean"}, "samples"),
        ({"samples": 2, "every": 1, "op": "median"}, "op: expected one of"),
        ({"samples": 2, "every": 1, "op": "mean", "threshold": 1}, "unknown key 'threshold'"),
        ({"samples": 2, "every": 1, "op": "count_above"}, "missing key 'threshold'"),
        ({"samples": 2, "every": True, "op": "mean"}, "every"),
    ):
        with pytest.raises(UserInputError, match=message):
            parse_series(bad, "f.series")


if __name__ == "__main__":
    VECTOR_FILE.write_text(json.dumps(make_vectors(), indent=None) + "\n")
    print(f"wrote {VECTOR_FILE}", file=sys.stderr)
