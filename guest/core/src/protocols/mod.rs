//! Reads of real lending protocols from proven storage: Aave v3 account data and Morpho
//! Blue positions, computed with the protocols' own fixed-point arithmetic. Exact ports
//! of the Python reference (`coprocessor/scoring/protocols/`), bit-equal on every output
//! (`tests/markets/test_rust_equal.py`); docs/markets.md explains the layouts.
//!
//! A read asks its [`Storage`] for words and code hashes; a value the storage does not
//! hold is an error naming the (address, slot) (`[F018]`), never a zero. A layout the
//! reads do not support (another Pool or token revision, another Morpho or IRM build) is
//! refused with the rule's code.

pub mod aave_math;
pub mod aave_v3;
pub mod bundle_storage;
pub mod morpho_blue;
pub mod values;

use crate::error::{Error, Result, Rule};
use crate::keccak::keccak256_pair;
use crate::u256::{self, Word, U256};
use alloc::string::String;

pub use bundle_storage::BundleStorage;

/// Proven state at one block.
pub trait Storage {
    /// The proven value of `slot` of `address`, or an error naming the pair.
    fn word(&self, address: &[u8; 20], slot: &Word) -> Result<U256>;
    /// The proven code hash of `address` (zero for an absent account, as EXTCODEHASH).
    fn code_hash(&self, address: &[u8; 20]) -> Result<[u8; 32]>;
    /// The block's timestamp (from its verified header).
    fn timestamp(&self) -> u64;
}

/// A refusal of a protocol read under `rule`.
pub fn refuse(rule: Rule, message: String) -> Error {
    Error::Spec(rule, message)
}

/// An arithmetic overflow where the protocol's own code would revert.
pub fn overflow(what: &str) -> Error {
    refuse(Rule::ProtocolState, alloc::format!("{what} overflows uint256 (the protocol would revert)"))
}

/// A 20-byte address left-padded to a word (a mapping key).
pub fn pad_address(a: &[u8; 20]) -> Word {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

/// The low 160 bits of a word as an address.
pub fn address_of(v: &U256) -> [u8; 20] {
    let w = v.to_word();
    let mut a = [0u8; 20];
    a.copy_from_slice(&w[12..]);
    a
}

/// `mapping[key]` for a mapping at `base`: keccak256(pad32(key) ‖ base).
pub fn mapping_slot(base: &Word, key: &Word) -> Word {
    keccak256_pair(key, base)
}

/// A slot number as a word.
pub fn slot(n: u64) -> Word {
    u256::from_u128(u128::from(n))
}

/// `base + k mod 2^256` (the k-th slot of a struct).
pub fn field(base: &Word, k: u64) -> Word {
    u256::add(base, &slot(k))
}

/// `bits(word, offset, size)` as a u64 (fields of at most 64 bits).
pub fn small(v: &U256, offset: u32, size: u32) -> u64 {
    v.bits(offset, size.min(64)).to_u64().unwrap_or(0)
}
