"""Fixtures of the service tests: a throwaway PostgreSQL server for the session (started
only when a test runs on that backend) and ``backend``, once per database backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_support import PostgresServer, postgres_server
from service_backends import BACKENDS, Backend, make_backend


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server (initdb + pg_ctl in a temporary directory) for the session."""
    with postgres_server() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The service database of a test whose service keeps its files in ``tmp_path /
    "data"``: SQLite there, or a new migrated PostgreSQL database."""
    pg_url = None
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("pg_server")
        pg_url = server.new_database()
    return make_backend(request.param, tmp_path / "data", pg_url)
