//! The little 256-bit arithmetic the feature spec needs: slot arithmetic mod 2^256 and
//! the exact conversion `trunc(v · 2^16 / 10^decimals)` of a raw word to Q16.

/// Big-endian 256-bit word.
pub type Word = [u8; 32];

/// `a + b mod 2^256`.
pub fn add(a: &Word, b: &Word) -> Word {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = (s & 0xff) as u8;
        carry = s >> 8;
    }
    out
}

/// `a · b mod 2^256` (schoolbook on bytes).
pub fn mul(a: &Word, b: &Word) -> Word {
    let mut acc = [0u32; 32];
    for i in 0..32 {
        let ai = u32::from(a[31 - i]);
        if ai == 0 {
            continue;
        }
        for j in 0..32 - i {
            acc[i + j] += ai * u32::from(b[31 - j]);
        }
        // propagate carries now and then to stay far from u32 overflow
        let mut carry = 0u32;
        for x in acc.iter_mut() {
            let v = *x + carry;
            *x = v & 0xff;
            carry = v >> 8;
        }
    }
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[31 - i] = acc[i] as u8;
    }
    out
}

/// `-a mod 2^256` (two's complement).
pub fn neg(a: &Word) -> Word {
    let mut inv = [0u8; 32];
    for i in 0..32 {
        inv[i] = !a[i];
    }
    add(&inv, &from_u128(1))
}

/// A word from a 128-bit integer.
pub fn from_u128(v: u128) -> Word {
    let mut out = [0u8; 32];
    out[16..].copy_from_slice(&v.to_be_bytes());
    out
}

/// Is the word zero?
pub fn is_zero(w: &Word) -> bool {
    w.iter().all(|&b| b == 0)
}

/// 320-bit little-endian limbs: room for v·2^16 with v < 2^256.
type Wide = [u64; 5];

fn wide_from_word(w: &Word) -> Wide {
    let mut out = [0u64; 5];
    for (i, limb) in out.iter_mut().take(4).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&w[32 - 8 * (i + 1)..32 - 8 * i]);
        *limb = u64::from_be_bytes(b);
    }
    out
}

fn wide_shl(a: &Wide, s: u32) -> Wide {
    // s < 64
    let mut out = [0u64; 5];
    for i in 0..5 {
        out[i] = a[i] << s;
        if s > 0 && i > 0 {
            out[i] |= a[i - 1] >> (64 - s);
        }
    }
    out
}

fn wide_ge(a: &Wide, b: &Wide) -> bool {
    for i in (0..5).rev() {
        if a[i] != b[i] {
            return a[i] > b[i];
        }
    }
    true
}

fn wide_sub(a: &Wide, b: &Wide) -> Wide {
    let mut out = [0u64; 5];
    let mut borrow = 0u64;
    for i in 0..5 {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(borrow);
        out[i] = d2;
        borrow = u64::from(b1 || b2);
    }
    out
}

fn wide_mul10(a: &Wide) -> Wide {
    let mut out = [0u64; 5];
    let mut carry = 0u128;
    for i in 0..5 {
        let p = u128::from(a[i]) * 10 + carry;
        out[i] = p as u64;
        carry = p >> 64;
    }
    out
}

/// Largest `decimals` accepted: 10^77 < 2^256 <= 10^78.
pub const MAX_DECIMALS: u32 = 77;

/// `trunc(mag · 2^16 / 10^decimals)` for a magnitude `mag < 2^256`, saturated to
/// `u64::MAX` (callers saturate further to int32).
pub fn q16_magnitude(mag: &Word, decimals: u32) -> u64 {
    // Fast path (most values): mag < 2^112 and 10^decimals < 2^127 fit u128 arithmetic.
    if mag[..18].iter().all(|&b| b == 0) && decimals <= 38 {
        let mut b = [0u8; 16];
        b.copy_from_slice(&mag[16..]);
        let q = (u128::from_be_bytes(b) << 16) / 10u128.pow(decimals);
        return u64::try_from(q).unwrap_or(u64::MAX);
    }
    q16_wide(mag, decimals)
}

/// The general path of [`q16_magnitude`]: bitwise long division on 320-bit values.
fn q16_wide(mag: &Word, decimals: u32) -> u64 {
    let num = wide_shl(&wide_from_word(mag), 16);
    let mut den: Wide = [1, 0, 0, 0, 0];
    for _ in 0..decimals.min(MAX_DECIMALS) {
        den = wide_mul10(&den);
    }
    // Restoring long division, one bit at a time; the quotient saturates.
    let mut rem: Wide = [0; 5];
    let mut q: u64 = 0;
    let mut big = false;
    for bit in (0..320).rev() {
        rem = wide_shl(&rem, 1);
        rem[0] |= (num[bit / 64] >> (bit % 64)) & 1;
        let one = wide_ge(&rem, &den);
        if one {
            rem = wide_sub(&rem, &den);
        }
        if q >> 63 != 0 {
            big = true;
        }
        q = (q << 1) | u64::from(one);
    }
    if big {
        u64::MAX
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_and_neg() {
        assert_eq!(mul(&from_u128(u128::MAX), &from_u128(3)), {
            // 3 * (2^128 - 1) = 2^129 + 2^128 - 3
            let mut w = from_u128(u128::MAX - 2);
            w[15] = 2;
            w
        });
        assert_eq!(mul(&[0xff; 32], &[0xff; 32]), from_u128(1)); // (-1)^2 mod 2^256
        assert_eq!(neg(&from_u128(1)), [0xff; 32]);
        assert_eq!(neg(&[0u8; 32]), [0u8; 32]);
    }

    #[test]
    fn add_wraps() {
        let max = [0xffu8; 32];
        assert_eq!(add(&max, &from_u128(1)), [0u8; 32]);
        assert_eq!(add(&from_u128(5), &from_u128(7)), from_u128(12));
    }

    #[test]
    fn q16_conversion() {
        assert_eq!(q16_magnitude(&from_u128(1), 0), 65536);
        assert_eq!(q16_magnitude(&from_u128(10u128.pow(18)), 18), 65536);
        // 1.5 ETH
        assert_eq!(q16_magnitude(&from_u128(15 * 10u128.pow(17)), 18), 98304);
        // truncation: 1 wei = 6.5e-14 in Q16 -> 0
        assert_eq!(q16_magnitude(&from_u128(1), 18), 0);
        // 3 / 10 = 0.3 -> trunc(19660.8) = 19660
        assert_eq!(q16_magnitude(&from_u128(3), 1), 19660);
        assert_eq!(q16_magnitude(&[0xff; 32], 0), u64::MAX);
        // both paths agree around the fast-path boundary
        for shift in [100u32, 111, 112, 113, 127] {
            let mut w = [0u8; 32];
            w[31 - (shift / 8) as usize] = 1 << (shift % 8);
            for d in [0u32, 18, 38, 39] {
                assert_eq!(q16_magnitude(&w, d), q16_wide(&w, d), "2^{shift} / 10^{d}");
            }
        }
        // floor((2^256-1)*2^16/10^77), computed with Python big integers
        assert_eq!(q16_magnitude(&[0xff; 32], 77), 75885);
    }
}
