//! keccak256 in software: keccak-f[1600] from the `keccak` crate (RustCrypto), with
//! word-wise absorbing. (A fused, fully unrolled permutation written for this crate
//! measured the same ~17k zkVM cycles per permutation, so the audited crate stays.) The zkVM's keccak accelerator is not used:
//! its proof-union step needs the recursion programs, which cannot be built offline
//! (see docs/guest.md). Hashing is most of the guest's cycles, so this is kept lean;
//! tests compare it with tiny-keccak on every length up to several blocks.

/// Rate of keccak256 in bytes.
const RATE: usize = 136;

/// XORs one rate-sized block into a state kept in complemented form (see [`chi`]) and
/// permutes it. XOR commutes with the complement, so the sponge never converts.
fn absorb(state: &mut [u64; 25], scratch: &mut [u64; 25], block: &[u8]) {
    for (lane, chunk) in state.iter_mut().zip(block.chunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        *lane ^= u64::from_le_bytes(w);
    }
    permute_complemented(state, scratch);
}

/// Round constants of keccak-f[1600] (FIPS 202, ι step).
const RC: [u64; 24] = [
    0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
    0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
    0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
    0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
    0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
    0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
];

/// For output plane `y`, lane `x`: the input lane index (x' + 5y') that ρ∘π moves there
/// (x' = (x + 3y) mod 5, y' = x) and its ρ rotation.
const SRC: [[usize; 5]; 5] = [
    [0, 6, 12, 18, 24],
    [3, 9, 10, 16, 22],
    [1, 7, 13, 19, 20],
    [4, 5, 11, 17, 23],
    [2, 8, 14, 15, 21],
];
const ROT: [[u32; 5]; 5] = [
    [0, 44, 43, 21, 14],
    [28, 20, 3, 45, 61],
    [1, 6, 25, 8, 18],
    [27, 36, 10, 15, 56],
    [62, 55, 39, 41, 2],
];

/// χ on one plane, in the lane-complementing form ("bebigokimisa", Keccak implementation
/// overview §2.2): with the lanes of [`COMPLEMENTED`] kept inverted, χ needs one NOT per
/// plane instead of five (rv32im has no and-not).
#[inline(always)]
fn chi<const Y: usize>(b: [u64; 5]) -> [u64; 5] {
    let [b0, b1, b2, b3, b4] = b;
    match Y {
        0 => [b0 ^ (b1 | b2), b1 ^ (!b2 | b3), b2 ^ (b3 & b4), b3 ^ (b4 | b0), b4 ^ (b0 & b1)],
        1 => [b0 ^ (b1 | b2), b1 ^ (b2 & b3), b2 ^ (b3 | !b4), b3 ^ (b4 | b0), b4 ^ (b0 & b1)],
        2 => {
            let n3 = !b3;
            [b0 ^ (b1 | b2), b1 ^ (b2 & b3), b2 ^ (n3 & b4), n3 ^ (b4 | b0), b4 ^ (b0 & b1)]
        }
        3 => {
            let n3 = !b3;
            [b0 ^ (b1 & b2), b1 ^ (b2 | b3), b2 ^ (n3 | b4), n3 ^ (b4 & b0), b4 ^ (b0 | b1)]
        }
        _ => {
            let n1 = !b1;
            [b0 ^ (n1 & b2), n1 ^ (b2 | b3), b2 ^ (b3 & b4), b3 ^ (b4 | b0), b4 ^ (b0 & b1)]
        }
    }
}

/// Lanes kept complemented between rounds (be, bi, go, ki, mi, sa).
const COMPLEMENTED: [usize; 6] = [1, 2, 8, 12, 17, 20];

/// One output plane `y` of ρ, π, χ: five lanes live at once instead of twenty-five.
#[inline(always)]
fn plane<const Y: usize>(a: &[u64; 25], e: &mut [u64; 25], d: &[u64; 5], rc: u64) {
    let b: [u64; 5] = core::array::from_fn(|x| {
        let s = SRC[Y][x];
        (a[s] ^ d[s % 5]).rotate_left(ROT[Y][x])
    });
    let mut out = chi::<Y>(b);
    if Y == 0 {
        out[0] ^= rc; // ι
    }
    e[5 * Y..5 * Y + 5].copy_from_slice(&out);
    // Keep the planes apart: without this barrier LLVM interleaves all twenty-five
    // lanes and spills most of them (measured: ~40% more loads and stores per round).
    core::hint::black_box(e.as_mut_ptr());
    core::hint::black_box(a.as_ptr());
}

/// One round from `a` into `e`: θ, then ρ, π, χ plane by plane, then ι.
#[inline(always)]
fn round(a: &[u64; 25], e: &mut [u64; 25], rc: u64) {
    let c: [u64; 5] = core::array::from_fn(|x| {
        let p = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        core::hint::black_box(a.as_ptr()); // one column at a time (fewer spills)
        p
    });
    let d: [u64; 5] = core::array::from_fn(|x| c[(x + 4) % 5] ^ c[(x + 1) % 5].rotate_left(1));
    plane::<0>(a, e, &d, rc);
    plane::<1>(a, e, &d, rc);
    plane::<2>(a, e, &d, rc);
    plane::<3>(a, e, &d, rc);
    plane::<4>(a, e, &d, rc);
}

/// keccak-f[1600] on 25 little-endian lanes (`state[x + 5y]`).
pub fn f1600(state: &mut [u64; 25]) {
    for i in COMPLEMENTED {
        state[i] = !state[i];
    }
    permute_complemented(state, &mut [0u64; 25]);
    for i in COMPLEMENTED {
        state[i] = !state[i];
    }
}

/// keccak-f[1600] on a state whose [`COMPLEMENTED`] lanes are inverted, in and out;
/// `scratch` holds every other round (its contents do not matter).
fn permute_complemented(state: &mut [u64; 25], scratch: &mut [u64; 25]) {
    for pair in RC.chunks_exact(2) {
        round(state, scratch, pair[0]);
        round(scratch, state, pair[1]);
    }
}

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut state = [0u64; 25];
    for i in COMPLEMENTED {
        state[i] = u64::MAX;
    }
    let mut scratch = [0u64; 25];
    let mut blocks = data.chunks_exact(RATE);
    for block in &mut blocks {
        absorb(&mut state, &mut scratch, block);
    }
    let rest = blocks.remainder();
    let mut last = [0u8; RATE];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] ^= 0x01;
    last[RATE - 1] ^= 0x80;
    absorb(&mut state, &mut scratch, &last);
    let mut out = [0u8; 32];
    for (i, (chunk, lane)) in out.chunks_exact_mut(8).zip(state.iter()).enumerate() {
        let v = if COMPLEMENTED.contains(&i) { !lane } else { *lane };
        chunk.copy_from_slice(&v.to_le_bytes());
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
    fn permutation_agrees_with_the_keccak_crate() {
        // Chained states from a xorshift seed: each output is the next input.
        let mut ours = [0u64; 25];
        let mut x: u64 = 0x243f_6a88_85a3_08d3;
        for lane in ours.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *lane = x;
        }
        let mut theirs = ours;
        for _ in 0..500 {
            f1600(&mut ours);
            keccak::f1600(&mut theirs);
            assert_eq!(ours, theirs);
        }
        let mut zero = [0u64; 25];
        f1600(&mut zero);
        // FIPS 202 / XKCP KeccakF-1600 test vector: first lane of f(0).
        assert_eq!(zero[0], 0xF125_8F79_40E1_DDE7);
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
