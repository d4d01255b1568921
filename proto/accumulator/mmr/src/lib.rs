//! Prototype of the pre-Prague history accumulator (docs/history_accumulator.md):
//! a Merkle Mountain Range over block hashes, its inclusion proofs, and the byte
//! layouts of the two prototype journals. `no_std`; the node hash is passed in
//! (SHA-256: the zkVM's accelerator in the guests, the same function on the host).
#![no_std]
extern crate alloc;

use alloc::vec::Vec;

/// The hash an MMR is built with: `node(l, r)` for inner nodes, `root` for the bag.
pub trait Hasher {
    fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32];
    fn bytes(data: &[u8]) -> [u8; 32];
}

/// The prototype's MMR hash: inner node = the SHA-256 compression function of the
/// 64-byte pair (risc0's `hash_pair`, as its own Merkle trees: one compression, no
/// padding block), root = SHA-256 of the bag. Accelerated inside the zkVM.
#[cfg(feature = "sha")]
#[derive(Debug, Clone, Copy)]
pub struct Sha;

#[cfg(feature = "sha")]
impl Hasher for Sha {
    fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
        use risc0_zkvm::sha::{Digest, Impl, Sha256};
        let d = Impl::hash_pair(&Digest::from_bytes(*left), &Digest::from_bytes(*right));
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_bytes());
        out
    }
    fn bytes(data: &[u8]) -> [u8; 32] {
        use risc0_zkvm::sha::{Impl, Sha256};
        let d = Impl::hash_bytes(data);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_bytes());
        out
    }
}

/// An append-only MMR: only its peaks (height, hash), highest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mmr {
    pub leaves: u64,
    pub peaks: Vec<(u32, [u8; 32])>,
}

impl Mmr {
    /// Append one leaf (a block hash) and merge equal-height peaks.
    pub fn push<H: Hasher>(&mut self, leaf: [u8; 32]) {
        self.peaks.push((0, leaf));
        self.leaves += 1;
        while self.peaks.len() >= 2 {
            let (hr, r) = self.peaks[self.peaks.len() - 1];
            let (hl, l) = self.peaks[self.peaks.len() - 2];
            if hl != hr {
                break;
            }
            self.peaks.truncate(self.peaks.len() - 2);
            self.peaks.push((hl + 1, H::node(&l, &r)));
        }
    }

    /// The root: SHA-256 of (leaf count as u64 big-endian ‖ peaks, highest first).
    pub fn root<H: Hasher>(&self) -> [u8; 32] {
        let hashes: Vec<[u8; 32]> = self.peaks.iter().map(|p| p.1).collect();
        bag::<H>(self.leaves, &hashes)
    }
}

/// Root of an MMR of `leaves` leaves from its peak hashes (highest first).
pub fn bag<H: Hasher>(leaves: u64, peaks: &[[u8; 32]]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(8 + 32 * peaks.len());
    buf.extend_from_slice(&leaves.to_be_bytes());
    for p in peaks {
        buf.extend_from_slice(p);
    }
    H::bytes(&buf)
}

/// Heights of the mountains of an MMR of `leaves` leaves, highest first (its set bits).
pub fn mountains(leaves: u64) -> Vec<u32> {
    (0..64).rev().filter(|b| leaves >> b & 1 == 1).collect()
}

/// Which mountain holds leaf `index` of an MMR of `leaves` leaves: (mountain number,
/// its height, the leaf's offset inside it). `None` when `index >= leaves`.
pub fn locate(leaves: u64, index: u64) -> Option<(usize, u32, u64)> {
    let mut start = 0u64;
    for (k, h) in mountains(leaves).into_iter().enumerate() {
        let size = 1u64 << h;
        if index < start + size {
            return Some((k, h, index - start));
        }
        start += size;
    }
    None
}

/// An inclusion proof of one leaf: its index, the siblings from the leaf up to its peak,
/// and every peak hash (highest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub leaves: u64,
    pub index: u64,
    pub siblings: Vec<[u8; 32]>,
    pub peaks: Vec<[u8; 32]>,
}

/// Why an inclusion proof is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    IndexOutOfRange,
    WrongPathLength,
    WrongPeakCount,
    PeakMismatch,
    RootMismatch,
}

impl Proof {
    /// Check that `leaf` is leaf `index` of the MMR whose root is `root`.
    pub fn verify<H: Hasher>(&self, leaf: &[u8; 32], root: &[u8; 32]) -> Result<(), ProofError> {
        let (k, h, mut offset) = locate(self.leaves, self.index).ok_or(ProofError::IndexOutOfRange)?;
        if self.siblings.len() != h as usize {
            return Err(ProofError::WrongPathLength);
        }
        if self.peaks.len() != mountains(self.leaves).len() {
            return Err(ProofError::WrongPeakCount);
        }
        let mut acc = *leaf;
        for s in &self.siblings {
            acc = if offset & 1 == 0 { H::node(&acc, s) } else { H::node(s, &acc) };
            offset >>= 1;
        }
        if acc != self.peaks[k] {
            return Err(ProofError::PeakMismatch);
        }
        if bag::<H>(self.leaves, &self.peaks) != *root {
            return Err(ProofError::RootMismatch);
        }
        Ok(())
    }

    /// Build the proof of leaf `index` from all the leaves (host side).
    pub fn build<H: Hasher>(all: &[[u8; 32]], index: u64) -> Option<Proof> {
        let leaves = all.len() as u64;
        let (k, h, mut offset) = locate(leaves, index)?;
        let start = (index - offset) as usize;
        let mut level: Vec<[u8; 32]> = all[start..start + (1usize << h)].to_vec();
        let mut siblings = Vec::new();
        for _ in 0..h {
            siblings.push(level[(offset ^ 1) as usize]);
            level = level.chunks(2).map(|p| H::node(&p[0], &p[1])).collect();
            offset >>= 1;
        }
        let mut mmr = Mmr::default();
        for l in all {
            mmr.push::<H>(*l);
        }
        let peaks: Vec<[u8; 32]> = mmr.peaks.iter().map(|p| p.1).collect();
        debug_assert_eq!(peaks[k], level[0]);
        Some(Proof { leaves, index, siblings, peaks })
    }

    /// Wire form: leaves u64 ‖ index u64 ‖ n_siblings u32 ‖ n_peaks u32 ‖ hashes (all big-endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.leaves.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&(self.siblings.len() as u32).to_be_bytes());
        out.extend_from_slice(&(self.peaks.len() as u32).to_be_bytes());
        for h in self.siblings.iter().chain(self.peaks.iter()) {
            out.extend_from_slice(h);
        }
        out
    }

    pub fn decode(raw: &[u8]) -> Option<Proof> {
        let mut r = Reader(raw);
        let leaves = r.u64()?;
        let index = r.u64()?;
        let ns = r.u32()? as usize;
        let np = r.u32()? as usize;
        if ns > 64 || np > 64 {
            return None;
        }
        let siblings = (0..ns).map(|_| r.h32()).collect::<Option<Vec<_>>>()?;
        let peaks = (0..np).map(|_| r.h32()).collect::<Option<Vec<_>>>()?;
        r.0.is_empty().then_some(Proof { leaves, index, siblings, peaks })
    }
}

/// Journal of the accumulator guest (120 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccJournal {
    pub first_number: u64,
    pub first_parent_hash: [u8; 32],
    pub last_number: u64,
    pub last_hash: [u8; 32],
    pub leaves: u64,
    pub root: [u8; 32],
}

pub const ACC_JOURNAL_LEN: usize = 120;

impl AccJournal {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ACC_JOURNAL_LEN);
        out.extend_from_slice(&self.first_number.to_be_bytes());
        out.extend_from_slice(&self.first_parent_hash);
        out.extend_from_slice(&self.last_number.to_be_bytes());
        out.extend_from_slice(&self.last_hash);
        out.extend_from_slice(&self.leaves.to_be_bytes());
        out.extend_from_slice(&self.root);
        out
    }

    pub fn decode(raw: &[u8]) -> Option<AccJournal> {
        let mut r = Reader(raw);
        let j = AccJournal {
            first_number: r.u64()?,
            first_parent_hash: r.h32()?,
            last_number: r.u64()?,
            last_hash: r.h32()?,
            leaves: r.u64()?,
            root: r.h32()?,
        };
        r.0.is_empty().then_some(j)
    }
}

/// Journal of the request guest (144 bytes): the accumulator image ID it verified,
/// the block it reached (number, hash, state root) and the accumulator (root, last block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestJournal {
    pub acc_image_id: [u8; 32],
    pub number: u64,
    pub hash: [u8; 32],
    pub state_root: [u8; 32],
    pub acc_root: [u8; 32],
    pub acc_last_number: u64,
}

impl RequestJournal {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(144);
        out.extend_from_slice(&self.acc_image_id);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.state_root);
        out.extend_from_slice(&self.acc_root);
        out.extend_from_slice(&self.acc_last_number.to_be_bytes());
        out
    }

    pub fn decode(raw: &[u8]) -> Option<RequestJournal> {
        let mut r = Reader(raw);
        let j = RequestJournal {
            acc_image_id: r.h32()?,
            number: r.u64()?,
            hash: r.h32()?,
            state_root: r.h32()?,
            acc_root: r.h32()?,
            acc_last_number: r.u64()?,
        };
        r.0.is_empty().then_some(j)
    }
}

/// Length-prefixed records: u32 big-endian length ‖ bytes, repeated.
pub fn split_records(mut raw: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let mut r = Reader(raw);
        let n = r.u32()? as usize;
        if r.0.len() < n {
            return None;
        }
        out.push(&r.0[..n]);
        raw = &r.0[n..];
    }
    Some(out)
}

pub fn join_records(items: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in items {
        out.extend_from_slice(&(i.len() as u32).to_be_bytes());
        out.extend_from_slice(i);
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.0.len() < N {
            return None;
        }
        let mut b = [0u8; N];
        b.copy_from_slice(&self.0[..N]);
        self.0 = &self.0[N..];
        Some(b)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_be_bytes)
    }
    fn h32(&mut self) -> Option<[u8; 32]> {
        self.take::<32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A toy, order-sensitive hash (tests only: structure, not security).
    struct Toy;
    impl Hasher for Toy {
        fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
            let mut out = [0u8; 32];
            for i in 0..32 {
                out[i] = l[i].wrapping_mul(31).wrapping_add(r[(i + 1) % 32]).rotate_left(3) ^ (i as u8);
            }
            out
        }
        fn bytes(data: &[u8]) -> [u8; 32] {
            let mut out = [7u8; 32];
            for (i, b) in data.iter().enumerate() {
                out[i % 32] = out[i % 32].wrapping_mul(131).wrapping_add(*b);
            }
            out
        }
    }

    fn leaf(i: u64) -> [u8; 32] {
        let mut l = [0u8; 32];
        l[..8].copy_from_slice(&(i * 0x9e37_79b9 + 1).to_be_bytes());
        l
    }

    /// Independent of `Mmr::push`: each mountain built as a perfect tree, level by level.
    fn naive_root(all: &[[u8; 32]]) -> [u8; 32] {
        let mut peaks = Vec::new();
        let mut start = 0usize;
        for h in mountains(all.len() as u64) {
            let mut level = all[start..start + (1 << h)].to_vec();
            while level.len() > 1 {
                level = level.chunks(2).map(|p| Toy::node(&p[0], &p[1])).collect();
            }
            peaks.push(level[0]);
            start += 1 << h;
        }
        bag::<Toy>(all.len() as u64, &peaks)
    }

    #[test]
    fn push_matches_naive_and_every_proof_verifies() {
        for n in 1..70u64 {
            let all: Vec<[u8; 32]> = (0..n).map(leaf).collect();
            let mut mmr = Mmr::default();
            all.iter().for_each(|l| mmr.push::<Toy>(*l));
            let root = mmr.root::<Toy>();
            assert_eq!(root, naive_root(&all), "n = {n}");
            assert_eq!(mmr.peaks.len(), n.count_ones() as usize);
            for i in 0..n {
                let p = Proof::build::<Toy>(&all, i).unwrap();
                assert_eq!(Proof::decode(&p.encode()), Some(p.clone()));
                assert_eq!(p.verify::<Toy>(&all[i as usize], &root), Ok(()), "n = {n}, i = {i}");
                // another leaf, another index, a changed sibling or peak: refused
                assert!(p.verify::<Toy>(&leaf(n + 1), &root).is_err());
                let mut q = p.clone();
                q.index = (i + 1) % n;
                assert!(n == 1 || q.verify::<Toy>(&all[i as usize], &root).is_err());
                for k in 0..p.siblings.len() {
                    let mut q = p.clone();
                    q.siblings[k][0] ^= 1;
                    assert!(q.verify::<Toy>(&all[i as usize], &root).is_err());
                }
                for k in 0..p.peaks.len() {
                    let mut q = p.clone();
                    q.peaks[k][31] ^= 1;
                    assert!(q.verify::<Toy>(&all[i as usize], &root).is_err());
                }
            }
            assert!(Proof::build::<Toy>(&all, n).is_none());
        }
    }

    #[test]
    fn journals_round_trip_and_refuse_other_lengths() {
        let j = AccJournal { first_number: 1, first_parent_hash: [2; 32], last_number: 3,
            last_hash: [4; 32], leaves: 3, root: [5; 32] };
        let b = j.encode();
        assert_eq!(b.len(), ACC_JOURNAL_LEN);
        assert_eq!(AccJournal::decode(&b), Some(j));
        assert_eq!(AccJournal::decode(&b[..119]), None);
        let r = RequestJournal { acc_image_id: [1; 32], number: 2, hash: [3; 32], state_root: [4; 32],
            acc_root: [5; 32], acc_last_number: 6 };
        assert_eq!(r.encode().len(), 144);
        assert_eq!(RequestJournal::decode(&r.encode()), Some(r));
        let recs = join_records(&[b"ab", b"", b"cde"]);
        assert_eq!(split_records(&recs), Some(vec![&b"ab"[..], &b""[..], &b"cde"[..]]));
        assert_eq!(split_records(&recs[..recs.len() - 1]), None);
    }
}
