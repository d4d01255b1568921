//! Prototype host (docs/history_accumulator.md, "Prototype"): runs guest A (accumulator)
//! and guest B (request, composed with A by `env::verify`), measures cycles and proving
//! time, and records which composite receipts verify offline and with which error.
//!
//!   proto-acc-host --acc-elf A --request-elf B execute --headers F --counts 8,64,256 --index I
//!   proto-acc-host --acc-elf A --request-elf B prove --headers F --count N --index I
//!
//! `--headers F`: one header a line, `<block hash hex> <header RLP hex>` (run.sh headers).
//! The hashes in F are the node's; the MMR leaves are taken from them, so the guest's
//! keccak of the RLP is checked against an independent source. `RISC0_DEV_MODE=1` makes
//! `prove` return fake receipts. Output: JSON lines on stdout.
use anyhow::{anyhow, bail, ensure, Context, Result};
use proto_mmr::{AccJournal, Mmr, Proof, RequestJournal, Sha};
use risc0_zkvm::sha::Digest;
use risc0_zkvm::{
    default_prover, ExecutorEnv, ExecutorImpl, InnerAssumptionReceipt, InnerReceipt, ProverOpts, Receipt,
    ReceiptClaim,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

struct Header {
    hash: [u8; 32],
    number: u64,
    rlp: Vec<u8>,
}

struct Programs {
    acc: Vec<u8>,
    acc_id: Digest,
    request: Vec<u8>,
    request_id: Digest,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("proto-acc-host: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts: HashMap<String, String> = HashMap::new();
    let mut cmd = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if let Some(k) = a.strip_prefix("--") {
            let v = it.next().ok_or_else(|| anyhow!("--{k} needs a value"))?;
            opts.insert(k.to_string(), v);
        } else if cmd.is_none() {
            cmd = Some(a);
        } else {
            bail!("unexpected argument {a:?}");
        }
    }
    let get = |k: &str| opts.get(k).cloned().ok_or_else(|| anyhow!("--{k} is required"));
    let programs = load_programs(&get("acc-elf")?, &get("request-elf")?)?;
    let headers = read_headers(&get("headers")?)?;
    let index: u64 = get("index")?.parse().context("--index")?;
    match cmd.as_deref() {
        Some("execute") => {
            for c in get("counts")?.split(',') {
                let n: usize = c.parse().with_context(|| format!("--counts {c:?}"))?;
                execute(&programs, &headers, n, index)?;
            }
            Ok(())
        }
        Some("prove") => prove(&programs, &headers, get("count")?.parse().context("--count")?, index),
        _ => bail!("command: execute or prove"),
    }
}

fn load_programs(acc_elf: &str, request_elf: &str) -> Result<Programs> {
    let wrap = |p: &str| -> Result<(Vec<u8>, Digest)> {
        let elf = std::fs::read(p).with_context(|| format!("read {p}"))?;
        let blob = risc0_binfmt::ProgramBinary::new(&elf, risc0_zkos_v1compat::V1COMPAT_ELF).encode();
        let id = risc0_zkvm::compute_image_id(&blob)?;
        Ok((blob, id))
    };
    let (acc, acc_id) = wrap(acc_elf)?;
    let (request, request_id) = wrap(request_elf)?;
    Ok(Programs { acc, acc_id, request, request_id })
}

fn read_headers(path: &str) -> Result<Vec<Header>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let (h, r) = line.split_once(' ').ok_or_else(|| anyhow!("{path}:{}: expected '<hash> <rlp>'", i + 1))?;
        let hash: [u8; 32] = hex::decode(h)?.try_into().map_err(|_| anyhow!("{path}:{}: hash size", i + 1))?;
        let rlp = hex::decode(r)?;
        let parsed = coproc_core::header::parse(&rlp).map_err(|e| anyhow!("{path}:{}: {e}", i + 1))?;
        ensure!(parsed.hash == hash, "{path}:{}: RLP does not hash to the node's block hash", i + 1);
        out.push(Header { hash, number: parsed.number, rlp });
    }
    Ok(out)
}

/// What guest A must commit over `headers` (computed here from the node's hashes).
fn expected_acc(headers: &[Header]) -> Result<AccJournal> {
    let first = coproc_core::header::parse(&headers[0].rlp).map_err(|e| anyhow!("{e}"))?;
    let mut mmr = Mmr::default();
    for h in headers {
        mmr.push::<Sha>(h.hash);
    }
    let last = &headers[headers.len() - 1];
    Ok(AccJournal {
        first_number: first.number,
        first_parent_hash: first.parent_hash,
        last_number: last.number,
        last_hash: last.hash,
        leaves: mmr.leaves,
        root: mmr.root::<Sha>(),
    })
}

fn acc_input(headers: &[Header]) -> Vec<u8> {
    let recs: Vec<&[u8]> = headers.iter().map(|h| h.rlp.as_slice()).collect();
    proto_mmr::join_records(&recs)
}

fn request_input(p: &Programs, headers: &[Header], acc_journal: &[u8], index: u64) -> Result<(Vec<u8>, Proof)> {
    let leaves: Vec<[u8; 32]> = headers.iter().map(|h| h.hash).collect();
    let proof = Proof::build::<Sha>(&leaves, index).ok_or_else(|| anyhow!("--index {index}: not a leaf"))?;
    let target = &headers[index as usize];
    let id: [u8; 32] = p.acc_id.as_bytes().try_into()?;
    let input = proto_mmr::join_records(&[&id, acc_journal, &proof.encode(), &target.rlp]);
    Ok((input, proof))
}

fn env_with<'a>(input: &[u8], assumption: Option<risc0_zkvm::AssumptionReceipt>) -> Result<ExecutorEnv<'a>> {
    let mut b = ExecutorEnv::builder();
    b.write_slice(&[input.len() as u32]).write_slice(input);
    if let Some(a) = assumption {
        b.add_assumption(a);
    }
    b.build()
}

fn cycles_json(s: &risc0_zkvm::Session) -> Value {
    json!({"total": s.total_cycles, "user": s.user_cycles, "paging": s.paging_cycles,
           "reserved": s.reserved_cycles, "segments": s.segments.len()})
}

fn journal_of(s: &risc0_zkvm::Session) -> Vec<u8> {
    s.journal.as_ref().map(|j| j.bytes.clone()).unwrap_or_default()
}

fn expected_request(headers: &[Header], acc: &AccJournal, p: &Programs, index: u64) -> Result<Vec<u8>> {
    let t = coproc_core::header::parse(&headers[index as usize].rlp).map_err(|e| anyhow!("{e}"))?;
    Ok(RequestJournal {
        acc_image_id: p.acc_id.as_bytes().try_into()?,
        number: t.number,
        hash: headers[index as usize].hash,
        state_root: t.state_root,
        acc_root: acc.root,
        acc_last_number: acc.last_number,
    }
    .encode())
}

/// Execute A over the first `n` headers and B for leaf `index` (A's claim as an
/// unresolved assumption: execution needs no receipt).
fn execute(p: &Programs, all: &[Header], n: usize, index: u64) -> Result<()> {
    ensure!(n >= 1 && n <= all.len(), "count {n}: the file has {} headers", all.len());
    let headers = &all[..n];
    let expected = expected_acc(headers)?;
    let t = Instant::now();
    let sa = ExecutorImpl::from_elf(env_with(&acc_input(headers), None)?, &p.acc)?.run()?;
    let secs_a = t.elapsed().as_secs_f64();
    ensure!(journal_of(&sa) == expected.encode(), "guest A's journal differs from the host's MMR");
    let index = index.min(n as u64 - 1);
    let (input, proof) = request_input(p, headers, &expected.encode(), index)?;
    let claim = ReceiptClaim::ok(p.acc_id, expected.encode());
    let t = Instant::now();
    let sb = ExecutorImpl::from_elf(env_with(&input, Some(claim.into()))?, &p.request)?.run()?;
    let secs_b = t.elapsed().as_secs_f64();
    ensure!(journal_of(&sb) == expected_request(headers, &expected, p, index)?, "guest B's journal differs");
    println!(
        "{}",
        json!({"step": "execute", "headers": n, "index": index, "siblings": proof.siblings.len(),
               "peaks": proof.peaks.len(), "acc_cycles": cycles_json(&sa), "acc_seconds": secs_a,
               "request_cycles": cycles_json(&sb), "request_seconds": secs_b})
    );
    Ok(())
}

fn kind(r: &Receipt) -> &'static str {
    match &r.inner {
        InnerReceipt::Composite(_) => "composite",
        InnerReceipt::Succinct(_) => "succinct",
        InnerReceipt::Groth16(_) => "groth16",
        InnerReceipt::Fake(_) => "fake",
        _ => "other",
    }
}

fn outcome(r: Result<(), impl std::fmt::Display>) -> Value {
    match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(format!("error: {e}")),
    }
}

/// Prove A over the first `n` headers, then B with A's receipt as an assumption, and
/// try every way of verifying B's receipt offline.
fn prove(p: &Programs, all: &[Header], n: usize, index: u64) -> Result<()> {
    ensure!(n >= 1 && n <= all.len(), "count {n}: the file has {} headers", all.len());
    let headers = &all[..n];
    let index = index.min(n as u64 - 1);
    let expected = expected_acc(headers)?;
    let prover = default_prover();
    let opts = ProverOpts::composite();
    let t = Instant::now();
    let info_a = prover.prove_with_opts(env_with(&acc_input(headers), None)?, &p.acc, &opts)?;
    let secs_a = t.elapsed().as_secs_f64();
    let ra = info_a.receipt;
    ra.verify(p.acc_id).context("A's receipt")?;
    ensure!(ra.journal.bytes == expected.encode(), "A's receipt: another journal");
    println!("{}", json!({"step": "prove A", "prover": prover.get_name(), "headers": n, "kind": kind(&ra),
        "seconds": secs_a, "cycles": {"total": info_a.stats.total_cycles, "user": info_a.stats.user_cycles,
        "segments": info_a.stats.segments}, "receipt_bytes": bincode::serialize(&ra)?.len()}));

    let (input, _) = request_input(p, headers, &ra.journal.bytes, index)?;
    let t = Instant::now();
    let info_b = prover.prove_with_opts(env_with(&input, Some(ra.clone().into()))?, &p.request, &opts)?;
    let secs_b = t.elapsed().as_secs_f64();
    let rb = info_b.receipt;
    let bytes = bincode::serialize(&rb)?;
    let assumptions = match &rb.inner {
        InnerReceipt::Composite(c) => Some(c.assumption_receipts.len()),
        _ => None,
    };
    ensure!(rb.journal.bytes == expected_request(headers, &expected, p, index)?, "B's receipt: another journal");
    println!("{}", json!({"step": "prove B", "kind": kind(&rb), "seconds": secs_b,
        "cycles": {"total": info_b.stats.total_cycles, "user": info_b.stats.user_cycles,
        "segments": info_b.stats.segments}, "receipt_bytes": bytes.len(),
        "assumption_receipts_inside": assumptions}));

    // 1. B as proven (A's receipt carried inside), and again after a bincode round trip.
    let reread: Receipt = bincode::deserialize(&bytes)?;
    let mut checks = serde_json::Map::new();
    checks.insert("as_proven".into(), outcome(rb.verify(p.request_id)));
    checks.insert("from_bytes".into(), outcome(reread.verify(p.request_id)));
    checks.insert("wrong_image_id".into(), outcome(rb.verify(p.acc_id)));
    // 2. The assumption left unresolved: B's receipt without A's receipt inside.
    // 3. Another receipt in A's place (B's own: valid, but of another claim).
    if let InnerReceipt::Composite(c) = &rb.inner {
        let mut stripped = c.clone();
        stripped.assumption_receipts.clear();
        let r = Receipt::new(InnerReceipt::Composite(stripped), rb.journal.bytes.clone());
        checks.insert("assumption_removed".into(), outcome(r.verify(p.request_id)));
        let mut swapped = c.clone();
        swapped.assumption_receipts = vec![InnerAssumptionReceipt::Composite(c.clone())];
        let r = Receipt::new(InnerReceipt::Composite(swapped), rb.journal.bytes.clone());
        checks.insert("assumption_swapped".into(), outcome(r.verify(p.request_id)));
    }
    // 4. Lifting B to succinct (resolves the assumption with the recursion programs).
    let t = Instant::now();
    let succ = prover.compress(&ProverOpts::succinct(), &rb);
    checks.insert("compress_succinct".into(), json!({"seconds": t.elapsed().as_secs_f64(),
        "result": outcome(succ.map(|_| ()).map_err(|e| format!("{e:#}")))}));
    println!("{}", json!({"step": "verify B offline", "checks": checks}));
    // 5. Proving B with only A's claim (no receipt): a conditional receipt. Last, as the
    // slowest (a whole proof of B) and printed on its own line.
    let mut checks = serde_json::Map::new();
    let claim = ReceiptClaim::ok(p.acc_id, ra.journal.bytes.clone());
    let t = Instant::now();
    let cond = prover.prove_with_opts(env_with(&input, Some(claim.into()))?, &p.request, &opts);
    let secs_c = t.elapsed().as_secs_f64();
    match cond {
        Ok(info) => {
            let n_assum = match &info.receipt.inner {
                InnerReceipt::Composite(c) => Some(c.assumption_receipts.len()),
                _ => None,
            };
            checks.insert("proved_with_claim_only".into(), json!({"seconds": secs_c, "kind": kind(&info.receipt),
                "assumption_receipts_inside": n_assum, "verify": outcome(info.receipt.verify(p.request_id))}));
        }
        Err(e) => {
            checks.insert("proved_with_claim_only".into(), json!(format!("prove error: {e:#}")));
        }
    }
    println!("{}", json!({"step": "prove B with A's claim only", "checks": checks}));
    Ok(())
}
