//! The core against real data: ethereum/tests RLP and trie vectors, every mainnet
//! header file, and the real eth_getProof responses (inclusion and absence).

mod common;

use common::*;
use coproc_core::keccak::keccak256;
use coproc_core::rlp::{self, Item};
use coproc_core::trie::NodePool;
use serde_json::Value;

// ---------------------------------------------------------------- RLP

fn int_bytes(v: &Value) -> Option<Vec<u8>> {
    if let Some(n) = v.as_u64() {
        return Some(n.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect());
    }
    let s = v.as_str()?.strip_prefix('#')?;
    // decimal big integer -> big-endian bytes
    let mut out: Vec<u8> = Vec::new();
    for d in s.bytes() {
        let mut carry = u32::from(d - b'0');
        for b in out.iter_mut().rev() {
            let x = u32::from(*b) * 10 + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    Some(out)
}

fn same(item: Item<'_>, expect: &Value) -> bool {
    match (item, expect) {
        (Item::List(p), Value::Array(a)) => {
            let items = rlp::list_items(p).unwrap();
            items.len() == a.len() && items.into_iter().zip(a).all(|(i, e)| same(i, e))
        }
        (Item::Bytes(b), e) => match int_bytes(e) {
            Some(n) => b == n.as_slice(),
            None => e.as_str().is_some_and(|s| s.as_bytes() == b),
        },
        _ => false,
    }
}

#[test]
fn rlp_valid_vectors_decode_to_their_input() {
    let v = load("rlp/rlptest.json");
    let tests = v.as_object().unwrap();
    assert!(tests.len() >= 28);
    for (name, t) in tests {
        let out = unhex(t["out"].as_str().unwrap());
        rlp::validate(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(same(rlp::decode(&out).unwrap(), &t["in"]), "{name}: decoded value differs");
    }
}

#[test]
fn rlp_invalid_vectors_are_rejected() {
    let v = load("rlp/invalidRLPTest.json");
    let tests = v.as_object().unwrap();
    assert!(tests.len() >= 26);
    for (name, t) in tests {
        let out = unhex(t["out"].as_str().unwrap());
        assert!(rlp::validate(&out).is_err(), "{name} was accepted");
    }
}

// ---------------------------------------------------------------- tries

fn hp(nibbles: &[u8], leaf: bool) -> Vec<u8> {
    let flag = if leaf { 2u8 } else { 0 } + (nibbles.len() % 2) as u8;
    let mut out = Vec::new();
    let rest = if nibbles.len() % 2 == 1 {
        out.push((flag << 4) | nibbles[0]);
        &nibbles[1..]
    } else {
        out.push(flag << 4);
        nibbles
    };
    for p in rest.chunks(2) {
        out.push((p[0] << 4) | p[1]);
    }
    out
}

/// A trie builder for the tests: returns the node encoding; collects hashed nodes.
fn build(entries: &[(Vec<u8>, Vec<u8>)], depth: usize, nodes: &mut Vec<Vec<u8>>) -> Vec<u8> {
    let node = if entries.len() == 1 {
        enc_list(&[enc_bytes(&hp(&entries[0].0[depth..], true)), enc_bytes(&entries[0].1)])
    } else {
        let first = &entries[0].0;
        let mut common = first.len() - depth;
        for (k, _) in entries {
            let c = k[depth..].iter().zip(&first[depth..]).take_while(|(a, b)| a == b).count();
            common = common.min(c);
        }
        if common > 0 {
            let child = build(entries, depth + common, nodes);
            enc_list(&[enc_bytes(&hp(&first[depth..depth + common], false)), reference(child, nodes)])
        } else {
            let mut items = Vec::new();
            for nib in 0..16u8 {
                let sub: Vec<(Vec<u8>, Vec<u8>)> = entries.iter().filter(|(k, _)| k[depth] == nib).cloned().collect();
                if sub.is_empty() {
                    items.push(vec![0x80]);
                } else {
                    let child = build(&sub, depth + 1, nodes);
                    items.push(reference(child, nodes));
                }
            }
            items.push(vec![0x80]);
            enc_list(&items)
        }
    };
    node
}

fn reference(child: Vec<u8>, nodes: &mut Vec<Vec<u8>>) -> Vec<u8> {
    if child.len() < 32 {
        child
    } else {
        let h = keccak256(&child);
        nodes.push(child);
        enc_bytes(&h)
    }
}

fn key_bytes(k: &str) -> Vec<u8> {
    if k.starts_with("0x") {
        unhex(k)
    } else {
        k.as_bytes().to_vec()
    }
}

fn nibbles(h: &[u8; 32]) -> Vec<u8> {
    h.iter().flat_map(|b| [b >> 4, b & 15]).collect()
}

fn check_secure_trie(name: &str, pairs: Vec<(String, Option<String>)>, root: &str) {
    let mut map: std::collections::BTreeMap<[u8; 32], Vec<u8>> = Default::default();
    for (k, v) in pairs {
        let h = keccak256(&key_bytes(&k));
        match v {
            Some(v) if !key_bytes(&v).is_empty() => {
                map.insert(h, key_bytes(&v));
            }
            _ => {
                map.remove(&h);
            }
        }
    }
    let entries: Vec<(Vec<u8>, Vec<u8>)> = map.iter().map(|(k, v)| (nibbles(k), v.clone())).collect();
    let mut nodes = Vec::new();
    let root_node = build(&entries, 0, &mut nodes);
    let root_hash = keccak256(&root_node);
    assert_eq!(hx(&root_hash), root, "{name}: test trie builder disagrees with the vector root");
    nodes.push(root_node);
    let pooled = pool(nodes);
    let refs: Vec<&[u8]> = pooled.iter().map(Vec::as_slice).collect();
    let mut p = NodePool::new(&refs).unwrap();
    for (k, v) in &map {
        assert_eq!(p.walk(&root_hash, k).unwrap(), Some(v.as_slice()), "{name}: inclusion");
    }
    for i in 0..16u8 {
        let absent = keccak256(&[b'x', i]);
        if !map.contains_key(&absent) {
            assert_eq!(p.walk(&root_hash, &absent).unwrap(), None, "{name}: absence");
        }
    }
    assert_eq!(p.first_unused(), None, "{name}: every node is on some key's path");
}

#[test]
fn secure_trie_vectors_inclusion_and_absence() {
    let mut count = 0;
    for file in ["trie/trietest_secureTrie.json", "trie/trieanyorder_secureTrie.json", "trie/hex_encoded_securetrie_test.json"] {
        let v = load(file);
        for (name, t) in v.as_object().unwrap() {
            let pairs: Vec<(String, Option<String>)> = match &t["in"] {
                Value::Array(a) => a
                    .iter()
                    .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().map(str::to_owned)))
                    .collect(),
                Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned))).collect(),
                _ => panic!("{name}: bad in"),
            };
            let root = t["root"].as_str().unwrap().to_lowercase();
            if root == hx(&coproc_core::keccak::EMPTY_TRIE_ROOT) {
                continue; // nothing to walk
            }
            check_secure_trie(name, pairs, &root);
            count += 1;
        }
    }
    assert!(count >= 10, "only {count} trie vectors ran");
}

#[test]
fn hex_prefix_vectors() {
    let v = load("trie/hexencodetest.json");
    for (name, t) in v.as_object().unwrap() {
        let seq: Vec<u8> = t["seq"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u8).collect();
        let out = unhex(t["out"].as_str().unwrap());
        let (leaf, nib) = coproc_core::trie::decode_path(&out).unwrap();
        assert_eq!(leaf, t["term"].as_bool().unwrap(), "{name}");
        assert_eq!(nib, seq, "{name}");
    }
}

// ---------------------------------------------------------------- headers

#[test]
fn every_mainnet_header_hashes_and_parses() {
    let dir = vectors_dir().join("headers");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let h: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let raw = header_rlp(&h);
        let parsed = coproc_core::header::parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hx(&parsed.hash), h["hash"].as_str().unwrap().to_lowercase(), "{name}: hash");
        assert_eq!(hx(&parsed.state_root), h["stateRoot"].as_str().unwrap().to_lowercase(), "{name}");
        assert_eq!(hx(&parsed.parent_hash), h["parentHash"].as_str().unwrap().to_lowercase(), "{name}");
        assert_eq!(parsed.number, u64::from_str_radix(&h["number"].as_str().unwrap()[2..], 16).unwrap(), "{name}");
        // one more byte, or one fewer, is not a header
        let mut longer = raw.clone();
        longer.push(0);
        assert!(coproc_core::header::parse(&longer).is_err(), "{name}: trailing byte accepted");
        assert!(coproc_core::header::parse(&raw[..raw.len() - 1]).is_err(), "{name}: truncation accepted");
        n += 1;
    }
    assert!(n >= 40, "only {n} headers");
}

fn chain(files: &[&str]) -> Vec<Vec<u8>> {
    files.iter().map(|f| header_rlp(&load(&format!("headers/{f}")))).collect()
}

#[test]
fn ancestry_links_across_the_prague_fork() {
    let files: Vec<String> = (22431080..=22431088)
        .map(|n| if n < 22431084 { format!("cancun_{n}.json") } else { format!("prague_{n}.json") })
        .collect();
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let raws = chain(&names);
    let refs: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
    let hs = coproc_core::header::parse_chain(&refs).unwrap();
    assert_eq!(hs.len(), 9);
    assert_eq!(hs[8].number, 22431088);
    // a gap, a swap and a foreign header break the chain
    let mut gap = refs.clone();
    gap.remove(4);
    assert!(coproc_core::header::parse_chain(&gap).is_err());
    let mut swap = refs.clone();
    swap.swap(2, 3);
    assert!(coproc_core::header::parse_chain(&swap).is_err());
    let frontier = chain(&["frontier_499999.json", "frontier_500000.json"]);
    let fr: Vec<&[u8]> = frontier.iter().map(Vec::as_slice).collect();
    assert!(coproc_core::header::parse_chain(&fr).is_ok());
    let mixed = vec![fr[0], refs[1]];
    assert!(coproc_core::header::parse_chain(&mixed).is_err());
}

// ---------------------------------------------------------------- real proofs

#[test]
fn every_real_proof_walks_to_its_claims() {
    let dir = vectors_dir().join("proofs");
    let mut n = 0;
    let mut absent_accounts = 0;
    let mut absent_slots = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let p: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let state_root: [u8; 32] = unhex(p["block"]["stateRoot"].as_str().unwrap()).try_into().unwrap();
        let (read, nodes) = read_from_proof(&p, 0);
        let pooled = pool(nodes);
        let refs: Vec<&[u8]> = pooled.iter().map(Vec::as_slice).collect();
        let mut pl = NodePool::new(&refs).unwrap();
        let ah: [u8; 32] = unhex(read["address_hash"].as_str().unwrap()).try_into().unwrap();
        let walked = pl.walk(&state_root, &ah).unwrap_or_else(|e| panic!("{name}: {e}"));
        if read["account"].is_null() {
            assert_eq!(walked, None, "{name}: absent account");
            absent_accounts += 1;
        } else {
            let v = walked.unwrap_or_else(|| panic!("{name}: account not found"));
            let items = rlp::decode_list(v).unwrap();
            let acc = &read["account"];
            assert_eq!(quantity_of(&items[0].uint256().unwrap()), acc["nonce"], "{name}");
            assert_eq!(quantity_of(&items[1].uint256().unwrap()), acc["balance"], "{name}");
            assert_eq!(hx(&items[2].bytes32().unwrap()), acc["storage_root"], "{name}");
            assert_eq!(hx(&items[3].bytes32().unwrap()), acc["code_hash"], "{name}");
            let root: [u8; 32] = items[2].bytes32().unwrap();
            for s in read["storage"].as_array().unwrap() {
                let sh: [u8; 32] = unhex(s["slot_hash"].as_str().unwrap()).try_into().unwrap();
                let got = pl.walk(&root, &sh).unwrap_or_else(|e| panic!("{name}: {e}"));
                let got_q = match got {
                    None => {
                        absent_slots += 1;
                        "0x0".to_owned()
                    }
                    Some(raw) => quantity_of(&rlp::decode(raw).unwrap().uint256().unwrap()),
                };
                assert_eq!(got_q, s["value"].as_str().unwrap(), "{name}: slot value");
            }
        }
        assert_eq!(pl.first_unused(), None, "{name}: proof has a node no walk used");
        // A wrong key of the same trie must not verify as the claimed account.
        let mut other = ah;
        other[31] ^= 1;
        if let Ok(Some(v)) = pl.walk(&state_root, &other) {
            assert!(read["account"].is_null() || Some(v) != walked, "{name}");
        }
        n += 1;
    }
    assert!(n >= 20, "only {n} proofs");
    assert!(absent_accounts >= 2, "absence proofs: {absent_accounts}");
    assert!(absent_slots >= 2, "absent slots: {absent_slots}");
}
