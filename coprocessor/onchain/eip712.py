"""EIP-712 signed scores: the operator's fast-path attestation, checked on-chain by
``contracts/src/signed/SignedScores.sol``.

The typed data is the contract's ``SignedScore`` struct under the domain
(name ``"coproc SignedScores"``, version ``"1"``, chainId, verifyingContract). Hashing
and signing go through eth-account; the contract recomputes the digest on its own, and
``tests/vectors/eip712/`` pins both sides to the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from eth_utils.address import is_hex_address, to_checksum_address

from coprocessor.errors import UserInputError, VerificationError

DOMAIN_NAME = "coproc SignedScores"
DOMAIN_VERSION = "1"
#: secp256k1 group order; signatures with s > N/2 are rejected (EIP-2)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

SIGNED_SCORE_FIELDS: list[dict[str, str]] = [
    {"name": "sourceChainId", "type": "uint64"},
    {"name": "blockNumber", "type": "uint64"},
    {"name": "subject", "type": "address"},
    {"name": "modelHash", "type": "bytes32"},
    {"name": "featureSpecHash", "type": "bytes32"},
    {"name": "score", "type": "uint32"},
]


def _uint(name: str, value: int, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise UserInputError(f"{name} must be a uint{bits}, got {value!r}")
    return value


def _bytes32(name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise UserInputError(f"{name} must be 32 bytes")
    return value


def _address(name: str, value: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise UserInputError(f"{name} must be a 20-byte hex address, got {value!r}")
    return to_checksum_address(value)


@dataclass(frozen=True)
class SignedScore:
    """A score as the operator signs it (field order and types are the contract's)."""

    source_chain_id: int
    block_number: int
    subject: str
    model_hash: bytes
    feature_spec_hash: bytes
    score: int

    def __post_init__(self) -> None:
        _uint("source_chain_id", self.source_chain_id, 64)
        _uint("block_number", self.block_number, 64)
        object.__setattr__(self, "subject", _address("subject", self.subject))
        _bytes32("model_hash", self.model_hash)
        _bytes32("feature_spec_hash", self.feature_spec_hash)
        _uint("score", self.score, 32)

    def as_message(self) -> dict[str, Any]:
        """The EIP-712 ``message`` object."""
        return {
            "sourceChainId": self.source_chain_id,
            "blockNumber": self.block_number,
            "subject": self.subject,
            "modelHash": self.model_hash,
            "featureSpecHash": self.feature_spec_hash,
            "score": self.score,
        }

    def as_tuple(self) -> tuple[int, int, str, bytes, bytes, int]:
        """The struct as a web3 contract-call argument."""
        return (
            self.source_chain_id,
            self.block_number,
            self.subject,
            self.model_hash,
            self.feature_spec_hash,
            self.score,
        )


def typed_data(score: SignedScore, chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The full EIP-712 typed-data object (what ``eth_signTypedData_v4`` takes)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "SignedScore": SIGNED_SCORE_FIELDS,
        },
        "primaryType": "SignedScore",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": _uint("chain_id", chain_id, 256),
            "verifyingContract": _address("verifying_contract", verifying_contract),
        },
        "message": score.as_message(),
    }


def digest(score: SignedScore, chain_id: int, verifying_contract: str) -> bytes:
    """The 32-byte EIP-712 digest the operator signs."""
    signable = encode_typed_data(full_message=typed_data(score, chain_id, verifying_contract))
    # EIP-191 version 0x01: keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign(score: SignedScore, private_key: bytes, chain_id: int, verifying_contract: str) -> bytes:
    """Sign ``score``: 65 bytes ``r ‖ s ‖ v`` with low ``s`` and ``v`` in {27, 28}."""
    signable = encode_typed_data(full_message=typed_data(score, chain_id, verifying_contract))
    signed = Account.sign_message(signable, private_key=private_key)
    sig = bytes(signed.signature)
    if int.from_bytes(sig[32:64], "big") > SECP256K1_N // 2:  # pragma: no cover - eth-keys is low-s
        raise VerificationError("eth-account produced a high-s signature")
    return sig


def recover(score: SignedScore, signature: bytes, chain_id: int, verifying_contract: str) -> str:
    """The signer of ``signature`` over ``score``, with the contract's rules (65 bytes,
    low s, v in {27, 28}); raises VerificationError otherwise."""
    if len(signature) != 65:
        raise VerificationError(f"signature must be 65 bytes, got {len(signature)}")
    if int.from_bytes(signature[32:64], "big") > SECP256K1_N // 2:
        raise VerificationError("signature has a high s value (malleable)")
    if signature[64] not in (27, 28):
        raise VerificationError(f"signature v must be 27 or 28, got {signature[64]}")
    signable = encode_typed_data(full_message=typed_data(score, chain_id, verifying_contract))
    return str(Account.recover_message(signable, signature=signature))
