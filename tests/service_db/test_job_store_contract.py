"""The job store's contract (``coprocessor.service.store.protocol``), run against both
backends: SQLite (``JobDB``) and PostgreSQL (``PgJobStore``) on a throwaway server."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from coprocessor.service.jobs import LeaseLost
from coprocessor.service.store.protocol import JobStore

REQ = {"subject": "0x" + "11" * 20, "model": "m", "block": "latest", "mode": "signed",
       "destination": "none"}  # fmt: skip


def _get(store: JobStore, job_id: str) -> dict[str, Any]:
    job = store.get(job_id)
    assert job is not None
    return {**job.to_json(), "next_run_at": job.next_run_at, "lease_owner": job.lease_owner}


def test_submit_queues_a_job(store: JobStore) -> None:
    job, created = store.submit(REQ, None, now=100.0)
    assert created
    assert (job.state, job.request, job.attempts, job.created_at) == ("queued", REQ, 0, 100.0)
    assert store.get(job.id) == job
    assert store.get("job_" + "00" * 12) is None
    counts = store.counts()
    assert counts["queued"] == 1 and sum(counts.values()) == 1
    assert set(counts) == {"queued", "indexing", "scoring", "signing", "proving", "batching",
                           "posting", "done", "failed"}  # fmt: skip


def test_an_idempotency_key_maps_to_one_job(store: JobStore) -> None:
    a, created_a = store.submit(REQ, "key-1")
    b, created_b = store.submit(dict(reversed(list(REQ.items()))), "key-1")  # same body
    assert created_a and not created_b and a.id == b.id
    with pytest.raises(ValueError, match="another request"):
        store.submit({**REQ, "model": "other"}, "key-1")
    c, created_c = store.submit(REQ, "key-2")
    assert created_c and c.id != a.id
    d, _ = store.submit(REQ, None)
    e, _ = store.submit(REQ, None)
    assert d.id != e.id
    assert len(store.all_jobs()) == 4


def test_claim_takes_the_oldest_ready_job(store: JobStore) -> None:
    late, _ = store.submit(REQ, None, now=200.0)
    early, _ = store.submit(REQ, None, now=100.0)
    store.submit(REQ, None, now=10_000.0)  # not ready at 300
    first = store.claim("a", 10, now=300.0)
    second = store.claim("a", 10, now=300.0)
    assert first is not None and second is not None
    assert (first.id, second.id) == (early.id, late.id)
    assert first.lease_owner == "a"
    assert store.claim("a", 10, now=300.0) is None


def test_a_lease_is_taken_over_only_after_it_runs_out_and_fences_the_old_owner(
    store: JobStore,
) -> None:
    job, _ = store.submit(REQ, None, now=100.0)
    a = store.claim("a", 10, now=100.0)
    assert a is not None
    assert store.claim("b", 10, now=109.5) is None  # a's lease runs until 110
    b = store.claim("b", 10, now=110.5)  # a crashed: b takes over
    assert b is not None and b.id == job.id and b.lease_owner == "b"
    with pytest.raises(LeaseLost):
        store.advance(a, "a", "indexing", {"by": "a"})
    with pytest.raises(LeaseLost):
        store.heartbeat(job.id, "a", 10)
    with pytest.raises(LeaseLost):
        store.set_progress(a, "a", {"stage": "indexing"})
    with pytest.raises(LeaseLost):
        store.retry_later(a, "a", "boom", 1.0, 10.0, 5)
    with pytest.raises(LeaseLost):
        store.fail(a, "a", "boom")
    seen = _get(store, job.id)
    assert (seen["state"], seen["error"], seen["attempts"], seen["lease_owner"]) == (
        "queued", None, 0, "b",
    )  # fmt: skip
    store.advance(b, "b", "indexing", {"by": "b"})
    assert _get(store, job.id)["state"] == "indexing"


def test_a_heartbeat_extends_the_lease(store: JobStore) -> None:
    beating, _ = store.submit(REQ, None, now=time.time() - 2)
    silent, _ = store.submit(REQ, None, now=time.time() - 1)
    assert store.claim("a", 5.0) is not None  # beating (older)
    assert store.claim("a", 5.0) is not None  # silent
    store.heartbeat(beating.id, "a", 1000.0)
    later = time.time() + 100  # both 5 s leases ran out; the heartbeat's has not
    taken = store.claim("b", 10.0, now=later)
    assert taken is not None and taken.id == silent.id
    assert store.claim("b", 10.0, now=later) is None


def test_release_makes_the_job_claimable_at_once_and_only_by_its_owner(store: JobStore) -> None:
    job, _ = store.submit(REQ, None)
    assert store.claim("a", 1000.0) is not None
    assert store.claim("b", 1000.0) is None
    store.release(job.id, "a")
    b = store.claim("b", 1000.0)
    assert b is not None and b.id == job.id
    store.release(job.id, "a")  # a no longer holds it: nothing happens
    assert store.claim("c", 1000.0) is None


def test_advance_commits_state_data_and_lease(store: JobStore) -> None:
    job, _ = store.submit(REQ, None)
    a = store.claim("a", 1000.0)
    assert a is not None
    store.advance(a, "a", "indexing", {"block": 7}, generation=3)
    seen = _get(store, job.id)
    assert (seen["state"], seen["block"], seen["reorgs"], seen["lease_owner"]) == (
        "indexing", 7, 3, "a",
    )  # fmt: skip
    assert store.claim("b", 1000.0) is None  # a keeps its lease
    store.advance(a, "a", "scoring", {"block": 7}, keep_lease=False)
    assert _get(store, job.id)["lease_owner"] is None
    b = store.claim("b", 1000.0)
    assert b is not None and b.state == "scoring" and b.generation == 3
    store.advance(b, "b", "done", {"block": 7, "score": 42})
    seen = _get(store, job.id)
    assert (seen["state"], seen["score"], seen["lease_owner"]) == ("done", 42, None)
    assert set(seen["timestamps"]) == {"queued", "indexing", "scoring", "done"}
    assert store.claim("c", 1000.0, now=time.time() + 10_000) is None  # final
    assert store.counts()["done"] == 1
    with pytest.raises(ValueError, match="unknown state"):
        store.advance(b, "b", "sleeping", {})


def test_retry_later_backs_off_then_fails(store: JobStore) -> None:
    job, _ = store.submit(REQ, None)
    a = store.claim("a", 1000.0)
    assert a is not None
    before = time.time()
    assert store.retry_later(a, "a", "boom 1", 50.0, 70.0, 3)
    seen = _get(store, job.id)
    assert (seen["attempts"], seen["error"], seen["lease_owner"]) == (1, "boom 1", None)
    assert before + 50.0 <= seen["next_run_at"] <= time.time() + 50.0
    assert store.claim("b", 1000.0) is None  # not due yet
    b = store.claim("b", 1000.0, now=seen["next_run_at"])
    assert b is not None and b.attempts == 1
    before = time.time()
    assert store.retry_later(b, "b", "boom 2", 50.0, 70.0, 3)  # 100 s capped at 70
    seen = _get(store, job.id)
    assert seen["attempts"] == 2
    assert before + 70.0 <= seen["next_run_at"] <= time.time() + 70.0
    c = store.claim("c", 1000.0, now=seen["next_run_at"])
    assert c is not None
    assert not store.retry_later(c, "c", "boom 3", 50.0, 70.0, 3)
    seen = _get(store, job.id)
    assert (seen["state"], seen["error"], seen["attempts"]) == (
        "failed", "boom 3 (after 3 attempts)", 3,
    )  # fmt: skip
    assert seen["lease_owner"] is None


def test_a_failed_job_keeps_its_attempts(store: JobStore) -> None:
    """Issue #20 item 6: ``attempts`` counts the failed runs of the stage, the failing
    one included; failing does not reset it to 0."""
    first, _ = store.submit(REQ, None)
    a = store.claim("a", 1000.0)
    assert a is not None
    store.fail(a, "a", "indexing: bad request")  # fails at its first run
    seen = _get(store, first.id)
    assert (seen["state"], seen["attempts"]) == ("failed", 1)
    second, _ = store.submit(REQ, None)
    b = store.claim("b", 1000.0)
    assert b is not None and b.id == second.id
    assert store.retry_later(b, "b", "node", 0.0, 0.0, 5)
    c = store.claim("c", 1000.0, now=time.time() + 1)
    assert c is not None and c.id == second.id and c.attempts == 1
    store.fail(c, "c", "indexing: bad request")  # a permanent failure at its second run
    seen = _get(store, second.id)
    assert (seen["state"], seen["error"], seen["attempts"]) == (
        "failed", "indexing: bad request", 2,
    )  # fmt: skip


def test_fail_and_progress(store: JobStore) -> None:
    job, _ = store.submit(REQ, None)
    a = store.claim("a", 1000.0)
    assert a is not None
    store.set_progress(a, "a", {"stage": "queued", "cycles": 12})
    assert _get(store, job.id)["progress"] == {"stage": "queued", "cycles": 12}
    store.fail(a, "a", "admit: no such model")
    seen = _get(store, job.id)
    assert (seen["state"], seen["error"], seen["lease_owner"]) == (
        "failed", "admit: no such model", None,
    )  # fmt: skip
    with pytest.raises(ValueError, match="already"):
        store.fail(a, "a", "again")


def test_a_transaction_rolls_back_as_a_whole(store: JobStore) -> None:
    job, _ = store.submit(REQ, None)
    a = store.claim("a", 1000.0)
    assert a is not None
    with pytest.raises(RuntimeError), store.tx():
        with store.tx():  # joins the outer transaction
            store.advance(a, "a", "indexing", {"block": 1})
        store.set_progress(a, "a", {"stage": "indexing"})
        raise RuntimeError("stage crashed before commit")
    seen = _get(store, job.id)
    assert (seen["state"], seen["block"], seen["progress"]) == ("queued", None, {})


def test_concurrent_claimers_never_share_a_job(open_store: Callable[[], JobStore]) -> None:
    stores = [open_store() for _ in range(4)]
    ids = {stores[0].submit(REQ, None)[0].id for _ in range(60)}
    claimed: list[str] = []
    start = threading.Barrier(len(stores))

    def claimer(store: JobStore, owner: str) -> None:
        start.wait()
        while (job := store.claim(owner, 1000.0)) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(s, f"w{i}")) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(claimed) == Counter(ids)  # every job once, none twice


def test_concurrent_submits_of_one_key_create_one_job(
    open_store: Callable[[], JobStore],
) -> None:
    stores = [open_store() for _ in range(4)]
    start = threading.Barrier(len(stores))
    results: list[tuple[str, bool]] = []

    def submitter(store: JobStore) -> None:
        start.wait()
        job, created = store.submit(REQ, "same-key")
        results.append((job.id, created))

    threads = [threading.Thread(target=submitter, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert len(stores[0].all_jobs()) == 1
