//! EIP-2935 history hops (docs/formats.md §1b), bit-equal to `coprocessor/chain/history.py`.
//!
//! Since Prague the history contract [`HISTORY_ADDRESS`] keeps the hashes of the previous
//! [`WINDOW`] blocks: in the state after block `h`, slot `n % 8191` holds the hash of
//! block `n` for every `n` in `[h - 8191, h - 1]`. A hop from `h` to `n` proves the hash
//! of `n` from the (already proven) header of `h`. Each check below is one rule of the
//! format, with its code from `spec/rule_codes.json` (`V0xx`).

use crate::error::{Error, Result, Rule};
use alloc::format;

/// The EIP-2935 history contract (the same address on every chain).
pub const HISTORY_ADDRESS: [u8; 20] = [
    0x00, 0x00, 0xf9, 0x08, 0x27, 0xf1, 0xc5, 0x3a, 0x10, 0xcb, 0x7a, 0x02, 0x33, 0x5b, 0x17, 0x53, 0x20, 0x00, 0x29,
    0x35,
];

/// EIP-2935's `HISTORY_SERVE_WINDOW`: slots of the ring buffer and the longest hop.
pub const WINDOW: u64 = 8191;

/// The first block of `chain_id` whose hash the history contract stores (the parent of
/// the Prague activation block), or `None` when hops are not known for that chain.
/// Equal to `ACTIVATIONS` in `coprocessor/chain/history.py` (a test compares them).
pub fn activation(chain_id: u64) -> Option<u64> {
    match chain_id {
        1 => Some(22_431_083),
        31337 => Some(0),
        _ => None,
    }
}

/// The storage slot (32 bytes, big-endian) holding the hash of `block`.
pub fn history_slot(block: u64) -> [u8; 32] {
    let mut slot = [0u8; 32];
    slot[24..].copy_from_slice(&(block % WINDOW).to_be_bytes());
    slot
}

fn hop(rule: Rule, source: u64, target: u64, m: &str) -> Error {
    Error::Bundle(rule, format!("hop {source} -> {target}: {m}"))
}

/// Rule `hop_range`: `source - 8191 <= target <= source - 1`.
pub fn check_range(source: u64, target: u64) -> Result<()> {
    if target >= source || source - target > WINDOW {
        return Err(hop(Rule::HopRange, source, target, "the target is not among the 8,191 blocks before the source"));
    }
    Ok(())
}

/// Rule `hop_activation`: the target is at or after the chain's activation.
pub fn check_activation(source: u64, target: u64, chain_id: u64) -> Result<()> {
    match activation(chain_id) {
        None => Err(hop(Rule::HopActivation, source, target, &format!("chain {chain_id} has no known EIP-2935 activation"))),
        Some(first) if target < first => Err(hop(
            Rule::HopActivation,
            source,
            target,
            &format!("the target is before the history contract's activation (block {first})"),
        )),
        Some(_) => Ok(()),
    }
}

/// Rule `hop_value`: the stored value (a 32-byte big-endian word) is the target's hash.
pub fn check_value(source: u64, target: u64, value: &[u8; 32], target_hash: &[u8; 32]) -> Result<()> {
    if value != target_hash {
        return Err(hop(Rule::HopValue, source, target, "the history contract's value is not the hash of the target header"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_ranges() {
        assert_eq!(history_slot(8191), [0u8; 32]);
        assert_eq!(history_slot(8192)[31], 1);
        assert_eq!(history_slot(60_000)[30..], [(60_000u64 % 8191 >> 8) as u8, (60_000u64 % 8191) as u8]);
        assert!(check_range(10_000, 10_000 - 8191).is_ok());
        assert_eq!(check_range(10_000, 10_000 - 8192).unwrap_err().rule(), Rule::HopRange);
        assert_eq!(check_range(10_000, 10_000).unwrap_err().rule(), Rule::HopRange);
        assert_eq!(check_range(10_000, 10_001).unwrap_err().rule(), Rule::HopRange);
        assert_eq!(check_activation(10, 5, 5).unwrap_err().rule(), Rule::HopActivation);
        assert_eq!(check_activation(22_431_090, 22_431_082, 1).unwrap_err().rule(), Rule::HopActivation);
        assert!(check_activation(22_431_090, 22_431_083, 1).is_ok());
    }
}
