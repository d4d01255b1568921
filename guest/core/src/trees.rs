//! The `tree_ensemble` layer of model format v2 (formats.md §2): a sum of decision trees
//! over Q16 features in integers only, `sat32(base + Σ leaf reached)` summed in i64.
//! Bit-equal to `coprocessor/scoring/models/trees.py`.

use crate::error::{Error, Result, Rule};
use crate::model::{sat32, Reader};
use alloc::format;
use alloc::vec::Vec;

/// Most trees in one layer.
pub const MAX_TREES: usize = 8192;
/// Most nodes in one tree.
pub const MAX_NODES: usize = 65536;
/// Most nodes in one layer.
pub const MAX_TOTAL_NODES: usize = 1 << 20;
/// Node kind codes of the canonical bytes.
const LEAF: u8 = 0;
const LE: u8 = 1;
const LT: u8 = 2;

/// One node; node 0 of a tree is its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// A leaf and its Q16 value.
    Leaf(i32),
    /// Go to `yes` when `x[feature] <= threshold` (`le`) or `x[feature] < threshold`, else to `no`.
    Branch { feature: u32, le: bool, threshold: i32, yes: u32, no: u32 },
}

/// The layer: `in` inputs, one output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEnsemble {
    /// Input width.
    pub inp: u32,
    /// Q16 value added to the leaf sum.
    pub base: i32,
    /// The trees.
    pub trees: Vec<Vec<Node>>,
}

fn err(rule: Rule, msg: alloc::string::String) -> Error {
    Error::Model(rule, msg)
}

impl TreeEnsemble {
    /// The rules of a tree_ensemble layer (`k` its index) on an input of `width` values.
    pub fn validate(&self, width: u32, k: usize) -> Result<()> {
        if self.inp != width {
            return Err(err(Rule::ModelShape, format!("layer {k}: tree_ensemble in={} but the width is {width}", self.inp)));
        }
        if self.trees.is_empty() || self.trees.len() > MAX_TREES {
            return Err(err(Rule::ModelLimits, format!("layer {k}: a tree_ensemble has 1..{MAX_TREES} trees")));
        }
        if self.trees.iter().any(|t| t.is_empty() || t.len() > MAX_NODES) {
            return Err(err(Rule::ModelLimits, format!("layer {k}: a tree has 1..{MAX_NODES} nodes")));
        }
        if self.trees.iter().map(Vec::len).sum::<usize>() > MAX_TOTAL_NODES {
            return Err(err(Rule::ModelLimits, format!("layer {k}: more than {MAX_TOTAL_NODES} nodes")));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            let mut parents: Vec<u32> = alloc::vec![0; tree.len()];
            for (i, node) in tree.iter().enumerate() {
                if let Node::Branch { feature, yes, no, .. } = *node {
                    if feature >= self.inp {
                        return Err(err(Rule::ModelTree, format!("layer {k} tree {t} node {i}: feature {feature} >= in")));
                    }
                    for child in [yes, no] {
                        let c = child as usize;
                        if c <= i || c >= tree.len() {
                            return Err(err(Rule::ModelTree, format!("layer {k} tree {t} node {i}: child {child} out of range")));
                        }
                        parents[c] += 1;
                    }
                }
            }
            if let Some(i) = (1..tree.len()).find(|&i| parents[i] != 1) {
                return Err(err(Rule::ModelTree, format!(
                    "layer {k} tree {t} node {i}: the child of {} branches (a tree needs exactly 1)",
                    parents[i]
                )));
            }
        }
        Ok(())
    }

    /// The output on one (validated) input: `sat32(base + Σ leaves)`.
    pub fn eval(&self, x: &[i32]) -> i32 {
        let mut acc = i64::from(self.base);
        for tree in &self.trees {
            let mut i = 0usize;
            loop {
                match tree[i] {
                    Node::Leaf(v) => {
                        acc += i64::from(v);
                        break;
                    }
                    Node::Branch { feature, le, threshold, yes, no } => {
                        let v = x[feature as usize];
                        let go = if le { v <= threshold } else { v < threshold };
                        i = if go { yes } else { no } as usize;
                    }
                }
            }
        }
        sat32(acc)
    }

    /// Canonical bytes after the layer code.
    pub fn write(&self, o: &mut Vec<u8>) {
        o.extend_from_slice(&self.inp.to_le_bytes());
        o.extend_from_slice(&self.base.to_le_bytes());
        o.extend_from_slice(&(self.trees.len() as u32).to_le_bytes());
        for tree in &self.trees {
            o.extend_from_slice(&(tree.len() as u32).to_le_bytes());
            for node in tree {
                match *node {
                    Node::Leaf(v) => {
                        o.push(LEAF);
                        o.extend_from_slice(&v.to_le_bytes());
                    }
                    Node::Branch { feature, le, threshold, yes, no } => {
                        o.push(if le { LE } else { LT });
                        for w in [feature.to_le_bytes(), threshold.to_le_bytes(), yes.to_le_bytes(), no.to_le_bytes()] {
                            o.extend_from_slice(&w);
                        }
                    }
                }
            }
        }
    }

    /// Read the layer from canonical bytes (after the layer code); limits are checked
    /// before anything is allocated.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<TreeEnsemble> {
        let inp = r.u32()?;
        let base = r.i32()?;
        let count = r.u32()? as usize;
        if count == 0 || count > MAX_TREES {
            return Err(err(Rule::ModelLimits, format!("a tree_ensemble has 1..{MAX_TREES} trees")));
        }
        let mut trees = Vec::with_capacity(count);
        let mut total = 0usize;
        for _ in 0..count {
            let n = r.u32()? as usize;
            total += n;
            if n == 0 || n > MAX_NODES || total > MAX_TOTAL_NODES {
                return Err(err(Rule::ModelLimits, format!("a tree has 1..{MAX_NODES} nodes, a layer at most {MAX_TOTAL_NODES}")));
            }
            if n > r.remaining() / 5 {
                return Err(err(Rule::ModelBytes, "tree larger than the model bytes".into()));
            }
            let mut tree = Vec::with_capacity(n);
            for _ in 0..n {
                tree.push(match r.u8()? {
                    LEAF => Node::Leaf(r.i32()?),
                    kind @ (LE | LT) => {
                        Node::Branch { feature: r.u32()?, le: kind == LE, threshold: r.i32()?, yes: r.u32()?, no: r.u32()? }
                    }
                    c => return Err(err(Rule::ModelTree, format!("unknown node kind {c}"))),
                });
            }
            trees.push(tree);
        }
        Ok(TreeEnsemble { inp, base, trees })
    }
}

#[cfg(feature = "std")]
/// The layer from its JSON object (`op` already read, keys checked by the caller).
pub fn from_json(lo: &serde_json::Map<alloc::string::String, serde_json::Value>, k: usize) -> Result<TreeEnsemble> {
    use crate::model::{json_i32, json_u32};
    let null = serde_json::Value::Null;
    let w = |s: &str| -> alloc::string::String { format!("layers[{k}].{s}") };
    let inp = json_u32(lo.get("in").unwrap_or(&null), &w("in"))?;
    let base = json_i32(lo.get("base").unwrap_or(&null), &w("base"))?;
    let trees_v = lo
        .get("trees")
        .and_then(|t| t.as_array())
        .ok_or_else(|| err(Rule::ModelTypes, w("trees: expected a list of node lists")))?;
    if trees_v.is_empty() || trees_v.len() > MAX_TREES {
        return Err(err(Rule::ModelLimits, format!("layers[{k}]: a tree_ensemble has 1..{MAX_TREES} trees")));
    }
    let mut trees = Vec::with_capacity(trees_v.len());
    for (t, tree_v) in trees_v.iter().enumerate() {
        let nodes = tree_v.as_array().ok_or_else(|| err(Rule::ModelTypes, w("trees: expected a list of node lists")))?;
        let mut tree = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            let at = format!("layers[{k}].trees[{t}][{i}]");
            let shape = || err(Rule::ModelTypes, format!("{at}: a node is [value] or [feature, mode, threshold, yes, no]"));
            let a = n.as_array().ok_or_else(shape)?;
            tree.push(match a.len() {
                1 => Node::Leaf(json_i32(&a[0], &at)?),
                5 => {
                    let le = match a[1].as_str() {
                        Some("<=") => true,
                        Some("<") => false,
                        Some(m) => return Err(err(Rule::ModelTree, format!("{at}: mode must be \"<=\" or \"<\", got {m:?}"))),
                        None => return Err(shape()),
                    };
                    let index = |v: &serde_json::Value| -> Result<u32> {
                        if !(v.is_i64() || v.is_u64()) {
                            return Err(err(Rule::ModelTypes, format!("{at}: expected an integer")));
                        }
                        // a negative or huge index breaks the tree rule, as in Python
                        Ok(v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(u32::MAX))
                    };
                    Node::Branch { feature: index(&a[0])?, le, threshold: json_i32(&a[2], &at)?, yes: index(&a[3])?, no: index(&a[4])? }
                }
                _ => return Err(shape()),
            });
        }
        trees.push(tree);
    }
    Ok(TreeEnsemble { inp, base, trees })
}
