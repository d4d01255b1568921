"""``attempts`` counts the failed runs of a job's current stage: a failed job keeps
the count (it read 0 before, whatever had happened), and a takeover after another
worker's crash is not an attempt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from service_backends import default_store

from coprocessor.service.store.protocol import ServiceDB

REQ = {"subject": "0x" + "11" * 20, "model": "m", "block": "latest", "mode": "signed",
       "destination": "none"}  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ServiceDB]:
    """The suite's default service database (``--service-backend``), empty."""
    store = default_store(tmp_path)
    yield store
    store.close()


def test_a_permanent_failure_at_the_first_run_is_one_attempt(db: ServiceDB) -> None:
    job, _ = db.submit(REQ, None)
    claimed = db.claim("w", 30)
    assert claimed is not None
    db.fail(claimed, "w", "indexing: bad request")
    final = db.get(job.id)
    assert final is not None and (final.state, final.attempts) == ("failed", 1)
    assert final.to_json()["attempts"] == 1


def test_failing_after_retries_keeps_the_count(db: ServiceDB) -> None:
    job, _ = db.submit(REQ, None)
    for expected_alive in (True, True, False):
        claimed = db.claim("w", 30, now=10**10)
        assert claimed is not None
        assert db.retry_later(claimed, "w", "node", 0.0, 0.0, max_attempts=3) is expected_alive
    final = db.get(job.id)
    assert final is not None and (final.state, final.attempts) == ("failed", 3)
    assert final.error == "node (after 3 attempts)"


def test_a_takeover_is_not_an_attempt(db: ServiceDB) -> None:
    job, _ = db.submit(REQ, None, now=100.0)
    first = db.claim("crashed", 1.0, now=1000.0)
    assert first is not None  # its worker dies holding the lease
    assert db.claim("peer", 30, now=1000.5) is None  # the lease still holds
    taken = db.claim("peer", 30, now=1001.5)
    assert taken is not None and taken.id == job.id and taken.attempts == 0
    again = db.get(job.id)
    assert again is not None and again.attempts == 0 and again.error is None
