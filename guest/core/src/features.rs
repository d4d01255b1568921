//! Feature extraction (formats.md §3) from a verified bundle.

use crate::bundle::Verified;
use crate::error::{Error, Result, Rule};
use crate::keccak::{keccak256, keccak256_pair, EMPTY_CODE_HASH};
use crate::model::{rshift_round, sat32};
use crate::protocols::values::Reads;
use crate::spec::{Addr, Feature, Key, Kind, Op, Source, Spec, Step};
use crate::u256::{self, Word};
use alloc::format;
use alloc::vec::Vec;

fn pad_addr(a: &[u8; 20]) -> Word {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

/// The storage slot a `(base, path)` designates for `subject`.
pub fn slot_of(base: &Word, path: &[Step], subject: &[u8; 20]) -> Word {
    let mut p = *base;
    for step in path {
        p = match step {
            Step::Mapping(k) => {
                let key = match k {
                    Key::Subject => pad_addr(subject),
                    Key::Address(a) => pad_addr(a),
                    Key::Word(w) => *w,
                    Key::Int(false, w) => *w,
                    Key::Int(true, w) => u256::neg(w),
                };
                keccak256_pair(&key, &p)
            }
            Step::Index { index, elem_slots } => {
                u256::add(&keccak256(&p), &u256::mul(index, elem_slots))
            }
            Step::Field(n) => u256::add(&p, n),
        };
    }
    p
}

/// Bytes `[offset, offset + size)` counted from the low-order end, as
/// (magnitude, negative) — two's complement when `signed`.
fn extract(word: &Word, offset: u32, size: u32, signed: bool) -> (Word, bool) {
    let (o, s) = (offset as usize, size as usize);
    let mut field = [0u8; 32];
    field[32 - s..].copy_from_slice(&word[32 - o - s..32 - o]);
    if signed && field[32 - s] & 0x80 != 0 {
        // magnitude = 2^(8s) - field
        let mut mag = [0u8; 32];
        let mut borrow = 0i16;
        for i in (32 - s..32).rev() {
            let d = -i16::from(field[i]) - borrow;
            mag[i] = (d.rem_euclid(256)) as u8;
            borrow = i16::from(d < 0);
        }
        return (mag, true);
    }
    (field, false)
}

fn convert(mag: &Word, negative: bool, decimals: u32) -> i32 {
    let q = u256::q16_magnitude(mag, decimals);
    let q = i64::try_from(q).unwrap_or(i64::MAX);
    sat32(if negative { -q } else { q })
}

/// The Q16 value a read feature reads at `block` (before the feature's clamp).
fn sample(f: &Feature, v: &Verified, subject: &[u8; 20], addr: &[u8; 20], block: u64) -> Result<i32> {
    let Source::Read { kind, slot, bits_offset, bits_size, decimals, signed, .. } = &f.source else {
        return Err(Error::Spec(Rule::FeatureKind, "not a read feature".into()));
    };
    let addr = *addr;
    let read = v.read(block, &addr).ok_or_else(|| {
        Error::Spec(Rule::FeatureReadPresent, format!(
            "feature {:?}: the bundle has no read of {} at block {block}",
            f.name,
            crate::hex::encode(&addr)
        ))
    })?;
    let raw: Word = match kind {
        Kind::Balance => read.account.as_ref().map_or([0u8; 32], |a| a.balance),
        Kind::Nonce => read.account.as_ref().map_or([0u8; 32], |a| a.nonce),
        Kind::CodePresent => u256::from_u128(u128::from(
            read.account.as_ref().is_some_and(|a| a.code_hash != EMPTY_CODE_HASH),
        )),
        Kind::Storage => {
            let (base, path) = slot.as_ref().ok_or_else(|| Error::Spec(Rule::FeatureStorageOnly, "storage read without slot".into()))?;
            let key = slot_of(base, path, subject);
            match read.storage.iter().find(|s| s.slot == key) {
                Some(s) => s.value,
                // An absent account has only zero slots (formats.md §1 rule 3).
                None if read.account.is_none() => [0u8; 32],
                None => {
                    return Err(Error::Spec(Rule::FeatureReadPresent, format!(
                        "feature {:?}: the bundle has no slot {} of {} at block {block}",
                        f.name,
                        crate::hex::encode(&key),
                        crate::hex::encode(&addr)
                    )))
                }
            }
        }
    };
    let (mag, neg) = extract(&raw, *bits_offset, *bits_size, *signed);
    Ok(convert(&mag, neg, *decimals))
}

/// The Q16 value read feature `f` reads at `block`: a chain read, or a protocol read
/// (formats.md §3c; reads that differ only by field share one computation in `reads`).
fn sample_at(f: &Feature, v: &Verified, subject: &[u8; 20], block: u64, reads: &mut Reads) -> Result<i32> {
    match &f.source {
        Source::Read { address, .. } => {
            let addr = match address {
                Addr::Subject => *subject,
                Addr::Literal(a) => *a,
            };
            sample(f, v, subject, &addr, block)
        }
        Source::Protocol { protocol, field, decimals, .. } => {
            let value = reads.value(v, protocol, field, subject, block).map_err(|e| match e {
                Error::Spec(rule, m) => Error::Spec(rule, format!("feature {:?}: {m}", f.name)),
                other => other,
            })?;
            Ok(convert(&value.to_word(), false, *decimals))
        }
        Source::Combine { .. } => Err(Error::Spec(Rule::FeatureKind, "not a read feature".into())),
    }
}

/// Compute the feature vector for `subject` at request block `request_block`.
pub fn compute(spec: &Spec, v: &Verified, subject: &[u8; 20], request_block: u64) -> Result<Vec<i32>> {
    compute_known(spec, v, subject, request_block, &[])
}

/// Which features have the same value for every subject: reads of a literal address
/// whose slot path has no `$subject` key (series included), and combinations of two
/// such features. A batch computes them once (`batch::score`).
pub fn subject_free(spec: &Spec) -> Vec<bool> {
    let mut free: Vec<bool> = Vec::with_capacity(spec.features.len());
    for f in &spec.features {
        let is_free = match &f.source {
            Source::Read { address: Addr::Subject, .. } => false,
            Source::Read { slot, .. } => slot.as_ref().is_none_or(|(_, path)| {
                !path.iter().any(|step| matches!(step, Step::Mapping(Key::Subject)))
            }),
            Source::Combine { a, b, .. } => free[*a] && free[*b],
            Source::Protocol { .. } => false, // the subject is the protocol's user
        };
        free.push(is_free);
    }
    free
}

/// [`compute`], taking feature `i`'s value from `known[i]` when it is set (a value
/// computed once for every subject: see [`subject_free`]).
pub fn compute_known(
    spec: &Spec,
    v: &Verified,
    subject: &[u8; 20],
    request_block: u64,
    known: &[Option<i32>],
) -> Result<Vec<i32>> {
    let mut out: Vec<i32> = Vec::with_capacity(spec.features.len());
    let mut reads = Reads::default();
    for (i, f) in spec.features.iter().enumerate() {
        if let Some(Some(value)) = known.get(i) {
            out.push(*value);
            continue;
        }
        let value = match &f.source {
            Source::Read { block_offset, series, .. } | Source::Protocol { block_offset, series, .. } => {
                let newest = request_block.checked_sub(*block_offset);
                match series {
                    None => {
                        let newest = newest.ok_or_else(|| {
                            Error::Spec(Rule::FeatureBlock, format!("feature {:?}: block_offset reaches below block 0", f.name))
                        })?;
                        sample_at(f, v, subject, newest, &mut reads)?
                    }
                    Some(s) => {
                        let span = u64::from(s.samples - 1) * s.every;
                        let oldest = newest.and_then(|n| n.checked_sub(span)).ok_or_else(|| {
                            Error::Spec(Rule::SeriesBlock, format!(
                                "feature {:?}: the oldest sample of its series is below block 0",
                                f.name
                            ))
                        })?;
                        let mut xs: Vec<i32> = Vec::with_capacity(s.samples as usize);
                        for i in 0..u64::from(s.samples) {
                            xs.push(sample_at(f, v, subject, oldest + i * s.every, &mut reads)?);
                        }
                        crate::series::aggregate(s.op, &xs, s.threshold)?
                    }
                }
            }
            Source::Combine { op, a, b, .. } => {
                let (x, y) = (i64::from(out[*a]), i64::from(out[*b]));
                match op {
                    Op::Sub => sat32(x - y),
                    Op::Add => sat32(x + y),
                    Op::Mul => sat32(rshift_round(x * y, 16)),
                    Op::Ratio => {
                        if y == 0 {
                            f.max
                        } else {
                            // Rust's `/` truncates towards zero.
                            sat32((x << 16) / y)
                        }
                    }
                }
            }
        };
        out.push(value.clamp(f.min, f.max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_extraction() {
        let mut w = [0u8; 32];
        w[31] = 0xff; // -1 as int8 at offset 0
        w[30] = 0x02;
        assert_eq!(extract(&w, 0, 1, true), (u256::from_u128(1), true));
        assert_eq!(extract(&w, 0, 1, false), (u256::from_u128(255), false));
        assert_eq!(extract(&w, 1, 1, true), (u256::from_u128(2), false));
        assert_eq!(extract(&w, 0, 2, false), (u256::from_u128(0x02ff), false));
        let mut m = [0u8; 32];
        m[0] = 0x80; // int256 minimum
        let mut expect = [0u8; 32];
        expect[0] = 0x80;
        assert_eq!(extract(&m, 0, 32, true), (expect, true));
        assert_eq!(convert(&u256::from_u128(1), true, 0), -65536);
    }

    #[test]
    fn erc20_balance_slot() {
        // USDT balances are mapping slot 2; independently known slot for an address
        // is checked in the vectors tests. Here: path composition is keccak(pad(k) ‖ pad(p)).
        let subject = [0x11u8; 20];
        let s = slot_of(&u256::from_u128(2), &[Step::Mapping(Key::Subject)], &subject);
        let mut cat = [0u8; 64];
        cat[12..32].copy_from_slice(&subject);
        cat[63] = 2;
        assert_eq!(s, keccak256(&cat));
        assert_eq!(slot_of(&u256::from_u128(5), &[Step::Field(u256::from_u128(3))], &subject), u256::from_u128(8));
    }
}
