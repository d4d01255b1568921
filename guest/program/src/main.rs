//! The coproc risk-score guest: verifies a proof bundle, computes the features and the
//! fixed-point model score, and commits journal v1 (320 bytes). The bundle is v1
//! (`CPG1` input) or v2 with EIP-2935 hops (`CPG2`). Any inconsistency
//! panics with the core's error text: no journal is committed.
#![no_main]

use coproc_core::input::GuestInput;
use coproc_core::input_v2::GuestInputV2;

risc0_zkvm::guest::entry!(main);

fn main() {
    // The host sends the input's length (u32), then the input (core::input).
    let mut len = [0u32; 1];
    risc0_zkvm::guest::env::read_slice(&mut len);
    let mut raw = vec![0u8; len[0] as usize];
    risc0_zkvm::guest::env::read_slice(&mut raw);
    // many subjects, one batch journal v1 (docs/formats.md §5): core::batch
    if coproc_core::batch::is_batch(&raw) {
        return run_batch(raw);
    }
    // bundle v2 (hops, docs/formats.md §1b) comes in its own transport (core::input_v2)
    let outcome = if coproc_core::input_v2::is_v2(&raw) {
        let input = match GuestInputV2::decode(&raw) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        };
        drop(raw);
        input.run()
    } else {
        let input = match GuestInput::decode(&raw) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        };
        drop(raw);
        coproc_core::request::run(&input)
    };
    match outcome {
        Ok(out) => risc0_zkvm::guest::env::commit_slice(&out.journal.encode()),
        Err(e) => panic!("{e}"),
    }
}

fn run_batch(raw: Vec<u8>) {
    let batch = match coproc_core::batch::BatchInput::decode(&raw) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    drop(raw);
    match coproc_core::batch::run(&batch) {
        Ok(out) => risc0_zkvm::guest::env::commit_slice(&out.journal.encode()),
        Err(e) => panic!("{e}"),
    }
}
