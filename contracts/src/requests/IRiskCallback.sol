// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IRiskCallback
/// @notice What a contract implements to receive the answer to its `RiskRequests.request`.
/// @dev Called by the RiskRequests contract with exactly the gas limit the request named;
/// check `msg.sender`. A revert (or running out of gas) does not undo the fulfilment: the
/// callback is recorded as failed and anyone may retry it with `retryCallback`.
interface IRiskCallback {
    /// @notice The proven answer to request `requestId`.
    /// @param requestId The id `request` returned and `ScoreRequested` carried.
    /// @param subject The scored account.
    /// @param modelHash The model that scored it.
    /// @param score Basis points (0..10000).
    /// @param blockNumber The source-chain block the score describes.
    function onRiskScore(bytes32 requestId, address subject, bytes32 modelHash, uint32 score, uint64 blockNumber)
        external;
}
