// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title BatchJournalV1
/// @notice A journal committing to many results by a Merkle root (docs/formats.md,
/// section "Batch journal v1"): abi.encode of 7 static words, 224 bytes. Its length
/// differs from journal v1 (320 bytes), so neither can be read as the other.
library BatchJournalV1 {
    /// @notice Format version.
    uint8 internal constant VERSION = 1;
    /// @notice Exact byte length of an encoded batch journal.
    uint256 internal constant LENGTH = 224;

    /// @notice A decoded batch journal.
    struct Batch {
        uint8 version;
        uint64 chainId;
        uint64 anchorNumber;
        bytes32 anchorHash;
        bytes32 resultsRoot;
        uint32 count;
        bytes32 batchId;
    }

    /// @notice One result committed by a batch (a leaf of its tree).
    struct Leaf {
        uint64 blockNumber;
        address subject;
        bytes32 modelHash;
        bytes32 featureSpecHash;
        uint32 score;
        bytes32 requestId;
    }

    /// @notice The batch journal is not exactly 224 bytes.
    /// @dev Selector `0x3e00db3d` = bytes4(keccak256("BatchJournalLength(uint256)")).
    error BatchJournalLength(uint256 length);
    /// @notice Word `index` has bits set beyond its field's type.
    /// @dev Selector `0x515aa0a5` = bytes4(keccak256("BatchJournalFieldRange(uint256)")).
    error BatchJournalFieldRange(uint256 index);
    /// @notice Unknown batch journal version.
    /// @dev Selector `0x77f283da` = bytes4(keccak256("BatchJournalVersion(uint8)")).
    error BatchJournalVersion(uint8 version);

    /// @notice Decode and validate a batch journal.
    function decode(bytes calldata journal) internal pure returns (Batch memory b) {
        if (journal.length != LENGTH) revert BatchJournalLength(journal.length);
        b.version = uint8(_word(journal, 0, 8));
        b.chainId = uint64(_word(journal, 1, 64));
        b.anchorNumber = uint64(_word(journal, 2, 64));
        b.anchorHash = bytes32(_word(journal, 3, 256));
        b.resultsRoot = bytes32(_word(journal, 4, 256));
        b.count = uint32(_word(journal, 5, 32));
        b.batchId = bytes32(_word(journal, 6, 256));
        if (b.version != VERSION) revert BatchJournalVersion(b.version);
    }

    /// @notice Encode a batch journal (what the guest commits).
    function encode(Batch memory b) internal pure returns (bytes memory) {
        return abi.encode(b.version, b.chainId, b.anchorNumber, b.anchorHash, b.resultsRoot, b.count, b.batchId);
    }

    /// @notice The leaf hash: keccak256(keccak256(abi.encode(leaf fields))).
    function leafHash(Leaf calldata l) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(abi.encode(l.blockNumber, l.subject, l.modelHash, l.featureSpecHash, l.score, l.requestId))
            )
        );
    }

    function _word(bytes calldata journal, uint256 index, uint256 bits) private pure returns (uint256 w) {
        assembly {
            w := calldataload(add(journal.offset, mul(index, 32)))
        }
        if (bits < 256 && w >> bits != 0) revert BatchJournalFieldRange(index);
    }
}
