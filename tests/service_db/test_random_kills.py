"""Four processes work one PostgreSQL job table while the test kills a random one with
SIGKILL about every second (at whatever it is doing: between statements, inside a
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

import psycopg
from service_db.db_support import log_lines

from coprocessor.service.store.database import migrate_database
from coprocessor.service.store.postgres import PgJobStore

JOBS = 300
PROCESSES = 4
LEASE_SECONDS = 2.0
#: each stage's transaction stays open this long: at least JOBS * 2 * 0.02 / PROCESSES
#: = 3 s of work however fast the machine, so the test kills several times
STAGE_SECONDS = 0.02
WORKER = Path(__file__).with_name("lease_worker.py")
REQ = {"subject": "0x" + "33" * 20, "model": "m", "block": "latest", "mode": "signed",
       "destination": "none"}  # fmt: skip


def test_random_kills_lose_no_job_and_repeat_none(pg_url: str, tmp_path: Path) -> None:
    migrate_database(pg_url, tmp_path)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE completions (job_id TEXT NOT NULL, owner TEXT NOT NULL)")
    store = PgJobStore(pg_url)
    ids = {store.submit({**REQ, "n": i}, None)[0].id for i in range(JOBS)}
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    started = 0

    def start() -> subprocess.Popen[bytes]:
        nonlocal started
        started += 1
        log = tmp_path / f"worker-{started}.log"
        args = [pg_url, f"p{started}", str(log), str(LEASE_SECONDS)]
        args += ["--stage-seconds", str(STAGE_SECONDS)]
        return subprocess.Popen([sys.executable, str(WORKER), *args])

    procs = [start() for _ in range(PROCESSES)]
    kills = 0
    deadline = time.monotonic() + 600
    try:
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
            procs[procs.index(victim)] = start()
        assert all(p.returncode == 0 for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    assert kills >= 3, "the workers finished before the test could kill a few"
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT job_id FROM completions").fetchall()
    completions = Counter(r[0] for r in rows)
    assert set(completions) == ids and set(completions.values()) == {1}
    assert store.counts()["done"] == JOBS
    claims = Counter(
        line.split()[1]
        for log in tmp_path.glob("worker-*.log")
        for line in log_lines(log)
        if line.startswith("claim ")
    )
    assert set(claims) == ids  # some more than once: leases of killed processes
    store.close()
