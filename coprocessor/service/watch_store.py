"""The independent watcher's own state (``<data dir>/watch.sqlite``): the feed cursor,
the secret its sampling decisions are drawn from, every signed score it saw (and what
it concluded), and every challenge it prepared or filed. A challenge row is written in
the same transaction as the mismatch that causes it, before anything is sent, so a
restart resumes it; the cursor moves in the same transaction as the check, so a restart
neither skips nor re-checks a score."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.errors import StoreError
from coprocessor.sqlite import connect as sqlite_connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checks (
    signature TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL,
    subject TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    block INTEGER NOT NULL,
    signer TEXT NOT NULL,
    signed_score INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    recomputed INTEGER,
    detail TEXT,
    checked_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS challenges (
    signature TEXT PRIMARY KEY REFERENCES checks(signature),
    signer TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    tx_hash TEXT,
    reward_wei TEXT,
    detail TEXT,
    updated_at REAL NOT NULL
);
"""

#: outcomes of a check (``checks.outcome``)
OUTCOMES = (
    "skipped",  # not sampled
    "match",  # recomputed score == signed score
    "mismatch",  # recomputed score != signed score: a challenge is prepared
    "bad_signature",  # the signature does not recover to the named signer
    "unknown_model",  # the watcher does not have this model
    "other_chain",  # the score is about a chain the watcher's node is not
    "error",  # recomputing failed (detail says why)
)
#: states of a challenge (``challenges.status``)
CHALLENGE_STATES = ("pending", "filed", "signer_inactive", "failed")


@dataclass(frozen=True)
class Check:
    """One signed score seen on the feed, and the watcher's conclusion."""

    signature: str
    event_id: int
    subject: str
    model_hash: str
    block: int
    signer: str
    signed_score: int
    outcome: str
    recomputed: int | None = None
    detail: str | None = None


class WatchStore:
    """The watcher's SQLite file (one process writes it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite_connect(self.path)
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"watch database {self.path}: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ------------------------------------------------------------------ meta

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def cursor(self) -> int:
        """The last feed event id handled (0: none yet, so the feed starts at its beginning)."""
        value = self._meta("cursor")
        return 0 if value is None else int(value)

    def secret(self, seed: int | None) -> bytes:
        """The key sampling decisions are drawn from: ``seed`` if given (tests), else 32
        random bytes made on first start and kept, so a restart decides the same way and
        the operator cannot predict which scores are checked."""
        if seed is not None:
            return seed.to_bytes(32, "big", signed=False)
        value = self._meta("secret")
        if value is None:
            value = os.urandom(32).hex()
            with self.tx() as c:
                c.execute("INSERT OR IGNORE INTO meta VALUES ('secret', ?)", (value,))
            value = self._meta("secret") or value
        return bytes.fromhex(value)

    # ------------------------------------------------------------------ checks

    def seen(self, signature: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM checks WHERE signature = ?", (signature,)).fetchone()
        return row is not None

    def advance(self, event_id: int) -> None:
        """Move the cursor past an event that needs no check (not a signed score, or seen)."""
        with self.tx() as c:
            self._set_cursor(c, event_id)

    def record(self, check: Check, challenge: dict[str, Any] | None = None) -> None:
        """Store a check, the challenge it prepares (status ``pending``) and the cursor,
        in one transaction."""
        with self.tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO checks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    check.signature,
                    check.event_id,
                    check.subject,
                    check.model_hash,
                    check.block,
                    check.signer,
                    check.signed_score,
                    check.outcome,
                    check.recomputed,
                    check.detail,
                    time.time(),
                ),
            )
            if challenge is not None:
                c.execute(
                    "INSERT OR IGNORE INTO challenges VALUES (?, ?, ?, 'pending', NULL, NULL, "
                    "NULL, ?)",
                    (check.signature, check.signer, json.dumps(challenge), time.time()),
                )
            self._set_cursor(c, check.event_id)

    def checks(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM checks ORDER BY event_id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def outcome_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT outcome, COUNT(*) FROM checks GROUP BY outcome")
        return {str(k): int(v) for k, v in rows.fetchall()}

    # ------------------------------------------------------------------ challenges

    def pending_challenges(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(signature, signer, challenge request) of every challenge not yet settled."""
        rows = self.conn.execute(
            "SELECT signature, signer, request FROM challenges WHERE status = 'pending' "
            "ORDER BY updated_at"
        ).fetchall()
        return [(str(s), str(a), json.loads(r)) for s, a, r in rows]

    def settle(
        self,
        signature: str,
        status: str,
        *,
        tx_hash: str | None = None,
        reward_wei: int | None = None,
        detail: str | None = None,
    ) -> None:
        if status not in CHALLENGE_STATES:
            raise ValueError(f"unknown challenge status {status!r}")
        with self.tx() as c:
            c.execute(
                "UPDATE challenges SET status = ?, tx_hash = ?, reward_wei = ?, detail = ?, "
                "updated_at = ? WHERE signature = ?",
                (
                    status,
                    tx_hash,
                    None if reward_wei is None else str(reward_wei),
                    detail,
                    time.time(),
                    signature,
                ),
            )

    def challenges(self) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT signature, signer, status, tx_hash, reward_wei, detail FROM challenges "
            "ORDER BY updated_at"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def challenge_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT status, COUNT(*) FROM challenges GROUP BY status")
        return {str(k): int(v) for k, v in rows.fetchall()}

    def reward_total(self) -> int:
        rows = self.conn.execute("SELECT reward_wei FROM challenges WHERE reward_wei IS NOT NULL")
        return sum(int(r[0]) for r in rows.fetchall())

    @staticmethod
    def _set_cursor(c: sqlite3.Connection, event_id: int) -> None:
        c.execute(
            "INSERT INTO meta VALUES ('cursor', ?) ON CONFLICT(key) DO UPDATE SET "
            "value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            (str(event_id),),
        )
