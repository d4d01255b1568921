//! One error type for every check of the core. Each variant names what failed; the guest
//! panics with its `Display` text so that a failed proof says why, and commits nothing.

use alloc::string::String;
use core::fmt;

/// Why verification or evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Malformed RLP (non-canonical, truncated, trailing bytes...).
    Rlp(&'static str),
    /// A block header is malformed or the header chain does not link.
    Header(String),
    /// A Merkle-Patricia proof walk failed.
    Trie(String),
    /// The bundle breaks one of the rules of docs/formats.md §1.
    Bundle(String),
    /// The model breaks docs/formats.md §2.
    Model(String),
    /// The feature spec breaks docs/formats.md §3, or a read it needs is missing.
    Spec(String),
    /// Malformed input encoding (guest transport, JSON, hex).
    Input(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rlp(m) => write!(f, "rlp: {m}"),
            Error::Header(m) => write!(f, "header: {m}"),
            Error::Trie(m) => write!(f, "trie: {m}"),
            Error::Bundle(m) => write!(f, "bundle: {m}"),
            Error::Model(m) => write!(f, "model: {m}"),
            Error::Spec(m) => write!(f, "feature spec: {m}"),
            Error::Input(m) => write!(f, "input: {m}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Shorthand used throughout the crate.
pub type Result<T> = core::result::Result<T, Error>;
