//! Proof bundle v1 (docs/formats.md §1): the data model and its verification.

use crate::error::{Error, Result, Rule};
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

pub(crate) fn decode_account(value: &[u8]) -> Result<Account> {
    let items = rlp::decode_list(value)?;
    if items.len() != 4 {
        return Err(Error::Trie(Rule::AccountLeaf, format!("account leaf has {} fields, expected 4", items.len())));
    }
    rlp::validate(value)?;
    let field = |e: Error| e.recode(Rule::AccountLeaf);
    Ok(Account {
        nonce: items[0].uint256().map_err(field)?,
        balance: items[1].uint256().map_err(field)?,
        storage_root: items[2].bytes32().map_err(field)?,
        code_hash: items[3].bytes32().map_err(field)?,
    })
}

pub(crate) fn decode_storage_value(value: &[u8]) -> Result<Word> {
    let w = rlp::decode(value)?.uint256().map_err(|e| e.recode(Rule::StorageLeaf))?;
    if crate::u256::is_zero(&w) {
        return Err(Error::Trie(Rule::StorageLeaf, "storage leaf holds zero (zero slots are deleted)".into()));
    }
    Ok(w)
}

/// The smallest `j` such that `keys[j]` equals an earlier key: where a scan that
/// remembers every key seen so far would stop. Short lists are scanned (the guest's
/// usual case, no allocation); longer ones sorted by (key, index), O(n log n) instead of
/// the O(n²) scan (1,000 slots were half of the host's verification time).
fn first_repeat<K: Ord>(keys: &[K]) -> Option<usize> {
    if keys.len() <= 16 {
        return (1..keys.len()).find(|&j| keys[..j].contains(&keys[j]));
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]).then(a.cmp(&b)));
    // in a run of equal keys the indices ascend: each pair's second is a repeat, and
    // the run's smallest repeat is the second of its first pair
    order.windows(2).filter(|w| keys[w[0]] == keys[w[1]]).map(|w| w[1]).min()
}

/// Check every rule of formats.md §1. On success, every claim in the bundle is proven.
pub fn verify(b: &Bundle) -> Result<Verified> {
    // Rule 1: headers.
    if b.headers.is_empty() {
        return Err(Error::Bundle(Rule::BundleHeaders, "no headers".into()));
    }
    let raws: Vec<&[u8]> = b.headers.iter().map(Vec::as_slice).collect();
    let headers = header::parse_chain(&raws)?;
    let anchor = &headers[headers.len() - 1];
    if anchor.hash != b.anchor_hash {
        return Err(Error::Bundle(Rule::AnchorHash, "anchor.hash is not keccak256(headers[-1])".into()));
    }
    if anchor.number != b.anchor_number {
        return Err(Error::Bundle(Rule::AnchorNumber, "anchor.number is not the number of headers[-1]".into()));
    }
    let first = headers[0].number;

    // Rule 4 (order, size) up front; usage is checked after the walks.
    let node_refs: Vec<&[u8]> = b.nodes.iter().map(Vec::as_slice).collect();
    let mut pool = NodePool::new(&node_refs)?;

    // Rules 2 and 3: reads.
    let read_keys: Vec<(u64, &[u8; 20])> = b.accounts.iter().map(|r| (r.block, &r.address)).collect();
    let repeated_read = first_repeat(&read_keys);
    for (i, r) in b.accounts.iter().enumerate() {
        let ctx = |rule: Rule, m: &str| Error::Bundle(rule, format!("accounts[{i}]: {m}"));
        if r.block < first || r.block > anchor.number {
            return Err(ctx(Rule::ReadBlock, "block is not one of the bundle's headers"));
        }
        if repeated_read == Some(i) {
            return Err(ctx(Rule::ReadUnique, "duplicate (block, address) read"));
        }
        if keccak256(&r.address) != r.address_hash {
            return Err(ctx(Rule::AddressHash, "address_hash is not keccak256(address)"));
        }
        let state_root = headers[(r.block - first) as usize].state_root;
        let walked = pool
            .walk(&state_root, &r.address_hash)
            .map_err(|e| e.within(Error::Bundle, &format!("accounts[{i}] account proof")))?;
        let proven = match walked {
            None => None,
            Some(v) => Some(
                decode_account(v).map_err(|e| e.within(Error::Bundle, &format!("accounts[{i}] account leaf")))?,
            ),
        };
        if proven != r.account {
            return Err(ctx(Rule::AccountProven, "claimed account differs from the proven one"));
        }
        let slots: Vec<&[u8; 32]> = r.storage.iter().map(|s| &s.slot).collect();
        let repeated_slot = first_repeat(&slots);
        for (j, s) in r.storage.iter().enumerate() {
            let sctx = |rule: Rule, m: &str| Error::Bundle(rule, format!("accounts[{i}].storage[{j}]: {m}"));
            if repeated_slot == Some(j) {
                return Err(sctx(Rule::SlotUnique, "duplicate slot"));
            }
            if keccak256(&s.slot) != s.slot_hash {
                return Err(sctx(Rule::SlotHash, "slot_hash is not keccak256(slot)"));
            }
            let value = match &proven {
                None => [0u8; 32],
                Some(acc) => match pool
                    .walk(&acc.storage_root, &s.slot_hash)
                    .map_err(|e| e.within(Error::Bundle, &format!("accounts[{i}].storage[{j}] proof")))?
                {
                    None => [0u8; 32],
                    Some(v) => decode_storage_value(v)
                        .map_err(|e| e.within(Error::Bundle, &format!("accounts[{i}].storage[{j}] leaf")))?,
                },
            };
            if value != s.value {
                return Err(sctx(Rule::StorageProven, "claimed value differs from the proven one"));
            }
        }
    }
    if let Some(i) = pool.first_unused() {
        return Err(Error::Bundle(Rule::NodesUsed, format!("nodes[{i}] is not used by any proof")));
    }
    Ok(Verified { chain_id: b.chain_id, headers, accounts: b.accounts.clone() })
}

#[cfg(test)]
mod tests {
    use super::first_repeat;
    use alloc::vec::Vec;

    fn naive(keys: &[u8]) -> Option<usize> {
        (1..keys.len()).find(|&j| keys[..j].contains(&keys[j]))
    }

    #[test]
    fn first_repeat_is_the_scan() {
        // every length on both sides of the scan/sort switch, keys from a small
        // alphabet (many repeats) and a large one (few), xorshift-generated
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..80usize {
            for alphabet in [3u64, 40, 251] {
                for _ in 0..40 {
                    let keys: Vec<u8> = (0..len)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            (x % alphabet) as u8
                        })
                        .collect();
                    assert_eq!(first_repeat(&keys), naive(&keys), "{keys:?}");
                }
            }
        }
        let distinct: Vec<u8> = (0..=255).collect();
        assert_eq!(first_repeat(&distinct), None);
        let mut late = distinct.clone();
        late.push(7);
        assert_eq!(first_repeat(&late), Some(256));
    }
}
