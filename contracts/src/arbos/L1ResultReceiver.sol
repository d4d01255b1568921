// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice What the receiver reads of Arbitrum's Bridge and Outbox (nitro-contracts ABI).
interface IArbBridgeOutboxView {
    function activeOutbox() external view returns (address);
}

interface IArbOutboxSender {
    function l2ToL1Sender() external view returns (address);
}

/// @title L1ResultReceiver
/// @notice An L1 consumer of scores computed and verified on the L2: accepts a result only
/// when Arbitrum's Bridge calls it while executing an Outbox message whose L2 sender is
/// the trusted L2ResultSender (the standard cross-chain sender check). Replays are stopped
/// by the Outbox (each leaf once); older blocks than stored are rejected as stale.
contract L1ResultReceiver {
    /// @notice Arbitrum's Bridge on L1.
    IArbBridgeOutboxView public immutable bridge;
    /// @notice The L2ResultSender on L2.
    address public immutable l2Sender;

    struct Result {
        uint32 score;
        uint64 blockNumber;
    }

    mapping(address subject => mapping(bytes32 modelHash => Result)) private _results;

    /// @notice A result arrived from L2.
    event ResultReceived(address indexed subject, bytes32 indexed modelHash, uint32 score, uint64 blockNumber);

    /// @notice Not called by the Bridge on behalf of the trusted L2 sender.
    /// @dev Selector `0xe3292569` = bytes4(keccak256("ReceiverUnauthorized(address,address)")).
    error ReceiverUnauthorized(address caller, address l2Caller);
    /// @notice A result for an older (or the same) block than the stored one.
    /// @dev Selector `0xa983ffce` = bytes4(keccak256("ReceiverStale(uint64,uint64)")).
    error ReceiverStale(uint64 stored, uint64 got);

    /// @param bridge_ Arbitrum's Bridge.
    /// @param l2Sender_ The L2ResultSender address.
    constructor(IArbBridgeOutboxView bridge_, address l2Sender_) {
        bridge = bridge_;
        l2Sender = l2Sender_;
    }

    /// @notice Store a result sent by the L2ResultSender (through the Outbox only).
    function receiveResult(address subject, bytes32 modelHash, uint32 score, uint64 blockNumber) external {
        address l2Caller = msg.sender == address(bridge)
            ? IArbOutboxSender(bridge.activeOutbox()).l2ToL1Sender()
            : address(0);
        if (msg.sender != address(bridge) || l2Caller != l2Sender) {
            revert ReceiverUnauthorized(msg.sender, l2Caller);
        }
        Result storage r = _results[subject][modelHash];
        if (blockNumber <= r.blockNumber) revert ReceiverStale(r.blockNumber, blockNumber);
        r.score = score;
        r.blockNumber = blockNumber;
        emit ResultReceived(subject, modelHash, score, blockNumber);
    }

    /// @notice The last result received for (`subject`, `modelHash`).
    function resultOf(address subject, bytes32 modelHash) external view returns (uint32 score, uint64 blockNumber) {
        Result storage r = _results[subject][modelHash];
        return (r.score, r.blockNumber);
    }
}
