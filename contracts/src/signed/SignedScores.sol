// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RiskOracle} from "../oracle/RiskOracle.sol";
import {JournalV1} from "../generated/JournalV1.sol";

/// @title SignedScores
/// @notice The fast path: operators bond ETH behind a signing key and sign scores
/// (EIP-712) before any proof exists. Consumers check a signed score with
/// `verifySignedScore`. Anyone holding a valid receipt for the same (chain, block,
/// subject, model, spec) that shows a different score slashes the operator's whole bond
/// with `challenge`: `CHALLENGER_SHARE_BPS` of it rewards the challenger, the rest is
/// burned (so an operator front-running the challenge of its own lie still loses half).
/// Withdrawals wait `withdrawalDelay` so a bond cannot escape a
/// pending challenge; a key that asked to leave or was slashed signs nothing accepted.
/// @dev Signatures: 65 bytes r ‖ s ‖ v, v ∈ {27, 28}, s in the lower half order (EIP-2).
contract SignedScores {
    /// @notice A score as the operator signs it (the EIP-712 `SignedScore` struct).
    struct SignedScore {
        uint64 sourceChainId;
        uint64 blockNumber;
        address subject;
        bytes32 modelHash;
        bytes32 featureSpecHash;
        uint32 score;
    }

    /// @notice Life cycle of a signing key; a key is never reused after `Active`.
    enum Status {
        None,
        Active,
        Exiting,
        Withdrawn,
        Slashed
    }

    /// @notice A bonded signing key.
    struct Operator {
        address owner;
        Status status;
        uint64 unlockAt;
        uint256 bond;
    }

    /// @notice EIP-712 type hash of `SignedScore`.
    bytes32 public constant SIGNED_SCORE_TYPEHASH = keccak256(
        "SignedScore(uint64 sourceChainId,uint64 blockNumber,address subject,bytes32 modelHash,bytes32 featureSpecHash,uint32 score)"
    );
    /// @notice EIP-712 domain type hash (name, version, chainId, verifyingContract).
    bytes32 public constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @notice EIP-712 domain name.
    string public constant NAME = "coproc SignedScores";
    /// @notice EIP-712 domain version.
    string public constant VERSION = "1";
    /// @notice Share of a slashed bond paid to the challenger, in basis points; the rest is burned.
    uint256 public constant CHALLENGER_SHARE_BPS = 5_000;
    /// @notice Where the burned part of a slashed bond goes (no key controls it).
    address public constant BURN_ADDRESS = address(0);
    /// @dev secp256k1 order / 2: larger `s` values are the malleable twins (EIP-2).
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice The oracle whose rules decide whether a challenge receipt is valid.
    RiskOracle public immutable oracle;
    /// @notice Smallest accepted bond, in wei.
    uint256 public immutable minBond;
    /// @notice Seconds between `requestWithdrawal` and `withdraw`.
    uint64 public immutable withdrawalDelay;

    mapping(address signer => Operator) private _operators;

    /// @notice `signer` was bonded with `amount` wei by `owner`.
    event OperatorRegistered(address indexed signer, address indexed owner, uint256 amount);
    /// @notice `signer` stopped signing; its bond unlocks at `unlockAt`.
    event WithdrawalRequested(address indexed signer, uint64 unlockAt);
    /// @notice `signer`'s bond of `amount` wei was paid back to its owner.
    event BondWithdrawn(address indexed signer, uint256 amount);
    /// @notice `signer` signed a score a receipt contradicts; `challenger` received `amount`
    /// (its reward: `CHALLENGER_SHARE_BPS` of the bond).
    event OperatorSlashed(address indexed signer, address indexed challenger, uint256 amount, uint32 signedScore, uint32 provenScore);
    /// @notice The rest of `signer`'s slashed bond, `amount` wei, was burned.
    event BondBurned(address indexed signer, uint256 amount);

    /// @notice The bond is below `minBond`.
    /// @dev Selector `0x843d1b71` = bytes4(keccak256("SignedScoresBondTooSmall(uint256,uint256)")).
    error SignedScoresBondTooSmall(uint256 amount, uint256 minimum);
    /// @notice The signing key is zero or was already registered (keys are single use).
    /// @dev Selector `0x699693c7` = bytes4(keccak256("SignedScoresSignerTaken(address)")).
    error SignedScoresSignerTaken(address signer);
    /// @notice The caller does not own this operator.
    /// @dev Selector `0x1e3b133e` = bytes4(keccak256("SignedScoresNotOwner(address)")).
    error SignedScoresNotOwner(address caller);
    /// @notice The operator is not in the state this action needs.
    /// @dev Selector `0xf4eaabf4` = bytes4(keccak256("SignedScoresWrongStatus(address,uint8)")).
    error SignedScoresWrongStatus(address signer, Status status);
    /// @notice The withdrawal delay has not passed.
    /// @dev Selector `0x44bac309` = bytes4(keccak256("SignedScoresLocked(uint64)")).
    error SignedScoresLocked(uint64 unlockAt);
    /// @notice Paying out ether failed.
    /// @dev Selector `0xc083c5dd` = bytes4(keccak256("SignedScoresTransferFailed()")).
    error SignedScoresTransferFailed();
    /// @notice The signature is not 65 bytes.
    /// @dev Selector `0x7358dfba` = bytes4(keccak256("SignedScoresSignatureLength(uint256)")).
    error SignedScoresSignatureLength(uint256 length);
    /// @notice `s` is in the upper half of the curve order (malleable signature).
    /// @dev Selector `0x11dfc5cc` = bytes4(keccak256("SignedScoresHighS()")).
    error SignedScoresHighS();
    /// @notice `v` is neither 27 nor 28.
    /// @dev Selector `0x55414a2e` = bytes4(keccak256("SignedScoresBadV(uint8)")).
    error SignedScoresBadV(uint8 v);
    /// @notice The signature does not recover to any address.
    /// @dev Selector `0x41746fde` = bytes4(keccak256("SignedScoresBadSignature()")).
    error SignedScoresBadSignature();
    /// @notice The signature recovers to a key that is not active (unknown, exiting, gone or slashed).
    /// @dev Selector `0x9a9792d0` = bytes4(keccak256("SignedScoresSignerInactive(address,uint8)")).
    error SignedScoresSignerInactive(address signer, Status status);
    /// @notice The signed score names a zero model or feature-spec hash.
    /// @dev Selector `0x0ff8a3ae` = bytes4(keccak256("SignedScoresZeroHash()")).
    error SignedScoresZeroHash();
    /// @notice The receipt is about another (chain, block, subject, model, spec) than the signed score.
    /// @dev Selector `0x19757159` = bytes4(keccak256("SignedScoresChallengeMismatch()")).
    error SignedScoresChallengeMismatch();
    /// @notice The receipt shows the same score: nothing to slash.
    /// @dev Selector `0xc57dfe9b` = bytes4(keccak256("SignedScoresScoreAgrees(uint32)")).
    error SignedScoresScoreAgrees(uint32 score);

    /// @param oracle_ Oracle used to validate challenge receipts.
    /// @param minBond_ Smallest bond, in wei.
    /// @param withdrawalDelay_ Seconds a bond stays challengeable after an exit request.
    constructor(RiskOracle oracle_, uint256 minBond_, uint64 withdrawalDelay_) {
        oracle = oracle_;
        minBond = minBond_;
        withdrawalDelay = withdrawalDelay_;
    }

    // ------------------------------------------------------------------ operators

    /// @notice Bond `msg.value` behind the signing key `signer`; the caller owns it.
    /// @param signer Address of the key that will sign scores.
    function register(address signer) external payable {
        if (msg.value < minBond) revert SignedScoresBondTooSmall(msg.value, minBond);
        if (signer == address(0) || _operators[signer].status != Status.None) revert SignedScoresSignerTaken(signer);
        _operators[signer] = Operator(msg.sender, Status.Active, 0, msg.value);
        emit OperatorRegistered(signer, msg.sender, msg.value);
    }

    /// @notice Stop signing with `signer` and start the withdrawal delay (owner only).
    /// @param signer The operator's signing key.
    function requestWithdrawal(address signer) external {
        Operator storage op = _ownedOperator(signer);
        if (op.status != Status.Active) revert SignedScoresWrongStatus(signer, op.status);
        uint64 unlockAt = uint64(block.timestamp) + withdrawalDelay;
        op.status = Status.Exiting;
        op.unlockAt = unlockAt;
        emit WithdrawalRequested(signer, unlockAt);
    }

    /// @notice Pay the bond back to its owner once the delay has passed (owner only).
    /// @param signer The operator's signing key.
    function withdraw(address signer) external {
        Operator storage op = _ownedOperator(signer);
        if (op.status != Status.Exiting) revert SignedScoresWrongStatus(signer, op.status);
        if (block.timestamp < op.unlockAt) revert SignedScoresLocked(op.unlockAt);
        uint256 amount = op.bond;
        op.bond = 0;
        op.status = Status.Withdrawn;
        emit BondWithdrawn(signer, amount);
        _pay(op.owner, amount);
    }

    /// @notice The operator record of `signer`.
    /// @param signer A signing key.
    /// @return The owner, status, unlock time and bond.
    function operatorOf(address signer) external view returns (Operator memory) {
        return _operators[signer];
    }

    // ------------------------------------------------------------------ signatures

    /// @notice The EIP-712 domain separator of this contract on this chain.
    /// @return The domain separator (computed for the current chain id).
    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(NAME)), keccak256(bytes(VERSION)), block.chainid, address(this))
        );
    }

    /// @notice The EIP-712 digest an operator signs for `s`.
    /// @param s The signed score.
    /// @return keccak256("\x19\x01" ‖ domainSeparator ‖ structHash).
    function digestOf(SignedScore calldata s) public view returns (bytes32) {
        if (s.modelHash == bytes32(0) || s.featureSpecHash == bytes32(0)) revert SignedScoresZeroHash();
        bytes32 structHash = keccak256(
            abi.encode(
                SIGNED_SCORE_TYPEHASH, s.sourceChainId, s.blockNumber, s.subject, s.modelHash, s.featureSpecHash, s.score
            )
        );
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    /// @notice Check a signed score: it must be signed (low-s) by an active, bonded key.
    /// Reverts with the reason otherwise.
    /// @param s The signed score.
    /// @param signature 65 bytes r ‖ s ‖ v.
    /// @return signer The operator's signing key.
    function verifySignedScore(SignedScore calldata s, bytes calldata signature)
        external
        view
        returns (address signer)
    {
        signer = _recover(digestOf(s), signature);
        Status status = _operators[signer].status;
        if (status != Status.Active) revert SignedScoresSignerInactive(signer, status);
    }

    // ------------------------------------------------------------------ challenge

    /// @notice Slash the operator that signed `s` if the receipt (journal, seal) — valid
    /// by the oracle's rules — is about the same chain, block, subject, model and spec but
    /// shows another score. The caller receives `CHALLENGER_SHARE_BPS` of the bond, the rest
    /// is burned.
    /// @param s The signed score.
    /// @param signature The operator's signature over `s`.
    /// @param journal A journal v1.
    /// @param seal Its receipt seal.
    function challenge(SignedScore calldata s, bytes calldata signature, bytes calldata journal, bytes calldata seal)
        external
    {
        address signer = _recover(digestOf(s), signature);
        Operator storage op = _operators[signer];
        if (op.status != Status.Active && op.status != Status.Exiting) {
            revert SignedScoresSignerInactive(signer, op.status);
        }
        JournalV1.Journal memory j = oracle.validateReceipt(journal, seal);
        if (
            j.chainId != s.sourceChainId || j.blockNumber != s.blockNumber || j.subject != s.subject
                || j.modelHash != s.modelHash || j.featureSpecHash != s.featureSpecHash
        ) revert SignedScoresChallengeMismatch();
        if (j.score == s.score) revert SignedScoresScoreAgrees(j.score);
        uint256 bond = op.bond;
        op.bond = 0;
        op.status = Status.Slashed;
        uint256 reward = (bond * CHALLENGER_SHARE_BPS) / 10_000;
        emit OperatorSlashed(signer, msg.sender, reward, s.score, j.score);
        emit BondBurned(signer, bond - reward);
        _pay(msg.sender, reward);
        _pay(BURN_ADDRESS, bond - reward);
    }

    // ------------------------------------------------------------------ internals

    function _ownedOperator(address signer) private view returns (Operator storage op) {
        op = _operators[signer];
        if (op.owner != msg.sender) revert SignedScoresNotOwner(msg.sender);
    }

    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        if (signature.length != 65) revert SignedScoresSignatureLength(signature.length);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_ORDER) revert SignedScoresHighS();
        if (v != 27 && v != 28) revert SignedScoresBadV(v);
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert SignedScoresBadSignature();
    }

    function _pay(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert SignedScoresTransferFailed();
    }
}
