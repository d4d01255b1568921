"""The one way this project opens a PostgreSQL connection (the twin of ``sqlite.py``).

The job store (``service/store/postgres.py``) and the verified-data cache
(``index/store_pg.py``) live in one PostgreSQL database and connect the same way:

- autocommit mode: each store opens its transactions itself (``conn.transaction()``);
- a connect timeout of 10 s, so an unreachable server is a one-line error, not a hang;
- a database error becomes a one-line :class:`~coprocessor.errors.StoreError` naming the
  store and the database, with the password never in the message;
- a broken connection is closed and the next operation reconnects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import TupleRow

from coprocessor.errors import StoreError

Conn = psycopg.Connection[TupleRow]

#: seconds a connection attempt waits for the server
CONNECT_TIMEOUT_SECONDS = 10


def redacted(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    url = re.sub(r"(://[^:/@?]*):[^@/?]*@", r"\1:***@", url)
    # a URI query parameter ends at the next &
    url = re.sub(r"([?&]password=)[^&]*", r"\1***", url)
    # a keyword/value password: quoted ('a b', with \' and \\ escapes) or bare
    return re.sub(r"((?:^|\s)password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", r"\1***", url)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def connect(url: str) -> Conn:
    """A new autocommit connection to ``url``; raises ``psycopg.Error``."""
    return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)


def database_error(url: str, exc: BaseException) -> StoreError:
    """``exc`` as the one-line error of a one-off operation on the database at ``url``."""
    return StoreError(f"database {redacted(url)}: {first_line(exc)}")


class PgConnection:
    """One lazily opened connection to the database at ``url`` (use one per thread).

    ``where`` names the store in error messages (``"job store"``, ``"chain cache"``)."""

    def __init__(self, url: str, where: str) -> None:
        self.url = url
        self.where = f"{where} {redacted(url)}"
        self._conn: Conn | None = None

    @property
    def conn(self) -> Conn:
        """The connection, reopened if the last one broke."""
        if self._conn is None or self._conn.closed:
            try:
                self._conn = connect(self.url)
            except psycopg.Error as exc:
                raise StoreError(f"{self.where}: {first_line(exc)}") from None
        return self._conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors as ``StoreError`` (one line, naming the store)."""
        try:
            yield
        except psycopg.Error as exc:
            if self._conn is not None and self._conn.broken:
                self._conn.close()
            raise StoreError(f"{self.where}: {first_line(exc)}") from None

    def close(self) -> None:
        """Close the connection (the next operation reopens it)."""
        if self._conn is not None:
            self._conn.close()
