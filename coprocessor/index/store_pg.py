"""The verified-data cache on PostgreSQL: the SQLite store's twin, shared by hosts.

Same contract as :class:`~coprocessor.index.store.Store` (``store.ChainCache``): the
same rows in tables prefixed ``chain_`` in the service's database (``chain_headers``
with the canonical flag, content-addressed ``chain_nodes``, ``chain_accounts`` /
``chain_slots``, ``chain_block_nodes``, the hop cache ``chain_hop_sources`` /
``chain_hops``), and the same invariants: only :meth:`PgStore.save_verified` /
:meth:`PgStore.save_while_verifying` (a verified bundle) and :meth:`PgStore.save_hops`
(:class:`~coprocessor.index.hop_cache.VerifiedHop` values) write chain data, each in
one transaction; :meth:`PgStore.cached_hops` checks every row again before returning
it; an orphaned header stays, marked non-canonical.

What differs because several processes on several hosts write at once:

- **one writer at a time**: every writing transaction first takes a transaction-scoped
  advisory lock (held to COMMIT), as SQLite's ``BEGIN IMMEDIATE`` does for one file.
  Upserts from two processes then never deadlock on each other's rows, and the
  read-merge-write of a block's node list never loses the other's nodes. Nodes are
  still inserted ``ON CONFLICT DO NOTHING``: a node stored by anyone is kept once;
- **reads are set-based**: the slots of an account, the nodes of a block and the hops
  of a source each come in one statement (a round trip per row is cheap on a local
  file, not over a network); nodes, slots and node lists travel as binary parameters
  and results (psycopg's text format hex-escapes each byte: 3 to 6 times slower for
  a 1,354-node bundle);
- **schema**: its own version row (``chain_meta``), created and upgraded only by
  :func:`migrate_chain_cache` (``coproc db migrate``); a :class:`PgStore` opens only a
  database at exactly this code's cache version, so serving processes started at once
  never race on the schema;
- connection errors become :class:`~coprocessor.errors.StoreError` (one line, the URL
  without its password) and the next call reconnects.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from coprocessor.chain.bundle import Bundle, StorageRead, VerifiedBundle
from coprocessor.chain.headers import Header
from coprocessor.errors import StoreError
from coprocessor.index.hop_cache import VerifiedHop, pack_nodes
from coprocessor.index.store import (
    CachedHeader,
    CachedHops,
    _ascending,
    _split_hashes,
    _verifier_pool,
    canonical_of,
    described,
    reverified_hops,
)
from coprocessor.postgres import Conn, PgConnection, connect, database_error
from coprocessor.sqlite import to_int64

if TYPE_CHECKING:
    from coprocessor.chain.native import Pending

#: pg_advisory_xact_lock key of cache writes ("chainw" in ASCII)
_WRITE_LOCK = 0x636861696E77
#: pg_advisory_xact_lock key of cache migrations ("chainm" in ASCII)
_MIGRATE_LOCK = 0x636861696E6D


@dataclass(frozen=True)
class CacheMigration:
    version: int
    name: str
    statements: tuple[str, ...]


#: A released migration is never edited: a change is a new migration at the end.
CACHE_MIGRATIONS: tuple[CacheMigration, ...] = (
    CacheMigration(
        1,
        "verified-data cache (store.py schema 2)",
        (
            # the columns of store.py's tables; uint64 chain ids two's-complement in
            # BIGINT (coprocessor.sqlite.to_int64), values as hex text
            """CREATE TABLE chain_headers (
                chain_id BIGINT NOT NULL, number BIGINT NOT NULL, hash BYTEA NOT NULL,
                parent_hash BYTEA NOT NULL, state_root BYTEA NOT NULL,
                timestamp BIGINT NOT NULL, rlp BYTEA NOT NULL, canonical BOOLEAN NOT NULL,
                PRIMARY KEY (chain_id, number, hash))""",
            "CREATE UNIQUE INDEX chain_headers_hash ON chain_headers (chain_id, hash)",
            "CREATE TABLE chain_nodes (hash BYTEA PRIMARY KEY, rlp BYTEA NOT NULL)",
            """CREATE TABLE chain_accounts (
                chain_id BIGINT NOT NULL, block_hash BYTEA NOT NULL,
                block_number BIGINT NOT NULL, address BYTEA NOT NULL,
                present INTEGER NOT NULL, nonce TEXT NOT NULL, balance TEXT NOT NULL,
                storage_root BYTEA NOT NULL, code_hash BYTEA NOT NULL,
                PRIMARY KEY (block_hash, address))""",
            """CREATE TABLE chain_slots (
                block_hash BYTEA NOT NULL, address BYTEA NOT NULL, slot BYTEA NOT NULL,
                value TEXT NOT NULL, PRIMARY KEY (block_hash, address, slot))""",
            # the node hashes proofs at a block used: concatenated 32-byte hashes
            """CREATE TABLE chain_block_nodes (
                block_hash BYTEA PRIMARY KEY, hashes BYTEA NOT NULL)""",
            """CREATE TABLE chain_hop_sources (
                chain_id BIGINT NOT NULL, number BIGINT NOT NULL, hash BYTEA NOT NULL,
                header BYTEA NOT NULL, account_proof BYTEA NOT NULL,
                PRIMARY KEY (chain_id, number))""",
            """CREATE TABLE chain_hops (
                chain_id BIGINT NOT NULL, source BIGINT NOT NULL, target BIGINT NOT NULL,
                target_header BYTEA NOT NULL, storage_proof BYTEA NOT NULL,
                PRIMARY KEY (chain_id, source, target))""",
        ),
    ),
)

#: the cache schema version this code reads and writes
CACHE_SCHEMA_VERSION = CACHE_MIGRATIONS[-1].version

_META_TABLE = """CREATE TABLE IF NOT EXISTS chain_meta (
    key TEXT PRIMARY KEY, value TEXT NOT NULL)"""

#: ``counts()`` keys (the SQLite store's table names) and their tables here
_TABLES = {
    "headers": "chain_headers",
    "nodes": "chain_nodes",
    "accounts": "chain_accounts",
    "slots": "chain_slots",
    "hop_sources": "chain_hop_sources",
    "hops": "chain_hops",
}


# ---------------------------------------------------------------------- schema


def cache_schema_version(conn: Conn) -> int:
    """The database's cache schema version (0: never migrated)."""
    row = conn.execute("SELECT to_regclass('chain_meta') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT value FROM chain_meta WHERE key = 'schema_version'").fetchone()
    return 0 if found is None else int(found[0])


def _refuse_newer(found: int) -> None:
    if found > CACHE_SCHEMA_VERSION:
        raise StoreError(
            f"verified-data cache schema v{found} is newer than this coproc "
            f"(v{CACHE_SCHEMA_VERSION})"
        )


def require_cache_current(conn: Conn) -> None:
    """A :class:`PgStore` opens only a database at exactly this code's cache version."""
    found = cache_schema_version(conn)
    _refuse_newer(found)
    if found < CACHE_SCHEMA_VERSION:
        raise StoreError(
            f"verified-data cache schema v{found} is older than this coproc "
            f"(v{CACHE_SCHEMA_VERSION}): run `coproc db migrate`"
        )


def migrate_chain_cache(url: str) -> tuple[int, list[int]]:
    """Create or upgrade the cache tables of the PostgreSQL database at ``url`` in one
    transaction under an advisory lock (concurrent runs apply each version once);
    refuses a newer cache schema. Returns (version now, versions applied)."""
    try:
        with connect(url) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
            conn.execute(_META_TABLE)
            found = cache_schema_version(conn)
            _refuse_newer(found)
            applied = []
            for migration in CACHE_MIGRATIONS:
                if migration.version <= found:
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                applied.append(migration.version)
            if applied:
                conn.execute(
                    "INSERT INTO chain_meta (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(CACHE_SCHEMA_VERSION),),
                )
    except psycopg.Error as exc:
        raise database_error(url, exc) from None
    return CACHE_SCHEMA_VERSION, applied


# ---------------------------------------------------------------------- bulk rows


def _insert_nodes(conn: Conn, hashes: Sequence[bytes], nodes: Sequence[bytes]) -> None:
    """One row ``(hashes[i], nodes[i])`` per node; a hash already stored is kept."""
    if not nodes:
        return
    if len(hashes) != len(nodes) or any(len(h) != 32 for h in hashes) or not all(nodes):
        raise StoreError("store: one 32-byte hash per node, nodes are not empty")
    conn.execute(
        "INSERT INTO chain_nodes (hash, rlp) SELECT * FROM unnest(%b::bytea[], %b::bytea[]) "
        "ON CONFLICT (hash) DO NOTHING",
        (list(hashes), list(nodes)),
    )


def _insert_slots(
    conn: Conn, block_hash: bytes, address: bytes, storage: Sequence[StorageRead]
) -> None:
    """One row per storage read, value as hex text (a stored slot row is replaced; of
    one slot read twice, the last read)."""
    if not storage:
        return
    if any(len(s.slot) != 32 for s in storage):
        raise StoreError("store: slots are 32 bytes")
    values = {s.slot: hex(s.value) for s in storage}
    conn.execute(
        "INSERT INTO chain_slots (block_hash, address, slot, value) "
        "SELECT %b, %b, s, v FROM unnest(%b::bytea[], %s::text[]) AS u(s, v) "
        "ON CONFLICT (block_hash, address, slot) DO UPDATE SET value = excluded.value",
        (block_hash, address, list(values), list(values.values())),
    )


class PgStore(PgConnection):
    """One connection to the verified-data cache in a PostgreSQL database (use one per
    thread). The database must be at this code's cache schema (``coproc db migrate``)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, "chain cache")
        try:
            with self._errors():
                require_cache_current(self.conn)
        except StoreError as exc:
            self.close()
            message = str(exc)
            raise StoreError(
                message if message.startswith(self.where) else f"{self.where}: {message}"
            ) from None

    @contextmanager
    def _write(self) -> Iterator[Conn]:
        """A writing transaction: BEGIN, the cache's write lock, … COMMIT (ROLLBACK on
        an exception)."""
        with self._errors():
            conn = self.conn
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                yield conn

    # ------------------------------------------------------------------ writes

    def save_verified(self, verified: VerifiedBundle) -> None:
        """Store a verified bundle's headers, nodes and values in one transaction."""
        with self._write() as conn:
            self._rows(conn, verified.bundle, verified.headers, verified.node_hashes)

    def save_while_verifying(self, pending: Pending) -> VerifiedBundle:
        """Verify ``pending`` in a worker thread while its rows are written in a
        transaction that is committed only when verification returned the verified
        bundle of exactly those rows, and rolled back otherwise (as the SQLite store)."""
        future = _verifier_pool().submit(pending.verify)
        try:
            with self._write() as conn:
                self._rows(conn, pending.bundle, pending.headers, pending.node_hashes)
                verified = future.result()
                if verified.bundle is not pending.bundle:
                    raise StoreError("store: verification returned another bundle than written")
        except BaseException:
            concurrent.futures.wait([future])
            raise
        return verified

    def _rows(
        self,
        conn: Conn,
        bundle: Bundle,
        headers: tuple[Header, ...],
        node_hashes: tuple[bytes, ...],
    ) -> None:
        """The rows of a bundle, inside the caller's transaction."""
        chain_id = to_int64(bundle.chain_id)
        by_number = {h.number: h for h in headers}
        for header in headers:
            _put_header(conn, chain_id, header)
        _insert_nodes(conn, node_hashes, bundle.nodes)
        for number in sorted({read.block for read in bundle.accounts}):
            block_hash = by_number[number].hash
            row = conn.execute(
                "SELECT hashes FROM chain_block_nodes WHERE block_hash = %b",
                (block_hash,),
                binary=True,
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
                    "INSERT INTO chain_block_nodes (block_hash, hashes) VALUES (%b, %b) "
                    "ON CONFLICT (block_hash) DO UPDATE SET hashes = excluded.hashes",
                    (block_hash, packed),
                )
        accounts = []
        for read in bundle.accounts:
            acc = read.account
            accounts.append(
                (
                    chain_id,
                    by_number[read.block].hash,
                    read.block,
                    read.address,
                    int(acc is not None),
                    hex(acc.nonce) if acc else "0x0",
                    hex(acc.balance) if acc else "0x0",
                    acc.storage_root if acc else b"",
                    acc.code_hash if acc else b"",
                )
            )
        if accounts:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO chain_accounts (chain_id, block_hash, block_number, address,"
                    " present, nonce, balance, storage_root, code_hash)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (block_hash, address) DO UPDATE SET chain_id ="
                    " excluded.chain_id, block_number = excluded.block_number,"
                    " present = excluded.present, nonce = excluded.nonce,"
                    " balance = excluded.balance, storage_root = excluded.storage_root,"
                    " code_hash = excluded.code_hash",
                    accounts,
                )
        for read in bundle.accounts:
            _insert_slots(conn, by_number[read.block].hash, read.address, read.storage)

    def save_hops(self, chain_id: int, hops: Sequence[VerifiedHop]) -> None:
        """Cache verified hops in one transaction. A source row of another hash at the
        same height is replaced, and the hops from it dropped (a reorg moved it)."""
        if not hops:
            return
        chain = to_int64(chain_id)
        with self._write() as conn:
            for hop in hops:
                source = hop.source
                row = conn.execute(
                    "SELECT hash FROM chain_hop_sources WHERE chain_id = %s AND number = %s",
                    (chain, source.number),
                ).fetchone()
                if row is not None and row[0] != source.hash:
                    conn.execute(
                        "DELETE FROM chain_hops WHERE chain_id = %s AND source = %s",
                        (chain, source.number),
                    )
                conn.execute(
                    "INSERT INTO chain_hop_sources (chain_id, number, hash, header,"
                    " account_proof) VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash,"
                    " header = excluded.header, account_proof = excluded.account_proof",
                    (chain, source.number, source.hash, source.raw, pack_nodes(hop.account_proof)),
                )
                conn.execute(
                    "INSERT INTO chain_hops (chain_id, source, target, target_header,"
                    " storage_proof) VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT (chain_id, source, target) DO UPDATE SET"
                    " target_header = excluded.target_header,"
                    " storage_proof = excluded.storage_proof",
                    (
                        chain,
                        source.number,
                        hop.target.number,
                        hop.target.raw,
                        pack_nodes(hop.storage_proof),
                    ),
                )

    def mark_canonical(self, chain_id: int, header: Header) -> None:
        """Record ``header`` as the canonical block at its height (reorg handling)."""
        with self._write() as conn:
            _put_header(conn, to_int64(chain_id), header)

    # ------------------------------------------------------------------ reads

    def cached_hops(
        self, chain_id: int, source: int, targets: Sequence[int], first: int | None = None
    ) -> CachedHops:
        """The cached hops from block ``source`` to ``targets`` that verify again
        (:func:`~coprocessor.index.hop_cache.verified_hop` from the source row's hash;
        ``first`` overrides the chain's activation); a row that does not is counted
        in ``rejected`` and left out."""
        chain = to_int64(chain_id)
        with self._errors():
            row = self.conn.execute(
                "SELECT hash, header, account_proof FROM chain_hop_sources"
                " WHERE chain_id = %s AND number = %s",
                (chain, source),
            ).fetchone()
            if row is None:
                return CachedHops({})
            hop_rows = self.conn.execute(
                "SELECT target, target_header, storage_proof FROM chain_hops"
                " WHERE chain_id = %s AND source = %s AND target = ANY(%s::bigint[])",
                (chain, source, sorted(set(targets))),
            ).fetchall()
        by_target = {int(t): (bytes(h), bytes(p)) for t, h, p in hop_rows}
        return reverified_hops(chain_id, source, row, by_target, targets, first)

    def headers_at(self, chain_id: int, number: int) -> list[CachedHeader]:
        """Every stored header at a height, canonical first."""
        with self._errors():
            rows = self.conn.execute(
                "SELECT number, hash, canonical, rlp FROM chain_headers"
                " WHERE chain_id = %s AND number = %s ORDER BY canonical DESC",
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
        with self._errors():
            acc = self.conn.execute(
                "SELECT present, nonce, balance, storage_root, code_hash FROM chain_accounts"
                " WHERE block_hash = %s AND address = %s",
                (block_hash, address),
            ).fetchone()
            if acc is None:
                return None
            rows = (
                self.conn.execute(
                    "SELECT slot, value FROM chain_slots WHERE block_hash = %s"
                    " AND address = %s AND slot = ANY(%b::bytea[])",
                    (block_hash, address, sorted(set(slots))),
                    binary=True,
                ).fetchall()
                if slots
                else []
            )
        stored: dict[bytes, str] = {bytes(s): v for s, v in rows}
        values: dict[bytes, str] = {}
        for slot in slots:
            if slot not in stored:
                return None
            values[slot] = stored[slot]
        return {"account": acc, "storage": values}

    def nodes_for_block(self, block_hash: bytes) -> list[bytes]:
        """All stored trie nodes that proofs at ``block_hash`` used (by hash)."""
        with self._errors():
            row = self.conn.execute(
                "SELECT hashes FROM chain_block_nodes WHERE block_hash = %s",
                (block_hash,),
                binary=True,
            ).fetchone()
            if row is None:
                return []
            rows = self.conn.execute(
                "SELECT rlp FROM chain_nodes WHERE hash = ANY(%b::bytea[]) ORDER BY hash",
                (sorted(_split_hashes(row[0])),),
                binary=True,
            ).fetchall()
        return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        """Row counts per table (status output, tests), named as the SQLite store's."""
        out: dict[str, int] = {}
        with self._errors():
            for name, table in _TABLES.items():
                row = self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                out[name] = 0 if row is None else int(row[0])
        return out

    def describe_header(self, chain_id: int, number: int) -> list[dict[str, Any]]:
        """JSON-friendly rows of the headers at a height."""
        return described(self.headers_at(chain_id, number))


def _put_header(conn: Conn, chain_id: int, header: Header) -> None:
    """Insert a header as canonical; other headers at its height become
    non-canonical, and so, in cascade, do stored descendants that no longer link
    (the SQLite store's ``_put_header``, statement for statement; an update skips
    rows already non-canonical)."""
    conn.execute(
        "UPDATE chain_headers SET canonical = false"
        " WHERE chain_id = %s AND number = %s AND hash != %s AND canonical",
        (chain_id, header.number, header.hash),
    )
    conn.execute(
        "INSERT INTO chain_headers (chain_id, number, hash, parent_hash, state_root,"
        " timestamp, rlp, canonical) VALUES (%s, %s, %s, %s, %s, %s, %s, true)"
        " ON CONFLICT (chain_id, number, hash) DO UPDATE SET"
        " parent_hash = excluded.parent_hash, state_root = excluded.state_root,"
        " timestamp = excluded.timestamp, rlp = excluded.rlp, canonical = true",
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
    if header.number > 0:
        conn.execute(
            "UPDATE chain_headers SET canonical = false"
            " WHERE chain_id = %s AND number = %s AND hash != %s AND canonical",
            (chain_id, header.number - 1, header.parent_hash),
        )
    # descendants of the headers just orphaned at this height are orphaned too
    orphaned = {
        bytes(r[0])
        for r in conn.execute(
            "SELECT hash FROM chain_headers WHERE chain_id = %s AND number = %s AND hash != %s",
            (chain_id, header.number, header.hash),
        ).fetchall()
    }
    number = header.number + 1
    # and a stored child that does not link to the new header cannot be canonical
    children = conn.execute(
        "SELECT hash FROM chain_headers WHERE chain_id = %s AND number = %s AND parent_hash != %s",
        (chain_id, number, header.hash),
    ).fetchall()
    orphaned_next = {bytes(r[0]) for r in children}
    while orphaned or orphaned_next:
        rows = conn.execute(
            "SELECT hash, parent_hash FROM chain_headers WHERE chain_id = %s AND number = %s",
            (chain_id, number),
        ).fetchall()
        now = {bytes(h) for h, parent in rows if bytes(parent) in orphaned} | orphaned_next
        if now:
            conn.execute(
                "UPDATE chain_headers SET canonical = false"
                " WHERE chain_id = %s AND hash = ANY(%s::bytea[])",
                (chain_id, sorted(now)),
            )
        orphaned, orphaned_next, number = now, set(), number + 1


__all__ = [
    "CACHE_MIGRATIONS",
    "CACHE_SCHEMA_VERSION",
    "PgStore",
    "cache_schema_version",
    "migrate_chain_cache",
    "require_cache_current",
]
