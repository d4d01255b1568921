//! JSON text from outside (files, stdin) into serde_json values: one spelling and
//! bounded nesting first (`coproc_core::json::structure_problem`, the rules the
//! Python readers apply too), so a key written twice is refused instead of the last
//! one winning.

use crate::output::{Failure, Res};

/// Parse `text`, named `what` in messages (e.g. `"bundle b.json"`).
pub fn parse(text: &[u8], what: &str) -> Res<serde_json::Value> {
    if let Some(problem) = coproc_core::json::structure_problem(text) {
        return Err(Failure::user(format!("{what}: {problem}")));
    }
    serde_json::from_slice(text).map_err(|e| Failure::user(format!("{what}: not JSON: {e}")))
}
