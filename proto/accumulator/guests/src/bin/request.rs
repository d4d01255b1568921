//! Guest B, "request": the accumulator's image ID and journal, an MMR inclusion proof of
//! one block hash and that block's header in. `env::verify(acc_image_id, journal)`
//! makes the accumulator's receipt an assumption of this one; the proof ties the
//! header's hash to the accumulator's root at leaf `number - first_number`. Commits
//! RequestJournal (image ID, number, hash, state root, accumulator root and last block).
//! The image ID is an input here (a prototype); a real request pins it as a constant.
#![no_main]

use proto_mmr::{AccJournal, Proof, RequestJournal, Sha};

risc0_zkvm::guest::entry!(main);

fn main() {
    let raw = read_input();
    let parts = proto_mmr::split_records(&raw).expect("malformed input records");
    assert!(parts.len() == 4, "expected 4 input records, got {}", parts.len());
    let image_id: [u8; 32] = parts[0].try_into().expect("image ID: 32 bytes");
    let journal_bytes = parts[1];
    let acc = AccJournal::decode(journal_bytes).expect("accumulator journal: 120 bytes");
    risc0_zkvm::guest::env::verify(risc0_zkvm::sha::Digest::from_bytes(image_id), journal_bytes)
        .expect("env::verify");
    let proof = Proof::decode(parts[2]).expect("malformed inclusion proof");
    let header = coproc_core::header::parse(parts[3]).unwrap_or_else(|e| panic!("{e}"));
    assert!(proof.leaves == acc.leaves, "proof is for {} leaves, accumulator has {}", proof.leaves, acc.leaves);
    let expected = header.number.checked_sub(acc.first_number);
    assert!(expected == Some(proof.index), "block {} is not leaf {} of the accumulator", header.number, proof.index);
    proof.verify::<Sha>(&header.hash, &acc.root).unwrap_or_else(|e| panic!("inclusion proof: {e:?}"));
    let out = RequestJournal {
        acc_image_id: image_id,
        number: header.number,
        hash: header.hash,
        state_root: header.state_root,
        acc_root: acc.root,
        acc_last_number: acc.last_number,
    };
    risc0_zkvm::guest::env::commit_slice(&out.encode());
}

fn read_input() -> Vec<u8> {
    let mut len = [0u32; 1];
    risc0_zkvm::guest::env::read_slice(&mut len);
    let mut raw = vec![0u8; len[0] as usize];
    risc0_zkvm::guest::env::read_slice(&mut raw);
    raw
}
