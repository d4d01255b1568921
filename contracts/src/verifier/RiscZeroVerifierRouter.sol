// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IRiscZeroVerifier} from "./IRiscZeroVerifier.sol";
import {Owned} from "../utils/Owned.sol";

/// @title RiscZeroVerifierRouter
/// @notice Dispatches `verify` to the verifier registered for the seal's first 4 bytes
/// (RISC Zero seals start with a selector naming the proof system and its parameters).
/// The owner adds selectors; a removed selector is tombstoned and can never be reused,
/// so a seal once rejected for a retired (e.g. broken) verifier stays rejected.
contract RiscZeroVerifierRouter is IRiscZeroVerifier, Owned {
    struct Entry {
        IRiscZeroVerifier verifier;
        bool removed;
    }

    mapping(bytes4 selector => Entry) private _entries;

    /// @notice `verifier` now handles seals starting with `selector`.
    event VerifierAdded(bytes4 indexed selector, address verifier);
    /// @notice Seals starting with `selector` are rejected from now on, for good.
    event VerifierRemoved(bytes4 indexed selector);

    /// @notice The seal is shorter than the 4-byte selector.
    /// @dev Selector `0xbe31f95b` = bytes4(keccak256("RouterSealTooShort(uint256)")).
    error RouterSealTooShort(uint256 length);
    /// @notice No verifier is registered for this selector.
    /// @dev Selector `0x25980333` = bytes4(keccak256("RouterSelectorUnknown(bytes4)")).
    error RouterSelectorUnknown(bytes4 selector);
    /// @notice This selector was removed and can never be used again.
    /// @dev Selector `0x8f225d85` = bytes4(keccak256("RouterSelectorRemoved(bytes4)")).
    error RouterSelectorRemoved(bytes4 selector);
    /// @notice This selector already has a verifier.
    /// @dev Selector `0xfd48c434` = bytes4(keccak256("RouterSelectorInUse(bytes4)")).
    error RouterSelectorInUse(bytes4 selector);
    /// @notice The verifier address has no code.
    /// @dev Selector `0x9b81074c` = bytes4(keccak256("RouterVerifierNotContract(address)")).
    error RouterVerifierNotContract(address verifier);

    constructor(address initialOwner) Owned(initialOwner) {}

    /// @notice Register `verifier` for seals starting with `selector` (owner only).
    /// @param selector The 4-byte seal prefix.
    /// @param verifier The verifier contract for that proof system.
    function addVerifier(bytes4 selector, IRiscZeroVerifier verifier) external onlyOwner {
        Entry storage entry = _entries[selector];
        if (entry.removed) revert RouterSelectorRemoved(selector);
        if (address(entry.verifier) != address(0)) revert RouterSelectorInUse(selector);
        if (address(verifier).code.length == 0) revert RouterVerifierNotContract(address(verifier));
        entry.verifier = verifier;
        emit VerifierAdded(selector, address(verifier));
    }

    /// @notice Retire `selector` for good (owner only): its seals are rejected and the
    /// selector cannot be registered again.
    /// @param selector The 4-byte seal prefix to retire.
    function removeVerifier(bytes4 selector) external onlyOwner {
        Entry storage entry = _entries[selector];
        if (entry.removed) revert RouterSelectorRemoved(selector);
        if (address(entry.verifier) == address(0)) revert RouterSelectorUnknown(selector);
        entry.verifier = IRiscZeroVerifier(address(0));
        entry.removed = true;
        emit VerifierRemoved(selector);
    }

    /// @notice The verifier for `selector`; reverts if unknown or removed.
    /// @param selector The 4-byte seal prefix.
    /// @return The registered verifier.
    function getVerifier(bytes4 selector) public view returns (IRiscZeroVerifier) {
        Entry storage entry = _entries[selector];
        if (entry.removed) revert RouterSelectorRemoved(selector);
        if (address(entry.verifier) == address(0)) revert RouterSelectorUnknown(selector);
        return entry.verifier;
    }

    /// @inheritdoc IRiscZeroVerifier
    function verify(bytes calldata seal, bytes32 imageId, bytes32 journalDigest) external view {
        if (seal.length < 4) revert RouterSealTooShort(seal.length);
        getVerifier(bytes4(seal[:4])).verify(seal, imageId, journalDigest);
    }
}
