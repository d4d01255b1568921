#![no_main]
use std::io::Read;
use coproc_core::input::GuestInput;
risc0_zkvm::guest::entry!(main);
fn c(tag: &str) { eprintln!("CYC {tag} {}", risc0_zkvm::guest::env::cycle_count()); }
fn main() {
    c("start");
    let mut raw = Vec::new();
    risc0_zkvm::guest::env::stdin().read_to_end(&mut raw).unwrap();
    c("read");
    let input = GuestInput::decode(&raw).unwrap();
    c("decode");
    let mut total = 0usize;
    for n in &input.bundle.nodes { total += coproc_core::keccak::keccak256(n)[0] as usize; }
    c("hash-nodes-only");
    let v = coproc_core::bundle::verify(&input.bundle).unwrap();
    c("verify");
    let m = coproc_core::model::Model::from_canonical(&input.model).unwrap();
    c("model");
    let s = coproc_core::spec::parse_canonical(&input.spec).unwrap();
    c("spec");
    let f = coproc_core::features::compute(&s, &v, &input.subject, input.request_block).unwrap();
    c("features");
    let _ = m.eval(&f).unwrap();
    c("eval");
    let _ = coproc_core::keccak::keccak256(&input.spec);
    c("spechash");
    let out = coproc_core::request::run(&input).unwrap();
    c("run");
    risc0_zkvm::guest::env::commit_slice(&out.journal.encode());
    eprintln!("{total}");
}
