"""The SQLite store (sqlite-utils): verified chain data, content-addressed trie nodes.

- WAL mode, a versioned schema (``meta.schema_version``); an unknown version is refused.
- ``headers``: keyed by (chain_id, number, hash) with a ``canonical`` flag, so a
  reorg leaves the orphaned header in place, marked non-canonical.
- ``nodes``: trie nodes keyed by keccak256; nodes shared by many proofs once.
- ``accounts`` / ``slots``: verified values keyed by (block hash, address[, slot]),
  with the ordered node hashes of their proofs.
- ``hop_sources`` / ``hops`` (schema 2): verified EIP-2935 hops (``hop_cache.py``):
  per source block its header and the history contract's account proof, per hop the
  target's header and the storage proof of its slot. One source row per height (a
  source of another hash replaces it and its hops).

Only :meth:`Store.save_verified` writes chain data, it takes a
:class:`~coprocessor.chain.bundle.VerifiedBundle` (so nothing unverified is stored as
verified) and writes it in one transaction; only :meth:`Store.save_hops` writes
hops, it takes :class:`~coprocessor.index.hop_cache.VerifiedHop` values, and
:meth:`Store.cached_hops` checks every row again before returning it.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlite_utils

from coprocessor.chain.bundle import Bundle, StorageRead, VerifiedBundle
from coprocessor.chain.headers import Header, decode_header
from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.history import HopProof, history_slot
from coprocessor.errors import CoprocessorError, StoreError
from coprocessor.index.hop_cache import (
    VerifiedHop,
    pack_nodes,
    unpack_nodes,
    verified_hop,
)
from coprocessor.sqlite import connect as sqlite_connect
from coprocessor.sqlite import to_int64

if TYPE_CHECKING:
    from coprocessor.chain.native import Pending

SCHEMA_VERSION = 2
#: one worker thread verifies while the store writes (save_while_verifying); per
#: process, since a forked child does not inherit the parent's worker thread
_verifier: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None


def _verifier_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _verifier
    if _verifier is None or _verifier[0] != os.getpid():
        _verifier = (
            os.getpid(),
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="coproc-verify"),
        )
    return _verifier[1]


_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    """CREATE TABLE headers (
        chain_id INTEGER NOT NULL, number INTEGER NOT NULL, hash BLOB NOT NULL,
        parent_hash BLOB NOT NULL, state_root BLOB NOT NULL, timestamp INTEGER NOT NULL,
        rlp BLOB NOT NULL, canonical INTEGER NOT NULL,
        PRIMARY KEY (chain_id, number, hash)) WITHOUT ROWID""",
    "CREATE UNIQUE INDEX headers_hash ON headers (chain_id, hash)",
    "CREATE TABLE nodes (hash BLOB PRIMARY KEY, rlp BLOB NOT NULL) WITHOUT ROWID",
    """CREATE TABLE accounts (
        chain_id INTEGER NOT NULL, block_hash BLOB NOT NULL, block_number INTEGER NOT NULL,
        address BLOB NOT NULL, present INTEGER NOT NULL, nonce TEXT NOT NULL,
        balance TEXT NOT NULL, storage_root BLOB NOT NULL, code_hash BLOB NOT NULL,
        PRIMARY KEY (block_hash, address)) WITHOUT ROWID""",
    """CREATE TABLE slots (
        block_hash BLOB NOT NULL, address BLOB NOT NULL, slot BLOB NOT NULL,
        value TEXT NOT NULL, PRIMARY KEY (block_hash, address, slot)) WITHOUT ROWID""",
    # the node hashes proofs at a block used: concatenated 32-byte hashes, one row
    # per block (a row per node was a third of the store's write time)
    """CREATE TABLE block_nodes (
        block_hash BLOB PRIMARY KEY, hashes BLOB NOT NULL) WITHOUT ROWID""",
)
#: schema 2: the hop cache (a store of schema 1 gains these tables when opened)
_HOP_SCHEMA = (
    """CREATE TABLE hop_sources (
        chain_id INTEGER NOT NULL, number INTEGER NOT NULL, hash BLOB NOT NULL,
        header BLOB NOT NULL, account_proof BLOB NOT NULL,
        PRIMARY KEY (chain_id, number)) WITHOUT ROWID""",
    """CREATE TABLE hops (
        chain_id INTEGER NOT NULL, source INTEGER NOT NULL, target INTEGER NOT NULL,
        target_header BLOB NOT NULL, storage_proof BLOB NOT NULL,
        PRIMARY KEY (chain_id, source, target)) WITHOUT ROWID""",
)


@dataclass(frozen=True)
class CachedHops:
    """The cached hops of one source block that verified, and how many rows did not."""

    hops: dict[int, VerifiedHop]
    rejected: int = 0


@dataclass(frozen=True)
class CachedHeader:
    """A header row."""

    number: int
    hash: bytes
    canonical: bool
    raw: bytes


class ChainCache(Protocol):
    """What the indexer and the service use of a verified-data cache: :class:`Store`
    (SQLite, one file per data directory) or
    :class:`~coprocessor.index.store_pg.PgStore` (PostgreSQL, shared by hosts)."""

    def save_verified(self, verified: VerifiedBundle) -> None: ...

    def save_while_verifying(self, pending: Pending) -> VerifiedBundle: ...

    def save_hops(self, chain_id: int, hops: Sequence[VerifiedHop]) -> None: ...

    def cached_hops(
        self, chain_id: int, source: int, targets: Sequence[int], first: int | None = None
    ) -> CachedHops: ...

    def mark_canonical(self, chain_id: int, header: Header) -> None: ...

    def headers_at(self, chain_id: int, number: int) -> list[CachedHeader]: ...

    def canonical_header(self, chain_id: int, number: int) -> Header | None: ...

    def cached_values(
        self, block_hash: bytes, address: bytes, slots: list[bytes]
    ) -> dict[str, Any] | None: ...

    def nodes_for_block(self, block_hash: bytes) -> list[bytes]: ...

    def counts(self) -> dict[str, int]: ...

    def describe_header(self, chain_id: int, number: int) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def _ascending(hashes: Sequence[bytes]) -> bool:
    """Whether ``hashes`` is strictly ascending (a bundle's node hashes are)."""
    return all(a < b for a, b in itertools.pairwise(hashes))


def _split_hashes(blob: bytes) -> set[bytes]:
    return {blob[i : i + 32] for i in range(0, len(blob), 32)}


# Reads both stores (this SQLite one and index/store_pg.py) share: cached rows are
# decoded and checked again on every read, never trusted as stored.


def reverified_hops(
    chain_id: int,
    source: int,
    source_row: tuple[bytes, bytes, bytes],
    hop_rows: dict[int, tuple[bytes, bytes]],
    targets: Sequence[int],
    first: int | None,
) -> CachedHops:
    """The hops of ``hop_rows`` (target -> (target header, packed storage proof)) from
    the source row ``(hash, header, packed account proof)`` that verify again, in the
    order of ``targets``; a row that does not is counted in ``rejected``."""
    source_hash, header, account_blob = source_row
    found: dict[int, VerifiedHop] = {}
    rejected = 0
    for target in targets:
        if target not in hop_rows:
            continue
        target_header, storage_blob = hop_rows[target]
        try:
            proof = HopProof(
                source_header=header,
                target_header=target_header,
                account_proof=unpack_nodes(account_blob),
                storage_proof=unpack_nodes(storage_blob),
                slot=history_slot(target),
            )
            hop = verified_hop(proof, source_hash, chain_id, first)
            if hop.source.number != source or hop.target.number != target:
                raise StoreError(f"store: hop row {source} -> {target} is of other blocks")
        except CoprocessorError:
            rejected += 1
            continue
        found[target] = hop
    return CachedHops(found, rejected)


def canonical_of(rows: Sequence[CachedHeader], number: int) -> Header | None:
    """The canonical header among the stored ``rows`` at height ``number``, re-decoded
    (hash recomputed); a row that does not hash to its key is an error."""
    for row in rows:
        if row.canonical:
            header = decode_header(row.raw)
            if header.hash != row.hash:
                raise StoreError(f"store: header {number} row does not hash to its key")
            return header
    return None


def described(rows: Sequence[CachedHeader]) -> list[dict[str, Any]]:
    """JSON-friendly ``rows`` of headers (``coproc index status``)."""
    return [{"number": h.number, "hash": hexstr(h.hash), "canonical": h.canonical} for h in rows]


# Bulk inserts: one statement whose rows SQLite cuts out of a few packed parameters.
# executemany binds every row from Python (~1.5 us a row, two thirds of the store's
# write time for a 1,000-slot bundle); here the per-row work stays inside SQLite.
# substr() on a BLOB is a byte slice in constant time. The node rows come from a JSON
# array of spans, one integer per node (its start in the packed bytes, shifted, plus
# its length): json_each() reads it faster than a recursive CTE counts rows (0.84 vs
# 1.22 ms for 1,355 nodes). Upserts rather than INSERT OR IGNORE/REPLACE, which would
# also swallow a NOT NULL failure (a row SQLite failed to cut out would vanish instead
# of failing the transaction).

#: bits of a node's length in its span (the start is shifted left by as many)
_SPAN_BITS = 24
_NODES_SQL = f"""
INSERT INTO nodes (hash, rlp)
SELECT substr(:hashes, 32 * j.key + 1, 32),
       substr(:rlps, (j.value >> {_SPAN_BITS}) + 1, j.value & {(1 << _SPAN_BITS) - 1})
FROM json_each(:spans) AS j WHERE true
ON CONFLICT (hash) DO NOTHING
"""
_SLOTS_SQL = """
INSERT INTO slots (block_hash, address, slot, value)
SELECT :block_hash, :address, substr(:slots, 32 * j.key + 1, 32), j.value
FROM json_each(:values) AS j WHERE true
ON CONFLICT (block_hash, address, slot) DO UPDATE SET value = excluded.value
"""


def _insert_nodes(
    conn: sqlite3.Connection, hashes: Sequence[bytes], nodes: Sequence[bytes]
) -> None:
    """One row ``(hashes[i], nodes[i])`` per node; a hash already stored is kept."""
    if not nodes:
        return
    packed_hashes = b"".join(hashes)
    lengths = list(map(len, nodes))
    if len(hashes) != len(nodes) or len(packed_hashes) != 32 * len(nodes) or not all(lengths):
        raise StoreError("store: one 32-byte hash per node, nodes are not empty")
    if max(lengths) >> _SPAN_BITS:
        raise StoreError("store: a node of 16 MiB or more")
    # node i is rlps[start:start + length], span = start << _SPAN_BITS | length
    starts = itertools.accumulate(lengths, initial=0)
    spans = [start << _SPAN_BITS | length for start, length in zip(starts, lengths, strict=False)]
    conn.execute(
        _NODES_SQL,
        {"hashes": packed_hashes, "rlps": b"".join(nodes), "spans": json.dumps(spans)},
    )


def _insert_slots(
    conn: sqlite3.Connection, block_hash: bytes, address: bytes, storage: Sequence[StorageRead]
) -> None:
    """One row per storage read, value as hex text (a stored slot row is replaced)."""
    if not storage:
        return
    slots = b"".join([s.slot for s in storage])
    if len(slots) != 32 * len(storage):
        raise StoreError("store: slots are 32 bytes")
    conn.execute(
        _SLOTS_SQL,
        {
            "block_hash": block_hash,
            "address": address,
            "slots": slots,
            "values": json.dumps([hex(s.value) for s in storage]),
        },
    )


class Store:
    """One SQLite file. Safe to open from several processes (WAL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite_connect(self.path)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite file ({exc})") from None
        self.db = sqlite_utils.Database(conn)
        self._migrate()

    def close(self) -> None:
        """Close the connection."""
        self.db.conn.close()

    # ------------------------------------------------------------------ schema

    def _migrate(self) -> None:
        db = self.db
        try:
            if "meta" not in db.table_names():
                db.conn.execute("BEGIN IMMEDIATE")
                try:
                    if "meta" not in db.table_names():
                        self._create()
                except BaseException:
                    db.conn.execute("ROLLBACK")
                    raise
                db.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite file ({exc})") from None
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version == 1:
            self._upgrade_from_1()
            version = SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version}, this build reads {SCHEMA_VERSION}"
            )

    def _create(self) -> None:
        """Schema v1. Keyed tables are WITHOUT ROWID: one B-tree per table instead of
        a table plus a primary-key index (about half the work per insert)."""
        for statement in (*_SCHEMA, *_HOP_SCHEMA):
            self.db.conn.execute(statement)
        self.db.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def _upgrade_from_1(self) -> None:
        """Schema 1 -> 2: add the hop cache's tables (nothing else changes)."""
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is not None and row[0] == "1":  # not upgraded meanwhile by another process
                    for statement in _HOP_SCHEMA:
                        conn.execute(statement)
                    conn.execute(
                        "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                        (str(SCHEMA_VERSION),),
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot upgrade schema 1 to 2 ({exc})") from None

    # ------------------------------------------------------------------ writes

    def save_verified(self, verified: VerifiedBundle) -> None:
        """Store a verified bundle's headers, nodes and values in one transaction
        (raw SQL on purpose: sqlite-utils' helpers commit on their own)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._write(verified.bundle, verified.headers, verified.node_hashes)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def save_while_verifying(self, pending: Pending) -> VerifiedBundle:
        """Verify ``pending`` in a worker thread while its rows are written in a
        transaction that is committed only when verification returned the verified
        bundle of exactly those rows, and rolled back otherwise: nothing unverified is
        ever committed. (The Rust core and SQLite both release the GIL, so on two
        cores the write hides most of the verification.)"""
        future = _verifier_pool().submit(pending.verify)
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            concurrent.futures.wait([future])
            raise
        try:
            self._write(pending.bundle, pending.headers, pending.node_hashes)
            verified = future.result()
            if verified.bundle is not pending.bundle:
                raise StoreError("store: verification returned another bundle than written")
        except BaseException:
            concurrent.futures.wait([future])
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return verified

    def _write(
        self, bundle: Bundle, headers: tuple[Header, ...], node_hashes: tuple[bytes, ...]
    ) -> None:
        """The rows of a bundle, inside the caller's transaction."""
        chain_id = to_int64(bundle.chain_id)  # a uint64; SQLite's INTEGER is signed
        by_number = {h.number: h for h in headers}
        conn = self.db.conn
        for header in headers:
            self._put_header(chain_id, header)
        _insert_nodes(conn, node_hashes, bundle.nodes)
        for number in {read.block for read in bundle.accounts}:
            block_hash = by_number[number].hash
            row = conn.execute(
                "SELECT hashes FROM block_nodes WHERE block_hash = ?", (block_hash,)
            ).fetchone()
            if row is None:  # the first bundle at this block (its hashes come ascending)
                ordered = node_hashes if _ascending(node_hashes) else sorted(set(node_hashes))
                packed = b"".join(ordered)
            else:
                known = _split_hashes(row[0])
                merged = known | set(node_hashes)
                packed = b"".join(sorted(merged)) if merged != known else b""
            if packed:
                conn.execute(
                    "INSERT OR REPLACE INTO block_nodes (block_hash, hashes) VALUES (?, ?)",
                    (block_hash, packed),
                )
        for read in bundle.accounts:
            block_hash = by_number[read.block].hash
            acc = read.account
            conn.execute(
                "INSERT OR REPLACE INTO accounts (chain_id, block_hash, block_number, address,"
                " present, nonce, balance, storage_root, code_hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chain_id,
                    block_hash,
                    read.block,
                    read.address,
                    int(acc is not None),
                    hex(acc.nonce) if acc else "0x0",
                    hex(acc.balance) if acc else "0x0",
                    acc.storage_root if acc else b"",
                    acc.code_hash if acc else b"",
                ),
            )
            _insert_slots(conn, block_hash, read.address, read.storage)

    def _put_header(self, chain_id: int, header: Header) -> None:
        """Insert a header as canonical; other headers at its height become
        non-canonical, and so, in cascade, do stored descendants that no longer link."""
        conn = self.db.conn
        conn.execute(
            "UPDATE headers SET canonical = 0 WHERE chain_id = ? AND number = ? AND hash != ?",
            (chain_id, header.number, header.hash),
        )
        conn.execute(
            "INSERT OR REPLACE INTO headers (chain_id, number, hash, parent_hash, state_root,"
            " timestamp, rlp, canonical) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (
                chain_id,
                header.number,
                header.hash,
                header.parent_hash,
                header.state_root,
                header.timestamp,
                header.raw,
            ),
        )
        # a stored header one below that is not this header's parent is orphaned too
        # (its own descendants at this height were just marked above)
        if header.number > 0:
            conn.execute(
                "UPDATE headers SET canonical = 0 WHERE chain_id = ? AND number = ? AND hash != ?",
                (chain_id, header.number - 1, header.parent_hash),
            )
        # descendants of the headers just orphaned at this height are orphaned too
        orphaned = {
            r[0]
            for r in conn.execute(
                "SELECT hash FROM headers WHERE chain_id = ? AND number = ? AND hash != ?",
                (chain_id, header.number, header.hash),
            )
        }
        number = header.number + 1
        # and a stored child that does not link to the new header cannot be canonical
        children = conn.execute(
            "SELECT hash FROM headers WHERE chain_id = ? AND number = ? AND parent_hash != ?",
            (chain_id, number, header.hash),
        ).fetchall()
        orphaned_next = {r[0] for r in children}
        while orphaned or orphaned_next:
            rows = conn.execute(
                "SELECT hash, parent_hash FROM headers WHERE chain_id = ? AND number = ?",
                (chain_id, number),
            ).fetchall()
            now = {h for h, parent in rows if parent in orphaned} | orphaned_next
            if now:
                conn.executemany(
                    "UPDATE headers SET canonical = 0 WHERE chain_id = ? AND hash = ?",
                    [(chain_id, h) for h in now],
                )
            orphaned, orphaned_next, number = now, set(), number + 1

    def save_hops(self, chain_id: int, hops: Sequence[VerifiedHop]) -> None:
        """Cache verified hops in one transaction. A source row of another hash at the
        same height is replaced, and the hops from it dropped (a reorg moved it)."""
        if not hops:
            return
        chain = to_int64(chain_id)
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for hop in hops:
                source = hop.source
                row = conn.execute(
                    "SELECT hash FROM hop_sources WHERE chain_id = ? AND number = ?",
                    (chain, source.number),
                ).fetchone()
                if row is not None and row[0] != source.hash:
                    conn.execute(
                        "DELETE FROM hops WHERE chain_id = ? AND source = ?", (chain, source.number)
                    )
                conn.execute(
                    "INSERT OR REPLACE INTO hop_sources (chain_id, number, hash, header,"
                    " account_proof) VALUES (?, ?, ?, ?, ?)",
                    (chain, source.number, source.hash, source.raw, pack_nodes(hop.account_proof)),
                )
                conn.execute(
                    "INSERT OR REPLACE INTO hops (chain_id, source, target, target_header,"
                    " storage_proof) VALUES (?, ?, ?, ?, ?)",
                    (
                        chain,
                        source.number,
                        hop.target.number,
                        hop.target.raw,
                        pack_nodes(hop.storage_proof),
                    ),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def cached_hops(
        self, chain_id: int, source: int, targets: Sequence[int], first: int | None = None
    ) -> CachedHops:
        """The cached hops from block ``source`` to ``targets`` that verify again
        (:func:`~coprocessor.index.hop_cache.verified_hop` from the source row's hash;
        ``first`` overrides the chain's activation); a row that does not is counted
        in ``rejected`` and left out."""
        chain = to_int64(chain_id)
        row = self.db.conn.execute(
            "SELECT hash, header, account_proof FROM hop_sources WHERE chain_id = ? AND number = ?",
            (chain, source),
        ).fetchone()
        if row is None:
            return CachedHops({})
        hop_rows: dict[int, tuple[bytes, bytes]] = {}
        for target in targets:
            hop_row = self.db.conn.execute(
                "SELECT target_header, storage_proof FROM hops"
                " WHERE chain_id = ? AND source = ? AND target = ?",
                (chain, source, target),
            ).fetchone()
            if hop_row is not None:
                hop_rows[target] = (hop_row[0], hop_row[1])
        return reverified_hops(chain_id, source, row, hop_rows, targets, first)

    def mark_canonical(self, chain_id: int, header: Header) -> None:
        """Record ``header`` as the canonical block at its height (reorg handling)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._put_header(to_int64(chain_id), header)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ------------------------------------------------------------------ reads

    def headers_at(self, chain_id: int, number: int) -> list[CachedHeader]:
        """Every stored header at a height, canonical first."""
        rows = self.db.conn.execute(
            "SELECT number, hash, canonical, rlp FROM headers WHERE chain_id = ? AND number = ? "
            "ORDER BY canonical DESC",
            (to_int64(chain_id), number),
        ).fetchall()
        return [CachedHeader(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    def canonical_header(self, chain_id: int, number: int) -> Header | None:
        """The stored canonical header at a height, re-decoded (hash recomputed)."""
        return canonical_of(self.headers_at(chain_id, number), number)

    def cached_values(
        self, block_hash: bytes, address: bytes, slots: list[bytes]
    ) -> dict[str, Any] | None:
        """Verified account + slots at a block, if every one is cached; else None."""
        acc = self.db.conn.execute(
            "SELECT present, nonce, balance, storage_root, code_hash FROM accounts "
            "WHERE block_hash = ? AND address = ?",
            (block_hash, address),
        ).fetchone()
        if acc is None:
            return None
        values: dict[bytes, str] = {}
        for slot in slots:
            row = self.db.conn.execute(
                "SELECT value FROM slots WHERE block_hash = ? AND address = ? AND slot = ?",
                (block_hash, address, slot),
            ).fetchone()
            if row is None:
                return None
            values[slot] = row[0]
        return {"account": acc, "storage": values}

    def nodes_for_block(self, block_hash: bytes) -> list[bytes]:
        """All stored trie nodes that proofs at ``block_hash`` used."""
        row = self.db.conn.execute(
            "SELECT hashes FROM block_nodes WHERE block_hash = ?", (block_hash,)
        ).fetchone()
        if row is None:
            return []
        hashes = sorted(_split_hashes(row[0]))
        out: list[bytes] = []
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            marks = ",".join("?" * len(part))
            out += [
                r[0]
                for r in self.db.conn.execute(
                    f"SELECT rlp FROM nodes WHERE hash IN ({marks})",
                    part,
                )
            ]
        return out

    def counts(self) -> dict[str, int]:
        """Row counts per table (status output, tests)."""
        tables = ("headers", "nodes", "accounts", "slots", "hop_sources", "hops")
        return {t: self.db[t].count for t in tables}

    def describe_header(self, chain_id: int, number: int) -> list[dict[str, Any]]:
        """JSON-friendly rows of the headers at a height."""
        return described(self.headers_at(chain_id, number))
