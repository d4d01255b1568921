// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {RequestsFixture, ReentrantConsumer} from "./RequestsFixture.sol";
import {RiskRequests} from "../../src/requests/RiskRequests.sol";
import {DevVerifier} from "../../src/verifier/DevVerifier.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";

/// @notice Drives RiskRequests with requests, valid and replayed fulfilments, answers to
/// the wrong request, refunds, callback retries, withdrawals and time passing. Every
/// third request calls back into a consumer that tries to re-enter `fulfil` with a valid
/// answer to another pending request. Ghost variables record what succeeded.
contract RequestsHandler is Test {
    RiskRequests internal requests;
    DevVerifier internal dev;
    ReentrantConsumer public evil;
    bytes32 internal imageId;
    bytes32 internal model;
    bytes32 internal spec;

    bytes32[] public ids;
    address[] public actors;
    mapping(bytes32 => uint256) public ghostFulfilments;
    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    uint256 public ghostFulfilled;

    constructor(RiskRequests requests_, DevVerifier dev_, bytes32 imageId_, bytes32 model_, bytes32 spec_) {
        requests = requests_;
        dev = dev_;
        imageId = imageId_;
        model = model_;
        spec = spec_;
        evil = new ReentrantConsumer(requests_);
        for (uint256 i = 0; i < 3; ++i) {
            address a = address(uint160(0xAC70 + i));
            actors.push(a);
            vm.deal(a, 1_000 ether);
        }
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function request(uint8 who, uint64 extra) external {
        address a = actors[who % actors.length];
        uint256 fee = 0.01 ether + (extra % 1 ether);
        address callback = ids.length % 3 == 0 ? address(evil) : address(0);
        vm.prank(a);
        bytes32 id = requests.request{value: fee}(
            address(0xB0B), model, spec, RiskRequests.BlockPolicy(RiskRequests.BlockRule.NotBefore, 0), callback, 300_000
        );
        ids.push(id);
        ghostDeposited += fee;
    }

    /// Fulfil request `which` (valid answer); the callback (if any) is armed with a valid
    /// answer to request `other`.
    function fulfil(uint8 who, uint256 which, uint256 other, uint32 score) external {
        if (ids.length == 0) return;
        bytes32 id = ids[which % ids.length];
        (bytes memory journal, bytes memory seal) = _answer(id, score);
        (bytes memory j2, bytes memory s2) = _answer(ids[other % ids.length], score);
        evil.arm(j2, s2, ids[other % ids.length]);
        vm.prank(actors[who % actors.length]);
        try requests.fulfil{gas: 2_000_000}(journal, seal) {
            ghostFulfilments[id]++;
            ghostFulfilled++;
        } catch {}
    }

    /// A valid receipt whose journal names request `named` submitted while meaning `which`:
    /// it can only ever fulfil `named`, which the ghost counts too.
    function fulfilWrong(uint256 which, uint32 score) external {
        if (ids.length == 0) return;
        bytes32 id = ids[which % ids.length];
        bytes32 fake = keccak256(abi.encode(id, "wrong"));
        (bytes memory journal, bytes memory seal) = _answer(fake, score);
        try requests.fulfil(journal, seal) {
            ghostFulfilments[fake]++;
        } catch {}
    }

    function refund(uint256 which) external {
        if (ids.length == 0) return;
        try requests.refund(ids[which % ids.length]) {} catch {}
    }

    function retry(uint256 which) external {
        if (ids.length == 0) return;
        try requests.retryCallback{gas: 2_000_000}(ids[which % ids.length]) {} catch {}
    }

    function withdraw(uint8 who) external {
        address a = actors[who % actors.length];
        uint256 amount = requests.credits(a);
        vm.prank(a);
        try requests.withdraw() {
            ghostWithdrawn += amount;
        } catch {}
    }

    function pass(uint32 secondsPassing) external {
        vm.warp(block.timestamp + (secondsPassing % 2 hours));
        vm.roll(block.number + 1);
    }

    function _answer(bytes32 id, uint32 score) private returns (bytes memory journal, bytes memory seal) {
        uint64 anchor = uint64(block.number - 1);
        vm.setBlockhash(anchor, keccak256(abi.encode("blk", anchor)));
        journal = JournalV1.encode(
            JournalV1.Journal(
                1,
                uint64(block.chainid),
                anchor,
                blockhash(anchor),
                anchor - 1,
                address(0xB0B),
                model,
                spec,
                score % 10_001,
                id
            )
        );
        seal = dev.sealFor(imageId, sha256(journal));
    }
}

contract RequestsInvariantTest is RequestsFixture {
    RequestsHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new RequestsHandler(requests, dev, IMAGE_ID, MODEL, SPEC);
        targetContract(address(handler));
    }

    /// At most one fulfilment per request, and a request is Fulfilled exactly when it was.
    function invariant_atMostOneFulfilment() public view {
        for (uint256 i = 0; i < handler.idCount(); ++i) {
            bytes32 id = handler.ids(i);
            uint256 n = handler.ghostFulfilments(id);
            assertTrue(n <= 1, "fulfilled twice");
            bool fulfilled = requests.requestOf(id).status == RiskRequests.Status.Fulfilled;
            assertEq(fulfilled, n == 1, "status matches the fulfilments");
            assertEq(handler.ghostFulfilments(keccak256(abi.encode(id, "wrong"))), 0, "a non-request fulfilled");
        }
        assertEq(handler.evil().reentered(), 0, "a callback re-entered fulfil or retryCallback");
    }

    /// Fees are conserved: the balance is exactly the pending fees plus everyone's credits,
    /// and deposits equal that plus what was withdrawn.
    function invariant_feesConserved() public view {
        uint256 pending = 0;
        for (uint256 i = 0; i < handler.idCount(); ++i) {
            RiskRequests.Request memory r = requests.requestOf(handler.ids(i));
            if (r.status == RiskRequests.Status.Pending) pending += r.fee;
        }
        uint256 credited = 0;
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            credited += requests.credits(handler.actors(i));
        }
        assertEq(address(requests).balance, pending + credited, "balance == pending fees + credits");
        assertEq(handler.ghostDeposited(), pending + credited + handler.ghostWithdrawn(), "deposits accounted");
    }

    /// The handler's success paths are reachable (otherwise the invariants would be vacuous).
    function test_handlerPathsReachable() public {
        handler.request(0, 0); // with the re-entering callback
        handler.request(1, 5);
        handler.fulfil(2, 0, 1, 77);
        assertEq(handler.ghostFulfilments(handler.ids(0)), 1, "fulfilled");
        assertEq(uint256(requests.requestOf(handler.ids(1)).status), uint256(RiskRequests.Status.Pending), "other");
        handler.fulfil(2, 0, 1, 78);
        assertEq(handler.ghostFulfilments(handler.ids(0)), 1, "once");
        handler.withdraw(2);
        assertEq(handler.ghostWithdrawn(), 0.01 ether, "fee withdrawn");
        handler.pass(uint32(2 hours - 1));
        handler.refund(1);
        assertEq(uint256(requests.requestOf(handler.ids(1)).status), uint256(RiskRequests.Status.Refunded), "ref");
        handler.withdraw(1);
        assertEq(handler.ghostWithdrawn(), 0.02 ether + 5, "refund withdrawn");
        invariant_atMostOneFulfilment();
        invariant_feesConserved();
    }
}
