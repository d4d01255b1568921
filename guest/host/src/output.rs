//! What every command shares: the failure type with its exit code, `--key value`
//! options and JSON output. Imports nothing of this crate, so no module circles back.

use std::collections::BTreeMap;

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn user(m: impl Into<String>) -> Self {
        Failure { code: 2, message: m.into() }
    }
    pub fn verify(m: impl Into<String>) -> Self {
        Failure { code: 1, message: m.into() }
    }
    pub fn tool(m: impl Into<String>) -> Self {
        Failure { code: 3, message: m.into() }
    }
}

impl From<coproc_core::Error> for Failure {
    fn from(e: coproc_core::Error) -> Self {
        use coproc_core::Error as E;
        match e {
            E::Input(..) | E::Model(..) | E::Spec(..) => Failure::user(e.to_string()),
            _ => Failure::verify(e.to_string()),
        }
    }
}

pub type Res<T> = Result<T, Failure>;

/// `--key value` options; every key must be known.
pub fn options(args: &[String], known: &[&str]) -> Res<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let key = a.strip_prefix("--").ok_or_else(|| Failure::user(format!("unexpected argument {a:?}")))?;
        if !known.contains(&key) {
            return Err(Failure::user(format!("unknown option --{key}")));
        }
        let v = it.next().ok_or_else(|| Failure::user(format!("--{key} needs a value")))?;
        out.insert(key.to_owned(), v.clone());
    }
    Ok(out)
}

pub fn print_json(v: &serde_json::Value) -> Res<()> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure::tool(e.to_string()))?;
    println!("{s}");
    Ok(())
}
