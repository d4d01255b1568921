//! Generates, from the one source of truth in `spec/`, what Rust must never hand-copy:
//! the sigmoid table of model format v1 (`spec/sigmoid_q16.json`) and the rule codes of
//! every format (`spec/rule_codes.json`, shared with Python).
use std::{env, fs, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    sigmoid_table(&manifest, &out);
    rule_codes(&manifest, &out);
}

fn sigmoid_table(manifest: &PathBuf, out: &PathBuf) {
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
    fs::write(
        out.join("sigmoid_table.rs"),
        format!("/// Generated from spec/sigmoid_q16.json.\npub const TABLE: [i32; 257] = [{}];\n", body.join(", ")),
    )
    .expect("write table");
}

/// The string value of `"key": "..."` at or after `from` (values hold no quote).
fn string_after(text: &str, key: &str, from: usize) -> (String, usize) {
    let k = from + text[from..].find(&format!("\"{key}\"")).expect("key");
    let colon = k + text[k..].find(':').expect(":");
    let open = colon + text[colon..].find('"').expect("value \"");
    let close = open + 1 + text[open + 1..].find('"').expect("value end");
    (text[open + 1..close].to_owned(), close)
}

/// `rlp_canonical` -> `RlpCanonical`.
fn camel(name: &str) -> String {
    name.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

fn rule_codes(manifest: &PathBuf, out: &PathBuf) {
    let spec = manifest.join("../../spec/rule_codes.json");
    println!("cargo:rerun-if-changed={}", spec.display());
    let text = fs::read_to_string(&spec).expect("read spec/rule_codes.json");
    let mut pos = text.find("\"rules\"").expect("rules key");
    let mut rules: Vec<(String, String)> = Vec::new();
    while let Some(next) = text[pos..].find("\"code\"") {
        let (code, end) = string_after(&text, "code", pos + next);
        let (name, end) = string_after(&text, "name", end);
        assert!(code.len() == 4 && code.is_ascii(), "rule code {code:?}");
        assert!(!rules.iter().any(|(c, n)| *c == code || *n == name), "duplicate rule {code} {name}");
        rules.push((code, name));
        pos = end;
    }
    assert!(rules.len() >= 10, "spec/rule_codes.json: too few rules");
    let mut o = String::from(
        "/// A rule of a format (generated from spec/rule_codes.json; the variant is the rule's name).\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub enum Rule {\n",
    );
    for (code, name) in &rules {
        o += &format!("    /// `{code}` {name}\n    {},\n", camel(name));
    }
    o += "}\n\nimpl Rule {\n    /// Every rule, in the order of the spec.\n";
    o += &format!("    pub const ALL: [Rule; {}] = [", rules.len());
    o += &rules.iter().map(|(_, n)| format!("Rule::{}", camel(n))).collect::<Vec<_>>().join(", ");
    o += "];\n\n    /// The stable code, e.g. `B008`.\n    pub const fn code(self) -> &'static str {\n        match self {\n";
    for (code, name) in &rules {
        o += &format!("            Rule::{} => \"{code}\",\n", camel(name));
    }
    o += "        }\n    }\n\n    /// The rule's name in the spec, e.g. `anchor_hash`.\n    pub const fn name(self) -> &'static str {\n        match self {\n";
    for (_, name) in &rules {
        o += &format!("            Rule::{} => \"{name}\",\n", camel(name));
    }
    o += "        }\n    }\n}\n";
    fs::write(out.join("rules.rs"), o).expect("write rules");
}
