"""The service's two database backends for tests that run a real service on each:
SQLite (``service.sqlite`` in the data directory, the default) and PostgreSQL (a fresh,
migrated database on a throwaway server of ``pg_support``). A test asks for the
``backend`` fixture (``tests/conftest.py``), puts ``backend.database_url`` into its
service config and reads the service's tables with ``backend.rows``."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from coprocessor.service.config import DATABASE_URL_ENV
from coprocessor.service.store.database import migrate_database, open_service_db
from coprocessor.service.store.protocol import ServiceDB

if TYPE_CHECKING:
    from pg_support import PostgresServer

BACKENDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class Backend:
    """One backend of a test: its ``database_url`` (``""``: SQLite in ``data_dir``)."""

    name: str
    database_url: str
    data_dir: Path

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of one read-only query (no parameters) on the service's database."""
        if self.name == "postgres":
            with psycopg.connect(self.database_url, autocommit=True) as pg:
                return [tuple(r) for r in pg.execute(sql.encode()).fetchall()]
        path = self.data_dir / "service.sqlite"
        lite = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return [tuple(r) for r in lite.execute(sql).fetchall()]
        finally:
            lite.close()

    def dump(self) -> bytes:
        """Everything stored: the SQLite file and its WAL as bytes, or every row of every
        PostgreSQL table as text."""
        if self.name == "postgres":
            tables = self.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
            found = [str(r) for (t,) in tables for r in self.rows(f'SELECT t::text FROM "{t}" t')]
            return "\n".join(found).encode()
        files = (self.data_dir / "service.sqlite", self.data_dir / "service.sqlite-wal")
        return b"".join(f.read_bytes() for f in files if f.exists())

    def states(self) -> Counter[str]:
        """Jobs per state."""
        return Counter(str(s) for (s,) in self.rows("SELECT state FROM jobs"))


def make_backend(name: str, data_dir: Path, pg_url: str | None) -> Backend:
    """``name``'s backend for a service on ``data_dir``; PostgreSQL: ``pg_url`` (a new
    database) migrated first, as an operator would with ``coproc db migrate``."""
    if name == "sqlite":
        return Backend(name, "", data_dir)
    assert pg_url is not None
    migrate_database(pg_url, data_dir)
    return Backend(name, pg_url, data_dir)


def default_backend(data_dir: Path) -> Backend:
    """The backend a service on ``data_dir`` uses when its config names none: PostgreSQL
    when the suite runs with ``--service-backend postgres`` (``$COPROC_DATABASE_URL``),
    else SQLite in ``data_dir``."""
    url = os.environ.get(DATABASE_URL_ENV, "")
    return Backend("postgres" if url else "sqlite", url, data_dir)


def default_store(data_dir: Path) -> ServiceDB:
    """The service database of ``default_backend`` opened in this process (close it)."""
    return open_service_db(os.environ.get(DATABASE_URL_ENV, ""), data_dir)


def migrated_template_database(server: PostgresServer) -> str:
    """A new database on ``server`` migrated to this code's schema, for copies: its name."""
    url = server.new_database()
    migrate_database(url, Path("/nonexistent"))  # PostgreSQL: the data directory is unused
    name = url.split("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(server.url(), autocommit=True) as pg:
        pg.execute(
            f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false'.encode()
        )
    return name


def database_from_template(server: PostgresServer, template: str) -> str:
    """A new database on ``server``, a copy of ``template``: its URL."""
    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(server.url(), autocommit=True) as pg:
        sql = f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY'
        pg.execute(sql.encode())
    return server.url(name)


def drop_database(server: PostgresServer, url: str) -> None:
    """Drop the database of ``url`` on ``server`` (closing what is still connected)."""
    name = url.split("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(server.url(), autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
