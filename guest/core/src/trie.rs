//! Merkle-Patricia proof walks over a bundle's node pool.
//!
//! The pool holds every node a bundle needs, sorted strictly by `keccak256(node)`, so a
//! reference is resolved with a binary search. Each lookup marks the node used; a bundle
//! with an unused node is rejected. Walks prove inclusion (the leaf's value) and absence
//! (an empty branch slot, or a leaf/extension whose path diverges from the key).

use crate::error::{Error, Result, Rule};
use crate::keccak::{keccak256, EMPTY_TRIE_ROOT};
use crate::rlp::{self, Item};
use alloc::format;
use alloc::vec::Vec;

/// The sorted node pool of a bundle, with usage tracking.
#[derive(Debug)]
pub struct NodePool<'a> {
    hashes: Vec<[u8; 32]>,
    nodes: Vec<&'a [u8]>,
    used: Vec<bool>,
    /// Each node's list items, decoded on its first use: the upper nodes of a trie are
    /// on every walk through it (the storage root of a 1,000-slot read, 1,000 times).
    items: Vec<Option<Vec<Item<'a>>>>,
}

/// The node a walk is at: one of the pool's, or a child inlined in its parent.
enum Current<'a> {
    Pooled(usize),
    Inlined(Vec<Item<'a>>),
}

impl<'a> NodePool<'a> {
    /// Hash every node and check the pool order (strictly ascending: no duplicates) and
    /// that no node shorter than 32 bytes (always inlined by the trie) is present.
    pub fn new(nodes: &[&'a [u8]]) -> Result<Self> {
        let mut hashes = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            if n.len() < 32 {
                return Err(Error::Bundle(
                    Rule::NodesNotInlined,
                    format!("nodes[{i}] is shorter than 32 bytes (such nodes are inlined)"),
                ));
            }
            let h = keccak256(n);
            if let Some(prev) = hashes.last() {
                if *prev >= h {
                    return Err(Error::Bundle(
                        Rule::NodesAscending,
                        format!("nodes[{i}] is out of order or a duplicate (pool must be strictly ascending by keccak256)"),
                    ));
                }
            }
            hashes.push(h);
        }
        let n = nodes.len();
        Ok(NodePool {
            hashes,
            nodes: nodes.to_vec(),
            used: alloc::vec![false; n],
            items: core::iter::repeat_with(|| None).take(n).collect(),
        })
    }

    /// The index of the node hashing to `h`, marked used, its items decoded.
    fn load(&mut self, h: &[u8; 32]) -> Result<usize> {
        let Ok(i) = self.hashes.binary_search(h) else {
            return Err(Error::Trie(Rule::TrieMissingNode, format!("missing node {}", crate::hex::encode(h))));
        };
        self.used[i] = true;
        if self.items[i].is_none() {
            self.items[i] = Some(rlp::decode_list(self.nodes[i])?);
        }
        Ok(i)
    }

    /// Index of the first node no walk used, if any.
    pub fn first_unused(&self) -> Option<usize> {
        self.used.iter().position(|u| !u)
    }

    /// Walk `key` (32 bytes, already hashed) from `root`. `Some(value)` is the leaf's
    /// value (still RLP-encoded, as stored); `None` is a proven absence.
    pub fn walk(&mut self, root: &[u8; 32], key: &[u8; 32]) -> Result<Option<&'a [u8]>> {
        if *root == EMPTY_TRIE_ROOT {
            return Ok(None);
        }
        let mut nibbles = [0u8; 64];
        for (i, b) in key.iter().enumerate() {
            nibbles[2 * i] = b >> 4;
            nibbles[2 * i + 1] = b & 15;
        }
        let mut pos = 0usize;
        let mut current = Current::Pooled(self.load(root)?);
        loop {
            // The current node's list elements.
            let items: &[Item<'a>] = match &current {
                Current::Pooled(i) => self.items[*i].as_deref().unwrap_or(&[]),
                Current::Inlined(items) => items,
            };
            let next: Item<'a> = match items.len() {
                17 => {
                    if pos == 64 {
                        return Err(Error::Trie(Rule::TrieKeyAtBranch, "key ends at a branch node".into()));
                    }
                    let child = items[usize::from(nibbles[pos])];
                    pos += 1;
                    if child == Item::Bytes(&[]) {
                        return Ok(None);
                    }
                    child
                }
                2 => {
                    let (is_leaf, path) = decode_path(items[0].bytes().map_err(|e| e.recode(Rule::TrieNodeShape))?)?;
                    let rest = &nibbles[pos..];
                    if is_leaf {
                        // Keys are 32-byte hashes: a leaf always completes the key.
                        if path.len() != rest.len() {
                            return Err(Error::Trie(Rule::TriePath, "leaf path has the wrong length".into()));
                        }
                        if path != rest {
                            return Ok(None);
                        }
                        return match items[1] {
                            Item::Bytes(v) if !v.is_empty() => Ok(Some(v)),
                            _ => Err(Error::Trie(Rule::TrieLeafValue, "leaf value is not a non-empty byte string".into())),
                        };
                    }
                    if path.is_empty() {
                        return Err(Error::Trie(Rule::TriePath, "extension node with an empty path".into()));
                    }
                    if !rest.starts_with(&path) {
                        return Ok(None);
                    }
                    pos += path.len();
                    items[1]
                }
                n => return Err(Error::Trie(Rule::TrieNodeShape, format!("node with {n} elements"))),
            };
            current = match next {
                Item::Bytes(h) if h.len() == 32 => {
                    let mut hh = [0u8; 32];
                    hh.copy_from_slice(h);
                    Current::Pooled(self.load(&hh)?)
                }
                Item::List(payload) => {
                    // An inlined child: its whole encoding is shorter than 32 bytes.
                    if payload.len() + 1 >= 32 {
                        return Err(Error::Trie(Rule::TrieChildRef, "inlined node of 32 bytes or more".into()));
                    }
                    Current::Inlined(rlp::list_items(payload)?)
                }
                Item::Bytes(_) => return Err(Error::Trie(Rule::TrieChildRef, "bad child reference".into())),
            };
        }
    }
}

/// Hex-prefix (compact) path decoding: returns (is_leaf, nibbles).
pub fn decode_path(b: &[u8]) -> Result<(bool, Vec<u8>)> {
    let Some(&first) = b.first() else {
        return Err(Error::Trie(Rule::TriePath, "empty node path".into()));
    };
    let flag = first >> 4;
    if flag > 3 {
        return Err(Error::Trie(Rule::TriePath, format!("bad hex-prefix flag {flag}")));
    }
    let is_leaf = flag >= 2;
    let odd = flag & 1 == 1;
    let mut out = Vec::with_capacity(2 * b.len());
    if odd {
        out.push(first & 15);
    } else if first & 15 != 0 {
        return Err(Error::Trie(Rule::TriePath, "non-zero padding nibble in an even path".into()));
    }
    for x in &b[1..] {
        out.push(x >> 4);
        out.push(x & 15);
    }
    Ok((is_leaf, out))
}
