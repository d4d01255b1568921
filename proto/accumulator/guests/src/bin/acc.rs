//! Guest A, "accumulator": a run of consecutive block headers (RLP) in, parent links
//! checked, each hashed with the project's keccak (coproc-core), their hashes appended
//! to an MMR; commits AccJournal (first number and parent hash, last number and hash,
//! leaf count, MMR root). Any inconsistency panics: no journal.
#![no_main]

use proto_mmr::{AccJournal, Mmr, Sha};

risc0_zkvm::guest::entry!(main);

fn main() {
    let raw = read_input();
    let records = proto_mmr::split_records(&raw).expect("malformed header records");
    assert!(!records.is_empty(), "no headers");
    let headers = coproc_core::header::parse_chain(&records).unwrap_or_else(|e| panic!("{e}"));
    let mut mmr = Mmr::default();
    for h in &headers {
        mmr.push::<Sha>(h.hash);
    }
    let (first, last) = (&headers[0], &headers[headers.len() - 1]);
    let journal = AccJournal {
        first_number: first.number,
        first_parent_hash: first.parent_hash,
        last_number: last.number,
        last_hash: last.hash,
        leaves: mmr.leaves,
        root: mmr.root::<Sha>(),
    };
    risc0_zkvm::guest::env::commit_slice(&journal.encode());
}

/// u32 length, then that many bytes (the main guest's transport).
fn read_input() -> Vec<u8> {
    let mut len = [0u32; 1];
    risc0_zkvm::guest::env::read_slice(&mut len);
    let mut raw = vec![0u8; len[0] as usize];
    risc0_zkvm::guest::env::read_slice(&mut raw);
    raw
}
