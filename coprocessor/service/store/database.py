"""Which database keeps the jobs and the rest of the service's state: the service
config's ``database_url``.

- ``""`` (default): SQLite, ``<data dir>/service.sqlite``;
- ``sqlite:PATH`` (``sqlite:///abs/path`` too): SQLite at PATH (relative paths count
  from the data directory);
- ``postgresql://…`` / ``postgres://…``: PostgreSQL (a libpq URL).

The indexer's verified-data cache follows it: on PostgreSQL it lives in the same
database (the ``chain_`` tables, ``index/store_pg.py``), shared by every process on
every host; otherwise it stays the SQLite file ``<data dir>/coproc.sqlite`` of each
host, whatever SQLite file keeps the jobs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from coprocessor.errors import StoreError, UserInputError
from coprocessor.service import jobs
from coprocessor.service.config import (
    POSTGRES_SCHEMES,
    check_database_url,
    sqlite_path,
)
from coprocessor.service.jobs import JobDB
from coprocessor.service.store.migrations import refuse_newer
from coprocessor.service.store.protocol import JobStore, ServiceDB
from coprocessor.sqlite import connect as sqlite_connect

if TYPE_CHECKING:  # the index layer is imported only when the cache is opened
    from coprocessor.index.store import ChainCache

DEFAULT_SQLITE_FILE = "service.sqlite"
#: the verified-data cache of a data directory when the service is on SQLite
CHAIN_CACHE_FILE = "coproc.sqlite"


@dataclass(frozen=True)
class Database:
    """A parsed ``database_url``: ``kind`` "sqlite" (``path``) or "postgresql" (``url``)."""

    kind: str
    path: Path | None = None
    url: str = field(default="", repr=False)


def parse_database_url(url: str, data_dir: Path) -> Database:
    check_database_url(url)
    if url.startswith(POSTGRES_SCHEMES):
        return Database("postgresql", url=url)
    if not url:
        return Database("sqlite", path=data_dir / DEFAULT_SQLITE_FILE)
    return Database("sqlite", path=data_dir / sqlite_path(url))


def service_sqlite_path(url: str, data_dir: Path) -> Path:
    """The SQLite file of a SQLite ``database_url`` (a PostgreSQL one has none)."""
    db = parse_database_url(url, data_dir)
    if db.path is None:
        raise UserInputError("config: database_url names PostgreSQL, not a SQLite file")
    return db.path


def open_service_db(url: str, data_dir: Path) -> ServiceDB:
    """Everything ``coproc serve`` stores, in the database ``url`` names (PostgreSQL:
    it must be migrated to this code's schema; SQLite: created on first use)."""
    db = parse_database_url(url, data_dir)
    if db.kind == "postgresql":
        from coprocessor.service.store.service_pg import PgServiceDB

        return PgServiceDB(db.url)
    assert db.path is not None
    return JobDB(db.path)


def open_job_store(url: str, data_dir: Path) -> JobStore:
    """The job store ``url`` names (PostgreSQL: migrated to this code's schema)."""
    db = parse_database_url(url, data_dir)
    if db.kind == "postgresql":
        from coprocessor.service.store.postgres import PgJobStore

        return PgJobStore(db.url)
    assert db.path is not None
    return JobDB(db.path)


def open_chain_cache(url: str, data_dir: Path) -> ChainCache:
    """The indexer's verified-data cache: on PostgreSQL, the ``chain_`` tables of the
    database ``url`` names (migrated to this code's cache schema); else the SQLite
    store ``<data dir>/coproc.sqlite`` (created on first use)."""
    db = parse_database_url(url, data_dir)
    if db.kind == "postgresql":
        from coprocessor.index.store_pg import PgStore

        return PgStore(db.url)
    from coprocessor.index.store import Store

    return Store(data_dir / CHAIN_CACHE_FILE)


@dataclass(frozen=True)
class Migrated:
    """What ``migrate_database`` did: the backend, its schema version, the versions
    applied; on PostgreSQL also the verified-data cache's (``chain_`` tables)."""

    kind: str
    version: int
    applied: list[int]
    cache_version: int | None = None
    cache_applied: list[int] = field(default_factory=list)


def migrate_database(url: str, data_dir: Path) -> Migrated:
    """Bring the database ``url`` names to this code's schema, refusing a newer one
    (PostgreSQL: the verified-data cache's tables too)."""
    db = parse_database_url(url, data_dir)
    if db.kind == "postgresql":
        from coprocessor.index.store_pg import migrate_chain_cache
        from coprocessor.service.store.postgres import migrate_url

        version, applied = migrate_url(db.url)
        cache_version, cache_applied = migrate_chain_cache(db.url)
        return Migrated("postgresql", version, applied, cache_version, cache_applied)
    assert db.path is not None
    found = sqlite_schema_version(db.path)
    refuse_newer(found, jobs.SCHEMA_VERSION)
    JobDB(db.path).close()  # creates the tables (the SQLite schema has one version)
    return Migrated("sqlite", jobs.SCHEMA_VERSION, [] if found else [jobs.SCHEMA_VERSION])


def sqlite_schema_version(path: Path) -> int:
    """The schema version recorded in the SQLite service database (0: none yet)."""
    if not path.exists():
        return 0
    try:
        conn = sqlite_connect(path)
        try:
            row = conn.execute("SELECT value FROM svc_meta WHERE key = 'schema'").fetchone()
        except sqlite3.OperationalError:  # no svc_meta table: an empty file
            return 0
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"service database {path}: {exc}") from None
    return 0 if row is None else int(row[0])


def schema_status(url: str, data_dir: Path) -> tuple[str, int, int]:
    """(backend, the database's schema version, this code's), changing nothing."""
    db = parse_database_url(url, data_dir)
    if db.kind == "postgresql":
        from coprocessor.service.store.migrations import SCHEMA_VERSION
        from coprocessor.service.store.postgres import schema_of_url

        return "postgresql", schema_of_url(db.url), SCHEMA_VERSION
    assert db.path is not None
    return "sqlite", sqlite_schema_version(db.path), jobs.SCHEMA_VERSION
