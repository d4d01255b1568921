// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {OracleFixture} from "../utils/Fixtures.sol";
import {BatchBuilder} from "../utils/BatchBuilder.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {BatchJournalV1} from "../../src/oracle/BatchJournalV1.sol";

abstract contract BatchFixture is OracleFixture {
    function makeLeaves(uint256 n, uint64 blockNumber, uint32 salt) internal pure returns (BatchJournalV1.Leaf[] memory ls) {
        ls = new BatchJournalV1.Leaf[](n);
        for (uint256 i = 0; i < n; ++i) {
            ls[i] = BatchJournalV1.Leaf({
                blockNumber: blockNumber,
                subject: address(uint160(0x1000 + i)),
                modelHash: MODEL,
                featureSpecHash: SPEC,
                score: uint32((i * 157 + salt) % 10_001),
                requestId: keccak256(abi.encode("leaf", i, salt))
            });
        }
    }

    function hashes(BatchJournalV1.Leaf[] memory ls) internal pure returns (bytes32[] memory hs) {
        hs = new bytes32[](ls.length);
        for (uint256 i = 0; i < ls.length; ++i) {
            hs[i] = BatchBuilder.leafHash(ls[i]);
        }
    }

    function batchJournal(bytes32 root, uint32 count, bytes32 batchId) internal returns (bytes memory) {
        uint64 anchor = uint64(block.number - 1);
        vm.setBlockhash(anchor, keccak256(abi.encode("block", anchor)));
        return BatchJournalV1.encode(
            BatchJournalV1.Batch(1, uint64(block.chainid), anchor, blockhash(anchor), root, count, batchId)
        );
    }
}

contract BatchTest is BatchFixture {
    event BatchVerified(bytes32 indexed root, bytes32 indexed batchId, uint32 count, uint64 anchorNumber);

    function test_batchReadAndStoreEveryLeaf() public {
        for (uint256 n = 1; n <= 9; ++n) {
            BatchJournalV1.Leaf[] memory ls = makeLeaves(n, uint64(block.number - 3), uint32(n));
            bytes32[] memory hs = hashes(ls);
            bytes32 root = BatchBuilder.root(hs);
            bytes memory journal = batchJournal(root, uint32(n), keccak256(abi.encode("batch", n)));
            oracle.submitBatch(journal, sealFor(journal));
            bytes32[] memory roots = new bytes32[](n);
            bytes32[][] memory proofs = new bytes32[][](n);
            for (uint256 i = 0; i < n; ++i) {
                proofs[i] = BatchBuilder.proof(hs, i);
                roots[i] = root;
                assertEq(oracle.leafScore(root, ls[i], proofs[i], 0), ls[i].score, "leaf readable");
            }
            if (n == 9) {
                oracle.storeLeaves(roots, ls, proofs);
                for (uint256 i = 0; i < n; ++i) {
                    (uint32 s, uint64 b,) = oracle.scoreOf(ls[i].subject, MODEL);
                    assertEq(s, ls[i].score, "stored score");
                    assertEq(b, ls[i].blockNumber, "stored block");
                }
                vm.expectRevert(
                    abi.encodeWithSelector(RiskOracle.RiskOracleStale.selector, ls[0].blockNumber, ls[0].blockNumber)
                );
                oracle.storeLeaves(roots, ls, proofs);
            }
            vm.roll(block.number + 1);
        }
    }

    function test_batchReverts() public {
        BatchJournalV1.Leaf[] memory ls = makeLeaves(4, uint64(block.number - 3), 1);
        bytes32[] memory hs = hashes(ls);
        bytes32 root = BatchBuilder.root(hs);
        bytes memory journal = batchJournal(root, 4, keccak256("b1"));
        bytes memory seal = sealFor(journal);
        bytes32[] memory p0 = BatchBuilder.proof(hs, 0);

        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleBatchUnknown.selector, root));
        oracle.leafScore(root, ls[0], p0, 1);

        vm.expectEmit();
        emit BatchVerified(root, keccak256("b1"), 4, uint64(block.number - 1));
        oracle.submitBatch(journal, seal);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleBatchKnown.selector, root));
        oracle.submitBatch(journal, seal);

        // another root under a used batch id: replay
        bytes memory j2 = batchJournal(keccak256("other root"), 4, keccak256("b1"));
        bytes memory s2 = sealFor(j2);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleRequestReplayed.selector, keccak256("b1")));
        oracle.submitBatch(j2, s2);

        // a leaf changed in any field is not in the batch
        BatchJournalV1.Leaf memory bad = BatchJournalV1.Leaf(
            ls[0].blockNumber, ls[0].subject, ls[0].modelHash, ls[0].featureSpecHash, ls[0].score + 1, ls[0].requestId
        );
        vm.expectRevert(
            abi.encodeWithSelector(RiskOracle.RiskOracleLeafNotInBatch.selector, root, BatchBuilder.leafHash(bad))
        );
        oracle.leafScore(root, bad, p0, 1);
        // too old
        vm.warp(block.timestamp + 101);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleScoreTooOld.selector, block.timestamp - 101, 100));
        oracle.leafScore(root, ls[0], p0, 100);

        bytes32[] memory roots = new bytes32[](1);
        bytes32[][] memory proofs = new bytes32[][](2);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleLengthMismatch.selector, 1, 4, 2));
        oracle.storeLeaves(roots, ls, proofs);

        // retired model: leaves no longer readable
        vm.prank(OWNER);
        oracle.retireModel(MODEL);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleModelUnknown.selector, MODEL));
        oracle.leafScore(root, ls[0], p0, 1 days);
    }

    function test_batchJournalRejected() public {
        bytes memory journal = batchJournal(keccak256("r"), 4, keccak256("b"));
        bytes memory seal;

        bytes memory zeroRoot = batchJournal(bytes32(0), 4, keccak256("b"));
        seal = sealFor(zeroRoot);
        vm.expectRevert(RiskOracle.RiskOracleZeroValue.selector);
        oracle.submitBatch(zeroRoot, seal);
        bytes memory zeroId = batchJournal(keccak256("r"), 4, bytes32(0));
        seal = sealFor(zeroId);
        vm.expectRevert(RiskOracle.RiskOracleZeroValue.selector);
        oracle.submitBatch(zeroId, seal);
        bytes memory zeroCount = batchJournal(keccak256("r"), 0, keccak256("b"));
        seal = sealFor(zeroCount);
        vm.expectRevert(RiskOracle.RiskOracleZeroValue.selector);
        oracle.submitBatch(zeroCount, seal);

        bytes memory shortJ = new bytes(223);
        seal = sealFor(shortJ);
        vm.expectRevert(abi.encodeWithSelector(BatchJournalV1.BatchJournalLength.selector, 223));
        oracle.submitBatch(shortJ, seal);

        bytes memory v2 = bytes.concat(journal);
        v2[31] = 0x02;
        seal = sealFor(v2);
        vm.expectRevert(abi.encodeWithSelector(BatchJournalV1.BatchJournalVersion.selector, 2));
        oracle.submitBatch(v2, seal);

        bytes memory dirty = bytes.concat(journal);
        dirty[5 * 32 + 27] = 0x01; // above uint32 in the count word
        seal = sealFor(dirty);
        vm.expectRevert(abi.encodeWithSelector(BatchJournalV1.BatchJournalFieldRange.selector, 5));
        oracle.submitBatch(dirty, seal);

        // a journal v1 is not a batch journal, and vice versa
        bytes memory single = new bytes(320);
        seal = sealFor(single);
        vm.expectRevert(abi.encodeWithSelector(BatchJournalV1.BatchJournalLength.selector, 320));
        oracle.submitBatch(single, seal);

        seal = sealFor(journal);
        seal[4] = bytes1(uint8(seal[4]) ^ 1);
        vm.expectRevert();
        oracle.submitBatch(journal, seal);
    }

    function testFuzz_batchWordChangedRejected(uint8 index, bytes32 value) public {
        bytes memory journal = batchJournal(keccak256("r"), 4, keccak256("b"));
        bytes memory seal = sealFor(journal);
        uint256 w = index % 7;
        bytes32 old;
        assembly {
            old := mload(add(add(journal, 32), mul(w, 32)))
        }
        vm.assume(old != value);
        assembly {
            mstore(add(add(journal, 32), mul(w, 32)), value)
        }
        vm.expectRevert();
        oracle.submitBatch(journal, seal);
    }

    function testFuzz_wrongProofRejected(uint8 index, bytes32 junk) public {
        BatchJournalV1.Leaf[] memory ls = makeLeaves(8, uint64(block.number - 3), 3);
        bytes32[] memory hs = hashes(ls);
        bytes32 root = BatchBuilder.root(hs);
        bytes memory journal = batchJournal(root, 8, keccak256("b"));
        oracle.submitBatch(journal, sealFor(journal));
        uint256 i = index % 8;
        bytes32[] memory p = BatchBuilder.proof(hs, i);
        vm.assume(junk != p[index % p.length]);
        p[index % p.length] = junk;
        vm.expectRevert();
        oracle.leafScore(root, ls[i], p, 1);
    }
}
