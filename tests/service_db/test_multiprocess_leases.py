"""Four processes lease 500 jobs from one PostgreSQL job table at once; one of them is
killed with SIGKILL while it holds three leases (one inside an open transaction that
holds the row's lock). Every job is completed exactly once, every job but the held
three is leased exactly once, and the held three are taken over by the others when
their leases run out."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from service_db.db_support import (
    completions,
    kill_and_join,
    lease_test_store,
    log_lines,
    processes,
    wait_for,
)

JOBS = 500
PROCESSES = 4
LEASE_SECONDS = 8.0
HELD = 3
WORKER = Path(__file__).with_name("lease_worker.py")


def test_four_processes_one_table_exactly_once_with_a_kill(pg_url: str, tmp_path: Path) -> None:
    store, ids = lease_test_store(pg_url, tmp_path, JOBS)
    logs = [tmp_path / f"worker-{i}.log" for i in range(PROCESSES)]
    victim = ["--hold", str(HELD), "--after", "20"]  # worker 0: holds 3 leases
    commands = [
        [sys.executable, str(WORKER), pg_url, f"w{i}", str(logs[i]), str(LEASE_SECONDS)]
        + (victim if i == 0 else [])
        for i in range(PROCESSES)
    ]
    with processes(commands) as procs:
        wait_for(lambda: "held" in log_lines(logs[0]) or procs[0].poll() is not None, "the victim")
        kill_and_join(procs[0], procs[1:])

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

    rows = completions(pg_url)
    done = Counter(job_id for job_id, _ in rows)
    assert set(done) == ids and set(done.values()) == {1}  # exactly once
    by = dict(rows)
    assert all(by[i] != "w0" for i in held)  # taken over by the survivors
    assert store.counts()["done"] == JOBS
    assert all(job.lease_owner is None for job in store.all_jobs())
    store.close()
