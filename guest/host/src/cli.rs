//! Dispatch: the command name picks the module that runs it.

use crate::output::{Failure, Res};
use crate::{core_cmds, zkvm};

const USAGE: &str = "usage: coproc-host image-id | execute | prove | prove-segments | verify | batch | core <run|verify-bundle|model-eval|model-hash|spec-hash|features>";

pub fn dispatch(args: &[String]) -> Res<()> {
    let Some(cmd) = args.first() else {
        return Err(Failure::user(USAGE));
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "image-id" => zkvm::image_id_cmd(rest),
        "execute" => zkvm::execute_cmd(rest),
        "prove" => zkvm::prove_cmd(rest),
        "prove-segments" => crate::prove_bench::prove_segments_cmd(rest),
        "verify" => zkvm::verify_cmd(rest),
        "batch" => crate::batch::native_cmd(rest),
        "core" => core_cmds::dispatch(rest),
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(Failure::user(format!("unknown command {other:?}; {USAGE}"))),
    }
}
