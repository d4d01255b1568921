"""The one way this project opens an SQLite file.

Every store (index, receipts, service jobs, bridge) is one file shared by several
processes, so every connection gets the same settings:

- ``journal_mode=WAL``: readers never block the writer, and a crash leaves the
  last committed state;
- ``busy_timeout`` 30 s: a writer waits for another process's transaction instead
  of failing with "database is locked";
- ``foreign_keys=ON``: declared references are enforced (SQLite's default is off);
- ``synchronous=FULL``: a transaction that returned from COMMIT survives a power
  loss, not only a process crash. The stores record facts that precede actions
  outside the file (a transaction sent, a job's result posted, a block marked
  indexed), and losing such a record after the action could repeat it; FULL costs
  one fsync of the WAL per commit.
- autocommit mode (``isolation_level=None``): each store opens its transactions
  itself with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import os
import sqlite3

#: seconds a connection waits for a lock held by another connection
BUSY_TIMEOUT_SECONDS = 30

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}",
)


def connect(
    path: str | os.PathLike[str], *, shared_across_threads: bool = False
) -> sqlite3.Connection:
    """Open (creating if missing) the SQLite file at ``path`` with the settings above.

    ``shared_across_threads`` lets one connection be used from threads other than
    the one that opened it (the caller serializes its use). Raises
    ``sqlite3.DatabaseError`` when the file is not a usable database; each store
    turns that into its own :class:`~coprocessor.errors.StoreError`."""
    conn = sqlite3.connect(
        os.fspath(path),
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=not shared_across_threads,
    )
    try:
        for pragma in _PRAGMAS:
            conn.execute(pragma)
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def to_int64(value: int) -> int:
    """A uint64 (chain id, journal block number) as SQLite's signed 64-bit INTEGER:
    values from 2^63 are stored two's-complement (negative), smaller ones as they
    are, so every stored row keeps its meaning. Idempotent; raises OverflowError
    outside ``[-2^63, 2^64)``."""
    if value >= 2**63:
        if value >= 2**64:
            raise OverflowError(f"{value} does not fit in 64 bits")
        return value - 2**64
    return value


def from_int64(value: int) -> int:
    """The uint64 :func:`to_int64` stored."""
    return value + 2**64 if value < 0 else value
