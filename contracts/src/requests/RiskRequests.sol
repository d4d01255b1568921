// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RiskOracle} from "../oracle/RiskOracle.sol";
import {JournalV1} from "../generated/JournalV1.sol";
import {Owned} from "../utils/Owned.sol";
import {IRiskCallback} from "./IRiskCallback.sol";

/// @title RiskRequests
/// @notice On-chain requests for proven risk scores, answered with a callback.
/// A contract (or anyone) calls `request` with a fee in the native token; the event
/// `ScoreRequested` carries a request id unique to this chain and contract (and bound to the
/// request's content, so a request re-made differently after a reorg gets another id). Anyone holding
/// a zkVM receipt whose journal answers exactly that request — same subject, model,
/// feature spec, a block the request's block policy allows, and the request id in the
/// journal's `requestId` field — calls `fulfil`: the receipt is checked by the RiskOracle's
/// rules (RISC Zero router, registered model, anchor hash of the source chain), the score is
/// stored, the fee is credited to the caller and the requester's callback runs with the gas
/// limit it asked for. A callback that reverts or runs out of gas does not undo the
/// fulfilment: it is recorded as failed and anyone may retry it. A request not fulfilled
/// before it expires is refunded to its requester. Payments are pulled with `withdraw`.
/// @dev The same code serves L1 and the Arbitrum chain: the oracle it points at decides
/// how anchors are checked (BLOCKHASH / EIP-2935 on L1, the bridged L1 hashes on L2).
contract RiskRequests is Owned {
    /// @notice Where a request is in its life.
    enum Status {
        None,
        Pending,
        Fulfilled,
        Refunded
    }

    /// @notice Outcome of the callback of a fulfilled request (`None`: no callback, or not yet run).
    enum CallbackStatus {
        None,
        Done,
        Failed
    }

    /// @notice Which source-chain blocks a request accepts the score of.
    /// `Exact`: exactly `blockNumber`. `NotBefore`: `blockNumber` or any later block (the
    /// oracle's anchor rules keep it recent).
    enum BlockRule {
        Exact,
        NotBefore
    }

    /// @notice The block policy of a request.
    struct BlockPolicy {
        BlockRule rule;
        uint64 blockNumber;
    }

    /// @notice A request as stored (packed in six slots; the last one written at fulfilment).
    struct Request {
        address requester;
        uint40 expiresAt;
        Status status;
        CallbackStatus callbackStatus;
        BlockRule rule;
        uint32 score;
        address subject;
        uint64 policyBlock;
        uint32 callbackGasLimit;
        bytes32 modelHash;
        bytes32 featureSpecHash;
        address callback;
        uint96 fee;
        address fulfiller;
        uint64 resultBlock;
    }

    /// @notice Price and availability of a model.
    struct ModelTerms {
        bool offered;
        uint96 price;
    }

    /// @notice Gas kept back when calling a callback, for the bookkeeping after it returns.
    uint256 public constant CALLBACK_RESERVE = 40_000;

    /// @notice The oracle whose rules validate receipts (verifier, models, anchors).
    RiskOracle public immutable oracle;
    /// @notice Seconds after `request` during which it may be fulfilled; then it is refundable.
    uint64 public immutable timeout;
    /// @notice Largest callback gas limit a request may ask for.
    uint32 public immutable maxCallbackGas;

    /// @notice Requests made so far (the last request's nonce).
    uint256 public nonce;
    /// @notice Price and availability per model (governance).
    mapping(bytes32 modelHash => ModelTerms) public termsOf;
    /// @notice Wei each account may withdraw (fees earned, refunds).
    mapping(address account => uint256) public credits;

    mapping(bytes32 requestId => Request) private _requests;
    /// @dev Set while a callback runs: `fulfil` and `retryCallback` refuse to be re-entered.
    bool private transient _inCallback;

    /// @notice A score was requested; serve it by proving a journal whose `requestId` is `requestId`.
    event ScoreRequested(
        bytes32 indexed requestId,
        address indexed requester,
        address indexed subject,
        bytes32 modelHash,
        bytes32 featureSpecHash,
        BlockRule rule,
        uint64 blockNumber,
        address callback,
        uint32 callbackGasLimit,
        uint96 fee,
        uint40 expiresAt
    );
    /// @notice `requestId` was answered by `fulfiller` (credited with the fee).
    event RequestFulfilled(bytes32 indexed requestId, address indexed fulfiller, uint32 score, uint64 blockNumber);
    /// @notice The callback of `requestId` ran; `success` false means it reverted or ran out of gas.
    event CallbackExecuted(bytes32 indexed requestId, bool success);
    /// @notice `requestId` expired unanswered; its fee was credited back to `requester`.
    event RequestRefunded(bytes32 indexed requestId, address indexed requester, uint96 fee);
    /// @notice `modelHash` may be requested for at least `price` wei.
    event ModelOffered(bytes32 indexed modelHash, uint96 price);
    /// @notice `modelHash` may no longer be requested (pending requests stay valid).
    event ModelWithdrawn(bytes32 indexed modelHash);
    /// @notice `account` withdrew `amount` wei of credits.
    event CreditsWithdrawn(address indexed account, uint256 amount);

    /// @notice The zero value was given where a hash is required.
    /// @dev Selector `0x738e76cf` = bytes4(keccak256("RiskRequestsZeroValue()")).
    error RiskRequestsZeroValue();
    /// @notice The subject is the zero address.
    /// @dev Selector `0xa0b8aca1` = bytes4(keccak256("RiskRequestsZeroSubject()")).
    error RiskRequestsZeroSubject();
    /// @notice The model is not offered here.
    /// @dev Selector `0x78db27bd` = bytes4(keccak256("RiskRequestsModelNotOffered(bytes32)")).
    error RiskRequestsModelNotOffered(bytes32 modelHash);
    /// @notice The feature spec is not the one the oracle binds the model to.
    /// @dev Selector `0xe884d1cc` = bytes4(keccak256("RiskRequestsFeatureSpecMismatch(bytes32,bytes32)")).
    error RiskRequestsFeatureSpecMismatch(bytes32 expected, bytes32 got);
    /// @notice The fee sent is below the model's price.
    /// @dev Selector `0xedf877cd` = bytes4(keccak256("RiskRequestsFeeTooLow(uint256,uint256)")).
    error RiskRequestsFeeTooLow(uint256 sent, uint256 price);
    /// @notice The callback gas limit is above `maxCallbackGas`.
    /// @dev Selector `0x86f541c9` = bytes4(keccak256("RiskRequestsCallbackGasTooHigh(uint32,uint32)")).
    error RiskRequestsCallbackGasTooHigh(uint32 asked, uint32 maximum);
    /// @notice The request is not pending (unknown, already fulfilled or refunded).
    /// @dev Selector `0xd51e325a` = bytes4(keccak256("RiskRequestsNotPending(bytes32,uint8)")).
    error RiskRequestsNotPending(bytes32 requestId, Status status);
    /// @notice The request expired: it can only be refunded.
    /// @dev Selector `0x9bacb3f5` = bytes4(keccak256("RiskRequestsExpired(bytes32,uint40)")).
    error RiskRequestsExpired(bytes32 requestId, uint40 expiresAt);
    /// @notice The request has not expired yet: no refund.
    /// @dev Selector `0xcc9e8583` = bytes4(keccak256("RiskRequestsNotExpired(bytes32,uint40)")).
    error RiskRequestsNotExpired(bytes32 requestId, uint40 expiresAt);
    /// @notice The journal answers another subject, model or feature spec than the request.
    /// @dev Selector `0xef0da3e9` = bytes4(keccak256("RiskRequestsJournalMismatch(bytes32)")).
    error RiskRequestsJournalMismatch(bytes32 requestId);
    /// @notice The journal's block is not allowed by the request's block policy.
    /// @dev Selector `0xc80b1503` = bytes4(keccak256("RiskRequestsBlockNotAllowed(bytes32,uint64)")).
    error RiskRequestsBlockNotAllowed(bytes32 requestId, uint64 blockNumber);
    /// @notice Too little gas was left to give the callback its full gas limit.
    /// @dev Selector `0xcde6b0ce` = bytes4(keccak256("RiskRequestsInsufficientGas(uint256,uint256)")).
    error RiskRequestsInsufficientGas(uint256 left, uint256 needed);
    /// @notice `fulfil` or `retryCallback` was called from inside a callback.
    /// @dev Selector `0xe23b2002` = bytes4(keccak256("RiskRequestsReentrant()")).
    error RiskRequestsReentrant();
    /// @notice The request has no failed callback to retry.
    /// @dev Selector `0x18d3b76e` = bytes4(keccak256("RiskRequestsNothingToRetry(bytes32)")).
    error RiskRequestsNothingToRetry(bytes32 requestId);
    /// @notice The caller has no credits.
    /// @dev Selector `0xfd765f48` = bytes4(keccak256("RiskRequestsNoCredits(address)")).
    error RiskRequestsNoCredits(address account);
    /// @notice Paying out ether failed.
    /// @dev Selector `0xe6db1c28` = bytes4(keccak256("RiskRequestsTransferFailed()")).
    error RiskRequestsTransferFailed();

    /// @param initialOwner Governance account (sets prices).
    /// @param oracle_ The RiskOracle whose `validateReceipt` judges receipts.
    /// @param timeout_ Seconds a request may be fulfilled before it becomes refundable.
    /// @param maxCallbackGas_ Largest callback gas limit a request may ask for.
    constructor(address initialOwner, RiskOracle oracle_, uint64 timeout_, uint32 maxCallbackGas_)
        Owned(initialOwner)
    {
        oracle = oracle_;
        timeout = timeout_;
        maxCallbackGas = maxCallbackGas_;
    }

    // ------------------------------------------------------------------ governance

    /// @notice Offer `modelHash` at `price` wei per request (owner only; also changes a price).
    /// @param modelHash The model (must be registered in the oracle when requested).
    /// @param price Smallest fee, in wei.
    function offerModel(bytes32 modelHash, uint96 price) external onlyOwner {
        if (modelHash == bytes32(0)) revert RiskRequestsZeroValue();
        termsOf[modelHash] = ModelTerms(true, price);
        emit ModelOffered(modelHash, price);
    }

    /// @notice Stop offering `modelHash` (owner only); pending requests may still be fulfilled.
    /// @param modelHash The model.
    function withdrawModel(bytes32 modelHash) external onlyOwner {
        if (!termsOf[modelHash].offered) revert RiskRequestsModelNotOffered(modelHash);
        delete termsOf[modelHash];
        emit ModelWithdrawn(modelHash);
    }

    // ------------------------------------------------------------------ requests

    /// @notice Ask for a proven score of `subject` under `modelHash`; `msg.value` is the fee
    /// (at least the model's price), paid to whoever fulfils the request first.
    /// @param subject The account to score.
    /// @param modelHash The model (offered here and registered in the oracle).
    /// @param featureSpecHash The model's feature spec (as the oracle registers it).
    /// @param policy Which source-chain blocks the score may describe.
    /// @param callback Contract to call with the answer (`IRiskCallback`), or zero for none.
    /// @param callbackGasLimit Gas the callback is given (at most `maxCallbackGas`).
    /// @return requestId keccak256(abi.encode(chain id, this contract, nonce, requester, subject,
    /// model, spec, rule, block, callback, gas limit)): unique per chain and contract, and a
    /// request re-made differently after a reorg gets another id.
    function request(
        address subject,
        bytes32 modelHash,
        bytes32 featureSpecHash,
        BlockPolicy calldata policy,
        address callback,
        uint32 callbackGasLimit
    ) external payable returns (bytes32 requestId) {
        if (subject == address(0)) revert RiskRequestsZeroSubject();
        ModelTerms memory terms = termsOf[modelHash];
        if (!terms.offered) revert RiskRequestsModelNotOffered(modelHash);
        bytes32 spec = oracle.featureSpecOf(modelHash);
        if (spec == bytes32(0) || spec != featureSpecHash) revert RiskRequestsFeatureSpecMismatch(spec, featureSpecHash);
        if (msg.value < terms.price) revert RiskRequestsFeeTooLow(msg.value, terms.price);
        if (callbackGasLimit > maxCallbackGas) revert RiskRequestsCallbackGasTooHigh(callbackGasLimit, maxCallbackGas);
        requestId = _idOf(++nonce, subject, modelHash, featureSpecHash, policy, callback, callbackGasLimit);
        uint40 expiresAt = uint40(block.timestamp + timeout);
        Request storage r = _requests[requestId];
        r.requester = msg.sender;
        r.expiresAt = expiresAt;
        r.status = Status.Pending;
        r.rule = policy.rule;
        r.subject = subject;
        r.policyBlock = policy.blockNumber;
        r.callbackGasLimit = callbackGasLimit;
        r.modelHash = modelHash;
        r.featureSpecHash = featureSpecHash;
        r.callback = callback;
        // The total ether supply is far below 2^96 wei.
        r.fee = uint96(msg.value);
        emit ScoreRequested(
            requestId,
            msg.sender,
            subject,
            modelHash,
            featureSpecHash,
            policy.rule,
            policy.blockNumber,
            callback,
            callbackGasLimit,
            uint96(msg.value),
            expiresAt
        );
    }

    /// @notice Answer a pending request with a receipt (anyone may): the journal must name the
    /// request's id, subject, model and spec and a block its policy allows, and be valid by
    /// the oracle's rules. Stores the score, credits the fee to the caller, runs the callback.
    /// @param journal The journal v1 bytes (320).
    /// @param seal The receipt's seal (verified through the oracle's router).
    function fulfil(bytes calldata journal, bytes calldata seal) external {
        if (_inCallback) revert RiskRequestsReentrant();
        JournalV1.Journal memory j = JournalV1.decode(journal);
        Request storage r = _requests[j.requestId];
        _checkAnswers(r, j);
        // Every cheap check runs before the receipt's, which is the expensive one.
        oracle.validateReceipt(journal, seal);
        r.status = Status.Fulfilled;
        r.score = j.score;
        r.fulfiller = msg.sender;
        r.resultBlock = j.blockNumber;
        credits[msg.sender] += r.fee;
        emit RequestFulfilled(j.requestId, msg.sender, j.score, j.blockNumber);
        if (r.callback != address(0)) _runCallback(j.requestId, r);
    }

    /// @notice Run the failed callback of a fulfilled request again (anyone may).
    /// @param requestId The request.
    function retryCallback(bytes32 requestId) external {
        if (_inCallback) revert RiskRequestsReentrant();
        Request storage r = _requests[requestId];
        if (r.callbackStatus != CallbackStatus.Failed) revert RiskRequestsNothingToRetry(requestId);
        _runCallback(requestId, r);
    }

    /// @notice Credit the fee of an expired, unanswered request back to its requester (anyone may).
    /// @param requestId The request.
    function refund(bytes32 requestId) external {
        Request storage r = _requests[requestId];
        if (r.status != Status.Pending) revert RiskRequestsNotPending(requestId, r.status);
        if (block.timestamp < r.expiresAt) revert RiskRequestsNotExpired(requestId, r.expiresAt);
        r.status = Status.Refunded;
        credits[r.requester] += r.fee;
        emit RequestRefunded(requestId, r.requester, r.fee);
    }

    /// @notice Pay out the caller's credits (fees earned and refunds).
    function withdraw() external {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert RiskRequestsNoCredits(msg.sender);
        credits[msg.sender] = 0;
        emit CreditsWithdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert RiskRequestsTransferFailed();
    }

    // ------------------------------------------------------------------ reads

    /// @notice The stored request (all zero if unknown).
    /// @param requestId The request.
    /// @return The request, its status, and once fulfilled its score, block and fulfiller.
    function requestOf(bytes32 requestId) external view returns (Request memory) {
        return _requests[requestId];
    }

    // ------------------------------------------------------------------ internals

    function _idOf(
        uint256 n,
        address subject,
        bytes32 modelHash,
        bytes32 featureSpecHash,
        BlockPolicy calldata policy,
        address callback,
        uint32 callbackGasLimit
    ) private view returns (bytes32) {
        bytes32 what = keccak256(
            abi.encode(
                msg.sender, subject, modelHash, featureSpecHash, policy.rule, policy.blockNumber, callback, callbackGasLimit
            )
        );
        return keccak256(abi.encode(block.chainid, address(this), n, what));
    }

    /// @dev The request is pending, not expired, and the journal answers exactly it.
    function _checkAnswers(Request storage r, JournalV1.Journal memory j) private view {
        if (r.status != Status.Pending) revert RiskRequestsNotPending(j.requestId, r.status);
        if (block.timestamp >= r.expiresAt) revert RiskRequestsExpired(j.requestId, r.expiresAt);
        if (j.subject != r.subject || j.modelHash != r.modelHash || j.featureSpecHash != r.featureSpecHash) {
            revert RiskRequestsJournalMismatch(j.requestId);
        }
        bool allowed = r.rule == BlockRule.Exact ? j.blockNumber == r.policyBlock : j.blockNumber >= r.policyBlock;
        if (!allowed) revert RiskRequestsBlockNotAllowed(j.requestId, j.blockNumber);
    }

    /// @dev Calls the callback with exactly its gas limit (the caller must leave enough gas
    /// for that, EIP-150's 63/64 rule included, or the whole call reverts) and records the
    /// outcome; the callee's revert data is not copied (no return bombs).
    function _runCallback(bytes32 requestId, Request storage r) private {
        uint256 gasLimit = r.callbackGasLimit;
        address target = r.callback;
        bytes memory data =
            abi.encodeCall(IRiskCallback.onRiskScore, (requestId, r.subject, r.modelHash, r.score, r.resultBlock));
        uint256 needed = gasLimit + gasLimit / 63 + CALLBACK_RESERVE;
        if (gasleft() < needed) revert RiskRequestsInsufficientGas(gasleft(), needed);
        _inCallback = true;
        bool ok;
        assembly {
            ok := call(gasLimit, target, 0, add(data, 32), mload(data), 0, 0)
        }
        _inCallback = false;
        r.callbackStatus = ok ? CallbackStatus.Done : CallbackStatus.Failed;
        emit CallbackExecuted(requestId, ok);
    }
}
