//! Aave v3's fixed-point arithmetic (`@aave/core-v3` 1.19.3: WadRayMath, PercentageMath,
//! MathUtils), bit-exact: half-up rounding in rayMul/wadDiv/percentMul, truncating
//! divisions where the Solidity code truncates; an overflow is refused where Aave would
//! revert (`[P005]`). Port of `coprocessor/scoring/protocols/aave_math.py`.

use super::{overflow, refuse};
use crate::error::{Result, Rule};
use crate::u256::{narrow, wide_add, U256};

/// 10^18.
pub const WAD: U256 = U256::from_u64(1_000_000_000_000_000_000);
/// 10^27.
pub const RAY: U256 = U256::from_u128(1_000_000_000_000_000_000_000_000_000);
/// RAY / 2.
pub const HALF_RAY: U256 = U256::from_u128(500_000_000_000_000_000_000_000_000);
/// 10^4 (100.00%).
pub const PERCENTAGE_FACTOR: U256 = U256::from_u64(10_000);
/// PERCENTAGE_FACTOR / 2.
pub const HALF_PERCENTAGE_FACTOR: U256 = U256::from_u64(5_000);
/// 365 days.
pub const SECONDS_PER_YEAR: u64 = 365 * 24 * 3600;

/// `floor((a·b + c) / d)`, refused (as `what`) when `a·b + c` overflows uint256.
fn mul_add_div(a: &U256, b: &U256, c: &U256, d: &U256, what: &str) -> Result<U256> {
    let sum = wide_add(&a.full_mul(b), c).and_then(|w| narrow(&w)).ok_or_else(|| overflow(what))?;
    sum.div_rem(d).map(|(q, _)| q).ok_or_else(|| overflow(what))
}

/// WadRayMath.rayMul: (a·b + HALF_RAY) / RAY.
pub fn ray_mul(a: &U256, b: &U256) -> Result<U256> {
    mul_add_div(a, b, &HALF_RAY, &RAY, "rayMul")
}

/// WadRayMath.wadDiv: (a·WAD + b/2) / b.
pub fn wad_div(a: &U256, b: &U256) -> Result<U256> {
    let Some((half, _)) = b.div_rem(&U256::from_u64(2)).filter(|_| !b.is_zero()) else {
        return Err(refuse(Rule::ProtocolState, "wadDiv by zero (Aave would revert)".into()));
    };
    mul_add_div(a, &WAD, &half, b, "wadDiv")
}

/// PercentageMath.percentMul: (value·percentage + HALF_PERCENTAGE_FACTOR) / 10^4.
pub fn percent_mul(value: &U256, percentage: &U256) -> Result<U256> {
    mul_add_div(value, percentage, &HALF_PERCENTAGE_FACTOR, &PERCENTAGE_FACTOR, "percentMul")
}

fn div_u64(a: &U256, d: u64) -> U256 {
    a.div_rem(&U256::from_u64(d)).map_or(U256::ZERO, |(q, _)| q)
}

/// `now - last_update`; time never runs back (the reads check it before).
fn elapsed(last_update: u64, now: u64) -> Result<u64> {
    now.checked_sub(last_update)
        .ok_or_else(|| refuse(Rule::ProtocolState, alloc::format!("updated at {last_update}, after {now}")))
}

/// MathUtils.calculateLinearInterest.
pub fn linear_interest(rate: &U256, last_update: u64, now: u64) -> Result<U256> {
    let elapsed = U256::from_u64(elapsed(last_update, now)?);
    let product = rate.checked_mul(&elapsed).ok_or_else(|| overflow("linear interest"))?;
    RAY.checked_add(&div_u64(&product, SECONDS_PER_YEAR)).ok_or_else(|| overflow("linear interest"))
}

/// The product of `factors`, refused (as `what`) when it overflows uint256 (a zero
/// factor makes it zero whatever the others: the reference checks the whole product).
fn product(factors: &[U256], what: &str) -> Result<U256> {
    if factors.iter().any(U256::is_zero) {
        return Ok(U256::ZERO);
    }
    let mut p = U256::from_u64(1);
    for f in factors {
        p = p.checked_mul(f).ok_or_else(|| overflow(what))?;
    }
    Ok(p)
}

/// MathUtils.calculateCompoundedInterest (three-term binomial approximation).
pub fn compounded_interest(rate: &U256, last_update: u64, now: u64) -> Result<U256> {
    let exp = elapsed(last_update, now)?;
    if exp == 0 {
        return Ok(RAY);
    }
    let exp_minus_one = exp - 1;
    let exp_minus_two = if exp > 2 { exp - 2 } else { 0 };
    let spy = U256::from_u64(SECONDS_PER_YEAR);
    let spy2 = spy.checked_mul(&spy).unwrap_or(U256::MAX);
    let base_power_two = ray_mul(rate, rate)?.div_rem(&spy2).map_or(U256::ZERO, |(q, _)| q);
    let base_power_three = div_u64(&ray_mul(&base_power_two, rate)?, SECONDS_PER_YEAR);
    let (e, e1, e2) = (U256::from_u64(exp), U256::from_u64(exp_minus_one), U256::from_u64(exp_minus_two));
    let second = div_u64(&product(&[e, e1, base_power_two], "second term")?, 2);
    let third = div_u64(&product(&[e, e1, e2, base_power_three], "third term")?, 6);
    // (rate · exp) / SECONDS_PER_YEAR is not checked by itself; the sum is
    let first = U256::mul_div(rate, &e, &spy).ok_or_else(|| overflow("interest"))?;
    RAY.checked_add(&first)
        .and_then(|s| s.checked_add(&second))
        .and_then(|s| s.checked_add(&third))
        .ok_or_else(|| overflow("interest"))
}
