"""The prover client's receipt index: one SQLite row per receipt file.

``coproc prove`` writes the receipt file (atomically, by ``coproc-host``) and then
records it here (``<data dir>/receipts.sqlite``): the file's path, size and sha256,
the image ID, the receipt kind, whether it is a dev-mode (fake) receipt, the cycles,
and the journal fields *decoded from* ``journal_hex`` by :mod:`coprocessor.zk.journal`
(never copied from the file's convenience ``journal`` object). The row is an index, not
a second copy of the proof: the file stays the artefact that is verified and posted.

Rows are keyed by the file's sha256, so recording the same file twice is one row; a
receipt whose decoded journal disagrees with its ``journal`` object, or whose file
changed since it was recorded, is reported as such (``check``), never silently kept.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from coprocessor.errors import StoreError, UserInputError, VerificationError
from coprocessor.sqlite import connect as sqlite_connect
from coprocessor.sqlite import from_int64, to_int64
from coprocessor.zk import journal as journal_v1

SCHEMA_VERSION = 1
FILE_NAME = "receipts.sqlite"

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    """CREATE TABLE receipts (
        file_sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, file_bytes INTEGER NOT NULL,
        claim_digest TEXT NOT NULL, image_id TEXT NOT NULL, receipt_kind TEXT NOT NULL,
        dev_mode INTEGER NOT NULL, prover TEXT NOT NULL,
        chain_id INTEGER NOT NULL, block_number INTEGER NOT NULL,
        anchor_number INTEGER NOT NULL, anchor_hash TEXT NOT NULL, subject TEXT NOT NULL,
        model_hash TEXT NOT NULL, feature_spec_hash TEXT NOT NULL, score INTEGER NOT NULL,
        request_id TEXT NOT NULL, journal_hex TEXT NOT NULL,
        cycles_total INTEGER, cycles_user INTEGER, segments INTEGER,
        prove_seconds REAL, recorded_at REAL NOT NULL) WITHOUT ROWID""",
    "CREATE INDEX receipts_claim ON receipts (claim_digest)",
    "CREATE INDEX receipts_subject ON receipts (chain_id, subject, block_number)",
)


@dataclass(frozen=True)
class ReceiptRow:
    """One recorded receipt (the table's columns)."""

    file_sha256: str
    path: str
    claim_digest: str
    image_id: str
    receipt_kind: str
    dev_mode: bool
    score: int

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "file_sha256": self.file_sha256,
            "path": self.path,
            "claim_digest": self.claim_digest,
            "image_id": self.image_id,
            "receipt_kind": self.receipt_kind,
            "dev_mode": self.dev_mode,
            "score": self.score,
        }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hex32(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise UserInputError(f"{where}: {key} is not 0x-hex of 32 bytes")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise UserInputError(f"{where}: {key} is not hex") from None
    return value.lower()


#: journal uint64 fields, stored two's-complement above 2^63 (coprocessor/sqlite.py)
_UINT64_COLUMNS = ("chain_id", "block_number", "anchor_number")


class ReceiptStore:
    """SQLite index of receipt files (WAL, versioned schema; an unknown version is
    refused)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            conn = sqlite_connect(self.path)
            self.db = sqlite_utils.Database(conn)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def _migrate(self) -> None:
        if "meta" not in self.db.table_names():
            with self.db.conn:
                self.db.conn.execute("BEGIN IMMEDIATE")
                if "meta" not in self.db.table_names():
                    for stmt in _SCHEMA:
                        self.db.conn.execute(stmt)
                    self.db.conn.execute(
                        "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                    )
        row = self.db.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            found = row[0] if row else "none"
            raise StoreError(
                f"{self.path}: receipt store schema version {found}, this build reads "
                f"{SCHEMA_VERSION}"
            )

    def close(self) -> None:
        """Close the connection."""
        self.db.conn.close()

    def record(self, receipt_file: str | Path, doc: Mapping[str, Any]) -> ReceiptRow:
        """Record a receipt file whose parsed content is ``doc`` (a ``coproc-receipt``
        v1 document). The journal is decoded from ``journal_hex``; when the document
        also carries a ``journal`` object, it must agree field by field."""
        path = Path(receipt_file).resolve()
        where = str(receipt_file)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UserInputError(f"cannot read receipt {where}: {exc.strerror}") from None
        journal_hex = doc.get("journal_hex")
        if not isinstance(journal_hex, str):
            raise UserInputError(f"{where}: no journal_hex")
        decoded = journal_v1.decode_hex(journal_hex)
        shown = doc.get("journal")
        if isinstance(shown, Mapping):
            for name, value in decoded.items():
                mine = value.lower() if isinstance(value, str) else value
                theirs = shown.get(name)
                theirs = theirs.lower() if isinstance(theirs, str) else theirs
                if mine != theirs:
                    raise VerificationError(
                        f"{where}: journal.{name} ({theirs!r}) differs from journal_hex ({mine!r})"
                    )
        raw_cycles = doc.get("cycles")
        cycles: Mapping[str, Any] = raw_cycles if isinstance(raw_cycles, Mapping) else {}
        kind = doc.get("receipt_kind")
        prover = doc.get("prover")
        seconds = doc.get("prove_seconds")
        row: dict[str, Any] = {
            "file_sha256": _sha256(raw),
            "path": str(path),
            "file_bytes": len(raw),
            "claim_digest": _hex32(doc, "claim_digest", where),
            "image_id": _hex32(doc, "image_id", where),
            "receipt_kind": kind if isinstance(kind, str) else "unknown",
            "dev_mode": 1 if doc.get("dev_mode") else 0,
            "prover": prover if isinstance(prover, str) else "unknown",
            "chain_id": to_int64(decoded["chainId"]),  # uint64s; SQLite's INTEGER is signed
            "block_number": to_int64(decoded["blockNumber"]),
            "anchor_number": to_int64(decoded["anchorNumber"]),
            "anchor_hash": decoded["anchorHash"],
            "subject": decoded["subject"],
            "model_hash": decoded["modelHash"],
            "feature_spec_hash": decoded["featureSpecHash"],
            "score": decoded["score"],
            "request_id": decoded["requestId"],
            "journal_hex": journal_hex.lower(),
            "cycles_total": cycles.get("total"),
            "cycles_user": cycles.get("user"),
            "segments": cycles.get("segments"),
            "prove_seconds": float(seconds) if isinstance(seconds, (int, float)) else None,
            "recorded_at": time.time(),
        }
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            with self.db.conn:
                self.db.conn.execute("BEGIN IMMEDIATE")
                self.db.conn.execute(
                    f"INSERT INTO receipts ({cols}) VALUES ({marks}) "
                    "ON CONFLICT (file_sha256) DO UPDATE SET path = excluded.path",
                    tuple(row.values()),
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        return _to_row(row)

    def rows(self, *, claim_digest: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recorded receipts, newest first (optionally of one claim digest)."""
        sql = "SELECT * FROM receipts"
        args: list[Any] = []
        if claim_digest is not None:
            sql += " WHERE claim_digest = ?"
            args.append(claim_digest.lower())
        sql += " ORDER BY recorded_at DESC LIMIT ?"
        args.append(limit)
        cur = self.db.conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        out = []
        for values in cur.fetchall():
            item = dict(zip(names, values, strict=True))
            item["dev_mode"] = bool(item["dev_mode"])
            for key in _UINT64_COLUMNS:
                item[key] = from_int64(item[key])
            out.append(item)
        return out

    def check(self, row: Mapping[str, Any]) -> str:
        """``ok``, ``missing`` (the file is gone) or ``changed`` (other bytes than the
        ones recorded)."""
        try:
            raw = Path(str(row["path"])).read_bytes()
        except OSError:
            return "missing"
        return "ok" if _sha256(raw) == row["file_sha256"] else "changed"


def _to_row(row: Mapping[str, Any]) -> ReceiptRow:
    return ReceiptRow(
        file_sha256=str(row["file_sha256"]),
        path=str(row["path"]),
        claim_digest=str(row["claim_digest"]),
        image_id=str(row["image_id"]),
        receipt_kind=str(row["receipt_kind"]),
        dev_mode=bool(row["dev_mode"]),
        score=int(row["score"]),
    )


def open_default(directory: Path) -> ReceiptStore:
    """The receipt store of a data directory."""
    return ReceiptStore(directory / FILE_NAME)


__all__ = ["FILE_NAME", "ReceiptRow", "ReceiptStore", "open_default"]
