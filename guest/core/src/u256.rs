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

/// A 256-bit unsigned integer in eight little-endian 32-bit limbs (32-bit limbs: the
/// guest's rv32im multiplies 32 by 32 bits natively). Checked arithmetic, and products
/// kept at 512 bits before a division (`mul_div`), for the protocols' fixed-point math.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct U256(pub [u32; 8]);

/// A 512-bit product, little-endian limbs.
pub type Wide512 = [u32; 16];

impl U256 {
    /// 0.
    pub const ZERO: U256 = U256([0; 8]);
    /// 2^256 - 1.
    pub const MAX: U256 = U256([u32::MAX; 8]);

    /// From a 128-bit integer.
    pub const fn from_u128(v: u128) -> U256 {
        let mut l = [0u32; 8];
        let mut i = 0;
        while i < 4 {
            l[i] = (v >> (32 * i)) as u32;
            i += 1;
        }
        U256(l)
    }

    /// From a 64-bit integer.
    pub const fn from_u64(v: u64) -> U256 {
        U256::from_u128(v as u128)
    }

    /// From a big-endian word.
    pub fn from_word(w: &Word) -> U256 {
        let mut l = [0u32; 8];
        for (i, limb) in l.iter_mut().enumerate() {
            let mut b = [0u8; 4];
            b.copy_from_slice(&w[28 - 4 * i..32 - 4 * i]);
            *limb = u32::from_be_bytes(b);
        }
        U256(l)
    }

    /// As a big-endian word.
    pub fn to_word(&self) -> Word {
        let mut w = [0u8; 32];
        for (i, limb) in self.0.iter().enumerate() {
            w[28 - 4 * i..32 - 4 * i].copy_from_slice(&limb.to_be_bytes());
        }
        w
    }

    /// Is it zero?
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0)
    }

    /// The value if it fits in 64 bits.
    pub fn to_u64(&self) -> Option<u64> {
        if self.0[2..].iter().any(|&l| l != 0) {
            return None;
        }
        Some(u64::from(self.0[0]) | (u64::from(self.0[1]) << 32))
    }

    /// `(self >> offset) & (2^size - 1)` (zero for bits past 255).
    pub fn bits(&self, offset: u32, size: u32) -> U256 {
        if offset >= 256 || size == 0 {
            return U256::ZERO;
        }
        let (limb, sh) = ((offset / 32) as usize, offset % 32);
        let at = |i: usize| self.0.get(i).copied().unwrap_or(0);
        let mut out = [0u32; 8];
        for (i, o) in out.iter_mut().enumerate() {
            let lo = at(i + limb);
            *o = if sh == 0 { lo } else { (lo >> sh) | (at(i + limb + 1) << (32 - sh)) };
            let start = 32 * i as u32;
            if start >= size {
                *o = 0;
            } else if size - start < 32 {
                *o &= (1u32 << (size - start)) - 1;
            }
        }
        U256(out)
    }

    /// `self + o`, `None` on overflow.
    pub fn checked_add(&self, o: &U256) -> Option<U256> {
        let mut out = [0u32; 8];
        let mut carry = 0u64;
        for (i, limb) in out.iter_mut().enumerate() {
            let s = u64::from(self.0[i]) + u64::from(o.0[i]) + carry;
            *limb = s as u32;
            carry = s >> 32;
        }
        (carry == 0).then_some(U256(out))
    }

    /// `self - o`, `None` below zero.
    pub fn checked_sub(&self, o: &U256) -> Option<U256> {
        let mut out = [0u32; 8];
        let mut borrow = 0i64;
        for (i, limb) in out.iter_mut().enumerate() {
            let d = i64::from(self.0[i]) - i64::from(o.0[i]) - borrow;
            *limb = d as u32;
            borrow = i64::from(d < 0);
        }
        (borrow == 0).then_some(U256(out))
    }

    /// The full 512-bit product.
    pub fn full_mul(&self, o: &U256) -> Wide512 {
        let mut out = [0u32; 16];
        for i in 0..8 {
            if self.0[i] == 0 {
                continue;
            }
            let mut carry = 0u64;
            for j in 0..8 {
                let t = u64::from(self.0[i]) * u64::from(o.0[j]) + u64::from(out[i + j]) + carry;
                out[i + j] = t as u32;
                carry = t >> 32;
            }
            out[i + 8] = carry as u32;
        }
        out
    }

    /// `self · o`, `None` on overflow.
    pub fn checked_mul(&self, o: &U256) -> Option<U256> {
        narrow(&self.full_mul(o))
    }

    /// `(self / d, self % d)`, `None` for `d = 0`.
    pub fn div_rem(&self, d: &U256) -> Option<(U256, U256)> {
        let mut n = [0u32; 16];
        n[..8].copy_from_slice(&self.0);
        let (q, r) = wide_div_rem(&n, d)?;
        Some((narrow(&q)?, r))
    }

    /// `floor(a · b / d)` with the product at 512 bits; `None` for `d = 0` or a
    /// quotient of 2^256 or more.
    pub fn mul_div(a: &U256, b: &U256, d: &U256) -> Option<U256> {
        let (q, _) = wide_div_rem(&a.full_mul(b), d)?;
        narrow(&q)
    }

    /// Decimal digits.
    pub fn to_decimal(&self) -> alloc::string::String {
        let mut digits = alloc::vec::Vec::new();
        let mut v = *self;
        let ten = U256::from_u64(10);
        loop {
            let (q, r) = v.div_rem(&ten).unwrap_or((U256::ZERO, U256::ZERO));
            digits.push(b'0' + r.0[0] as u8);
            v = q;
            if v.is_zero() {
                break;
            }
        }
        digits.reverse();
        digits.into_iter().map(char::from).collect()
    }

    /// From decimal digits (no sign, no leading `+`); `None` if not digits or too big.
    pub fn from_decimal(s: &str) -> Option<U256> {
        if s.is_empty() {
            return None;
        }
        let ten = U256::from_u64(10);
        let mut v = U256::ZERO;
        for c in s.bytes() {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v.checked_mul(&ten)?.checked_add(&U256::from_u64(u64::from(c - b'0')))?;
        }
        Some(v)
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, o: &U256) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for U256 {
    fn cmp(&self, o: &U256) -> core::cmp::Ordering {
        self.0.iter().rev().cmp(o.0.iter().rev())
    }
}

/// The low 256 bits if the high 256 are zero.
pub fn narrow(w: &Wide512) -> Option<U256> {
    if w[8..].iter().any(|&l| l != 0) {
        return None;
    }
    let mut l = [0u32; 8];
    l.copy_from_slice(&w[..8]);
    Some(U256(l))
}

/// `w + c` (512 bits; `None` past 2^512).
pub fn wide_add(w: &Wide512, c: &U256) -> Option<Wide512> {
    let mut out = *w;
    let mut carry = 0u64;
    for (i, limb) in out.iter_mut().enumerate() {
        let add = if i < 8 { u64::from(c.0[i]) } else { 0 };
        let s = u64::from(*limb) + add + carry;
        *limb = s as u32;
        carry = s >> 32;
    }
    (carry == 0).then_some(out)
}

/// `(n / d, n % d)` for a 512-bit `n`, `None` for `d = 0`: Knuth's algorithm D on
/// 32-bit limbs (Hacker's Delight `divmnu`), short division for a one-limb divisor.
pub fn wide_div_rem(n: &Wide512, d: &U256) -> Option<(Wide512, U256)> {
    let dl = 8 - d.0.iter().rev().take_while(|&&l| l == 0).count();
    if dl == 0 {
        return None;
    }
    let nl = 16 - n.iter().rev().take_while(|&&l| l == 0).count();
    let mut q = [0u32; 16];
    if nl < dl {
        let mut r = [0u32; 8];
        r[..nl].copy_from_slice(&n[..nl]);
        return Some((q, U256(r)));
    }
    if dl == 1 {
        let v = u64::from(d.0[0]);
        let mut rem = 0u64;
        for i in (0..nl).rev() {
            let cur = (rem << 32) | u64::from(n[i]);
            q[i] = (cur / v) as u32;
            rem = cur % v;
        }
        return Some((q, U256::from_u64(rem)));
    }
    let s = d.0[dl - 1].leading_zeros();
    let shl = |hi: u32, lo: u32| -> u32 {
        if s == 0 {
            hi
        } else {
            (hi << s) | (lo >> (32 - s))
        }
    };
    let mut dn = [0u32; 8];
    for i in (1..dl).rev() {
        dn[i] = shl(d.0[i], d.0[i - 1]);
    }
    dn[0] = d.0[0] << s;
    let mut un = [0u32; 17];
    un[nl] = if s == 0 { 0 } else { n[nl - 1] >> (32 - s) };
    for i in (1..nl).rev() {
        un[i] = shl(n[i], n[i - 1]);
    }
    un[0] = n[0] << s;
    let b: u64 = 1 << 32;
    let top = u64::from(dn[dl - 1]);
    let next = u64::from(dn[dl - 2]);
    for j in (0..=nl - dl).rev() {
        let num = (u64::from(un[j + dl]) << 32) | u64::from(un[j + dl - 1]);
        let mut qhat = num / top;
        let mut rhat = num % top;
        while qhat >= b || qhat * next > ((rhat << 32) | u64::from(un[j + dl - 2])) {
            qhat -= 1;
            rhat += top;
            if rhat >= b {
                break;
            }
        }
        // multiply and subtract
        let mut k: i64 = 0;
        for i in 0..dl {
            let p = qhat * u64::from(dn[i]);
            let t = i64::from(un[i + j]) - k - (p & 0xffff_ffff) as i64;
            un[i + j] = t as u32;
            k = (p >> 32) as i64 - (t >> 32);
        }
        let t = i64::from(un[j + dl]) - k;
        un[j + dl] = t as u32;
        q[j] = qhat as u32;
        if t < 0 {
            // qhat was one too large: add the divisor back
            q[j] = q[j].wrapping_sub(1);
            let mut c = 0u64;
            for i in 0..dl {
                let t = u64::from(un[i + j]) + u64::from(dn[i]) + c;
                un[i + j] = t as u32;
                c = t >> 32;
            }
            un[j + dl] = un[j + dl].wrapping_add(c as u32);
        }
    }
    let mut r = [0u32; 8];
    for i in 0..dl {
        r[i] = if s == 0 { un[i] } else { (un[i] >> s) | (un[i + 1] << (32 - s)) };
    }
    Some((q, U256(r)))
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
    /// Bitwise restoring division: the reference for Knuth's algorithm.
    fn slow_div_rem(n: &Wide512, d: &U256) -> (Wide512, U256) {
        let mut q = [0u32; 16];
        let mut r = [0u32; 9];
        for bit in (0..512).rev() {
            let mut carry = (n[bit / 32] >> (bit % 32)) & 1;
            for limb in r.iter_mut() {
                let next = *limb >> 31;
                *limb = (*limb << 1) | carry;
                carry = next;
            }
            let mut dd = [0u32; 9];
            dd[..8].copy_from_slice(&d.0);
            if r.iter().rev().cmp(dd.iter().rev()) != core::cmp::Ordering::Less {
                let mut borrow = 0i64;
                for (x, y) in r.iter_mut().zip(dd) {
                    let t = i64::from(*x) - i64::from(y) - borrow;
                    *x = t as u32;
                    borrow = i64::from(t < 0);
                }
                q[bit / 32] |= 1 << (bit % 32);
            }
        }
        let mut rem = [0u32; 8];
        rem.copy_from_slice(&r[..8]);
        (q, U256(rem))
    }

    #[test]
    fn wide_division_matches_the_bitwise_reference() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let specials = [0u32, 1, 0x8000_0000, 0xffff_ffff, 0xffff_fffe];
        for round in 0..3000 {
            let mut n = [0u32; 16];
            let mut d = [0u32; 8];
            let n_len = (next() % 17) as usize;
            let d_len = 1 + (next() % 8) as usize;
            let limb = |r: u64| if r % 3 == 0 { specials[(r >> 8) as usize % specials.len()] } else { (r >> 16) as u32 };
            for l in n.iter_mut().take(n_len) {
                *l = limb(next());
            }
            for l in d.iter_mut().take(d_len) {
                *l = limb(next());
            }
            let d = U256(d);
            if d.is_zero() {
                assert!(wide_div_rem(&n, &d).is_none());
                continue;
            }
            assert_eq!(wide_div_rem(&n, &d), Some(slow_div_rem(&n, &d)), "round {round}: {n:x?} / {d:x?}");
        }
    }

    #[test]
    fn bits_match_a_bitwise_reference() {
        let v = U256([0x8765_4321, 0xdead_beef, 0, 0xffff_ffff, 1, 0x8000_0000, 0x1234_5678, 0xf0f0_f0f0]);
        for offset in (0..300).step_by(7).chain([0, 31, 32, 33, 255, 256]) {
            for size in (0..300).step_by(5).chain([1, 31, 32, 33, 128, 160, 256]) {
                let mut want = [0u32; 8];
                for i in 0..size.min(256) {
                    let b = offset + i;
                    if b < 256 && (v.0[(b / 32) as usize] >> (b % 32)) & 1 == 1 {
                        want[(i / 32) as usize] |= 1 << (i % 32);
                    }
                }
                assert_eq!(v.bits(offset, size), U256(want), "bits({offset}, {size})");
            }
        }
    }

    #[test]
    fn decimal_and_checked_ops() {
        let max = U256::MAX;
        assert_eq!(
            max.to_decimal(),
            "115792089237316195423570985008687907853269984665640564039457584007913129639935"
        );
        assert_eq!(U256::from_decimal(&max.to_decimal()), Some(max));
        assert_eq!(U256::from_decimal("115792089237316195423570985008687907853269984665640564039457584007913129639936"), None);
        assert_eq!(U256::from_decimal("12a"), None);
        assert_eq!(U256::from_decimal("0"), Some(U256::ZERO));
        assert_eq!(max.checked_add(&U256::from_u64(1)), None);
        assert_eq!(U256::ZERO.checked_sub(&U256::from_u64(1)), None);
        assert_eq!(max.checked_mul(&U256::from_u64(2)), None);
        // (2^256 - 1)^2 / (2^256 - 1) = 2^256 - 1, the product at 512 bits
        assert_eq!(U256::mul_div(&max, &max, &max), Some(max));
        assert_eq!(U256::mul_div(&max, &max, &U256::from_u64(1)), None);
        let w = [0x5au8; 32];
        assert_eq!(U256::from_word(&w).to_word(), w);
        assert_eq!(U256::from_word(&w).bits(252, 8), U256::from_u64(0x5));
        assert_eq!(U256::from_u128(0xabcd).bits(4, 8), U256::from_u64(0xbc));
    }
}
