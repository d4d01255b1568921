//! Proof bundle v2 (docs/formats.md §1b): reads at any blocks, tied to one anchor by
//! header links and EIP-2935 hops. Bit-equal to `coprocessor/chain/bundle_v2.py`: the
//! same rules, checked in the same order, so both reject a bundle with the same rule.
//!
//! A v2 bundle is a v1 [`Bundle`] whose headers are strictly ascending (not necessarily
//! consecutive) plus `hops`; the verified result is the v1 [`Verified`] (headers
//! ascending, every read proven), which the feature code reads as before.

use crate::bundle::{decode_account, decode_storage_value, AccountRead, Bundle, Verified};
use crate::error::{Error, Result, Rule};
use crate::header::{self, Header};
use crate::history::{self, HISTORY_ADDRESS};
use crate::keccak::keccak256;
use crate::trie::NodePool;
use alloc::format;
use alloc::vec::Vec;

/// A bundle v2: the v1 parts and the hops `(from, to)`, strictly ascending by `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleV2 {
    /// Headers, reads and nodes (headers strictly ascending, the anchor last).
    pub base: Bundle,
    /// `(from, to)` hops.
    pub hops: Vec<(u64, u64)>,
}

fn find<'h>(headers: &'h [Header], number: u64) -> Option<&'h Header> {
    headers.binary_search_by_key(&number, |h| h.number).ok().map(|i| &headers[i])
}

/// Rule 1b.1: decode every header; numbers strictly ascending; the last is the anchor.
fn parse_headers(b: &Bundle) -> Result<Vec<Header>> {
    if b.headers.is_empty() {
        return Err(Error::Bundle(Rule::BundleHeaders, "no headers".into()));
    }
    let mut out: Vec<Header> = Vec::with_capacity(b.headers.len());
    for (i, raw) in b.headers.iter().enumerate() {
        let h = header::parse(raw).map_err(|e| e.within(Error::Header, &format!("headers[{i}]")))?;
        if let Some(prev) = out.last() {
            if h.number <= prev.number {
                return Err(Error::Bundle(
                    Rule::V2HeadersAscending,
                    format!("headers[{i}]: block {} after block {} (numbers must be strictly ascending)", h.number, prev.number),
                ));
            }
        }
        out.push(h);
    }
    let anchor = &out[out.len() - 1];
    if anchor.hash != b.anchor_hash {
        return Err(Error::Bundle(Rule::AnchorHash, "anchor.hash is not keccak256(headers[-1])".into()));
    }
    if anchor.number != b.anchor_number {
        return Err(Error::Bundle(Rule::AnchorNumber, "anchor.number is not the number of headers[-1]".into()));
    }
    Ok(out)
}

fn history_read(b: &Bundle, source: u64, target: u64) -> Result<&AccountRead> {
    let err = |m: &str| Error::Bundle(Rule::HopAccount, format!("hop {source} -> {target}: {m}"));
    let read = b
        .accounts
        .iter()
        .find(|r| r.block == source && r.address == HISTORY_ADDRESS)
        .ok_or_else(|| err("no read of the history contract at the source"))?;
    if read.account.is_none() {
        return Err(err("the history contract is absent at the source"));
    }
    Ok(read)
}

/// Rules 1b.2: one hop, on the claimed values (the reads are proven afterwards).
fn check_hop(b: &Bundle, headers: &[Header], source: u64, target: u64) -> Result<()> {
    let target_header = match (find(headers, source), find(headers, target)) {
        (Some(_), Some(t)) => t,
        _ => {
            return Err(Error::Bundle(
                Rule::HopHeader,
                format!("hop {source} -> {target}: a block of the hop has no header"),
            ))
        }
    };
    if find(headers, target.wrapping_add(1)).is_some() && target != u64::MAX {
        return Err(Error::Bundle(
            Rule::HopTied,
            format!("hop {source} -> {target}: the target's child header is in the bundle (it ties the target)"),
        ));
    }
    history::check_range(source, target)?;
    history::check_activation(source, target, b.chain_id)?;
    let read = history_read(b, source, target)?;
    let slot = history::history_slot(target);
    let entry = read.storage.iter().find(|s| s.slot == slot).ok_or_else(|| {
        Error::Bundle(Rule::HopSlot, format!("hop {source} -> {target}: the read at the source lacks the target's slot"))
    })?;
    history::check_value(source, target, &entry.value, &target_header.hash)
}

/// Rule 1b.3: every header but the anchor is tied by its child or by a hop (newest first).
fn check_tied(headers: &[Header], hops: &[(u64, u64)]) -> Result<()> {
    for i in (0..headers.len() - 1).rev() {
        let h = &headers[i];
        let next = &headers[i + 1];
        if next.number == h.number + 1 {
            if next.parent_hash != h.hash {
                return Err(Error::Header(
                    Rule::ChainParentHash,
                    format!("block {}'s parentHash is not the hash of block {}", next.number, h.number),
                ));
            }
        } else if hops.binary_search_by_key(&h.number, |&(_, t)| t).is_err() {
            return Err(Error::Bundle(
                Rule::HopTied,
                format!("block {}: tied to the anchor neither by its child's header nor by a hop", h.number),
            ));
        }
    }
    Ok(())
}

/// The v1 rules 2-3 on every read against its block's state root, and rule 4.
fn check_reads(b: &Bundle, headers: &[Header]) -> Result<()> {
    let node_refs: Vec<&[u8]> = b.nodes.iter().map(Vec::as_slice).collect();
    let mut pool = NodePool::new(&node_refs)?;
    for (i, r) in b.accounts.iter().enumerate() {
        let ctx = |rule: Rule, m: &str| Error::Bundle(rule, format!("accounts[{i}]: {m}"));
        let header = find(headers, r.block).ok_or_else(|| ctx(Rule::ReadBlock, "block is not one of the bundle's headers"))?;
        if b.accounts[..i].iter().any(|o| o.block == r.block && o.address == r.address) {
            return Err(ctx(Rule::ReadUnique, "duplicate (block, address) read"));
        }
        if keccak256(&r.address) != r.address_hash {
            return Err(ctx(Rule::AddressHash, "address_hash is not keccak256(address)"));
        }
        let walked = pool
            .walk(&header.state_root, &r.address_hash)
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
        for (j, s) in r.storage.iter().enumerate() {
            let sctx = |rule: Rule, m: &str| Error::Bundle(rule, format!("accounts[{i}].storage[{j}]: {m}"));
            if r.storage[..j].iter().any(|o| o.slot == s.slot) {
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
    Ok(())
}

/// Check every rule of formats.md §1b. On success every header is tied to the anchor
/// and every read is proven.
pub fn verify(b: &BundleV2) -> Result<Verified> {
    verify_parts(&b.base, &b.hops)
}

/// [`verify`] of a bundle's v1 parts and its hops (no copy of the bundle).
pub fn verify_parts(base: &Bundle, hops: &[(u64, u64)]) -> Result<Verified> {
    for (i, w) in hops.windows(2).enumerate() {
        if w[1].1 <= w[0].1 {
            return Err(Error::Input(Rule::V2HopsShape, format!("hops[{}]: hops are not strictly ascending by 'to'", i + 1)));
        }
    }
    let headers = parse_headers(base)?;
    for &(source, target) in hops {
        check_hop(base, &headers, source, target)?;
    }
    check_tied(&headers, hops)?;
    check_reads(base, &headers)?;
    Ok(Verified { chain_id: base.chain_id, headers, accounts: base.accounts.clone() })
}

/// Bundle v2 JSON (the file format) to [`BundleV2`]: the v1 parts by the v1 reader
/// (`json_bundle`), then `hops` (exactly `from` and `to`, non-negative integers).
#[cfg(feature = "std")]
pub fn parse_json(text: &[u8]) -> Result<BundleV2> {
    let v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| Error::Input(Rule::BundleTypes, format!("bundle is not JSON: {e}")))?;
    from_value(v)
}

/// [`parse_json`] of a JSON value.
#[cfg(feature = "std")]
pub fn from_value(mut v: serde_json::Value) -> Result<BundleV2> {
    use serde_json::Value;
    let input = |rule: Rule, m: &str| Error::Input(rule, alloc::string::String::from(m));
    let top = v.as_object_mut().ok_or_else(|| input(Rule::BundleTypes, "bundle: expected an object"))?;
    if top.get("version").and_then(Value::as_u64) != Some(2) || top.get("version").is_some_and(Value::is_f64) {
        return Err(input(Rule::BundleVersion, "bundle: this reader knows version 2"));
    }
    let hops_value = top.remove("hops").ok_or_else(|| input(Rule::BundleKeys, "bundle: missing key \"hops\""))?;
    top.insert("version".into(), Value::from(1u64));
    let base = crate::json_bundle::from_value(&v)?;
    let list = hops_value.as_array().ok_or_else(|| input(Rule::V2HopsShape, "bundle.hops: expected an array"))?;
    let mut hops = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let bad = || Error::Input(Rule::V2HopsShape, format!("hops[{i}]: expected {{\"from\": N, \"to\": N}}"));
        let m = item.as_object().ok_or_else(bad)?;
        if m.len() != 2 {
            return Err(bad());
        }
        let from = m.get("from").and_then(Value::as_u64).ok_or_else(bad)?;
        let to = m.get("to").and_then(Value::as_u64).ok_or_else(bad)?;
        hops.push((from, to));
    }
    Ok(BundleV2 { base, hops })
}
