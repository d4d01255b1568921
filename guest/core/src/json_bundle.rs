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
    let chain_id = uint(top, "chain_id", "bundle")?;
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
