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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Account, AccountRead, StorageEntry};
    use crate::header::Header;
    use crate::keccak::keccak256;
    use alloc::vec;

    fn verified() -> Verified {
        let slot = |n: u8| {
            let mut s = [0u8; 32];
            s[31] = n;
            s
        };
        let present = AccountRead {
            block: 7,
            address: [1; 20],
            address_hash: keccak256(&[1; 20]),
            account: Some(Account { nonce: [0; 32], balance: [0; 32], storage_root: [2; 32], code_hash: [3; 32] }),
            storage: vec![StorageEntry { slot: slot(5), slot_hash: keccak256(&slot(5)), value: slot(9) }],
        };
        let absent =
            AccountRead { block: 7, address: [4; 20], address_hash: keccak256(&[4; 20]), account: None, storage: vec![] };
        let header = |number: u64, timestamp: u64| Header {
            hash: [0; 32],
            parent_hash: [0; 32],
            state_root: [0; 32],
            number,
            timestamp,
        };
        Verified { chain_id: 1, headers: vec![header(6, 100), header(7, 112)], accounts: vec![present, absent] }
    }

    #[test]
    fn answers_only_from_the_bundle() {
        let v = verified();
        let s = BundleStorage::new(&v, 7).expect("block 7 is a header");
        assert_eq!(s.timestamp(), 112);
        let mut five = [0u8; 32];
        five[31] = 5;
        assert_eq!(s.word(&[1; 20], &five), Ok(U256::from_u64(9)));
        assert_eq!(s.code_hash(&[1; 20]), Ok([3; 32]));
        // a slot or an account the bundle does not hold is refused, never read as zero
        let missing = s.word(&[1; 20], &[0; 32]).expect_err("slot 0 is not in the bundle");
        assert_eq!(missing.rule(), Rule::FeatureReadPresent);
        assert!(missing.to_string().contains("0x0101010101010101010101010101010101010101"));
        assert_eq!(s.word(&[9; 20], &five).map_err(|e| e.rule()), Err(Rule::FeatureReadPresent));
        assert_eq!(s.code_hash(&[9; 20]).map_err(|e| e.rule()), Err(Rule::FeatureReadPresent));
        // an account proven absent has zero slots and no code (EXTCODEHASH 0)
        assert_eq!(s.word(&[4; 20], &five), Ok(U256::ZERO));
        assert_eq!(s.code_hash(&[4; 20]), Ok([0; 32]));
        // another block: the reads are per block
        let s6 = BundleStorage::new(&v, 6).expect("block 6 is a header");
        assert_eq!(s6.timestamp(), 100);
        assert_eq!(s6.word(&[1; 20], &five).map_err(|e| e.rule()), Err(Rule::FeatureReadPresent));
        assert_eq!(BundleStorage::new(&v, 8).map(|s| s.block()).map_err(|e| e.rule()), Err(Rule::FeatureReadPresent));
    }
}
