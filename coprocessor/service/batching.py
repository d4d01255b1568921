"""Batching proven jobs: many jobs, one receipt (batch journal v1, docs/formats.md §5).

With ``batch_max_size > 0`` a job that needs a proof (mode ``proven`` or ``both``) goes
from signing to **batching** instead of proving. Jobs of the same model and the same
request block (so one bundle serves them all, and each leaf is exactly the job's signed
result) collect in an open batch until it holds ``batch_max_size`` jobs or
``batch_wait_seconds`` have passed since it opened; then one worker closes it, indexes
one bundle for all its subjects (the store's cache makes this cheap; the bundle the
indexing stage would build, ``service/indexing.py``: a v2 with hops shared by every
subject for a spec v2 or a block far back, protocol reads recorded for every subject),
proves it once
(``coproc-host prove --subjects``, checked byte for byte against the Python twin), and
records the receipt and every leaf with its proof. Each member job then takes its own
leaf and proof and moves on (posting, or done).

Posting a batch (``post``): ``RiskOracle.submitBatch`` then ``RiskOracle.storeLeaves``
of every leaf, each exactly once through the ``posts`` table (keys ``batch:<id>`` and
``leaves:<id>``: recorded before broadcast, the same bytes re-sent after a crash), the
L2 anchor bridged first as for single jobs. Every member job runs the same idempotent
steps; the first to get there sends, the others find the transactions landed.

Crash safety: a batch's membership, closing, receipt and failure are rows written in
transactions; proving holds a batch lease (``prover_until``) that another member takes
over when it runs out, so a killed prover is replaced and a batch is proven (and
posted) once. A job whose anchor is reorged away leaves its batch (its new generation
joins a new one); a batch whose jobs all left is never proven.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.keccak import keccak256
from coprocessor.errors import CoprocessorError, ToolError, UserInputError, VerificationError
from coprocessor.index.indexer import write_json_atomic
from coprocessor.scoring import batch as scoring_batch
from coprocessor.scoring import pipeline
from coprocessor.service import posting
from coprocessor.service.indexing import bundle_json, index_job, job_reads
from coprocessor.service.jobs import Job
from coprocessor.service.lifecycle import State, next_state
from coprocessor.service.store.protocol import ServiceDB
from coprocessor.zk import batch_journal, batch_prover
from coprocessor.zk.prover import load_receipt

if TYPE_CHECKING:
    from coprocessor.service.worker import Runtime

log = logging.getLogger("coproc.service.batching")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS batches (
        id TEXT PRIMARY KEY, model TEXT NOT NULL, block INTEGER NOT NULL,
        state TEXT NOT NULL, opened_at REAL NOT NULL, closed_at REAL,
        prover_owner TEXT, prover_until REAL, data TEXT NOT NULL DEFAULT '{}',
        error TEXT)""",
    "CREATE INDEX IF NOT EXISTS batches_open ON batches (state, model, block)",
    """CREATE TABLE IF NOT EXISTS batch_members (
        batch_id TEXT NOT NULL, job_id TEXT NOT NULL, generation INTEGER NOT NULL,
        position INTEGER NOT NULL, subject TEXT NOT NULL, left_at REAL,
        PRIMARY KEY (job_id, generation))""",
    "CREATE INDEX IF NOT EXISTS batch_members_of ON batch_members (batch_id, position)",
)

OPEN, CLOSED, PROVEN, FAILED = "open", "closed", "proven", "failed"


class Parked(CoprocessorError):
    """The job waits for its batch (to fill, or to be proven by another worker): it was
    rescheduled and its lease released; the worker moves on."""


def batch_id_bytes(batch_id: str) -> bytes:
    """The journal's batch id of a service batch (the oracle's replay protection)."""
    return keccak256(b"coproc-batch:" + batch_id.encode())


@dataclass(frozen=True)
class Batch:
    id: str
    model: str
    block: int
    state: str
    opened_at: float
    prover_owner: str | None
    prover_until: float | None
    data: dict[str, Any]
    error: str | None


def ensure_schema(db: ServiceDB) -> None:
    """The batch tables, beside the job tables in the service database (PostgreSQL:
    made by ``coproc db migrate``, schema v4)."""
    if db.kind != "sqlite":
        return
    with db.tx():
        for stmt in _SCHEMA:
            db.execute(stmt)


def _batch(db: ServiceDB, batch_id: str) -> Batch:
    row = db.execute(
        "SELECT id, model, block, state, opened_at, prover_owner, prover_until, data, error "
        "FROM batches WHERE id = ?",
        (batch_id,),
    ).fetchone()
    if row is None:
        raise ToolError(f"batch {batch_id} is missing from the service database")
    return Batch(
        id=str(row[0]),
        model=str(row[1]),
        block=int(row[2]),
        state=str(row[3]),
        opened_at=float(row[4]),
        prover_owner=row[5],
        prover_until=row[6],
        data=json.loads(row[7]),
        error=row[8],
    )


def members(db: ServiceDB, batch_id: str) -> list[tuple[str, int, str]]:
    """(job id, generation, subject) of the batch's current members, in leaf order."""
    rows = db.execute(
        "SELECT job_id, generation, subject FROM batch_members WHERE batch_id = ? "
        "AND left_at IS NULL ORDER BY position",
        (batch_id,),
    ).fetchall()
    return [(str(j), int(g), str(s)) for j, g, s in rows]


def batch_of(db: ServiceDB, job: Job) -> str | None:
    row = db.execute(
        "SELECT batch_id FROM batch_members WHERE job_id = ? AND generation = ? "
        "AND left_at IS NULL",
        (job.id, job.generation),
    ).fetchone()
    return None if row is None else str(row[0])


def leave(db: ServiceDB, job_id: str) -> None:
    """Inside a transaction: the job leaves any batch not yet closed or proven (reorg);
    a closed batch keeps its membership (its proof covers the job's old generation)."""
    db.execute(
        "UPDATE batch_members SET left_at = ? WHERE job_id = ? AND left_at IS NULL AND "
        "batch_id IN (SELECT id FROM batches WHERE state = ?)",
        (time.time(), job_id, OPEN),
    )


class Batcher:
    """The batching stage and the batch posting steps of one service process."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.db = runtime.db
        ensure_schema(self.db)

    # ------------------------------------------------------------------ membership

    def _join(self, job: Job) -> str:
        """Put the job into the open batch of its model and block (a new one if none
        has room).

        The open batch's row stays locked until the membership commits (PostgreSQL:
        ``FOR UPDATE``; SQLite: the write lock of ``BEGIN IMMEDIATE``), so a batch cannot
        close, and its prover read the members, between this job choosing the batch and
        joining it: a member the prover did not see would never find its leaf."""
        c = self.rt.config
        model, block = job.request["model"], int(job.data["block"])
        now = time.time()
        lock = " FOR UPDATE" if self.db.kind == "postgresql" else ""
        with self.db.tx():
            existing = batch_of(self.db, job)
            if existing is not None:
                return existing
            row = self.db.execute(
                "SELECT id FROM batches WHERE state = ? AND model = ? AND block = ? "
                "ORDER BY opened_at LIMIT 1" + lock,
                (OPEN, model, block),
            ).fetchone()
            size = 0
            if row is not None:
                counted = self.db.execute(
                    "SELECT COUNT(*) FROM batch_members WHERE batch_id = ? AND left_at IS NULL",
                    (str(row[0]),),
                ).fetchone()
                size = int(counted[0])
            if row is not None and size < c.batch_max_size:
                batch_id = str(row[0])
            else:
                batch_id = "batch_" + secrets.token_hex(10)
                self.db.execute(
                    "INSERT INTO batches (id, model, block, state, opened_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (batch_id, model, block, OPEN, now),
                )
            top = self.db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM batch_members WHERE batch_id = ?",
                (batch_id,),
            ).fetchone()
            position = int(top[0])
            self.db.execute(
                "INSERT INTO batch_members VALUES (?, ?, ?, ?, ?, NULL)",
                (batch_id, job.id, job.generation, position, job.request["subject"]),
            )
        return batch_id

    def _maybe_close(self, batch: Batch) -> Batch:
        """Close an open batch that is full or has waited long enough."""
        c = self.rt.config
        if batch.state != OPEN:
            return batch
        full = len(members(self.db, batch.id)) >= c.batch_max_size
        if full or time.time() >= batch.opened_at + c.batch_wait_seconds:
            with self.db.tx():
                self.db.execute(
                    "UPDATE batches SET state = ?, closed_at = ? WHERE id = ? AND state = ?",
                    (CLOSED, time.time(), batch.id, OPEN),
                )
        return _batch(self.db, batch.id)

    def _take_proving(self, batch: Batch, owner: str) -> bool:
        """Take the batch's proving lease (free, or run out)."""
        now = time.time()
        with self.db.tx():
            cur = self.db.execute(
                "UPDATE batches SET prover_owner = ?, prover_until = ? WHERE id = ? AND "
                "state = ? AND (prover_until IS NULL OR prover_until < ? OR prover_owner = ?)",
                (owner, now + self.rt.config.lease_seconds, batch.id, CLOSED, now, owner),
            )
            return cur.rowcount == 1

    def _park(self, job: Job, owner: str, until: float) -> None:
        with self.db.tx():
            self.db.execute(
                "UPDATE jobs SET next_run_at = ?, lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND lease_owner = ?",
                (until, job.id, owner),
            )
        raise Parked(f"job {job.id} waits for its batch")

    def _wake(self, batch_id: str) -> None:
        """The batch is proven (or failed): its members parked until its wait would have run
        out come back now instead (a batch that closed full is not waited for)."""
        now = time.time()
        with self.db.tx():
            self.db.execute(
                "UPDATE jobs SET next_run_at = ? WHERE next_run_at > ? AND lease_owner IS NULL "
                "AND id IN (SELECT job_id FROM batch_members WHERE batch_id = ?)",
                (now, now, batch_id),
            )

    # ------------------------------------------------------------------ the stage

    async def stage(self, job: Job, owner: str) -> Job:
        """The ``batching`` state's stage: join, wait, prove (one worker), take the leaf."""
        batch = self._maybe_close(_batch(self.db, self._join(job)))
        if batch.state == OPEN:
            self._park(job, owner, batch.opened_at + self.rt.config.batch_wait_seconds)
        if batch.state == CLOSED:
            if not self._take_proving(batch, owner):
                self._park(job, owner, time.time() + min(2.0, self.rt.config.lease_seconds))
            await self._prove(batch, owner)
            batch = _batch(self.db, batch.id)
            if batch.state != CLOSED:
                self._wake(batch.id)
            if batch.state == CLOSED:  # another worker took the proving over meanwhile
                self._park(job, owner, time.time() + min(2.0, self.rt.config.lease_seconds))
        if batch.state == FAILED:
            raise VerificationError(f"batch {batch.id}: {batch.error}")
        return self._take_leaf(job, owner, batch)

    async def _prove(self, batch: Batch, owner: str) -> None:
        rt = self.rt
        served = rt.catalog.get(batch.model)
        if served is None:
            raise UserInputError(f"model {batch.model!r} is not served here")
        who = members(self.db, batch.id)
        if not who:
            with self.db.tx():
                self.db.execute(
                    "UPDATE batches SET state = ?, error = ? WHERE id = ?",
                    (FAILED, "every job left the batch", batch.id),
                )
            return
        subjects = [s for _j, _g, s in who]
        from coprocessor.service.worker import request_id_of  # (worker imports this module)

        request_ids = [request_id_of(j) for j, _g, _s in who]
        beat = asyncio.create_task(self._heartbeat(batch.id, owner))
        try:
            anchor = batch.block + rt.config.ancestors
            reads = await job_reads(
                rt.rpc, rt.store, served.spec, subjects, batch.block, anchor, rt.chain_id
            )
            verified = await index_job(rt.rpc, rt.store, served.spec, reads, anchor)
            path = rt.data_dir / "batches" / f"{batch.id}.json"
            write_json_atomic(path, bundle_json(verified))
            scored = scoring_batch.run(
                pipeline.verify_file(path),
                served.spec,
                served.model,
                subjects,
                request_ids=request_ids,
                block=batch.block,
                batch_id=batch_id_bytes(batch.id),
            )
            request = batch_prover.BatchProveRequest(
                path,
                served.model_path,
                served.spec_path,
                tuple(subjects),
                tuple(request_ids),
                batch_id_bytes(batch.id),
                batch.block,
            )
            try:
                receipt = await asyncio.to_thread(self._prove_receipt, request, scored)
            except (UserInputError, VerificationError) as exc:
                with self.db.tx():
                    self.db.execute(
                        "UPDATE batches SET state = ?, error = ? WHERE id = ? AND state = ?",
                        (FAILED, str(exc)[:300], batch.id, CLOSED),
                    )
                return
            data = {
                "journal": receipt["journal_hex"],
                "seal": receipt.get("seal_hex"),
                "image_id": receipt.get("image_id"),
                "dev_mode": bool(receipt.get("dev_mode")),
                "receipt_kind": receipt.get("receipt_kind"),
                "cycles": receipt.get("cycles"),
                "anchor": {
                    "number": verified.anchor.number,
                    "hash": hexstr(verified.anchor.hash),
                },
                "root": hexstr(scored.root),
                "leaves": [leaf.to_json() for leaf in scored.leaves],
                "members": [[j, g] for j, g, _s in who],
                "bundle": str(path),
            }
            with self.db.tx():
                self.db.execute(
                    "UPDATE batches SET state = ?, data = ? WHERE id = ? AND state = ? "
                    "AND prover_owner = ?",
                    (PROVEN, json.dumps(data), batch.id, CLOSED, owner),
                )
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    def _prove_receipt(
        self, request: batch_prover.BatchProveRequest, scored: scoring_batch.BatchScored
    ) -> dict[str, Any]:
        custom = getattr(self.rt.prover, "prove_batch", None)
        if custom is not None:  # a test double or a remote prover
            out: dict[str, Any] = custom(request, scored, self.rt.config.dev_proofs)
            return out
        if self.rt.prover.__class__.__name__ == "NoProver":
            raise ToolError('no prover configured (config prover = "none"): cannot prove')
        with tempfile.TemporaryDirectory(prefix="coproc-batch-") as tmp:
            out_path = Path(tmp) / "receipt.json"
            batch_prover.prove(request, out_path, scored, dev=self.rt.config.dev_proofs)
            return load_receipt(out_path)

    async def _heartbeat(self, batch_id: str, owner: str) -> None:
        period = self.rt.config.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            with self.db.tx():
                self.db.execute(
                    "UPDATE batches SET prover_until = ? WHERE id = ? AND prover_owner = ?",
                    (time.time() + self.rt.config.lease_seconds, batch_id, owner),
                )

    def _take_leaf(self, job: Job, owner: str, batch: Batch) -> Job:
        d = batch.data
        index = next(
            (i for i, (j, g) in enumerate(d["members"]) if j == job.id and g == job.generation),
            None,
        )
        if index is None:
            raise ToolError(f"job {job.id} is not among the proven members of {batch.id}")
        leaves = [batch_journal_leaf(x) for x in d["leaves"]]
        hashes = [leaf.hash() for leaf in leaves]
        proof = scoring_batch.proof(hashes, index)
        journal = bytes.fromhex(d["journal"][2:])
        batch_journal.check_leaf(journal, leaves[index], index, proof)
        leaf = leaves[index]
        served = self.rt.model_of(job)
        if leaf.subject != job.request["subject"] or d["anchor"] != job.data["anchor"]:
            raise VerificationError(f"batch {batch.id}: leaf {index} is not this job's result")
        data = dict(job.data)
        data["receipt"] = {
            "journal": d["journal"],
            "seal": d["seal"],
            "image_id": d["image_id"],
            "dev_mode": d["dev_mode"],
            "receipt_kind": d["receipt_kind"],
            "cycles": d["cycles"],
        }
        data["batch"] = {
            "id": batch.id,
            "batch_id": hexstr(batch_id_bytes(batch.id)),
            "size": len(leaves),
            "leaf_index": index,
            "leaf": leaf.to_json(),
            "leaf_hash": hexstr(hashes[index]),
            "proof": [hexstr(p) for p in proof],
            "results_root": d["root"],
        }
        if leaf.score != data["score"]:
            log.error("job %s: batch score %d != computed %d", job.id, leaf.score, data["score"])
            data["score"] = leaf.score  # the receipt is what contracts accept
        with self.db.tx():
            job = self.db.advance(job, owner, next_state(job, data), data)
            if job.request["mode"] != "signed":
                self.rt._publish(job, served, "proven")
        self.rt._result_changed(job.request["subject"], hexstr(served.model_hash))
        return job

    # ------------------------------------------------------------------ posting

    async def post(self, job: Job, owner: str, poster: posting.Poster) -> Job:
        """Post the job's batch (submitBatch, then storeLeaves of every leaf), each once."""
        served = self.rt.model_of(job)
        b = job.data["batch"]
        batch = _batch(self.db, b["id"])
        receipt = job.data["receipt"]
        if receipt.get("seal") is None:
            raise VerificationError(
                "batch receipt has no on-chain seal (composite receipt): posting needs a "
                "Groth16 or dev-mode receipt"
            )
        journal, seal = bytes.fromhex(receipt["journal"][2:]), bytes.fromhex(receipt["seal"][2:])
        leaves = [batch_journal_leaf(x) for x in batch.data["leaves"]]
        hashes = [leaf.hash() for leaf in leaves]
        proofs = [scoring_batch.proof(hashes, i) for i in range(len(leaves))]
        root = bytes.fromhex(b["results_root"][2:])
        call = getattr(poster, "prepare_call", None)
        if call is None:
            raise UserInputError("this destination's poster cannot post batches")
        extra: dict[str, Any] = {}
        async with self.rt.post_lock:
            if job.request["destination"] == "l2":
                assert self.rt.l2_poster is not None
                anchor = job.data["anchor"]
                extra["anchor_push"] = await asyncio.to_thread(
                    self.rt.l2_poster.ensure_anchor, int(anchor["number"]), anchor["hash"]
                )
            submitted = await self._once(
                f"batch:{batch.id}",
                poster,
                lambda nonce: call("submitBatch", journal, seal, nonce=nonce),
                used=bytes.fromhex(b["batch_id"][2:]),
            )
            stored = await self._once(
                f"leaves:{batch.id}",
                poster,
                lambda nonce: call(
                    "storeLeaves",
                    [root] * len(leaves),
                    [x.as_tuple() for x in leaves],
                    proofs,
                    nonce=nonce,
                ),
            )
        for landed in (submitted, stored):
            self.rt.metrics.posts.inc(
                destination=job.request["destination"], result="ok" if landed.ok else "reverted"
            )
            if not landed.ok:
                raise VerificationError(f"batch transaction {landed.tx_hash} reverted")
        data = dict(
            job.data,
            tx_hash=stored.tx_hash,
            batch_tx_hash=submitted.tx_hash,
            posted_block=stored.block_number,
            **extra,
        )
        with self.db.tx():
            job = self.db.advance(job, owner, next_state(job, data), data)
            self.rt._publish(job, served, "posted")
        self.rt._result_changed(job.request["subject"], hexstr(served.model_hash))
        return job

    async def _once(
        self, key: str, poster: posting.Poster, prepare: Any, used: bytes | None = None
    ) -> posting.Landed:
        """One transaction per key (the worker's exactly-once protocol, per batch)."""
        records = self.db.post_records(int(getattr(poster, "chain_id", 0)))
        return await posting.post_exactly_once(
            records, key, poster, prepare, None if used is None else (used, "batch id")
        )


def batch_journal_leaf(obj: dict[str, Any]) -> scoring_batch.Leaf:
    """A leaf from its JSON (``Leaf.to_json``)."""
    return scoring_batch.Leaf(
        block_number=int(obj["blockNumber"]),
        subject=str(obj["subject"]),
        model_hash=bytes.fromhex(obj["modelHash"][2:]),
        feature_spec_hash=bytes.fromhex(obj["featureSpecHash"][2:]),
        score=int(obj["score"]),
        request_id=bytes.fromhex(obj["requestId"][2:]),
    )


def is_batched(job: Job) -> bool:
    """Whether a job's proof comes from a batch (it went through ``batching``)."""
    return "batch" in job.data and job.state != State.BATCHING


__all__ = [
    "Batcher",
    "Parked",
    "batch_id_bytes",
    "batch_of",
    "ensure_schema",
    "is_batched",
    "leave",
    "members",
]
