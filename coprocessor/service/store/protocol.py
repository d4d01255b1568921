"""What a job store does: the operations the worker, the API and the batcher perform on
jobs, whichever database keeps them.

Two implementations: :class:`~coprocessor.service.jobs.JobDB` (SQLite, the default,
one file per data directory) and :class:`~coprocessor.service.store.postgres.PgJobStore`
(PostgreSQL, shared by processes on several hosts). Their contract (the same tests run
against both, tests/service_db):

- ``submit`` with an idempotency key returns the key's job when the key was used for
  the same request, raises ``ValueError`` for another request, and creates at most one
  job per key however many processes submit it at once;
- ``claim`` leases the ready job with the smallest ``next_run_at`` that nobody holds (or
  whose lease ran out: takeover) to ``owner`` for ``lease_seconds``; two concurrent
  claims never get the same job while its lease runs;
- every write naming an ``owner`` (``heartbeat``, ``advance``, ``fail``,
  ``retry_later``, ``set_progress``) raises :class:`~coprocessor.service.jobs.LeaseLost`
  when another owner took the job over (fencing);
- ``tx()`` is one transaction; nested use joins the outer one, and an exception rolls
  all of it back.

:class:`ServiceDB` is everything ``coproc serve`` keeps beside the jobs (results, the
feed, posting records, samples, API keys, batches, the on-chain listener's cursor), on
the same two backends: ``JobDB`` and
:class:`~coprocessor.service.store.service_pg.PgServiceDB`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from coprocessor.service.jobs import Job

if TYPE_CHECKING:
    from coprocessor.service.auth import ApiKey
    from coprocessor.service.posting import PostRecords


class JobStore(Protocol):
    """The job queue: submit, lease, heartbeat, takeover, state transitions, attempts."""

    def close(self) -> None: ...

    def tx(self) -> AbstractContextManager[None]:
        """``with store.tx():`` — one transaction (nested use joins the outer one)."""
        ...

    def submit(
        self, request: dict[str, Any], idem_key: str | None, now: float | None = None
    ) -> tuple[Job, bool]:
        """Queue a job, or return the idempotency key's job (``created`` False)."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def all_jobs(self) -> list[Job]: ...

    def counts(self) -> dict[str, int]:
        """Jobs per state (every state present)."""
        ...

    def claim(self, owner: str, lease_seconds: float, now: float | None = None) -> Job | None:
        """Lease the oldest ready job (unleased, or its lease ran out)."""
        ...

    def heartbeat(self, job_id: str, owner: str, lease_seconds: float) -> None:
        """Extend ``owner``'s lease to ``lease_seconds`` from now."""
        ...

    def release(self, job_id: str, owner: str) -> None:
        """Give the lease back: the job is claimable at once."""
        ...

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
        """Commit a stage: the new ``state`` and ``data`` (attempts reset)."""
        ...

    def fail(self, job: Job, owner: str, error: str) -> None:
        """Move the job to its state's ``on_failure`` with the error line."""
        ...

    def retry_later(
        self,
        job: Job,
        owner: str,
        error: str,
        backoff: float,
        backoff_max: float,
        max_attempts: int,
    ) -> bool:
        """Count a failed attempt and reschedule with backoff (False: failed for good)."""
        ...

    def set_progress(self, job: Job, owner: str, progress: dict[str, Any]) -> None:
        """Record stage progress without changing the state."""
        ...


class Rows(Protocol):
    """What ``ServiceDB.execute`` returns (a ``sqlite3`` or ``psycopg`` cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SharedKeys(Protocol):
    """API keys read on every lookup and one token bucket per key for all processes
    (``store.keys.PgKeys``)."""

    def lookup(self, token: str) -> ApiKey | None: ...

    def allow(self, key: ApiKey, now: float | None = None) -> float: ...


class ServiceDB(JobStore, Protocol):
    """Everything a ``coproc serve`` process stores, whichever database keeps it."""

    #: "sqlite" or "postgresql"
    kind: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """One statement of the SQL both engines read, with ``?`` parameters (the
        service's tables have the same names and columns on both)."""
        ...

    def put_result(
        self, subject: str, model_hash: str, block: int, job_id: str, body: str
    ) -> None: ...

    def drop_result_of(self, job_id: str) -> None: ...

    def result(self, subject: str, model_hash: str) -> str | None: ...

    def publish(self, job_id: str, kind: str, generation: int, body: str) -> None:
        """Append to the feed once per (job, kind, generation), inside the caller's
        transaction."""
        ...

    def feed_after(self, seq: int, limit: int = 500) -> list[tuple[int, str, str]]: ...

    def last_feed_seq(self) -> int: ...

    def post_records(self, chain_id: int) -> PostRecords:
        """The exactly-once posting records of transactions sent on ``chain_id``."""
        ...

    def record_sample(
        self,
        job_id: str,
        outcome: str,
        signed_score: int | None,
        proven_score: int | None,
        challenge: dict[str, Any] | None,
    ) -> None: ...

    def sample_counts(self) -> dict[str, int]: ...

    def challenges(self) -> list[dict[str, Any]]: ...

    def set_challenge_tx(self, job_id: str, tx_hash: str) -> None: ...

    def job_ids(self, filters: dict[str, str], limit: int) -> list[str]:
        """Ids of the newest jobs whose ``state`` or request fields (``model``,
        ``subject``, ``mode``, ``destination``) equal ``filters``."""
        ...

    def latest_image_id(self) -> str | None:
        """The image ID of the newest job with a receipt."""
        ...

    def shared_keys(self) -> SharedKeys | None:
        """Keys and rate limits shared by all processes (None: each process keeps its
        own token buckets, ``auth.KeyRing``)."""
        ...
