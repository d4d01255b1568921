"""The job stages and the worker loop.

Each stage reads what earlier stages committed in ``job.data``, does its work, and
commits its outputs together with the move to the next state (``ServiceDB.advance`` inside
one transaction), so a stage interrupted anywhere is simply run again. Which stage runs
in which state and which state follows is the table in ``lifecycle``:

- **indexing**: resolve the block, fetch headers (request block .. anchor) and
  ``eth_getProof`` for every read the feature spec needs (a protocol read's slots found
  by running it over verified storage), verify everything and cache
  it in the store (``indexer.index_reads``, the ``coproc index`` path; a bundle v2 with
  EIP-2935 hops for a spec v2 or deep reads, ``service/indexing.py``), write the
  bundle file.
- **scoring**: re-verify the bundle file, compute the Q16 features and the score.
- **signing**: EIP-712 signature; the signed result is published (results table, feed)
  in the same transaction. Sampling decides here whether a signed-only job is re-proved.
- **proving**: the zkVM prover; the receipt's journal must describe exactly this job;
  proven and signed scores are compared (proof of sampling).
- **posting**: ``RiskOracle.submit`` through the exactly-once protocol of ``posting``.

Before signing, proving and posting (the rows with an ``on_reorg``), the anchor block is
checked against the node: if it was reorged away, the job's outputs are dropped and it
goes back to indexing, so nothing computed from an orphaned block is signed further or
reaches a contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.keccak import keccak256
from coprocessor.errors import (
    CoprocessorError,
    StoreError,
    ToolError,
    UserInputError,
    VerificationError,
)
from coprocessor.index.indexer import write_json_atomic
from coprocessor.index.rpc import NodeStateError, RpcClient
from coprocessor.index.store import Store
from coprocessor.onchain import eip712
from coprocessor.scoring import pipeline
from coprocessor.service import batching, faults, posting, sampling
from coprocessor.service.catalog import Catalog, ServedModel
from coprocessor.service.config import ServiceConfig
from coprocessor.service.indexing import bundle_json, index_job, job_reads
from coprocessor.service.jobs import Job, LeaseLost
from coprocessor.service.lifecycle import Stage, State, is_final, next_state, row_of
from coprocessor.service.metrics import ServiceMetrics
from coprocessor.service.proving import Prover
from coprocessor.service.signer import Signer
from coprocessor.service.store.protocol import ServiceDB
from coprocessor.zk import journal as journal_v1
from coprocessor.zk.prover import ProveRequest

log = logging.getLogger("coproc.service")

PERMANENT = (UserInputError, VerificationError)


def request_id_of(job_id: str) -> bytes:
    """The journal's request id of a job: unique per job, so the oracle's replay
    protection also guards against posting one job twice."""
    return keccak256(b"coproc-job:" + job_id.encode())


def job_request_id(job: Job) -> bytes:
    """The journal's request id of ``job``: the on-chain request's id for a job the
    listener made (``request["onchain"]``), else :func:`request_id_of` its id."""
    onchain = job.request.get("onchain")
    if onchain is not None:
        return bytes.fromhex(onchain["request_id"][2:])
    return request_id_of(job.id)


@dataclass
class Runtime:
    """Everything the stages use; one per service process."""

    config: ServiceConfig
    data_dir: Path
    db: ServiceDB
    catalog: Catalog
    store: Store
    rpc: RpcClient
    chain_id: int
    prover: Prover
    metrics: ServiceMetrics
    signer: Signer | None = None
    l1_poster: posting.Poster | None = None
    l2_poster: posting.L2Poster | None = None
    #: RiskRequests.fulfil per request chain name (``request_chains``)
    fulfil_posters: dict[str, posting.Poster] = field(default_factory=dict)
    challenger_key: bytes | None = None
    sampler: sampling.Sampler = field(default_factory=lambda: sampling.Sampler(0.0))
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    published: asyncio.Event = field(default_factory=asyncio.Event)
    post_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stopping: bool = False
    #: results changed in this process: (subject, model hash) keys to drop from caches
    on_result: list[Any] = field(default_factory=list)
    _batcher: batching.Batcher | None = None

    def __post_init__(self) -> None:
        faults.check()  # a malformed COPROC_FAULT_AT stops the service at start

    def batcher(self) -> batching.Batcher:
        """The batching stage (``batch_max_size`` > 0), made on first use."""
        if self._batcher is None:
            self._batcher = batching.Batcher(self)
        return self._batcher

    # ------------------------------------------------------------------ helpers

    def model_of(self, job: Job) -> ServedModel:
        served = self.catalog.get(job.request["model"])
        if served is None:
            raise UserInputError(f"model {job.request['model']!r} is not served here")
        return served

    def _result_changed(self, subject: str, model_hash: str) -> None:
        for callback in self.on_result:
            callback(subject, model_hash)
        self.published.set()
        self.published = asyncio.Event()

    def bundle_path(self, job: Job, anchor_hash: bytes) -> Path:
        """The job's bundle file, named by its anchor: a worker whose lease ran out while
        it indexed (stalled, not dead) and that writes late cannot replace the file the
        job's new holder committed (its bundle of another head block would fail scoring
        for good)."""
        name = f"bundle-g{job.generation}-{anchor_hash.hex()[:16]}.json"
        return self.data_dir / "jobs" / job.id / name

    async def still_canonical(self, job: Job) -> bool:
        anchor = job.data["anchor"]
        block = await self.rpc.get_block(int(anchor["number"]))
        return bool(str(block.get("hash", "")).lower() == anchor["hash"])

    def result_body(self, job: Job, served: ServedModel) -> dict[str, Any]:
        d = job.data
        receipt = d.get("receipt") or {}
        return {
            "subject": job.request["subject"],
            "model": served.name,
            "model_hash": hexstr(served.model_hash),
            "feature_spec_hash": hexstr(served.spec_hash),
            "chain_id": self.chain_id,
            "block": d["block"],
            "anchor": d["anchor"],
            "score": d["score"],
            "features": d.get("vector"),
            "signature": d.get("signature"),
            "signer": d.get("signer"),
            "signing_chain_id": self.signer.chain_id if self.signer else None,
            "signed_scores": self.signer.verifying_contract if self.signer else None,
            "journal": receipt.get("journal"),
            "seal": receipt.get("seal"),
            "image_id": receipt.get("image_id"),
            "dev_mode": receipt.get("dev_mode"),
            "proof": {k: receipt.get(k) for k in ("receipt_kind", "cycles")} if receipt else None,
            "tx_hashes": {job.request["destination"]: d["tx_hash"]} if d.get("tx_hash") else {},
            "anchor_push": d.get("anchor_push"),
            "sampling": d.get("sampling"),
            "batch": d.get("batch"),
            "job_id": job.id,
            "request_id": hexstr(job_request_id(job)),
        }

    def _store_result(self, job: Job, served: ServedModel) -> str:
        """Inside a transaction: the latest result row; returns its body."""
        body = json.dumps(self.result_body(job, served), separators=(",", ":"))
        subject, model_hash = job.request["subject"], hexstr(served.model_hash)
        self.db.put_result(subject, model_hash, job.data["block"], job.id, body)
        return body

    def _publish(self, job: Job, served: ServedModel, kind: str) -> None:
        """Inside a transaction: the latest result row and a feed event."""
        self.db.publish(job.id, kind, job.generation, self._store_result(job, served))

    # ------------------------------------------------------------------ stages

    async def step(self, job: Job, owner: str) -> Job:
        """Run the stage ``lifecycle.TABLE`` names for the job's state; where the table
        has an ``on_reorg`` state, first check that the job's anchor is still canonical."""
        row = row_of(job.state)
        if row.on_reorg is not None:
            reorged = await self._reorged(job, owner, row.on_reorg)
            if reorged is not None:
                return reorged
        stages = {
            Stage.ADMIT: self._admit,
            Stage.INDEX: self._index,
            Stage.SCORE: self._score,
            Stage.SIGN: self._sign,
            Stage.PROVE: self._prove,
            Stage.BATCH: lambda job, owner: self.batcher().stage(job, owner),
            Stage.POST: self._post,
        }
        if row.stage is None:
            raise AssertionError(f"no stage for state {job.state}")
        return await stages[row.stage](job, owner)

    async def _admit(self, job: Job, owner: str) -> Job:
        with self.db.tx():
            return self.db.advance(job, owner, next_state(job), job.data)

    async def _reorged(self, job: Job, owner: str, target: State) -> Job | None:
        """If the anchor is no longer canonical: drop outputs, go to ``target``."""
        if await self.still_canonical(job):
            return None
        log.warning("job %s: block %s was reorged away; re-indexing", job.id, job.data["block"])
        self.metrics.reorgs.inc()
        served = self.model_of(job)
        with self.db.tx():
            self.db.drop_result_of(job.id)
            if self.config.batch_max_size > 0:
                batching.leave(self.db, job.id)
            job = self.db.advance(
                job, owner, target, {"block": job.data["block"]}, generation=job.generation + 1
            )
        self._result_changed(job.request["subject"], hexstr(served.model_hash))
        return job

    async def _resolve_block(self, spec: int | str) -> int:
        head = await self.rpc.block_number()
        ancestors = self.config.ancestors
        if isinstance(spec, int):
            if spec + ancestors > head:
                raise UserInputError(
                    f"block {spec} (+{ancestors} ancestors) is above the node's head {head}"
                )
            return spec
        if spec == "latest":
            number = head - ancestors
        else:
            block = await self.rpc.get_block(spec)
            number = min(int(block["number"], 16), head - ancestors)
        if number < 1:
            raise UserInputError(
                f"block {spec} resolves to {number}: nothing to score yet (block 0 has no "
                "usable state root; the node may not have finalized anything)"
            )
        return number

    async def _index(self, job: Job, owner: str) -> Job:
        served = self.model_of(job)
        subject = job.request["subject"]
        block = job.data.get("block")
        if block is None:
            block = await self._resolve_block(job.request["block"])
        anchor = block + self.config.ancestors
        reads = await job_reads(
            self.rpc, self.store, served.spec, [subject], block, anchor, self.chain_id
        )
        # the indexer's path: answers checked against what was asked, the bundle verified
        # by the Rust core (the guest's code) while the store writes it, cached values
        # of the same block hash reused. The request is valid (checked above): what the
        # indexer refuses now is the node's answers, and asking again may succeed.
        try:
            verified = await index_job(self.rpc, self.store, served.spec, reads, anchor)
        except (VerificationError, UserInputError) as exc:
            raise NodeStateError(f"the node's answers do not verify: {exc}") from None
        faults.reached("indexing.stored")
        path = self.bundle_path(job, verified.anchor.hash)
        try:
            write_json_atomic(path, bundle_json(verified))
        except UserInputError as exc:  # disk full, permissions: not the request's fault
            raise StoreError(str(exc)) from None
        faults.reached("indexing.written")
        data = {
            "block": block,
            "anchor": {"number": verified.anchor.number, "hash": hexstr(verified.anchor.hash)},
            "bundle": str(path),
        }
        with self.db.tx():
            return self.db.advance(job, owner, next_state(job, data), data)

    async def _local_bundle(self, job: Job) -> Path:
        """The job's bundle file on this host: the one its indexing stage wrote, or, when
        another process indexed it and its data directory is not this one (service
        processes on several hosts share the database, not their files), the bundle of
        the job's block and anchor indexed again here (verified like any other)."""
        path = Path(job.data["bundle"])
        if path.exists():
            return path
        anchor_hash = bytes.fromhex(job.data["anchor"]["hash"][2:])
        local = self.bundle_path(job, anchor_hash)
        if local.exists():
            return local
        served = self.model_of(job)
        block, anchor = int(job.data["block"]), int(job.data["anchor"]["number"])
        reads = await job_reads(
            self.rpc, self.store, served.spec, [job.request["subject"]], block, anchor,
            self.chain_id,
        )  # fmt: skip
        try:
            verified = await index_job(self.rpc, self.store, served.spec, reads, anchor)
        except (VerificationError, UserInputError) as exc:
            raise NodeStateError(f"the node's answers do not verify: {exc}") from None
        if verified.anchor.hash != anchor_hash:
            raise NodeStateError(
                f"block {anchor} is no longer the job's anchor {job.data['anchor']['hash']}"
            )
        try:
            write_json_atomic(local, bundle_json(verified))
        except UserInputError as exc:
            raise StoreError(str(exc)) from None
        log.info("job %s: bundle indexed again on this host (%s)", job.id, local)
        return local

    async def _score(self, job: Job, owner: str) -> Job:
        served = self.model_of(job)
        verified = pipeline.verify_file(await self._local_bundle(job))
        if hexstr(verified.anchor.hash) != job.data["anchor"]["hash"]:
            raise VerificationError("bundle file does not match the job's anchor")
        scored = pipeline.run(
            verified, served.spec, served.model, job.request["subject"], job.data["block"]
        )
        score = self.config.lied_score(job.request["subject"], scored.score)  # test-only knob
        data = dict(job.data, vector=list(scored.features.values), score=score)
        faults.reached("scoring.scored")
        with self.db.tx():
            return self.db.advance(job, owner, next_state(job, data), data)

    async def _sign(self, job: Job, owner: str) -> Job:
        served = self.model_of(job)
        data = dict(job.data)
        mode = job.request["mode"]
        if mode in ("signed", "both"):
            if self.signer is None:
                raise UserInputError("signing is not configured on this service (no keystore)")
            signed = self.signed_score(job, served)
            data["signature"] = hexstr(self.signer.sign(signed))
            data["signer"] = self.signer.address
            if mode == "signed" and self.sampler.pick():
                data["sampled"] = True
        batchable = "onchain" not in job.request  # fulfilled one by one (RiskRequests.fulfil)
        if self.config.batch_max_size > 0 and mode in ("proven", "both") and batchable:
            data["batched"] = True  # proven in a batch (lifecycle: batching)
        faults.reached("signing.signed")
        with self.db.tx():
            job = self.db.advance(job, owner, next_state(job, data), data)
            if "signature" in data:
                self._publish(job, served, "signed")
        if "signature" in data:
            self._result_changed(job.request["subject"], hexstr(served.model_hash))
        return job

    def signed_score(self, job: Job, served: ServedModel) -> eip712.SignedScore:
        return eip712.SignedScore(
            source_chain_id=self.chain_id,
            block_number=job.data["block"],
            subject=job.request["subject"],
            model_hash=served.model_hash,
            feature_spec_hash=served.spec_hash,
            score=job.data["score"],
        )

    async def _prove(self, job: Job, owner: str) -> Job:
        served = self.model_of(job)
        self.db.set_progress(job, owner, {"stage": State.PROVING, "started_at": time.time()})
        started = time.perf_counter()
        loop = asyncio.get_running_loop()

        def on_progress(event: dict[str, Any]) -> None:  # called from the prover's thread
            loop.call_soon_threadsafe(self._record_progress, job, owner, event)

        request = ProveRequest(
            bundle=await self._local_bundle(job),
            model=served.model_path,
            spec=served.spec_path,
            subject=job.request["subject"],
            request_id=hexstr(job_request_id(job)),
            block=job.data["block"],
        )
        receipt = await asyncio.to_thread(
            self.prover.prove, request, self.config.dev_proofs, on_progress=on_progress
        )
        journal_raw = _hex_field(receipt, "journal_hex")
        seal_hex = receipt.get("seal_hex")
        seal = _hex_field(receipt, "seal_hex") if seal_hex is not None else None
        journal = journal_v1.decode(journal_raw)
        self._check_journal(job, served, journal)
        proven = int(journal["score"])
        data = dict(job.data)
        data["receipt"] = {
            "journal": hexstr(journal_raw),
            "seal": hexstr(seal) if seal is not None else None,
            "image_id": _norm_hex(receipt.get("image_id")),
            "dev_mode": bool(receipt.get("dev_mode")),
            "receipt_kind": receipt.get("receipt_kind"),
            "cycles": receipt.get("cycles"),
        }
        data["progress"] = {
            "stage": "proved",
            "prove_seconds": round(time.perf_counter() - started, 3),
            "cycles": receipt.get("cycles"),
        }
        challenge = None
        outcome = None
        if data.get("signature") is not None:
            outcome = "match" if proven == data["score"] else "mismatch"
            if outcome == "mismatch" and self.signer is not None:
                signed = self.signed_score(job, served)
                challenge = sampling.challenge_request(
                    signed,
                    bytes.fromhex(data["signature"][2:]),
                    journal_raw,
                    seal or b"",
                    self.signer.verifying_contract,
                )
                challenge["fileable"] = seal is not None
            data["sampling"] = {"outcome": outcome, "signed": data["score"], "proven": proven}
        if proven != data["score"]:
            log.error("job %s: proven score %d != computed %d", job.id, proven, data["score"])
            data["score"] = proven  # the receipt is what contracts accept
        faults.reached("proving.proved")
        with self.db.tx():
            job = self.db.advance(job, owner, next_state(job, data), data)
            if outcome is not None:
                self.db.record_sample(
                    job.id, outcome, data["sampling"]["signed"], proven, challenge
                )
            if job.request["mode"] != "signed":
                self._publish(job, served, "proven")
            else:  # a sampled signed result: record the outcome, no new feed event
                self._store_result(job, served)
        if outcome is not None:
            self.metrics.samples.inc(outcome=outcome)
        if challenge is not None:
            await self._maybe_file(job, challenge)
        self._result_changed(job.request["subject"], hexstr(served.model_hash))
        return job

    def _record_progress(self, job: Job, owner: str, event: dict[str, Any]) -> None:
        """Prover progress (segments, cycles) into the job, for GET /v1/jobs/{id}."""
        if job.state != State.PROVING:
            return
        progress = dict(job.data.get("progress") or {}, stage=State.PROVING, last_event=event)
        with contextlib.suppress(LeaseLost, CoprocessorError):
            self.db.set_progress(job, owner, progress)

    async def _maybe_file(self, job: Job, challenge: dict[str, Any]) -> None:
        filed = "no"
        if (
            self.config.sampling_challenge
            and challenge.get("fileable")
            and self.challenger_key is not None
        ):
            try:
                tx = await asyncio.to_thread(
                    sampling.file_challenge, self.config.rpc_url, challenge, self.challenger_key
                )
                self.db.set_challenge_tx(job.id, tx)
                filed = "yes"
            except Exception as exc:  # the job is done either way; the request stays stored
                log.error("job %s: challenge not filed: %s", job.id, str(exc)[:200])
                filed = "error"
        self.metrics.challenges.inc(filed=filed)

    def _check_journal(self, job: Job, served: ServedModel, journal: dict[str, Any]) -> None:
        d = job.data
        expected = {
            "chainId": self.chain_id,
            "anchorNumber": d["anchor"]["number"],
            "anchorHash": d["anchor"]["hash"],
            "blockNumber": d["block"],
            "subject": job.request["subject"],
            "modelHash": hexstr(served.model_hash),
            "featureSpecHash": hexstr(served.spec_hash),
            "requestId": hexstr(job_request_id(job)),
        }
        for name, want in expected.items():
            if journal.get(name) != want:
                raise VerificationError(f"receipt journal: {name} differs from the job's")
        return

    async def _post(self, job: Job, owner: str) -> Job:
        served = self.model_of(job)
        destination = job.request["destination"]
        poster = self.l1_poster if destination == "l1" else self.l2_poster
        if "onchain" in job.request:  # an on-chain request: RiskRequests.fulfil
            poster = self.fulfil_posters.get(job.request["onchain"]["chain"])
        if poster is None:
            raise UserInputError(f"destination {destination} is not configured on this service")
        if "batch" in job.data:
            return await self.batcher().post(job, owner, poster)
        receipt = job.data["receipt"]
        if receipt.get("seal") is None:
            raise VerificationError(
                "receipt has no on-chain seal (composite receipt): posting needs a Groth16 "
                "or dev-mode receipt"
            )
        journal = bytes.fromhex(receipt["journal"][2:])
        seal = bytes.fromhex(receipt["seal"][2:])
        extra: dict[str, Any] = {}
        async with self.post_lock:
            if destination == "l2":
                assert self.l2_poster is not None
                anchor = job.data["anchor"]
                self.db.set_progress(job, owner, {"stage": State.POSTING, "step": "anchor"})
                extra["anchor_push"] = await asyncio.to_thread(
                    self.l2_poster.ensure_anchor, int(anchor["number"]), anchor["hash"]
                )
            landed = await self._post_once(job, poster, journal, seal)
        faults.reached("posting.landed")
        self.metrics.posts.inc(destination=destination, result="ok" if landed.ok else "reverted")
        if not landed.ok:
            raise VerificationError(f"post transaction {landed.tx_hash} reverted")
        data = dict(job.data, tx_hash=landed.tx_hash, posted_block=landed.block_number, **extra)
        with self.db.tx():
            job = self.db.advance(job, owner, next_state(job, data), data)
            self._publish(job, served, "posted")
        self._result_changed(job.request["subject"], hexstr(served.model_hash))
        return job

    async def _post_once(
        self, job: Job, poster: posting.Poster, journal: bytes, seal: bytes
    ) -> posting.Landed:
        records = self.db.post_records(int(getattr(poster, "chain_id", 0)))
        crash_points = (
            _NonceCrashPoints if isinstance(records, posting.NonceRecords) else _CrashPoints
        )
        return await posting.post_exactly_once(
            crash_points(records),
            job.id,
            _CrashPoints(poster),
            lambda nonce: poster.prepare(journal, seal, nonce),
            (job_request_id(job), "request id"),
        )

    # ------------------------------------------------------------------ the loop

    async def run_job(self, job: Job, owner: str) -> None:
        """Run a claimed job through its stages until done, failed, or a retry."""
        while not is_final(job.state) and not self.stopping:
            stage = job.state
            started = time.perf_counter()
            beat = asyncio.create_task(self._heartbeat(job.id, owner))
            try:
                job = await self.step(job, owner)
            except LeaseLost:
                log.warning("job %s: lease lost in %s", job.id, stage)
                return
            except batching.Parked:
                return  # rescheduled to wait for its batch; lease released
            except PERMANENT as exc:
                self.metrics.stage_errors.inc(stage=stage, kind="fatal")
                self._fail(job, owner, f"{stage}: {exc}")
                return
            except (CoprocessorError, OSError, aiohttp.ClientError, TimeoutError) as exc:
                self.metrics.stage_errors.inc(stage=stage, kind="retry")
                self._retry(job, owner, f"{stage}: {exc}")
                return
            except Exception as exc:  # a bug: keep the job, log the traceback, retry
                log.exception("job %s: unexpected error in %s", job.id, stage)
                self.metrics.stage_errors.inc(stage=stage, kind="retry")
                self._retry(job, owner, f"{stage}: internal error ({exc.__class__.__name__})")
                return
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
            self.metrics.stage_seconds.observe(time.perf_counter() - started, stage=stage)
            if stage != State.BATCHING:
                faults.reached(f"{stage}.committed")
        if is_final(job.state):
            self.metrics.jobs_finished.inc(state=job.state)
        elif self.stopping:
            with contextlib.suppress(LeaseLost):
                self.db.release(job.id, owner)

    def _fail(self, job: Job, owner: str, error: str) -> None:
        with contextlib.suppress(LeaseLost):
            self.db.fail(job, owner, error)
            self.metrics.jobs_finished.inc(state=job.state)

    def _retry(self, job: Job, owner: str, error: str) -> None:
        with contextlib.suppress(LeaseLost):
            c = self.config
            alive = self.db.retry_later(
                job, owner, error, c.backoff_seconds, c.backoff_max_seconds, c.max_attempts
            )
            if not alive:
                self.metrics.jobs_finished.inc(state=job.state)

    async def _heartbeat(self, job_id: str, owner: str) -> None:
        period = self.config.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                self.db.heartbeat(job_id, owner, self.config.lease_seconds)
            except LeaseLost:
                return

    async def worker_loop(self, index: int) -> None:
        owner = f"{socket.gethostname()}:{os.getpid()}:{index}:{secrets.token_hex(4)}"
        while not self.stopping:
            try:
                job = self.db.claim(owner, self.config.lease_seconds)
            except CoprocessorError as exc:
                log.error("claim failed: %s", exc)
                job = None
            if job is None:
                self.wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.config.poll_seconds)
                continue
            await self.run_job(job, owner)


class _CrashPoints:
    """The posting records (``ServiceDB.post_records``) and poster of one post, with the
    crash points ``posting.recorded`` (after ``record_post``) and ``posting.sent``
    (after ``broadcast``) of :mod:`faults`; everything else is the wrapped object's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def record_post(self, job_id: str, sender: str, nonce: int, tx_hash: str, raw: str) -> None:
        self._inner.record_post(job_id, sender, nonce, tx_hash, raw)
        faults.reached("posting.recorded")

    def broadcast(self, raw_tx: str) -> None:
        self._inner.broadcast(raw_tx)
        faults.reached("posting.sent")


class _NonceCrashPoints(_CrashPoints):
    """``_CrashPoints`` of records that choose the nonce (``posting.NonceRecords``):
    ``posting.recorded`` after ``sign_and_record``."""

    def sign_and_record(self, job_id: str, *args: Any) -> posting.Prepared | None:
        prepared: posting.Prepared | None = self._inner.sign_and_record(job_id, *args)
        if prepared is not None:
            faults.reached("posting.recorded")
        return prepared


def _hex_field(receipt: dict[str, Any], key: str) -> bytes:
    value = receipt.get(key)
    if not isinstance(value, str):
        raise ToolError(f"prover receipt: {key} missing")
    text = value if value.startswith("0x") else "0x" + value
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise ToolError(f"prover receipt: {key} is not hex") from None


def _norm_hex(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value.lower() if value.startswith("0x") else "0x" + value.lower()
