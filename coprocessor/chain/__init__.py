"""Chain primitives: hex, keccak, headers, MPT, EIP-1186 proofs, storage slots, the proof
bundle, the native verifier binding. Imports nothing above it.
"""
