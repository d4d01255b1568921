"""API keys and rate limits on PostgreSQL (``store/keys.py``): a revocation and a key's
token bucket hold for every connection (each one a process's)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coprocessor.errors import UserInputError
from coprocessor.service.store.database import migrate_database
from coprocessor.service.store.keys import PgKeys
from coprocessor.service.store.postgres import PgJobStore


@pytest.fixture
def connect(pg_url: str, tmp_path: Path) -> Iterator[Callable[[], PgKeys]]:
    """Opens connections to one migrated database, as separate processes would."""
    migrate_database(pg_url, tmp_path)
    opened: list[PgJobStore] = []

    def new() -> PgKeys:
        opened.append(PgJobStore(pg_url))
        return PgKeys(opened[-1])

    yield new
    for store in opened:
        store.close()


def test_a_key_created_or_revoked_anywhere_counts_everywhere(
    connect: Callable[[], PgKeys],
) -> None:
    a, b = connect(), connect()
    token = a.create("bot", 5.0, 10)
    key_id, secret = token.removeprefix("cpk_").split("_")
    seen = b.lookup(token)
    assert seen is not None and (seen.id, seen.name, seen.rate, seen.burst) == (
        key_id, "bot", 5.0, 10,
    )  # fmt: skip
    assert b.lookup(f"cpk_{key_id}_{'0' * 64}") is None  # wrong secret
    assert b.lookup(f"cpk_{key_id}") is None and b.lookup("Bearer x") is None
    assert secret not in {k.key_hash for k in b.all()}  # only the hash is stored
    a.revoke(key_id)
    assert b.lookup(token) is None
    assert [k.revoked for k in b.all()] == [True]
    with pytest.raises(UserInputError, match="no API key"):
        b.revoke("ffffffff")
    with pytest.raises(UserInputError, match="burst"):
        a.create("bot", 1.0, 0)


def test_the_bucket_refills_at_the_rate_up_to_the_burst(connect: Callable[[], PgKeys]) -> None:
    keys = connect()
    token = keys.create("bot", 2.0, 3)
    key = keys.lookup(token)
    assert key is not None
    assert [keys.allow(key, now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert keys.allow(key, now=100.0) == pytest.approx(0.5)  # 1 token / 2 per s
    assert keys.allow(key, now=100.25) == pytest.approx(0.25)
    assert keys.allow(key, now=100.5) == 0.0
    assert keys.allow(key, now=1000.0) == 0.0  # refilled to the burst (3), not beyond
    assert keys.allow(key, now=1000.0) == 0.0
    assert keys.allow(key, now=1000.0) == 0.0
    assert keys.allow(key, now=1000.0) > 0.0


def test_four_connections_together_admit_the_burst_once(connect: Callable[[], PgKeys]) -> None:
    burst = 50
    conns = [connect() for _ in range(4)]
    key = conns[0].lookup(conns[0].create("bot", 1e-6, burst))  # ~no refill during the test
    assert key is not None
    admitted: list[int] = []
    start = threading.Barrier(len(conns))

    def hammer(keys: PgKeys) -> None:
        start.wait()
        admitted.append(sum(keys.allow(key) == 0.0 for _ in range(40)))

    threads = [threading.Thread(target=hammer, args=(k,)) for k in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == burst  # an in-memory bucket per process would admit 4 x 40 = 160
