//! The guest's input transport for bundle v2 (docs/formats.md §1b): `b"CPG2"`, `u32 n` ×
//! (`u64 from`, `u64 to`) hops, then the whole v1 transport (`core::input`, `b"CPG1"…`)
//! of the same bundle's headers, reads and nodes, model, spec and request. Decoded
//! strictly, as v1.

use crate::bundle_v2;
use crate::error::{Error, Result, Rule};
use crate::input::GuestInput;
use crate::request::{self, Outcome};
use alloc::vec::Vec;

const MAGIC: &[u8; 4] = b"CPG2";

/// A request whose bundle is v2: the v1 input and the hops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestInputV2 {
    /// Headers (strictly ascending), reads, nodes, model, spec and request.
    pub input: GuestInput,
    /// `(from, to)` hops, strictly ascending by `to`.
    pub hops: Vec<(u64, u64)>,
}

impl GuestInputV2 {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend_from_slice(MAGIC);
        o.extend_from_slice(&(self.hops.len() as u32).to_le_bytes());
        for (from, to) in &self.hops {
            o.extend_from_slice(&from.to_le_bytes());
            o.extend_from_slice(&to.to_le_bytes());
        }
        o.extend_from_slice(&self.input.encode());
        o
    }

    /// Decode, strictly.
    pub fn decode(data: &[u8]) -> Result<GuestInputV2> {
        let bad = |m: &str| Error::Input(Rule::GuestInput, alloc::format!("guest input v2: {m}"));
        if data.len() < 8 || &data[..4] != MAGIC {
            return Err(bad("bad magic"));
        }
        let n = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize;
        if n > (data.len() - 8) / 16 {
            return Err(bad("hop count larger than the input"));
        }
        let mut hops = Vec::with_capacity(n);
        for i in 0..n {
            let at = 8 + 16 * i;
            let word = |p: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[p..p + 8]);
                u64::from_le_bytes(b)
            };
            hops.push((word(at), word(at + 8)));
        }
        let input = GuestInput::decode(&data[8 + 16 * n..])?;
        Ok(GuestInputV2 { input, hops })
    }

    /// Run the request: verify the bundle v2, then features, score and journal exactly
    /// as for v1 (`request::score`).
    pub fn run(&self) -> Result<Outcome> {
        let verified = bundle_v2::verify_parts(&self.input.bundle, &self.hops)?;
        request::score(&self.input, &verified)
    }
}

/// Whether guest input bytes are the v2 transport.
pub fn is_v2(data: &[u8]) -> bool {
    data.len() >= 4 && &data[..4] == MAGIC
}
