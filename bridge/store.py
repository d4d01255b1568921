"""The bridge's SQLite file, ``<data dir>/bridge.sqlite`` (its own file, its own schema
version, so it never migrates with the indexer's store).

Tables:

- ``txs``: one row per *intent* (an idempotency ``key`` the caller chooses, such as
  ``push-blockhash:31337:120``) with the nonce it owns. ``UNIQUE (chain_id, sender,
  nonce)`` makes two intents with one nonce impossible, whatever the process. The chain
  id is a uint64 kept in SQLite's signed INTEGER as the index store keeps it
  (``coprocessor.sqlite.to_int64``: ids from 2^63 are stored two's-complement).
- ``tx_attempts``: every signed transaction of an intent (the first one and each gas
  bump), written *before* it is broadcast, so a crash never loses a nonce.
- ``messages`` + ``message_events``: every bridge message (a retryable ticket, an
  L2→L1 send) with its current status and the full status history, alerts included.
- ``relay_state``: the devnet relay's cursors and journal (key/value).

Writers take ``BEGIN IMMEDIATE``, so concurrent processes serialize on the file lock.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.errors import StoreError
from coprocessor.sqlite import connect as sqlite_connect
from coprocessor.sqlite import to_int64

SCHEMA_VERSION = 1
FILENAME = "bridge.sqlite"

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE txs (
        key TEXT PRIMARY KEY, chain_id INTEGER NOT NULL, sender TEXT NOT NULL,
        nonce INTEGER NOT NULL, to_address TEXT, data BLOB NOT NULL, value TEXT NOT NULL,
        gas INTEGER NOT NULL, status TEXT NOT NULL, tx_hash TEXT, block_number INTEGER,
        receipt_status INTEGER, created REAL NOT NULL, updated REAL NOT NULL,
        UNIQUE (chain_id, sender, nonce))""",
    """CREATE TABLE tx_attempts (
        key TEXT NOT NULL REFERENCES txs(key), tx_hash TEXT NOT NULL, raw BLOB NOT NULL,
        max_fee INTEGER NOT NULL, tip INTEGER NOT NULL, sent_at REAL NOT NULL,
        PRIMARY KEY (key, tx_hash))""",
    """CREATE TABLE messages (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
        created REAL NOT NULL, updated REAL NOT NULL, data TEXT NOT NULL)""",
    """CREATE TABLE message_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL REFERENCES messages(id),
        status TEXT NOT NULL, at REAL NOT NULL, detail TEXT NOT NULL)""",
    "CREATE INDEX message_events_id ON message_events (id, seq)",
    "CREATE TABLE relay_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


@dataclass(frozen=True)
class Message:
    """A bridge message row."""

    id: str
    kind: str
    status: str
    created: float
    updated: float
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``coproc bridge status --json``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "data": self.data,
        }


class BridgeStore:
    """One SQLite file, shared by the CLI, the bridge and the devnet relay (WAL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite_connect(self.path)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite file ({exc})") from None

    @classmethod
    def in_dir(cls, data_dir: Path) -> BridgeStore:
        """The store of a data directory."""
        return cls(data_dir / FILENAME)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def _migrate(self) -> None:
        with self.write():
            names = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
            if "meta" not in names:
                for statement in _SCHEMA:
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO meta VALUES ('bridge_schema_version', ?)", (str(SCHEMA_VERSION),)
                )
        row = self.db.execute(
            "SELECT value FROM meta WHERE key = 'bridge_schema_version'"
        ).fetchone()
        version = int(row[0]) if row else 0
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: bridge schema version {version}, this build reads {SCHEMA_VERSION}"
            )

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: the file lock is taken at once)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ messages

    def add_message(
        self, id: str, kind: str, status: str, data: dict[str, Any], detail: str = ""
    ) -> bool:
        """Insert a message (and its first event) unless it exists; True if inserted."""
        now = time.time()
        with self.write() as db:
            if db.execute("SELECT 1 FROM messages WHERE id = ?", (id,)).fetchone():
                return False
            db.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                (id, kind, status, now, now, json.dumps(data, sort_keys=True)),
            )
            db.execute(
                "INSERT INTO message_events (id, status, at, detail) VALUES (?, ?, ?, ?)",
                (id, status, now, detail),
            )
        return True

    def set_status(
        self, id: str, status: str, detail: str = "", data: dict[str, Any] | None = None
    ) -> bool:
        """Move a message to ``status`` (an event only when the status changes or an
        event with a new ``detail`` is given); merge ``data``. True if anything changed."""
        now = time.time()
        with self.write() as db:
            row = db.execute("SELECT status, data FROM messages WHERE id = ?", (id,)).fetchone()
            if row is None:
                raise StoreError(f"unknown bridge message {id}")
            merged = dict(json.loads(row[1]), **(data or {}))
            last = db.execute(
                "SELECT status, detail FROM message_events WHERE id = ? ORDER BY seq DESC LIMIT 1",
                (id,),
            ).fetchone()
            changed = row[0] != status or (detail and tuple(last or ()) != (status, detail))
            db.execute(
                "UPDATE messages SET status = ?, updated = ?, data = ? WHERE id = ?",
                (status, now, json.dumps(merged, sort_keys=True), id),
            )
            if changed:
                db.execute(
                    "INSERT INTO message_events (id, status, at, detail) VALUES (?, ?, ?, ?)",
                    (id, status, now, detail),
                )
        return bool(changed)

    def add_event(self, id: str, status: str, detail: str) -> None:
        """Record an event (an alert, say) without changing the message's status."""
        with self.write() as db:
            db.execute(
                "INSERT INTO message_events (id, status, at, detail) VALUES (?, ?, ?, ?)",
                (id, status, time.time(), detail),
            )

    def message(self, id: str) -> Message | None:
        """One message, or None."""
        row = self.db.execute(
            "SELECT id, kind, status, created, updated, data FROM messages WHERE id = ?", (id,)
        ).fetchone()
        return _message(row) if row else None

    def messages(self, kind: str | None = None) -> list[Message]:
        """All messages (of one kind), oldest first."""
        sql = "SELECT id, kind, status, created, updated, data FROM messages"
        args: tuple[Any, ...] = ()
        if kind:
            sql += " WHERE kind = ?"
            args = (kind,)
        return [_message(r) for r in self.db.execute(sql + " ORDER BY created, id", args)]

    def history(self, id: str) -> list[tuple[str, float, str]]:
        """(status, time, detail) of every event of a message, in order."""
        rows = self.db.execute(
            "SELECT status, at, detail FROM message_events WHERE id = ? ORDER BY seq", (id,)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def reset_chains(self, chain_ids: list[int]) -> None:
        """Forget everything about chains that were started afresh (a new devnet):
        their intents and attempts (else stored nonces would leave a gap on the new
        chain), every message and the relay's cursors."""
        chain_ids = [to_int64(c) for c in chain_ids]  # stored as SQLite's signed INTEGER
        with self.write() as db:
            marks = ",".join("?" for _ in chain_ids)
            db.execute(
                f"DELETE FROM tx_attempts WHERE key IN "
                f"(SELECT key FROM txs WHERE chain_id IN ({marks}))",
                chain_ids,
            )
            db.execute(f"DELETE FROM txs WHERE chain_id IN ({marks})", chain_ids)
            db.execute("DELETE FROM message_events")
            db.execute("DELETE FROM messages")
            db.execute("DELETE FROM relay_state")

    # ------------------------------------------------------------------ relay state

    def get_state(self, key: str, default: Any = None) -> Any:
        """A JSON value of the relay's state."""
        row = self.db.execute("SELECT value FROM relay_state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put_state(self, key: str, value: Any) -> None:
        """Set a JSON value of the relay's state."""
        with self.write() as db:
            db.execute(
                "INSERT INTO relay_state VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )


def _message(row: tuple[Any, ...]) -> Message:
    return Message(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))
