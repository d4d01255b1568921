// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title SortedMerkle
/// @notice Merkle proofs over keccak256 with sorted pairs (parent = keccak256(min ‖ max)),
/// the tree docs/formats.md defines for batch journals. Leaves are double-hashed by the
/// caller, so a 64-byte internal node can never pass as a leaf.
library SortedMerkle {
    /// @notice Root obtained by folding `proof` into `leaf`.
    function rootOf(bytes32 leaf, bytes32[] calldata proof) internal pure returns (bytes32 node) {
        node = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            bytes32 sibling = proof[i];
            node = node < sibling ? _hashPair(node, sibling) : _hashPair(sibling, node);
        }
    }

    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32 h) {
        assembly {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
    }
}
