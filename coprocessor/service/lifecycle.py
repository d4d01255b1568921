"""The job lifecycle as data: the states, and one table saying which stage runs in each
state and which state follows success, failure and a reorg.

A job passes the rows in order and skips a row whose ``when`` does not hold for it; so
success moves it to the next row it needs. A transient error re-runs the same stage
later (``JobDB.retry_later``); a permanent one, or running out of attempts, moves it to
``on_failure``. A stage with ``on_reorg`` first checks that the job's anchor block is
still canonical, and if not drops the job's outputs and moves it there. The worker
dispatches by this table; docs/api.md shows it (``scripts/gen_lifecycle_doc.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class State(StrEnum):
    """A job's state, as stored in ``jobs.state`` and shown by the API."""

    QUEUED = "queued"
    INDEXING = "indexing"
    SCORING = "scoring"
    SIGNING = "signing"
    PROVING = "proving"
    BATCHING = "batching"
    POSTING = "posting"
    DONE = "done"
    FAILED = "failed"


class Stage(StrEnum):
    """The work a worker does for a job in one state (``Runtime.step``)."""

    ADMIT = "admit"
    INDEX = "index"
    SCORE = "score"
    SIGN = "sign"
    PROVE = "prove"
    BATCH = "batch"
    POST = "post"


class When(StrEnum):
    """Which jobs enter a state."""

    ALWAYS = "every job"
    PROOF = "`mode` `proven` or `both`, or a sampled `signed` job; not batched"
    BATCH = "`mode` `proven` or `both` when the service batches (`batch_max_size` > 0)"
    DESTINATION = "`destination` `l1` or `l2`"
    FAILURE = "a job that failed"


@dataclass(frozen=True)
class Row:
    state: State
    stage: Stage | None  # None: final
    when: When
    on_failure: State | None
    on_reorg: State | None


_FAIL, _REINDEX = State.FAILED, State.INDEXING
TABLE = (
    Row(State.QUEUED, Stage.ADMIT, When.ALWAYS, on_failure=_FAIL, on_reorg=None),
    Row(State.INDEXING, Stage.INDEX, When.ALWAYS, on_failure=_FAIL, on_reorg=None),
    Row(State.SCORING, Stage.SCORE, When.ALWAYS, on_failure=_FAIL, on_reorg=None),
    Row(State.SIGNING, Stage.SIGN, When.ALWAYS, on_failure=_FAIL, on_reorg=_REINDEX),
    Row(State.PROVING, Stage.PROVE, When.PROOF, on_failure=_FAIL, on_reorg=_REINDEX),
    Row(State.BATCHING, Stage.BATCH, When.BATCH, on_failure=_FAIL, on_reorg=_REINDEX),
    Row(State.POSTING, Stage.POST, When.DESTINATION, on_failure=_FAIL, on_reorg=_REINDEX),
    Row(State.DONE, None, When.ALWAYS, on_failure=None, on_reorg=None),
    Row(State.FAILED, None, When.FAILURE, on_failure=None, on_reorg=None),
)
FINAL = frozenset(r.state for r in TABLE if r.stage is None)
ACTIVE = tuple(r.state for r in TABLE if r.stage is not None)


class JobView(Protocol):
    """What the lifecycle reads of a job (``jobs.Job``)."""

    @property
    def state(self) -> str: ...
    @property
    def request(self) -> Mapping[str, Any]: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


def row_of(state: str) -> Row:
    return next(r for r in TABLE if r.state == state)


def enters(when: When, request: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """Whether a job with this request and data enters a state of this ``when``."""
    receipt = request["mode"] in ("proven", "both")
    if when is When.PROOF:
        return (receipt and not data.get("batched")) or (not receipt and bool(data.get("sampled")))
    if when is When.BATCH:
        return receipt and bool(data.get("batched"))
    if when is When.DESTINATION:
        return bool(request["destination"] != "none")
    return when is When.ALWAYS


def path(request: Mapping[str, Any], data: Mapping[str, Any]) -> tuple[State, ...]:
    """The states a job passes when every stage succeeds, in order."""
    return tuple(r.state for r in TABLE if enters(r.when, request, data))


def next_state(job: JobView, data: Mapping[str, Any] | None = None) -> State:
    """The state after ``job.state`` succeeds; ``data``: what the stage commits."""
    states = path(job.request, job.data if data is None else data)
    return states[states.index(State(job.state)) + 1]


def is_final(state: str) -> bool:
    return state in FINAL
