//! The guest's input transport: a compact binary form of (bundle, model, spec, request),
//! decoded strictly (no trailing bytes). JSON is the file format; this is what the host
//! writes to the zkVM's stdin, so the guest parses no JSON for the bundle.
//!
//! Layout (integers little-endian): `b"CPG1"`, `u64 chain_id`, `u64 anchor_number`,
//! `[32] anchor_hash`, `u32 n` × (`u32 len`, header RLP), `u32 n` × account read
//! (`u64 block`, `[20] address`, `[32] address_hash`, `u8 present`, if present
//! `[32] nonce`, `[32] balance`, `[32] storage_root`, `[32] code_hash`; `u32 n` ×
//! (`[32] slot`, `[32] slot_hash`, `[32] value`)), `u32 n` × (`u32 len`, node RLP),
//! `u32 len` + model canonical bytes, `u32 len` + spec canonical JSON,
//! `[20] subject`, `[32] request_id`, `u64 request_block`.

use crate::bundle::{Account, AccountRead, Bundle, StorageEntry};
use crate::error::{Error, Result, Rule};
use alloc::vec::Vec;

/// Everything the guest needs for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestInput {
    /// The proof bundle.
    pub bundle: Bundle,
    /// Canonical model bytes (formats.md §2).
    pub model: Vec<u8>,
    /// Canonical feature-spec JSON bytes (formats.md §3).
    pub spec: Vec<u8>,
    /// The scored address.
    pub subject: [u8; 20],
    /// Requester-chosen id.
    pub request_id: [u8; 32],
    /// Request block `B`.
    pub request_block: u64,
}

const MAGIC: &[u8; 4] = b"CPG1";

fn put_bytes(o: &mut Vec<u8>, b: &[u8]) {
    o.extend_from_slice(&(b.len() as u32).to_le_bytes());
    o.extend_from_slice(b);
}

impl GuestInput {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let b = &self.bundle;
        let mut o = Vec::new();
        o.extend_from_slice(MAGIC);
        o.extend_from_slice(&b.chain_id.to_le_bytes());
        o.extend_from_slice(&b.anchor_number.to_le_bytes());
        o.extend_from_slice(&b.anchor_hash);
        o.extend_from_slice(&(b.headers.len() as u32).to_le_bytes());
        for h in &b.headers {
            put_bytes(&mut o, h);
        }
        o.extend_from_slice(&(b.accounts.len() as u32).to_le_bytes());
        for r in &b.accounts {
            o.extend_from_slice(&r.block.to_le_bytes());
            o.extend_from_slice(&r.address);
            o.extend_from_slice(&r.address_hash);
            match &r.account {
                None => o.push(0),
                Some(a) => {
                    o.push(1);
                    o.extend_from_slice(&a.nonce);
                    o.extend_from_slice(&a.balance);
                    o.extend_from_slice(&a.storage_root);
                    o.extend_from_slice(&a.code_hash);
                }
            }
            o.extend_from_slice(&(r.storage.len() as u32).to_le_bytes());
            for s in &r.storage {
                o.extend_from_slice(&s.slot);
                o.extend_from_slice(&s.slot_hash);
                o.extend_from_slice(&s.value);
            }
        }
        o.extend_from_slice(&(b.nodes.len() as u32).to_le_bytes());
        for n in &b.nodes {
            put_bytes(&mut o, n);
        }
        put_bytes(&mut o, &self.model);
        put_bytes(&mut o, &self.spec);
        o.extend_from_slice(&self.subject);
        o.extend_from_slice(&self.request_id);
        o.extend_from_slice(&self.request_block.to_le_bytes());
        o
    }

    /// Decode, strictly.
    pub fn decode(data: &[u8]) -> Result<GuestInput> {
        let mut r = Cursor { d: data, p: 0 };
        if r.take(4)? != MAGIC {
            return Err(Error::Input(Rule::GuestInput, "guest input: bad magic".into()));
        }
        let chain_id = r.u64()?;
        let anchor_number = r.u64()?;
        let anchor_hash = r.arr::<32>()?;
        let n = r.count(4)?;
        let mut headers = Vec::with_capacity(n);
        for _ in 0..n {
            headers.push(r.bytes()?.to_vec());
        }
        let n = r.count(8 + 20 + 32 + 1 + 4)?;
        let mut accounts = Vec::with_capacity(n);
        for _ in 0..n {
            let block = r.u64()?;
            let address = r.arr::<20>()?;
            let address_hash = r.arr::<32>()?;
            let account = match r.u8()? {
                0 => None,
                1 => Some(Account {
                    nonce: r.arr()?,
                    balance: r.arr()?,
                    storage_root: r.arr()?,
                    code_hash: r.arr()?,
                }),
                _ => return Err(Error::Input(Rule::GuestInput, "guest input: bad presence flag".into())),
            };
            let m = r.count(96)?;
            let mut storage = Vec::with_capacity(m);
            for _ in 0..m {
                storage.push(StorageEntry { slot: r.arr()?, slot_hash: r.arr()?, value: r.arr()? });
            }
            accounts.push(AccountRead { block, address, address_hash, account, storage });
        }
        let n = r.count(4)?;
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            nodes.push(r.bytes()?.to_vec());
        }
        let model = r.bytes()?.to_vec();
        let spec = r.bytes()?.to_vec();
        let subject = r.arr::<20>()?;
        let request_id = r.arr::<32>()?;
        let request_block = r.u64()?;
        if r.p != data.len() {
            return Err(Error::Input(Rule::GuestInput, "guest input: trailing bytes".into()));
        }
        Ok(GuestInput {
            bundle: Bundle { chain_id, anchor_number, anchor_hash, headers, accounts, nodes },
            model,
            spec,
            subject,
            request_id,
            request_block,
        })
    }
}

struct Cursor<'a> {
    d: &'a [u8],
    p: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.p.checked_add(n).filter(|&e| e <= self.d.len());
        let end = end.ok_or_else(|| Error::Input(Rule::GuestInput, "guest input: truncated".into()))?;
        let s = &self.d[self.p..end];
        self.p = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    /// An element count, bounded by the bytes left (each element takes >= `min` bytes).
    fn count(&mut self, min: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n > (self.d.len() - self.p) / min.max(1) {
            return Err(Error::Input(Rule::GuestInput, "guest input: count larger than the input".into()));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}
