// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RequestsFixture} from "../requests/RequestsFixture.sol";
import {CallbackLendingPool} from "../../src/consumer/CallbackLendingPool.sol";
import {RiskRequests} from "../../src/requests/RiskRequests.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";

contract CallbackLendingPoolTest is RequestsFixture {
    CallbackLendingPool internal pool;
    address internal constant BORROWER = SUBJECT;

    event PositionOpened(address indexed borrower, uint16 maxLtvBps, uint32 score, uint64 blockNumber);

    function setUp() public override {
        super.setUp();
        pool = new CallbackLendingPool(requests, MODEL, SPEC, 8_000, 100_000);
        vm.deal(BORROWER, 1 ether);
    }

    /// Opening a position requests the borrower's score; the callback sets the LTV.
    function test_positionOpensOnCallback() public {
        vm.prank(BORROWER);
        bytes32 id = pool.openPosition{value: PRICE}();
        (CallbackLendingPool.PositionState state,,,) = pool.positionOf(BORROWER);
        assertTrue(state == CallbackLendingPool.PositionState.Pending, "pending until answered");
        RiskRequests.Request memory r = requests.requestOf(id);
        assertEq(r.subject, BORROWER, "scores the borrower");
        assertEq(r.callback, address(pool), "calls the pool back");
        assertEq(r.policyBlock, block.number, "from the opening block on");

        vm.roll(block.number + 4); // the answer describes a block after the opening one
        JournalV1.Journal memory j = answer(id); // score 4321
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        vm.expectEmit();
        emit PositionOpened(BORROWER, 4543, 4321, j.blockNumber); // 8000 * 5679 / 10000
        requests.fulfil(journal, seal);
        (CallbackLendingPool.PositionState s2, uint16 ltv, uint32 score, bytes32 rid) = pool.positionOf(BORROWER);
        assertTrue(s2 == CallbackLendingPool.PositionState.Open, "open");
        assertEq(ltv, 4543, "ltv");
        assertEq(score, 4321, "score");
        assertEq(rid, id, "request");
    }

    function test_refusals() public {
        vm.prank(BORROWER);
        bytes32 id = pool.openPosition{value: PRICE}();
        vm.expectRevert(abi.encodeWithSelector(CallbackLendingPool.CallbackLendingPoolPositionExists.selector, BORROWER));
        vm.prank(BORROWER);
        pool.openPosition{value: PRICE}();
        vm.expectRevert(
            abi.encodeWithSelector(CallbackLendingPool.CallbackLendingPoolNotRequests.selector, address(this))
        );
        pool.onRiskScore(id, BORROWER, MODEL, 0, 1);
        bytes32 unknown = keccak256("unknown");
        vm.prank(address(requests));
        vm.expectRevert(abi.encodeWithSelector(CallbackLendingPool.CallbackLendingPoolUnknownRequest.selector, unknown));
        pool.onRiskScore(unknown, BORROWER, MODEL, 0, 1);
        vm.expectRevert(abi.encodeWithSelector(CallbackLendingPool.CallbackLendingPoolBadBaseLtv.selector, 10_001));
        new CallbackLendingPool(requests, MODEL, SPEC, 10_001, 100_000);
    }

    function testFuzz_ltvBounds(uint32 score) public {
        vm.prank(BORROWER);
        bytes32 id = pool.openPosition{value: PRICE}();
        vm.roll(block.number + 4);
        JournalV1.Journal memory j = answer(id);
        j.score = score % 10_001;
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        requests.fulfil(journal, seal);
        (, uint16 ltv,,) = pool.positionOf(BORROWER);
        assertTrue(ltv <= 8_000, "never above base");
        assertEq(ltv, (8_000 * (10_000 - uint256(j.score))) / 10_000, "linear in score");
    }
}
