// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {ArbSysEmulator} from "../../src/arbos/ArbSysEmulator.sol";
import {ArbRetryableTxEmulator} from "../../src/arbos/ArbRetryableTxEmulator.sol";
import {L2ResultSender, IScoreSource} from "../../src/arbos/L2ResultSender.sol";
import {L1ResultReceiver, IArbBridgeOutboxView} from "../../src/arbos/L1ResultReceiver.sol";

/// @notice Bridge + Outbox stand-in: reports itself as the active outbox and a settable L2 sender.
contract BridgeOutboxStub {
    address public l2ToL1Sender;

    function activeOutbox() external view returns (address) {
        return address(this);
    }

    function deliver(address l2Sender, address to, bytes calldata data) external {
        l2ToL1Sender = l2Sender;
        (bool ok, bytes memory ret) = to.call(data);
        l2ToL1Sender = address(0);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

contract ScoreStub is IScoreSource {
    uint32 public score;
    uint64 public blockNumber;

    function set(uint32 s, uint64 b) external {
        (score, blockNumber) = (s, b);
    }

    function scoreOf(address, bytes32) external view returns (uint32, uint64, uint64) {
        return (score, blockNumber, 0);
    }
}

contract ArbosEmulatorTest is Test {
    ArbSysEmulator internal arbSys;
    ArbRetryableTxEmulator internal retryables;
    address internal constant RELAY = address(0xBEEF);
    bytes32 internal constant TICKET = keccak256("ticket");

    function setUp() public {
        vm.etch(address(100), address(new ArbSysEmulator()).code);
        vm.etch(address(110), address(new ArbRetryableTxEmulator()).code);
        arbSys = ArbSysEmulator(address(100));
        retryables = ArbRetryableTxEmulator(address(110));
        arbSys.devnetInit(RELAY);
        retryables.devnetInit(RELAY);
    }

    function _ticket() internal pure returns (ArbRetryableTxEmulator.Ticket memory t) {
        t.from = address(0x1111);
        t.to = address(0x2222);
        t.beneficiary = address(0x3333);
        t.gasLimit = 100_000;
        t.maxFeePerGas = 1 gwei;
        t.data = hex"abcd";
    }

    function _create() internal {
        vm.prank(RELAY);
        assertTrue(retryables.devnetSubmit(TICKET, 1, 10 ** 18, 10 ** 16, _ticket()), "created");
    }

    function testInitOnlyOnce() public {
        vm.expectRevert(abi.encodeWithSelector(ArbSysEmulator.ArbSysEmulatorNotRelay.selector, address(this)));
        arbSys.devnetInit(address(this));
        vm.expectRevert(
            abi.encodeWithSelector(ArbRetryableTxEmulator.RetryableEmulatorUnauthorized.selector, address(this))
        );
        retryables.devnetInit(address(this));
    }

    function testArbBlockHashRange() public {
        vm.roll(1000);
        vm.expectRevert(abi.encodeWithSelector(ArbSysEmulator.InvalidBlockNumber.selector, 1000, 1000));
        arbSys.arbBlockHash(1000);
        vm.expectRevert(abi.encodeWithSelector(ArbSysEmulator.InvalidBlockNumber.selector, 700, 1000));
        arbSys.arbBlockHash(700);
    }

    function testSendMerkleRootMatchesOutboxHashing() public {
        // three sends: root = H(H(l0, l1), H(l2, 0)) with leaves l_i = keccak(item_i)
        bytes32[3] memory items;
        for (uint256 i = 0; i < 3; i++) {
            uint256 pos = arbSys.sendTxToL1(address(0x99), abi.encode(i));
            assertEq(pos, i, "position");
            items[i] = keccak256(
                abi.encodePacked(address(this), address(0x99), block.number, uint256(0), block.timestamp, uint256(0), abi.encode(i))
            );
        }
        bytes32 l0 = keccak256(abi.encodePacked(items[0]));
        bytes32 l1 = keccak256(abi.encodePacked(items[1]));
        bytes32 l2 = keccak256(abi.encodePacked(items[2]));
        (uint256 size, bytes32 root,) = arbSys.sendMerkleTreeState();
        assertEq(size, 3, "size");
        bytes32 expected = keccak256(abi.encodePacked(keccak256(abi.encodePacked(l0, l1)), keccak256(abi.encodePacked(l2, bytes32(0)))));
        assertEq(root, expected, "root");
    }

    function testRelayOnlyFunctions() public {
        vm.expectRevert(abi.encodeWithSelector(ArbSysEmulator.ArbSysEmulatorNotRelay.selector, address(this)));
        arbSys.devnetSetL1BlockNumber(5);
        vm.expectRevert(
            abi.encodeWithSelector(ArbRetryableTxEmulator.RetryableEmulatorUnauthorized.selector, address(this))
        );
        retryables.devnetSubmit(TICKET, 1, 1, 1, _ticket());
    }

    function testTicketLifecycle() public {
        _create();
        assertEq(retryables.getTimeout(TICKET), block.timestamp + 7 days, "timeout");
        vm.prank(RELAY);
        vm.expectRevert(abi.encodeWithSelector(ArbRetryableTxEmulator.RetryableEmulatorTicketExists.selector, TICKET));
        retryables.devnetSubmit(TICKET, 1, 10 ** 18, 10 ** 16, _ticket());
        // a failed retry keeps the ticket, a successful one deletes it
        vm.prank(RELAY);
        retryables.devnetRecordRedeem(TICKET, bytes32(uint256(1)), 30_000, address(1), 0, false);
        assertEq(retryables.getBeneficiary(TICKET), address(0x3333), "still live");
        vm.prank(RELAY);
        retryables.devnetRecordRedeem(TICKET, bytes32(uint256(2)), 90_000, address(1), 0, true);
        vm.expectRevert(ArbRetryableTxEmulator.NoTicketWithID.selector);
        retryables.getTimeout(TICKET);
    }

    function testCreationFailsOnLowSubmissionFee() public {
        vm.prank(RELAY);
        // fee needed: (1400 + 6 * 2) * 10 = 14120 > 14119
        assertTrue(!retryables.devnetSubmit(TICKET, 10, 10 ** 18, 14_119, _ticket()), "not created");
        vm.expectRevert(ArbRetryableTxEmulator.NoTicketWithID.selector);
        retryables.redeem(TICKET);
    }

    function testExpiryKeepaliveCancel() public {
        _create();
        // keepalive once is fine, twice is more than one lifetime ahead
        assertEq(retryables.keepalive(TICKET), block.timestamp + 14 days, "extended");
        vm.expectRevert(
            abi.encodeWithSelector(ArbRetryableTxEmulator.RetryableEmulatorTimeoutTooFar.selector, block.timestamp + 14 days)
        );
        retryables.keepalive(TICKET);
        vm.expectRevert(
            abi.encodeWithSelector(ArbRetryableTxEmulator.RetryableEmulatorUnauthorized.selector, address(this))
        );
        retryables.cancel(TICKET);
        vm.warp(block.timestamp + 14 days + 1);
        vm.expectRevert(ArbRetryableTxEmulator.NoTicketWithID.selector);
        retryables.getTimeout(TICKET);
        vm.expectRevert(ArbRetryableTxEmulator.NotCallable.selector);
        retryables.submitRetryable(0, 0, 0, 0, 0, 0, 0, address(0), address(0), address(0), "");
    }

    function testResultRoundTrip() public {
        ScoreStub oracle = new ScoreStub();
        L2ResultSender sender = new L2ResultSender(oracle);
        BridgeOutboxStub bridge = new BridgeOutboxStub();
        L1ResultReceiver receiver = new L1ResultReceiver(IArbBridgeOutboxView(address(bridge)), address(sender));
        vm.expectRevert(abi.encodeWithSelector(L2ResultSender.ResultSenderNoScore.selector, address(7), bytes32(0)));
        sender.relayScore(address(receiver), address(7), bytes32(0));
        oracle.set(4321, 77);
        assertEq(sender.relayScore(address(receiver), address(7), bytes32(0)), 0, "first send");
        bytes memory data = abi.encodeCall(L1ResultReceiver.receiveResult, (address(7), bytes32(0), 4321, 77));
        vm.expectRevert(abi.encodeWithSelector(L1ResultReceiver.ReceiverUnauthorized.selector, address(this), address(0)));
        receiver.receiveResult(address(7), bytes32(0), 4321, 77);
        vm.expectRevert(
            abi.encodeWithSelector(L1ResultReceiver.ReceiverUnauthorized.selector, address(bridge), address(this))
        );
        bridge.deliver(address(this), address(receiver), data);
        bridge.deliver(address(sender), address(receiver), data);
        (uint32 score, uint64 number) = receiver.resultOf(address(7), bytes32(0));
        assertEq(score, 4321, "score");
        assertEq(number, 77, "block");
        vm.expectRevert(abi.encodeWithSelector(L1ResultReceiver.ReceiverStale.selector, 77, 77));
        bridge.deliver(address(sender), address(receiver), data);
    }
}
