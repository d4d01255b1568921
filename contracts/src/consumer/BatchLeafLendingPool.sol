// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RiskOracle} from "../oracle/RiskOracle.sol";
import {BatchJournalV1} from "../oracle/BatchJournalV1.sol";

/// @title BatchLeafLendingPool
/// @notice Example consumer of batch results: a score proven in a batch receipt is read
/// straight from its leaf, without anyone storing it in the oracle first. The caller gives
/// the batch's results root, the leaf and its Merkle proof exactly as the service shows
/// them (`GET /v1/jobs/{id}`: `batch.results_root`, `batch.leaf`, `batch.proof`) or as
/// `coproc verify-receipt R --leaf A` prints them; the oracle checks that the root is a
/// verified batch no older than `maxBatchAge`, that the proof leads from the leaf to it,
/// and that the leaf's model is registered with its feature spec (`RiskOracle.leafScore`).
/// The pool then sets the subject's credit:
///   maxLtv = baseLtvBps · (10000 − score) / 10000
/// A leaf older than (or as old as) the one the credit was last set from is refused, and
/// a credit counts only while its batch is at most `maxBatchAge` seconds old
/// (`maxBorrow`), so only a fresh score opens a borrow.
contract BatchLeafLendingPool {
    /// @notice Credit of an account, from one batch leaf.
    struct Credit {
        uint16 maxLtvBps;
        uint32 score;
        /// @dev The block the score describes (the leaf's `blockNumber`).
        uint64 blockNumber;
        /// @dev When the oracle verified the leaf's batch.
        uint64 verifiedAt;
    }

    /// @notice The oracle whose verified batch roots are trusted.
    RiskOracle public immutable oracle;
    /// @notice The model whose scores this pool trusts.
    bytes32 public immutable modelHash;
    /// @notice Oldest accepted batch, in seconds since the oracle verified it.
    uint256 public immutable maxBatchAge;
    /// @notice LTV (basis points) granted to a zero-risk account.
    uint16 public immutable baseLtvBps;

    /// @notice Credit per account (all zero: none).
    mapping(address account => Credit) public creditOf;

    /// @notice `account`'s credit was set from the leaf of batch `root` with `score` at
    /// `blockNumber`.
    event CreditSet(
        address indexed account, bytes32 indexed root, uint16 maxLtvBps, uint32 score, uint64 blockNumber
    );

    /// @notice The base LTV is above 100%.
    /// @dev Selector `0xd0d5f82f` = bytes4(keccak256("BatchLeafPoolBadBaseLtv(uint16)")).
    error BatchLeafPoolBadBaseLtv(uint16 baseLtvBps);
    /// @notice The leaf is a result of another model than the one this pool trusts.
    /// @dev Selector `0x927b0a4a` = bytes4(keccak256("BatchLeafPoolWrongModel(bytes32,bytes32)")).
    error BatchLeafPoolWrongModel(bytes32 expected, bytes32 got);
    /// @notice The leaf's block is not newer than the block the credit was last set from.
    /// @dev Selector `0xd39a5b5f` = bytes4(keccak256("BatchLeafPoolStaleLeaf(uint64,uint64)")).
    error BatchLeafPoolStaleLeaf(uint64 storedBlock, uint64 gotBlock);
    /// @notice The account has no credit, or its batch is older than `maxBatchAge`.
    /// @dev Selector `0x5a619df2` = bytes4(keccak256("BatchLeafPoolNoFreshCredit(address)")).
    error BatchLeafPoolNoFreshCredit(address account);

    /// @param oracle_ The risk oracle.
    /// @param modelHash_ The trusted model.
    /// @param maxBatchAge_ Oldest accepted batch, in seconds.
    /// @param baseLtvBps_ LTV of a zero-risk account, in basis points (≤ 10000).
    constructor(RiskOracle oracle_, bytes32 modelHash_, uint256 maxBatchAge_, uint16 baseLtvBps_) {
        if (baseLtvBps_ > 10_000) revert BatchLeafPoolBadBaseLtv(baseLtvBps_);
        oracle = oracle_;
        modelHash = modelHash_;
        maxBatchAge = maxBatchAge_;
        baseLtvBps = baseLtvBps_;
    }

    /// @notice The LTV the leaf's subject would get from it (reverts unless the leaf is in a
    /// fresh verified batch and is a result of the trusted model).
    /// @param root The batch's results root (verified by `RiskOracle.submitBatch`).
    /// @param leaf The result.
    /// @param proof Sibling hashes from the leaf up to the root.
    /// @return ltvBps Maximum loan-to-value, in basis points.
    function quoteMaxLtv(bytes32 root, BatchJournalV1.Leaf calldata leaf, bytes32[] calldata proof)
        public
        view
        returns (uint16 ltvBps)
    {
        return _ltv(_score(root, leaf, proof));
    }

    /// @notice Set the leaf's subject's credit from the leaf (anyone may call: the proof,
    /// not the caller, is trusted).
    /// @param root The batch's results root (verified by `RiskOracle.submitBatch`).
    /// @param leaf The result.
    /// @param proof Sibling hashes from the leaf up to the root.
    /// @return ltvBps The new maximum LTV, in basis points.
    function refreshMaxLtv(bytes32 root, BatchJournalV1.Leaf calldata leaf, bytes32[] calldata proof)
        external
        returns (uint16 ltvBps)
    {
        uint32 score = _score(root, leaf, proof);
        Credit storage c = creditOf[leaf.subject];
        if (leaf.blockNumber <= c.blockNumber) revert BatchLeafPoolStaleLeaf(c.blockNumber, leaf.blockNumber);
        (, uint64 verifiedAt,) = oracle.batchRoots(root);
        ltvBps = _ltv(score);
        creditOf[leaf.subject] = Credit(ltvBps, score, leaf.blockNumber, verifiedAt);
        emit CreditSet(leaf.subject, root, ltvBps, score, leaf.blockNumber);
    }

    /// @notice The most `account` may borrow against `collateralValue` now: what a borrow
    /// of this pool is checked against. Reverts without a credit from a batch at most
    /// `maxBatchAge` seconds old.
    /// @param account The borrower.
    /// @param collateralValue The value of its collateral (any unit; the result has it).
    /// @return The largest debt allowed.
    function maxBorrow(address account, uint256 collateralValue) external view returns (uint256) {
        Credit memory c = creditOf[account];
        if (c.verifiedAt == 0 || block.timestamp - c.verifiedAt > maxBatchAge) {
            revert BatchLeafPoolNoFreshCredit(account);
        }
        return (collateralValue * c.maxLtvBps) / 10_000;
    }

    function _score(bytes32 root, BatchJournalV1.Leaf calldata leaf, bytes32[] calldata proof)
        private
        view
        returns (uint32)
    {
        if (leaf.modelHash != modelHash) revert BatchLeafPoolWrongModel(modelHash, leaf.modelHash);
        return oracle.leafScore(root, leaf, proof, maxBatchAge);
    }

    function _ltv(uint32 score) private view returns (uint16) {
        return uint16((uint256(baseLtvBps) * (10_000 - score)) / 10_000);
    }
}
