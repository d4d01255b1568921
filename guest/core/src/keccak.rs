//! keccak256 in software: keccak-f[1600] from the `keccak` crate (RustCrypto), with
//! word-wise absorbing. (A fused, fully unrolled permutation written for this crate
//! measured the same ~17k zkVM cycles per permutation, so the audited crate stays.) The zkVM's keccak accelerator is not used:
//! its proof-union step needs the recursion programs, which cannot be built offline
//! (see docs/guest.md). Hashing is most of the guest's cycles, so this is kept lean;
//! tests compare it with tiny-keccak on every length up to several blocks.

/// Rate of keccak256 in bytes.
const RATE: usize = 136;

fn absorb(state: &mut [u64; 25], block: &[u8]) {
    for (lane, chunk) in state.iter_mut().zip(block.chunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        *lane ^= u64::from_le_bytes(w);
    }
    keccak::f1600(state);
}

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut state = [0u64; 25];
    let mut blocks = data.chunks_exact(RATE);
    for block in &mut blocks {
        absorb(&mut state, block);
    }
    let rest = blocks.remainder();
    let mut last = [0u8; RATE];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] ^= 0x01;
    last[RATE - 1] ^= 0x80;
    absorb(&mut state, &last);
    let mut out = [0u8; 32];
    for (chunk, lane) in out.chunks_exact_mut(8).zip(state.iter()) {
        chunk.copy_from_slice(&lane.to_le_bytes());
    }
    out
}

/// keccak256 of the concatenation of two 32-byte words (Solidity mapping slots).
pub fn keccak256_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut cat = [0u8; 64];
    cat[..32].copy_from_slice(a);
    cat[32..].copy_from_slice(b);
    keccak256(&cat)
}

/// keccak256 of the empty string: the code hash of an account without code.
pub const EMPTY_CODE_HASH: [u8; 32] = [
    0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d, 0xb2, 0xdc, 0xc7, 0x03, 0xc0,
    0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82, 0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04, 0x5d, 0x85, 0xa4, 0x70,
];

/// Root of the empty trie: keccak256(rlp("")) = keccak256(0x80).
pub const EMPTY_TRIE_ROOT: [u8; 32] = [
    0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45, 0xe6, 0x92, 0xc0, 0xf8, 0x6e,
    0x5b, 0x48, 0xe0, 0x1b, 0x99, 0x6c, 0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_tiny_keccak_on_every_length() {
        use tiny_keccak::{Hasher, Keccak};
        let data: Vec<u8> = (0..700u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for n in 0..data.len() {
            let mut k = Keccak::v256();
            k.update(&data[..n]);
            let mut want = [0u8; 32];
            k.finalize(&mut want);
            assert_eq!(keccak256(&data[..n]), want, "length {n}");
        }
    }

    #[test]
    fn constants_are_the_hashes_they_claim() {
        assert_eq!(keccak256(b""), EMPTY_CODE_HASH);
        assert_eq!(keccak256(&[0x80]), EMPTY_TRIE_ROOT);
        let mut a = [0u8; 32];
        a[0] = 1;
        let b = [2u8; 32];
        let mut cat = [0u8; 64];
        cat[..32].copy_from_slice(&a);
        cat[32..].copy_from_slice(&b);
        assert_eq!(keccak256_pair(&a, &b), keccak256(&cat));
    }
}
