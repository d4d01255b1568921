"""Crash test of batching: a real ``coproc serve`` (batch_max_size 4) is killed with
SIGKILL at random moments while ten proven + posted jobs of one block run in batches;
after each kill it is restarted on the same data directory. At the end every job is done
once, each batch was verified on-chain once (one BatchVerified per batch) and its leaves
stored once (one ScoreSubmitted per job), the poster sent exactly two transactions per
batch, and each on-chain score equals an independent computation."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from locations import TESTS
from web3 import Web3

sys.path.insert(0, str(TESTS / "service"))

from service_backends import default_backend
from service_support import (
    PASSWORD_ENV,
    POSTER_ENV,
    POSTER_KEY,
    Chain,
    chain_fixture,
    expected_score,
    http,
    model_hash,
    service_config,
    wait_for,
)
from test_service_crash import COPROC, Proc, _active_states

from coprocessor.onchain import contracts
from coprocessor.service.worker import request_id_of

JOBS = 10
KILLS = 5


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("batch-crash-chain"), "batch-crash")


def test_kill_9_every_batch_posted_once_every_job_done_once(chain: Chain, tmp_path: Path) -> None:
    rng = random.Random(20261207)
    cfg = service_config(
        chain,
        tmp_path,
        workers=3,
        lease_seconds=1.5,
        max_attempts=20,
        prover="import:test_batch_service:batch_prover",
        batch_max_size=4,
        batch_wait_seconds=1.0,
    )
    config = tmp_path / "service.json"
    config.write_text(json.dumps(cfg))
    data = tmp_path / "data"
    assert os.environ[PASSWORD_ENV] and os.environ[POSTER_ENV]
    key = subprocess.run(
        [str(COPROC), "--data-dir", str(data), "serve", "--config", str(config), "--add-key", "c"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    w3 = chain.w3
    poster = Account.from_key(POSTER_KEY).address
    nonce_before = w3.eth.get_transaction_count(poster)
    first_block = w3.eth.block_number + 1
    subjects = [a.lower() for a in list(w3.eth.accounts)[1:6]]
    subjects += ["0x" + rng.randbytes(20).hex() for _ in range(JOBS - len(subjects))]
    w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    block = w3.eth.block_number - 1

    proc = Proc(config, data, _port(), tmp_path / "serve.log")
    proc.env["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS / "batch"), str(TESTS / "service"), str(TESTS)]
    )
    proc.env["COPROC_TEST_PROVE_DELAY"] = "0.5"
    proc.start()
    job_ids = []
    try:
        for subject in subjects:
            body = json.dumps(
                {"subject": subject, "model": "svc-test", "mode": "both", "destination": "l1",
                 "block": block}
            ).encode()  # fmt: skip
            status, _, answer = http("POST", f"http://127.0.0.1:{proc.port}/v1/scores", body, auth)
            assert status == 202, answer
            job_ids.append(json.loads(answer)["id"])
        seen: Counter[str] = Counter()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            proc.kill9()
            seen.update(_active_states(data).elements())
            proc.start()

        def all_finished() -> bool:
            states = _active_states(data)
            return states["done"] + states["failed"] == JOBS

        wait_for(all_finished, 120, "all jobs finished")
        jobs = []
        for job_id in job_ids:
            _, _, body = http("GET", f"http://127.0.0.1:{proc.port}/v1/jobs/{job_id}", headers=auth)
            jobs.append(json.loads(body))
    finally:
        proc.stop()

    print("states seen at kills:", dict(seen))
    assert seen["batching"] + seen["posting"] > 0  # kills hit jobs inside the batch stages
    assert [j["state"] for j in jobs] == ["done"] * JOBS, [j["error"] for j in jobs]
    batches = Counter(j["batch"]["id"] for j in jobs)
    assert all(1 <= n <= 4 for n in batches.values())
    oracle = contracts.at(w3, "RiskOracle", chain.oracle)
    verified = oracle.events.BatchVerified.get_logs(from_block=first_block)
    assert len(verified) == len(batches)  # each batch verified on-chain once
    roots = {j["batch"]["results_root"] for j in jobs}
    assert {"0x" + bytes(e["args"]["root"]).hex() for e in verified} == roots
    events = oracle.events.ScoreSubmitted.get_logs(from_block=first_block)
    by_request = Counter("0x" + bytes(e["args"]["requestId"]).hex() for e in events)
    for job_id in job_ids:
        assert by_request["0x" + request_id_of(job_id).hex()] == 1, job_id
    assert len(events) == JOBS
    assert w3.eth.get_transaction_count(poster) - nonce_before == 2 * len(batches)
    feed = Counter((j, k) for j, k in default_backend(data).rows("SELECT job_id, kind FROM feed"))
    for job_id in job_ids:
        for kind in ("signed", "proven", "posted"):
            assert feed[(job_id, kind)] == 1, (job_id, kind)
    for job, subject in zip(jobs, subjects, strict=True):
        score, at, _ = oracle.functions.scoreOf(
            Web3.to_checksum_address(subject), model_hash()
        ).call()
        assert at == job["block"] == block
        assert score == job["score"] == expected_score(w3, subject, block)


def _port() -> int:
    from coprocessor.dev.devnet import free_port

    return free_port()
