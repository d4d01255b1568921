"""Fixtures of the job-store tests: one throwaway PostgreSQL server per session
(``pg_support``), a fresh database per test, and ``job_store`` over both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_support import PostgresServer, postgres_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server (initdb + pg_ctl in a temporary directory) for the session."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.new_database()
