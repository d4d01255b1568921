//! Bundle v1 verification on bundles built from real mainnet headers and proofs
//! (docs/formats.md §1), the corruption suite, and whole requests through
//! `request::run` exactly as the guest runs them.

mod common;

use common::*;
use coproc_core::input::GuestInput;
use coproc_core::keccak::keccak256;
use coproc_core::{json_bundle, model, request, spec};
use serde_json::{json, Value};

fn cancun() -> Value {
    bundle(
        &["cancun_21925176.json"],
        &[("cancun_21925176_deposit_contract_storage.json", 21925176), ("cancun_21925176_miner_eoa.json", 21925176)],
    )
}

fn shanghai() -> Value {
    bundle(
        &["shanghai_17463226.json"],
        &[
            ("shanghai_17463226_0x00000000.json", 17463226),
            ("shanghai_17463226_0x690b9a9e.json", 17463226),
            ("shanghai_17463226_0xade2a9c8.json", 17463226),
        ],
    )
}

fn prague_weth() -> Value {
    bundle(&["prague_23223655.json"], &[("prague_23223655_weth_storage.json", 23223655)])
}

/// Two blocks: reads at 499999 and at the anchor 500000 (ancestry).
fn frontier_pair() -> Value {
    bundle(
        &["frontier_499999.json", "frontier_500000.json"],
        &[("frontier_499999_miner_0x580992b5.json", 499999), ("frontier_500000_miner_0x580992b5.json", 500000)],
    )
}

fn all() -> Vec<(&'static str, Value)> {
    vec![
        ("cancun", cancun()),
        ("shanghai", shanghai()),
        ("prague_weth", prague_weth()),
        ("frontier_pair", frontier_pair()),
        ("sepolia_exclusion", exclusion_bundle()),
    ]
}

#[test]
fn real_bundles_verify() {
    for (name, b) in all() {
        let v = verify_json(&b).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.accounts.len(), b["accounts"].as_array().unwrap().len());
    }
    let v = verify_json(&frontier_pair()).unwrap();
    assert_eq!((v.first_block(), v.anchor().number), (499999, 500000));
}

/// Every hex digit of every hex string, changed to another digit, is rejected; so is
/// every number except chain_id (which the bundle cannot prove: formats.md §1 rule 5).
#[test]
fn every_single_digit_change_is_rejected() {
    fn strings(v: &Value, path: String, out: &mut Vec<String>) {
        match v {
            Value::String(s) if s.starts_with("0x") => out.push(path),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| strings(x, format!("{path}/{i}"), out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| strings(x, format!("{path}/{k}"), out)),
            _ => {}
        }
    }
    let mut total = 0usize;
    for (name, b) in all() {
        let mut paths = Vec::new();
        strings(&b, String::new(), &mut paths);
        for p in &paths {
            let s = b.pointer(p).unwrap().as_str().unwrap().to_owned();
            for i in 2..s.len() {
                for repl in [None, Some('A')] {
                    let mut bytes = s.clone().into_bytes();
                    let d = (bytes[i] as char).to_digit(16).unwrap();
                    bytes[i] = match repl {
                        None => char::from_digit((d + 1) % 16, 16).unwrap() as u8,
                        // the same digit value in upper case, where it has one
                        Some(_) if d >= 10 => (bytes[i] as char).to_ascii_uppercase() as u8,
                        Some(_) => continue,
                    };
                    let mut m = b.clone();
                    *m.pointer_mut(p).unwrap() = Value::String(String::from_utf8(bytes).unwrap());
                    assert!(verify_json(&m).is_err(), "{name}: change at {p}[{i}] accepted");
                    total += 1;
                }
            }
        }
        for p in ["/anchor/number", "/accounts/0/block"] {
            for delta in [1i64, -1] {
                let mut m = b.clone();
                let n = m.pointer(p).unwrap().as_i64().unwrap() + delta;
                *m.pointer_mut(p).unwrap() = json!(n);
                assert!(verify_json(&m).is_err(), "{name}: {p} {delta:+} accepted");
            }
        }
    }
    assert!(total > 20_000, "only {total} mutations");
}

fn nodes(b: &Value) -> Vec<Value> {
    b["nodes"].as_array().unwrap().clone()
}

#[test]
fn pool_rules() {
    let b = shanghai();
    let n = nodes(&b);
    assert!(n.len() > 3);
    // duplicate
    let mut m = b.clone();
    let mut d = n.clone();
    d.insert(1, n[1].clone());
    m["nodes"] = json!(d);
    assert!(verify_json(&m).unwrap_err().to_string().contains("duplicate"));
    // order
    let mut m = b.clone();
    let mut o = n.clone();
    o.swap(0, 1);
    m["nodes"] = json!(o);
    assert!(verify_json(&m).is_err());
    // missing
    let mut m = b.clone();
    let mut r = n.clone();
    r.remove(2);
    m["nodes"] = json!(r);
    assert!(verify_json(&m).unwrap_err().to_string().contains("missing node"));
    // unused: a real node from another bundle
    let mut m = b.clone();
    let mut extra = n.clone();
    extra.push(nodes(&cancun())[0].clone());
    let mut raw: Vec<Vec<u8>> = extra.iter().map(|x| unhex(x.as_str().unwrap())).collect();
    raw = pool(raw);
    m["nodes"] = json!(raw.iter().map(|x| hx(x)).collect::<Vec<_>>());
    assert!(verify_json(&m).unwrap_err().to_string().contains("not used"));
}

#[test]
fn read_rules() {
    let b = frontier_pair();
    // duplicate (block, address)
    let mut m = b.clone();
    let a0 = m["accounts"][0].clone();
    m["accounts"].as_array_mut().unwrap().push(a0);
    assert!(verify_json(&m).unwrap_err().to_string().contains("duplicate"));
    // a read at a block outside the headers
    let mut m = b.clone();
    m["accounts"][0]["block"] = json!(499998);
    assert!(verify_json(&m).is_err());
    // reads swapped between blocks: each proof belongs to its own state root
    let mut m = b.clone();
    m["accounts"][0]["block"] = json!(500000);
    m["accounts"][1]["block"] = json!(499999);
    assert!(verify_json(&m).is_err());
    // claiming an existing account is absent
    let mut m = b.clone();
    m["accounts"][0]["account"] = Value::Null;
    assert!(verify_json(&m).is_err());
    // unknown keys and versions are rejected
    let mut m = b.clone();
    m["version"] = json!(2);
    assert!(verify_json(&m).is_err());
    let mut m = b.clone();
    m["extra"] = json!(1);
    assert!(verify_json(&m).is_err());
    // an absent account claims no nonzero storage
    let c = cancun();
    let ok = verify_json(&c).unwrap();
    assert!(ok.accounts.iter().all(|a| a.account.is_some()));
}

/// A bundle around a real exclusion proof (Sepolia). Its header is not available, so a
/// header carrying the proof's state root is made from the genesis header's fields: the
/// bundle rules do not judge consensus, only hashes and links.
fn exclusion_bundle() -> Value {
    let p = load("proofs/sepolia_5702743_absent_account_exclusion.json");
    let mut h = load("headers/frontier_0.json");
    h["stateRoot"] = p["block"]["stateRoot"].clone();
    h["number"] = json!("0x570457");
    let raw = header_rlp(&h);
    let (read, nodes) = read_from_proof(&p, 5702743);
    assert!(read["account"].is_null());
    json!({
        "format": "coproc-bundle", "version": 1, "chain_id": 11155111,
        "anchor": {"number": 5702743, "hash": hx(&keccak256(&raw))},
        "headers": [hx(&raw)],
        "accounts": [read],
        "nodes": pool(nodes).iter().map(|n| hx(n)).collect::<Vec<_>>(),
    })
}

#[test]
fn absent_account_read() {
    let b = exclusion_bundle();
    let v = verify_json(&b).unwrap();
    assert!(v.accounts[0].account.is_none());
    // an absent account may list a slot only with value zero
    let mut m = b.clone();
    m["accounts"][0]["storage"] = json!([{"slot": hx(&[0u8; 32]), "slot_hash": hx(&keccak256(&[0u8; 32])), "value": "0x0"}]);
    assert!(verify_json(&m).is_ok());
    m["accounts"][0]["storage"][0]["value"] = json!("0x1");
    assert!(verify_json(&m).is_err());
    // and cannot be claimed present
    let mut m = b.clone();
    m["accounts"][0]["account"] = json!({"nonce": "0x0", "balance": "0x1",
        "storage_root": hx(&coproc_core::keccak::EMPTY_TRIE_ROOT), "code_hash": hx(&coproc_core::keccak::EMPTY_CODE_HASH)});
    assert!(verify_json(&m).is_err());
}

fn weth_spec(slot_dec: &str) -> String {
    format!(
        r#"{{"format":"coproc-features","version":1,"name":"weth-test","features":[
          {{"name":"slot_value","read":{{"kind":"storage","address":"0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2","slot":{{"base":{slot_dec}}}}},"decimals":18}},
          {{"name":"weth_eth","read":{{"kind":"balance","address":"0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"}},"decimals":18}},
          {{"name":"has_code","read":{{"kind":"code_present","address":"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"}}}},
          {{"name":"ratio","combine":{{"op":"ratio","args":["slot_value","has_code"]}},"min":-5,"max":1000000}}
        ]}}"#
    )
}

fn dec(bytes: &[u8]) -> String {
    let mut digits = vec![0u8];
    for b in bytes {
        let mut carry = u32::from(*b);
        for d in digits.iter_mut() {
            let x = u32::from(*d) * 256 + carry;
            *d = (x % 10) as u8;
            carry = x / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

fn test_model() -> model::Model {
    model::Model {
        input_dim: 4,
        layers: vec![
            model::Layer::Dense { inp: 4, out: 2, weights: vec![65536, -3000, 100, 7, -65536, 2, 0, 30000], bias: vec![-5, 9] },
            model::Layer::Relu,
            model::Layer::Dense { inp: 2, out: 1, weights: vec![40000, -20000], bias: vec![1] },
            model::Layer::Sigmoid,
            model::Layer::ToBps,
        ],
    }
}

fn weth_input() -> (GuestInput, Value) {
    let b = prague_weth();
    let slot = unhex(b["accounts"][0]["storage"][0]["slot"].as_str().unwrap());
    let s = spec::parse(weth_spec(&dec(&slot)).as_bytes()).unwrap();
    let input = GuestInput {
        bundle: json_bundle::from_value(&b).unwrap(),
        model: test_model().to_canonical(),
        spec: s.canonical(),
        subject: [0x42; 20],
        request_id: [7; 32],
        request_block: 23223655,
    };
    (input, b)
}

#[test]
fn request_on_real_weth_storage() {
    let (input, b) = weth_input();
    let out = request::run(&input).unwrap();
    // Features, computed here independently with u128 arithmetic.
    let slot_value = u128::from_str_radix(&b["accounts"][0]["storage"][0]["value"].as_str().unwrap()[2..], 16).unwrap();
    let balance = u128::from_str_radix(&b["accounts"][0]["account"]["balance"].as_str().unwrap()[2..], 16).unwrap();
    let q = |v: u128| -> i32 { ((v * 65536) / 10u128.pow(18)).min(i32::MAX as u128) as i32 };
    assert_eq!(out.features[0], q(slot_value));
    assert_eq!(out.features[1], q(balance));
    assert_eq!(out.features[2], 65536);
    assert_eq!(out.features[3], ((i64::from(out.features[0]) << 16) / 65536).clamp(-5, 1_000_000) as i32);
    let j = &out.journal;
    assert_eq!(j.version, 1);
    assert_eq!(j.block_number, 23223655);
    assert_eq!(j.anchor_number, 23223655);
    assert_eq!(hx(&j.anchor_hash), b["anchor"]["hash"].as_str().unwrap());
    assert_eq!(j.model_hash, keccak256(&input.model));
    assert_eq!(j.feature_spec_hash, keccak256(&input.spec));
    assert!(j.score <= 10_000);
    assert_eq!(j.request_id, [7; 32]);
    let enc = j.encode();
    assert_eq!(enc.len(), 320);
}

#[test]
fn request_rejects_mismatches() {
    let (input, _) = weth_input();
    // the request block must be covered by the headers
    let mut i = input.clone();
    i.request_block += 1;
    assert!(request::run(&i).is_err());
    // non-canonical spec bytes
    let mut i = input.clone();
    i.spec.push(b' ');
    assert!(request::run(&i).unwrap_err().to_string().contains("canonical"));
    // model input size must match the spec
    let mut i = input.clone();
    let mut m = test_model();
    m.input_dim = 3;
    if let model::Layer::Dense { inp, weights, .. } = &mut m.layers[0] {
        *inp = 3;
        weights.truncate(6);
    }
    i.model = m.to_canonical();
    assert!(request::run(&i).unwrap_err().to_string().contains("features"));
    // a read the bundle does not have
    let mut i = input.clone();
    let s = spec::parse(
        br#"{"format":"coproc-features","version":1,"name":"x","features":[{"name":"b","read":{"kind":"balance","address":"$subject"}}]}"#,
    )
    .unwrap();
    i.spec = s.canonical();
    let mut m = test_model();
    m.layers[0] = model::Layer::Dense { inp: 1, out: 2, weights: vec![1, 2], bias: vec![0, 0] };
    m.input_dim = 1;
    i.model = m.to_canonical();
    assert!(request::run(&i).unwrap_err().to_string().contains("no read"));
}

/// The compact transport: it round-trips, and every single-byte change of the bundle
/// part is rejected (chain_id excepted); any other change is rejected or shows in the
/// journal (model hash, spec hash, subject, id, block).
#[test]
fn every_single_byte_change_of_the_guest_input() {
    let (input, _) = weth_input();
    let enc = input.encode();
    assert_eq!(GuestInput::decode(&enc).unwrap(), input);
    let base = request::run(&input).unwrap().journal.encode();
    // model and spec with their u32 lengths, subject, request id, request block
    let tail_len = 4 + input.model.len() + 4 + input.spec.len() + 20 + 32 + 8;
    let bundle_end = enc.len() - tail_len;
    for i in 0..enc.len() {
        let mut m = enc.clone();
        m[i] ^= 0x01;
        let res = GuestInput::decode(&m).and_then(|x| request::run(&x));
        if (4..12).contains(&i) {
            // chain_id: not provable, committed as given
            assert_ne!(res.unwrap().journal.encode(), base);
            continue;
        }
        match res {
            Err(_) => {}
            Ok(out) => {
                assert!(i >= bundle_end, "bundle byte {i} change accepted");
                assert_ne!(out.journal.encode(), base, "byte {i} change left the journal unchanged");
            }
        }
    }
    let mut m = enc.clone();
    m.push(0);
    assert!(GuestInput::decode(&m).is_err());
    assert!(GuestInput::decode(&enc[..enc.len() - 1]).is_err());
}

#[test]
fn every_single_byte_change_of_model_and_spec_is_rejected_or_rehashed() {
    let (input, _) = weth_input();
    let base = request::run(&input).unwrap().journal;
    for i in 0..input.model.len() {
        let mut x = input.clone();
        x.model[i] ^= 0x01;
        if let Ok(out) = request::run(&x) {
            assert_ne!(out.journal.model_hash, base.model_hash);
        }
    }
    for i in 0..input.spec.len() {
        let mut x = input.clone();
        x.spec[i] ^= 0x01;
        if let Ok(out) = request::run(&x) {
            assert_ne!(out.journal.feature_spec_hash, base.feature_spec_hash);
        }
    }
}
