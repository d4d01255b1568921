// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IRiscZeroVerifier
/// @notice The RISC Zero receipt verifier interface (same ABI as risc0-ethereum's), so the
/// oracle can point at RISC Zero's deployed verifier router in production.
interface IRiscZeroVerifier {
    /// @notice Verify that `seal` proves an execution of the program `imageId` that halted
    /// successfully and committed a journal whose SHA-256 digest is `journalDigest`.
    /// @dev Reverts on failure; returns nothing on success. Selector `0xab750e75`.
    /// @param seal The encoded proof; its first 4 bytes select the verifier (proof system).
    /// @param imageId The identifier of the guest program.
    /// @param journalDigest sha256(journal).
    function verify(bytes calldata seal, bytes32 imageId, bytes32 journalDigest) external view;
}
