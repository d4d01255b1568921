"""One worker process of tests/service_db/test_multiprocess_leases.py.

``python lease_worker.py URL OWNER LOG LEASE_SECONDS [--hold N --after M]
[--stage-seconds S]``: leases jobs from the
PostgreSQL job store at URL and runs each through two stages (queued -> indexing, with a
heartbeat, -> done); the ``done`` transition and a row in the test's ``completions``
table (which the store knows nothing about) commit together; ``--stage-seconds``: each
stage's transaction stays open that long before its commit (a kill then lands inside
it more often). Every lease taken is logged to LOG as ``claim <id>`` before any work.
Exits when no job is active.

With ``--hold N --after M`` the process plays the crash victim: after M completions it
leases N more jobs, starts the first stage of the last one inside a transaction it
never commits (so it also holds that row's lock), writes ``held`` and sleeps until the
test kills it with SIGKILL.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from coprocessor.service.jobs import Job, LeaseLost
from coprocessor.service.lifecycle import ACTIVE
from coprocessor.service.store.postgres import PgJobStore


def run_job(store: PgJobStore, job: Job, owner: str, lease: float, stage: float) -> None:
    with store.tx():
        store.advance(job, owner, "indexing", {"worker": owner})
        time.sleep(stage)
    store.heartbeat(job.id, owner, lease)
    with store.tx():
        store.advance(job, owner, "done", {"worker": owner})
        store.conn.execute(
            "INSERT INTO completions (job_id, owner) VALUES (%s, %s)", (job.id, owner)
        )
        time.sleep(stage)


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
    parser = argparse.ArgumentParser()
    for name in ("url", "owner", "log"):
        parser.add_argument(name)
    parser.add_argument("lease", type=float)
    parser.add_argument("--hold", type=int, default=0)
    parser.add_argument("--after", type=int, default=-1)
    parser.add_argument("--stage-seconds", type=float, default=0.0)
    args = parser.parse_args(argv)
    lease = args.lease
    store = PgJobStore(args.url)
    owner = args.owner
    done = 0
    with open(args.log, "a", buffering=1) as log:
        while True:
            if done == args.after:
                hold(store, owner, lease, args.hold, log)
            job = store.claim(owner, lease)
            if job is None:
                counts = store.counts()
                if sum(counts[s] for s in ACTIVE) == 0:
                    return 0
                time.sleep(0.01)
                continue
            log.write(f"claim {job.id}\n")
            try:
                run_job(store, job, owner, lease, args.stage_seconds)
            except LeaseLost:
                log.write(f"lost {job.id}\n")
                continue
            done += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
