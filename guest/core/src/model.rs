//! Model format v1/v2 (formats.md §2): canonical bytes, validation and fixed-point inference.
//! Version 2 is version 1 plus the `tree_ensemble` layer (`trees.rs`), used exactly when a
//! model has one.

use crate::error::{Error, Result, Rule};
use crate::sigmoid::sigmoid_q16;
use crate::trees::TreeEnsemble;
use alloc::format;

use alloc::vec::Vec;

/// Largest `input_dim`, dense `in` and `out`.
pub const MAX_DIM: u32 = 4096;
/// Most layers in a model.
pub const MAX_LAYERS: usize = 256;

/// One layer of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// `y = sat32(rshift_round(W·x + (b << 16), 16))`; `weights` row-major, `out` rows of `inp`.
    Dense { inp: u32, out: u32, weights: Vec<i32>, bias: Vec<i32> },
    /// `max(x, 0)`.
    Relu,
    /// Table sigmoid.
    Sigmoid,
    /// Clamp to `[min, max]`.
    Clip { min: i32, max: i32 },
    /// Q16 to basis points, clamped to 0..=10000.
    ToBps,
    /// A sum of decision trees (version 2), one output.
    Trees(TreeEnsemble),
}

/// A validated model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Length of the input vector.
    pub input_dim: u32,
    /// Layers in order.
    pub layers: Vec<Layer>,
}

/// `(v + 2^(s-1)) >> s` with a flooring shift: round half up.
pub fn rshift_round(v: i64, s: u32) -> i64 {
    (v + (1i64 << (s - 1))) >> s
}

/// Clamp to the int32 range.
pub fn sat32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| Error::Model(Rule::ModelBytes, "truncated canonical bytes".into()))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(self.u32()? as i32)
    }
}

impl Model {
    /// Parse and validate canonical bytes (`CPM1` ...). No trailing bytes.
    pub fn from_canonical(b: &[u8]) -> Result<Model> {
        let mut r = Reader { b, pos: 0 };
        if r.take(4)? != b"CPM1" {
            return Err(Error::Model(Rule::ModelBytes, "bad magic (expected CPM1)".into()));
        }
        let version = r.u8()?;
        if version != 1 && version != 2 {
            return Err(Error::Model(Rule::ModelVersion, format!("unsupported version {version}")));
        }
        let scale = r.u8()?;
        if scale != 16 {
            return Err(Error::Model(Rule::ModelScale, format!("unsupported scale_bits {scale} (v1 is Q16)")));
        }
        let input_dim = r.u32()?;
        let count = r.u32()?;
        if count as usize > MAX_LAYERS {
            return Err(Error::Model(Rule::ModelLimits, format!("more than {MAX_LAYERS} layers")));
        }
        let mut layers = Vec::new();
        for _ in 0..count {
            let layer = match r.u8()? {
                1 => {
                    let inp = r.u32()?;
                    let out = r.u32()?;
                    let n = (inp as usize)
                        .checked_mul(out as usize)
                        .filter(|&n| n <= (b.len() - r.pos) / 4)
                        .ok_or_else(|| Error::Model(Rule::ModelBytes, "dense layer larger than the model bytes".into()))?;
                    let mut weights = Vec::with_capacity(n);
                    for _ in 0..n {
                        weights.push(r.i32()?);
                    }
                    let mut bias = Vec::with_capacity(out as usize);
                    for _ in 0..out {
                        bias.push(r.i32()?);
                    }
                    Layer::Dense { inp, out, weights, bias }
                }
                2 => Layer::Relu,
                3 => Layer::Sigmoid,
                4 => Layer::Clip { min: r.i32()?, max: r.i32()? },
                5 => Layer::ToBps,
                6 => Layer::Trees(TreeEnsemble::read(&mut r)?),
                c => return Err(Error::Model(Rule::ModelOp, format!("unknown layer code {c}"))),
            };
            layers.push(layer);
        }
        if r.pos != b.len() {
            return Err(Error::Model(Rule::ModelBytes, "trailing bytes after the last layer".into()));
        }
        let m = Model { input_dim, layers };
        m.validate()?;
        m.check_version(version)?;
        Ok(m)
    }

    /// 2 if the model has a tree_ensemble layer, else 1.
    pub fn version(&self) -> u8 {
        if self.layers.iter().any(|l| matches!(l, Layer::Trees(_))) {
            2
        } else {
            1
        }
    }

    /// Rule M017: the stated version is the model's version.
    fn check_version(&self, stated: u8) -> Result<()> {
        if stated != self.version() {
            return Err(Error::Model(Rule::ModelTreeVersion, format!(
                "version {stated} but the model is version {} (2 exactly when it has a tree_ensemble layer)",
                self.version()
            )));
        }
        Ok(())
    }

    /// The checks of formats.md §2 "Validity" (including the size limits).
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_DIM).contains(&self.input_dim) {
            return Err(Error::Model(Rule::ModelLimits, format!("input_dim must be 1..{MAX_DIM}")));
        }
        if self.layers.is_empty() || self.layers.len() > MAX_LAYERS {
            return Err(Error::Model(Rule::ModelLimits, format!("a model has 1..{MAX_LAYERS} layers")));
        }
        let mut width = self.input_dim;
        for (k, l) in self.layers.iter().enumerate() {
            match l {
                Layer::ToBps if k + 1 != self.layers.len() => {
                    return Err(Error::Model(Rule::ModelToBpsLast, format!("layer {k}: to_bps must be the last layer")));
                }
                Layer::Dense { inp, out, weights, bias } => {
                    if !(1..=MAX_DIM).contains(inp) || !(1..=MAX_DIM).contains(out) {
                        return Err(Error::Model(Rule::ModelLimits, format!("layer {k}: dense in/out must be 1..{MAX_DIM}")));
                    }
                    if *inp != width {
                        return Err(Error::Model(Rule::ModelShape, format!("layer {k}: dense in={inp} but the width is {width}")));
                    }
                    if weights.len() != (*inp as usize) * (*out as usize) || bias.len() != *out as usize {
                        return Err(Error::Model(Rule::ModelShape, format!("layer {k}: weight/bias shape mismatch")));
                    }
                    if *inp > 0 {
                        for (row_i, row) in weights.chunks(*inp as usize).enumerate() {
                            let s: i64 = row.iter().map(|w| i64::from(*w).abs()).sum();
                            if s > i64::from(i32::MAX) {
                                return Err(Error::Model(Rule::ModelRowBound, format!(
                                    "layer {k}: row {row_i} has sum |w| > 2^31-1"
                                )));
                            }
                        }
                    }
                    width = *out;
                }
                Layer::Trees(t) => {
                    t.validate(width, k)?;
                    width = 1;
                }
                Layer::Clip { min, max } if min > max => {
                    return Err(Error::Model(Rule::ModelClip, format!("layer {k}: clip min > max")));
                }
                _ => {}
            }
        }
        if self.layers.last() != Some(&Layer::ToBps) {
            return Err(Error::Model(Rule::ModelToBpsLast, "the last layer must be to_bps".into()));
        }
        if width != 1 {
            return Err(Error::Model(Rule::ModelFinalWidth, format!("final width is {width}, expected 1")));
        }
        Ok(())
    }

    /// Canonical bytes (formats.md §2).
    pub fn to_canonical(&self) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend_from_slice(b"CPM1");
        o.push(self.version());
        o.push(16);
        o.extend_from_slice(&self.input_dim.to_le_bytes());
        o.extend_from_slice(&(self.layers.len() as u32).to_le_bytes());
        for l in &self.layers {
            match l {
                Layer::Dense { inp, out, weights, bias } => {
                    o.push(1);
                    o.extend_from_slice(&inp.to_le_bytes());
                    o.extend_from_slice(&out.to_le_bytes());
                    for w in weights.iter().chain(bias) {
                        o.extend_from_slice(&w.to_le_bytes());
                    }
                }
                Layer::Relu => o.push(2),
                Layer::Sigmoid => o.push(3),
                Layer::Clip { min, max } => {
                    o.push(4);
                    o.extend_from_slice(&min.to_le_bytes());
                    o.extend_from_slice(&max.to_le_bytes());
                }
                Layer::ToBps => o.push(5),
                Layer::Trees(t) => {
                    o.push(6);
                    t.write(&mut o);
                }
            }
        }
        o
    }

    /// Run the model; returns the score in basis points (0..=10000).
    pub fn eval(&self, x: &[i32]) -> Result<u32> {
        if x.len() != self.input_dim as usize {
            return Err(Error::Model(Rule::ModelInputLength, format!(
                "input has {} values, the model takes {}",
                x.len(),
                self.input_dim
            )));
        }
        let mut v: Vec<i32> = x.to_vec();
        for l in &self.layers {
            v = match l {
                Layer::Dense { inp, weights, bias, .. } => {
                    let n = *inp as usize;
                    bias.iter()
                        .enumerate()
                        .map(|(i, b)| {
                            let mut acc: i64 = i64::from(*b) << 16;
                            for (w, xj) in weights[i * n..(i + 1) * n].iter().zip(&v) {
                                acc += i64::from(*w) * i64::from(*xj);
                            }
                            sat32(rshift_round(acc, 16))
                        })
                        .collect()
                }
                Layer::Relu => v.iter().map(|&a| a.max(0)).collect(),
                Layer::Sigmoid => v.iter().map(|&a| sigmoid_q16(a)).collect(),
                Layer::Clip { min, max } => v.iter().map(|&a| a.clamp(*min, *max)).collect(),
                Layer::ToBps => v
                    .iter()
                    .map(|&a| ((i64::from(a) * 10_000 + (1 << 15)) >> 16).clamp(0, 10_000) as i32)
                    .collect(),
                Layer::Trees(t) => alloc::vec![t.eval(&v)],
            };
        }
        // validate() guarantees a final width of 1 and a to_bps last layer.
        Ok(v[0] as u32)
    }
}

#[cfg(feature = "std")]
pub(crate) fn json_i32(v: &serde_json::Value, what: &str) -> Result<i32> {
    if !(v.is_i64() || v.is_u64()) {
        return Err(Error::Model(Rule::ModelTypes, format!("{what}: expected an integer")));
    }
    v.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| Error::Model(Rule::ModelInt32, format!("{what}: expected an int32 integer")))
}

#[cfg(feature = "std")]
pub(crate) fn json_u32(v: &serde_json::Value, what: &str) -> Result<u32> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| Error::Model(Rule::ModelTypes, format!("{what}: expected a uint32 integer")))
}

#[cfg(feature = "std")]
/// Parse the JSON form of a model (name and meta are ignored: not hashed).
pub fn from_json(v: &serde_json::Value) -> Result<Model> {
    let m = v.as_object().ok_or_else(|| Error::Model(Rule::ModelTypes, "expected a JSON object".into()))?;
    let known = |obj: &serde_json::Map<alloc::string::String, serde_json::Value>, keys: &[&str], what: &str| -> Result<()> {
        match obj.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(Error::Model(Rule::ModelKeys, format!("{what}: unknown key {k:?}"))),
            None => Ok(()),
        }
    };
    known(m, &["format", "version", "name", "scale_bits", "input_dim", "layers", "meta"], "top")?;
    if m.get("name").is_some_and(|n| !n.is_string()) {
        return Err(Error::Model(Rule::ModelTypes, "name must be a string".into()));
    }
    if m.get("meta").is_some_and(|n| !n.is_object()) {
        return Err(Error::Model(Rule::ModelTypes, "meta must be an object".into()));
    }
    if m.get("format").and_then(|f| f.as_str()) != Some("coproc-model") {
        return Err(Error::Model(Rule::ModelFormat, "format is not \"coproc-model\"".into()));
    }
    let version = match m.get("version").and_then(serde_json::Value::as_u64) {
        Some(1) => 1u8,
        Some(2) => 2u8,
        _ => return Err(Error::Model(Rule::ModelVersion, "unsupported version (this reader knows versions 1 and 2)".into())),
    };
    if m.get("scale_bits").and_then(serde_json::Value::as_u64) != Some(16) {
        return Err(Error::Model(Rule::ModelScale, "scale_bits must be 16".into()));
    }
    let input_dim = json_u32(m.get("input_dim").unwrap_or(&serde_json::Value::Null), "input_dim")?;
    let layers_v = m
        .get("layers")
        .and_then(|l| l.as_array())
        .ok_or_else(|| Error::Model(Rule::ModelTypes, "layers: expected an array".into()))?;
    let mut layers = Vec::new();
    for (k, l) in layers_v.iter().enumerate() {
        let lo = l.as_object().ok_or_else(|| Error::Model(Rule::ModelTypes, format!("layers[{k}]: expected an object")))?;
        let op = lo.get("op").and_then(|o| o.as_str()).unwrap_or("");
        let field = |name: &str| lo.get(name).unwrap_or(&serde_json::Value::Null);
        let allowed: &[&str] = match op {
            "dense" => &["op", "in", "out", "weights", "bias"],
            "clip" => &["op", "min", "max"],
            "tree_ensemble" => &["op", "in", "base", "trees"],
            _ => &["op"],
        };
        known(lo, allowed, &format!("layers[{k}]"))?;
        let w = |s: &str| -> alloc::string::String { format!("layers[{k}].{s}") };
        layers.push(match op {
            "dense" => {
                let inp = json_u32(field("in"), &w("in"))?;
                let out = json_u32(field("out"), &w("out"))?;
                let rows = field("weights").as_array().ok_or_else(|| Error::Model(Rule::ModelTypes, w("weights: expected rows")))?;
                if rows.len() != out as usize {
                    return Err(Error::Model(Rule::ModelShape, format!("layers[{k}]: {} weight rows, out = {out}", rows.len())));
                }
                let mut weights = Vec::new();
                for row in rows {
                    let row = row.as_array().ok_or_else(|| Error::Model(Rule::ModelTypes, w("weights: expected rows")))?;
                    if row.len() != inp as usize {
                        return Err(Error::Model(Rule::ModelShape, format!("layers[{k}]: weight row of {} values, in = {inp}", row.len())));
                    }
                    for x in row {
                        weights.push(json_i32(x, &w("weights"))?);
                    }
                }
                let bias_v = field("bias").as_array().ok_or_else(|| Error::Model(Rule::ModelTypes, w("bias: expected an array")))?;
                let bias = bias_v.iter().map(|x| json_i32(x, &w("bias"))).collect::<Result<Vec<_>>>()?;
                Layer::Dense { inp, out, weights, bias }
            }
            "relu" => Layer::Relu,
            "sigmoid" => Layer::Sigmoid,
            "clip" => Layer::Clip { min: json_i32(field("min"), &w("min"))?, max: json_i32(field("max"), &w("max"))? },
            "to_bps" => Layer::ToBps,
            "tree_ensemble" => Layer::Trees(crate::trees::from_json(lo, k)?),
            other => return Err(Error::Model(Rule::ModelOp, format!("layers[{k}]: unknown op {other:?}"))),
        });
    }
    let model = Model { input_dim, layers };
    model.validate()?;
    model.check_version(version)?;
    Ok(model)
}
