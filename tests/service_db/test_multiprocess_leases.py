"""Four processes lease 500 jobs from one PostgreSQL job table at once; one of them is
killed with SIGKILL while it holds three leases (one inside an open transaction that
holds the row's lock). Every job is completed exactly once, every job but the held
three is leased exactly once, and the held three are taken over by the others when
their leases run out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg
from service_db.db_support import log_lines, wait_for

from coprocessor.service.store.database import migrate_database
from coprocessor.service.store.postgres import PgJobStore

JOBS = 500
PROCESSES = 4
LEASE_SECONDS = 8.0
HELD = 3
WORKER = Path(__file__).with_name("lease_worker.py")
REQ = {"subject": "0x" + "22" * 20, "model": "m", "block": "latest", "mode": "signed",
       "destination": "none"}  # fmt: skip


def test_four_processes_one_table_exactly_once_with_a_kill(pg_url: str, tmp_path: Path) -> None:
    migrate_database(pg_url, tmp_path)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE completions (job_id TEXT NOT NULL, owner TEXT NOT NULL)")
    store = PgJobStore(pg_url)
    ids = {store.submit({**REQ, "n": i}, f"job-{i}")[0].id for i in range(JOBS)}
    assert len(ids) == JOBS

    logs = [tmp_path / f"worker-{i}.log" for i in range(PROCESSES)]
    victim = ["--hold", str(HELD), "--after", "20"]  # worker 0: holds 3 leases
    commands = [
        [sys.executable, str(WORKER), pg_url, f"w{i}", str(logs[i]), str(LEASE_SECONDS)]
        + (victim if i == 0 else [])
        for i in range(PROCESSES)
    ]
    procs = [subprocess.Popen(command) for command in commands]
    try:
        wait_for(lambda: "held" in log_lines(logs[0]) or procs[0].poll() is not None, "the victim")
        assert procs[0].poll() is None, "the victim exited instead of holding its leases"
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait()
        for proc in procs[1:]:
            assert proc.wait(timeout=300) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    victim_claims = [line.split()[1] for line in log_lines(logs[0]) if line.startswith("claim ")]
    held = set(victim_claims[-HELD:])
    assert len(held) == HELD
    claims = Counter(
        line.split()[1] for log in logs for line in log_lines(log) if line.startswith("claim ")
    )
    assert set(claims) == ids
    assert {i for i, n in claims.items() if n != 1} == held  # leased once, held ones twice
    assert all(claims[i] == 2 for i in held)
    assert not any(line.startswith("lost ") for log in logs for line in log_lines(log))

    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT job_id, owner FROM completions").fetchall()
    completions = Counter(job_id for job_id, _ in rows)
    assert set(completions) == ids and set(completions.values()) == {1}  # exactly once
    by: dict[str, str] = dict(rows)
    assert all(by[i] != "w0" for i in held)  # taken over by the survivors
    assert store.counts()["done"] == JOBS
    assert all(job.lease_owner is None for job in store.all_jobs())
    store.close()
