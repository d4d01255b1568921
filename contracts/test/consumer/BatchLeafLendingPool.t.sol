// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BatchFixture} from "../oracle/Batch.t.sol";
import {BatchBuilder} from "../utils/BatchBuilder.sol";
import {BatchLeafLendingPool} from "../../src/consumer/BatchLeafLendingPool.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {BatchJournalV1} from "../../src/oracle/BatchJournalV1.sol";

contract BatchLeafLendingPoolTest is BatchFixture {
    uint256 internal constant AGE = 1 hours;
    uint16 internal constant BASE = 8_000;

    BatchLeafLendingPool internal pool;

    event CreditSet(
        address indexed account, bytes32 indexed root, uint16 maxLtvBps, uint32 score, uint64 blockNumber
    );

    function setUp() public override {
        super.setUp();
        pool = new BatchLeafLendingPool(oracle, MODEL, AGE, BASE);
    }

    /// @dev A verified batch of `n` leaves at `blockNumber`: the leaves, their hashes, the root.
    function verifiedBatch(uint256 n, uint64 blockNumber, uint32 salt, bytes32 batchId)
        internal
        returns (BatchJournalV1.Leaf[] memory ls, bytes32[] memory hs, bytes32 root)
    {
        ls = makeLeaves(n, blockNumber, salt);
        hs = hashes(ls);
        root = BatchBuilder.root(hs);
        bytes memory journal = batchJournal(root, uint32(n), batchId);
        oracle.submitBatch(journal, sealFor(journal));
    }

    function expectedLtv(uint32 score) internal pure returns (uint16) {
        return uint16((uint256(BASE) * (10_000 - score)) / 10_000);
    }

    function test_creditFromEveryLeaf() public {
        uint64 b = uint64(block.number - 3);
        (BatchJournalV1.Leaf[] memory ls, bytes32[] memory hs, bytes32 root) = verifiedBatch(9, b, 7, "b9");
        for (uint256 i = 0; i < ls.length; ++i) {
            bytes32[] memory proof = BatchBuilder.proof(hs, i);
            uint16 ltv = expectedLtv(ls[i].score);
            assertEq(pool.quoteMaxLtv(root, ls[i], proof), ltv, "quote");
            vm.expectEmit();
            emit CreditSet(ls[i].subject, root, ltv, ls[i].score, b);
            assertEq(pool.refreshMaxLtv(root, ls[i], proof), ltv, "refresh");
            (uint16 stored, uint32 score, uint64 blockNumber, uint64 verifiedAt) = pool.creditOf(ls[i].subject);
            assertEq(stored, ltv, "stored ltv");
            assertEq(score, ls[i].score, "stored score");
            assertEq(blockNumber, b, "stored block");
            assertEq(verifiedAt, block.timestamp, "batch verification time");
            assertEq(pool.maxBorrow(ls[i].subject, 1e18), (1e18 * uint256(ltv)) / 10_000, "borrow limit");
        }
    }

    /// @dev The call `refreshMaxLtv(root, leaf 5 of 9, its proof)` with byte `k` (counted
    /// after the selector) XORed with `delta`.
    function changedCall(bytes memory call, uint256 k, uint8 delta) internal pure returns (bytes memory bad) {
        bad = bytes.concat(call);
        bad[4 + k] = bytes1(uint8(bad[4 + k]) ^ delta);
    }

    function leafCall() internal returns (bytes memory call) {
        (BatchJournalV1.Leaf[] memory ls, bytes32[] memory hs, bytes32 root) =
            verifiedBatch(9, uint64(block.number - 3), 11, "every byte");
        call = abi.encodeCall(pool.refreshMaxLtv, (root, ls[5], BatchBuilder.proof(hs, 5)));
        // root, 6 leaf words, the proof's offset, length and 4 siblings
        assertEq(call.length, 4 + 32 * (1 + 6 + 2 + 4), "call layout");
    }

    function test_everySingleByteChangeOfRootLeafOrProofRejected() public {
        bytes memory call = leafCall();
        uint8[3] memory deltas = [uint8(0x01), 0x80, 0xff];
        for (uint256 d = 0; d < deltas.length; ++d) {
            for (uint256 k = 0; k + 4 < call.length; ++k) {
                (bool ok,) = address(pool).call(changedCall(call, k, deltas[d]));
                assertFalse(ok, string.concat("byte ", str(k), " changed, call accepted"));
            }
        }
        (bool good,) = address(pool).call(call);
        assertTrue(good, "the unchanged call is accepted");
    }

    function testFuzz_singleByteChangeRejected(uint16 pos, uint8 delta) public {
        vm.assume(delta != 0);
        bytes memory call = leafCall();
        (bool ok,) = address(pool).call(changedCall(call, pos % (call.length - 4), delta));
        assertFalse(ok, "changed call accepted");
    }

    function test_staleLeafRejected() public {
        uint64 b = uint64(block.number - 3);
        (BatchJournalV1.Leaf[] memory ls, bytes32[] memory hs, bytes32 root) = verifiedBatch(4, b, 1, "first");
        bytes32[] memory p2 = BatchBuilder.proof(hs, 2);
        pool.refreshMaxLtv(root, ls[2], p2);
        // the same leaf again
        vm.expectRevert(abi.encodeWithSelector(BatchLeafLendingPool.BatchLeafPoolStaleLeaf.selector, b, b));
        pool.refreshMaxLtv(root, ls[2], p2);
        // a later batch about an older block
        vm.roll(block.number + 1);
        (BatchJournalV1.Leaf[] memory older, bytes32[] memory ho, bytes32 ro) = verifiedBatch(4, b - 1, 2, "older");
        vm.expectRevert(abi.encodeWithSelector(BatchLeafLendingPool.BatchLeafPoolStaleLeaf.selector, b, b - 1));
        pool.refreshMaxLtv(ro, older[2], BatchBuilder.proof(ho, 2));
        // a newer block replaces the credit
        vm.roll(block.number + 1);
        (BatchJournalV1.Leaf[] memory newer, bytes32[] memory hn, bytes32 rn) = verifiedBatch(4, b + 2, 3, "newer");
        pool.refreshMaxLtv(rn, newer[2], BatchBuilder.proof(hn, 2));
        (, uint32 score, uint64 blockNumber,) = pool.creditOf(newer[2].subject);
        assertEq(score, newer[2].score, "newer score");
        assertEq(blockNumber, b + 2, "newer block");
    }

    function test_oldBatchGivesNoCredit() public {
        (BatchJournalV1.Leaf[] memory ls, bytes32[] memory hs, bytes32 root) =
            verifiedBatch(4, uint64(block.number - 3), 4, "old");
        uint256 verifiedAt = block.timestamp;
        pool.refreshMaxLtv(root, ls[0], BatchBuilder.proof(hs, 0));
        vm.warp(verifiedAt + AGE); // at the limit: still fresh
        pool.maxBorrow(ls[0].subject, 100);
        assertEq(pool.quoteMaxLtv(root, ls[1], BatchBuilder.proof(hs, 1)), expectedLtv(ls[1].score), "at the limit");
        vm.warp(verifiedAt + AGE + 1);
        vm.expectRevert(
            abi.encodeWithSelector(BatchLeafLendingPool.BatchLeafPoolNoFreshCredit.selector, ls[0].subject)
        );
        pool.maxBorrow(ls[0].subject, 100);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleScoreTooOld.selector, verifiedAt, AGE));
        pool.refreshMaxLtv(root, ls[1], BatchBuilder.proof(hs, 1));
        // an account never scored has no credit at all
        vm.expectRevert(
            abi.encodeWithSelector(BatchLeafLendingPool.BatchLeafPoolNoFreshCredit.selector, address(0xDEAD))
        );
        pool.maxBorrow(address(0xDEAD), 100);
    }

    function test_otherModelOrUnverifiedRootRejected() public {
        bytes32 other = keccak256("other model");
        vm.prank(OWNER);
        oracle.registerModel(other, SPEC);
        BatchJournalV1.Leaf[] memory ls = makeLeaves(2, uint64(block.number - 3), 5);
        ls[0].modelHash = other;
        ls[1].modelHash = other;
        bytes32[] memory hs = hashes(ls);
        bytes32 root = BatchBuilder.root(hs);
        bytes32[] memory p0 = BatchBuilder.proof(hs, 0);
        // not verified yet: the oracle refuses the root
        BatchJournalV1.Leaf memory mine = BatchJournalV1.Leaf(
            ls[0].blockNumber, ls[0].subject, MODEL, ls[0].featureSpecHash, ls[0].score, ls[0].requestId
        );
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleBatchUnknown.selector, root));
        pool.refreshMaxLtv(root, mine, p0);
        bytes memory journal = batchJournal(root, 2, "other");
        oracle.submitBatch(journal, sealFor(journal));
        // a verified result, but of a model this pool does not trust
        vm.expectRevert(abi.encodeWithSelector(BatchLeafLendingPool.BatchLeafPoolWrongModel.selector, MODEL, other));
        pool.refreshMaxLtv(root, ls[0], p0);
    }

    function test_badBaseLtv() public {
        vm.expectRevert(abi.encodeWithSelector(BatchLeafLendingPool.BatchLeafPoolBadBaseLtv.selector, 10_001));
        new BatchLeafLendingPool(oracle, MODEL, AGE, 10_001);
    }
}
