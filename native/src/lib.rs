//! `coproc_native`: the guest's verification core (`coproc-core`) as a Python extension.
//!
//! Bundle verification here is `coproc_core::bundle::verify`, the very function the zkVM
//! guest proves with; Python's `coprocessor.chain.bundle.verify_bundle` stays the reference and
//! tests keep both equal. The helpers around it (`storage_claims`) only move the hot loops
//! of building a bundle from `eth_getProof` answers out of Python: they parse and hash,
//! they never decide that something is verified.
//!
//! Errors: `InputError` (malformed input, the Python side's user errors) and
//! `VerifyError` (a rule of the format failed), both subclasses of `NativeError`. Their
//! message is the core's `[CODE] format: message`: the code of the rule broken
//! (spec/rule_codes.json), which the Python side reads back.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use coproc_core::bundle::{self, Account, AccountRead, Bundle, StorageEntry, Verified};
use coproc_core::error::Error;
use coproc_core::hex;
use coproc_core::json_bundle;
use coproc_core::keccak::keccak256;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

create_exception!(coproc_native, NativeError, PyException, "Any failure of the native verifier.");
create_exception!(coproc_native, InputError, NativeError, "Malformed input (not a verification failure).");
create_exception!(coproc_native, VerifyError, NativeError, "A rule of bundle v1 does not hold.");

fn to_py(e: Error) -> PyErr {
    match e {
        Error::Input(..) => InputError::new_err(e.to_string()),
        _ => VerifyError::new_err(e.to_string()),
    }
}

fn input(msg: String) -> PyErr {
    InputError::new_err(msg)
}

// ------------------------------------------------------------------ verified values JSON

/// The JSON `coproc verify-bundle` prints (`VerifiedBundle.to_json()` in Python).
fn values_json(b: &Bundle, v: &Verified) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let anchor = v.anchor();
    let blocks: Vec<Value> = v
        .headers
        .iter()
        .filter(|h| h.number == anchor.number || b.accounts.iter().any(|a| a.block == h.number))
        .map(|h| {
            json!({"number": h.number, "hash": hex::encode(&h.hash), "state_root": hex::encode(&h.state_root)})
        })
        .collect();
    let accounts: Vec<Value> = b
        .accounts
        .iter()
        .map(|a| {
            let account = match &a.account {
                None => Value::Null,
                Some(acc) => json!({
                    "nonce": hex::encode_quantity(&acc.nonce),
                    "balance": hex::encode_quantity(&acc.balance),
                    "storage_root": hex::encode(&acc.storage_root),
                    "code_hash": hex::encode(&acc.code_hash),
                }),
            };
            let mut storage = Map::new();
            for s in &a.storage {
                storage.insert(hex::encode(&s.slot), Value::String(hex::encode_quantity(&s.value)));
            }
            json!({"block": a.block, "address": hex::encode(&a.address), "account": account, "storage": storage})
        })
        .collect();
    json!({
        "chain_id": b.chain_id,
        "anchor": {"number": anchor.number, "hash": hex::encode(&anchor.hash)},
        "blocks": blocks,
        "accounts": accounts,
    })
}

/// Parse bundle v1 JSON text, verify it, and return the verified values as JSON text
/// (the shape of Python's `VerifiedBundle.to_json()`). The GIL is released meanwhile.
#[pyfunction]
fn verify_bundle_json<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let out = py
        .detach(|| -> Result<serde_json::Result<Vec<u8>>, Error> {
            let b = json_bundle::parse(data)?;
            let v = bundle::verify(&b)?;
            Ok(serde_json::to_vec(&values_json(&b, &v)))
        })
        .map_err(to_py)?
        .map_err(|e| NativeError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &out))
}

// ------------------------------------------------------------------ verify from parts

fn bytes_n<const N: usize>(item: &Bound<'_, PyAny>, what: &str) -> PyResult<[u8; N]> {
    let b = item.cast::<PyBytes>().map_err(|_| input(format!("{what}: expected bytes")))?;
    b.as_bytes().try_into().map_err(|_| input(format!("{what}: expected {N} bytes")))
}

fn owned_bytes(item: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    let b = item.cast::<PyBytes>().map_err(|_| input(format!("{what}: expected bytes")))?;
    Ok(b.as_bytes().to_vec())
}

fn tuple_of<'py>(item: &Bound<'py, PyAny>, n: usize, what: &str) -> PyResult<Bound<'py, PyTuple>> {
    let t = item.cast::<PyTuple>().map_err(|_| input(format!("{what}: expected a tuple")))?.clone();
    if t.len() != n {
        return Err(input(format!("{what}: expected {n} items")));
    }
    Ok(t)
}

fn read_from_py(item: &Bound<'_, PyAny>, i: usize) -> PyResult<AccountRead> {
    let what = format!("accounts[{i}]");
    let t = tuple_of(item, 5, &what)?;
    let account_obj = t.get_item(3)?;
    let account = if account_obj.is_none() {
        None
    } else {
        let a = tuple_of(&account_obj, 4, &format!("{what}.account"))?;
        Some(Account {
            nonce: bytes_n::<32>(&a.get_item(0)?, "nonce")?,
            balance: bytes_n::<32>(&a.get_item(1)?, "balance")?,
            storage_root: bytes_n::<32>(&a.get_item(2)?, "storage_root")?,
            code_hash: bytes_n::<32>(&a.get_item(3)?, "code_hash")?,
        })
    };
    let storage_obj = t.get_item(4)?;
    let list = storage_obj.cast::<PyList>().map_err(|_| input(format!("{what}.storage: expected a list")))?;
    let mut storage = Vec::with_capacity(list.len());
    for s in list.iter() {
        let st = tuple_of(&s, 3, "storage entry")?;
        storage.push(StorageEntry {
            slot: bytes_n::<32>(&st.get_item(0)?, "slot")?,
            slot_hash: bytes_n::<32>(&st.get_item(1)?, "slot_hash")?,
            value: bytes_n::<32>(&st.get_item(2)?, "value")?,
        });
    }
    Ok(AccountRead {
        block: t.get_item(0)?.extract::<u64>()?,
        address: bytes_n::<20>(&t.get_item(1)?, "address")?,
        address_hash: bytes_n::<32>(&t.get_item(2)?, "address_hash")?,
        account,
        storage,
    })
}

/// Verify a bundle given as parts: `headers` and `nodes` are lists of bytes; each
/// account read is `(block, address, address_hash, account, storage)` with `account`
/// `None` or `(nonce, balance, storage_root, code_hash)` (32-byte big-endian words and
/// hashes) and `storage` a list of `(slot, slot_hash, value)` (32 bytes each).
/// Raises on the first rule that fails; returns nothing (the caller keeps its objects).
#[pyfunction]
fn verify_parts(
    py: Python<'_>,
    chain_id: u64,
    anchor_number: u64,
    anchor_hash: &Bound<'_, PyAny>,
    headers: &Bound<'_, PyList>,
    accounts: &Bound<'_, PyList>,
    nodes: &Bound<'_, PyList>,
) -> PyResult<()> {
    let mut b = Bundle {
        chain_id,
        anchor_number,
        anchor_hash: bytes_n::<32>(anchor_hash, "anchor_hash")?,
        headers: Vec::with_capacity(headers.len()),
        accounts: Vec::with_capacity(accounts.len()),
        nodes: Vec::with_capacity(nodes.len()),
    };
    for h in headers.iter() {
        b.headers.push(owned_bytes(&h, "header")?);
    }
    for n in nodes.iter() {
        b.nodes.push(owned_bytes(&n, "node")?);
    }
    for (i, a) in accounts.iter().enumerate() {
        b.accounts.push(read_from_py(&a, i)?);
    }
    py.detach(|| bundle::verify(&b).map(|_| ())).map_err(to_py)
}

// ------------------------------------------------------------------ building helpers

/// Value of each ASCII hex digit (any case), 0xff for anything else.
const NIBBLE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// `0x`/`0X`-prefixed hex of any case, even length (Python's `hexutil.to_bytes`).
fn loose_hex(s: &str) -> Option<Vec<u8>> {
    let body = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?.as_bytes();
    if body.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 2);
    let mut bad = 0u8;
    for p in body.chunks_exact(2) {
        let (h, l) = (NIBBLE[usize::from(p[0])], NIBBLE[usize::from(p[1])]);
        bad |= h | l;
        out.push((h << 4) | (l & 15));
    }
    // any invalid digit (0xff) sets the high bits; valid ones never do
    (bad < 16).then_some(out)
}

/// Right-aligned hex digits (any case) into a 32-byte word; `None` above 256 bits.
fn word_from_digits(body: &[u8]) -> Option<[u8; 32]> {
    let start = body.iter().position(|&c| c != b'0').unwrap_or(body.len());
    let digits = &body[start..];
    if digits.len() > 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, &c) in digits.iter().rev().enumerate() {
        let n = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        out[31 - i / 2] |= n << (4 * (i % 2));
    }
    Some(out)
}

/// Hashes only the length and the last 48 bytes of what it is fed: proofs repeat the
/// same upper nodes (1 KiB of hex each) in every storage proof, and SipHash over all of
/// them cost more than the rest of parsing. Equality is still checked in full by the set.
#[derive(Default)]
struct TailHasher(u64);

impl Hasher for TailHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let tail = &bytes[bytes.len().saturating_sub(48)..];
        let mut h = self.0 ^ (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for &b in tail {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

fn str_item<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyString>> {
    let v = d.get_item(key)?.ok_or_else(|| input(format!("storage proof without {key:?}")))?;
    Ok(v.cast::<PyString>().map_err(|_| input(format!("storage proof {key:?} is not a string")))?.clone())
}

/// The storage part of `eth_getProof` answers, parsed and hashed in one pass.
///
/// `entries` is a list of `storageProof` entries (dicts). Returns the claims as a list
/// of `(slot, keccak256(slot), value)` (32-byte each; the slot key left-padded as
/// `proofs.parse_slot_key` does, the value a 32-byte big-endian word of the claimed hex
/// quantity), sorted by slot. When `pool` (a dict) is given, every proof node not yet
/// seen is hex-decoded, hashed and stored there as `pool[keccak256(node)] = node`
/// (the one-byte node `0x80` of an empty trie excepted). Anything this strict reader
/// does not understand raises `InputError`; the caller then uses the Python path.
#[pyfunction]
#[pyo3(signature = (entries, pool=None))]
fn storage_claims<'py>(
    py: Python<'py>,
    entries: &Bound<'py, PyList>,
    pool: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyList>> {
    let mut claims: Vec<([u8; 32], [u8; 32])> = Vec::with_capacity(entries.len());
    let mut node_strings: Vec<Bound<'py, PyString>> = Vec::new();
    for e in entries.iter() {
        let d = e.cast::<PyDict>().map_err(|_| input("storage proof entry is not an object".into()))?;
        let key = str_item(d, "key")?;
        let key = key.to_str()?;
        let body = key.strip_prefix("0x").ok_or_else(|| input("storage key is not 0x-hex".into()))?;
        if body.len() > 64 {
            return Err(input("storage key longer than 32 bytes".into()));
        }
        let slot = word_from_digits(body.as_bytes()).ok_or_else(|| input("storage key is not hex".into()))?;
        let value = str_item(d, "value")?;
        let vbody = value
            .to_str()?
            .strip_prefix("0x")
            .ok_or_else(|| input("storage value is not 0x-hex".into()))?;
        let value = word_from_digits(vbody.as_bytes()).ok_or_else(|| input("storage value is not a 256-bit hex quantity".into()))?;
        claims.push((slot, value));
        if pool.is_some() {
            let proof = d.get_item("proof")?.ok_or_else(|| input("storage proof without \"proof\"".into()))?;
            let proof = proof.cast::<PyList>().map_err(|_| input("storage proof is not a list".into()))?;
            for n in proof.iter() {
                node_strings.push(n.cast::<PyString>().map_err(|_| input("proof node is not a string".into()))?.clone());
            }
        }
    }
    claims.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pool) = pool {
        let mut seen: HashSet<&str, BuildHasherDefault<TailHasher>> =
            HashSet::with_capacity_and_hasher(node_strings.len(), BuildHasherDefault::default());
        let mut raw: Vec<Vec<u8>> = Vec::new();
        for s in &node_strings {
            let text = s.to_str()?;
            if seen.insert(text) {
                let node = loose_hex(text).ok_or_else(|| input("proof node is not 0x-hex".into()))?;
                if node != [0x80] {
                    raw.push(node);
                }
            }
        }
        let hashed: Vec<([u8; 32], Vec<u8>)> =
            py.detach(|| raw.into_iter().map(|n| (keccak256(&n), n)).collect());
        for (h, n) in hashed {
            pool.set_item(PyBytes::new(py, &h), PyBytes::new(py, &n))?;
        }
    }
    let out = PyList::empty(py);
    for (slot, value) in claims {
        let t = PyTuple::new(
            py,
            [PyBytes::new(py, &slot), PyBytes::new(py, &keccak256(&slot)), PyBytes::new(py, &value)],
        )?;
        out.append(t)?;
    }
    Ok(out)
}

// ------------------------------------------------------------------ eth_getProof answers

/// A JSON-RPC answer envelope; `jsonrpc` and any other member are ignored, as the Python
/// reader ignores them.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    result: Option<ProofResult<'a>>,
    #[serde(borrow)]
    error: Option<&'a serde_json::value::RawValue>,
}

/// An `eth_getProof` result with exactly the members of EIP-1186 (anything else, and the
/// slow path reads it: the parts of one account are compared member by member).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofResult<'a> {
    #[serde(borrow)]
    address: &'a serde_json::value::RawValue,
    #[serde(borrow, rename = "accountProof")]
    account_proof: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    balance: &'a serde_json::value::RawValue,
    #[serde(borrow, rename = "codeHash")]
    code_hash: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    nonce: &'a serde_json::value::RawValue,
    #[serde(borrow, rename = "storageHash")]
    storage_hash: &'a serde_json::value::RawValue,
    #[serde(borrow, rename = "storageProof")]
    storage_proof: Vec<ProofEntry<'a>>,
}

/// One `storageProof` entry (other members are ignored, as `storage_claims` ignores them).
#[derive(serde::Deserialize)]
struct ProofEntry<'a> {
    #[serde(borrow)]
    key: &'a str,
    #[serde(borrow)]
    value: &'a str,
    #[serde(borrow)]
    proof: Vec<&'a str>,
}

/// What `proof_part` hands back: the account members as JSON text, the claims, and the
/// storage proof nodes (hash, bytes), each node once.
struct Part {
    account: String,
    claims: Vec<([u8; 32], [u8; 32], [u8; 32])>,
    nodes: Vec<([u8; 32], Vec<u8>)>,
}

/// The fast path's reader; `None` for anything but the expected shape.
fn read_part(body: &[u8], request_id: u64, address: &str, slots: &[u8]) -> Option<Part> {
    let env: Envelope<'_> = serde_json::from_slice(body).ok()?;
    if env.id != Some(request_id) || env.error.is_some() {
        return None;
    }
    let r = env.result?;
    let answered: &str = serde_json::from_str(r.address.get()).ok()?;
    if !answered.eq_ignore_ascii_case(address) {
        return None;
    }
    if r.storage_proof.len() * 32 != slots.len() {
        return None;
    }
    let mut claims = Vec::with_capacity(r.storage_proof.len());
    let mut seen: HashSet<&str, BuildHasherDefault<TailHasher>> =
        HashSet::with_capacity_and_hasher(4 * r.storage_proof.len(), BuildHasherDefault::default());
    let mut nodes = Vec::new();
    let mut expected = [0u8; 66];
    expected[..2].copy_from_slice(b"0x");
    for (entry, slot) in r.storage_proof.iter().zip(slots.chunks_exact(32)) {
        // the keys exactly as sent, in the order sent (what nodes do)
        for (i, b) in slot.iter().enumerate() {
            expected[2 + 2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
            expected[3 + 2 * i] = b"0123456789abcdef"[usize::from(b & 15)];
        }
        if entry.key.as_bytes() != expected {
            return None;
        }
        let value = word_from_digits(entry.value.strip_prefix("0x")?.as_bytes())?;
        let slot: [u8; 32] = slot.try_into().ok()?;
        claims.push((slot, keccak256(&slot), value));
        for text in &entry.proof {
            if seen.insert(text) {
                let node = loose_hex(text)?;
                if node != [0x80] {
                    nodes.push((keccak256(&node), node));
                }
            }
        }
    }
    // storage_claims' order (the indexer asks ascending keys: already sorted)
    if !claims.windows(2).all(|w| w[0].0 <= w[1].0) {
        claims.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let account = format!(
        "{{\"address\":{},\"accountProof\":{},\"balance\":{},\"codeHash\":{},\"nonce\":{},\"storageHash\":{}}}",
        r.address.get(),
        r.account_proof.get(),
        r.balance.get(),
        r.code_hash.get(),
        r.nonce.get(),
        r.storage_hash.get()
    );
    Some(Part { account, claims, nodes })
}

/// The fast path for one `eth_getProof` answer: the HTTP body of the JSON-RPC call with
/// id `request_id` for `address` (`0x`-hex) and the storage keys `slots` (32-byte keys
/// concatenated, sent as lowercase `0x`-hex). Parsed, checked and hashed in Rust with
/// the GIL released: the answer must carry that id, no error, a result with exactly the
/// EIP-1186 members for `address` (any case) and one storage proof per key, in the order
/// and the spelling sent, each value a `0x`-hex quantity of at most 256 bits.
///
/// Returns `(account_json, claims)`: the result without `storageProof` as JSON text
/// (member values as the node wrote them), and the claims as `storage_claims` returns
/// them; each storage proof node is hex-decoded, hashed and put in `pool` as there.
/// Returns `None` for anything else, leaving `pool` untouched: the caller then decodes
/// the body with Python's reader, whose checks name the fault. Nothing here is a
/// verification: the claims and nodes only go into a bundle that is verified whole.
#[pyfunction]
fn proof_part<'py>(
    py: Python<'py>,
    body: &[u8],
    request_id: u64,
    address: &str,
    slots: &[u8],
    pool: &Bound<'py, PyDict>,
) -> PyResult<Option<(Bound<'py, PyBytes>, Bound<'py, PyList>)>> {
    let Some(part) = py.detach(|| read_part(body, request_id, address, slots)) else {
        return Ok(None);
    };
    for (h, n) in &part.nodes {
        pool.set_item(PyBytes::new(py, h), PyBytes::new(py, n))?;
    }
    let out = PyList::empty(py);
    for (slot, key, value) in &part.claims {
        out.append(PyTuple::new(py, [PyBytes::new(py, slot), PyBytes::new(py, key), PyBytes::new(py, value)])?)?;
    }
    Ok(Some((PyBytes::new(py, part.account.as_bytes()), out)))
}

/// Parse bundle v2 JSON text (docs/formats.md §1b), verify it with the core's
/// `bundle_v2::verify` (the guest's), and return the verified values as JSON text (the
/// shape of `verify_bundle_json`'s, plus `hops`).
#[pyfunction]
fn verify_bundle_v2_json<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let out = py
        .detach(|| -> Result<serde_json::Result<Vec<u8>>, Error> {
            let b = coproc_core::bundle_v2::parse_json(data)?;
            let v = coproc_core::bundle_v2::verify(&b)?;
            let mut values = values_json(&b.base, &v);
            values["hops"] = serde_json::json!(b.hops.iter().map(|(f, t)| [f, t]).collect::<Vec<_>>());
            Ok(serde_json::to_vec(&values))
        })
        .map_err(to_py)?
        .map_err(|e| NativeError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &out))
}

/// One spec v2 series aggregate (`coproc_core::series::aggregate`, the guest's).
#[pyfunction]
fn series_aggregate(op: &str, samples: Vec<i32>, threshold: i32) -> PyResult<i32> {
    coproc_core::series::aggregate(op, &samples, threshold).map_err(to_py)
}

/// keccak256 of each bytes object of a list (the store's node keys).
#[pyfunction]
fn keccak_many<'py>(py: Python<'py>, items: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyList>> {
    let data: Vec<Vec<u8>> = items.iter().map(|i| owned_bytes(&i, "item")).collect::<PyResult<_>>()?;
    let hashes: Vec<[u8; 32]> = py.detach(|| data.iter().map(|d| keccak256(d)).collect());
    PyList::new(py, hashes.iter().map(|h| PyBytes::new(py, h)))
}

#[pymodule]
fn coproc_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_bundle_json, m)?)?;
    m.add_function(wrap_pyfunction!(verify_bundle_v2_json, m)?)?;
    m.add_function(wrap_pyfunction!(series_aggregate, m)?)?;
    m.add_function(wrap_pyfunction!(verify_parts, m)?)?;
    m.add_function(wrap_pyfunction!(storage_claims, m)?)?;
    m.add_function(wrap_pyfunction!(keccak_many, m)?)?;
    m.add_function(wrap_pyfunction!(proof_part, m)?)?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("VerifyError", m.py().get_type::<VerifyError>())?;
    Ok(())
}
