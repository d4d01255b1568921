// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IArbitrumInbox
/// @notice The one function of Arbitrum's delayed Inbox the pusher needs (same ABI as
/// `IInbox.createRetryableTicket` in the npm package arbitrum nitro-contracts).
interface IArbitrumInbox {
    /// @notice Create an L1→L2 retryable ticket that calls `to` with `data` on L2 from the
    /// aliased address of the caller.
    /// @return The ticket's message number.
    function createRetryableTicket(
        address to,
        uint256 l2CallValue,
        uint256 maxSubmissionCost,
        address excessFeeRefundAddress,
        address callValueRefundAddress,
        uint256 gasLimit,
        uint256 maxFeePerGas,
        bytes calldata data
    ) external payable returns (uint256);
}
