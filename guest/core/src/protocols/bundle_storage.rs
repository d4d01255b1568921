//! [`Storage`] over a verified bundle v1: the reads of one block, the timestamp of its
//! header.

use super::{refuse, Storage};
use crate::bundle::{Bundle, Verified};
use crate::error::{Result, Rule};
use crate::hex;
use crate::keccak::keccak256;
use crate::rlp;
use crate::u256::{Word, U256};
use alloc::format;

/// Field 11 of a header: its timestamp.
const TIMESTAMP_FIELD: usize = 11;

/// The proven accounts and slots of a verified bundle at `block`.
#[derive(Debug)]
pub struct BundleStorage<'a> {
    verified: &'a Verified,
    block: u64,
    timestamp: u64,
}

impl<'a> BundleStorage<'a> {
    /// Storage at `block`, one of the bundle's headers; `bundle` is the one `verified`
    /// came from (its raw header gives the timestamp and must hash to the verified hash).
    pub fn new(bundle: &Bundle, verified: &'a Verified, block: u64) -> Result<BundleStorage<'a>> {
        let first = verified.first_block();
        let index = block
            .checked_sub(first)
            .map(|i| i as usize)
            .filter(|&i| i < verified.headers.len() && i < bundle.headers.len())
            .ok_or_else(|| refuse(Rule::RequestBlock, format!("block {block} is not among the bundle's headers")))?;
        let raw = &bundle.headers[index];
        if keccak256(raw) != verified.headers[index].hash {
            return Err(refuse(Rule::RequestBlock, format!("header of block {block} is not the verified one")));
        }
        let items = rlp::decode_list(raw)?;
        let timestamp = items
            .get(TIMESTAMP_FIELD)
            .ok_or_else(|| refuse(Rule::HeaderShape, "header has no timestamp".into()))?
            .uint64()
            .map_err(|e| e.recode(Rule::HeaderField))?;
        Ok(BundleStorage { verified, block, timestamp })
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
