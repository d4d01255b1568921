"""What the multi-process tests of tests/service_db share: their database, starting,
killing and waiting for workers, reading their logs."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from coprocessor.service.store.database import migrate_database
from coprocessor.service.store.postgres import PgJobStore


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 300.0) -> None:
    """Poll ``predicate`` until it holds; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def log_lines(path: Path) -> list[str]:
    """The lines a worker wrote to its log so far (none before it created the file)."""
    return path.read_text().splitlines() if path.exists() else []


#: what the lease tests' workers write in their ``done`` transaction
COMPLETIONS = "CREATE TABLE completions (job_id TEXT NOT NULL, owner TEXT NOT NULL)"
REQ = {"subject": "0x" + "22" * 20, "model": "m", "block": "latest", "mode": "signed",
       "destination": "none"}  # fmt: skip


def lease_test_store(pg_url: str, tmp_path: Path, jobs: int) -> tuple[PgJobStore, set[str]]:
    """A migrated database with the ``completions`` table and ``jobs`` queued jobs;
    returns a store on it and the jobs' ids."""
    migrate_database(pg_url, tmp_path)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(COMPLETIONS)
    store = PgJobStore(pg_url)
    ids = {store.submit({**REQ, "n": i}, None)[0].id for i in range(jobs)}
    assert len(ids) == jobs
    return store, ids


def completions(pg_url: str) -> list[tuple[str, str]]:
    """(job id, owner) of every completion the workers committed."""
    with psycopg.connect(pg_url) as conn:
        return [(str(j), str(o)) for j, o in conn.execute("SELECT job_id, owner FROM completions")]


@contextmanager
def processes(commands: list[list[str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start the commands; whatever still runs at the end is killed."""
    procs = [subprocess.Popen(command) for command in commands]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def kill_and_join(victim: subprocess.Popen[bytes], others: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL ``victim`` (which must still run), then wait for the others to exit 0."""
    assert victim.poll() is None, "the victim exited before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    for proc in others:
        assert proc.wait(timeout=300) == 0
