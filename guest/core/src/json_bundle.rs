//! Bundle v1 JSON (the file format) to [`Bundle`]. Strict: known keys only, the hex
//! conventions of formats.md, every required field present.

use crate::bundle::{Account, AccountRead, Bundle, StorageEntry};
use crate::error::{Error, Result, Rule};
use crate::hex;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::{Map, Value};

fn obj<'a>(v: &'a Value, what: &str, keys: &[&str]) -> Result<&'a Map<String, Value>> {
    let m = v.as_object().ok_or_else(|| Error::Input(Rule::BundleTypes, format!("{what}: expected an object")))?;
    for k in m.keys() {
        if !keys.contains(&k.as_str()) {
            return Err(Error::Input(Rule::BundleKeys, format!("{what}: unknown key {k:?}")));
        }
    }
    for k in keys {
        if !m.contains_key(*k) {
            return Err(Error::Input(Rule::BundleKeys, format!("{what}: missing key {k:?}")));
        }
    }
    Ok(m)
}

fn string<'a>(m: &'a Map<String, Value>, k: &str, what: &str) -> Result<&'a str> {
    m[k].as_str().ok_or_else(|| Error::Input(Rule::BundleTypes, format!("{what}.{k}: expected a string")))
}

fn uint(m: &Map<String, Value>, k: &str, what: &str) -> Result<u64> {
    m[k].as_u64().ok_or_else(|| Error::Input(Rule::BundleTypes, format!("{what}.{k}: expected a non-negative integer")))
}

/// `chain_id`: a non-negative integer (B004) below 2^64, the journal's `uint64 chainId`
/// (rule 5, B006). serde_json keeps an integer past u64 as a float; a float of 2^64 or
/// more is a whole number, so it is such an integer (bundle v1 and v2 read it here).
fn chain_id(top: &Map<String, Value>) -> Result<u64> {
    let v = &top["chain_id"];
    if v.is_f64() && v.as_f64().is_some_and(|f| f >= 18_446_744_073_709_551_616.0) {
        return Err(Error::Input(Rule::BundleChainId, "bundle.chain_id: must be below 2^64".into()));
    }
    uint(top, "chain_id", "bundle")
}

fn array<'a>(m: &'a Map<String, Value>, k: &str, what: &str) -> Result<&'a Vec<Value>> {
    m[k].as_array().ok_or_else(|| Error::Input(Rule::BundleTypes, format!("{what}.{k}: expected an array")))
}

/// Parse a bundle from its JSON text.
pub fn parse(text: &[u8]) -> Result<Bundle> {
    if let Some(problem) = crate::json::structure_problem(text) {
        return Err(Error::Input(Rule::BundleKeys, format!("bundle: {problem}")));
    }
    let v: Value =
        serde_json::from_slice(text).map_err(|e| Error::Input(Rule::BundleTypes, format!("bundle is not JSON: {e}")))?;
    from_value(&v)
}

/// Parse a bundle from a JSON value.
pub fn from_value(v: &Value) -> Result<Bundle> {
    let top = obj(v, "bundle", &["format", "version", "chain_id", "anchor", "headers", "accounts", "nodes"])?;
    if top["format"] != "coproc-bundle" {
        return Err(Error::Input(Rule::BundleFormat, "bundle: format is not \"coproc-bundle\"".into()));
    }
    if top["version"].as_u64() != Some(1) {
        return Err(Error::Input(Rule::BundleVersion, "bundle: unsupported version (this reader knows version 1)".into()));
    }
    let chain_id = chain_id(top)?;
    let anchor = obj(&top["anchor"], "bundle.anchor", &["number", "hash"])?;
    let anchor_number = uint(anchor, "number", "anchor")?;
    let anchor_hash = hex::bytes_n::<32>(string(anchor, "hash", "anchor")?, "anchor.hash")?;
    let mut headers = Vec::new();
    for (i, h) in array(top, "headers", "bundle")?.iter().enumerate() {
        let s = h.as_str().ok_or_else(|| Error::Input(Rule::BundleTypes, format!("headers[{i}]: expected a string")))?;
        headers.push(hex::data(s, &format!("headers[{i}]"))?);
    }
    let mut nodes = Vec::new();
    for (i, h) in array(top, "nodes", "bundle")?.iter().enumerate() {
        let s = h.as_str().ok_or_else(|| Error::Input(Rule::BundleTypes, format!("nodes[{i}]: expected a string")))?;
        nodes.push(hex::data(s, &format!("nodes[{i}]"))?);
    }
    let mut accounts = Vec::new();
    for (i, a) in array(top, "accounts", "bundle")?.iter().enumerate() {
        let w = format!("accounts[{i}]");
        let m = obj(a, &w, &["block", "address", "address_hash", "account", "storage"])?;
        let account = if m["account"].is_null() {
            None
        } else {
            let am = obj(&m["account"], &format!("{w}.account"), &["nonce", "balance", "storage_root", "code_hash"])?;
            Some(Account {
                nonce: hex::quantity(string(am, "nonce", &w)?, &format!("{w}.account.nonce"))?,
                balance: hex::quantity(string(am, "balance", &w)?, &format!("{w}.account.balance"))?,
                storage_root: hex::bytes_n::<32>(string(am, "storage_root", &w)?, &format!("{w}.account.storage_root"))?,
                code_hash: hex::bytes_n::<32>(string(am, "code_hash", &w)?, &format!("{w}.account.code_hash"))?,
            })
        };
        let mut storage = Vec::new();
        for (j, s) in array(m, "storage", &w)?.iter().enumerate() {
            let sw = format!("{w}.storage[{j}]");
            let sm = obj(s, &sw, &["slot", "slot_hash", "value"])?;
            storage.push(StorageEntry {
                slot: hex::bytes_n::<32>(string(sm, "slot", &sw)?, &format!("{sw}.slot"))?,
                slot_hash: hex::bytes_n::<32>(string(sm, "slot_hash", &sw)?, &format!("{sw}.slot_hash"))?,
                value: hex::quantity(string(sm, "value", &sw)?, &format!("{sw}.value"))?,
            });
        }
        accounts.push(AccountRead {
            block: uint(m, "block", &w)?,
            address: hex::bytes_n::<20>(string(m, "address", &w)?, &format!("{w}.address"))?,
            address_hash: hex::bytes_n::<32>(string(m, "address_hash", &w)?, &format!("{w}.address_hash"))?,
            account,
            storage,
        });
    }
    Ok(Bundle { chain_id, anchor_number, anchor_hash, headers, accounts, nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(chain_id: &str) -> String {
        format!(
            "{{\"format\":\"coproc-bundle\",\"version\":1,\"chain_id\":{chain_id},\
             \"anchor\":{{\"number\":0,\"hash\":\"0x{}\"}},\"headers\":[],\"accounts\":[],\"nodes\":[]}}",
            "00".repeat(32)
        )
    }

    fn code(chain_id: &str) -> core::result::Result<u64, &'static str> {
        parse(bundle(chain_id).as_bytes()).map(|b| b.chain_id).map_err(|e| e.rule().code())
    }

    #[test]
    fn chain_id_is_an_integer_below_2_64() {
        assert_eq!(code("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(code("0"), Ok(0));
        // an integer of 2^64 or more breaks rule 5 (B006), as in the Python reader
        assert_eq!(code("18446744073709551616"), Err("B006"));
        assert_eq!(code("18446744073709551617"), Err("B006"));
        assert_eq!(code("340282366920938463463374607431768211456"), Err("B006"));
        // what is not a non-negative integer keeps B004
        for bad in ["-1", "1.5", "\"1\"", "null", "-18446744073709551616", "true"] {
            assert_eq!(code(bad), Err("B004"), "{bad}");
        }
        // bundle v2 reads its chain_id through this reader
        let v2 = |id: &str| {
            let text = bundle(id).replace("\"version\":1", "\"version\":2,\"hops\":[]");
            crate::bundle_v2::parse_json(text.as_bytes()).map(|b| b.base.chain_id).map_err(|e| e.rule().code())
        };
        assert_eq!(v2("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(v2("18446744073709551616"), Err("B006"));
        assert_eq!(v2("1.5"), Err("B004"));
    }
}
