"""Generate tests/vectors/eip712/signed_scores.json: signed scores made with eth-account
(through coprocessor.onchain.eip712) that the forge tests verify on-chain (SignedScores.t.sol)
and pytest re-checks. The keys are well-known test keys, never used for anything real.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from eth_account import Account

from coprocessor.onchain import eip712

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "vectors" / "eip712" / "signed_scores.json"

#: anvil's first two default keys (public test keys)
KEYS = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a51a529cd5a9d2a64f3d4ddff1c9e4f5b47b1f8f42ed0ee56f",
]
VERIFYING_CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def build() -> dict[str, Any]:
    cases = []
    combos = [
        (0, 31337, 1, 19_000_000, "0x00000000000000000000000000000000000b0b00", 4321),
        (0, 31337, 1, 19_000_001, "0x00000000000000000000000000000000000b0b00", 0),
        (1, 31337, 1, 19_000_002, "0xd8da6bf26964af9d7eed9e03e53415d37aa96045", 10_000),
        (1, 42161, 1, 2**64 - 1, "0xffffffffffffffffffffffffffffffffffffffff", 2**32 - 1),
    ]
    for i, (key_index, chain_id, source_chain, block, subject, score_value) in enumerate(combos):
        key = bytes.fromhex(KEYS[key_index])
        score = eip712.SignedScore(
            source_chain_id=source_chain,
            block_number=block,
            subject=subject,
            model_hash=bytes([i + 1]) * 32,
            feature_spec_hash=bytes([0xF0 + i]) * 32,
            score=score_value,
        )
        sig = eip712.sign(score, key, chain_id, VERIFYING_CONTRACT)
        s = int.from_bytes(sig[32:64], "big")
        high_s = sig[:32] + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
        cases.append(
            {
                "chainId": chain_id,
                "verifyingContract": VERIFYING_CONTRACT,
                "sourceChainId": source_chain,
                "blockNumber": block,
                "subject": score.subject,
                "modelHash": _hex(score.model_hash),
                "featureSpecHash": _hex(score.feature_spec_hash),
                "score": score_value,
                "digest": _hex(eip712.digest(score, chain_id, VERIFYING_CONTRACT)),
                "signer": Account.from_key(key).address,
                "signature": _hex(sig),
                "malleatedSignature": _hex(high_s),
            }
        )
    return {
        "_doc": "EIP-712 SignedScore vectors signed with eth-account (gen_eip712_vectors.py)",
        "domain": {"name": eip712.DOMAIN_NAME, "version": eip712.DOMAIN_VERSION},
        "count": len(cases),
        "cases": cases,
    }


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
