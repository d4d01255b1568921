//! Batch requests (docs/formats.md §5): one run scores N distinct subjects with one
//! model and one spec over one bundle, and commits batch journal v1, whose results root
//! is the sorted-pair keccak tree over the N leaves.
//!
//! Everything that does not depend on the subject is done once: the bundle (headers,
//! every read and slot, node pool) is verified once, the model and the spec are parsed
//! once, the request block is checked once, and the subject-free features
//! (`features::subject_free`: reads of literal addresses and slots, series of them,
//! combinations of those) are computed for the first subject and reused. Per subject
//! only the other feature lookups, the model and the leaf hash run.
//!
//! The bundle is v1 or v2 (docs/formats.md §1b: reads at older blocks tied to the anchor
//! by EIP-2935 hops): a v2 bundle's hops, header links and history reads are verified
//! once, like everything else in it, and a spec v2 series reads the same verified
//! samples for every subject.
//!
//! Transport (integers little-endian): `b"CPB1"`, `[32] batch_id`, `u32 n` ×
//! (`[20] subject`, `[32] request_id`), then the single-request transport whose own
//! subject and request id are zero (the batch's are in the list): v1 (`core::input`,
//! `b"CPG1"…`) for a bundle v1, v2 (`core::input_v2`, `b"CPG2"`, the hops, then
//! `b"CPG1"…`) for a bundle v2.

use crate::bundle::{self, Verified};
use crate::bundle_v2;
use crate::error::{Error, Result, Rule};
use crate::features;
use crate::input::GuestInput;
use crate::input_v2::{self, GuestInputV2};
use crate::keccak::keccak256;
use crate::model::Model;
use crate::spec;
use alloc::format;
use alloc::vec::Vec;

const MAGIC: &[u8; 4] = b"CPB1";
/// Length of the batch journal: 7 ABI words.
pub const JOURNAL_LEN: usize = 224;
/// Most subjects one batch takes (rule `batch_size`).
pub const MAX_SUBJECTS: usize = 4096;

/// A batch request: the shared input and the subjects with their request ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInput {
    /// Bundle, model, spec and request block (subject and request id zero).
    pub input: GuestInput,
    /// The batch's id (zero: the results root is used, see [`run`]).
    pub batch_id: [u8; 32],
    /// `(subject, request_id)` of each leaf, in leaf order.
    pub subjects: Vec<([u8; 20], [u8; 32])>,
    /// The hops of a bundle v2 (`None`: the bundle is v1).
    pub hops: Option<Vec<(u64, u64)>>,
}

/// One result of a batch (a leaf of its tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Request block `B`.
    pub block_number: u64,
    /// The scored address.
    pub subject: [u8; 20],
    /// keccak256 of the canonical model bytes.
    pub model_hash: [u8; 32],
    /// keccak256 of the canonical feature spec.
    pub feature_spec_hash: [u8; 32],
    /// Score in basis points.
    pub score: u32,
    /// The subject's request id.
    pub request_id: [u8; 32],
}

/// Batch journal v1 (224 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchJournal {
    /// Chain id from the bundle.
    pub chain_id: u64,
    /// Anchor block number.
    pub anchor_number: u64,
    /// Anchor block hash.
    pub anchor_hash: [u8; 32],
    /// Root of the tree over the leaf hashes.
    pub results_root: [u8; 32],
    /// Number of leaves.
    pub count: u32,
    /// Replay-protection id.
    pub batch_id: [u8; 32],
}

/// What a batch run yields: the journal and every leaf, in order.
#[derive(Debug, Clone)]
pub struct BatchOutcome {
    /// What the guest commits.
    pub journal: BatchJournal,
    /// The leaves, in input order.
    pub leaves: Vec<Leaf>,
    /// The feature vector of each leaf.
    pub features: Vec<Vec<i32>>,
}

fn uint_word(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

fn addr_word(a: &[u8; 20]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

impl Leaf {
    /// `keccak256(keccak256(abi.encode(fields)))`.
    pub fn hash(&self) -> [u8; 32] {
        let words = [
            uint_word(self.block_number),
            addr_word(&self.subject),
            self.model_hash,
            self.feature_spec_hash,
            uint_word(u64::from(self.score)),
            self.request_id,
        ];
        keccak256(&keccak256(&words.concat()))
    }
}

impl BatchJournal {
    /// `abi.encode(1, chainId, anchorNumber, anchorHash, resultsRoot, count, batchId)`.
    pub fn encode(&self) -> [u8; JOURNAL_LEN] {
        let words = [
            uint_word(1),
            uint_word(self.chain_id),
            uint_word(self.anchor_number),
            self.anchor_hash,
            self.results_root,
            uint_word(u64::from(self.count)),
            self.batch_id,
        ];
        let mut out = [0u8; JOURNAL_LEN];
        out.copy_from_slice(&words.concat());
        out
    }
}

fn parent(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut cat = [0u8; 64];
    cat[..32].copy_from_slice(lo);
    cat[32..].copy_from_slice(hi);
    keccak256(&cat)
}

fn up(level: &[[u8; 32]]) -> Vec<[u8; 32]> {
    level.chunks(2).map(|p| if p.len() == 2 { parent(&p[0], &p[1]) } else { p[0] }).collect()
}

/// Root of the tree over `leaves` (pairs sorted, an odd last node carried up); `None`
/// for no leaves.
pub fn root(leaves: &[[u8; 32]]) -> Option<[u8; 32]> {
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = up(&level);
    }
    level.first().copied()
}

/// Sibling hashes from leaf `index` to the root (a carried-up node contributes none).
pub fn proof(leaves: &[[u8; 32]], mut index: usize) -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        if let Some(s) = level.get(index ^ 1) {
            out.push(*s);
        }
        level = up(&level);
        index /= 2;
    }
    out
}

/// Fold `leaf` with `siblings`; equal to the root iff the proof holds.
pub fn fold(leaf: &[u8; 32], siblings: &[[u8; 32]]) -> [u8; 32] {
    siblings.iter().fold(*leaf, |node, s| parent(&node, s))
}

/// The smallest index whose subject equals an earlier one (sort, not an O(n²) scan).
fn first_repeat(subjects: &[([u8; 20], [u8; 32])]) -> Option<usize> {
    let mut order: Vec<usize> = (0..subjects.len()).collect();
    order.sort_unstable_by(|&a, &b| subjects[a].0.cmp(&subjects[b].0).then(a.cmp(&b)));
    order.windows(2).filter(|w| subjects[w[0]].0 == subjects[w[1]].0).map(|w| w[1]).min()
}

/// Rules `batch_size` and `batch_subject_unique`.
fn check_subjects(subjects: &[([u8; 20], [u8; 32])]) -> Result<()> {
    if subjects.is_empty() || subjects.len() > MAX_SUBJECTS {
        return Err(Error::Input(Rule::BatchSize, format!(
            "a batch holds 1..={MAX_SUBJECTS} subjects, not {}",
            subjects.len()
        )));
    }
    if let Some(i) = first_repeat(subjects) {
        return Err(Error::Input(Rule::BatchSubjectUnique, format!(
            "batch subject {i} ({}) repeats an earlier subject",
            crate::hex::encode(&subjects[i].0)
        )));
    }
    Ok(())
}

/// Run a batch: verify the bundle once (v1, or v2 with its hops), then [`score`].
pub fn run(batch: &BatchInput) -> Result<BatchOutcome> {
    check_subjects(&batch.subjects)?;
    let verified = match &batch.hops {
        None => bundle::verify(&batch.input.bundle)?,
        Some(hops) => bundle_v2::verify_parts(&batch.input.bundle, hops)?,
    };
    score(batch, &verified)
}

/// The batch on a verified bundle: every subject's leaf, the root, the journal. A zero
/// batch id commits the results root as the batch id.
pub fn score(batch: &BatchInput, verified: &Verified) -> Result<BatchOutcome> {
    check_subjects(&batch.subjects)?;
    let input = &batch.input;
    let model = Model::from_canonical(&input.model)?;
    let spec = spec::parse_canonical(&input.spec)?;
    let b = input.request_block;
    if b < verified.first_block() || b > verified.anchor().number {
        return Err(Error::Bundle(Rule::RequestBlock, format!(
            "request block {b} is outside the bundle's headers {}..={}",
            verified.first_block(),
            verified.anchor().number
        )));
    }
    let model_hash = keccak256(&input.model);
    let feature_spec_hash = keccak256(&input.spec);
    let mut leaves = Vec::with_capacity(batch.subjects.len());
    let mut feats: Vec<Vec<i32>> = Vec::with_capacity(batch.subjects.len());
    let free = features::subject_free(&spec);
    let mut known: Vec<Option<i32>> = Vec::new();
    for (subject, request_id) in &batch.subjects {
        // the first subject computes every feature; the subject-free ones (prices,
        // totals, a series of a literal address) are then reused by the others
        let f = features::compute_known(&spec, verified, subject, b, &known)?;
        if known.is_empty() {
            known = f.iter().zip(&free).map(|(&x, &shared)| shared.then_some(x)).collect();
        }
        if f.len() != model.input_dim as usize {
            return Err(Error::Spec(Rule::FeatureCount, format!(
                "the spec yields {} features, the model takes {}",
                f.len(),
                model.input_dim
            )));
        }
        let score = model.eval(&f)?;
        leaves.push(Leaf { block_number: b, subject: *subject, model_hash, feature_spec_hash, score, request_id: *request_id });
        feats.push(f);
    }
    let hashes: Vec<[u8; 32]> = leaves.iter().map(Leaf::hash).collect();
    // check_subjects guarantees at least one leaf
    let results_root = root(&hashes).unwrap_or_default();
    let batch_id = if batch.batch_id == [0u8; 32] { results_root } else { batch.batch_id };
    let anchor = verified.anchor();
    Ok(BatchOutcome {
        journal: BatchJournal {
            chain_id: verified.chain_id,
            anchor_number: anchor.number,
            anchor_hash: anchor.hash,
            results_root,
            count: leaves.len() as u32,
            batch_id,
        },
        leaves,
        features: feats,
    })
}

impl BatchInput {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend_from_slice(MAGIC);
        o.extend_from_slice(&self.batch_id);
        o.extend_from_slice(&(self.subjects.len() as u32).to_le_bytes());
        for (s, r) in &self.subjects {
            o.extend_from_slice(s);
            o.extend_from_slice(r);
        }
        match &self.hops {
            None => o.extend_from_slice(&self.input.encode()),
            Some(hops) => {
                o.extend_from_slice(&GuestInputV2 { input: self.input.clone(), hops: hops.clone() }.encode())
            }
        }
        o
    }

    /// Decode, strictly.
    pub fn decode(data: &[u8]) -> Result<BatchInput> {
        let bad = |m: &str| Error::Input(Rule::GuestInput, format!("batch input: {m}"));
        if data.len() < 40 || &data[..4] != MAGIC {
            return Err(bad("bad magic"));
        }
        let mut batch_id = [0u8; 32];
        batch_id.copy_from_slice(&data[4..36]);
        let n = u32::from_le_bytes([data[36], data[37], data[38], data[39]]) as usize;
        if n > (data.len() - 40) / 52 {
            return Err(bad("subject count larger than the input"));
        }
        let mut subjects = Vec::with_capacity(n);
        for i in 0..n {
            let at = 40 + 52 * i;
            let mut s = [0u8; 20];
            let mut r = [0u8; 32];
            s.copy_from_slice(&data[at..at + 20]);
            r.copy_from_slice(&data[at + 20..at + 52]);
            subjects.push((s, r));
        }
        let inner = &data[40 + 52 * n..];
        let (input, hops) = if input_v2::is_v2(inner) {
            let v2 = GuestInputV2::decode(inner)?;
            (v2.input, Some(v2.hops))
        } else {
            (GuestInput::decode(inner)?, None)
        };
        if input.subject != [0u8; 20] || input.request_id != [0u8; 32] {
            return Err(bad("the inner request's subject and request id must be zero"));
        }
        Ok(BatchInput { input, batch_id, subjects, hops })
    }
}

/// Whether guest input bytes are the batch transport.
pub fn is_batch(data: &[u8]) -> bool {
    data.len() >= 4 && &data[..4] == MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> [u8; 32] {
        [b; 32]
    }

    #[test]
    fn tree_shapes() {
        assert_eq!(root(&[]), None);
        assert_eq!(root(&[h(1)]), Some(h(1)));
        // pairs sorted: parent(a, b) == parent(b, a)
        assert_eq!(root(&[h(2), h(1)]), root(&[h(1), h(2)]));
        let mut cat = [0u8; 64];
        cat[..32].copy_from_slice(&h(1));
        cat[32..].copy_from_slice(&h(2));
        assert_eq!(root(&[h(2), h(1)]), Some(keccak256(&cat)));
        // odd last node carried up unchanged
        let p12 = parent(&h(1), &h(2));
        assert_eq!(root(&[h(1), h(2), h(3)]), Some(parent(&p12, &h(3))));
        for n in 1..40u8 {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| keccak256(&[i])).collect();
            let r = root(&leaves).unwrap();
            for i in 0..leaves.len() {
                let p = proof(&leaves, i);
                assert_eq!(fold(&leaves[i], &p), r);
                assert!(p.len() <= 6);
            }
        }
    }

    fn batch(hops: Option<Vec<(u64, u64)>>) -> BatchInput {
        let bundle = crate::bundle::Bundle {
            chain_id: 31337,
            anchor_number: 9,
            anchor_hash: h(9),
            headers: alloc::vec![alloc::vec![0xc0]],
            accounts: Vec::new(),
            nodes: Vec::new(),
        };
        let input = GuestInput {
            bundle,
            model: alloc::vec![1, 2],
            spec: alloc::vec![3],
            subject: [0u8; 20],
            request_id: [0u8; 32],
            request_block: 9,
        };
        BatchInput { input, batch_id: h(7), subjects: alloc::vec![([1u8; 20], h(1)), ([2u8; 20], h(2))], hops }
    }

    #[test]
    fn transport_carries_v1_and_v2_bundles() {
        let v1 = batch(None);
        let raw = v1.encode();
        assert_eq!(&raw[40 + 2 * 52..40 + 2 * 52 + 4], b"CPG1");
        assert_eq!(BatchInput::decode(&raw).unwrap(), v1);
        for hops in [alloc::vec![], alloc::vec![(9, 3), (3, 1)]] {
            let v2 = batch(Some(hops.clone()));
            let raw = v2.encode();
            assert_eq!(&raw[40 + 2 * 52..40 + 2 * 52 + 4], b"CPG2");
            let back = BatchInput::decode(&raw).unwrap();
            assert_eq!(back.hops, Some(hops));
            assert_eq!(back, v2);
            // one byte short: refused
            assert!(BatchInput::decode(&raw[..raw.len() - 1]).is_err());
        }
    }

    #[test]
    fn subject_free_features() {
        let spec = crate::spec::parse(br#"{"format": "coproc-features", "version": 2, "name": "f", "features": [
            {"name": "bal", "read": {"kind": "balance", "address": "$subject"}},
            {"name": "px", "read": {"kind": "storage", "address": "0x1111111111111111111111111111111111111111", "slot": {"base": 3}},
             "series": {"samples": 3, "every": 2, "op": "mean"}},
            {"name": "mine", "read": {"kind": "storage", "address": "0x1111111111111111111111111111111111111111",
             "slot": {"base": 0, "path": [{"mapping": "$subject"}]}}},
            {"name": "other", "read": {"kind": "storage", "address": "0x1111111111111111111111111111111111111111",
             "slot": {"base": 0, "path": [{"mapping": "0x2222222222222222222222222222222222222222"}, {"field": 1}]}}},
            {"name": "a", "combine": {"op": "mul", "args": ["px", "other"]}},
            {"name": "b", "combine": {"op": "sub", "args": ["px", "mine"]}},
            {"name": "c", "read": {"kind": "nonce", "address": "0x1111111111111111111111111111111111111111"}}
        ]}"#)
        .unwrap();
        assert_eq!(features::subject_free(&spec), [false, true, false, true, true, false, true]);
    }

    #[test]
    fn repeated_subject_is_found() {
        let s = |b: u8| ([b; 20], [0u8; 32]);
        assert_eq!(first_repeat(&[s(1), s(2), s(3)]), None);
        assert_eq!(first_repeat(&[s(1), s(2), s(1), s(2)]), Some(2));
        assert_eq!(check_subjects(&[s(3), s(3)]).unwrap_err().rule(), Rule::BatchSubjectUnique);
        assert_eq!(check_subjects(&[]).unwrap_err().rule(), Rule::BatchSize);
    }
}
