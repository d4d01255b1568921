//! Feature spec v2 time series aggregates (docs/formats.md §3b), bit-equal to
//! `coprocessor/scoring/series.py`: samples are Q16 int32 values, oldest first; every
//! aggregate is exact integer arithmetic (i128), saturated to int32.

use crate::error::{Error, Result, Rule};
use alloc::format;

/// The aggregate ops of spec v2, in the order of the spec.
pub const OPS: [&str; 8] = ["last", "mean", "min", "max", "stdev", "slope", "change", "count_above"];

fn sat32(v: i128) -> i32 {
    v.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// `num / den` rounded half up (towards +infinity), `den > 0`.
fn round_div(num: i128, den: i128) -> i128 {
    (2 * num + den).div_euclid(2 * den)
}

/// The integer square root (the largest `s` with `s * s <= n`), `n >= 0`.
pub fn isqrt(n: u128) -> u128 {
    if n < 2 {
        return n;
    }
    // Newton's iteration from above: x_{k+1} = (x_k + n / x_k) / 2 decreases to isqrt(n)
    let mut x = 1u128 << ((128 - n.leading_zeros()).div_ceil(2));
    loop {
        let y = (x + n / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

/// One aggregate of the samples `xs` (oldest first); `threshold` is used by `count_above`.
pub fn aggregate(op: &str, xs: &[i32], threshold: i32) -> Result<i32> {
    if xs.is_empty() {
        return Err(Error::Spec(Rule::SeriesShape, "series: no samples".into()));
    }
    let k = xs.len() as i128;
    let sum: i128 = xs.iter().map(|&x| x as i128).sum();
    let value: i128 = match op {
        "last" => xs[xs.len() - 1] as i128,
        "mean" => round_div(sum, k),
        "min" => *xs.iter().min().unwrap_or(&0) as i128,
        "max" => *xs.iter().max().unwrap_or(&0) as i128,
        "stdev" => {
            let squares: i128 = xs.iter().map(|&x| (x as i128) * (x as i128)).sum();
            let spread = k * squares - sum * sum; // k² times the variance, >= 0
            isqrt((spread / (k * k)) as u128) as i128
        }
        "slope" => {
            if k < 2 {
                0
            } else {
                let sum_i = k * (k - 1) / 2;
                let sum_ii = (k - 1) * k * (2 * k - 1) / 6;
                let sum_ix: i128 = xs.iter().enumerate().map(|(i, &x)| i as i128 * x as i128).sum();
                round_div(k * sum_ix - sum_i * sum, k * sum_ii - sum_i * sum_i)
            }
        }
        "change" => xs[xs.len() - 1] as i128 - xs[0] as i128,
        "count_above" => (xs.iter().filter(|&&x| x > threshold).count() as i128) << 16,
        _ => return Err(Error::Spec(Rule::SeriesShape, format!("series: unknown op {op:?}"))),
    };
    Ok(sat32(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_is_exact() {
        for n in 0u128..5000 {
            let s = isqrt(n);
            assert!(s * s <= n && (s + 1) * (s + 1) > n, "{n}");
        }
        for n in [u64::MAX as u128, (1u128 << 100) - 1, 1u128 << 100, u128::MAX >> 2] {
            let s = isqrt(n);
            assert!(s * s <= n && (s + 1).checked_mul(s + 1).is_none_or(|q| q > n), "{n}");
        }
    }

    #[test]
    fn rounding_is_half_up() {
        assert_eq!(aggregate("mean", &[-3, 0, 0, 1], 0).unwrap(), 0); // -0.5 -> 0
        assert_eq!(aggregate("mean", &[1, 2], 0).unwrap(), 2); // 1.5 -> 2
        assert_eq!(aggregate("change", &[i32::MIN, i32::MAX], 0).unwrap(), i32::MAX);
    }
}
