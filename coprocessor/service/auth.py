"""API keys and per-key rate limits.

A key is ``cpk_<id>_<secret>`` (the secret: 32 random bytes, hex). Only
``sha256(secret)`` is stored: the secret has 256 bits of entropy, so a fast hash is
enough (slow password hashes exist for guessable secrets) and the check stays cheap
on every request. Comparison is constant-time. Rate limits are token buckets (``rate``
requests per second, ``burst`` at once): on SQLite held in memory per process, on
PostgreSQL one bucket per key in the database for all processes (``store.keys``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from coprocessor.errors import UserInputError
from coprocessor.service.store.protocol import ServiceDB

PREFIX = "cpk_"


@dataclass
class ApiKey:
    id: str
    name: str
    key_hash: str
    rate: float
    burst: int
    revoked: bool


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(db: ServiceDB, name: str, rate: float, burst: int) -> str:
    """Store a new key; returns the full key (shown once, never stored)."""
    if not name or len(name) > 64:
        raise UserInputError("key name must be 1..64 characters")
    if rate <= 0 or burst < 1:
        raise UserInputError("rate must be positive and burst at least 1")
    key_id = secrets.token_hex(4)
    secret = secrets.token_hex(32)
    with db.tx():
        db.execute(
            "INSERT INTO api_keys (id, name, key_hash, rate, burst, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, name, _hash(secret), rate, burst, time.time()),
        )
    return f"{PREFIX}{key_id}_{secret}"


def list_keys(db: ServiceDB) -> list[dict[str, object]]:
    rows = db.execute(
        "SELECT id, name, rate, burst, created_at, revoked FROM api_keys ORDER BY created_at"
    ).fetchall()
    return [
        {"id": i, "name": n, "rate": r, "burst": b, "created_at": c, "revoked": bool(v)}
        for i, n, r, b, c, v in rows
    ]


def revoke_key(db: ServiceDB, key_id: str) -> None:
    with db.tx():
        cur = db.execute("UPDATE api_keys SET revoked = ? WHERE id = ?", (True, key_id))
    if cur.rowcount == 0:
        raise UserInputError(f"no API key with id {key_id!r}")


class KeyRing:
    """The keys of the database, reloaded every ``refresh`` seconds (so a key revoked
    from the CLI stops working within that time), plus the token buckets. On a database
    with shared keys (PostgreSQL) each lookup reads the key's row and each request
    takes from the key's one bucket in the database instead."""

    def __init__(self, db: ServiceDB, refresh: float = 2.0) -> None:
        self.db = db
        self.shared = db.shared_keys()
        self.refresh = refresh
        self._keys: dict[str, ApiKey] = {}
        self._loaded = 0.0
        self._buckets: dict[str, tuple[float, float]] = {}  # id -> (tokens, last time)

    def _load(self) -> None:
        rows = self.db.execute(
            "SELECT id, name, key_hash, rate, burst, revoked FROM api_keys"
        ).fetchall()
        self._keys = {r[0]: ApiKey(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows}
        self._loaded = time.monotonic()

    def lookup(self, token: str) -> ApiKey | None:
        """The active key for ``token``, or None."""
        if self.shared is not None:
            return self.shared.lookup(token)
        if time.monotonic() - self._loaded > self.refresh:
            self._load()
        if not token.startswith(PREFIX):
            return None
        key_id, sep, secret = token[len(PREFIX) :].partition("_")
        key = self._keys.get(key_id)
        if key is None and sep:  # created since the last load? one primary-key lookup
            row = self.db.execute(
                "SELECT id, name, key_hash, rate, burst, revoked FROM api_keys WHERE id = ?",
                (key_id,),
            ).fetchone()
            if row is not None:
                key = self._keys[key_id] = ApiKey(
                    row[0], row[1], row[2], row[3], row[4], bool(row[5])
                )
        if not sep or key is None or key.revoked:
            return None
        if not hmac.compare_digest(key.key_hash, _hash(secret)):
            return None
        return key

    def allow(self, key: ApiKey) -> float:
        """0 if the request may go on, else the seconds until a token is available."""
        if self.shared is not None:
            return self.shared.allow(key)
        now = time.monotonic()
        tokens, last = self._buckets.get(key.id, (float(key.burst), now))
        tokens = min(float(key.burst), tokens + (now - last) * key.rate)
        if tokens >= 1.0:
            self._buckets[key.id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key.id] = (tokens, now)
        return (1.0 - tokens) / key.rate
