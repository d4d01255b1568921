"""The service's two database backends for tests that run a real service on each:
SQLite (``service.sqlite`` in the data directory, the default) and PostgreSQL (a fresh,
migrated database on a throwaway server of ``pg_support``). A test asks for the
``backend`` fixture (``tests/conftest.py``), puts ``backend.database_url`` into its
service config and reads the service's tables with ``backend.rows``."""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from coprocessor.service.store.database import migrate_database

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
