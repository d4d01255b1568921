"""Fixtures of the job-store tests: a fresh database per test on the session's
throwaway PostgreSQL server (``pg_server``, tests/conftest.py), and ``job_store`` over
both backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_support import PostgresServer

from coprocessor.service.store.database import migrate_database, open_job_store
from coprocessor.service.store.protocol import JobStore


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty job store's ``database_url``, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:{tmp_path / 'service.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    migrate_database(url, tmp_path)
    return url


@pytest.fixture
def open_store(store_url: str, tmp_path: Path) -> Iterator[Callable[[], JobStore]]:
    """Opens connections to the test's store (each its own; all closed at the end)."""
    opened: list[JobStore] = []

    def new() -> JobStore:
        opened.append(open_job_store(store_url, tmp_path))
        return opened[-1]

    yield new
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], JobStore]) -> JobStore:
    """One connection to the test's job store."""
    return open_store()
