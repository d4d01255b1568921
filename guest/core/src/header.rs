//! Block headers: decoded strictly from raw RLP, hashed from the same bytes. Fields are
//! read by position (parentHash 0, stateRoot 3, number 8); later forks may append fields.

use crate::error::{Error, Result, Rule};
use crate::keccak::keccak256;
use crate::rlp;
use alloc::format;

/// Fields of a header that verification uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// keccak256 of the raw RLP: the block hash.
    pub hash: [u8; 32],
    /// Field 0.
    pub parent_hash: [u8; 32],
    /// Field 3.
    pub state_root: [u8; 32],
    /// Field 8.
    pub number: u64,
    /// Field 11 (saturated at 2^64 - 1; the protocol reads accrue interest to it).
    pub timestamp: u64,
}

/// Minimum field count: the 15 fields of a Frontier header.
pub const MIN_FIELDS: usize = 15;

/// Decode and hash one header.
pub fn parse(raw: &[u8]) -> Result<Header> {
    rlp::validate(raw).map_err(|e| e.within(Error::Header, "invalid RLP"))?;
    let items = rlp::decode_list(raw).map_err(|e| e.within(Error::Header, "invalid RLP"))?;
    if items.len() < MIN_FIELDS {
        return Err(Error::Header(Rule::HeaderShape, format!("{} fields, expected at least {MIN_FIELDS}", items.len())));
    }
    // a field of the wrong size or a non-canonical integer
    let f = |e: Error| e.recode(Rule::HeaderField).within(Error::Header, "field");
    Ok(Header {
        hash: keccak256(raw),
        parent_hash: items[0].bytes32().map_err(f)?,
        state_root: items[3].bytes32().map_err(f)?,
        number: items[8].uint64().map_err(f)?,
        timestamp: saturated(&items[11].uint256().map_err(f)?),
    })
}

fn saturated(w: &crate::u256::Word) -> u64 {
    if w[..24].iter().any(|&b| b != 0) {
        return u64::MAX;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[24..]);
    u64::from_be_bytes(b)
}

/// Parse a chain of consecutive headers (ascending) and check every parent link.
pub fn parse_chain(raws: &[&[u8]]) -> Result<alloc::vec::Vec<Header>> {
    let mut out: alloc::vec::Vec<Header> = alloc::vec::Vec::with_capacity(raws.len());
    for (i, raw) in raws.iter().enumerate() {
        let h = parse(raw).map_err(|e| e.within(Error::Header, &format!("headers[{i}]")))?;
        if let Some(prev) = out.last() {
            // numbers first, as the Python reference does: both report the same rule
            if Some(h.number) != prev.number.checked_add(1) {
                return Err(Error::Header(
                    Rule::ChainConsecutive,
                    format!("headers[{i}] is not the block after headers[{}]", i - 1),
                ));
            }
            if h.parent_hash != prev.hash {
                return Err(Error::Header(
                    Rule::ChainParentHash,
                    format!("headers[{i}].parentHash is not the hash of headers[{}]", i - 1),
                ));
            }
        }
        out.push(h);
    }
    Ok(out)
}
