"""The contracts on a real anvil (prague), driven from Python: receipts sealed with the
Python claim digest, journals ABI-encoded from spec/journal_v1.json, anchors checked
through BLOCKHASH and the real EIP-2935 history contract, EIP-712 signatures made with
eth-account, batch proofs built in Python."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.abi import function_signature_to_4byte_selector
from locations import REPO
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import Wei

from coprocessor.dev.devnet import DEV_PRIVATE_KEY, start_anvil, stop_pid
from coprocessor.onchain import contracts, eip712
from coprocessor.zk import batch_journal, receipt_claim

SPEC = json.loads((REPO / "spec" / "journal_v1.json").read_text())
IMAGE_ID = Web3.keccak(text="coproc test image")
MODEL = Web3.keccak(text="model")
FEATURE_SPEC = Web3.keccak(text="spec")
SUBJECT = Web3.to_checksum_address("0x000000000000000000000000000000000000b0b0")
ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture(scope="module")
def w3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web3]:
    contracts.build()
    node = start_anvil("contracts", tmp_path_factory.mktemp("anvil-contracts"), persist=False)
    try:
        yield Web3(Web3.HTTPProvider(node.rpc))
    finally:
        stop_pid(node.pid)


@pytest.fixture(scope="module")
def stack(w3: Web3) -> dict[str, Contract]:
    owner = w3.eth.accounts[0]
    dev = contracts.deploy(w3, "DevVerifier")
    router = contracts.deploy(w3, "RiscZeroVerifierRouter", owner)
    router.functions.addVerifier(b"\xff\xff\xff\xff", dev.address).transact({"from": owner})
    oracle = contracts.deploy(w3, "RiskOracle", owner, router.address, ZERO, 0, 64)
    oracle.functions.allowImageId(IMAGE_ID, True).transact({"from": owner})
    oracle.functions.registerModel(MODEL, FEATURE_SPEC).transact({"from": owner})
    signed = contracts.deploy(w3, "SignedScores", oracle.address, 10**18, 2 * 86400)
    return {"dev": dev, "router": router, "oracle": oracle, "signed": signed}


def journal_v1(**fields: Any) -> bytes:
    """abi.encode of the spec's fields, in the spec's order (independent of Solidity)."""
    return bytes(
        encode([f["type"] for f in SPEC["fields"]], [fields[f["name"]] for f in SPEC["fields"]])
    )


def _anchor(w3: Web3, number: int) -> bytes:
    return bytes(w3.eth.get_block(number)["hash"])


def _error_selector(exc: Exception) -> str:
    data = exc.data if isinstance(exc, ContractCustomError) else getattr(exc, "data", None)
    return str(data)[:10] if data else ""


def _selector(signature: str) -> str:
    return "0x" + function_signature_to_4byte_selector(signature).hex()


def _valid_fields(w3: Web3, anchor: int, request: bytes, score: int = 4321) -> dict[str, Any]:
    return {
        "version": 1,
        "chainId": w3.eth.chain_id,
        "anchorNumber": anchor,
        "anchorHash": _anchor(w3, anchor),
        "blockNumber": anchor,
        "subject": SUBJECT,
        "modelHash": MODEL,
        "featureSpecHash": FEATURE_SPEC,
        "score": score,
        "requestId": request,
    }


def test_claim_digest_python_equals_solidity(stack: dict[str, Contract]) -> None:
    dev = stack["dev"]
    for i in range(6):
        image = os.urandom(32)
        journal = os.urandom(32 * i + 1)
        digest = receipt_claim.journal_digest(journal)
        assert bytes(dev.functions.claimDigest(image, digest).call()) == (
            receipt_claim.ok_claim_digest(image, digest)
        )
        seal = receipt_claim.dev_seal(image, journal)
        dev.functions.verify(seal, image, digest).call()
        stack["router"].functions.verify(seal, image, digest).call()
        with pytest.raises((ContractCustomError, ContractLogicError)):
            dev.functions.verify(seal[:-1] + bytes([seal[-1] ^ 1]), image, digest).call()


def test_submit_anchored_by_blockhash(w3: Web3, stack: dict[str, Contract]) -> None:
    oracle = stack["oracle"]
    w3.provider.make_request("anvil_mine", [3])  # type: ignore[arg-type]
    anchor = w3.eth.block_number - 1
    journal = journal_v1(**_valid_fields(w3, anchor, os.urandom(32)))
    seal = receipt_claim.dev_seal(IMAGE_ID, journal)
    tx = oracle.functions.submit(journal, seal).transact({"from": list(w3.eth.accounts)[1]})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    score, block_number, updated_at = oracle.functions.scoreOf(SUBJECT, MODEL).call()
    assert (score, block_number) == (4321, anchor)
    assert updated_at == w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    events = oracle.events.ScoreSubmitted().process_receipt(receipt)
    assert len(events) == 1 and events[0]["args"]["score"] == 4321
    # the same receipt again is a replay
    with pytest.raises(ContractCustomError) as err:
        oracle.functions.submit(journal, seal).call()
    assert _error_selector(err.value) == _selector("RiskOracleRequestReplayed(bytes32)")


def test_submit_anchored_by_eip2935_history(w3: Web3, stack: dict[str, Contract]) -> None:
    oracle = stack["oracle"]
    w3.provider.make_request("anvil_mine", [400])  # type: ignore[arg-type]
    anchor = w3.eth.block_number - 300  # beyond BLOCKHASH's 256, inside EIP-2935's 8191
    fields = _valid_fields(w3, anchor, os.urandom(32), score=77)
    fields["subject"] = Web3.to_checksum_address("0x00000000000000000000000000000000000c0ffe")
    journal = journal_v1(**fields)
    seal = receipt_claim.dev_seal(IMAGE_ID, journal)
    tx = oracle.functions.submit(journal, seal).transact({"from": w3.eth.accounts[0]})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    assert oracle.functions.scoreOf(fields["subject"], MODEL).call()[0] == 77
    # a forged anchor hash for the same block is caught by the history contract
    fields["anchorHash"] = b"\x11" * 32
    fields["requestId"] = os.urandom(32)
    fields["blockNumber"] = anchor
    forged = journal_v1(**fields)
    with pytest.raises(ContractCustomError) as err:
        oracle.functions.submit(forged, receipt_claim.dev_seal(IMAGE_ID, forged)).call()
    assert _error_selector(err.value) == _selector(
        "RiskOracleAnchorMismatch(uint64,bytes32,bytes32)"
    )


def test_python_signature_verifies_on_chain(w3: Web3, stack: dict[str, Contract]) -> None:
    signed = stack["signed"]
    key = Account.create()
    owner = list(w3.eth.accounts)[2]
    signed.functions.register(key.address).transact({"from": owner, "value": Wei(10**18)})
    score = eip712.SignedScore(1, 123, SUBJECT, bytes(MODEL), bytes(FEATURE_SPEC), 999)
    sig = eip712.sign(score, bytes(key.key), w3.eth.chain_id, signed.address)
    assert bytes(signed.functions.digestOf(score.as_tuple()).call()) == eip712.digest(
        score, w3.eth.chain_id, signed.address
    )
    assert signed.functions.verifySignedScore(score.as_tuple(), sig).call() == key.address
    wrong_chain = eip712.sign(score, bytes(key.key), w3.eth.chain_id + 1, signed.address)
    with pytest.raises(ContractCustomError):
        signed.functions.verifySignedScore(score.as_tuple(), wrong_chain).call()


def test_challenge_slashes_on_anvil(w3: Web3, stack: dict[str, Contract]) -> None:
    signed, challenger = stack["signed"], list(w3.eth.accounts)[3]
    key = Account.create()
    signed.functions.register(key.address).transact(
        {"from": list(w3.eth.accounts)[2], "value": Wei(10**18)}
    )
    w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    anchor = w3.eth.block_number - 1
    fields = _valid_fields(w3, anchor, os.urandom(32), score=5000)
    journal = journal_v1(**fields)
    lie = eip712.SignedScore(
        w3.eth.chain_id, anchor, SUBJECT, bytes(MODEL), bytes(FEATURE_SPEC), 100
    )
    sig = eip712.sign(lie, bytes(key.key), w3.eth.chain_id, signed.address)
    before = w3.eth.get_balance(challenger)
    tx = signed.functions.challenge(
        lie.as_tuple(), sig, journal, receipt_claim.dev_seal(IMAGE_ID, journal)
    ).transact({"from": challenger})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    # half the bond; the other half is burned
    assert w3.eth.get_balance(challenger) - before + fee == 10**18 // 2


def test_batch_built_in_python_reads_on_chain(w3: Web3, stack: dict[str, Contract]) -> None:
    oracle = stack["oracle"]
    w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    anchor = w3.eth.block_number - 1
    leaves = [
        batch_journal.Leaf(
            anchor,
            Web3.to_checksum_address(f"0x{i + 1:040x}"),
            bytes(MODEL),
            bytes(FEATURE_SPEC),
            i * 1000,
            os.urandom(32),
        )
        for i in range(7)
    ]
    hashes = [leaf.hash() for leaf in leaves]
    root = batch_journal.root(hashes)
    journal = batch_journal.encode_batch(
        w3.eth.chain_id, anchor, _anchor(w3, anchor), root, len(leaves), os.urandom(32)
    )
    tx = oracle.functions.submitBatch(journal, receipt_claim.dev_seal(IMAGE_ID, journal)).transact(
        {"from": w3.eth.accounts[0]}
    )
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    for i, leaf in enumerate(leaves):
        proof = batch_journal.proof(hashes, i)
        assert oracle.functions.leafScore(root, leaf.as_tuple(), proof, 3600).call() == i * 1000
    with pytest.raises(ContractCustomError):
        oracle.functions.leafScore(
            root, leaves[0].as_tuple(), batch_journal.proof(hashes, 1), 3600
        ).call()


def test_deploy_with_private_key_and_errors(w3: Web3) -> None:
    dev = contracts.deploy(w3, "DevVerifier", private_key=DEV_PRIVATE_KEY)
    assert w3.eth.get_code(dev.address) == contracts.artifact("DevVerifier").deployed_bytecode
    with pytest.raises(Exception, match="no build output"):
        contracts.artifact("NoSuchContract")
