"""RISC Zero receipt-claim digests, as the zkVM defines them (``risc0_binfmt::tagged_struct``).

A *tagged struct* hashes as ``sha256(sha256(tag) ‖ down ‖ data ‖ len(down))``: child
digests, then each data word as a little-endian u32, then the number of children as a
little-endian u16. The dev verifier (contracts/src/verifier/DevVerifier.sol) accepts the
seal ``0xFFFFFFFF ‖ ok_claim_digest(image_id, sha256(journal))``; this module produces it.
"""

from __future__ import annotations

import hashlib

from coprocessor.errors import UserInputError

#: seal prefix of dev-mode (mock) receipts
DEV_SEAL_SELECTOR = b"\xff\xff\xff\xff"


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def tagged_struct(tag: str, down: list[bytes], data: list[int]) -> bytes:
    """Digest of a RISC Zero tagged struct (children ``down``, u32 words ``data``)."""
    for child in down:
        if len(child) != 32:
            raise UserInputError(f"tagged struct child must be 32 bytes, got {len(child)}")
    body = _sha256(tag.encode())
    body += b"".join(down)
    body += b"".join(word.to_bytes(4, "little") for word in data)
    body += len(down).to_bytes(2, "little")
    return _sha256(body)


def _bytes32(name: str, value: bytes) -> bytes:
    if len(value) != 32:
        raise UserInputError(f"{name} must be 32 bytes, got {len(value)}")
    return value


#: digest of the all-zero SystemState (pc = 0, merkle_root = 0): the post-state of a halted run
HALTED_POST_STATE = tagged_struct("risc0.SystemState", [bytes(32)], [0])


def output_digest(journal_digest: bytes, assumptions_digest: bytes = bytes(32)) -> bytes:
    """Digest of the claim's ``Output`` (journal digest and assumptions list digest)."""
    return tagged_struct(
        "risc0.Output",
        [_bytes32("journal digest", journal_digest), _bytes32("assumptions", assumptions_digest)],
        [],
    )


def ok_claim_digest(image_id: bytes, journal_digest: bytes) -> bytes:
    """Claim digest of a successful (Halted, exit 0), unconditional run of ``image_id``."""
    return tagged_struct(
        "risc0.ReceiptClaim",
        [
            bytes(32),
            _bytes32("image id", image_id),
            HALTED_POST_STATE,
            output_digest(journal_digest),
        ],
        [0, 0],
    )


def journal_digest(journal: bytes) -> bytes:
    """The journal digest the verifier interface takes: sha256 of the journal bytes."""
    return _sha256(journal)


def dev_seal(image_id: bytes, journal: bytes) -> bytes:
    """The seal the on-chain DevVerifier accepts for this image ID and journal."""
    return DEV_SEAL_SELECTOR + ok_claim_digest(image_id, journal_digest(journal))
