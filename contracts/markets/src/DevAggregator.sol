// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @notice A Chainlink-style price feed for the devnet markets. The answer lives in
/// storage slot 0 (proofs read it there); only the deployer sets it.
contract DevAggregator {
    int256 public latestAnswer; // slot 0
    uint256 public latestTimestamp; // slot 1
    uint256 public latestRound; // slot 2
    address public immutable owner;
    uint8 public constant decimals = 8;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(int256 answer) {
        owner = msg.sender;
        _set(answer);
    }

    function setAnswer(int256 answer) external {
        require(msg.sender == owner, "DevAggregator: not owner");
        _set(answer);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        uint80 round = uint80(latestRound);
        return (round, latestAnswer, latestTimestamp, latestTimestamp, round);
    }

    function _set(int256 answer) internal {
        latestAnswer = answer;
        latestTimestamp = block.timestamp;
        latestRound += 1;
        emit AnswerUpdated(answer, latestRound, block.timestamp);
    }
}
