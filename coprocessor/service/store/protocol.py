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
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from coprocessor.service.jobs import Job


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
