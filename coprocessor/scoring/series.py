"""Feature spec v2 time series (docs/formats.md §3b): samples of one read over a
window of blocks, aggregated into one Q16 value with exact integer arithmetic.

A series of ``k`` samples spaced ``d`` blocks reads blocks
``B - offset - (k - 1 - i)·d`` for ``i = 0..k-1`` (oldest first, the newest at
``B - offset``). Each sample is a Q16 int32 (the v1 conversion of the raw value);
an aggregate turns the samples ``x_0..x_{k-1}`` into one integer, saturated to
int32. The definitions below are the contract; ``guest/core/src/series.rs`` is
bit-equal and ``tests/scoring/test_series.py`` checks both against an oracle in
exact fractions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import isqrt
from typing import Any

from coprocessor.errors import UserInputError
from coprocessor.scoring.models.fixedpoint import INT32_MAX, INT32_MIN, ONE, sat32

#: aggregate ops of spec v2; ``count_above`` also takes a Q16 ``threshold``
OPS = ("last", "mean", "min", "max", "stdev", "slope", "change", "count_above")
#: samples per series, and the largest spacing in blocks
MAX_SAMPLES = 366
MAX_EVERY = 10_000_000


@dataclass(frozen=True)
class Series:
    """``samples`` reads spaced ``every`` blocks, aggregated by ``op``."""

    samples: int
    every: int
    op: str
    threshold: int = 0

    def blocks(self, request_block: int, offset: int) -> list[int]:
        """The sampled blocks, oldest first (the newest is ``request_block - offset``)."""
        newest = request_block - offset
        oldest = newest - (self.samples - 1) * self.every
        if oldest < 0:
            raise UserInputError(
                f"series: its oldest sample, {self.samples - 1} x {self.every} blocks before "
                f"block {newest}, is below block 0",
                rule="series_block",
            )
        return [oldest + i * self.every for i in range(self.samples)]

    def aggregate(self, samples: Sequence[int]) -> int:
        """:func:`aggregate` of this series' op."""
        return aggregate(self.op, samples, self.threshold)

    def to_json(self) -> dict[str, Any]:
        """Canonical JSON (defaults filled in)."""
        out: dict[str, Any] = {"samples": self.samples, "every": self.every, "op": self.op}
        if self.op == "count_above":
            out["threshold"] = self.threshold
        return out


def _int(value: object, where: str, lo: int, hi: int) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise UserInputError(f"{where}: expected an integer in [{lo}, {hi}]", rule="series_shape")
    return value


def parse_series(obj: object, where: str) -> Series:
    """``{"samples": k, "every": d, "op": OP[, "threshold": T]}`` strictly."""
    if not isinstance(obj, Mapping):
        raise UserInputError(f"{where}: expected an object", rule="series_shape")
    op = obj.get("op")
    if op not in OPS:
        raise UserInputError(f"{where}.op: expected one of {', '.join(OPS)}", rule="series_shape")
    keys = {"samples", "every", "op"} | ({"threshold"} if op == "count_above" else set())
    if set(obj) != keys:
        extra = sorted(set(obj) - keys)
        missing = sorted(keys - set(obj))
        what = f"unknown key {extra[0]!r}" if extra else f"missing key {missing[0]!r}"
        raise UserInputError(f"{where}: {what}", rule="series_shape")
    samples = _int(obj["samples"], f"{where}.samples", 1, MAX_SAMPLES)
    every = _int(obj["every"], f"{where}.every", 1, MAX_EVERY)
    threshold = (
        _int(obj["threshold"], f"{where}.threshold", INT32_MIN, INT32_MAX)
        if op == "count_above"
        else 0
    )
    return Series(samples=samples, every=every, op=str(op), threshold=threshold)


# --------------------------------------------------------------------------- aggregates


def _round_div(num: int, den: int) -> int:
    """``num / den`` rounded half up (towards +infinity), ``den > 0``:
    ``floor((2·num + den) / (2·den))``."""
    return (2 * num + den) // (2 * den)


def mean(xs: Sequence[int]) -> int:
    """``S / k`` rounded half up, ``S = Σ x_i``."""
    return _round_div(sum(xs), len(xs))


def stdev(xs: Sequence[int]) -> int:
    """Population standard deviation rounded down:
    ``isqrt(floor((k·Q - S²) / k²))`` with ``Q = Σ x_i²`` (``k·Q - S²`` is
    ``k²`` times the variance, never negative)."""
    k = len(xs)
    total = sum(xs)
    squares = sum(x * x for x in xs)
    return isqrt((k * squares - total * total) // (k * k))


def slope(xs: Sequence[int]) -> int:
    """Least-squares slope per sample (Q16 per step), rounded half up:
    ``(k·Σ i·x_i - Σi·Σx_i) / (k·Σi² - (Σi)²)`` with ``i = 0..k-1``; 0 for one
    sample."""
    k = len(xs)
    if k < 2:
        return 0
    sum_i = k * (k - 1) // 2
    sum_ii = (k - 1) * k * (2 * k - 1) // 6
    num = k * sum(i * x for i, x in enumerate(xs)) - sum_i * sum(xs)
    den = k * sum_ii - sum_i * sum_i
    return _round_div(num, den)


def aggregate(op: str, xs: Sequence[int], threshold: int = 0) -> int:
    """One aggregate of Q16 int32 samples (oldest first), saturated to int32.

    ``last`` = x_{k-1}; ``min``/``max``; ``change`` = x_{k-1} - x_0; ``count_above``
    = (number of samples > threshold) · 2^16 (a count in Q16)."""
    if not xs:
        raise UserInputError("series: no samples", rule="series_shape")
    for x in xs:
        if not INT32_MIN <= x <= INT32_MAX:
            raise UserInputError(f"series: sample {x} is not an int32", rule="series_shape")
    if op == "last":
        value = xs[-1]
    elif op == "mean":
        value = mean(xs)
    elif op == "min":
        value = min(xs)
    elif op == "max":
        value = max(xs)
    elif op == "stdev":
        value = stdev(xs)
    elif op == "slope":
        value = slope(xs)
    elif op == "change":
        value = xs[-1] - xs[0]
    elif op == "count_above":
        value = sum(1 for x in xs if x > threshold) * ONE
    else:
        raise UserInputError(f"series: unknown op {op!r}", rule="series_shape")
    return sat32(value)


__all__ = [
    "MAX_EVERY",
    "MAX_SAMPLES",
    "OPS",
    "Series",
    "aggregate",
    "mean",
    "parse_series",
    "slope",
    "stdev",
]
