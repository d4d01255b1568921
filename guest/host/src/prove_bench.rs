//! `prove-segments`: the prover's speed on this machine, measured on real segments of a
//! real request (bench/prover_opt_levels.py). It executes the request with a given
//! segment size, proves the first `--segments` segments one by one (composite segment
//! receipts, the CPU prover), checks each receipt's integrity, and prints the seconds
//! each took. Proving time per segment depends on the segment's size (2^po2 rows), not
//! on what the guest computed in it, so a few segments measure the rate of a whole proof.

use crate::output::{options, print_json, Failure, Res};
use crate::request::{encoded_input, REQUEST_OPTIONS};
use crate::zkvm::{build_env, guest_failure, program};
use risc0_zkvm::{get_prover_server, ExecutorImpl, ProverOpts, VerifierContext};
use serde_json::json;
use std::time::Instant;

fn count(o: &std::collections::BTreeMap<String, String>, key: &str, default: u32) -> Res<u32> {
    o.get(key)
        .map(|s| s.parse::<u32>().map_err(|_| Failure::user(format!("--{key}: expected an integer"))))
        .transpose()
        .map(|v| v.unwrap_or(default))
}

pub fn prove_segments_cmd(args: &[String]) -> Res<()> {
    let mut known = REQUEST_OPTIONS.to_vec();
    known.extend(["segment-po2", "segments"]);
    known.extend(crate::batch::BATCH_OPTIONS);
    let o = options(args, &known)?;
    let po2 = count(&o, "segment-po2", 20)?;
    let wanted = count(&o, "segments", 1)?;
    if !(14..=22).contains(&po2) {
        return Err(Failure::user("--segment-po2: expected 14..=22"));
    }
    let opts = ProverOpts::composite();
    if opts.dev_mode() {
        return Err(Failure::user("prove-segments measures the real prover: unset RISC0_DEV_MODE"));
    }
    let input = encoded_input(&o)?;
    let p = program()?;
    let started = Instant::now();
    let env = build_env(&input, Some(po2))?;
    let mut exec = ExecutorImpl::from_elf(env, &p).map_err(|e| Failure::tool(format!("load program: {e:#}")))?;
    let session = exec.run().map_err(|e| guest_failure(&e))?;
    let execute_seconds = started.elapsed().as_secs_f64();
    let prover = get_prover_server(&opts).map_err(|e| Failure::tool(format!("prover: {e:#}")))?;
    let ctx = VerifierContext::default();
    let mut rows = Vec::new();
    for seg_ref in session.segments.iter().take(wanted as usize) {
        let segment = seg_ref.resolve().map_err(|e| Failure::tool(format!("segment: {e:#}")))?;
        let t0 = Instant::now();
        let pre = prover.segment_preflight(&segment).map_err(|e| Failure::tool(format!("preflight: {e:#}")))?;
        let preflight = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let receipt = prover.prove_segment_core(&ctx, pre).map_err(|e| Failure::tool(format!("prove: {e:#}")))?;
        let prove = t1.elapsed().as_secs_f64();
        receipt
            .verify_integrity_with_context(&ctx)
            .map_err(|e| Failure::verify(format!("segment {} receipt does not verify: {e}", segment.index)))?;
        let row = json!({
            "index": segment.index,
            "po2": segment.po2(),
            "rows": 1u64 << segment.po2(),
            "preflight_seconds": preflight,
            "prove_seconds": prove,
            "seal_bytes": receipt.seal_size(),
        });
        eprintln!("{row}");
        rows.push(row);
    }
    print_json(&json!({
        "segment_po2": po2,
        "session": {
            "segments": session.segments.len(),
            "total_cycles": session.total_cycles,
            "user_cycles": session.user_cycles,
        },
        "execute_seconds": execute_seconds,
        "proved": rows,
    }))
}
