//! [`Storage`] over a verified bundle: the reads of one block, the timestamp of its
//! verified header.

use super::{refuse, Storage};
use crate::bundle::Verified;
use crate::error::{Result, Rule};
use crate::hex;
use crate::u256::{Word, U256};
use alloc::format;

/// The proven accounts and slots of a verified bundle at `block`.
#[derive(Debug)]
pub struct BundleStorage<'a> {
    verified: &'a Verified,
    block: u64,
    timestamp: u64,
}

impl<'a> BundleStorage<'a> {
    /// Storage at `block`, one of the verified headers (v1 or v2 bundle).
    pub fn new(verified: &'a Verified, block: u64) -> Result<BundleStorage<'a>> {
        let header = verified.headers.iter().find(|h| h.number == block).ok_or_else(|| {
            refuse(Rule::FeatureReadPresent, format!("the bundle has no header of block {block}"))
        })?;
        Ok(BundleStorage { verified, block, timestamp: header.timestamp })
    }

    /// Storage at `block` of values verified elsewhere, with the block's timestamp given
    /// (the host's cross-language tests over edited values).
    pub fn at(verified: &'a Verified, block: u64, timestamp: u64) -> BundleStorage<'a> {
        BundleStorage { verified, block, timestamp }
    }

    /// The block read.
    pub fn block(&self) -> u64 {
        self.block
    }

    fn missing(&self, address: &[u8; 20], what: &str) -> crate::Error {
        refuse(
            Rule::FeatureReadPresent,
            format!("the bundle has no {what} of {} at block {}", hex::encode(address), self.block),
        )
    }
}

impl Storage for BundleStorage<'_> {
    fn word(&self, address: &[u8; 20], slot: &Word) -> Result<U256> {
        let read = self.verified.read(self.block, address).ok_or_else(|| self.missing(address, "read"))?;
        match read.storage.iter().find(|s| s.slot == *slot) {
            Some(s) => Ok(U256::from_word(&s.value)),
            // an absent account has only zero slots (formats.md §1 rule 3)
            None if read.account.is_none() => Ok(U256::ZERO),
            None => Err(self.missing(address, &format!("slot {}", hex::encode(slot)))),
        }
    }

    fn code_hash(&self, address: &[u8; 20]) -> Result<[u8; 32]> {
        let read = self.verified.read(self.block, address).ok_or_else(|| self.missing(address, "read"))?;
        Ok(read.account.as_ref().map_or([0u8; 32], |a| a.code_hash))
    }

    fn timestamp(&self) -> u64 {
        self.timestamp
    }
}
