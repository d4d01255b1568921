// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice The ArbSys function this contract uses (same ABI as nitro-contracts' ArbSys).
interface IArbSysSend {
    function sendTxToL1(address destination, bytes calldata data) external payable returns (uint256);
}

/// @notice The score read of the RiskOracle.
interface IScoreSource {
    function scoreOf(address subject, bytes32 modelHash)
        external
        view
        returns (uint32 score, uint64 blockNumber, uint64 updatedAt);
}

/// @notice The L1 receiver's entry point.
interface IL1ResultReceiver {
    function receiveResult(address subject, bytes32 modelHash, uint32 score, uint64 blockNumber) external;
}

/// @title L2ResultSender
/// @notice On the L2: reads a verified score from the L2 RiskOracle and sends it to L1
/// through ArbSys.sendTxToL1 (0x64); anyone may relay, the score is read here.
contract L2ResultSender {
    /// @notice ArbSys precompile address on every Arbitrum chain.
    address public constant ARB_SYS = address(100);
    /// @notice The L2 oracle the scores are read from.
    IScoreSource public immutable oracle;

    /// @notice A score was sent to `receiver` on L1 as send number `position`.
    event ResultSent(address indexed receiver, address indexed subject, bytes32 indexed modelHash, uint256 position);

    /// @notice The oracle has no score for that subject and model.
    /// @dev Selector `0x89baf642` = bytes4(keccak256("ResultSenderNoScore(address,bytes32)")).
    error ResultSenderNoScore(address subject, bytes32 modelHash);

    /// @param oracle_ The L2 RiskOracle.
    constructor(IScoreSource oracle_) {
        oracle = oracle_;
    }

    /// @notice Send the oracle's score of (`subject`, `modelHash`) to `receiver` on L1.
    /// @return position The send's leaf index in the outbox tree.
    function relayScore(address receiver, address subject, bytes32 modelHash) external returns (uint256 position) {
        (uint32 score, uint64 blockNumber,) = oracle.scoreOf(subject, modelHash);
        if (blockNumber == 0) revert ResultSenderNoScore(subject, modelHash);
        bytes memory data = abi.encodeCall(IL1ResultReceiver.receiveResult, (subject, modelHash, score, blockNumber));
        position = IArbSysSend(ARB_SYS).sendTxToL1(receiver, data);
        emit ResultSent(receiver, subject, modelHash, position);
    }
}
