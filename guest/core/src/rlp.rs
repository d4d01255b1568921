//! Strict RLP decoding: canonical lengths only, single bytes below 0x80 never wrapped,
//! no leading zeros in lengths, no trailing bytes. Returns borrowed slices.

use crate::error::{Error, Result};
use alloc::vec::Vec;

/// One decoded RLP item: a byte string or a list (its payload, still encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A byte string.
    Bytes(&'a [u8]),
    /// A list; the payload holds the concatenated encodings of its elements.
    List(&'a [u8]),
}

fn be_len(bytes: &[u8]) -> Result<usize> {
    if bytes.is_empty() || bytes[0] == 0 {
        return Err(Error::rlp("length with leading zeros"));
    }
    if bytes.len() > core::mem::size_of::<usize>() {
        return Err(Error::rlp("length too large"));
    }
    let mut n: usize = 0;
    for b in bytes {
        n = (n << 8) | usize::from(*b);
    }
    Ok(n)
}

/// Decode the first item of `data`; returns it and the rest of `data`.
pub fn decode_first(data: &[u8]) -> Result<(Item<'_>, &[u8])> {
    let Some(&b0) = data.first() else {
        return Err(Error::rlp("empty input"));
    };
    let (is_list, header, len) = match b0 {
        0x00..=0x7f => return Ok((Item::Bytes(&data[..1]), &data[1..])),
        0x80..=0xb7 => (false, 1usize, usize::from(b0 - 0x80)),
        0xb8..=0xbf => {
            let ll = usize::from(b0 - 0xb7);
            let lb = data.get(1..1 + ll).ok_or(Error::rlp("truncated length"))?;
            let len = be_len(lb)?;
            if len < 56 {
                return Err(Error::rlp("non-canonical long length"));
            }
            (false, 1 + ll, len)
        }
        0xc0..=0xf7 => (true, 1usize, usize::from(b0 - 0xc0)),
        0xf8..=0xff => {
            let ll = usize::from(b0 - 0xf7);
            let lb = data.get(1..1 + ll).ok_or(Error::rlp("truncated length"))?;
            let len = be_len(lb)?;
            if len < 56 {
                return Err(Error::rlp("non-canonical long length"));
            }
            (true, 1 + ll, len)
        }
    };
    let end = header.checked_add(len).ok_or(Error::rlp("length overflow"))?;
    let payload = data.get(header..end).ok_or(Error::rlp("truncated payload"))?;
    if !is_list && len == 1 && payload[0] < 0x80 {
        return Err(Error::rlp("single byte below 0x80 must not be wrapped"));
    }
    let item = if is_list { Item::List(payload) } else { Item::Bytes(payload) };
    Ok((item, &data[end..]))
}

/// Decode exactly one item spanning all of `data`.
pub fn decode(data: &[u8]) -> Result<Item<'_>> {
    let (item, rest) = decode_first(data)?;
    if !rest.is_empty() {
        return Err(Error::rlp("trailing bytes"));
    }
    Ok(item)
}

/// Decode every element of a list payload, checking each one (recursively) for strictness.
pub fn list_items(payload: &[u8]) -> Result<Vec<Item<'_>>> {
    let mut out = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let (item, r) = decode_first(rest)?;
        out.push(item);
        rest = r;
    }
    Ok(out)
}

/// Decode `data` as one list and return its elements.
pub fn decode_list(data: &[u8]) -> Result<Vec<Item<'_>>> {
    match decode(data)? {
        Item::List(p) => list_items(p),
        Item::Bytes(_) => Err(Error::rlp("expected a list")),
    }
}

/// The deepest list nesting [`validate`] accepts, as Python's reader
/// (coprocessor/chain/rlpdepth.py `MAX_DEPTH`); no format nests more than a few lists.
pub const MAX_DEPTH: usize = 16;

/// Check that `data` is exactly one strictly-encoded item, nested lists included, at
/// most [`MAX_DEPTH`] lists deep. Walks with an explicit stack (the payloads still
/// to read of the open lists), so no input drives recursion.
pub fn validate(data: &[u8]) -> Result<()> {
    let mut open: Vec<&[u8]> = Vec::new();
    if let Item::List(p) = decode(data)? {
        open.push(p);
    }
    while let Some(payload) = open.pop() {
        if payload.is_empty() {
            continue;
        }
        let (item, rest) = decode_first(payload)?;
        open.push(rest);
        if let Item::List(p) = item {
            if open.len() >= MAX_DEPTH {
                return Err(Error::rlp("lists nested deeper than 16"));
            }
            open.push(p);
        }
    }
    Ok(())
}

impl<'a> Item<'a> {
    /// The byte string, or an error for a list.
    pub fn bytes(&self) -> Result<&'a [u8]> {
        match self {
            Item::Bytes(b) => Ok(b),
            Item::List(_) => Err(Error::rlp("expected a byte string")),
        }
    }

    /// A fixed-size byte string.
    pub fn bytes32(&self) -> Result<[u8; 32]> {
        self.bytes()?.try_into().map_err(|_| Error::rlp("expected 32 bytes"))
    }

    /// A scalar: big-endian without leading zeros, at most 32 bytes, as a 32-byte word.
    pub fn uint256(&self) -> Result<[u8; 32]> {
        let b = self.bytes()?;
        if b.first() == Some(&0) {
            return Err(Error::rlp("integer with leading zeros"));
        }
        if b.len() > 32 {
            return Err(Error::rlp("integer wider than 256 bits"));
        }
        let mut out = [0u8; 32];
        out[32 - b.len()..].copy_from_slice(b);
        Ok(out)
    }

    /// A scalar that fits in 64 bits.
    pub fn uint64(&self) -> Result<u64> {
        let w = self.uint256()?;
        if w[..24].iter().any(|&b| b != 0) {
            return Err(Error::rlp("integer wider than 64 bits"));
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&w[24..]);
        Ok(u64::from_be_bytes(a))
    }
}

/// Minimal RLP encoding of a byte string (used for node references and tests).
pub fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        encode_header(0x80, b.len(), out);
        out.extend_from_slice(b);
    }
}

/// RLP header of a string (`base` 0x80) or list (`base` 0xc0) payload of `len` bytes.
pub fn encode_header(base: u8, len: usize, out: &mut Vec<u8>) {
    if len < 56 {
        // len < 56 fits in u8.
        out.push(base + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(base + 55 + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

/// Encode a list from already-encoded elements.
pub fn encode_list(items: &[Vec<u8>]) -> Vec<u8> {
    let len: usize = items.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(len + 9);
    encode_header(0xc0, len, &mut out);
    for it in items {
        out.extend_from_slice(it);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_bounds_nesting_without_recursion() {
        let nest = |depth: usize| {
            let mut raw = alloc::vec![0x80u8];
            for _ in 0..depth {
                let mut outer = Vec::new();
                encode_header(0xc0, raw.len(), &mut outer);
                outer.extend_from_slice(&raw);
                raw = outer;
            }
            raw
        };
        assert!(validate(&nest(MAX_DEPTH)).is_ok());
        assert!(validate(&nest(MAX_DEPTH + 1)).is_err());
        assert!(validate(&nest(200_000)).is_err()); // was a stack overflow
        assert!(validate(&encode_list(&[alloc::vec![0x80], nest(3), alloc::vec![0x01]])).is_ok());
    }

    #[test]
    fn strictness_basics() {
        assert!(decode(&[0x81, 0x00]).is_err());
        assert!(decode(&[0xb8, 0x01, 0xff]).is_err());
        assert!(decode(&[0x80, 0x00]).is_err());
        assert_eq!(decode(&[0x80]).unwrap(), Item::Bytes(&[]));
        assert_eq!(decode(&[0x7f]).unwrap(), Item::Bytes(&[0x7f]));
        assert_eq!(decode(&[0xc0]).unwrap(), Item::List(&[]));
        assert!(Item::Bytes(&[0, 1]).uint64().is_err());
    }
}
