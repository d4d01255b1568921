//! `coproc-host`: the host side of the coproc zkVM guest. JSON in, JSON out.
//!
//! Commands (see docs/guest.md):
//!   image-id
//!   execute --bundle F --model F --spec F --subject ADDR [--request-id HEX] [--block N]
//!   prove   (same inputs) --out RECEIPT [--receipt-kind composite|succinct|groth16]
//!   verify  --receipt RECEIPT [--image-id HEX]
//!   prove-segments (request options) --segment-po2 K [--segments S]  (prover speed: bench/prover_opt_levels.py)
//!   execute|prove ... --subjects A,B,C|FILE [--request-ids ..] [--batch-id HEX]  (batch mode)
//!   batch   (request options) --subjects ...   (the batch natively: journal and leaves)
//!   core run|verify-bundle|model-eval|model-hash|spec-hash|features  (JSON on stdin)
//!   core protocol-read|protocol-math  (protocol reads natively, see protocol_cmds.rs)
//!
//! Exit codes: 0 ok, 1 verification failed, 2 bad input, 3 prover/tool failure.

mod batch;
mod cli;
mod core_cmds;
mod jsontext;
mod output;
mod protocol_cmds;
mod prove_bench;
mod request;
mod zkvm;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = e.message.replace('\n', " ");
            eprintln!("coproc-host: error: {msg}");
            ExitCode::from(e.code)
        }
    }
}
