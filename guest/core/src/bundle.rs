//! Proof bundle v1 (docs/formats.md §1): the data model and its verification.

use crate::error::{Error, Result};
use crate::header::{self, Header};
use crate::keccak::keccak256;
use crate::rlp;
use crate::trie::NodePool;
use crate::u256::Word;
use alloc::format;
use alloc::vec::Vec;

/// An account as stored in the state trie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Nonce (a quantity; 32-byte word).
    pub nonce: Word,
    /// Balance in wei.
    pub balance: Word,
    /// Root of the account's storage trie.
    pub storage_root: [u8; 32],
    /// keccak256 of the account's code.
    pub code_hash: [u8; 32],
}

/// One claimed storage slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageEntry {
    /// The 32-byte slot key.
    pub slot: [u8; 32],
    /// keccak256(slot), redundant on purpose.
    pub slot_hash: [u8; 32],
    /// Claimed value (0 for an empty slot).
    pub value: Word,
}

/// One account read at one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRead {
    /// Block number (one of the bundle's headers).
    pub block: u64,
    /// The account address.
    pub address: [u8; 20],
    /// keccak256(address), redundant on purpose (see formats.md §1 rule 2).
    pub address_hash: [u8; 32],
    /// The claimed account, `None` if absent.
    pub account: Option<Account>,
    /// Claimed storage slots.
    pub storage: Vec<StorageEntry>,
}

/// A proof bundle v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Chain id (not provable from the bundle; committed to the journal).
    pub chain_id: u64,
    /// Number of the anchor block (`headers[-1]`).
    pub anchor_number: u64,
    /// Hash of the anchor block.
    pub anchor_hash: [u8; 32],
    /// RLP of consecutive headers, ascending, ending at the anchor.
    pub headers: Vec<Vec<u8>>,
    /// Account reads.
    pub accounts: Vec<AccountRead>,
    /// Trie node pool, strictly ascending by keccak256.
    pub nodes: Vec<Vec<u8>>,
}

/// The outcome of verification: headers and reads that are now proven.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Chain id as given.
    pub chain_id: u64,
    /// The header chain (parsed).
    pub headers: Vec<Header>,
    /// The reads, every claim checked against the tries.
    pub accounts: Vec<AccountRead>,
}

impl Verified {
    /// Anchor header (last of the chain).
    pub fn anchor(&self) -> &Header {
        // verify() guarantees at least one header
        &self.headers[self.headers.len() - 1]
    }

    /// First block number covered by the header chain.
    pub fn first_block(&self) -> u64 {
        self.headers[0].number
    }

    /// The verified read of `address` at `block`, if the bundle has one.
    pub fn read(&self, block: u64, address: &[u8; 20]) -> Option<&AccountRead> {
        self.accounts.iter().find(|r| r.block == block && r.address == *address)
    }
}

fn decode_account(value: &[u8]) -> Result<Account> {
    let items = rlp::decode_list(value)?;
    if items.len() != 4 {
        return Err(Error::Trie(format!("account leaf has {} fields, expected 4", items.len())));
    }
    rlp::validate(value)?;
    Ok(Account {
        nonce: items[0].uint256()?,
        balance: items[1].uint256()?,
        storage_root: items[2].bytes32()?,
        code_hash: items[3].bytes32()?,
    })
}

fn decode_storage_value(value: &[u8]) -> Result<Word> {
    let w = rlp::decode(value)?.uint256()?;
    if crate::u256::is_zero(&w) {
        return Err(Error::Trie("storage leaf holds zero (zero slots are deleted)".into()));
    }
    Ok(w)
}

/// Check every rule of formats.md §1. On success, every claim in the bundle is proven.
pub fn verify(b: &Bundle) -> Result<Verified> {
    // Rule 1: headers.
    if b.headers.is_empty() {
        return Err(Error::Bundle("no headers".into()));
    }
    let raws: Vec<&[u8]> = b.headers.iter().map(Vec::as_slice).collect();
    let headers = header::parse_chain(&raws)?;
    let anchor = &headers[headers.len() - 1];
    if anchor.hash != b.anchor_hash {
        return Err(Error::Bundle("anchor.hash is not keccak256(headers[-1])".into()));
    }
    if anchor.number != b.anchor_number {
        return Err(Error::Bundle("anchor.number is not the number of headers[-1]".into()));
    }
    let first = headers[0].number;

    // Rule 4 (order, size) up front; usage is checked after the walks.
    let node_refs: Vec<&[u8]> = b.nodes.iter().map(Vec::as_slice).collect();
    let mut pool = NodePool::new(&node_refs)?;

    // Rules 2 and 3: reads.
    for (i, r) in b.accounts.iter().enumerate() {
        let ctx = |m: &str| Error::Bundle(format!("accounts[{i}]: {m}"));
        if r.block < first || r.block > anchor.number {
            return Err(ctx("block is not one of the bundle's headers"));
        }
        if b.accounts[..i].iter().any(|o| o.block == r.block && o.address == r.address) {
            return Err(ctx("duplicate (block, address) read"));
        }
        if keccak256(&r.address) != r.address_hash {
            return Err(ctx("address_hash is not keccak256(address)"));
        }
        let state_root = headers[(r.block - first) as usize].state_root;
        let walked = pool
            .walk(&state_root, &r.address_hash)
            .map_err(|e| Error::Bundle(format!("accounts[{i}] account proof: {e}")))?;
        let proven = match walked {
            None => None,
            Some(v) => Some(
                decode_account(v).map_err(|e| Error::Bundle(format!("accounts[{i}] account leaf: {e}")))?,
            ),
        };
        if proven != r.account {
            return Err(ctx("claimed account differs from the proven one"));
        }
        for (j, s) in r.storage.iter().enumerate() {
            let sctx = |m: &str| Error::Bundle(format!("accounts[{i}].storage[{j}]: {m}"));
            if r.storage[..j].iter().any(|o| o.slot == s.slot) {
                return Err(sctx("duplicate slot"));
            }
            if keccak256(&s.slot) != s.slot_hash {
                return Err(sctx("slot_hash is not keccak256(slot)"));
            }
            let value = match &proven {
                None => [0u8; 32],
                Some(acc) => match pool
                    .walk(&acc.storage_root, &s.slot_hash)
                    .map_err(|e| Error::Bundle(format!("accounts[{i}].storage[{j}] proof: {e}")))?
                {
                    None => [0u8; 32],
                    Some(v) => decode_storage_value(v)
                        .map_err(|e| Error::Bundle(format!("accounts[{i}].storage[{j}] leaf: {e}")))?,
                },
            };
            if value != s.value {
                return Err(sctx("claimed value differs from the proven one"));
            }
        }
    }
    if let Some(i) = pool.first_unused() {
        return Err(Error::Bundle(format!("nodes[{i}] is not used by any proof")));
    }
    Ok(Verified { chain_id: b.chain_id, headers, accounts: b.accounts.clone() })
}
