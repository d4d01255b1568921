"""Fault injection at every step: a real ``coproc serve`` kills itself with SIGKILL at
each named crash point of a job (``coprocessor/service/faults.py``, armed with
``COPROC_FAULT_AT=<point>:<n>``), one point per process, in the order a job reaches them;
each time the next process resumes on the same data directory. Every point is hit
(the process dies by SIGKILL and says where), and at the end each job is done exactly
once (``test_service_crash.check_done_exactly_once``: one ``ScoreSubmitted`` per request
id, one transaction per job from the poster, one signed, proven and posted feed event
each, each on-chain score equal to an independent computation)."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from service_support import (
    OPERATOR_KEY,
    POSTER_KEY,
    Chain,
    chain_fixture,
    http,
    service_config,
    wait_for,
)
from test_service_crash import (
    Proc,
    _active_states,
    api_key,
    check_done_exactly_once,
    submit_l1_jobs,
)

from coprocessor.dev.devnet import free_port
from coprocessor.service.faults import ENV, POINTS


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("faults-chain"), "faults")


def _died_at(proc: Proc, point: str) -> None:
    """Wait for ``proc`` to kill itself at ``point``."""
    assert proc.proc is not None
    try:
        code = proc.proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.stop()
        raise AssertionError(f"the service never reached {point}") from None
    last = proc.log.read_text().rstrip().splitlines()[-1]
    assert (code, last) == (-signal.SIGKILL, f"fault injection: SIGKILL at {point}")


def test_a_kill_at_every_crash_point_still_ends_each_job_done_once(
    chain: Chain, tmp_path: Path
) -> None:
    # a keystore that opens fast (pbkdf2, few rounds): the service starts 15 times
    keystore = Account.encrypt(OPERATOR_KEY, "test password", kdf="pbkdf2", iterations=2)
    (tmp_path / "operator.keystore.json").write_text(json.dumps(keystore))
    cfg = service_config(chain, tmp_path, workers=2, lease_seconds=1.0, max_attempts=5)
    config = tmp_path / "service.json"
    config.write_text(json.dumps(cfg))
    data = tmp_path / "data"
    auth = api_key(config, data)
    w3 = chain.w3
    subjects = [str(list(w3.eth.accounts)[1]).lower(), "0x" + "b2" * 20]
    nonce_before = w3.eth.get_transaction_count(Account.from_key(POSTER_KEY).address)
    first_block = w3.eth.block_number + 1
    proc = Proc(config, data, free_port(), tmp_path / "serve.log")
    points = list(POINTS)
    # the first process takes both jobs, and dies when it admits the second
    proc.start(**{ENV: f"{points[0]}:{len(subjects)}"})
    job_ids = submit_l1_jobs(proc.port, subjects, auth)
    _died_at(proc, points[0])
    for point in points[1:]:
        proc.spawn(**{ENV: f"{point}:1"})
        _died_at(proc, point)
    proc.start()
    try:
        wait_for(lambda: _active_states(data)["done"] == 2, 60, "jobs done")
        jobs = [
            json.loads(http("GET", f"http://127.0.0.1:{proc.port}/v1/jobs/{j}", headers=auth)[2])
            for j in job_ids
        ]
    finally:
        proc.stop()
    assert [(j["attempts"], j["error"]) for j in jobs] == [(0, None)] * 2
    check_done_exactly_once(chain, data, jobs, subjects, first_block, nonce_before)
