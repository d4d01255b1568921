//! Helpers shared by the vector tests: reading the repository's chain vectors
//! (`tests/vectors/chain`, the same files the Python tests read), an independent RLP encoder, header RLP from JSON fields, and
//! bundle JSON built from real proofs following docs/formats.md §1.
#![allow(dead_code)]

use coproc_core::keccak::keccak256;
use serde_json::{json, Value};
use std::path::PathBuf;

pub fn vectors_dir() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // guest/core -> repo root -> tests/vectors/chain
    let p = here.join("../../tests/vectors/chain");
    assert!(p.is_dir(), "chain vectors not found at {}", p.display());
    p
}

pub fn load(rel: &str) -> Value {
    let p = vectors_dir().join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn unhex(s: &str) -> Vec<u8> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let s = if s.len() % 2 == 1 { format!("0{s}") } else { s.to_owned() };
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

pub fn hx(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Minimal big-endian bytes of a quantity string.
pub fn qbytes(s: &str) -> Vec<u8> {
    let b = unhex(s);
    let skip = b.iter().take_while(|&&x| x == 0).count();
    b[skip..].to_vec()
}

pub fn quantity_of(b: &[u8]) -> String {
    let s: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let t = s.trim_start_matches('0');
    if t.is_empty() {
        "0x0".into()
    } else {
        format!("0x{t}")
    }
}

// --- an RLP encoder written for the tests (independent of the decoder under test) ---

pub fn enc_len(base: u8, len: usize) -> Vec<u8> {
    if len < 56 {
        vec![base + len as u8]
    } else {
        let be: Vec<u8> = (len as u64).to_be_bytes().into_iter().skip_while(|&x| x == 0).collect();
        let mut v = vec![base + 55 + be.len() as u8];
        v.extend(be);
        v
    }
}

pub fn enc_bytes(b: &[u8]) -> Vec<u8> {
    if b.len() == 1 && b[0] < 0x80 {
        return b.to_vec();
    }
    let mut v = enc_len(0x80, b.len());
    v.extend_from_slice(b);
    v
}

pub fn enc_list(items: &[Vec<u8>]) -> Vec<u8> {
    let payload: Vec<u8> = items.concat();
    let mut v = enc_len(0xc0, payload.len());
    v.extend(payload);
    v
}

/// Header RLP from an eth_getBlockByNumber object (field list by fork, as the README says).
pub fn header_rlp(h: &Value) -> Vec<u8> {
    let q = |k: &str| enc_bytes(&qbytes(h[k].as_str().unwrap()));
    let d = |k: &str| enc_bytes(&unhex(h[k].as_str().unwrap()));
    let mut f = vec![
        d("parentHash"),
        d("sha3Uncles"),
        d("miner"),
        d("stateRoot"),
        d("transactionsRoot"),
        d("receiptsRoot"),
        d("logsBloom"),
        q("difficulty"),
        q("number"),
        q("gasLimit"),
        q("gasUsed"),
        q("timestamp"),
        d("extraData"),
        d("mixHash"),
        d("nonce"),
    ];
    for (k, is_q) in [
        ("baseFeePerGas", true),
        ("withdrawalsRoot", false),
        ("blobGasUsed", true),
        ("excessBlobGas", true),
        ("parentBeaconBlockRoot", false),
        ("requestsHash", false),
    ] {
        if h.get(k).is_some_and(|v| !v.is_null()) {
            f.push(if is_q { q(k) } else { d(k) });
        }
    }
    enc_list(&f)
}

/// The account and storage entries of a proof file as a bundle read, plus its nodes.
pub fn read_from_proof(p: &Value, block: u64) -> (Value, Vec<Vec<u8>>) {
    let pr = &p["proof"];
    let address = unhex(pr["address"].as_str().unwrap());
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    for n in pr["accountProof"].as_array().unwrap() {
        nodes.push(unhex(n.as_str().unwrap()));
    }
    let storage_hash = pr["storageHash"].as_str().unwrap().to_lowercase();
    let code_hash = pr["codeHash"].as_str().unwrap().to_lowercase();
    let nonce = quantity_of(&qbytes(pr["nonce"].as_str().unwrap()));
    let balance = quantity_of(&qbytes(pr["balance"].as_str().unwrap()));
    let empty_root = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421";
    let empty_code = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
    let zero = "0x0000000000000000000000000000000000000000000000000000000000000000";
    // Some clients answer an absent account with zero hashes instead of the empty ones.
    let absent = nonce == "0x0"
        && balance == "0x0"
        && (storage_hash == empty_root || storage_hash == zero)
        && (code_hash == empty_code || code_hash == zero);
    let mut storage = Vec::new();
    for s in pr["storageProof"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let key = unhex(s["key"].as_str().unwrap());
        let mut slot = vec![0u8; 32 - key.len()];
        slot.extend(key);
        for n in s["proof"].as_array().unwrap() {
            nodes.push(unhex(n.as_str().unwrap()));
        }
        storage.push(json!({
            "slot": hx(&slot),
            "slot_hash": hx(&keccak256(&slot)),
            "value": quantity_of(&qbytes(s["value"].as_str().unwrap())),
        }));
    }
    let account = if absent {
        Value::Null
    } else {
        json!({"nonce": nonce, "balance": balance, "storage_root": storage_hash, "code_hash": code_hash})
    };
    let read = json!({
        "block": block,
        "address": hx(&address),
        "address_hash": hx(&keccak256(&address)),
        "account": account,
        "storage": storage,
    });
    (read, nodes)
}

/// The node pool of formats.md §1: nodes of 32+ bytes, unique, ascending by keccak256.
pub fn pool(nodes: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut keyed: Vec<([u8; 32], Vec<u8>)> =
        nodes.into_iter().filter(|n| n.len() >= 32).map(|n| (keccak256(&n), n)).collect();
    keyed.sort();
    keyed.dedup();
    keyed.into_iter().map(|(_, n)| n).collect()
}

/// A bundle JSON from header files (consecutive, ascending) and (proof file, block) pairs.
pub fn bundle(header_files: &[&str], proofs: &[(&str, u64)]) -> Value {
    let headers: Vec<Value> = header_files.iter().map(|f| load(&format!("headers/{f}"))).collect();
    let last = headers.last().unwrap();
    let mut reads = Vec::new();
    let mut nodes = Vec::new();
    for (f, block) in proofs {
        let (r, n) = read_from_proof(&load(&format!("proofs/{f}")), *block);
        reads.push(r);
        nodes.extend(n);
    }
    json!({
        "format": "coproc-bundle",
        "version": 1,
        "chain_id": 1,
        "anchor": {
            "number": u64::from_str_radix(last["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap(),
            "hash": last["hash"].as_str().unwrap().to_lowercase(),
        },
        "headers": headers.iter().map(|h| hx(&header_rlp(h))).collect::<Vec<_>>(),
        "accounts": reads,
        "nodes": pool(nodes).iter().map(|n| hx(n)).collect::<Vec<_>>(),
    })
}

pub fn verify_json(v: &Value) -> Result<coproc_core::bundle::Verified, coproc_core::Error> {
    let b = coproc_core::json_bundle::from_value(v)?;
    coproc_core::bundle::verify(&b)
}
