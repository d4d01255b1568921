//! The hex conventions of docs/formats.md: `0x`-prefixed lowercase; *quantity* without
//! leading zeros; *bytesN* exactly N bytes; *data* any even number of digits.

use crate::error::{Error, Result, Rule};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn digits<'a>(s: &'a str, what: &str) -> Result<&'a [u8]> {
    s.strip_prefix("0x")
        .map(str::as_bytes)
        .ok_or_else(|| Error::Input(Rule::BundleHex, format!("{what}: expected 0x-prefixed hex, got {s:?}")))
}

/// *data*: an even number of lowercase hex digits.
pub fn data(s: &str, what: &str) -> Result<Vec<u8>> {
    let d = digits(s, what)?;
    if d.len() % 2 != 0 {
        return Err(Error::Input(Rule::BundleHex, format!("{what}: odd number of hex digits")));
    }
    d.chunks(2)
        .map(|p| match (nibble(p[0]), nibble(p[1])) {
            (Some(h), Some(l)) => Ok((h << 4) | l),
            _ => Err(Error::Input(Rule::BundleHex, format!("{what}: not lowercase hex"))),
        })
        .collect()
}

/// *bytesN*: exactly `N` bytes.
pub fn bytes_n<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let v = data(s, what)?;
    v.try_into().map_err(|_| Error::Input(Rule::BundleHex, format!("{what}: expected {N} bytes")))
}

/// *quantity*: no leading zeros (`0x0` for zero), at most 256 bits; as a 32-byte word.
pub fn quantity(s: &str, what: &str) -> Result<[u8; 32]> {
    let d = digits(s, what)?;
    if d.is_empty() || d.len() > 64 || (d.len() > 1 && d[0] == b'0') {
        return Err(Error::Input(Rule::BundleHex, format!("{what}: not a canonical quantity: {s:?}")));
    }
    let mut out = [0u8; 32];
    for (i, &c) in d.iter().rev().enumerate() {
        let n = nibble(c).ok_or_else(|| Error::Input(Rule::BundleHex, format!("{what}: not lowercase hex")))?;
        out[31 - i / 2] |= n << (4 * (i % 2));
    }
    Ok(out)
}

/// Lowercase `0x` hex of bytes.
pub fn encode(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for x in b {
        s.push(char::from(D[usize::from(x >> 4)]));
        s.push(char::from(D[usize::from(x & 15)]));
    }
    s
}

/// A 32-byte word as a quantity.
pub fn encode_quantity(w: &[u8; 32]) -> String {
    let s = encode(w);
    let t = s[2..].trim_start_matches('0');
    if t.is_empty() {
        String::from("0x0")
    } else {
        format!("0x{t}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_rules() {
        assert_eq!(quantity("0x0", "q").unwrap(), [0u8; 32]);
        assert_eq!(quantity("0x1a", "q").unwrap()[31], 0x1a);
        assert_eq!(quantity("0x100", "q").unwrap()[30..], [1, 0]);
        assert!(quantity("0x01", "q").is_err());
        assert!(quantity("0x", "q").is_err());
        assert!(quantity("0x1A", "q").is_err());
        assert!(data("0xAB", "d").is_err());
        assert_eq!(encode_quantity(&quantity("0x100", "q").unwrap()), "0x100");
    }
}
