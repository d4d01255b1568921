//! The coproc risk-score guest: verifies a proof bundle, computes the features and the
//! fixed-point model score, and commits journal v1 (320 bytes). Any inconsistency
//! panics with the core's error text: no journal is committed.
#![no_main]

use std::io::Read;

use coproc_core::input::GuestInput;

risc0_zkvm::guest::entry!(main);

fn main() {
    let mut raw = Vec::new();
    if let Err(e) = risc0_zkvm::guest::env::stdin().read_to_end(&mut raw) {
        panic!("input: cannot read stdin: {e}");
    }
    let input = match GuestInput::decode(&raw) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    drop(raw);
    match coproc_core::request::run(&input) {
        Ok(out) => risc0_zkvm::guest::env::commit_slice(&out.journal.encode()),
        Err(e) => panic!("{e}"),
    }
}
