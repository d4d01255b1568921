"""Proof of sampling: with probability ``p`` a signed-only result is re-proved in the
zkVM and the proven score compared with the signed one. A mismatch means the signed
result was wrong (a bug, or a compromised operator), and the pair (signature, receipt)
is exactly what ``SignedScores.challenge`` takes to slash the signer's bond: the
service builds that challenge request, stores it, exports it in metrics and, when
configured, sends it on-chain.

Results that are proven anyway (mode ``both``) are always compared the same way.
"""

from __future__ import annotations

import random
from typing import Any

from web3 import Web3

from coprocessor.errors import ToolError
from coprocessor.onchain import contracts, eip712


class Sampler:
    """Decides which signed results to re-prove (a seeded RNG makes tests exact)."""

    def __init__(self, probability: float, seed: int | None = None) -> None:
        self.probability = probability
        self._rng = random.Random(seed)

    def pick(self) -> bool:
        return self.probability > 0 and self._rng.random() < self.probability


def challenge_request(
    signed: eip712.SignedScore, signature: bytes, journal: bytes, seal: bytes, contract: str
) -> dict[str, Any]:
    """The arguments of ``SignedScores.challenge(s, signature, journal, seal)``, as JSON."""
    return {
        "contract": contract,
        "function": "challenge",
        "signed_score": {
            "sourceChainId": signed.source_chain_id,
            "blockNumber": signed.block_number,
            "subject": signed.subject,
            "modelHash": "0x" + signed.model_hash.hex(),
            "featureSpecHash": "0x" + signed.feature_spec_hash.hex(),
            "score": signed.score,
        },
        "signature": "0x" + signature.hex(),
        "journal": "0x" + journal.hex(),
        "seal": "0x" + seal.hex(),
    }


def file_challenge(rpc_url: str, request: dict[str, Any], private_key: bytes) -> str:
    """Send the challenge transaction; returns its hash (blocking)."""
    from eth_account import Account

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    s = request["signed_score"]
    signed = eip712.SignedScore(
        s["sourceChainId"],
        s["blockNumber"],
        s["subject"],
        bytes.fromhex(s["modelHash"][2:]),
        bytes.fromhex(s["featureSpecHash"][2:]),
        s["score"],
    )
    target = contracts.at(w3, "SignedScores", request["contract"])
    account = Account.from_key(private_key)
    fn = target.functions.challenge(
        signed.as_tuple(),
        bytes.fromhex(request["signature"][2:]),
        bytes.fromhex(request["journal"][2:]),
        bytes.fromhex(request["seal"][2:]),
    )
    # "pending": the receipt's anchor may be the head (BLOCKHASH sees it from the next block)
    call: Any = {
        "from": account.address,
        "to": target.address,
        "data": fn._encode_transaction_data(),
    }
    gas = w3.eth.estimate_gas(call, block_identifier="pending")
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    tx = fn.build_transaction({"from": account.address, "nonce": nonce, "gas": gas + gas // 5})
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    if receipt["status"] != 1:
        raise ToolError(f"challenge transaction {tx_hash.hex()} reverted")
    return "0x" + bytes(tx_hash).hex()
