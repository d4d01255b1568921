//! Batch mode (docs/formats.md §5): `--subjects A,B,C|FILE` (with optional
//! `--request-ids` and `--batch-id`) turns `execute` and `prove` into one run over many
//! subjects that commits batch journal v1; `batch` runs the same natively (the core, no
//! zkVM) and prints every leaf, for cross-language tests and for the leaves a batch
//! receipt is read with.

use crate::output::{options, print_json, Failure, Res};
use crate::request::{from_options_any, request_id, REQUEST_OPTIONS};
use coproc_core::batch::{self, BatchInput, BatchJournal, Leaf};
use coproc_core::hex;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The options batch mode adds to a request's.
pub const BATCH_OPTIONS: [&str; 3] = ["subjects", "request-ids", "batch-id"];

const ZERO_ADDRESS: &str = "0x0000000000000000000000000000000000000000";

/// A list option: comma-separated values, or a file of values separated by whitespace or
/// commas (one address a line).
fn list(value: &str, what: &str) -> Res<Vec<String>> {
    let text = if value.starts_with("0x") {
        value.to_owned()
    } else {
        std::fs::read_to_string(value).map_err(|e| Failure::user(format!("--{what} {value}: {e}")))?
    };
    Ok(text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

/// The batch request of the command-line options.
pub fn batch_input(o: &BTreeMap<String, String>) -> Res<BatchInput> {
    let subjects = list(&o["subjects"], "subjects")?;
    let ids = match o.get("request-ids") {
        Some(v) => list(v, "request-ids")?,
        None => Vec::new(),
    };
    if !ids.is_empty() && ids.len() != subjects.len() {
        return Err(Failure::user(format!(
            "--request-ids has {} ids for {} subjects",
            ids.len(),
            subjects.len()
        )));
    }
    let mut pairs = Vec::with_capacity(subjects.len());
    for (i, s) in subjects.iter().enumerate() {
        let subject = hex::bytes_n::<20>(&s.to_lowercase(), &format!("--subjects[{i}]"))
            .map_err(|e| Failure::user(e.to_string()))?;
        pairs.push((subject, request_id(ids.get(i).map(String::as_str))?));
    }
    // the shared request: subject and request id zero (the batch's are in the list)
    let mut shared = o.clone();
    shared.insert("subject".into(), ZERO_ADDRESS.into());
    shared.remove("request-id");
    let (input, hops) = from_options_any(&shared)?;
    Ok(BatchInput {
        input,
        batch_id: request_id(o.get("batch-id").map(String::as_str))?,
        subjects: pairs,
        hops,
    })
}

/// The guest input of a batch (bundle v1 or v2).
pub fn encoded_batch(o: &BTreeMap<String, String>) -> Res<Vec<u8>> {
    Ok(batch_input(o)?.encode())
}

/// Batch journal fields as JSON (the names of `BatchJournalV1.Batch`).
pub fn batch_journal_json(j: &BatchJournal) -> Value {
    json!({
        "version": 1,
        "chainId": j.chain_id,
        "anchorNumber": j.anchor_number,
        "anchorHash": hex::encode(&j.anchor_hash),
        "resultsRoot": hex::encode(&j.results_root),
        "count": j.count,
        "batchId": hex::encode(&j.batch_id),
    })
}

fn leaf_json(l: &Leaf) -> Value {
    json!({
        "blockNumber": l.block_number,
        "subject": hex::encode(&l.subject),
        "modelHash": hex::encode(&l.model_hash),
        "featureSpecHash": hex::encode(&l.feature_spec_hash),
        "score": l.score,
        "requestId": hex::encode(&l.request_id),
    })
}

/// Decode a 224-byte batch journal, strictly (every word in its type's range).
pub fn decode_batch_journal(b: &[u8]) -> Res<BatchJournal> {
    if b.len() != batch::JOURNAL_LEN {
        return Err(Failure::verify(format!("batch journal is {} bytes, expected 224", b.len())));
    }
    let word = |i: usize| -> [u8; 32] {
        let mut a = [0u8; 32];
        a.copy_from_slice(&b[32 * i..32 * (i + 1)]);
        a
    };
    let uint = |i: usize, bytes: usize| -> Res<u64> {
        let w = word(i);
        if w[..32 - bytes].iter().any(|&x| x != 0) {
            return Err(Failure::verify(format!("batch journal word {i} out of range")));
        }
        let mut a = [0u8; 8];
        a[8 - bytes..].copy_from_slice(&w[32 - bytes..]);
        Ok(u64::from_be_bytes(a))
    };
    if uint(0, 1)? != 1 {
        return Err(Failure::verify("batch journal version is not 1"));
    }
    Ok(BatchJournal {
        chain_id: uint(1, 8)?,
        anchor_number: uint(2, 8)?,
        anchor_hash: word(3),
        results_root: word(4),
        count: uint(5, 4)? as u32,
        batch_id: word(6),
    })
}

/// The fields of a journal of either kind: journal v1 (320 bytes) or batch journal v1
/// (224 bytes).
pub fn journal_value(b: &[u8]) -> Res<Value> {
    if b.len() == batch::JOURNAL_LEN {
        return Ok(batch_journal_json(&decode_batch_journal(b)?));
    }
    Ok(crate::request::journal_json(&crate::request::decode_journal(b)?))
}

/// `batch --bundle F --model F --spec F --subjects A,B,C|FILE [--request-ids ..]
/// [--batch-id ..] [--block N]`: the batch natively: journal, leaves, leaf hashes, root.
pub fn native_cmd(args: &[String]) -> Res<()> {
    let mut known = REQUEST_OPTIONS.to_vec();
    known.extend(BATCH_OPTIONS);
    let o = options(args, &known)?;
    if !o.contains_key("subjects") {
        return Err(Failure::user("--subjects is required"));
    }
    let input = batch_input(&o)?;
    let out = batch::run(&input)?;
    let leaves: Vec<Value> = out
        .leaves
        .iter()
        .zip(&out.features)
        .map(|(l, f)| {
            let mut v = leaf_json(l);
            v["hash"] = json!(hex::encode(&l.hash()));
            v["features"] = json!(f);
            v
        })
        .collect();
    print_json(&json!({
        "journal_hex": hex::encode(&out.journal.encode()),
        "journal": batch_journal_json(&out.journal),
        "leaves": leaves,
    }))
}
