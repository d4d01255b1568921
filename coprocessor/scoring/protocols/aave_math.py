"""Aave v3's fixed-point arithmetic (``@aave/core-v3`` 1.19.3: WadRayMath,
PercentageMath, MathUtils), bit-exact: half-up rounding in rayMul/wadDiv/percentMul,
truncating divisions where the Solidity code truncates."""

from __future__ import annotations

from coprocessor.errors import VerificationError

WAD = 10**18
HALF_WAD = WAD // 2
RAY = 10**27
HALF_RAY = RAY // 2
PERCENTAGE_FACTOR = 10**4
HALF_PERCENTAGE_FACTOR = PERCENTAGE_FACTOR // 2
SECONDS_PER_YEAR = 365 * 24 * 3600
UINT256_MAX = 2**256 - 1


def uint256(value: int, what: str) -> int:
    """``value`` if it is a uint256, else refused as ``what`` overflowing (Aave's
    checked arithmetic would revert: ``protocol_state``)."""
    if not 0 <= value <= UINT256_MAX:
        raise VerificationError(
            f"{what} overflows uint256 (Aave would revert)", rule="protocol_state"
        )
    return value


def ray_mul(a: int, b: int) -> int:
    """WadRayMath.rayMul: (a*b + HALF_RAY) / RAY, reverting on overflow."""
    return uint256(a * b + HALF_RAY, "rayMul") // RAY


def wad_div(a: int, b: int) -> int:
    """WadRayMath.wadDiv: (a*WAD + b/2) / b."""
    if b == 0:
        raise VerificationError("wadDiv by zero (Aave would revert)", rule="protocol_state")
    return uint256(a * WAD + b // 2, "wadDiv") // b


def percent_mul(value: int, percentage: int) -> int:
    """PercentageMath.percentMul: (value*percentage + HALF_PERCENTAGE_FACTOR) / 1e4."""
    return uint256(value * percentage + HALF_PERCENTAGE_FACTOR, "percentMul") // PERCENTAGE_FACTOR


def linear_interest(rate: int, last_update: int, now: int) -> int:
    """MathUtils.calculateLinearInterest."""
    return RAY + uint256(rate * (now - last_update), "linear interest") // SECONDS_PER_YEAR


def compounded_interest(rate: int, last_update: int, now: int) -> int:
    """MathUtils.calculateCompoundedInterest (three-term binomial approximation)."""
    exp = now - last_update
    if exp == 0:
        return RAY
    exp_minus_one = exp - 1
    exp_minus_two = exp - 2 if exp > 2 else 0
    base_power_two = ray_mul(rate, rate) // (SECONDS_PER_YEAR * SECONDS_PER_YEAR)
    base_power_three = ray_mul(base_power_two, rate) // SECONDS_PER_YEAR
    second_term = uint256(exp * exp_minus_one * base_power_two, "second term") // 2
    third_term = uint256(exp * exp_minus_one * exp_minus_two * base_power_three, "third term") // 6
    return uint256(RAY + (rate * exp) // SECONDS_PER_YEAR + second_term + third_term, "interest")
