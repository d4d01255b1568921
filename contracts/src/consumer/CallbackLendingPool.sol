// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RiskRequests} from "../requests/RiskRequests.sol";
import {IRiskCallback} from "../requests/IRiskCallback.sol";

/// @title CallbackLendingPool
/// @notice Example consumer of on-chain requests: opening a position asks `RiskRequests`
/// for a proven score of the borrower (the caller pays the fee), and the callback sets the
/// position's maximum loan-to-value ratio from it:
///   maxLtv = baseLtvBps · (10000 − score) / 10000
/// Until the callback arrives the position is `Pending` and gets no credit.
contract CallbackLendingPool is IRiskCallback {
    /// @notice Where a borrower's position is.
    enum PositionState {
        None,
        Pending,
        Open
    }

    /// @notice A borrower's position.
    struct Position {
        PositionState state;
        uint16 maxLtvBps;
        uint32 score;
        bytes32 requestId;
    }

    /// @notice The request contract scores are asked from.
    RiskRequests public immutable requests;
    /// @notice The model whose scores this pool trusts.
    bytes32 public immutable modelHash;
    /// @notice Its feature spec.
    bytes32 public immutable featureSpecHash;
    /// @notice LTV (basis points) granted to a zero-risk account.
    uint16 public immutable baseLtvBps;
    /// @notice Gas the pool asks for its callback.
    uint32 public immutable callbackGasLimit;

    /// @notice Position per borrower.
    mapping(address borrower => Position) public positionOf;
    /// @notice Borrower of each pending request.
    mapping(bytes32 requestId => address) public borrowerOf;

    /// @notice `borrower` opened a position; its LTV comes with the answer to `requestId`.
    event PositionRequested(address indexed borrower, bytes32 indexed requestId);
    /// @notice `borrower`'s position is open with `maxLtvBps`, from `score` at `blockNumber`.
    event PositionOpened(address indexed borrower, uint16 maxLtvBps, uint32 score, uint64 blockNumber);

    /// @notice The base LTV is above 100%.
    /// @dev Selector `0xf86541a4` = bytes4(keccak256("CallbackLendingPoolBadBaseLtv(uint16)")).
    error CallbackLendingPoolBadBaseLtv(uint16 baseLtvBps);
    /// @notice The borrower already has a position.
    /// @dev Selector `0x61e3bfd9` = bytes4(keccak256("CallbackLendingPoolPositionExists(address)")).
    error CallbackLendingPoolPositionExists(address borrower);
    /// @notice The callback did not come from the request contract.
    /// @dev Selector `0x17733312` = bytes4(keccak256("CallbackLendingPoolNotRequests(address)")).
    error CallbackLendingPoolNotRequests(address caller);
    /// @notice The callback answers a request this pool did not make (or already answered).
    /// @dev Selector `0x736b054d` = bytes4(keccak256("CallbackLendingPoolUnknownRequest(bytes32)")).
    error CallbackLendingPoolUnknownRequest(bytes32 requestId);

    /// @param requests_ The request contract.
    /// @param modelHash_ The trusted model.
    /// @param featureSpecHash_ Its feature spec.
    /// @param baseLtvBps_ LTV of a zero-risk account, in basis points (≤ 10000).
    /// @param callbackGasLimit_ Gas asked for the callback.
    constructor(
        RiskRequests requests_,
        bytes32 modelHash_,
        bytes32 featureSpecHash_,
        uint16 baseLtvBps_,
        uint32 callbackGasLimit_
    ) {
        if (baseLtvBps_ > 10_000) revert CallbackLendingPoolBadBaseLtv(baseLtvBps_);
        requests = requests_;
        modelHash = modelHash_;
        featureSpecHash = featureSpecHash_;
        baseLtvBps = baseLtvBps_;
        callbackGasLimit = callbackGasLimit_;
    }

    /// @notice Open a position for the caller: requests its score (`msg.value` is the fee),
    /// accepting any block from this one on.
    /// @return requestId The request that will set the position's LTV.
    function openPosition() external payable returns (bytes32 requestId) {
        Position storage p = positionOf[msg.sender];
        if (p.state != PositionState.None) revert CallbackLendingPoolPositionExists(msg.sender);
        requestId = requests.request{value: msg.value}(
            msg.sender,
            modelHash,
            featureSpecHash,
            RiskRequests.BlockPolicy(RiskRequests.BlockRule.NotBefore, uint64(block.number)),
            address(this),
            callbackGasLimit
        );
        p.state = PositionState.Pending;
        p.requestId = requestId;
        borrowerOf[requestId] = msg.sender;
        emit PositionRequested(msg.sender, requestId);
    }

    /// @inheritdoc IRiskCallback
    function onRiskScore(bytes32 requestId, address, bytes32, uint32 score, uint64 blockNumber) external {
        if (msg.sender != address(requests)) revert CallbackLendingPoolNotRequests(msg.sender);
        address borrower = borrowerOf[requestId];
        if (borrower == address(0)) revert CallbackLendingPoolUnknownRequest(requestId);
        delete borrowerOf[requestId];
        uint16 ltv = uint16((uint256(baseLtvBps) * (10_000 - score)) / 10_000);
        positionOf[borrower] = Position(PositionState.Open, ltv, score, requestId);
        emit PositionOpened(borrower, ltv, score, blockNumber);
    }
}
