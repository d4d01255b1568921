//! keccak256 in software (tiny-keccak). The zkVM's keccak accelerator is not used: its
//! proof-union step needs the recursion programs, which cannot be built offline
//! (see docs/guest.md).

use tiny_keccak::{Hasher, Keccak};

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut k = Keccak::v256();
    k.update(data);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

/// keccak256 of the concatenation of two 32-byte words (Solidity mapping slots).
pub fn keccak256_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut k = Keccak::v256();
    k.update(a);
    k.update(b);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
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
