"""Posting records and nonces on PostgreSQL: one signer of a key at a time across
processes and hosts.

The exactly-once posting protocol (``coprocessor.service.posting.post_exactly_once``)
records each signed transaction before it is broadcast. With several processes posting
from one key, each would otherwise read the chain's pending nonce and two could sign the
same nonce (one of the two transactions then never lands, and its job retries). Here:

- ``signing(sender)`` is a transaction holding ``pg_advisory_xact_lock`` on (chain,
  sender): one process at a time chooses a nonce, signs and records; the lock dies with
  the transaction, and with the connection if the process is killed;
- the nonce is the smallest one at or above the chain's pending count that no recorded
  transaction holds (``choose_nonce``): a transaction recorded but not broadcast yet
  (its process died before broadcasting; the job's next owner re-broadcasts the same
  bytes) keeps its nonce, and a record forgotten because its nonce was taken on-chain
  frees nothing below the pending count;
- the table refuses a second record of one (chain, sender, nonce) anyway
  (``UNIQUE``), so even a signer outside the lock cannot record a duplicate.

``coproc serve`` on PostgreSQL posts through it: ``posting.post_exactly_once`` hands the
signing to ``sign_and_record`` (records that choose nonces, ``posting.NonceRecords``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from coprocessor.errors import StoreError
from coprocessor.service.posting import Prepared
from coprocessor.service.store.postgres import PgJobStore


def choose_nonce(pending_count: int, recorded: Iterable[int]) -> int:
    """The smallest nonce >= ``pending_count`` that no recorded transaction holds."""
    taken = set(recorded)
    nonce = pending_count
    while nonce in taken:
        nonce += 1
    return nonce


class NonceLease:
    """Inside ``PgPostRecords.signing``: choose a nonce, then record the signed transaction."""

    def __init__(self, records: PgPostRecords, sender: str) -> None:
        self.records = records
        self.sender = sender.lower()

    def next_nonce(self, pending_count: int) -> int:
        rows = self.records.store.conn.execute(
            "SELECT nonce FROM posts WHERE chain_id = %s AND sender = %s AND nonce >= %s",
            (self.records.chain_id, self.sender, pending_count),
        ).fetchall()
        return choose_nonce(pending_count, (int(r[0]) for r in rows))


class PgPostRecords:
    """The ``posts`` table for one chain (``posting.PostRecords``), on the job store's
    connection."""

    def __init__(self, store: PgJobStore, chain_id: int) -> None:
        self.store = store
        self.chain_id = chain_id

    def post_of(self, job_id: str) -> dict[str, Any] | None:
        with self.store.tx():
            row = self.store.conn.execute(
                "SELECT sender, nonce, tx_hash, raw_tx FROM posts WHERE job_id = %s", (job_id,)
            ).fetchone()
        if row is None:
            return None
        return {"sender": row[0], "nonce": int(row[1]), "tx_hash": row[2], "raw_tx": row[3]}

    def record_post(self, job_id: str, sender: str, nonce: int, tx_hash: str, raw: str) -> None:
        """Record a signed transaction before it is broadcast; a second record of the
        key, or of the sender's nonce on this chain, is a ``StoreError``."""
        with self.store.tx():
            cur = self.store.conn.execute(
                "INSERT INTO posts VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (job_id, self.chain_id, sender.lower(), nonce, tx_hash, raw, time.time()),
            )
            if cur.rowcount != 1:
                raise StoreError(
                    f"posts: {job_id} or nonce {nonce} of {sender} on chain {self.chain_id} "
                    "is recorded already"
                )

    def forget_post(self, job_id: str) -> None:
        with self.store.tx():
            self.store.conn.execute("DELETE FROM posts WHERE job_id = %s", (job_id,))

    @contextmanager
    def signing(self, sender: str) -> Iterator[NonceLease]:
        """Hold the signer lock of ``sender`` on this chain for one transaction."""
        with self.store.tx():
            self.store.conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"coproc-signer:{self.chain_id}:{sender.lower()}",),
            )
            yield NonceLease(self, sender)

    def sign_and_record(
        self,
        job_id: str,
        sender: str,
        pending_count: Callable[[], int],
        sign: Callable[[int], Prepared],
    ) -> Prepared | None:
        """Under the signer lock: choose the nonce (``pending_count``: the chain's pending
        transaction count of ``sender``), ``sign`` with it, record it; returns what to
        broadcast (after this returns, outside the lock). None: another process recorded
        a transaction of ``job_id`` while this one waited for the lock (nothing signed)."""
        with self.signing(sender) as lease:
            if self.post_of(job_id) is not None:
                return None
            nonce = lease.next_nonce(pending_count())
            prepared = sign(nonce)
            if prepared.nonce != nonce or prepared.sender.lower() != sender.lower():
                raise StoreError(f"posts: signed {prepared.sender} nonce {prepared.nonce}, "
                                 f"not {sender} nonce {nonce}")  # fmt: skip
            self.record_post(job_id, sender, nonce, prepared.tx_hash, prepared.raw_tx)
        return prepared
