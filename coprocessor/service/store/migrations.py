"""The PostgreSQL schema as numbered migrations, applied in order by ``coproc db migrate``.

The database records every applied migration in ``coproc_schema``; its highest version is
the database's schema version. A process refuses a database whose version is newer than
its own (an older coproc must not write a newer schema), and the job store refuses one
that is older (run ``coproc db migrate`` first: serving processes never change the
schema, so N processes started at once cannot race on it). ``migrate`` holds an
advisory lock, so concurrent ``coproc db migrate`` runs apply each migration once.

A released migration is never edited: a change is a new migration at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coprocessor.errors import StoreError

if TYPE_CHECKING:  # psycopg is imported only where PostgreSQL is used
    import psycopg
    from psycopg.rows import TupleRow


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "job queue",
        (
            # times are Unix seconds (the same numbers as the SQLite store)
            """CREATE TABLE jobs (
                id TEXT PRIMARY KEY, idem_key TEXT UNIQUE, request TEXT NOT NULL,
                state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                next_run_at DOUBLE PRECISION NOT NULL, lease_owner TEXT,
                lease_until DOUBLE PRECISION, created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL, timestamps TEXT NOT NULL, error TEXT,
                data TEXT NOT NULL DEFAULT '{}', generation INTEGER NOT NULL DEFAULT 0)""",
            "CREATE INDEX jobs_ready ON jobs (state, next_run_at)",
            "CREATE INDEX jobs_created ON jobs (created_at)",
        ),
    ),
    Migration(
        2,
        "posting records and nonces",
        (
            # one recorded transaction per posting key (a job or a batch); a sender's
            # nonce is recorded at most once per chain: the database refuses a second
            # transaction with the same nonce however many processes sign
            """CREATE TABLE posts (
                job_id TEXT PRIMARY KEY, chain_id NUMERIC(20, 0) NOT NULL,
                sender TEXT NOT NULL, nonce NUMERIC(20, 0) NOT NULL, tx_hash TEXT NOT NULL,
                raw_tx TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                UNIQUE (chain_id, sender, nonce))""",
        ),
    ),
    Migration(
        3,
        "API keys and shared rate limits",
        (
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL,
                rate DOUBLE PRECISION NOT NULL, burst INTEGER NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, revoked BOOLEAN NOT NULL DEFAULT false)""",
            # one token bucket per key for all processes; ``taken``: whether the last
            # take got a token
            """CREATE TABLE rate_buckets (
                key_id TEXT PRIMARY KEY REFERENCES api_keys (id),
                tokens DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
                taken BOOLEAN NOT NULL)""",
        ),
    ),
    Migration(
        4,
        "the service's other tables",
        (
            # the latest result per (subject, model): what GET /v1/scores serves
            """CREATE TABLE results (
                subject TEXT NOT NULL, model_hash TEXT NOT NULL, block BIGINT NOT NULL,
                job_id TEXT NOT NULL, body TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (subject, model_hash))""",
            "CREATE INDEX results_job ON results (job_id)",
            # the SSE feed; rows are appended under an advisory lock held to COMMIT, so
            # ``seq`` order is commit order (a reader never skips a late-committing row)
            """CREATE TABLE feed (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job_id TEXT NOT NULL,
                kind TEXT NOT NULL, generation INTEGER NOT NULL, body TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, UNIQUE (job_id, kind, generation))""",
            """CREATE TABLE samples (
                job_id TEXT PRIMARY KEY, outcome TEXT NOT NULL, signed_score BIGINT,
                proven_score BIGINT, challenge TEXT, challenge_tx TEXT,
                created_at DOUBLE PRECISION NOT NULL)""",
            # batching (service/batching.py)
            """CREATE TABLE batches (
                id TEXT PRIMARY KEY, model TEXT NOT NULL, block BIGINT NOT NULL,
                state TEXT NOT NULL, opened_at DOUBLE PRECISION NOT NULL,
                closed_at DOUBLE PRECISION, prover_owner TEXT,
                prover_until DOUBLE PRECISION, data TEXT NOT NULL DEFAULT '{}', error TEXT)""",
            "CREATE INDEX batches_open ON batches (state, model, block)",
            """CREATE TABLE batch_members (
                batch_id TEXT NOT NULL, job_id TEXT NOT NULL, generation INTEGER NOT NULL,
                position INTEGER NOT NULL, subject TEXT NOT NULL,
                left_at DOUBLE PRECISION, PRIMARY KEY (job_id, generation))""",
            "CREATE INDEX batch_members_of ON batch_members (batch_id, position)",
            # the on-chain request listener (service/listener.py)
            """CREATE TABLE listener_blocks (
                chain TEXT NOT NULL, number BIGINT NOT NULL, hash TEXT NOT NULL,
                PRIMARY KEY (chain, number))""",
            """CREATE TABLE onchain_requests (
                chain TEXT NOT NULL, request_id TEXT NOT NULL, block_number BIGINT NOT NULL,
                block_hash TEXT NOT NULL, tx_hash TEXT NOT NULL, status TEXT NOT NULL,
                reason TEXT, job_id TEXT, event TEXT NOT NULL,
                seen_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (chain, request_id))""",
        ),
    ),
)

#: the schema version this code reads and writes
SCHEMA_VERSION = MIGRATIONS[-1].version

#: pg_advisory_xact_lock key serializing migrations ("coproc" in ASCII)
_LOCK_KEY = 0x636F70726F63

_SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS coproc_schema (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""


def schema_version(conn: psycopg.Connection[TupleRow]) -> int:
    """The database's schema version (0: no migration applied yet)."""
    row = conn.execute("SELECT to_regclass('coproc_schema') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    top = conn.execute("SELECT COALESCE(MAX(version), 0) FROM coproc_schema").fetchone()
    return int(top[0]) if top is not None else 0


def refuse_newer(found: int, code: int) -> None:
    """A database written by a newer coproc is not touched."""
    if found > code:
        raise StoreError(f"database schema v{found} is newer than this coproc (v{code})")


def require_current(conn: psycopg.Connection[TupleRow]) -> None:
    """The job store opens only a database at exactly this code's schema version."""
    found = schema_version(conn)
    refuse_newer(found, SCHEMA_VERSION)
    if found < SCHEMA_VERSION:
        raise StoreError(
            f"database schema v{found} is older than this coproc (v{SCHEMA_VERSION}): "
            "run `coproc db migrate`"
        )


def migrate(conn: psycopg.Connection[TupleRow]) -> list[int]:
    """Apply the migrations the database lacks, in order, in one transaction; returns
    their versions (empty: already current)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(_SCHEMA_TABLE)
        found = schema_version(conn)
        refuse_newer(found, SCHEMA_VERSION)
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= found:
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO coproc_schema (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied.append(migration.version)
    return applied
