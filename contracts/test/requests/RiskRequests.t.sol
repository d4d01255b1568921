// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RequestsFixture, RecordingConsumer, ReentrantConsumer} from "./RequestsFixture.sol";
import {RiskRequests} from "../../src/requests/RiskRequests.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";
import {Owned} from "../../src/utils/Owned.sol";

contract RiskRequestsTest is RequestsFixture {
    RecordingConsumer internal consumer;

    event ScoreRequested(
        bytes32 indexed requestId,
        address indexed requester,
        address indexed subject,
        bytes32 modelHash,
        bytes32 featureSpecHash,
        RiskRequests.BlockRule rule,
        uint64 blockNumber,
        address callback,
        uint32 callbackGasLimit,
        uint96 fee,
        uint40 expiresAt
    );
    event RequestFulfilled(bytes32 indexed requestId, address indexed fulfiller, uint32 score, uint64 blockNumber);
    event CallbackExecuted(bytes32 indexed requestId, bool success);
    event RequestRefunded(bytes32 indexed requestId, address indexed requester, uint96 fee);

    function setUp() public override {
        super.setUp();
        consumer = new RecordingConsumer();
    }

    // ------------------------------------------------------------------ request

    /// keccak256(chain id, contract, nonce, keccak256(requester, subject, model, spec, rule,
    /// block, callback, gas limit)), written out here.
    function expectedId(RiskRequests target, uint256 n, uint64 b, address callback, uint32 gas)
        internal
        view
        returns (bytes32)
    {
        bytes32 what = keccak256(
            abi.encode(REQUESTER, SUBJECT, MODEL, SPEC, RiskRequests.BlockRule.Exact, b, callback, gas)
        );
        return keccak256(abi.encode(block.chainid, address(target), n, what));
    }

    function test_requestIdUniquePerChainAndContract() public {
        uint64 b = uint64(block.number);
        bytes32 expected = expectedId(requests, 1, b, address(consumer), 100_000);
        vm.expectEmit();
        emit ScoreRequested(
            expected,
            REQUESTER,
            SUBJECT,
            MODEL,
            SPEC,
            RiskRequests.BlockRule.Exact,
            b,
            address(consumer),
            100_000,
            PRICE,
            uint40(block.timestamp + TIMEOUT)
        );
        vm.prank(REQUESTER);
        bytes32 id = requests.request{value: PRICE}(
            SUBJECT, MODEL, SPEC, policy(RiskRequests.BlockRule.Exact, b), address(consumer), 100_000
        );
        assertEq(id, expected, "id");
        RiskRequests.Request memory r = requests.requestOf(id);
        assertTrue(r.status == RiskRequests.Status.Pending, "pending");
        assertEq(r.requester, REQUESTER, "requester");
        assertEq(r.fee, PRICE, "fee");
        assertEq(address(requests).balance, PRICE, "fee held");
        // the same request again: another nonce, another id
        vm.prank(REQUESTER);
        bytes32 again = requests.request{value: PRICE}(
            SUBJECT, MODEL, SPEC, policy(RiskRequests.BlockRule.Exact, b), address(consumer), 100_000
        );
        assertEq(again, expectedId(requests, 2, b, address(consumer), 100_000), "nonce 2");
        assertTrue(again != id, "ids differ by nonce");
        // another contract, another chain id: other ids
        RiskRequests twin = new RiskRequests(OWNER, oracle, TIMEOUT, MAX_CALLBACK_GAS);
        vm.prank(OWNER);
        twin.offerModel(MODEL, 0);
        vm.prank(REQUESTER);
        bytes32 twinId = twin.request(SUBJECT, MODEL, SPEC, policy(RiskRequests.BlockRule.Exact, b), address(0), 0);
        assertEq(twinId, expectedId(twin, 1, b, address(0), 0), "twin id");
        assertTrue(twinId != id, "ids differ by contract");
        vm.chainId(block.chainid + 1);
        vm.prank(REQUESTER);
        bytes32 otherChain = twin.request(SUBJECT, MODEL, SPEC, policy(RiskRequests.BlockRule.Exact, b), address(0), 0);
        assertEq(otherChain, expectedId(twin, 2, b, address(0), 0), "chain id in the id");
    }

    /// The id is bound to the request's content: for any subject and block it is the
    /// written-out hash, so a request re-made with other content under the same nonce (what
    /// a reorg that replaces a request looks like) gets another id.
    function testFuzz_idBoundToContent(address subject, uint64 b) public {
        vm.assume(subject != address(0));
        vm.prank(REQUESTER);
        bytes32 id = requests.request{value: PRICE}(
            subject, MODEL, SPEC, policy(RiskRequests.BlockRule.Exact, b), address(0), 0
        );
        bytes32 what = keccak256(
            abi.encode(REQUESTER, subject, MODEL, SPEC, RiskRequests.BlockRule.Exact, b, address(0), uint32(0))
        );
        assertEq(id, keccak256(abi.encode(block.chainid, address(requests), uint256(1), what)), "content-bound");
        if (subject != SUBJECT || b != 7) {
            assertTrue(id != expectedId(requests, 1, 7, address(0), 0), "other content, other id");
        }
    }

    function test_requestRefusals() public {
        RiskRequests.BlockPolicy memory p = policy(RiskRequests.BlockRule.NotBefore, 0);
        vm.startPrank(REQUESTER);
        vm.expectRevert(RiskRequests.RiskRequestsZeroSubject.selector);
        requests.request{value: PRICE}(address(0), MODEL, SPEC, p, address(0), 0);
        bytes32 other = keccak256("other model");
        vm.expectRevert(abi.encodeWithSelector(RiskRequests.RiskRequestsModelNotOffered.selector, other));
        requests.request{value: PRICE}(SUBJECT, other, SPEC, p, address(0), 0);
        bytes32 wrongSpec = keccak256("other spec");
        vm.expectRevert(abi.encodeWithSelector(RiskRequests.RiskRequestsFeatureSpecMismatch.selector, SPEC, wrongSpec));
        requests.request{value: PRICE}(SUBJECT, MODEL, wrongSpec, p, address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(RiskRequests.RiskRequestsFeeTooLow.selector, PRICE - 1, PRICE));
        requests.request{value: PRICE - 1}(SUBJECT, MODEL, SPEC, p, address(0), 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                RiskRequests.RiskRequestsCallbackGasTooHigh.selector, MAX_CALLBACK_GAS + 1, MAX_CALLBACK_GAS
            )
        );
        requests.request{value: PRICE}(SUBJECT, MODEL, SPEC, p, address(consumer), MAX_CALLBACK_GAS + 1);
        vm.stopPrank();
        // offered here but retired in the oracle: refused (it could never be fulfilled)
        vm.prank(OWNER);
        oracle.retireModel(MODEL);
        vm.expectRevert(
            abi.encodeWithSelector(RiskRequests.RiskRequestsFeatureSpecMismatch.selector, bytes32(0), SPEC)
        );
        vm.prank(REQUESTER);
        requests.request{value: PRICE}(SUBJECT, MODEL, SPEC, p, address(0), 0);
    }

    function test_governance() public {
        vm.expectRevert(abi.encodeWithSelector(Owned.OwnedUnauthorized.selector, address(this)));
        requests.offerModel(MODEL, 1);
        vm.startPrank(OWNER);
        vm.expectRevert(RiskRequests.RiskRequestsZeroValue.selector);
        requests.offerModel(bytes32(0), 1);
        requests.offerModel(MODEL, 2 ether);
        (bool offered, uint96 price) = requests.termsOf(MODEL);
        assertTrue(offered && price == 2 ether, "new price");
        requests.withdrawModel(MODEL);
        vm.expectRevert(abi.encodeWithSelector(RiskRequests.RiskRequestsModelNotOffered.selector, MODEL));
        requests.withdrawModel(MODEL);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ fulfil

    function test_fulfilStoresPaysAndCallsBack() public {
        bytes32 id = requestFor(address(consumer), 100_000);
        JournalV1.Journal memory j = answer(id);
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        vm.expectEmit();
        emit RequestFulfilled(id, FULFILLER, j.score, j.blockNumber);
        vm.expectEmit();
        emit CallbackExecuted(id, true);
        vm.prank(FULFILLER);
        requests.fulfil(journal, seal);
        RiskRequests.Request memory r = requests.requestOf(id);
        assertTrue(r.status == RiskRequests.Status.Fulfilled, "fulfilled");
        assertTrue(r.callbackStatus == RiskRequests.CallbackStatus.Done, "callback done");
        assertEq(r.score, j.score, "score stored");
        assertEq(r.resultBlock, j.blockNumber, "block stored");
        assertEq(r.fulfiller, FULFILLER, "fulfiller");
        assertEq(consumer.lastId(), id, "callback id");
        assertEq(consumer.lastScore(), j.score, "callback score");
        assertEq(consumer.lastBlock(), j.blockNumber, "callback block");
        assertEq(requests.credits(FULFILLER), PRICE, "fee credited to the fulfiller");
        vm.prank(FULFILLER);
        requests.withdraw();
        assertEq(FULFILLER.balance, PRICE, "fee paid");
        assertEq(address(requests).balance, 0, "nothing left");
        vm.expectRevert(abi.encodeWithSelector(RiskRequests.RiskRequestsNoCredits.selector, FULFILLER));
        vm.prank(FULFILLER);
        requests.withdraw();
    }

    /// A second fulfilment (the same receipt replayed, or a later valid one) is refused.
    function test_atMostOneFulfilment() public {
        bytes32 id = requestFor(address(0), 0);
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        requests.fulfil(journal, seal);
        bytes memory seal2 = sealFor(journal);
        vm.expectRevert(
            abi.encodeWithSelector(RiskRequests.RiskRequestsNotPending.selector, id, RiskRequests.Status.Fulfilled)
        );
        requests.fulfil(journal, seal2);
        vm.roll(block.number + 5);
        JournalV1.Journal memory later = answer(id);
        later.score = 1;
        bytes memory journal2 = JournalV1.encode(later);
        bytes memory seal3 = sealFor(journal2);
        vm.expectRevert(
            abi.encodeWithSelector(RiskRequests.RiskRequestsNotPending.selector, id, RiskRequests.Status.Fulfilled)
        );
        requests.fulfil(journal2, seal3);
    }

    /// A journal for another request (or no request) does not fulfil this one.
    function test_journalOfAnotherRequest() public {
        bytes32 id = requestFor(address(0), 0);
        bytes32 other = keccak256("not a request");
        bytes memory journal = JournalV1.encode(answer(other));
        bytes memory seal = sealFor(journal);
        vm.expectRevert(
            abi.encodeWithSelector(RiskRequests.RiskRequestsNotPending.selector, other, RiskRequests.Status.None)
        );
        requests.fulfil(journal, seal);
        assertTrue(requests.requestOf(id).status == RiskRequests.Status.Pending, "still pending");
    }

    function test_journalMustAnswerTheRequest() public {
        bytes32 id = requestFor(address(0), 0);
        JournalV1.Journal memory j = answer(id);
        j.subject = address(0xDEAD);
        _expectFulfilRevert(j, abi.encodeWithSelector(RiskRequests.RiskRequestsJournalMismatch.selector, id));
        j = answer(id);
        j.modelHash = keccak256("other model");
        _expectFulfilRevert(j, abi.encodeWithSelector(RiskRequests.RiskRequestsJournalMismatch.selector, id));
        j = answer(id);
        j.featureSpecHash = keccak256("other spec");
        _expectFulfilRevert(j, abi.encodeWithSelector(RiskRequests.RiskRequestsJournalMismatch.selector, id));
        j = answer(id);
        j.blockNumber -= 1; // before the NotBefore block
        _expectFulfilRevert(
            j, abi.encodeWithSelector(RiskRequests.RiskRequestsBlockNotAllowed.selector, id, j.blockNumber)
        );
    }

    function test_exactBlockPolicy() public {
        JournalV1.Journal memory j = validJournal();
        vm.prank(REQUESTER);
        bytes32 id = requests.request{value: PRICE}(
            SUBJECT, MODEL, SPEC, policy(RiskRequests.BlockRule.Exact, j.blockNumber - 1), address(0), 0
        );
        j.requestId = id;
        _expectFulfilRevert(
            j, abi.encodeWithSelector(RiskRequests.RiskRequestsBlockNotAllowed.selector, id, j.blockNumber)
        );
        j.blockNumber -= 1;
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        requests.fulfil(journal, seal);
        assertEq(requests.requestOf(id).resultBlock, j.blockNumber, "the exact block");
    }

    /// The oracle's rules apply: a bad seal, a wrong anchor, another chain are refused.
    function test_receiptCheckedByOracleRules() public {
        bytes32 id = requestFor(address(0), 0);
        JournalV1.Journal memory j = answer(id);
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        seal[seal.length - 1] ^= 0x01;
        vm.expectRevert();
        requests.fulfil(journal, seal);
        j.anchorHash = keccak256("not the block");
        _expectFulfilRevert(
            j,
            abi.encodeWithSelector(
                RiskOracle.RiskOracleAnchorMismatch.selector, j.anchorNumber, blockhash(j.anchorNumber), j.anchorHash
            )
        );
        j = answer(id);
        j.chainId += 1;
        _expectFulfilRevert(
            j, abi.encodeWithSelector(RiskOracle.RiskOracleChainMismatch.selector, uint64(block.chainid), j.chainId)
        );
        assertTrue(requests.requestOf(id).status == RiskRequests.Status.Pending, "still pending");
    }

    // ------------------------------------------------------------------ expiry

    function test_expiredRequestRefundedNotFulfilled() public {
        bytes32 id = requestFor(address(0), 0);
        uint40 expiresAt = requests.requestOf(id).expiresAt;
        vm.expectRevert(abi.encodeWithSelector(RiskRequests.RiskRequestsNotExpired.selector, id, expiresAt));
        requests.refund(id);
        vm.warp(expiresAt);
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        vm.expectRevert(abi.encodeWithSelector(RiskRequests.RiskRequestsExpired.selector, id, expiresAt));
        requests.fulfil(journal, seal);
        vm.expectEmit();
        emit RequestRefunded(id, REQUESTER, PRICE);
        requests.refund(id); // anyone may; the fee goes to the requester
        assertEq(requests.credits(REQUESTER), PRICE, "refund credited");
        vm.expectRevert(
            abi.encodeWithSelector(RiskRequests.RiskRequestsNotPending.selector, id, RiskRequests.Status.Refunded)
        );
        requests.refund(id);
        bytes memory seal2 = sealFor(journal);
        vm.expectRevert(
            abi.encodeWithSelector(RiskRequests.RiskRequestsNotPending.selector, id, RiskRequests.Status.Refunded)
        );
        requests.fulfil(journal, seal2);
        uint256 before = REQUESTER.balance;
        vm.prank(REQUESTER);
        requests.withdraw();
        assertEq(REQUESTER.balance - before, PRICE, "refund paid");
    }

    function test_fulfilledRequestNotRefundable() public {
        bytes32 id = requestFor(address(0), 0);
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        requests.fulfil(journal, seal);
        vm.warp(block.timestamp + TIMEOUT + 1);
        vm.expectRevert(
            abi.encodeWithSelector(RiskRequests.RiskRequestsNotPending.selector, id, RiskRequests.Status.Fulfilled)
        );
        requests.refund(id);
    }

    // ------------------------------------------------------------------ callbacks

    function test_revertingCallbackKeepsFulfilmentAndIsRetryable() public {
        consumer.setMode(RecordingConsumer.Mode.Revert);
        bytes32 id = requestFor(address(consumer), 100_000);
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        vm.expectEmit();
        emit CallbackExecuted(id, false);
        vm.prank(FULFILLER);
        requests.fulfil(journal, seal);
        RiskRequests.Request memory r = requests.requestOf(id);
        assertTrue(r.status == RiskRequests.Status.Fulfilled, "fulfilled anyway");
        assertTrue(r.callbackStatus == RiskRequests.CallbackStatus.Failed, "callback failed");
        assertEq(requests.credits(FULFILLER), PRICE, "fulfiller paid anyway");
        requests.retryCallback(id); // still reverting: stays failed
        assertTrue(requests.requestOf(id).callbackStatus == RiskRequests.CallbackStatus.Failed, "still failed");
        consumer.setMode(RecordingConsumer.Mode.Ok);
        vm.expectEmit();
        emit CallbackExecuted(id, true);
        requests.retryCallback(id);
        assertTrue(requests.requestOf(id).callbackStatus == RiskRequests.CallbackStatus.Done, "done on retry");
        assertEq(consumer.calls(), 1, "delivered once");
        vm.expectRevert(abi.encodeWithSelector(RiskRequests.RiskRequestsNothingToRetry.selector, id));
        requests.retryCallback(id);
    }

    function test_outOfGasCallbackKeepsFulfilment() public {
        consumer.setMode(RecordingConsumer.Mode.BurnGas);
        bytes32 id = requestFor(address(consumer), 200_000);
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        requests.fulfil{gas: 1_000_000}(journal, seal);
        RiskRequests.Request memory r = requests.requestOf(id);
        assertTrue(r.status == RiskRequests.Status.Fulfilled, "fulfilled");
        assertTrue(r.callbackStatus == RiskRequests.CallbackStatus.Failed, "out of gas recorded");
    }

    /// The callback gets its whole gas limit: a caller leaving less makes `fulfil` revert
    /// instead of recording a failure it caused.
    function test_callbackGetsItsGasLimit() public {
        bytes32 id = requestFor(address(consumer), 300_000);
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        vm.expectRevert(); // RiskRequestsInsufficientGas (its numbers depend on the gas left)
        requests.fulfil{gas: 250_000}(journal, seal);
        assertTrue(requests.requestOf(id).status == RiskRequests.Status.Pending, "not fulfilled");
        requests.fulfil{gas: 600_000}(journal, seal);
        assertTrue(consumer.gasSeen() > 300_000 - 2_000, "the callee saw its gas limit");
        assertTrue(consumer.gasSeen() <= 300_000, "and not more");
    }

    function test_insufficientGasNamed() public {
        bytes32 id = requestFor(address(consumer), 300_000);
        // An error naming the numbers: checked by selector on a call with too little gas.
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        (bool ok, bytes memory ret) =
            address(requests).call{gas: 250_000}(abi.encodeCall(RiskRequests.fulfil, (journal, seal)));
        assertFalse(ok, "reverted");
        assertEq(bytes4(ret), RiskRequests.RiskRequestsInsufficientGas.selector, "named error");
    }

    /// A callback cannot re-enter `fulfil` (not even for another request) or `retryCallback`.
    function test_noReentrancyFromCallback() public {
        ReentrantConsumer evil = new ReentrantConsumer(requests);
        bytes32 first = requestFor(address(evil), 400_000);
        bytes32 second = requestFor(address(0), 0);
        consumer.setMode(RecordingConsumer.Mode.Revert);
        bytes32 failed = requestFor(address(consumer), 100_000);
        bytes memory jf = JournalV1.encode(answer(failed));
        bytes memory seal = sealFor(jf);
        requests.fulfil(jf, seal);
        consumer.setMode(RecordingConsumer.Mode.Ok);
        bytes memory j2 = JournalV1.encode(answer(second));
        evil.arm(j2, sealFor(j2), failed);
        bytes memory j1 = JournalV1.encode(answer(first));
        bytes memory seal2 = sealFor(j1);
        requests.fulfil(j1, seal2);
        assertEq(evil.reentered(), 0, "no re-entry succeeded");
        assertTrue(requests.requestOf(second).status == RiskRequests.Status.Pending, "second untouched");
        assertTrue(requests.requestOf(failed).callbackStatus == RiskRequests.CallbackStatus.Failed, "retry refused");
        // the reentrancy error by name, outside a callback it does not happen
        bytes memory seal3 = sealFor(j2);
        requests.fulfil(j2, seal3);
        assertTrue(requests.requestOf(second).status == RiskRequests.Status.Fulfilled, "second fulfilled later");
    }

    function test_reentrantErrorNamed() public {
        ReentrantProbe probe = new ReentrantProbe(requests);
        bytes32 id = requestFor(address(probe), 200_000);
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        requests.fulfil(journal, seal);
        assertEq(probe.fulfilError(), RiskRequests.RiskRequestsReentrant.selector, "fulfil refused by name");
        assertEq(probe.retryError(), RiskRequests.RiskRequestsReentrant.selector, "retry refused by name");
    }

    function test_transferFailed() public {
        NoReceive sink = new NoReceive(requests);
        bytes32 id = requestFor(address(0), 0);
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        sink.fulfil(journal, seal);
        vm.expectRevert(RiskRequests.RiskRequestsTransferFailed.selector);
        sink.withdraw();
    }

    // ------------------------------------------------------------------ fuzz

    /// Any change of the answered fields makes `fulfil` refuse the journal.
    function testFuzz_changedFieldRefused(uint8 field, uint256 noise) public {
        bytes32 id = requestFor(address(0), 0);
        JournalV1.Journal memory j = answer(id);
        uint256 which = field % 5;
        noise |= 1; // a change in every field's low bit at least
        if (which == 0) j.subject = address(uint160(j.subject) ^ uint160(noise));
        if (which == 1) j.modelHash = bytes32(uint256(j.modelHash) ^ noise);
        if (which == 2) j.featureSpecHash = bytes32(uint256(j.featureSpecHash) ^ noise);
        if (which == 3) j.blockNumber = uint64(noise % j.blockNumber); // before the NotBefore block
        if (which == 4) j.requestId = bytes32(uint256(j.requestId) ^ noise);
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        vm.expectRevert();
        requests.fulfil(journal, seal);
        assertTrue(requests.requestOf(id).status == RiskRequests.Status.Pending, "still pending");
    }

    /// The fee (any amount at or above the price) goes to whoever fulfils first.
    function testFuzz_feeToFirstFulfiller(uint96 extra, address who) public {
        vm.assume(who != address(0) && who.code.length == 0 && uint160(who) > 0xFFFF);
        extra = extra % 10 ether;
        vm.prank(REQUESTER);
        bytes32 id = requests.request{value: PRICE + extra}(
            SUBJECT, MODEL, SPEC, policy(RiskRequests.BlockRule.NotBefore, 0), address(0), 0
        );
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        vm.prank(who);
        requests.fulfil(journal, seal);
        assertEq(requests.credits(who), PRICE + extra, "whole fee to the fulfiller");
    }

    function _expectFulfilRevert(JournalV1.Journal memory j, bytes memory reason) private {
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        vm.expectRevert(reason);
        requests.fulfil(journal, seal);
    }
}

/// @notice A callback that records the error of its re-entry attempts.
contract ReentrantProbe {
    RiskRequests internal immutable requests;
    bytes4 public fulfilError;
    bytes4 public retryError;

    constructor(RiskRequests requests_) {
        requests = requests_;
    }

    function onRiskScore(bytes32 id, address, bytes32, uint32, uint64) external {
        try requests.fulfil(new bytes(320), "") {} catch (bytes memory err) {
            fulfilError = bytes4(err);
        }
        try requests.retryCallback(id) {} catch (bytes memory err) {
            retryError = bytes4(err);
        }
    }
}

/// @notice A fulfiller that cannot receive ether.
contract NoReceive {
    RiskRequests internal immutable requests;

    constructor(RiskRequests requests_) {
        requests = requests_;
    }

    function fulfil(bytes calldata journal, bytes calldata seal) external {
        requests.fulfil(journal, seal);
    }

    function withdraw() external {
        requests.withdraw();
    }
}
