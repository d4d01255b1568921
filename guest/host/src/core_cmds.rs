//! `coproc-host core ...`: the core's functions on JSON from stdin, natively (no zkVM),
//! for cross-language tests against the Python reference.
//!
//!   verify-bundle   stdin: bundle JSON             -> {"ok", "anchor", "reads"}
//!   model-hash      stdin: model JSON              -> {"model_hash", "canonical_hex"}
//!   model-eval      stdin: {"model", "inputs": [[..]]}  -> {"outputs": [..]}
//!   spec-hash       stdin: spec JSON               -> {"spec_hash", "canonical"}
//!   features        stdin: {"spec", "bundle", "subject", "block"} -> {"features": [..]}
//!   protocol-read   --bundle B --protocol P --address A --subject U ... (protocol_cmds.rs)
//!   protocol-math   stdin: {"cases": [..]} (protocol_cmds.rs)
//!   run             stdin: {"bundle", "model", "spec", "subject", "request_id"?, "block"?}
//!                   -> the journal the guest would commit

use crate::jsontext;
use crate::output::{options, print_json, Failure, Res};
use crate::request::journal_json;
use coproc_core::input::GuestInput;
use coproc_core::{bundle, features, hex, json_bundle, keccak, model, request, spec};
use serde_json::{json, Value};
use std::io::Read;

fn stdin_bytes() -> Res<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf).map_err(|e| Failure::user(format!("stdin: {e}")))?;
    Ok(buf)
}

fn stdin_json() -> Res<Value> {
    jsontext::parse(&stdin_bytes()?, "stdin")
}

/// A spec given as JSON text in a string (exact, any integer size) or as an object.
fn spec_field(v: &Value) -> Res<spec::Spec> {
    match field(v, "spec")? {
        Value::String(text) => Ok(spec::parse(text.as_bytes())?),
        other => Ok(spec::parse(other.to_string().as_bytes())?),
    }
}

fn field<'a>(v: &'a Value, k: &str) -> Res<&'a Value> {
    v.get(k).ok_or_else(|| Failure::user(format!("missing key {k:?}")))
}

fn reads_json(v: &bundle::Verified) -> Value {
    let reads: Vec<Value> = v
        .accounts
        .iter()
        .map(|r| {
            json!({
                "block": r.block,
                "address": hex::encode(&r.address),
                "account": r.account.as_ref().map(|a| json!({
                    "nonce": hex::encode_quantity(&a.nonce),
                    "balance": hex::encode_quantity(&a.balance),
                    "storage_root": hex::encode(&a.storage_root),
                    "code_hash": hex::encode(&a.code_hash),
                })),
                "storage": r.storage.iter().map(|s| json!({
                    "slot": hex::encode(&s.slot), "value": hex::encode_quantity(&s.value)
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!(reads)
}

fn subject_of(v: &Value) -> Res<[u8; 20]> {
    let s = field(v, "subject")?.as_str().ok_or_else(|| Failure::user("subject: expected a string"))?;
    hex::bytes_n::<20>(&s.to_lowercase(), "subject").map_err(|e| Failure::user(e.to_string()))
}

/// The `verified` JSON of `coproc verify-bundle` (Python): reads without proofs, for
/// testing the feature code alone on shared vectors.
pub fn verified_values(v: &Value) -> Res<bundle::Verified> {
    let bad = |m: &str| Failure::user(format!("verified: {m}"));
    let w32 = |s: &Value, what: &str| -> Res<[u8; 32]> {
        hex::bytes_n::<32>(s.as_str().unwrap_or(""), what).map_err(|e| Failure::user(e.to_string()))
    };
    let q = |s: &Value, what: &str| -> Res<[u8; 32]> {
        hex::quantity(s.as_str().unwrap_or(""), what).map_err(|e| Failure::user(e.to_string()))
    };
    let mut accounts = Vec::new();
    for a in v["accounts"].as_array().ok_or_else(|| bad("accounts: expected an array"))? {
        let account = match &a["account"] {
            Value::Null => None,
            acc => Some(bundle::Account {
                nonce: q(&acc["nonce"], "nonce")?,
                balance: q(&acc["balance"], "balance")?,
                storage_root: w32(&acc["storage_root"], "storage_root")?,
                code_hash: w32(&acc["code_hash"], "code_hash")?,
            }),
        };
        let mut storage = Vec::new();
        if let Some(m) = a["storage"].as_object() {
            for (slot, value) in m {
                let slot = w32(&Value::String(slot.clone()), "slot")?;
                storage.push(bundle::StorageEntry { slot, slot_hash: keccak::keccak256(&slot), value: q(value, "value")? });
            }
        }
        let address = hex::bytes_n::<20>(a["address"].as_str().unwrap_or(""), "address")
            .map_err(|e| Failure::user(e.to_string()))?;
        accounts.push(bundle::AccountRead {
            block: a["block"].as_u64().ok_or_else(|| bad("block"))?,
            address,
            address_hash: keccak::keccak256(&address),
            account,
            storage,
        });
    }
    Ok(bundle::Verified { chain_id: 0, headers: Vec::new(), accounts })
}

pub fn dispatch(args: &[String]) -> Res<()> {
    let Some(cmd) = args.first() else {
        return Err(Failure::user("usage: coproc-host core <run|verify-bundle|model-eval|model-hash|spec-hash|features>"));
    };
    if cmd == "protocol-read" {
        return crate::protocol_cmds::read_cmd(&args[1..]);
    }
    options(&args[1..], &[])?;
    match cmd.as_str() {
        "protocol-math" => crate::protocol_cmds::math_cmd(&stdin_json()?),
        "verify-bundle" => {
            let b = json_bundle::from_value(&stdin_json()?)?;
            let v = bundle::verify(&b)?;
            let a = v.anchor();
            print_json(&json!({
                "ok": true,
                "chain_id": v.chain_id,
                "anchor": {"number": a.number, "hash": hex::encode(&a.hash)},
                "first_block": v.first_block(),
                "reads": reads_json(&v),
            }))
        }
        "model-hash" => {
            let m = model::from_json(&stdin_json()?)?;
            let c = m.to_canonical();
            print_json(&json!({"model_hash": hex::encode(&keccak::keccak256(&c)), "canonical_hex": hex::encode(&c)}))
        }
        "model-eval" => {
            let v = stdin_json()?;
            let m = model::from_json(field(&v, "model")?)?;
            let inputs = field(&v, "inputs")?.as_array().ok_or_else(|| Failure::user("inputs: expected an array"))?;
            let mut outs = Vec::new();
            for (i, row) in inputs.iter().enumerate() {
                let row = row.as_array().ok_or_else(|| Failure::user(format!("inputs[{i}]: expected an array")))?;
                let x: Vec<i32> = row
                    .iter()
                    .map(|n| n.as_i64().and_then(|n| i32::try_from(n).ok()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| Failure::user(format!("inputs[{i}]: expected int32 values")))?;
                outs.push(m.eval(&x)?);
            }
            print_json(&json!({"outputs": outs, "model_hash": hex::encode(&keccak::keccak256(&m.to_canonical()))}))
        }
        "spec-hash" => {
            let s = spec::parse(&stdin_bytes()?)?;
            let c = s.canonical();
            print_json(&json!({
                "spec_hash": hex::encode(&keccak::keccak256(&c)),
                "canonical": String::from_utf8_lossy(&c),
            }))
        }
        "features" => {
            let v = stdin_json()?;
            let s = spec_field(&v)?;
            let (verified, anchor) = match v.get("verified") {
                // Already-verified values (the `coproc verify-bundle` JSON): features only.
                Some(values) => (verified_values(values)?, values["anchor"]["number"].as_u64().unwrap_or(0)),
                None => {
                    let b = json_bundle::from_value(field(&v, "bundle")?)?;
                    let n = b.anchor_number;
                    (bundle::verify(&b)?, n)
                }
            };
            let block = match v.get("block") {
                Some(n) => n.as_u64().ok_or_else(|| Failure::user("block: expected an integer"))?,
                None => anchor,
            };
            let f = features::compute(&s, &verified, &subject_of(&v)?, block)?;
            print_json(&json!({"features": f, "names": s.features.iter().map(|f| f.name.clone()).collect::<Vec<_>>()}))
        }
        "run" => {
            let v = stdin_json()?;
            let b = json_bundle::from_value(field(&v, "bundle")?)?;
            let m = model::from_json(field(&v, "model")?)?;
            let s = spec_field(&v)?;
            let request_block = match v.get("block") {
                Some(n) => n.as_u64().ok_or_else(|| Failure::user("block: expected an integer"))?,
                None => b.anchor_number,
            };
            let rid = crate::request::request_id(v.get("request_id").and_then(Value::as_str))?;
            let input = GuestInput {
                bundle: b,
                model: m.to_canonical(),
                spec: s.canonical(),
                subject: subject_of(&v)?,
                request_id: rid,
                request_block,
            };
            let out = request::run(&input)?;
            print_json(&json!({
                "journal_hex": hex::encode(&out.journal.encode()),
                "journal": journal_json(&out.journal),
                "features": out.features,
            }))
        }
        other => Err(Failure::user(format!("unknown core command {other:?}"))),
    }
}
