"""The job store on PostgreSQL: one table shared by service processes on several hosts.

Same contract as the SQLite store (``protocol.JobStore``), with what differs because
several processes and hosts write at once:

- **claims** lock the chosen row with ``SELECT … FOR UPDATE SKIP LOCKED`` inside the
  ``UPDATE`` that leases it, so concurrent claimers each get a different job without
  waiting on each other;
- **fenced writes** are single ``UPDATE … WHERE id = … AND lease_owner = …`` statements
  (no read-then-write window); zero rows updated means the lease was taken over:
  ``LeaseLost``;
- **one clock**: lease expiry and ``next_run_at`` are judged by the database server's
  clock (``clock_timestamp()``), not each host's, unless a caller passes ``now``;
- **idempotency keys** insert with ``ON CONFLICT (idem_key) DO NOTHING``: two processes
  submitting one key at once create one job;
- connection errors become ``StoreError`` (the worker loop logs and polls again) and
  the next operation reconnects.

The database must be at this code's schema version (``coproc db migrate``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg

from coprocessor.postgres import PgConnection, connect, database_error
from coprocessor.service.jobs import (
    _COLUMNS,
    STATES,
    Job,
    LeaseLost,
    _job,
    failure,
    move,
    new_job_id,
    retry,
)
from coprocessor.service.lifecycle import ACTIVE, State
from coprocessor.service.store.migrations import (
    SCHEMA_VERSION,
    migrate,
    require_current,
    schema_version,
)

_ACTIVE = [str(s) for s in ACTIVE]
#: the database server's clock, Unix seconds
_SERVER_CLOCK = "extract(epoch FROM clock_timestamp())::float8"
#: the caller's ``now`` parameter if given, else the server's clock
_CLOCK = f"COALESCE(%(now)s::float8, {_SERVER_CLOCK})"


def _encode(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class PgJobStore(PgConnection):
    """One connection to the PostgreSQL job store (use one per thread)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, "job store")
        with self._errors():
            require_current(self.conn)

    def tx(self) -> AbstractContextManager[None]:
        """``with store.tx():`` — BEGIN … COMMIT (ROLLBACK on an exception); nested use
        joins the outer transaction."""
        return self._tx()

    @contextmanager
    def _tx(self) -> Iterator[None]:
        conn = self.conn
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            yield  # inside the caller's transaction
            return
        with self._errors(), conn.transaction():
            yield

    def _now(self, now: float | None) -> float:
        """``now``, or the database server's clock (Unix seconds)."""
        if now is not None:
            return now
        row = self.conn.execute(f"SELECT {_SERVER_CLOCK}").fetchone()
        assert row is not None
        return float(row[0])

    # ------------------------------------------------------------------ submit / read

    def submit(
        self, request: dict[str, Any], idem_key: str | None, now: float | None = None
    ) -> tuple[Job, bool]:
        """Queue a job; with an idempotency key already used, return that job instead
        (``created`` False). Raises ValueError if the key was used for another request."""
        body = _encode(request)
        with self.tx():
            now = self._now(now)
            row = self.conn.execute(
                "INSERT INTO jobs (id, idem_key, request, state, next_run_at, created_at, "
                "updated_at, timestamps) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (idem_key) DO NOTHING RETURNING {_COLUMNS}",
                (
                    new_job_id(),
                    idem_key,
                    body,
                    str(State.QUEUED),
                    now,
                    now,
                    now,
                    json.dumps({State.QUEUED: now}),
                ),
            ).fetchone()
            if row is not None:
                return _job(row), True
            old = self.conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE idem_key = %s", (idem_key,)
            ).fetchone()
        assert old is not None
        job = _job(old)
        if _encode(job.request) != body:
            raise ValueError("idempotency key already used for another request")
        return job, False

    def get(self, job_id: str) -> Job | None:
        with self._errors():
            row = self.conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE id = %s", (job_id,)
            ).fetchone()
        return None if row is None else _job(row)

    def all_jobs(self) -> list[Job]:
        with self._errors():
            rows = self.conn.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY created_at").fetchall()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._errors():
            rows = self.conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        out.update({str(state): int(n) for state, n in rows})
        return out

    # ------------------------------------------------------------------ claims

    def claim(self, owner: str, lease_seconds: float, now: float | None = None) -> Job | None:
        """Lease the oldest ready job (not leased, or its lease ran out); rows other
        claimers hold locked are skipped, not waited for. One statement."""
        with self._errors():
            row = self.conn.execute(
                f"WITH t AS (SELECT {_CLOCK} AS now) "
                "UPDATE jobs SET lease_owner = %(owner)s, "
                "lease_until = (SELECT now FROM t) + %(lease)s "
                "WHERE id = (SELECT id FROM jobs, t WHERE state = ANY(%(active)s) "
                "AND next_run_at <= t.now AND (lease_until IS NULL OR lease_until < t.now) "
                "ORDER BY next_run_at LIMIT 1 FOR UPDATE OF jobs SKIP LOCKED) "
                f"RETURNING {_COLUMNS}",
                {"owner": owner, "lease": lease_seconds, "active": _ACTIVE, "now": now},
            ).fetchone()
        return None if row is None else _job(row)

    def _fenced(self, job_id: str, owner: str, assignments: str, params: tuple[Any, ...]) -> None:
        """``UPDATE jobs SET <assignments>`` if ``owner`` still holds the lease (one
        statement: atomic on its own, or part of the caller's transaction)."""
        with self._errors():
            cur = self.conn.execute(
                f"UPDATE jobs SET {assignments} WHERE id = %s AND lease_owner = %s",
                (*params, job_id, owner),
            )
            if cur.rowcount != 1:
                raise LeaseLost(f"lease on {job_id} lost")

    def heartbeat(self, job_id: str, owner: str, lease_seconds: float) -> None:
        self._fenced(job_id, owner, f"lease_until = {_SERVER_CLOCK} + %s", (lease_seconds,))

    def release(self, job_id: str, owner: str) -> None:
        """Give a lease back (shutdown): the job becomes claimable at once."""
        with self._errors():
            self.conn.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = %s AND lease_owner = %s",
                (job_id, owner),
            )

    # ------------------------------------------------------------------ transitions

    def advance(
        self,
        job: Job,
        owner: str,
        state: str,
        data: dict[str, Any],
        *,
        keep_lease: bool = True,
        generation: int | None = None,
    ) -> Job:
        """Commit a stage: new ``state`` and ``data`` (plus whatever the caller wrote
        inside the same ``tx()``, when called within one)."""
        step = move(job, state, data, keep_lease, generation)
        lease = "lease_owner = NULL, lease_until = NULL" if step.drop_lease else "lease_owner = %s"
        self._fenced(
            job.id,
            owner,
            "state = %s, data = %s, timestamps = %s, updated_at = %s, attempts = 0, "
            f"error = NULL, generation = %s, {lease}",
            (
                str(step.state),
                json.dumps(data),
                json.dumps(step.timestamps),
                step.updated_at,
                step.generation,
                *(() if step.drop_lease else (owner,)),
            ),
        )
        return step.apply(job)

    def fail(self, job: Job, owner: str, error: str) -> None:
        """Give up: the state's ``on_failure`` (``failed``) with the error line, and
        ``attempts`` the failed runs of the stage, this one included (as ``JobDB``)."""
        target, attempts = failure(job)
        with self.tx():
            self.advance(job, owner, target, job.data)
            self.conn.execute(
                "UPDATE jobs SET error = %s, attempts = %s WHERE id = %s",
                (error, attempts, job.id),
            )
        job.error, job.attempts = error, attempts

    def retry_later(
        self,
        job: Job,
        owner: str,
        error: str,
        backoff: float,
        backoff_max: float,
        max_attempts: int,
    ) -> bool:
        """Count a failed attempt at the current stage and schedule the next one with
        exponential backoff; returns False (and fails the job) when out of attempts."""
        step = retry(job, error, backoff, backoff_max, max_attempts)
        if step.delay is None:
            self.fail(job, owner, step.error)  # counts this one
            return False
        self._fenced(
            job.id,
            owner,
            f"attempts = %s, error = %s, next_run_at = {_SERVER_CLOCK} + %s, "
            f"lease_owner = NULL, lease_until = NULL, updated_at = {_SERVER_CLOCK}",
            (step.attempts, step.error, step.delay),
        )
        return True

    def set_progress(self, job: Job, owner: str, progress: dict[str, Any]) -> None:
        """Record stage progress (cycles, proof status) without changing state."""
        data = dict(job.data)
        data["progress"] = progress
        self._fenced(job.id, owner, "data = %s", (json.dumps(data),))
        job.data = data


def migrate_url(url: str) -> tuple[int, list[int]]:
    """``coproc db migrate`` on PostgreSQL: (schema version now, versions applied)."""
    try:
        with connect(url) as conn:
            applied = migrate(conn)
    except psycopg.Error as exc:
        raise database_error(url, exc) from None
    return SCHEMA_VERSION, applied


def schema_of_url(url: str) -> int:
    """The schema version of the PostgreSQL database at ``url`` (0: not migrated)."""
    try:
        with connect(url) as conn:
            return schema_version(conn)
    except psycopg.Error as exc:
        raise database_error(url, exc) from None
