"""API keys and their rate limits on PostgreSQL, shared by every process.

The SQLite service keeps keys in ``service.sqlite`` and its token buckets in each
process's memory (``auth.KeyRing``), so N processes together admit N times a key's rate.
Here:

- keys live in ``api_keys`` (the same ``cpk_<id>_<secret>`` keys, only
  ``sha256(secret)`` stored); ``lookup`` reads the row, so a key revoked by any process
  is refused by every process from its next lookup;
- a key's token bucket is one ``rate_buckets`` row, refilled and taken from in a single
  ``INSERT … ON CONFLICT DO UPDATE`` (the row's lock serializes takers), with the
  database server's clock: all processes together admit ``burst`` at once and ``rate``
  per second.

``coproc serve`` on PostgreSQL checks every request's key with ``lookup`` and ``allow``
(``auth.KeyRing``): two single statements, one round trip each, on a connection of
their own that does not wait for WAL flushes (``store.service_pg``).
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

from coprocessor.errors import UserInputError
from coprocessor.service.auth import PREFIX, ApiKey, _hash
from coprocessor.service.store.postgres import PgJobStore

_REFILL = (
    "LEAST(%(burst)s::float8, b.tokens + "
    "GREATEST(0, EXCLUDED.updated_at - b.updated_at) * %(rate)s::float8)"
)
_TAKE = (
    "WITH t AS (SELECT COALESCE(%(now)s::float8, extract(epoch FROM clock_timestamp())::float8) "
    "AS now) "
    "INSERT INTO rate_buckets AS b (key_id, tokens, updated_at, taken) "
    "SELECT %(id)s, %(burst)s::float8 - 1.0, now, true FROM t "
    "ON CONFLICT (key_id) DO UPDATE SET "
    f"taken = {_REFILL} >= 1.0, "
    f"tokens = {_REFILL} - CASE WHEN {_REFILL} >= 1.0 THEN 1.0 ELSE 0.0 END, "
    "updated_at = GREATEST(b.updated_at, EXCLUDED.updated_at) "
    "RETURNING taken, tokens"
)
_KEY_COLUMNS = "id, name, key_hash, rate, burst, revoked"


def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(row[0], row[1], row[2], float(row[3]), int(row[4]), bool(row[5]))


class PgKeys:
    """API keys and shared token buckets, on the job store's connection."""

    def __init__(self, store: PgJobStore) -> None:
        self.store = store

    def create(self, name: str, rate: float, burst: int) -> str:
        """Store a new key; returns the full key (shown once, never stored)."""
        if not name or len(name) > 64:
            raise UserInputError("key name must be 1..64 characters")
        if rate <= 0 or burst < 1:
            raise UserInputError("rate must be positive and burst at least 1")
        key_id, secret = secrets.token_hex(4), secrets.token_hex(32)
        with self.store.tx():
            self.store.conn.execute(
                "INSERT INTO api_keys (id, name, key_hash, rate, burst, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (key_id, name, _hash(secret), rate, burst, time.time()),
            )
        return f"{PREFIX}{key_id}_{secret}"

    def revoke(self, key_id: str) -> None:
        with self.store.tx():
            cur = self.store.conn.execute(
                "UPDATE api_keys SET revoked = true WHERE id = %s", (key_id,)
            )
        if cur.rowcount == 0:
            raise UserInputError(f"no API key with id {key_id!r}")

    def all(self) -> list[ApiKey]:
        with self.store.tx():
            rows = self.store.conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at"
            ).fetchall()
        return [_key(r) for r in rows]

    def lookup(self, token: str) -> ApiKey | None:
        """The active key for ``token`` (revoked, unknown or wrong secret: None)."""
        if not token.startswith(PREFIX):
            return None
        key_id, sep, secret = token[len(PREFIX) :].partition("_")
        if not sep:
            return None
        row = self.store.conn.execute(  # one statement: its own transaction
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = %s", (key_id,)
        ).fetchone()
        if row is None:
            return None
        key = _key(row)
        if key.revoked or not hmac.compare_digest(key.key_hash, _hash(secret)):
            return None
        return key

    def allow(self, key: ApiKey, now: float | None = None) -> float:
        """Take a token from the key's shared bucket: 0 if the request may go on, else
        the seconds until a token is available."""
        params = {"id": key.id, "burst": key.burst, "rate": key.rate, "now": now}
        row = self.store.conn.execute(_TAKE, params).fetchone()  # one statement
        assert row is not None
        taken, tokens = bool(row[0]), float(row[1])
        return 0.0 if taken else (1.0 - tokens) / key.rate
