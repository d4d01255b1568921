// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {L2BlockHashStore} from "../../src/bridge/L2BlockHashStore.sol";

/// @notice Delivers, replays and forges block-hash messages to the L2 store.
contract StoreHandler is Test {
    L2BlockHashStore internal store;
    mapping(uint256 => uint256) public ghostWrites;
    mapping(uint256 => bytes32) public ghostFirst;
    uint256 public ghostForgedAccepted;
    uint256[] public numbers;

    constructor(L2BlockHashStore store_) {
        store = store_;
        for (uint256 i = 0; i < 5; ++i) {
            numbers.push(100 + i);
        }
    }

    /// A message from the aliased pusher (a fresh one or a replay, with any hash).
    function deliver(uint8 which, uint8 variant) external {
        uint256 n = numbers[which % numbers.length];
        bytes32 h = keccak256(abi.encode(n, variant % 3));
        address aliased = store.aliasedPusher();
        vm.prank(aliased);
        try store.receiveBlockHash(n, h) {
            if (ghostWrites[n] == 0) ghostFirst[n] = h;
            ghostWrites[n]++;
        } catch {}
    }

    /// The same call from anyone else.
    function forge(uint8 which, address caller) external {
        if (caller == store.aliasedPusher()) return;
        vm.prank(caller);
        try store.receiveBlockHash(numbers[which % numbers.length], keccak256("forged")) {
            ghostForgedAccepted++;
        } catch {}
    }

    function count() external view returns (uint256) {
        return numbers.length;
    }
}

contract BridgeInvariantTest is Test {
    L2BlockHashStore internal store;
    StoreHandler internal handler;

    function setUp() public {
        store = new L2BlockHashStore(address(0x1234));
        handler = new StoreHandler(store);
        targetContract(address(handler));
    }

    function test_handlerDelivers() public {
        handler.deliver(0, 0);
        handler.deliver(0, 0);
        handler.deliver(0, 1);
        assertEq(handler.ghostWrites(100), 1, "one write, replay and conflict rejected");
    }

    /// Each block's hash is written once, by the alias only, and never changes.
    function invariant_writtenOnceNeverReplayed() public view {
        assertEq(handler.ghostForgedAccepted(), 0, "a non-alias wrote");
        for (uint256 i = 0; i < handler.count(); ++i) {
            uint256 n = handler.numbers(i);
            assertTrue(handler.ghostWrites(n) <= 1, "a message was accepted twice");
            assertEq(store.blockHashOf(n), handler.ghostFirst(n), "stored hash is the first delivered");
        }
    }
}
