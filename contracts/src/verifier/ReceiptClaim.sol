// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ReceiptClaim
/// @notice The digest RISC Zero assigns to the claim "program `imageId` halted with exit
/// code 0 and committed a journal with digest `journalDigest`, unconditionally".
/// @dev RISC Zero hashes structs as tagged structs:
///   sha256(sha256(tag) ‖ child digests ‖ data words as u32 little-endian ‖ u16 LE child count).
/// The claim is the struct "risc0.ReceiptClaim" with children
/// (input, pre, post, output) and data (exit system, exit user), where
///   input  = 0 (no committed input),
///   pre    = imageId,
///   post   = digest of the zero "risc0.SystemState" (halted: no continuation),
///   output = tagged "risc0.Output" of (journalDigest, assumptions = 0).
/// A u32 `x` little-endian is `uint32(x) << 24` big-endian for x < 256, which is how
/// the data words are written below. Mirrored in Python by coprocessor/receipt_claim.py.
library ReceiptClaim {
    bytes32 internal constant CLAIM_TAG = sha256("risc0.ReceiptClaim");
    bytes32 internal constant OUTPUT_TAG = sha256("risc0.Output");
    bytes32 internal constant SYSTEM_STATE_TAG = sha256("risc0.SystemState");

    /// @dev tagged struct "risc0.SystemState" with merkle_root = 0, pc = 0.
    bytes32 internal constant HALTED_POST_STATE =
        sha256(abi.encodePacked(SYSTEM_STATE_TAG, bytes32(0), uint32(0), uint16(1) << 8));

    /// @notice Digest of a successful (Halted, exit 0), assumption-free claim.
    function okDigest(bytes32 imageId, bytes32 journalDigest) internal pure returns (bytes32) {
        bytes32 output = sha256(abi.encodePacked(OUTPUT_TAG, journalDigest, bytes32(0), uint16(2) << 8));
        return sha256(
            abi.encodePacked(
                CLAIM_TAG,
                bytes32(0), // input
                imageId, // pre-state
                HALTED_POST_STATE, // post-state
                output,
                uint32(0), // exit code, system part: Halted = 0 (u32 LE)
                uint32(0), // exit code, user part: 0 (u32 LE)
                uint16(4) << 8 // four child digests (u16 LE)
            )
        );
    }
}
