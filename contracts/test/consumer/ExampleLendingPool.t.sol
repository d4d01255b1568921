// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {OracleFixture} from "../utils/Fixtures.sol";
import {ExampleLendingPool} from "../../src/consumer/ExampleLendingPool.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";

contract ExampleLendingPoolTest is OracleFixture {
    ExampleLendingPool internal pool;

    event MaxLtvUpdated(address indexed account, uint16 maxLtvBps, uint32 score, uint64 blockNumber);

    function setUp() public override {
        super.setUp();
        pool = new ExampleLendingPool(oracle, MODEL, 1 hours, 8_000);
    }

    function test_ltvFromFreshScore() public {
        JournalV1.Journal memory j = validJournal(); // score 4321
        bytes memory journal = JournalV1.encode(j);
        oracle.submit(journal, sealFor(journal));
        // 8000 * (10000 - 4321) / 10000 = 4543.2 -> 4543
        assertEq(pool.quoteMaxLtv(SUBJECT), 4543, "quote");
        vm.expectEmit();
        emit MaxLtvUpdated(SUBJECT, 4543, 4321, j.blockNumber);
        pool.refreshMaxLtv(SUBJECT);
        assertEq(pool.maxLtvBpsOf(SUBJECT), 4543, "stored");
    }

    function test_noCreditWithoutFreshScore() public {
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleNoScore.selector, SUBJECT, MODEL));
        pool.refreshMaxLtv(SUBJECT);
        bytes memory journal = JournalV1.encode(validJournal());
        oracle.submit(journal, sealFor(journal));
        uint64 t = uint64(block.timestamp);
        vm.warp(block.timestamp + 1 hours + 1);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleScoreTooOld.selector, t, 1 hours));
        pool.refreshMaxLtv(SUBJECT);
    }

    function test_badBaseLtv() public {
        vm.expectRevert(abi.encodeWithSelector(ExampleLendingPool.LendingPoolBadBaseLtv.selector, 10_001));
        new ExampleLendingPool(oracle, MODEL, 1 hours, 10_001);
    }

    function testFuzz_ltvBounds(uint32 score) public {
        JournalV1.Journal memory j = validJournal();
        j.score = score % 10_001;
        bytes memory journal = JournalV1.encode(j);
        oracle.submit(journal, sealFor(journal));
        uint16 ltv = pool.quoteMaxLtv(SUBJECT);
        assertTrue(ltv <= 8_000, "never above base");
        assertEq(ltv, (8_000 * (10_000 - uint256(j.score))) / 10_000, "linear in score");
    }
}
