"""Chain ids up to 2^64 - 1 end to end (issue 20, item 3).

- A real anvil whose chain id is 2^64 - 1: the service indexes (the store keeps the
  id), scores, signs (EIP-712, source and domain chain id both 2^64 - 1), proves and
  posts to the RiskOracle deployed there (``sourceChainId`` = ``block.chainid``); the
  oracle stores the score and SignedScores recovers the operator on that chain. The
  bridge's transaction sender keeps its intents on that chain too.
- The journal at the bounds 2^63 and 2^64 - 1 in Python and in the guest's Rust core
  (``coproc-host core run``: byte-equal journals), and 2^64 refused: by the Python
  and the Rust bundle readers with rule B006 (a chain_id that is not an integer stays
  B004 in both), and as a journal that does not encode or decode.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from locations import REPO, VECTORS
from service_backends import default_backend
from service_support import (
    OPERATOR_KEY,
    Chain,
    LiveService,
    expected_score,
    model_hash,
    service_config,
    start_chain,
)
from web3 import Web3

from bridge.store import BridgeStore
from bridge.txsender import TxSender
from coprocessor.chain.bundle import parse_bundle
from coprocessor.dev.devnet import stop_pid
from coprocessor.errors import CoprocessorError, UserInputError, VerificationError
from coprocessor.onchain import contracts, risc0_ethereum
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.service.client import Client
from coprocessor.service.store.database import open_chain_cache
from coprocessor.zk import journal as journal_v1
from coprocessor.zk import prover

TOP = 2**64 - 1
BOUNDS = (2**63, TOP)
#: anvil's dev account 3: sends the bridge test's transaction
BRIDGE_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with pytest.MonkeyPatch.context() as patch:  # a test chain: let the dev verifier on
        patch.setattr(risc0_ethereum, "DEVNET_CHAIN_IDS", risc0_ethereum.DEVNET_CHAIN_IDS | {TOP})
        chain = start_chain(tmp_path_factory.mktemp("top-chain"), "top", chain_id=TOP)
    try:
        yield chain
    finally:
        stop_pid(chain.node.pid)


def test_a_job_on_chain_2_64_minus_1_is_signed_proven_and_posted(
    chain: Chain, tmp_path: Path
) -> None:
    w3 = chain.w3
    assert w3.eth.chain_id == TOP
    subject = str(list(w3.eth.accounts)[2]).lower()
    svc = LiveService(service_config(chain, tmp_path), tmp_path / "data")
    try:
        client = Client(svc.url, svc.add_key("top"))
        job_id = client.request_score(subject, "svc-test", mode="both", destination="l1")["id"]
        job = client.wait(job_id, timeout=120)
        assert job["state"] == "done", job["error"]
        result = client.score(subject, "svc-test")
    finally:
        svc.stop()
    assert result["chain_id"] == result["signing_chain_id"] == TOP
    raw = bytes.fromhex(result["journal"][2:])
    assert raw[32:64] == TOP.to_bytes(32, "big")  # the chainId word, read by hand
    assert journal_v1.decode(raw)["chainId"] == TOP
    # the oracle on that chain took the journal: its sourceChainId is 2^64 - 1
    oracle = contracts.at(w3, "RiskOracle", chain.oracle)
    assert oracle.functions.sourceChainId().call() == TOP
    score, block, _ = oracle.functions.scoreOf(
        Web3.to_checksum_address(subject), model_hash()
    ).call()
    assert (score, block) == (result["score"], result["block"])
    assert score == expected_score(w3, subject, block)
    # SignedScores (domain chain id 2^64 - 1) recovers the operator of the signed score
    signed = contracts.at(w3, "SignedScores", chain.signed_scores)
    signature = bytes.fromhex(result["signature"][2:])
    signer = signed.functions.verifySignedScore(
        Client.signed_score(result).as_tuple(), signature
    ).call()
    assert signer == Account.from_key(OPERATOR_KEY).address
    # the store keeps the id (two's-complement in SQLite) and finds the anchor by it
    backend = default_backend(tmp_path / "data")
    store = open_chain_cache(backend.database_url, tmp_path / "data")
    try:
        assert store.headers_at(TOP, result["anchor"]["number"])
        assert store.headers_at(TOP - 1, result["anchor"]["number"]) == []
    finally:
        store.close()
    if backend.name == "sqlite":
        conn = sqlite3.connect(tmp_path / "data" / "coproc.sqlite")
        assert conn.execute("SELECT DISTINCT chain_id FROM headers").fetchall() == [(-1,)]
        conn.close()
    else:  # PostgreSQL's cache (BIGINT) the same way
        assert backend.rows("SELECT DISTINCT chain_id FROM chain_headers") == [(-1,)]


def test_the_bridge_sender_keeps_intents_on_chain_2_64_minus_1(
    chain: Chain, tmp_path: Path
) -> None:
    store = BridgeStore(tmp_path / "bridge.sqlite")
    try:
        sender = TxSender(chain.w3, store, Account.from_key(BRIDGE_KEY))
        assert sender.chain_id == TOP
        receipt = sender.send_and_wait("top:1", str(list(chain.w3.eth.accounts)[4]), b"", 1)
        assert receipt["status"] == 1
        record = sender.record("top:1")
        assert record is not None and record.chain_id == TOP
        assert sender.pending_keys() == []  # found by its chain id
        raw = store.db.execute("SELECT chain_id FROM txs").fetchall()
        assert raw == [(-1,)]
        store.reset_chains([TOP])
        assert sender.record("top:1") is None
    finally:
        store.close()


# ------------------------------------------------------------------ journal at the bounds

VECTOR = json.loads((VECTORS / "features" / "lending_bundle.json").read_text())


def _core_run(chain_id: int | float) -> dict[str, Any]:
    bundle = copy.deepcopy(VECTOR["bundle"])
    bundle["chain_id"] = chain_id  # not covered by the headers: any uint64 verifies
    payload = {
        "bundle": bundle,
        "model": json.loads((REPO / VECTOR["model_file"]).read_text()),
        "spec": (REPO / VECTOR["spec_file"]).read_text(),
        "subject": VECTOR["cases"][0]["subject"],
        "block": VECTOR["cases"][0]["block"],
        "request_id": "0x" + "ab" * 32,
    }
    return prover.run_host(["core", "run"], stdin=json.dumps(payload).encode(), timeout=120)


@pytest.mark.parametrize("chain_id", BOUNDS)
def test_python_and_the_rust_core_write_the_same_journal_at_the_bound(chain_id: int) -> None:
    rs = _core_run(chain_id)
    bundle = copy.deepcopy(VECTOR["bundle"])
    bundle["chain_id"] = chain_id
    spec = features.load(REPO / VECTOR["spec_file"])
    model = fmt.from_json(json.loads((REPO / VECTOR["model_file"]).read_text()))
    case = VECTOR["cases"][0]
    scored = pipeline.run(
        pipeline.verify(parse_bundle(bundle)), spec, model, case["subject"], case["block"]
    )
    raw = journal_v1.encode(scored.journal_fields(bytes.fromhex("ab" * 32)))
    assert rs["journal_hex"].removeprefix("0x") == raw.hex()
    assert raw[32:64] == chain_id.to_bytes(32, "big")
    assert rs["journal"]["chainId"] == journal_v1.decode(raw)["chainId"] == chain_id


def test_chain_id_2_64_is_refused_by_both_readers_and_the_journal() -> None:
    with pytest.raises(CoprocessorError) as rust:
        _core_run(2**64)
    # both readers: an integer of 2^64 or more breaks rule 5 (B006)
    assert str(rust.value).startswith("[B006] input: bundle.chain_id:"), rust.value
    bundle = copy.deepcopy(VECTOR["bundle"])
    bundle["chain_id"] = 2**64
    with pytest.raises(UserInputError) as python:
        parse_bundle(bundle)
    assert python.value.code == "B006"
    # a chain_id that is not an integer is a type error (B004) in both
    with pytest.raises(CoprocessorError) as rust_float:
        _core_run(1.5)
    assert str(rust_float.value).startswith("[B004] input: bundle.chain_id:"), rust_float.value
    with pytest.raises(UserInputError) as python_float:
        parse_bundle(dict(bundle, chain_id=1.5))
    assert python_float.value.code == "B004"
    fields: dict[str, Any] = {
        "version": 1,
        "chainId": TOP,
        "anchorNumber": 2,
        "anchorHash": "0x" + "11" * 32,
        "blockNumber": 1,
        "subject": "0x" + "22" * 20,
        "modelHash": "0x" + "33" * 32,
        "featureSpecHash": "0x" + "44" * 32,
        "score": 1,
        "requestId": "0x" + "55" * 32,
    }
    with pytest.raises(UserInputError, match="does not encode"):
        journal_v1.encode(dict(fields, chainId=2**64))
    word = bytearray(journal_v1.encode(dict(fields, chainId=TOP)))
    word[32:64] = (2**64).to_bytes(32, "big")
    with pytest.raises(VerificationError, match="does not decode"):
        journal_v1.decode(bytes(word))
