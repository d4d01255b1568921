"""Crash test: a real ``coproc serve`` process is killed with SIGKILL at random moments
while a batch of jobs (signed + proven + posted to the L1 oracle) runs; after each
kill it is restarted on the same data directory (and the same database: the test runs
once on SQLite and once on PostgreSQL). At the end every job is done exactly
once: one signed and one posted feed event each, one ``ScoreSubmitted`` event per
request id on-chain, as many transactions from the poster as jobs (no duplicate or
reverted second post), and each on-chain score equal to an independent computation."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from locations import REPO
from service_backends import Backend, default_backend
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
from web3 import Web3

from coprocessor.onchain import contracts

COPROC = REPO / ".venv" / "bin" / "coproc"
JOBS = 10
KILLS = 5


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("svc-crash-chain"), "svc-crash")


class Proc:
    def __init__(self, config: Path, data: Path, port: int, log: Path) -> None:
        self.args = [str(COPROC), "--data-dir", str(data), "serve", "--config", str(config)]
        self.port = port
        self.log = log
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO / "tests"), str(REPO / "tests" / "service")]
        )
        self.env["COPROC_TEST_PROVE_DELAY"] = "0.25"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, **env: str) -> None:
        """Start the process (``env``: extra variables) without waiting for it."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*self.args, "--port", str(self.port)],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self, **env: str) -> None:
        self.spawn(**env)
        url = f"http://127.0.0.1:{self.port}/healthz"

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                return http("GET", url, timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(up, 30, "service start")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def api_key(config: Path, data: Path) -> dict[str, str]:
    """A new API key of the service on ``data`` (``coproc serve --add-key``), as headers."""
    key = subprocess.run(
        [str(COPROC), "--data-dir", str(data), "serve", "--config", str(config), "--add-key", "c"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def submit_l1_jobs(port: int, subjects: list[str], auth: dict[str, str]) -> list[str]:
    """``POST /v1/scores`` a job (mode both, destination l1) per subject: their ids."""
    job_ids = []
    for subject in subjects:
        body = json.dumps(
            {"subject": subject, "model": "svc-test", "mode": "both", "destination": "l1"}
        ).encode()
        status, _, answer = http("POST", f"http://127.0.0.1:{port}/v1/scores", body, auth)
        assert status == 202, answer
        job_ids.append(json.loads(answer)["id"])
    return job_ids


def check_done_exactly_once(
    chain: Chain,
    data: Path | Backend,
    jobs: list[dict[str, Any]],
    subjects: list[str],
    first_block: int,
    poster_nonce: int,
) -> None:
    """Each job (``GET /v1/jobs`` bodies, in the order of ``subjects``) is done exactly
    once: one ``ScoreSubmitted`` per request id since ``first_block``, one transaction
    per job from the poster since its nonce was ``poster_nonce``, one signed, proven and
    posted feed event each, and each on-chain score equal to an independent computation.
    ``data``: the service's database (a data directory: its default one)."""
    from coprocessor.service.worker import request_id_of

    assert [j["state"] for j in jobs] == ["done"] * len(jobs), [j["error"] for j in jobs]
    w3 = chain.w3
    oracle = contracts.at(w3, "RiskOracle", chain.oracle)
    events = oracle.events.ScoreSubmitted.get_logs(from_block=first_block)
    by_request = Counter("0x" + bytes(e["args"]["requestId"]).hex() for e in events)
    assert by_request == Counter("0x" + request_id_of(j["id"]).hex() for j in jobs)
    poster = Account.from_key(POSTER_KEY).address
    assert w3.eth.get_transaction_count(poster) - poster_nonce == len(jobs)
    db = data if isinstance(data, Backend) else default_backend(data)
    feed = Counter(db.rows("SELECT job_id, kind FROM feed"))
    kinds = ("signed", "proven", "posted")
    assert feed == Counter((j["id"], kind) for j in jobs for kind in kinds)
    for job, subject in zip(jobs, subjects, strict=True):
        score, block, _ = oracle.functions.scoreOf(
            Web3.to_checksum_address(subject), model_hash()
        ).call()
        assert block == job["block"]
        assert score == job["score"] == expected_score(w3, subject, block)


def _active_states(data: Path) -> Counter[str]:
    """Jobs per state in the service database of a service on ``data`` whose config
    names no database (``service_backends.default_backend``)."""
    return default_backend(data).states()


@pytest.mark.parametrize("peers", [0, 1], ids=["restart-only", "with-live-peer"])
def test_kill_9_at_random_moments_every_job_done_exactly_once(
    chain: Chain, tmp_path: Path, peers: int, backend: Backend
) -> None:
    """``peers=1``: a second service process shares the data directory and the
    database and keeps running; it takes over the killed process's jobs when their
    leases run out. Once per database backend."""
    from coprocessor.dev.devnet import free_port

    rng = random.Random(20261121 + peers)
    cfg = service_config(
        chain,
        tmp_path,
        workers=2,
        lease_seconds=1.5,
        max_attempts=20,
        database_url=backend.database_url,
    )
    config = tmp_path / "service.json"
    config.write_text(json.dumps(cfg))
    data = tmp_path / "data"
    env_keys = {PASSWORD_ENV: os.environ[PASSWORD_ENV], POSTER_ENV: os.environ[POSTER_ENV]}
    assert all(env_keys.values())
    auth = api_key(config, data)
    w3 = chain.w3
    poster = Account.from_key(POSTER_KEY).address
    nonce_before = w3.eth.get_transaction_count(poster)
    first_block = w3.eth.block_number + 1
    subjects = [a.lower() for a in list(w3.eth.accounts)[1:6]]
    subjects += ["0x" + rng.randbytes(20).hex() for _ in range(JOBS - len(subjects))]

    proc = Proc(config, data, free_port(), tmp_path / "serve.log")
    proc.start()
    others = [Proc(config, data, free_port(), tmp_path / f"peer{i}.log") for i in range(peers)]
    for other in others:
        other.start()
    try:
        job_ids = submit_l1_jobs(proc.port, subjects, auth)
        seen_in_flight: Counter[str] = Counter()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.2))
            proc.kill9()
            states = backend.states()
            seen_in_flight.update(s for s, n in states.items() for _ in range(n))
            proc.start()

        def all_finished() -> bool:
            states = backend.states()
            return states["done"] + states["failed"] == JOBS

        wait_for(all_finished, 90, "all jobs finished")
        jobs = []
        for job_id in job_ids:
            status, _, body = http(
                "GET", f"http://127.0.0.1:{proc.port}/v1/jobs/{job_id}", headers=auth
            )
            assert status == 200, body
            jobs.append(json.loads(body))
    finally:
        proc.stop()
        for other in others:
            other.stop()

    print("states seen at kills:", dict(seen_in_flight))
    # the kills hit jobs in the middle of their stages, not only before or after
    assert (
        sum(seen_in_flight[s] for s in ("indexing", "scoring", "signing", "proving", "posting")) > 0
    )
    assert len(jobs) == JOBS
    check_done_exactly_once(chain, backend, jobs, subjects, first_block, nonce_before)
    if backend.name == "postgres":  # nonces chosen by the database's allocator, per chain
        posts = backend.rows("SELECT chain_id, sender, nonce FROM posts")
        assert {(int(c), s) for c, s, _ in posts} == {(w3.eth.chain_id, poster.lower())}
        assert sorted(int(n) for *_, n in posts) == list(range(nonce_before, nonce_before + JOBS))


def test_sigterm_hands_leases_back(chain: Chain, tmp_path: Path) -> None:
    """A clean stop (SIGTERM) finishes the running stage, releases its leases at once
    (no waiting for them to expire) and a restarted process finishes every job."""
    from coprocessor.dev.devnet import free_port

    cfg = service_config(chain, tmp_path, workers=2, lease_seconds=600.0)
    config = tmp_path / "service.json"
    config.write_text(json.dumps(cfg))
    data = tmp_path / "data"
    auth = api_key(config, data)
    proc = Proc(config, data, free_port(), tmp_path / "serve.log")
    proc.start()
    ids = []
    try:
        for i in range(4):
            body = json.dumps(
                {"subject": "0x" + f"{i + 1:040x}", "model": "svc-test", "mode": "both"}
            ).encode()
            status, _, answer = http("POST", f"http://127.0.0.1:{proc.port}/v1/scores", body, auth)
            assert status == 202
            ids.append(json.loads(answer)["id"])
        wait_for(lambda: _active_states(data)["proving"] > 0, 30, "a job proving")
        proc.stop()  # SIGTERM
        assert proc.proc is not None and proc.proc.returncode == 0
        leased = default_backend(data).rows(
            "SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL"
        )
        assert leased[0][0] == 0
        proc.start()  # with 600 s leases, only released leases let this finish quickly
        wait_for(lambda: _active_states(data)["done"] == 4, 60, "all done")
    finally:
        proc.stop()
