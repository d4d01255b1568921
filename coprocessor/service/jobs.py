"""The durable job queue: SQLite (WAL) in ``<data dir>/service.sqlite``, its own file
and tables, safe to share between several service processes.

- **Claims with leases**: a worker claims a ready job in a ``BEGIN IMMEDIATE``
  transaction and holds it until ``lease_until``; it extends the lease while a long
  stage runs. A crashed worker's lease runs out and another worker takes the job over.
- **Fencing**: every write a worker makes names its lease (``lease_owner``); a worker
  whose lease was taken over cannot write (``LeaseLost``).
- **Stages**: the states and transitions are the table in ``lifecycle`` (queued →
  indexing → scoring → signing → proving → posting → done | failed). A stage's outputs
  and the move to the next state are one transaction, so a job killed at any point
  resumes at the first stage whose outputs were not committed. Stages are idempotent;
  the one outside effect that is not (an on-chain transaction) goes through the
  ``posts`` table (see ``posting``).
- **Retries with backoff**: a transient failure re-runs the same stage after
  ``backoff * 2^attempt`` seconds (capped), at most ``max_attempts`` times;
  ``attempts`` counts the failed runs of the current stage (a failed job keeps its
  count). A takeover is not an attempt: a worker's crash is not the job's failure.
- **Idempotency keys**: (API key, Idempotency-Key) maps to one job; the same key with
  another request body is a conflict.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.errors import CoprocessorError, StoreError
from coprocessor.service.lifecycle import ACTIVE, FINAL, State, row_of
from coprocessor.sqlite import connect as sqlite_connect

STATES = tuple(State)
SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS svc_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, idem_key TEXT UNIQUE, request TEXT NOT NULL,
        state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_run_at REAL NOT NULL, lease_owner TEXT, lease_until REAL,
        created_at REAL NOT NULL, updated_at REAL NOT NULL,
        timestamps TEXT NOT NULL, error TEXT, data TEXT NOT NULL DEFAULT '{}',
        generation INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (state, next_run_at)",
    """CREATE TABLE IF NOT EXISTS results (
        subject TEXT NOT NULL, model_hash TEXT NOT NULL, block INTEGER NOT NULL,
        job_id TEXT NOT NULL, body TEXT NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (subject, model_hash))""",
    """CREATE TABLE IF NOT EXISTS feed (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, kind TEXT NOT NULL,
        generation INTEGER NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL,
        UNIQUE (job_id, kind, generation))""",
    """CREATE TABLE IF NOT EXISTS posts (
        job_id TEXT PRIMARY KEY, sender TEXT NOT NULL, nonce INTEGER NOT NULL,
        tx_hash TEXT NOT NULL, raw_tx TEXT NOT NULL, created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS samples (
        job_id TEXT PRIMARY KEY, outcome TEXT NOT NULL, signed_score INTEGER,
        proven_score INTEGER, challenge TEXT, challenge_tx TEXT, created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL,
        rate REAL NOT NULL, burst INTEGER NOT NULL, created_at REAL NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0)""",
)


class LeaseLost(CoprocessorError):
    """This worker's lease on a job expired and another worker took the job."""


@dataclass
class Job:
    """One row of ``jobs``, decoded."""

    id: str
    request: dict[str, Any]
    state: State
    attempts: int
    next_run_at: float
    lease_owner: str | None
    created_at: float
    updated_at: float
    timestamps: dict[str, float]
    error: str | None
    data: dict[str, Any]
    generation: int

    def to_json(self) -> dict[str, Any]:
        """What ``GET /v1/jobs/{id}`` shows."""
        data = self.data
        return {
            "id": self.id,
            "state": self.state,
            "request": self.request,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "timestamps": self.timestamps,
            "error": self.error,
            "reorgs": self.generation,
            "block": data.get("block"),
            "anchor": data.get("anchor"),
            "score": data.get("score"),
            "progress": data.get("progress", {}),
            "sampled": bool(data.get("sampled")),
            "sampling": data.get("sampling"),
            "tx_hash": data.get("tx_hash"),
            "batch": data.get("batch"),
        }


_COLUMNS = (
    "id, request, state, attempts, next_run_at, lease_owner, created_at, updated_at, "
    "timestamps, error, data, generation"
)


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        request=json.loads(row[1]),
        state=State(row[2]),
        attempts=row[3],
        next_run_at=row[4],
        lease_owner=row[5],
        created_at=row[6],
        updated_at=row[7],
        timestamps=json.loads(row[8]),
        error=row[9],
        data=json.loads(row[10]),
        generation=row[11],
    )


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


# The transitions' values, computed once for both stores (``JobDB`` here and
# ``store.postgres.PgJobStore``); each store writes them with its own SQL.


@dataclass(frozen=True)
class Move:
    """A committed stage: the job's new state, data, timestamps and generation."""

    state: State
    data: dict[str, Any]
    timestamps: dict[str, float]
    updated_at: float
    generation: int
    drop_lease: bool

    def apply(self, job: Job) -> Job:
        """``job`` as the store now holds it (attempts reset, no error)."""
        job.state, job.data, job.timestamps = self.state, self.data, self.timestamps
        job.updated_at, job.generation, job.attempts, job.error = (
            self.updated_at, self.generation, 0, None,
        )  # fmt: skip
        return job


def move(
    job: Job, state: str, data: dict[str, Any], keep_lease: bool, generation: int | None
) -> Move:
    """``job`` advanced to ``state`` now; the lease goes with a final state or ``keep_lease``
    False; ``generation`` None keeps the job's."""
    if state not in STATES:
        raise ValueError(f"unknown state {state}")
    now = time.time()
    new_state = State(state)
    return Move(
        state=new_state,
        data=data,
        timestamps={**job.timestamps, new_state: now},
        updated_at=now,
        generation=job.generation if generation is None else generation,
        drop_lease=new_state in FINAL or not keep_lease,
    )


def failure(job: Job) -> tuple[State, int]:
    """Where failing ``job`` takes it (its state's ``on_failure``) and its attempts with
    this run counted (a failed job keeps its count)."""
    target = row_of(job.state).on_failure
    if target is None:
        raise ValueError(f"job {job.id} is {job.state} already")
    return target, job.attempts + 1


@dataclass(frozen=True)
class Retry:
    """A failed attempt: the count with it, the error to record, and the delay before
    the next run (None: out of attempts, the job fails with ``error``)."""

    attempts: int
    error: str
    delay: float | None


def retry(job: Job, error: str, backoff: float, backoff_max: float, max_attempts: int) -> Retry:
    """Count a failed attempt; exponential backoff capped at ``backoff_max``."""
    attempts = job.attempts + 1
    if attempts >= max_attempts:
        return Retry(attempts, f"{error} (after {attempts} attempts)", None)
    return Retry(attempts, error, min(backoff * 2 ** (attempts - 1), backoff_max))


#: the request fields ``job_ids`` filters on (besides ``state``)
JOB_FILTERS = ("model", "subject", "mode", "destination")


class JobDB:
    """One connection to the service database (use one per thread)."""

    kind = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite_connect(self.path, shared_across_threads=True)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"service database {self.path}: {exc}") from None

    def _migrate(self) -> None:
        with self.tx():
            for stmt in _SCHEMA:
                self.conn.execute(stmt)
            row = self.conn.execute("SELECT value FROM svc_meta WHERE key='schema'").fetchone()
            if row is None:
                self.conn.execute(
                    "INSERT INTO svc_meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
            elif row[0] != str(SCHEMA_VERSION):
                raise StoreError(
                    f"service database {self.path} has schema {row[0]}, "
                    f"this build reads {SCHEMA_VERSION}"
                )

    def close(self) -> None:
        self.conn.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement with ``?`` parameters (``store.protocol.ServiceDB``)."""
        return self.conn.execute(sql, params)

    def tx(self) -> _Tx:
        """``with db.tx():`` — BEGIN IMMEDIATE … COMMIT (ROLLBACK on an exception)."""
        return _Tx(self.conn)

    # ------------------------------------------------------------------ submit / read

    def submit(
        self, request: dict[str, Any], idem_key: str | None, now: float | None = None
    ) -> tuple[Job, bool]:
        """Queue a job; with an idempotency key already used, return that job instead
        (``created`` False). Raises ValueError if the key was used for another request."""
        now = time.time() if now is None else now
        body = json.dumps(request, sort_keys=True, separators=(",", ":"))
        with self.tx():
            if idem_key is not None:
                row = self.conn.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE idem_key = ?", (idem_key,)
                ).fetchone()
                if row is not None:
                    old = _job(row)
                    if json.dumps(old.request, sort_keys=True, separators=(",", ":")) != body:
                        raise ValueError("idempotency key already used for another request")
                    return old, False
            job_id = new_job_id()
            self.conn.execute(
                "INSERT INTO jobs (id, idem_key, request, state, next_run_at, created_at, "
                "updated_at, timestamps) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    idem_key,
                    body,
                    State.QUEUED,
                    now,
                    now,
                    now,
                    json.dumps({State.QUEUED: now}),
                ),
            )
        job = self.get(job_id)
        assert job is not None
        return job, True

    def get(self, job_id: str) -> Job | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def all_jobs(self) -> list[Job]:
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY created_at").fetchall()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        out.update({state: n for state, n in rows})
        return out

    # ------------------------------------------------------------------ claims

    def claim(self, owner: str, lease_seconds: float, now: float | None = None) -> Job | None:
        """Take the oldest ready job (not leased, or its lease ran out)."""
        now = time.time() if now is None else now
        with self.tx():
            row = self.conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state IN ({','.join('?' * len(ACTIVE))}) "
                "AND next_run_at <= ? AND (lease_until IS NULL OR lease_until < ?) "
                "ORDER BY next_run_at LIMIT 1",
                (*ACTIVE, now, now),
            ).fetchone()
            if row is None:
                return None
            self.conn.execute(
                "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = ?",
                (owner, now + lease_seconds, row[0]),
            )
        job = _job(row)
        job.lease_owner = owner
        return job

    def _check_lease(self, job_id: str, owner: str) -> None:
        row = self.conn.execute("SELECT lease_owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or row[0] != owner:
            raise LeaseLost(f"lease on {job_id} lost")

    def heartbeat(self, job_id: str, owner: str, lease_seconds: float) -> None:
        with self.tx():
            self._check_lease(job_id, owner)
            self.conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ?",
                (time.time() + lease_seconds, job_id),
            )

    def release(self, job_id: str, owner: str) -> None:
        """Give a lease back (shutdown): the job becomes claimable at once."""
        with self.tx():
            self.conn.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND lease_owner = ?",
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
        self._check_lease(job.id, owner)
        self.conn.execute(
            "UPDATE jobs SET state = ?, data = ?, timestamps = ?, updated_at = ?, attempts = 0, "
            "error = NULL, generation = ?, lease_owner = ?, lease_until = "
            "CASE WHEN ? THEN NULL ELSE lease_until END WHERE id = ?",
            (
                step.state,
                json.dumps(data),
                json.dumps(step.timestamps),
                step.updated_at,
                step.generation,
                None if step.drop_lease else owner,
                step.drop_lease,
                job.id,
            ),
        )
        return step.apply(job)

    def fail(self, job: Job, owner: str, error: str) -> None:
        """Give up: the state's ``on_failure`` (``failed``) with the error line, and
        ``attempts`` the number of failed runs of the stage, this one included (a run
        a crash cut short and another worker took over is not one of them)."""
        target, attempts = failure(job)
        with self.tx():
            self.advance(job, owner, target, job.data)
            self.conn.execute(
                "UPDATE jobs SET error = ?, attempts = ? WHERE id = ?", (error, attempts, job.id)
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
        with self.tx():
            self._check_lease(job.id, owner)
            self.conn.execute(
                "UPDATE jobs SET attempts = ?, error = ?, next_run_at = ?, lease_owner = NULL, "
                "lease_until = NULL, updated_at = ? WHERE id = ?",
                (step.attempts, step.error, time.time() + step.delay, time.time(), job.id),
            )
        return True

    def set_progress(self, job: Job, owner: str, progress: dict[str, Any]) -> None:
        """Record stage progress (cycles, proof status) without changing state."""
        data = dict(job.data)
        data["progress"] = progress
        with self.tx():
            self._check_lease(job.id, owner)
            self.conn.execute("UPDATE jobs SET data = ? WHERE id = ?", (json.dumps(data), job.id))
        job.data = data

    # ------------------------------------------------------------------ results and feed

    def put_result(self, subject: str, model_hash: str, block: int, job_id: str, body: str) -> None:
        """Keep the result of the highest block per (subject, model); same block: newest."""
        self.conn.execute(
            "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (subject, model_hash) DO UPDATE SET block = excluded.block, "
            "job_id = excluded.job_id, body = excluded.body, updated_at = excluded.updated_at "
            "WHERE excluded.block >= results.block",
            (subject, model_hash, block, job_id, body, time.time()),
        )

    def drop_result_of(self, job_id: str) -> None:
        self.conn.execute("DELETE FROM results WHERE job_id = ?", (job_id,))

    def result(self, subject: str, model_hash: str) -> str | None:
        row = self.conn.execute(
            "SELECT body FROM results WHERE subject = ? AND model_hash = ?", (subject, model_hash)
        ).fetchone()
        return None if row is None else str(row[0])

    def publish(self, job_id: str, kind: str, generation: int, body: str) -> None:
        """Append to the feed once per (job, kind, generation)."""
        self.conn.execute(
            "INSERT OR IGNORE INTO feed (job_id, kind, generation, body, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (job_id, kind, generation, body, time.time()),
        )

    def feed_after(self, seq: int, limit: int = 500) -> list[tuple[int, str, str]]:
        rows = self.conn.execute(
            "SELECT seq, kind, body FROM feed WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [(int(s), str(k), str(b)) for s, k, b in rows]

    def last_feed_seq(self) -> int:
        row = self.conn.execute("SELECT MAX(seq) FROM feed").fetchone()
        return int(row[0] or 0)

    def job_ids(self, filters: dict[str, str], limit: int) -> list[str]:
        """Ids of the newest jobs matching ``filters`` (``state`` and ``JOB_FILTERS``)."""
        where, args = [], []
        for name, value in filters.items():
            if name != "state" and name not in JOB_FILTERS:
                raise ValueError(f"no job filter {name!r}")
            where.append(
                "state = ?" if name == "state" else f"json_extract(request, '$.{name}') = ?"
            )
            args.append(value)
        sql = "SELECT id FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.conn.execute(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit))
        return [str(r[0]) for r in rows.fetchall()]

    def latest_image_id(self) -> str | None:
        row = self.conn.execute(
            "SELECT json_extract(data, '$.receipt.image_id') FROM jobs "
            "WHERE json_extract(data, '$.receipt.image_id') IS NOT NULL "
            "ORDER BY updated_at DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def shared_keys(self) -> None:
        """SQLite: keys are reloaded by each process, buckets kept in its memory."""
        return None

    # ------------------------------------------------------------------ posts and samples

    def post_records(self, chain_id: int) -> JobDB:
        """The ``posts`` table (one per service database; SQLite keeps no chain id)."""
        return self

    def post_of(self, job_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT sender, nonce, tx_hash, raw_tx FROM posts WHERE job_id = ?", (job_id,)
        ).fetchone()
        if row is None:
            return None
        return {"sender": row[0], "nonce": row[1], "tx_hash": row[2], "raw_tx": row[3]}

    def record_post(self, job_id: str, sender: str, nonce: int, tx_hash: str, raw: str) -> None:
        with self.tx():
            self.conn.execute(
                "INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, sender, nonce, tx_hash, raw, time.time()),
            )

    def forget_post(self, job_id: str) -> None:
        with self.tx():
            self.conn.execute("DELETE FROM posts WHERE job_id = ?", (job_id,))

    def record_sample(
        self,
        job_id: str,
        outcome: str,
        signed_score: int | None,
        proven_score: int | None,
        challenge: dict[str, Any] | None,
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO samples (job_id, outcome, signed_score, proven_score, "
            "challenge, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                job_id,
                outcome,
                signed_score,
                proven_score,
                None if challenge is None else json.dumps(challenge),
                time.time(),
            ),
        )

    def sample_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT outcome, COUNT(*) FROM samples GROUP BY outcome")
        return {str(k): int(n) for k, n in rows.fetchall()}

    def challenges(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT job_id, challenge, challenge_tx FROM samples WHERE challenge IS NOT NULL"
        ).fetchall()
        return [{"job_id": j, "challenge": json.loads(c), "tx_hash": t} for j, c, t in rows]

    def set_challenge_tx(self, job_id: str, tx_hash: str) -> None:
        with self.tx():
            self.conn.execute(
                "UPDATE samples SET challenge_tx = ? WHERE job_id = ?", (tx_hash, job_id)
            )


class _Tx:
    """BEGIN IMMEDIATE … COMMIT; nested use joins the outer transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.outer = False

    def __enter__(self) -> None:
        self.outer = not self.conn.in_transaction
        if self.outer:
            self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self.outer:
            return
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
