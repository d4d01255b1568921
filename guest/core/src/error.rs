//! One error type for every check of the core. Each variant names the format that failed
//! and carries the [`Rule`] it breaks (its code is defined once, in `spec/rule_codes.json`,
//! and shared with Python); the guest panics with the `Display` text, `[CODE] format:
//! message`, so that a failed proof says why, and commits nothing.

use alloc::format;
use alloc::string::String;
use core::fmt;

pub use crate::rules::Rule;

/// Why verification or evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Malformed RLP (non-canonical, truncated, trailing bytes...).
    Rlp(Rule, &'static str),
    /// A block header is malformed or the header chain does not link.
    Header(Rule, String),
    /// A Merkle-Patricia proof walk failed.
    Trie(Rule, String),
    /// The bundle breaks one of the rules of docs/formats.md §1.
    Bundle(Rule, String),
    /// The model breaks docs/formats.md §2.
    Model(Rule, String),
    /// The feature spec breaks docs/formats.md §3, or a read it needs is missing.
    Spec(Rule, String),
    /// Malformed input encoding (guest transport, JSON, hex).
    Input(Rule, String),
}

impl Error {
    /// A strict-RLP failure (rule `rlp_canonical`).
    pub const fn rlp(m: &'static str) -> Error {
        Error::Rlp(Rule::RlpCanonical, m)
    }

    /// The rule this error breaks.
    pub fn rule(&self) -> Rule {
        match self {
            Error::Rlp(r, _) => *r,
            Error::Header(r, _)
            | Error::Trie(r, _)
            | Error::Bundle(r, _)
            | Error::Model(r, _)
            | Error::Spec(r, _)
            | Error::Input(r, _) => *r,
        }
    }

    /// The message without the code: `format: message`.
    pub fn detail(&self) -> String {
        match self {
            Error::Rlp(_, m) => format!("rlp: {m}"),
            Error::Header(_, m) => format!("header: {m}"),
            Error::Trie(_, m) => format!("trie: {m}"),
            Error::Bundle(_, m) => format!("bundle: {m}"),
            Error::Model(_, m) => format!("model: {m}"),
            Error::Spec(_, m) => format!("feature spec: {m}"),
            Error::Input(_, m) => format!("input: {m}"),
        }
    }

    /// This error as a `kind` error with `prefix` before its detail, keeping its rule
    /// (`e.within(Error::Bundle, "accounts[0] account proof")`).
    pub fn within(self, kind: fn(Rule, String) -> Error, prefix: &str) -> Error {
        kind(self.rule(), format!("{prefix}: {}", self.detail()))
    }

    /// The same error under another rule: a lower-level failure (an RLP item of the
    /// wrong type, say) that breaks a rule of the format being read.
    pub fn recode(self, rule: Rule) -> Error {
        match self {
            Error::Rlp(_, m) => Error::Rlp(rule, m),
            Error::Header(_, m) => Error::Header(rule, m),
            Error::Trie(_, m) => Error::Trie(rule, m),
            Error::Bundle(_, m) => Error::Bundle(rule, m),
            Error::Model(_, m) => Error::Model(rule, m),
            Error::Spec(_, m) => Error::Spec(rule, m),
            Error::Input(_, m) => Error::Input(rule, m),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule().code(), self.detail())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Shorthand used throughout the crate.
pub type Result<T> = core::result::Result<T, Error>;
