"""Four processes work one PostgreSQL job table while the test kills a random one with
SIGKILL about every half second (at whatever it is doing: between statements, inside a
stage's transaction, between the commit and its log line) and starts a new one in its
place. Every job ends done and is completed exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from service_db.db_support import completions, lease_test_store, log_lines, processes

JOBS = 300
PROCESSES = 4
LEASE_SECONDS = 2.0
#: each stage's transaction stays open this long: at least JOBS * 2 * 0.02 / PROCESSES
#: = 3 s of work however fast the machine, so the test kills several times
STAGE_SECONDS = 0.02
WORKER = Path(__file__).with_name("lease_worker.py")


def test_random_kills_lose_no_job_and_repeat_none(pg_url: str, tmp_path: Path) -> None:
    store, ids = lease_test_store(pg_url, tmp_path, JOBS)
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    started = 0

    def command() -> list[str]:
        nonlocal started
        started += 1
        log = tmp_path / f"worker-{started}.log"
        args = [pg_url, f"p{started}", str(log), str(LEASE_SECONDS)]
        return [sys.executable, str(WORKER), *args, "--stage-seconds", str(STAGE_SECONDS)]

    kills = 0
    deadline = time.monotonic() + 600
    with processes([command() for _ in range(PROCESSES)]) as procs:
        while any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "the workers did not finish"
            time.sleep(rng.uniform(0.2, 0.8))
            alive = [p for p in procs if p.poll() is None]
            if not alive or store.counts()["done"] == JOBS:
                continue
            victim = rng.choice(alive)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            kills += 1
            procs[procs.index(victim)] = subprocess.Popen(command())
        assert all(p.returncode == 0 for p in procs)

    assert kills >= 3, "the workers finished before the test could kill a few"
    done = Counter(job_id for job_id, _ in completions(pg_url))
    assert set(done) == ids and set(done.values()) == {1}
    assert store.counts()["done"] == JOBS
    claims = Counter(
        line.split()[1]
        for log in tmp_path.glob("worker-*.log")
        for line in log_lines(log)
        if line.startswith("claim ")
    )
    assert set(claims) == ids  # some more than once: leases of killed processes
    store.close()
