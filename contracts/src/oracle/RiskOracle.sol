// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IRiscZeroVerifier} from "risc0/IRiscZeroVerifier.sol";
import {IL2BlockHashStore} from "../bridge/IL2BlockHashStore.sol";
import {JournalV1} from "../generated/JournalV1.sol";
import {BatchJournalV1} from "./BatchJournalV1.sol";
import {BlockHashes} from "./BlockHashes.sol";
import {SortedMerkle} from "../utils/SortedMerkle.sol";
import {Owned} from "../utils/Owned.sol";

/// @title RiskOracle
/// @notice Stores risk scores proven by the coprocessor's zkVM guest. A result is accepted
/// when its receipt verifies against an allowed image ID, its model and feature spec are
/// registered, its anchor block hash is the real one, it is newer than the stored score,
/// and its request id was never used. Batch mode: one receipt commits to a Merkle root of
/// many results; anyone proves a leaf to read it (`leafScore`) or store it (`storeLeaf`).
/// @dev Anchors: on the chain the data comes from, BLOCKHASH (last 256 blocks) or the
/// EIP-2935 history contract (last 8191); on an L2, the bridged L1 block-hash store.
contract RiskOracle is Owned {
    /// @notice A stored score: what `scoreOf` returns, packed in one slot.
    struct Score {
        uint32 score;
        uint64 blockNumber;
        uint64 updatedAt;
    }

    /// @notice A verified batch root.
    struct BatchRoot {
        uint64 anchorNumber;
        uint64 verifiedAt;
        uint32 count;
    }

    /// @notice Highest score: scores are basis points.
    uint32 public constant MAX_SCORE = 10_000;

    /// @notice The receipt verifier (RISC Zero's router in production).
    IRiscZeroVerifier public immutable verifier;
    /// @notice Bridged L1 block hashes; zero when the data's chain is this chain.
    IL2BlockHashStore public immutable l1BlockHashes;
    /// @notice Chain id the journals must name (this chain's, unless reading bridged hashes).
    uint64 public immutable sourceChainId;
    /// @notice Largest allowed `anchorNumber - blockNumber` of a result.
    uint64 public immutable maxAnchorLag;

    /// @notice The image ID `submit` and `submitBatch` verify against (zero: none).
    bytes32 public defaultImageId;
    /// @notice Image IDs receipts may be verified against.
    mapping(bytes32 imageId => bool) public imageIdAllowed;
    /// @notice Feature-spec hash a registered model is bound to (zero: not registered).
    mapping(bytes32 modelHash => bytes32) public featureSpecOf;
    /// @notice Request ids (and batch ids) already accepted.
    mapping(bytes32 requestId => bool) public requestUsed;
    /// @notice Verified batch roots.
    mapping(bytes32 root => BatchRoot) public batchRoots;

    mapping(address subject => mapping(bytes32 modelHash => Score)) private _scores;

    /// @notice `imageId` may now be used to verify receipts; `isDefault`: `submit` uses it.
    event ImageIdAllowed(bytes32 indexed imageId, bool isDefault);
    /// @notice `imageId` was retired; receipts for it are rejected from now on.
    event ImageIdRetired(bytes32 indexed imageId);
    /// @notice `modelHash` was registered, bound to `featureSpecHash`.
    event ModelRegistered(bytes32 indexed modelHash, bytes32 indexed featureSpecHash);
    /// @notice `modelHash` was retired: no new results, no fresh reads.
    event ModelRetired(bytes32 indexed modelHash);
    /// @notice A score was stored for (`subject`, `modelHash`).
    event ScoreSubmitted(
        address indexed subject, bytes32 indexed modelHash, bytes32 indexed requestId, uint32 score, uint64 blockNumber
    );
    /// @notice A batch root was verified.
    event BatchVerified(bytes32 indexed root, bytes32 indexed batchId, uint32 count, uint64 anchorNumber);

    /// @notice The zero value was given where a hash or id is required.
    /// @dev Selector `0xe0df706f` = bytes4(keccak256("RiskOracleZeroValue()")).
    error RiskOracleZeroValue();
    /// @notice No default image ID is set (or it was retired).
    /// @dev Selector `0xaba12e1b` = bytes4(keccak256("RiskOracleNoImageId()")).
    error RiskOracleNoImageId();
    /// @notice The image ID is not allowed.
    /// @dev Selector `0xae3a9cda` = bytes4(keccak256("RiskOracleImageIdNotAllowed(bytes32)")).
    error RiskOracleImageIdNotAllowed(bytes32 imageId);
    /// @notice The model is already registered.
    /// @dev Selector `0x51bb8bc0` = bytes4(keccak256("RiskOracleModelRegistered(bytes32)")).
    error RiskOracleModelRegistered(bytes32 modelHash);
    /// @notice The model is not registered (or was retired).
    /// @dev Selector `0xf1d76dc2` = bytes4(keccak256("RiskOracleModelUnknown(bytes32)")).
    error RiskOracleModelUnknown(bytes32 modelHash);
    /// @notice The result's feature spec is not the one the model is registered with.
    /// @dev Selector `0x3de37c1e` = bytes4(keccak256("RiskOracleFeatureSpecMismatch(bytes32,bytes32)")).
    error RiskOracleFeatureSpecMismatch(bytes32 expected, bytes32 got);
    /// @notice The journal names another chain than the one this oracle reads.
    /// @dev Selector `0x3ee65d1e` = bytes4(keccak256("RiskOracleChainMismatch(uint64,uint64)")).
    error RiskOracleChainMismatch(uint64 expected, uint64 got);
    /// @notice The request block is after the anchor block.
    /// @dev Selector `0x8552d2ba` = bytes4(keccak256("RiskOracleBlockAfterAnchor(uint64,uint64)")).
    error RiskOracleBlockAfterAnchor(uint64 blockNumber, uint64 anchorNumber);
    /// @notice The request block is more than `maxAnchorLag` blocks before the anchor.
    /// @dev Selector `0x387c77cd` = bytes4(keccak256("RiskOracleAnchorTooFar(uint64,uint64)")).
    error RiskOracleAnchorTooFar(uint64 blockNumber, uint64 anchorNumber);
    /// @notice No trusted hash is available for the anchor block (too old, future, not bridged).
    /// @dev Selector `0x4eedb4a2` = bytes4(keccak256("RiskOracleAnchorUnavailable(uint64)")).
    error RiskOracleAnchorUnavailable(uint64 anchorNumber);
    /// @notice The anchor hash is not the chain's hash of that block.
    /// @dev Selector `0xb340dfc1` = bytes4(keccak256("RiskOracleAnchorMismatch(uint64,bytes32,bytes32)")).
    error RiskOracleAnchorMismatch(uint64 anchorNumber, bytes32 expected, bytes32 got);
    /// @notice The subject is the zero address.
    /// @dev Selector `0xd2bd48da` = bytes4(keccak256("RiskOracleZeroSubject()")).
    error RiskOracleZeroSubject();
    /// @notice The score is above 10000 basis points.
    /// @dev Selector `0x849149dd` = bytes4(keccak256("RiskOracleScoreOutOfRange(uint32)")).
    error RiskOracleScoreOutOfRange(uint32 score);
    /// @notice The result is not newer than the stored one (stale or duplicate).
    /// @dev Selector `0xca25b5e4` = bytes4(keccak256("RiskOracleStale(uint64,uint64)")).
    error RiskOracleStale(uint64 storedBlock, uint64 gotBlock);
    /// @notice The request id (or batch id) was already used.
    /// @dev Selector `0x2189241a` = bytes4(keccak256("RiskOracleRequestReplayed(bytes32)")).
    error RiskOracleRequestReplayed(bytes32 requestId);
    /// @notice The batch root is already verified.
    /// @dev Selector `0x8cdc1c48` = bytes4(keccak256("RiskOracleBatchKnown(bytes32)")).
    error RiskOracleBatchKnown(bytes32 root);
    /// @notice The batch root is not verified.
    /// @dev Selector `0xbb76a1a6` = bytes4(keccak256("RiskOracleBatchUnknown(bytes32)")).
    error RiskOracleBatchUnknown(bytes32 root);
    /// @notice The Merkle proof does not lead to the batch root.
    /// @dev Selector `0x9e384f96` = bytes4(keccak256("RiskOracleLeafNotInBatch(bytes32,bytes32)")).
    error RiskOracleLeafNotInBatch(bytes32 root, bytes32 leaf);
    /// @notice `storeLeaves` got arrays of different lengths.
    /// @dev Selector `0x868ced65` = bytes4(keccak256("RiskOracleLengthMismatch(uint256,uint256,uint256)")).
    error RiskOracleLengthMismatch(uint256 roots, uint256 leaves, uint256 proofs);
    /// @notice No score is stored for (subject, model).
    /// @dev Selector `0xeece893e` = bytes4(keccak256("RiskOracleNoScore(address,bytes32)")).
    error RiskOracleNoScore(address subject, bytes32 modelHash);
    /// @notice The score (or batch) is older than the age the caller accepts.
    /// @dev Selector `0xe5914115` = bytes4(keccak256("RiskOracleScoreTooOld(uint64,uint256)")).
    error RiskOracleScoreTooOld(uint64 updatedAt, uint256 maxAge);

    /// @param initialOwner Governance account.
    /// @param verifier_ Receipt verifier.
    /// @param l1BlockHashes_ Bridged L1 block hashes, or zero to anchor on this chain.
    /// @param sourceChainId_ Chain id journals must carry when `l1BlockHashes_` is set
    ///        (ignored otherwise: this chain's id is used).
    /// @param maxAnchorLag_ Largest allowed distance between request block and anchor.
    constructor(
        address initialOwner,
        IRiscZeroVerifier verifier_,
        IL2BlockHashStore l1BlockHashes_,
        uint64 sourceChainId_,
        uint64 maxAnchorLag_
    ) Owned(initialOwner) {
        verifier = verifier_;
        l1BlockHashes = l1BlockHashes_;
        sourceChainId = address(l1BlockHashes_) == address(0) ? uint64(block.chainid) : sourceChainId_;
        maxAnchorLag = maxAnchorLag_;
    }

    // ------------------------------------------------------------------ governance

    /// @notice Allow receipts of `imageId` (owner only); `makeDefault` makes `submit` use it.
    /// @param imageId The guest program's image ID.
    /// @param makeDefault Whether `submit`/`submitBatch` verify against it from now on.
    function allowImageId(bytes32 imageId, bool makeDefault) external onlyOwner {
        if (imageId == bytes32(0)) revert RiskOracleZeroValue();
        imageIdAllowed[imageId] = true;
        if (makeDefault) defaultImageId = imageId;
        emit ImageIdAllowed(imageId, makeDefault);
    }

    /// @notice Retire `imageId` (owner only); if it was the default, there is none after.
    /// @param imageId The image ID to retire.
    function retireImageId(bytes32 imageId) external onlyOwner {
        if (!imageIdAllowed[imageId]) revert RiskOracleImageIdNotAllowed(imageId);
        imageIdAllowed[imageId] = false;
        if (defaultImageId == imageId) defaultImageId = bytes32(0);
        emit ImageIdRetired(imageId);
    }

    /// @notice Register `modelHash` bound to `featureSpecHash` (owner only).
    /// @param modelHash keccak256 of the model's canonical bytes.
    /// @param featureSpecHash keccak256 of the feature spec's canonical bytes.
    function registerModel(bytes32 modelHash, bytes32 featureSpecHash) external onlyOwner {
        if (modelHash == bytes32(0) || featureSpecHash == bytes32(0)) revert RiskOracleZeroValue();
        if (featureSpecOf[modelHash] != bytes32(0)) revert RiskOracleModelRegistered(modelHash);
        featureSpecOf[modelHash] = featureSpecHash;
        emit ModelRegistered(modelHash, featureSpecHash);
    }

    /// @notice Retire `modelHash` (owner only): new results and fresh reads are rejected.
    /// @param modelHash The model to retire.
    function retireModel(bytes32 modelHash) external onlyOwner {
        if (featureSpecOf[modelHash] == bytes32(0)) revert RiskOracleModelUnknown(modelHash);
        delete featureSpecOf[modelHash];
        emit ModelRetired(modelHash);
    }

    // ------------------------------------------------------------------ single results

    /// @notice Verify a receipt (journal v1 + seal) against the default image ID and
    /// store its score.
    /// @param journal The journal v1 bytes (320).
    /// @param seal The receipt's seal.
    function submit(bytes calldata journal, bytes calldata seal) external {
        bytes32 imageId = defaultImageId;
        if (imageId == bytes32(0)) revert RiskOracleNoImageId();
        _submit(journal, seal, imageId);
    }

    /// @notice As `submit`, against an explicitly chosen allowed image ID.
    /// @param imageId An allowed image ID.
    /// @param journal The journal v1 bytes (320).
    /// @param seal The receipt's seal.
    function submitWithImageId(bytes32 imageId, bytes calldata journal, bytes calldata seal) external {
        if (!imageIdAllowed[imageId]) revert RiskOracleImageIdNotAllowed(imageId);
        _submit(journal, seal, imageId);
    }

    /// @notice Every check `submit` makes except staleness and replay, without storing:
    /// the decoded journal if the receipt is a valid, anchored result of a registered model.
    /// Used by SignedScores to judge challenges.
    /// @param journal The journal v1 bytes (320).
    /// @param seal The receipt's seal (verified against the default image ID).
    /// @return j The decoded journal.
    function validateReceipt(bytes calldata journal, bytes calldata seal)
        external
        view
        returns (JournalV1.Journal memory j)
    {
        bytes32 imageId = defaultImageId;
        if (imageId == bytes32(0)) revert RiskOracleNoImageId();
        j = _check(journal);
        verifier.verify(seal, imageId, sha256(journal));
    }

    // ------------------------------------------------------------------ batches

    /// @notice Verify a batch journal's receipt against the default image ID and record
    /// its results root.
    /// @param journal The batch journal v1 bytes (224).
    /// @param seal The receipt's seal.
    function submitBatch(bytes calldata journal, bytes calldata seal) external {
        bytes32 imageId = defaultImageId;
        if (imageId == bytes32(0)) revert RiskOracleNoImageId();
        BatchJournalV1.Batch memory b = BatchJournalV1.decode(journal);
        if (b.resultsRoot == bytes32(0) || b.batchId == bytes32(0) || b.count == 0) revert RiskOracleZeroValue();
        _checkChainAndAnchor(b.chainId, b.anchorNumber, b.anchorHash);
        if (batchRoots[b.resultsRoot].verifiedAt != 0) revert RiskOracleBatchKnown(b.resultsRoot);
        if (requestUsed[b.batchId]) revert RiskOracleRequestReplayed(b.batchId);
        verifier.verify(seal, imageId, sha256(journal));
        requestUsed[b.batchId] = true;
        batchRoots[b.resultsRoot] = BatchRoot(b.anchorNumber, uint64(block.timestamp), b.count);
        emit BatchVerified(b.resultsRoot, b.batchId, b.count, b.anchorNumber);
    }

    /// @notice The score of a leaf of a verified batch, if the batch is at most `maxAge`
    /// seconds old and the leaf's model is registered with its feature spec.
    /// @param root A verified batch root.
    /// @param leaf The result.
    /// @param proof Sibling hashes from the leaf up to the root.
    /// @param maxAge Largest accepted age of the batch, in seconds.
    /// @return The leaf's score (basis points).
    function leafScore(bytes32 root, BatchJournalV1.Leaf calldata leaf, bytes32[] calldata proof, uint256 maxAge)
        external
        view
        returns (uint32)
    {
        BatchRoot memory batch = _checkLeaf(root, leaf, proof);
        if (block.timestamp - batch.verifiedAt > maxAge) revert RiskOracleScoreTooOld(batch.verifiedAt, maxAge);
        return leaf.score;
    }

    /// @notice Store the leaf results of verified batches (anyone may call), each under the
    /// same rules as `submit`: newer than the stored score.
    /// @param roots The verified batch root of each leaf.
    /// @param leaves The results.
    /// @param proofs Merkle proof of each leaf.
    function storeLeaves(
        bytes32[] calldata roots,
        BatchJournalV1.Leaf[] calldata leaves,
        bytes32[][] calldata proofs
    ) external {
        if (roots.length != leaves.length || leaves.length != proofs.length) {
            revert RiskOracleLengthMismatch(roots.length, leaves.length, proofs.length);
        }
        for (uint256 i = 0; i < leaves.length; ++i) {
            BatchJournalV1.Leaf calldata leaf = leaves[i];
            _checkLeaf(roots[i], leaf, proofs[i]);
            _write(leaf.subject, leaf.modelHash, leaf.requestId, leaf.score, leaf.blockNumber);
        }
    }

    // ------------------------------------------------------------------ reads

    /// @notice The stored score of `subject` under `modelHash` (all zero if none).
    /// @param subject The scored account.
    /// @param modelHash The model.
    /// @return score Basis points.
    /// @return blockNumber The block the score describes.
    /// @return updatedAt Timestamp at which it was stored.
    function scoreOf(address subject, bytes32 modelHash)
        external
        view
        returns (uint32 score, uint64 blockNumber, uint64 updatedAt)
    {
        Score memory s = _scores[subject][modelHash];
        return (s.score, s.blockNumber, s.updatedAt);
    }

    /// @notice The stored score, reverting if there is none, if the model was retired, or
    /// if it was stored more than `maxAge` seconds ago.
    /// @param subject The scored account.
    /// @param modelHash The model.
    /// @param maxAge Largest accepted age, in seconds.
    /// @return score Basis points.
    /// @return blockNumber The block the score describes.
    function freshScoreOf(address subject, bytes32 modelHash, uint256 maxAge)
        external
        view
        returns (uint32 score, uint64 blockNumber)
    {
        if (featureSpecOf[modelHash] == bytes32(0)) revert RiskOracleModelUnknown(modelHash);
        Score memory s = _scores[subject][modelHash];
        if (s.updatedAt == 0) revert RiskOracleNoScore(subject, modelHash);
        if (block.timestamp - s.updatedAt > maxAge) revert RiskOracleScoreTooOld(s.updatedAt, maxAge);
        return (s.score, s.blockNumber);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Every cheap check (replay and staleness included) runs before the verifier,
    /// which is by far the most expensive step with a real proof system.
    function _submit(bytes calldata journal, bytes calldata seal, bytes32 imageId) private {
        JournalV1.Journal memory j = _check(journal);
        if (requestUsed[j.requestId]) revert RiskOracleRequestReplayed(j.requestId);
        Score storage s = _scores[j.subject][j.modelHash];
        uint64 stored = s.blockNumber;
        if (j.blockNumber <= stored) revert RiskOracleStale(stored, j.blockNumber);
        verifier.verify(seal, imageId, sha256(journal));
        requestUsed[j.requestId] = true;
        _put(s, j.subject, j.modelHash, j.requestId, j.score, j.blockNumber);
    }

    function _check(bytes calldata journal) private view returns (JournalV1.Journal memory j) {
        j = JournalV1.decode(journal);
        _checkChainAndAnchor(j.chainId, j.anchorNumber, j.anchorHash);
        _checkResult(j.blockNumber, j.anchorNumber, j.subject, j.modelHash, j.featureSpecHash, j.score);
        if (j.requestId == bytes32(0)) revert RiskOracleZeroValue();
    }

    function _write(address subject, bytes32 modelHash, bytes32 requestId, uint32 score, uint64 blockNumber)
        private
    {
        Score storage s = _scores[subject][modelHash];
        uint64 stored = s.blockNumber;
        if (blockNumber <= stored) revert RiskOracleStale(stored, blockNumber);
        _put(s, subject, modelHash, requestId, score, blockNumber);
    }

    function _put(
        Score storage s,
        address subject,
        bytes32 modelHash,
        bytes32 requestId,
        uint32 score,
        uint64 blockNumber
    ) private {
        s.score = score;
        s.blockNumber = blockNumber;
        s.updatedAt = uint64(block.timestamp);
        emit ScoreSubmitted(subject, modelHash, requestId, score, blockNumber);
    }

    function _checkLeaf(bytes32 root, BatchJournalV1.Leaf calldata leaf, bytes32[] calldata proof)
        private
        view
        returns (BatchRoot memory batch)
    {
        batch = batchRoots[root];
        if (batch.verifiedAt == 0) revert RiskOracleBatchUnknown(root);
        bytes32 h = BatchJournalV1.leafHash(leaf);
        if (SortedMerkle.rootOf(h, proof) != root) revert RiskOracleLeafNotInBatch(root, h);
        _checkResult(leaf.blockNumber, batch.anchorNumber, leaf.subject, leaf.modelHash, leaf.featureSpecHash, leaf.score);
    }

    function _checkResult(
        uint64 blockNumber,
        uint64 anchorNumber,
        address subject,
        bytes32 modelHash,
        bytes32 featureSpecHash,
        uint32 score
    ) private view {
        if (blockNumber > anchorNumber) revert RiskOracleBlockAfterAnchor(blockNumber, anchorNumber);
        if (anchorNumber - blockNumber > maxAnchorLag) revert RiskOracleAnchorTooFar(blockNumber, anchorNumber);
        if (subject == address(0)) revert RiskOracleZeroSubject();
        if (score > MAX_SCORE) revert RiskOracleScoreOutOfRange(score);
        bytes32 spec = featureSpecOf[modelHash];
        if (spec == bytes32(0)) revert RiskOracleModelUnknown(modelHash);
        if (spec != featureSpecHash) revert RiskOracleFeatureSpecMismatch(spec, featureSpecHash);
    }

    function _checkChainAndAnchor(uint64 chainId, uint64 anchorNumber, bytes32 anchorHash) private view {
        if (chainId != sourceChainId) revert RiskOracleChainMismatch(sourceChainId, chainId);
        bytes32 expected = address(l1BlockHashes) == address(0)
            ? BlockHashes.recent(anchorNumber)
            : l1BlockHashes.blockHashOf(anchorNumber);
        if (expected == bytes32(0)) revert RiskOracleAnchorUnavailable(anchorNumber);
        if (expected != anchorHash) revert RiskOracleAnchorMismatch(anchorNumber, expected, anchorHash);
    }
}
