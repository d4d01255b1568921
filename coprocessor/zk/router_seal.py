"""The seal RISC Zero's verifier router takes for a receipt file (``coproc-receipt`` v1).

``coproc-host prove`` writes ``seal_hex``: for a Groth16 receipt (from a remote prover,
``--receipt-kind groth16``) the 4-byte selector of its verifier parameters followed by the
256-byte Groth16 seal (risc0-ethereum's ``encode_seal``); for a dev-mode (fake) receipt
``0xFFFFFFFF ‖ claimDigest``. This module checks that seal before it goes on-chain: a
Groth16 seal must be 260 bytes and carry the selector of a Groth16 verifier RISC Zero has
published and not stopped (deployment.toml; any other selector is refused by the router
with ``SelectorUnknown``), and a dev seal must be exactly the one for the receipt's image ID
and journal. Composite and succinct receipts have no on-chain form.
"""

from __future__ import annotations

import hashlib
from typing import Any

from coprocessor.errors import UserInputError, VerificationError
from coprocessor.onchain import risc0_ethereum
from coprocessor.zk import receipt_claim

#: a Groth16 seal: selector, then the proof's a, b, c as 8 big-endian 32-byte words
GROTH16_SEAL_LENGTH = 4 + 8 * 32


def _hex_field(doc: dict[str, Any], key: str, where: str) -> bytes:
    value = doc.get(key)
    if not isinstance(value, str):
        raise UserInputError(f"{where}: no {key}")
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise UserInputError(f"{where}: {key} is not hex") from None


def published_groth16_selectors() -> set[bytes]:
    """Selectors of the Groth16 verifiers routed (not stopped) on the production chains."""
    return {
        v.selector
        for chain in risc0_ethereum.production_chains().values()
        for v in chain.active(risc0_ethereum.GROTH16)
    }


def _check_groth16(seal: bytes, where: str) -> bytes:
    if len(seal) != GROTH16_SEAL_LENGTH:
        raise VerificationError(
            f"{where}: Groth16 seal is {len(seal)} bytes, not {GROTH16_SEAL_LENGTH}"
        )
    if seal[:4] not in published_groth16_selectors():
        raise VerificationError(
            f"{where}: selector 0x{seal[:4].hex()} is no published, active RISC Zero Groth16 "
            "verifier (deployment.toml): the router would refuse it"
        )
    return seal


def _check_dev(doc: dict[str, Any], seal: bytes, where: str) -> bytes:
    image_id = _hex_field(doc, "image_id", where)
    journal = _hex_field(doc, "journal_hex", where)
    if len(image_id) != 32 or seal != receipt_claim.dev_seal(image_id, journal):
        raise VerificationError(
            f"{where}: dev seal is not 0xFFFFFFFF ‖ claim digest of its journal"
        )
    return seal


def router_seal(doc: dict[str, Any], where: str = "receipt") -> bytes:
    """The seal to pass to the router (``RiskOracle.submit``) for receipt ``doc``."""
    kind = doc.get("receipt_kind")
    if kind not in ("groth16", "fake"):
        raise UserInputError(
            f"{where}: a {kind} receipt has no on-chain form "
            "(prove with --receipt-kind groth16 through a remote prover)"
        )
    seal = _hex_field(doc, "seal_hex", where)
    if kind == "fake":
        return _check_dev(doc, seal, where)
    return _check_groth16(seal, where)


def journal_digest(doc: dict[str, Any], where: str = "receipt") -> bytes:
    """sha256 of the receipt's journal: the third argument of the router's ``verify``."""
    return hashlib.sha256(_hex_field(doc, "journal_hex", where)).digest()
