// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IArbitrumInbox} from "./IArbitrumInbox.sol";
import {L2BlockHashStore} from "./L2BlockHashStore.sol";
import {BlockHashes} from "../oracle/BlockHashes.sol";

/// @title L1BlockHashPusher
/// @notice Reads the hash of a recent L1 block (BLOCKHASH, or EIP-2935 history for the
/// last 8191 blocks) and sends it to the L2BlockHashStore through Arbitrum's delayed
/// Inbox as a retryable ticket. Anyone may push (and pays the L2 fees); the hash is
/// read here, never taken from the caller.
contract L1BlockHashPusher {
    /// @notice Arbitrum's delayed Inbox on L1.
    IArbitrumInbox public immutable inbox;
    /// @notice The store on L2 the tickets call.
    address public immutable l2Store;

    /// @notice The hash of block `number` was sent to L2 in retryable ticket `ticketId`.
    event BlockHashPushed(uint256 indexed number, bytes32 hash, uint256 indexed ticketId);

    /// @notice No trusted hash for that block here (current/future, or older than 8191 blocks).
    /// @dev Selector `0x86d173e9` = bytes4(keccak256("PusherBlockUnavailable(uint256)")).
    error PusherBlockUnavailable(uint256 number);

    /// @param inbox_ Arbitrum's delayed Inbox.
    /// @param l2Store_ The L2BlockHashStore address on L2.
    constructor(IArbitrumInbox inbox_, address l2Store_) {
        inbox = inbox_;
        l2Store = l2Store_;
    }

    /// @notice Send the hash of L1 block `number` to L2. `msg.value` must cover
    /// `maxSubmissionCost + gasLimit * maxFeePerGas`; refunds go to the caller on L2.
    /// @param number A block among the last 8191.
    /// @param maxSubmissionCost Retryable submission fee cap.
    /// @param gasLimit L2 gas limit of the store call.
    /// @param maxFeePerGas L2 gas price cap.
    /// @return ticketId The Inbox's message number for the ticket.
    function push(uint256 number, uint256 maxSubmissionCost, uint256 gasLimit, uint256 maxFeePerGas)
        external
        payable
        returns (uint256 ticketId)
    {
        bytes32 hash = BlockHashes.recent(number);
        if (hash == bytes32(0)) revert PusherBlockUnavailable(number);
        bytes memory data = abi.encodeCall(L2BlockHashStore.receiveBlockHash, (number, hash));
        ticketId = inbox.createRetryableTicket{value: msg.value}(
            l2Store, 0, maxSubmissionCost, msg.sender, msg.sender, gasLimit, maxFeePerGas, data
        );
        emit BlockHashPushed(number, hash, ticketId);
    }
}
