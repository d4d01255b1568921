//! Embeds the guest ELF named by `COPROC_GUEST_ELF` (built by scripts/rust.sh) into the
//! host, so one `coproc-host` binary always carries the program whose image ID it prints.
//! Without it (e.g. `cargo test` of the host alone) an empty ELF is embedded and the
//! zkVM commands fail with a clear error.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=COPROC_GUEST_ELF");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("guest.elf");
    let elf = match env::var("COPROC_GUEST_ELF") {
        Ok(p) if !p.is_empty() => {
            println!("cargo:rerun-if-changed={p}");
            fs::read(&p).unwrap_or_else(|e| panic!("COPROC_GUEST_ELF={p}: {e}"))
        }
        _ => Vec::new(),
    };
    fs::write(out, elf).expect("write guest.elf");
}
