//! Verification core of the coproc zkVM guest, shared with the host CLI and its tests.
//!
//! Everything the guest proves is computed here: strict RLP, keccak (software, see
//! `keccak`), Merkle-Patricia proof walks over a bundle's node pool, header hashing and
//! ancestry, bundle v1 verification, feature spec v1, model v1 fixed-point inference and
//! the journal v1 ABI encoding. The formats are defined in `docs/formats.md`.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod batch;
pub mod bundle;
pub mod bundle_v2;
pub mod error;
pub mod features;
pub mod header;
pub mod history;
pub mod hex;
pub mod input;
pub mod input_v2;
pub mod journal;
pub mod json;
#[cfg(feature = "std")]
pub mod json_bundle;
pub mod keccak;
pub mod model;
pub mod protocols;
pub mod request;
pub mod rlp;
pub mod rules;
pub mod series;
pub mod sigmoid;
pub mod spec;
pub mod trees;
pub mod trie;
pub mod u256;

pub use error::{Error, Rule};
