"""Batch membership under concurrency, on both backends (``service/batching.py``).

The 10,000-job soak (``bench/service_soak.py``) found 6 jobs failed with "not among the
proven members": on PostgreSQL a job chose an open batch and joined it while another
process closed that batch and its prover read the members, so the proof left the job
out. Joining now holds the batch row until the membership commits; closing waits."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from coprocessor.service import batching
from coprocessor.service.jobs import Job
from coprocessor.service.lifecycle import State
from coprocessor.service.store.database import open_service_db
from coprocessor.service.store.protocol import ServiceDB

if TYPE_CHECKING:
    from coprocessor.service.worker import Runtime

MODEL = "0x" + "ab" * 32
BLOCK = 1234
#: how long the closer gets to run while the joining transaction is still open: without
#: the lock it closes and reads the members within this window
WINDOW = 2.0


def _job(n: int) -> Job:
    now = time.time()
    return Job(
        id=f"job_{n:024x}",
        request={"model": MODEL, "subject": "0x" + f"{n:040x}", "mode": "proven"},
        state=State.BATCHING,
        attempts=0,
        next_run_at=now,
        lease_owner=None,
        created_at=now,
        updated_at=now,
        timestamps={},
        error=None,
        data={"block": BLOCK},
        generation=0,
    )


def _batcher(db: ServiceDB, max_size: int = 64) -> batching.Batcher:
    config = SimpleNamespace(batch_max_size=max_size, batch_wait_seconds=0.0, lease_seconds=5.0)
    return batching.Batcher(cast("Runtime", SimpleNamespace(db=db, config=config)))


def test_a_batch_does_not_close_between_a_join_and_its_commit(
    store_url: str, tmp_path: Path
) -> None:
    joiner_db = open_service_db(store_url, tmp_path)
    closer_db = open_service_db(store_url, tmp_path)
    try:
        joiner, closer = _batcher(joiner_db), _batcher(closer_db)
        first = joiner._join(_job(1))  # committed: the batch is open with one member
        seen: list[list[str]] = []

        def close_and_read() -> None:
            # what a prover does: close the batch, then read whom to prove
            closer._maybe_close(batching._batch(closer_db, first))
            seen.append([j for j, _g, _s in batching.members(closer_db, first)])

        with joiner_db.tx():
            assert joiner._join(_job(2)) == first
            thread = threading.Thread(target=close_and_read)
            thread.start()
            thread.join(WINDOW)
        thread.join(60)
        assert not thread.is_alive()
        assert batching._batch(closer_db, first).state == batching.CLOSED
        assert seen == [[_job(1).id, _job(2).id]]
    finally:
        joiner_db.close()
        closer_db.close()


def test_a_job_arriving_after_the_close_opens_a_new_batch(store_url: str, tmp_path: Path) -> None:
    db = open_service_db(store_url, tmp_path)
    try:
        batcher = _batcher(db)
        first = batcher._join(_job(1))
        assert batcher._maybe_close(batching._batch(db, first)).state == batching.CLOSED
        second = batcher._join(_job(2))
        assert second != first
        assert [j for j, _g, _s in batching.members(db, first)] == [_job(1).id]
        assert [j for j, _g, _s in batching.members(db, second)] == [_job(2).id]
    finally:
        db.close()


def test_concurrent_joins_fill_batches_to_their_size_and_no_further(
    store_url: str, tmp_path: Path
) -> None:
    size, threads, each = 5, 4, 12
    dbs = [open_service_db(store_url, tmp_path) for _ in range(threads)]
    try:
        batchers = [_batcher(db, size) for db in dbs]
        batchers[0]._join(_job(0))
        errors: list[BaseException] = []

        def join_all(k: int) -> None:
            try:
                for i in range(each):
                    batchers[k]._join(_job(1 + k * each + i))
            except BaseException as exc:  # reported below
                errors.append(exc)

        workers = [threading.Thread(target=join_all, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        assert errors == []
        rows = (
            dbs[0]
            .execute("SELECT batch_id, COUNT(*) FROM batch_members GROUP BY batch_id")
            .fetchall()
        )
        sizes = sorted(int(n) for _b, n in rows)
        assert sum(sizes) == 1 + threads * each
        assert max(sizes) <= size
    finally:
        for db in dbs:
            db.close()
