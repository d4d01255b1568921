"""Q16 fixed-point primitives of model format v1 (docs/formats.md §2).

Every value is a signed 32-bit integer holding ``real * 2**16``; products are
accumulated in signed 64-bit. These functions work on Python ints and are the
definition the vectorized path and the Rust guest must match bit for bit.
"""

from __future__ import annotations

from typing import Final

SCALE_BITS: Final = 16
ONE: Final = 1 << SCALE_BITS
INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
BPS_MAX: Final = 10_000


def sat32(value: int) -> int:
    """Clamp to the signed 32-bit range."""
    return INT32_MIN if value < INT32_MIN else INT32_MAX if value > INT32_MAX else value


def rshift_round(value: int, shift: int) -> int:
    """``(value + 2**(shift-1)) >> shift`` with a flooring shift: round half up."""
    if shift <= 0:
        raise ValueError("shift must be positive")
    return (value + (1 << (shift - 1))) >> shift


def is_int32(value: int) -> bool:
    """True if ``value`` fits a signed 32-bit integer."""
    return INT32_MIN <= value <= INT32_MAX


def q16_mul(a: int, b: int) -> int:
    """Product of two Q16 numbers, rounded half up and saturated."""
    return sat32(rshift_round(a * b, SCALE_BITS))


def to_bps(value: int) -> int:
    """A Q16 probability as basis points: ``clamp((x*10000 + 2**15) >> 16, 0, 10000)``."""
    bps = (value * BPS_MAX + (1 << (SCALE_BITS - 1))) >> SCALE_BITS
    return 0 if bps < 0 else BPS_MAX if bps > BPS_MAX else bps


def real_to_q16(value: float) -> int:
    """Nearest Q16 integer of a real number, ties rounded up (not saturated).

    ``value * 2**16`` is exact for binary floats, so this is the exact
    round-half-up of the real value.
    """
    import math

    scaled = value * ONE
    if not math.isfinite(scaled):
        raise ValueError(f"not a finite number: {value!r}")
    return math.floor(scaled + 0.5) if abs(scaled) < 2**52 else int(scaled)


def q16_to_real(value: int) -> float:
    """The real number a Q16 integer stands for."""
    return value / ONE
