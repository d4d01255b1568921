// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IRiscZeroVerifier, Receipt, ReceiptClaim, ReceiptClaimLib} from "risc0/IRiscZeroVerifier.sol";

/// @title DevVerifier
/// @notice A mock verifier for local chains: it accepts the seal `0xFFFFFFFF ‖ claimDigest`
/// that RISC Zero's dev mode (`RISC0_DEV_MODE=1`) stands for, with claimDigest RISC Zero's
/// own digest (`ReceiptClaimLib`) of a successful claim for (imageId, journalDigest). It
/// proves nothing: only devnet scripts deploy it, and `coproc contracts deploy` refuses it
/// on a chain id that is not a devnet. Stricter than RISC Zero's `RiscZeroMockVerifier`:
/// the seal must be exactly 36 bytes, and zero image IDs / journal digests are refused.
contract DevVerifier is IRiscZeroVerifier {
    using ReceiptClaimLib for ReceiptClaim;

    /// @notice The seal prefix (router selector) of dev-mode seals.
    bytes4 public constant SELECTOR = 0xFFFFFFFF;

    /// @notice The seal is not exactly 36 bytes (4-byte selector + 32-byte claim digest).
    /// @dev Selector `0x49720d61` = bytes4(keccak256("DevVerifierSealLength(uint256)")).
    error DevVerifierSealLength(uint256 length);
    /// @notice The seal does not start with 0xFFFFFFFF.
    /// @dev Selector `0xfdfa7659` = bytes4(keccak256("DevVerifierSelectorMismatch(bytes4)")).
    error DevVerifierSelectorMismatch(bytes4 selector);
    /// @notice The image ID or the journal digest is zero (never a real program or journal).
    /// @dev Selector `0x9569fb17` = bytes4(keccak256("DevVerifierZeroInput()")).
    error DevVerifierZeroInput();
    /// @notice The seal's claim digest is not the digest of the claimed execution.
    /// @dev Selector `0xb36745c7` = bytes4(keccak256("DevVerifierClaimMismatch(bytes32,bytes32)")).
    error DevVerifierClaimMismatch(bytes32 expected, bytes32 got);

    /// @inheritdoc IRiscZeroVerifier
    function verify(bytes calldata seal, bytes32 imageId, bytes32 journalDigest) external pure {
        if (imageId == bytes32(0) || journalDigest == bytes32(0)) revert DevVerifierZeroInput();
        _verifyClaim(seal, _okDigest(imageId, journalDigest));
    }

    /// @inheritdoc IRiscZeroVerifier
    function verifyIntegrity(Receipt calldata receipt) external pure {
        _verifyClaim(receipt.seal, receipt.claimDigest);
    }

    /// @notice The claim digest a dev seal must carry for (imageId, journalDigest).
    /// @param imageId The guest program's image ID.
    /// @param journalDigest sha256 of the journal.
    /// @return The RISC Zero claim digest of a successful, unconditional execution.
    function claimDigest(bytes32 imageId, bytes32 journalDigest) external pure returns (bytes32) {
        return _okDigest(imageId, journalDigest);
    }

    /// @notice The full dev seal for (imageId, journalDigest): `0xFFFFFFFF ‖ claimDigest`.
    /// @param imageId The guest program's image ID.
    /// @param journalDigest sha256 of the journal.
    /// @return The 36-byte seal this verifier accepts.
    function sealFor(bytes32 imageId, bytes32 journalDigest) external pure returns (bytes memory) {
        return abi.encodePacked(SELECTOR, _okDigest(imageId, journalDigest));
    }

    function _okDigest(bytes32 imageId, bytes32 journalDigest) private pure returns (bytes32) {
        return ReceiptClaimLib.ok(imageId, journalDigest).digest();
    }

    function _verifyClaim(bytes calldata seal, bytes32 expected) private pure {
        if (seal.length != 36) revert DevVerifierSealLength(seal.length);
        if (bytes4(seal[:4]) != SELECTOR) revert DevVerifierSelectorMismatch(bytes4(seal[:4]));
        bytes32 got = bytes32(seal[4:36]);
        if (got != expected) revert DevVerifierClaimMismatch(expected, got);
    }
}
