"""Everything ``coproc serve`` stores, on PostgreSQL: the job store (``postgres``) plus
the results, the SSE feed, posting records, samples, API keys, batches and the on-chain
listener's tables (schema v4, ``migrations``), shared by service processes on several
hosts (``store.protocol.ServiceDB``; the SQLite twin is ``jobs.JobDB``).

What differs from SQLite, because several processes write at once:

- **the feed**: ``seq`` comes from an identity column, and PostgreSQL hands out
  identity values in the order transactions ask, not the order they commit. A reader
  that saw 11 before 10 committed would skip 10 for ever, so ``publish`` first takes a
  transaction-scoped advisory lock (held until COMMIT): feed rows are appended one
  transaction at a time, and ``seq`` order is commit order;
- **posting records** carry the chain id (``store.posts.PgPostRecords``), and the nonce
  is chosen under a signer lock held in the database (one signer of a key at a time
  across processes); the table refuses a second transaction of one (chain, sender,
  nonce) from any process. They use a second connection (``post_records``);
- **API keys** are read from the table on each lookup and each key has one token
  bucket for all processes (``store.keys.PgKeys``, on a third connection,
  ``shared_keys``): a revocation reaches every process at once and N processes together
  admit the key's rate, not N times it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from coprocessor.service.jobs import JOB_FILTERS
from coprocessor.service.store.keys import PgKeys
from coprocessor.service.store.postgres import PgJobStore
from coprocessor.service.store.posts import PgPostRecords
from coprocessor.service.store.protocol import Rows

#: pg_advisory_xact_lock key of feed appends ("feed" in ASCII)
_FEED_LOCK = 0x66656564


@lru_cache(maxsize=512)
def pyformat(sql: str) -> str:
    """``?`` parameters as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgServiceDB(PgJobStore):
    """One connection to the service's PostgreSQL database (use one per thread)."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._posting: PgJobStore | None = None
        self._keys: PgJobStore | None = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with self._errors():
            return self.conn.execute(pyformat(sql), tuple(params))

    # ------------------------------------------------------------------ results and feed

    def put_result(self, subject: str, model_hash: str, block: int, job_id: str, body: str) -> None:
        """Keep the result of the highest block per (subject, model); same block: newest."""
        self.execute(
            "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (subject, model_hash) DO UPDATE SET block = excluded.block, "
            "job_id = excluded.job_id, body = excluded.body, updated_at = excluded.updated_at "
            "WHERE excluded.block >= results.block",
            (subject, model_hash, block, job_id, body, time.time()),
        )

    def drop_result_of(self, job_id: str) -> None:
        self.execute("DELETE FROM results WHERE job_id = ?", (job_id,))

    def result(self, subject: str, model_hash: str) -> str | None:
        row = self.execute(
            "SELECT body FROM results WHERE subject = ? AND model_hash = ?", (subject, model_hash)
        ).fetchone()
        return None if row is None else str(row[0])

    def publish(self, job_id: str, kind: str, generation: int, body: str) -> None:
        """Append to the feed once per (job, kind, generation); feed appends are
        serialized to COMMIT (the module's docstring)."""
        with self.tx():
            self.execute("SELECT pg_advisory_xact_lock(?)", (_FEED_LOCK,))
            self.execute(
                "INSERT INTO feed (job_id, kind, generation, body, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, kind, generation) DO NOTHING",
                (job_id, kind, generation, body, time.time()),
            )

    def feed_after(self, seq: int, limit: int = 500) -> list[tuple[int, str, str]]:
        rows = self.execute(
            "SELECT seq, kind, body FROM feed WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [(int(s), str(k), str(b)) for s, k, b in rows]

    def last_feed_seq(self) -> int:
        row = self.execute("SELECT MAX(seq) FROM feed").fetchone()
        return int(row[0] or 0)

    # ------------------------------------------------------------------ posts and samples

    def post_records(self, chain_id: int) -> PgPostRecords:
        """The posting records, on a connection of their own: the posting stage signs
        (``sign_and_record``, a transaction holding the signer lock while it asks the
        node for the nonce and signs) in a thread, and a connection's transaction must
        not take in what the event loop's thread does meanwhile. A process posts one
        transaction at a time (``Runtime.post_lock``), so one connection serves them."""
        if self._posting is None:
            self._posting = PgJobStore(self.url)
        return PgPostRecords(self._posting, chain_id)

    def close(self) -> None:
        for extra in (self._posting, self._keys):
            if extra is not None:
                extra.close()
        super().close()

    def record_sample(
        self,
        job_id: str,
        outcome: str,
        signed_score: int | None,
        proven_score: int | None,
        challenge: dict[str, Any] | None,
    ) -> None:
        self.execute(
            "INSERT INTO samples (job_id, outcome, signed_score, proven_score, challenge, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
            "outcome = excluded.outcome, signed_score = excluded.signed_score, "
            "proven_score = excluded.proven_score, challenge = excluded.challenge, "
            "challenge_tx = NULL, created_at = excluded.created_at",
            (
                job_id,
                outcome,
                signed_score,
                proven_score,
                None if challenge is None else json.dumps(challenge),
                time.time(),
            ),
        )

    def sample_counts(self) -> dict[str, int]:
        rows = self.execute("SELECT outcome, COUNT(*) FROM samples GROUP BY outcome").fetchall()
        return {str(k): int(n) for k, n in rows}

    def challenges(self) -> list[dict[str, Any]]:
        rows = self.execute(
            "SELECT job_id, challenge, challenge_tx FROM samples WHERE challenge IS NOT NULL"
        ).fetchall()
        return [{"job_id": j, "challenge": json.loads(c), "tx_hash": t} for j, c, t in rows]

    def set_challenge_tx(self, job_id: str, tx_hash: str) -> None:
        with self.tx():
            self.execute("UPDATE samples SET challenge_tx = ? WHERE job_id = ?", (tx_hash, job_id))

    # ------------------------------------------------------------------ explorer, keys

    def job_ids(self, filters: dict[str, str], limit: int) -> list[str]:
        where, args = [], []
        for name, value in filters.items():
            if name != "state" and name not in JOB_FILTERS:
                raise ValueError(f"no job filter {name!r}")
            where.append("state = ?" if name == "state" else f"(request::jsonb ->> '{name}') = ?")
            args.append(value)
        sql = "SELECT id FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.execute(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit))
        return [str(r[0]) for r in rows.fetchall()]

    def latest_image_id(self) -> str | None:
        row = self.execute(
            "SELECT data::jsonb #>> '{receipt,image_id}' FROM jobs "
            "WHERE data::jsonb #>> '{receipt,image_id}' IS NOT NULL "
            "ORDER BY updated_at DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def shared_keys(self) -> PgKeys:
        """Keys and token buckets for the API's per-request checks, on a connection of
        their own whose commits do not wait for the WAL flush (``synchronous_commit``
        off for that session): a bucket is not worth an fsync per request, and a
        database crash can lose only the last moments' takes (a key gets that many
        requests back). Key creation and revocation stay on the durable connection."""
        if self._keys is None:
            self._keys = PgJobStore(self.url)
            with self._keys.tx():
                self._keys.conn.execute("SET synchronous_commit TO OFF")
        return PgKeys(self._keys)
