// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {L1BlockHashPusher} from "../../src/bridge/L1BlockHashPusher.sol";
import {L2BlockHashStore} from "../../src/bridge/L2BlockHashStore.sol";
import {IArbitrumInbox} from "../../src/bridge/IArbitrumInbox.sol";
import {BlockHashes} from "../../src/oracle/BlockHashes.sol";
import {OracleFixture} from "../utils/Fixtures.sol";

/// @notice Stands in for Arbitrum's Inbox: records the ticket and, like the real chain,
/// delivers it on "L2" from the sender's aliased address.
contract InboxStub is IArbitrumInbox {
    uint256 public tickets;
    address public lastTo;
    bytes public lastData;
    uint256 public lastValue;
    address public lastSender;

    function createRetryableTicket(
        address to,
        uint256,
        uint256,
        address,
        address,
        uint256,
        uint256,
        bytes calldata data
    ) external payable returns (uint256) {
        lastTo = to;
        lastData = data;
        lastValue = msg.value;
        lastSender = msg.sender;
        return tickets++;
    }
}

contract BlockHashBridgeTest is OracleFixture {
    InboxStub internal inbox;
    L1BlockHashPusher internal pusher;
    L2BlockHashStore internal store;

    event BlockHashPushed(uint256 indexed number, bytes32 hash, uint256 indexed ticketId);
    event BlockHashReceived(uint256 indexed number, bytes32 hash);

    function setUp() public override {
        super.setUp();
        inbox = new InboxStub();
        // the store is deployed first, knowing where the pusher will be (next CREATE)
        uint8 next = uint8(vm.getNonce(address(this)) + 1); // small nonce: one-byte RLP
        address predicted = address(uint160(uint256(keccak256(abi.encodePacked(hex"d694", address(this), next)))));
        store = new L2BlockHashStore(predicted);
        pusher = new L1BlockHashPusher(inbox, address(store));
        assertEq(address(pusher), predicted, "pusher address predicted");
    }

    /// Delivers the last ticket as Arbitrum would: from the aliased sender.
    function deliver() internal {
        address aliased;
        unchecked {
            aliased = address(uint160(inbox.lastSender()) + uint160(0x1111000000000000000000000000000000001111));
        }
        address to = inbox.lastTo();
        bytes memory data = inbox.lastData();
        vm.prank(aliased);
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    function test_pushAndDeliver() public {
        uint256 n = block.number - 10;
        vm.setBlockhash(n, keccak256("ten back"));
        vm.deal(address(this), 1 ether);
        vm.expectEmit();
        emit BlockHashPushed(n, keccak256("ten back"), 0);
        uint256 ticket = pusher.push{value: 0.01 ether}(n, 1, 100_000, 1 gwei);
        assertEq(ticket, 0, "ticket id");
        assertEq(inbox.lastValue(), 0.01 ether, "fees forwarded");
        assertEq(inbox.lastTo(), address(store), "target");
        vm.expectEmit();
        emit BlockHashReceived(n, keccak256("ten back"));
        deliver();
        assertEq(store.blockHashOf(n), keccak256("ten back"), "stored on L2");
        // a replayed delivery is rejected
        vm.expectRevert(abi.encodeWithSelector(L2BlockHashStore.StoreAlreadyKnown.selector, n));
        this.deliverExternal();
    }

    function deliverExternal() external {
        deliver();
    }

    function test_pushFromHistoryContract() public {
        installHistoryContract();
        vm.roll(30_000);
        uint256 n = 30_000 - 5000;
        setHistoryHash(n, keccak256("old"));
        pusher.push(n, 0, 0, 0);
        deliver();
        assertEq(store.blockHashOf(n), keccak256("old"), "EIP-2935 hash bridged");
    }

    function test_pushUnavailable() public {
        vm.expectRevert(abi.encodeWithSelector(L1BlockHashPusher.PusherBlockUnavailable.selector, block.number));
        pusher.push(block.number, 0, 0, 0);
        vm.roll(20_000);
        vm.expectRevert(abi.encodeWithSelector(L1BlockHashPusher.PusherBlockUnavailable.selector, 20_000 - 8192));
        pusher.push(20_000 - 8192, 0, 0, 0);
    }

    function test_storeRejectsOthers() public {
        // the pusher's own (unaliased) address is not accepted, nor is anyone else
        vm.prank(address(pusher));
        vm.expectRevert(abi.encodeWithSelector(L2BlockHashStore.StoreUnauthorized.selector, address(pusher)));
        store.receiveBlockHash(1, keccak256("x"));
        vm.expectRevert(abi.encodeWithSelector(L2BlockHashStore.StoreUnauthorized.selector, address(this)));
        store.receiveBlockHash(1, keccak256("x"));
        address aliased = store.aliasedPusher();
        vm.startPrank(aliased);
        vm.expectRevert(abi.encodeWithSelector(L2BlockHashStore.StoreZeroHash.selector, 1));
        store.receiveBlockHash(1, bytes32(0));
        store.receiveBlockHash(1, keccak256("x"));
        vm.expectRevert(
            abi.encodeWithSelector(L2BlockHashStore.StoreHashConflict.selector, 1, keccak256("x"), keccak256("y"))
        );
        store.receiveBlockHash(1, keccak256("y"));
        vm.stopPrank();
        assertEq(store.blockHashOf(2), bytes32(0), "unknown block is zero");
    }

    function test_aliasIsArbitrums() public {
        // AddressAliasHelper.applyL1ToL2Alias, with wrap-around at 2^160
        L2BlockHashStore high = new L2BlockHashStore(address(type(uint160).max));
        assertEq(high.aliasedPusher(), address(0x1111000000000000000000000000000000001110), "wraps");
        assertEq(
            new L2BlockHashStore(address(0x1)).aliasedPusher(),
            address(0x1111000000000000000000000000000000001112),
            "adds offset"
        );
    }

    function testFuzz_onlyAliasWrites(address caller) public {
        vm.assume(caller != store.aliasedPusher());
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(L2BlockHashStore.StoreUnauthorized.selector, caller));
        store.receiveBlockHash(7, keccak256("z"));
    }
}
