//! Generates the sigmoid table of model format v1 from `spec/sigmoid_q16.json`, the one
//! source of truth, so Rust never carries a hand-copied table.
use std::{env, fs, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let spec = manifest.join("../../spec/sigmoid_q16.json");
    println!("cargo:rerun-if-changed={}", spec.display());
    let text = fs::read_to_string(&spec).expect("read spec/sigmoid_q16.json");
    let start = text.find("\"table\"").expect("table key");
    let open = start + text[start..].find('[').expect("table [");
    let close = open + text[open..].find(']').expect("table ]");
    let values: Vec<i32> = text[open + 1..close]
        .split(',')
        .map(|s| s.trim().parse::<i32>().expect("integer table entry"))
        .collect();
    assert_eq!(values.len(), 257, "sigmoid table must have 257 entries");
    let num = |key: &str| -> i64 {
        let k = text.find(&format!("\"{key}\"")).expect("key");
        let rest = &text[k + key.len() + 2..];
        let colon = rest.find(':').expect(":");
        let end = rest[colon + 1..].find([',', '}']).expect("end");
        rest[colon + 1..colon + 1 + end].trim().parse().expect("integer")
    };
    assert_eq!(num("scale_bits"), 16);
    assert_eq!(num("x_min_q16"), -524288);
    assert_eq!(num("step_shift"), 12);
    let body: Vec<String> = values.iter().map(i32::to_string).collect();
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("sigmoid_table.rs");
    fs::write(out, format!("/// Generated from spec/sigmoid_q16.json.\npub const TABLE: [i32; 257] = [{}];\n", body.join(", ")))
        .expect("write table");
}
