//! Reading a request (bundle, model, spec files + subject, id, block) into a GuestInput.

use crate::jsontext;
use crate::output::{Failure, Res};
use coproc_core::input::GuestInput;
use coproc_core::{hex, json_bundle, model, spec};
use std::collections::BTreeMap;
use std::path::Path;

pub const REQUEST_OPTIONS: [&str; 6] = ["bundle", "model", "spec", "subject", "request-id", "block"];

fn read_json(path: &str, what: &str) -> Res<serde_json::Value> {
    let text = std::fs::read(Path::new(path)).map_err(|e| Failure::user(format!("{what} {path}: {e}")))?;
    jsontext::parse(&text, &format!("{what} {path}"))
}

fn need<'a>(o: &'a BTreeMap<String, String>, k: &str) -> Res<&'a str> {
    o.get(k).map(String::as_str).ok_or_else(|| Failure::user(format!("--{k} is required")))
}

/// Request id: 32-byte hex, or a decimal integer (left-padded); default zero.
pub fn request_id(s: Option<&str>) -> Res<[u8; 32]> {
    match s {
        None => Ok([0u8; 32]),
        Some(s) if s.starts_with("0x") => {
            hex::bytes_n::<32>(s, "--request-id").map_err(|e| Failure::user(e.to_string()))
        }
        Some(s) => {
            let n: u128 = s.parse().map_err(|_| Failure::user("--request-id: expected bytes32 hex or an integer"))?;
            let mut w = [0u8; 32];
            w[16..].copy_from_slice(&n.to_be_bytes());
            Ok(w)
        }
    }
}

/// Build the guest input from the command-line options.
pub fn from_options(o: &BTreeMap<String, String>) -> Res<GuestInput> {
    let bundle = json_bundle::from_value(&read_json(need(o, "bundle")?, "bundle")?)?;
    from_options_with(o, bundle)
}

/// [`from_options`] with the bundle already read.
fn from_options_with(o: &BTreeMap<String, String>, bundle: coproc_core::bundle::Bundle) -> Res<GuestInput> {
    let m = model::from_json(&read_json(need(o, "model")?, "model")?)?;
    let spec_path = need(o, "spec")?;
    let spec_text = std::fs::read(spec_path).map_err(|e| Failure::user(format!("spec {spec_path}: {e}")))?;
    let s = spec::parse(&spec_text)?;
    let subject = hex::bytes_n::<20>(&need(o, "subject")?.to_lowercase(), "--subject")
        .map_err(|e| Failure::user(e.to_string()))?;
    let request_block = match o.get("block") {
        Some(b) => b.parse::<u64>().map_err(|_| Failure::user("--block: expected a block number"))?,
        None => bundle.anchor_number,
    };
    Ok(GuestInput {
        bundle,
        model: m.to_canonical(),
        spec: s.canonical(),
        subject,
        request_id: request_id(o.get("request-id").map(String::as_str))?,
        request_block,
    })
}

/// The guest's input bytes for the command-line options: the v1 transport, or the v2
/// one (`core::input_v2`, with the hops) when the bundle is version 2.
pub fn encoded_input(o: &BTreeMap<String, String>) -> Res<Vec<u8>> {
    if o.contains_key("subjects") {
        return crate::batch::encoded_batch(o);
    }
    Ok(match from_options_any(o)? {
        (input, None) => input.encode(),
        (input, Some(hops)) => coproc_core::input_v2::GuestInputV2 { input, hops }.encode(),
    })
}

/// [`from_options`] for a bundle of either version: the input and, for a bundle v2,
/// its hops.
pub fn from_options_any(o: &BTreeMap<String, String>) -> Res<(GuestInput, Option<Vec<(u64, u64)>>)> {
    let path = need(o, "bundle")?;
    let value = read_json(path, "bundle")?;
    if value.get("version").and_then(serde_json::Value::as_u64) != Some(2) {
        return Ok((from_options(o)?, None));
    }
    let v2 = coproc_core::bundle_v2::from_value(value)?;
    Ok((from_options_with(o, v2.base)?, Some(v2.hops)))
}

/// Journal v1 fields as JSON (names from the journal field list).
pub fn journal_json(j: &coproc_core::journal::Journal) -> serde_json::Value {
    serde_json::json!({
        "version": j.version,
        "chainId": j.chain_id,
        "anchorNumber": j.anchor_number,
        "anchorHash": hex::encode(&j.anchor_hash),
        "blockNumber": j.block_number,
        "subject": hex::encode(&j.subject),
        "modelHash": hex::encode(&j.model_hash),
        "featureSpecHash": hex::encode(&j.feature_spec_hash),
        "score": j.score,
        "requestId": hex::encode(&j.request_id),
    })
}

/// Decode a 320-byte journal v1 back into fields.
pub fn decode_journal(b: &[u8]) -> Res<coproc_core::journal::Journal> {
    if b.len() != coproc_core::journal::LEN {
        return Err(Failure::verify(format!("journal is {} bytes, expected 320", b.len())));
    }
    let w = |i: usize| -> &[u8] { &b[32 * i..32 * (i + 1)] };
    let uint = |i: usize, bytes: usize| -> Res<u64> {
        let word = w(i);
        if word[..32 - bytes].iter().any(|&x| x != 0) {
            return Err(Failure::verify(format!("journal word {i} out of range")));
        }
        let mut a = [0u8; 8];
        a[8 - bytes..].copy_from_slice(&word[32 - bytes..]);
        Ok(u64::from_be_bytes(a))
    };
    let b32 = |i: usize| -> [u8; 32] {
        let mut a = [0u8; 32];
        a.copy_from_slice(w(i));
        a
    };
    let addr_word = w(5);
    if addr_word[..12].iter().any(|&x| x != 0) {
        return Err(Failure::verify("journal subject word out of range"));
    }
    let mut subject = [0u8; 20];
    subject.copy_from_slice(&addr_word[12..]);
    Ok(coproc_core::journal::Journal {
        version: uint(0, 1)? as u8,
        chain_id: uint(1, 8)?,
        anchor_number: uint(2, 8)?,
        anchor_hash: b32(3),
        block_number: uint(4, 8)?,
        subject,
        model_hash: b32(6),
        feature_spec_hash: b32(7),
        score: uint(8, 4)? as u32,
        request_id: b32(9),
    })
}
