// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RiskOracle} from "../oracle/RiskOracle.sol";

/// @title ExampleLendingPool
/// @notice The smallest useful consumer: an account's maximum loan-to-value ratio
/// shrinks linearly with its proven risk score, and only a fresh score counts.
///   maxLtv = baseLtvBps · (10000 − score) / 10000
/// An account without a fresh score gets no credit (the oracle read reverts).
contract ExampleLendingPool {
    /// @notice The oracle scores are read from.
    RiskOracle public immutable oracle;
    /// @notice The model whose scores this pool trusts.
    bytes32 public immutable modelHash;
    /// @notice Oldest accepted score, in seconds.
    uint256 public immutable maxScoreAge;
    /// @notice LTV (basis points) granted to a zero-risk account.
    uint16 public immutable baseLtvBps;

    /// @notice Last LTV set per account (basis points).
    mapping(address account => uint16) public maxLtvBpsOf;

    /// @notice `account`'s maximum LTV was set from its score at `blockNumber`.
    event MaxLtvUpdated(address indexed account, uint16 maxLtvBps, uint32 score, uint64 blockNumber);

    /// @notice The base LTV is above 100%.
    /// @dev Selector `0x03a7de0f` = bytes4(keccak256("LendingPoolBadBaseLtv(uint16)")).
    error LendingPoolBadBaseLtv(uint16 baseLtvBps);

    /// @param oracle_ The risk oracle.
    /// @param modelHash_ The trusted model.
    /// @param maxScoreAge_ Oldest accepted score, in seconds.
    /// @param baseLtvBps_ LTV of a zero-risk account, in basis points (≤ 10000).
    constructor(RiskOracle oracle_, bytes32 modelHash_, uint256 maxScoreAge_, uint16 baseLtvBps_) {
        if (baseLtvBps_ > 10_000) revert LendingPoolBadBaseLtv(baseLtvBps_);
        oracle = oracle_;
        modelHash = modelHash_;
        maxScoreAge = maxScoreAge_;
        baseLtvBps = baseLtvBps_;
    }

    /// @notice The LTV `account` would get now (reverts without a fresh score).
    /// @param account The borrower.
    /// @return ltvBps Maximum loan-to-value, in basis points.
    function quoteMaxLtv(address account) public view returns (uint16 ltvBps) {
        (uint32 score,) = oracle.freshScoreOf(account, modelHash, maxScoreAge);
        return uint16((uint256(baseLtvBps) * (10_000 - score)) / 10_000);
    }

    /// @notice Set `account`'s maximum LTV from its fresh score (anyone may call).
    /// @param account The borrower.
    /// @return ltvBps The new maximum LTV, in basis points.
    function refreshMaxLtv(address account) external returns (uint16 ltvBps) {
        (uint32 score, uint64 blockNumber) = oracle.freshScoreOf(account, modelHash, maxScoreAge);
        ltvBps = uint16((uint256(baseLtvBps) * (10_000 - score)) / 10_000);
        maxLtvBpsOf[account] = ltvBps;
        emit MaxLtvUpdated(account, ltvBps, score, blockNumber);
    }
}
