"""An independent oracle of the spec v2 aggregates (docs/formats.md §3b) in exact
fractions, written from the definitions as a statistician states them (means of
deviations), not from the integer formulas of ``coprocessor/scoring/series.py``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _half_up(q: Fraction) -> int:
    return math.floor(q + Fraction(1, 2))


def _floor_sqrt(q: Fraction) -> int:
    """The largest integer s with s*s <= q (q >= 0), found by bisection."""
    lo, hi = 0, 1
    while hi * hi <= q:
        hi *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid * mid <= q:
            lo = mid
        else:
            hi = mid
    return lo


def oracle(op: str, xs: Sequence[int], threshold: int = 0) -> int:
    k = len(xs)
    mu = Fraction(sum(xs), k)
    if op == "last":
        value = xs[-1]
    elif op == "mean":
        value = _half_up(mu)
    elif op == "min":
        value = min(xs)
    elif op == "max":
        value = max(xs)
    elif op == "stdev":
        variance = sum(((x - mu) ** 2 for x in xs), Fraction(0)) / k
        value = _floor_sqrt(variance)
    elif op == "slope":
        if k == 1:
            value = 0
        else:
            t_bar = Fraction(k - 1, 2)
            cov = sum(((i - t_bar) * (x - mu) for i, x in enumerate(xs)), Fraction(0))
            var_t = sum(((i - t_bar) ** 2 for i in range(k)), Fraction(0))
            value = _half_up(cov / var_t)
    elif op == "change":
        value = xs[-1] - xs[0]
    elif op == "count_above":
        value = len([x for x in xs if x > threshold]) * 65536
    else:
        raise ValueError(op)
    return max(INT32_MIN, min(INT32_MAX, value))
