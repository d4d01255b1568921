"""The service batching proven jobs (config batch_max_size, batch_wait_seconds): jobs of
one model and block share one receipt (one prover call per batch), each job shows its
leaf and proof, which RiskOracle.leafScore and the consumer example
(BatchLeafLendingPool.quoteMaxLtv, fed the job's JSON as it is) accept; each batch is
posted once (submitBatch, then storeLeaves) and the oracle then serves every subject's
score, equal to the score computed without the service. The service runs once on
SQLite and once on PostgreSQL (its batches and members in the shared database)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_support import leaf_struct
from locations import TESTS
from web3 import Web3

sys.path.insert(0, str(TESTS / "service"))  # the service tests' shared pieces

from service_backends import BACKENDS, make_backend
from service_support import (
    IMAGE_ID,
    Chain,
    LiveService,
    chain_fixture,
    expected_score,
    model_hash,
    service_config,
)

from coprocessor.chain.bundle import load_bundle
from coprocessor.errors import VerificationError
from coprocessor.onchain import contracts
from coprocessor.scoring import batch, features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.service.client import Client
from coprocessor.zk import batch_journal, receipt_claim
from coprocessor.zk.batch_prover import BatchProveRequest


class FakeBatchProver:
    """A test double of the zkVM for batches: re-verifies the batch bundle, computes the
    batch journal in Python and seals it as RISC0_DEV_MODE does."""

    calls = 0
    delay = float(os.environ.get("COPROC_TEST_PROVE_DELAY", "0"))

    def prove(self, *_args: Any, **_kw: Any) -> dict[str, Any]:
        raise AssertionError("a batched job must not be proven alone")

    def prove_batch(self, request: BatchProveRequest, _scored: Any, dev: bool) -> dict[str, Any]:
        type(self).calls += 1
        time.sleep(self.delay)
        verified = pipeline.verify(load_bundle(request.bundle))
        again = batch.run(
            verified,
            features.load(request.spec),
            fmt.load(request.model),
            list(request.subjects),
            request_ids=request.request_ids,
            block=request.block,
            batch_id=request.batch_id or bytes(32),
        )
        journal = batch_journal.encode_fields(again.journal_fields())
        return {
            "journal_hex": "0x" + journal.hex(),
            "seal_hex": "0x" + receipt_claim.dev_seal(IMAGE_ID, journal).hex(),
            "image_id": "0x" + IMAGE_ID.hex(),
            "dev_mode": True,
            "receipt_kind": "fake",
            "cycles": {"total": 1},
        }


def batch_prover() -> FakeBatchProver:
    return FakeBatchProver()


SUBJECTS = [Web3.to_checksum_address(f"0x{0xB000 + i:040x}") for i in range(5)]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("svc-batch-chain"), "svc-batch")


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    chain: Chain, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp("svc-batch")
    pg_url = None
    if request.param == "postgres":
        pg_url = request.getfixturevalue("pg_server").new_database()
    backend = make_backend(request.param, tmp / "data", pg_url)
    cfg = service_config(
        chain,
        tmp,
        rate_per_second=1000.0,
        prover="import:test_batch_service:batch_prover",
        batch_max_size=4,
        batch_wait_seconds=1.5,
        workers=3,
        database_url=backend.database_url,
    )
    svc = LiveService(cfg, tmp / "data")
    try:
        yield svc
    finally:
        svc.stop()


def test_jobs_share_batches_and_each_leaf_is_served(chain: Chain, service: LiveService) -> None:
    w3 = chain.w3
    for i, s in enumerate(SUBJECTS):  # different balances: different scores
        w3.provider.make_request("anvil_setBalance", [s, hex((i + 1) * 7 * 10**21)])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    block = w3.eth.block_number - 1
    FakeBatchProver.calls = 0  # (the fixture runs once per backend)
    client = Client(service.url, service.add_key("batch-tests"))
    ids = [
        client.request_score(s.lower(), "svc-test", mode="both", destination="l1", block=block)[
            "id"
        ]
        for s in SUBJECTS
    ]
    jobs = [client.wait(i, timeout=90) for i in ids]
    assert FakeBatchProver.calls == 2  # one full batch of 4, one of 1 closed by the wait
    oracle = contracts.at(w3, "RiskOracle", chain.oracle)
    pool = contracts.deploy(w3, "BatchLeafLendingPool", chain.oracle, model_hash(), 3600, 8_000)
    sizes: dict[str, int] = {}
    for subject, job in zip(SUBJECTS, jobs, strict=True):
        assert job["state"] == "done", job["error"]
        assert list(job["timestamps"]) == [
            "queued", "indexing", "scoring", "signing", "batching", "posting", "done",
        ]  # fmt: skip
        want = expected_score(w3, subject, block)  # plain RPC reads, the reference model
        assert job["score"] == want
        b = job["batch"]
        sizes[b["id"]] = b["size"]
        leaf = batch_journal_leaf(b["leaf"])
        assert (leaf.subject, leaf.score, leaf.block_number) == (subject.lower(), want, block)
        proof = [bytes.fromhex(p[2:]) for p in b["proof"]]
        root = bytes.fromhex(b["results_root"][2:])
        assert batch.verify(leaf.hash(), proof, root)
        assert oracle.functions.leafScore(root, leaf.as_tuple(), proof, 3600).call() == want
        # the consumer example takes the job's JSON as it is (BatchLeafLendingPool)
        shown = (bytes.fromhex(b["results_root"][2:]), leaf_struct(pool, "quoteMaxLtv", b["leaf"]))
        assert pool.functions.quoteMaxLtv(*shown, proof).call() == 8_000 * (10_000 - want) // 10_000
        score, at, _ = oracle.functions.scoreOf(subject, model_hash()).call()
        assert (score, at) == (want, block)
        result = client.score(subject.lower(), "svc-test")
        assert result["score"] == want and result["batch"]["leaf_index"] == b["leaf_index"]
        # the client checks a batched result as its leaf under the batch journal
        checked = Client.verify_receipt(result, "0x" + IMAGE_ID.hex(), allow_dev=True)
        assert checked["score"] == want and checked["leafIndex"] == b["leaf_index"]
        for forged in (
            dict(result, score=want + 1),
            dict(result, request_id="0x" + "00" * 32),
            dict(result, batch=dict(b, proof=["0x" + "11" * 32, *b["proof"]])),
            dict(result, batch=dict(b, leaf_index=b["size"])),
        ):
            with pytest.raises(VerificationError):
                Client.verify_receipt(forged, "0x" + IMAGE_ID.hex(), allow_dev=True)
    assert sorted(sizes.values()) == [1, 4]
    # each batch posted once: one submitBatch per batch, shared by its members
    batch_txs: dict[str, set[str]] = {j["batch"]["id"]: set() for j in jobs}
    for job in jobs:
        full = service.runtime.db.get(job["id"])
        batch_txs[job["batch"]["id"]].add(full.data["batch_tx_hash"])
    assert all(len(t) == 1 for t in batch_txs.values())


def batch_journal_leaf(obj: dict[str, Any]) -> batch.Leaf:
    from coprocessor.service.batching import batch_journal_leaf as leaf_of

    return leaf_of(obj)


def test_batch_config_is_checked(tmp_path: Path) -> None:
    from coprocessor.errors import UserInputError
    from coprocessor.service.config import load_config

    for bad in ({"batch_max_size": 4097}, {"batch_max_size": -1}, {"batch_wait_seconds": -1.0}):
        with pytest.raises(UserInputError, match="batch_"):
            load_config(None, bad)
    assert batch_journal.LENGTH == 224
