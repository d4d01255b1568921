// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BatchJournalV1} from "../../src/oracle/BatchJournalV1.sol";

/// @notice Builds batch trees in tests, independently of the contract (which only folds
/// proofs): leaves double-hashed, sorted pairs, an odd node carried up unchanged.
library BatchBuilder {
    function leafHash(BatchJournalV1.Leaf memory l) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(abi.encode(l.blockNumber, l.subject, l.modelHash, l.featureSpecHash, l.score, l.requestId))
            )
        );
    }

    function parent(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }

    function root(bytes32[] memory level) internal pure returns (bytes32) {
        while (level.length > 1) level = up(level);
        return level[0];
    }

    function up(bytes32[] memory level) internal pure returns (bytes32[] memory next) {
        next = new bytes32[]((level.length + 1) / 2);
        for (uint256 i = 0; i < next.length; ++i) {
            next[i] = 2 * i + 1 < level.length ? parent(level[2 * i], level[2 * i + 1]) : level[2 * i];
        }
    }

    function proof(bytes32[] memory level, uint256 index) internal pure returns (bytes32[] memory out) {
        bytes32[] memory tmp = new bytes32[](64);
        uint256 n = 0;
        while (level.length > 1) {
            uint256 sib = index ^ 1;
            if (sib < level.length) tmp[n++] = level[sib];
            level = up(level);
            index /= 2;
        }
        out = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = tmp[i];
        }
    }
}
