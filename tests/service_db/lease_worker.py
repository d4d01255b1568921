"""One worker process of tests/service_db/test_multiprocess_leases.py.

``python lease_worker.py URL OWNER LOG LEASE_SECONDS [HOLD AFTER]``: leases jobs from the
PostgreSQL job store at URL and runs each through two stages (queued -> indexing, with a
heartbeat, -> done); the ``done`` transition and a row in the test's ``completions``
table (which the store knows nothing about) commit together. Every lease taken is
logged to LOG as ``claim <id>`` before any work. Exits when no job is active.

With HOLD and AFTER the process plays the crash victim: after AFTER completions it
leases HOLD more jobs, starts the first stage of the last one inside a transaction it
never commits (so it also holds that row's lock), writes ``held`` and sleeps until the
test kills it with SIGKILL.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from coprocessor.service.jobs import Job, LeaseLost
from coprocessor.service.lifecycle import ACTIVE
from coprocessor.service.store.postgres import PgJobStore


def run_job(store: PgJobStore, job: Job, owner: str, lease: float) -> None:
    with store.tx():
        store.advance(job, owner, "indexing", {"worker": owner})
    store.heartbeat(job.id, owner, lease)
    with store.tx():
        store.advance(job, owner, "done", {"worker": owner})
        store.conn.execute(
            "INSERT INTO completions (job_id, owner) VALUES (%s, %s)", (job.id, owner)
        )


def hold(store: PgJobStore, owner: str, lease: float, count: int, log: TextIO) -> None:
    held = [job for _ in range(count) if (job := store.claim(owner, lease)) is not None]
    for job in held:
        log.write(f"claim {job.id}\n")
    with store.tx():
        store.advance(held[-1], owner, "indexing", {"worker": owner})
        log.write("held\n")
        log.flush()
        time.sleep(3600)  # killed here, the transaction open


def main(argv: list[str]) -> int:
    url, owner, log_path, lease_text = argv[:4]
    lease = float(lease_text)
    hold_count, after = (int(argv[4]), int(argv[5])) if len(argv) > 4 else (0, -1)
    store = PgJobStore(url)
    done = 0
    with open(log_path, "a", buffering=1) as log:
        while True:
            if done == after:
                hold(store, owner, lease, hold_count, log)
            job = store.claim(owner, lease)
            if job is None:
                counts = store.counts()
                if sum(counts[s] for s in ACTIVE) == 0:
                    return 0
                time.sleep(0.01)
                continue
            log.write(f"claim {job.id}\n")
            try:
                run_job(store, job, owner, lease)
            except LeaseLost:
                log.write(f"lost {job.id}\n")
                continue
            done += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
