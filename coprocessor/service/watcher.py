"""The independent watcher (``coproc watch``): proof of sampling done by someone other
than the signer.

It follows a service's signed-score feed (``GET /v1/feed``, server-sent events) and, for
each signed score, decides with probability ``p`` whether to check it. The decision is
``HMAC-SHA256(secret, signature) < p``: the secret is the watcher's own (kept in its
state), so the operator cannot tell which scores will be checked, and a restart decides
the same way. A checked score is recomputed from the watcher's own node — the same
indexer (every header and EIP-1186 proof verified) and the same scoring pipeline as the
service — and compared. On a difference the watcher gets a receipt for the true score
from its prover (local zkVM, a remote prover, or a test double: ``proving.make_prover``),
files ``SignedScores.challenge`` and collects the challenger's share of the slashed bond.

State (``watch_store``) survives restarts: the feed cursor moves in the same transaction
as each check, a challenge is stored before it is sent and resumed after a crash. Metrics
(Prometheus text) are computed from that state, so they survive restarts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.logs import DISCARD

from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.keccak import keccak256
from coprocessor.errors import CoprocessorError, ToolError, UserInputError
from coprocessor.index.indexer import index_reads, write_json_atomic
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.onchain import contracts
from coprocessor.scoring import pipeline
from coprocessor.scoring.reads import reads_for_spec
from coprocessor.service import sampling
from coprocessor.service.catalog import Catalog, ServedModel
from coprocessor.service.client import Client
from coprocessor.service.metrics import Registry
from coprocessor.service.proving import Prover
from coprocessor.service.watch_store import Check, WatchStore
from coprocessor.zk import journal as journal_v1
from coprocessor.zk.prover import ProveRequest

log = logging.getLogger("coproc.watch")

#: what the feed reader hands over: an event, the error that ended it, or None (closed)
FeedItem = tuple[int, str, dict[str, Any]] | Exception | None

#: SignedScores operator status values (contract enum Status)
ACTIVE, EXITING = 1, 2


@dataclass
class WatchConfig:
    """What ``coproc watch`` runs with."""

    #: base URL of the service whose feed is watched
    feed_url: str
    #: the watcher's own node on the source chain (recomputation)
    rpc_url: str
    #: node of the chain SignedScores lives on (challenges); default: ``rpc_url``
    challenge_rpc_url: str = ""
    #: sampling probability p
    probability: float = 0.1
    #: API key for the feed (None: no auth header)
    api_key: str | None = None
    #: SignedScores to challenge at; empty: the contract each result names
    signed_scores: str = ""
    #: dev-mode proofs (RISC0_DEV_MODE)
    dev_proofs: bool = True
    #: sampling seed (tests and benchmarks); None: a secret kept in the state
    seed: int | None = None
    #: seconds between reconnection attempts to the feed
    reconnect_seconds: float = 1.0

    def validate(self) -> WatchConfig:
        if not 0.0 <= self.probability <= 1.0:
            raise UserInputError(f"--probability must be in [0, 1], got {self.probability}")
        if not self.feed_url.startswith(("http://", "https://")):
            raise UserInputError(f"--feed must be an http(s) URL, got {self.feed_url!r}")
        if not self.rpc_url:
            raise UserInputError("--chain (the watcher's own node URL) is required")
        return self


def sampled(secret: bytes, signature: str, probability: float) -> bool:
    """Whether the score with this signature is checked: HMAC(secret, signature) read as
    a number in [0, 1) is below ``probability``."""
    digest = hmac.new(secret, signature.lower().encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < probability


def watch_request_id(signature: str) -> bytes:
    """The request id of the watcher's own receipt for a signed score."""
    return keccak256(b"coproc-watch:" + signature.lower().encode())


class WatchMetrics:
    """Prometheus text computed from the watcher's state (so it survives restarts)."""

    def __init__(self, store: WatchStore, probability: float) -> None:
        r = self.registry = Registry()
        self.events = r.counter("coproc_watch_feed_events_total", "Feed events received by kind")
        self.reconnects = r.counter("coproc_watch_feed_reconnects_total", "Feed reconnections")
        r.gauge(
            "coproc_watch_checks",
            "Signed scores seen, by outcome (skipped|match|mismatch|...)",
            lambda: {(("outcome", k),): float(v) for k, v in store.outcome_counts().items()},
        )
        r.gauge(
            "coproc_watch_challenges",
            "Challenges by status (pending|filed|signer_inactive|failed)",
            lambda: {(("status", k),): float(v) for k, v in store.challenge_counts().items()},
        )
        r.gauge(
            "coproc_watch_reward_wei",
            "Wei received from slashed bonds",
            lambda: {(): float(store.reward_total())},
        )
        r.gauge("coproc_watch_cursor", "Last feed event id handled", lambda: {(): store.cursor()})
        r.gauge("coproc_watch_sampling_probability", "p", lambda: {(): probability})

    def render(self) -> str:
        return self.registry.render()


class Chain:
    """The challenge side, on the chain SignedScores lives on (blocking web3 calls)."""

    def __init__(self, rpc_url: str, key: bytes) -> None:
        self.rpc_url = rpc_url
        self.key = key
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))

    def status_of(self, contract: str, signer: str) -> int:
        target = contracts.at(self.w3, "SignedScores", contract)
        return int(target.functions.operatorOf(Web3.to_checksum_address(signer)).call()[1])

    def file(self, request: dict[str, Any]) -> tuple[str, int]:
        """Send the challenge; (tx hash, reward paid to us in wei, from OperatorSlashed)."""
        tx_hash = sampling.file_challenge(self.rpc_url, request, self.key)
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        target = contracts.at(self.w3, "SignedScores", request["contract"])
        events = target.events.OperatorSlashed().process_receipt(receipt, errors=DISCARD)
        reward = sum(int(e["args"]["amount"]) for e in events)
        return tx_hash, reward


class Watcher:
    """Follows one feed; checks, challenges, records."""

    def __init__(
        self,
        config: WatchConfig,
        data_dir: Path,
        catalog: Catalog,
        prover: Prover,
        chain: Chain | None,
    ) -> None:
        self.config = config.validate()
        self.data_dir = data_dir
        self.catalog = catalog
        self.prover = prover
        self.chain = chain
        self.state = WatchStore(data_dir / "watch.sqlite")
        self.index_store = Store(data_dir / "watch-index.sqlite")
        self.secret = self.state.secret(config.seed)
        self.metrics = WatchMetrics(self.state, config.probability)
        self.rpc = RpcClient(config.rpc_url)
        self.stopping = False

    async def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Watch until ``stop()`` (or ``until()`` is true after an event)."""
        chain_id = await self.rpc.connect()
        try:
            await self.resume_challenges()
            while not self.stopping:
                try:
                    await self._follow(chain_id, until)
                except (OSError, ValueError) as exc:  # connection refused/reset, timeouts
                    log.warning("feed %s: %s; reconnecting", self.config.feed_url, exc)
                if self.stopping or (until is not None and until()):
                    return
                self.metrics.reconnects.inc()
                await asyncio.sleep(self.config.reconnect_seconds)
        finally:
            await self.rpc.close()

    def stop(self) -> None:
        self.stopping = True

    def close(self) -> None:
        self.state.close()
        self.index_store.close()

    async def _follow(self, chain_id: int, until: Callable[[], bool] | None) -> None:
        """Handle feed events in order until the connection ends (returns) or fails
        (raises). The blocking SSE client reads in a daemon thread, so stopping never
        waits for a read."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[FeedItem] = asyncio.Queue()
        cursor = self.state.cursor()

        def put(item: FeedItem) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: we are exiting
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def read() -> None:
            client = Client(self.config.feed_url, self.config.api_key, timeout=60.0)
            try:
                for event in client.feed(last_event_id=cursor):
                    put(event)
            except (OSError, ValueError) as exc:
                put(exc)
            else:
                put(None)

        threading.Thread(target=read, name="watch-feed", daemon=True).start()
        while not self.stopping:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            event_id, kind, result = item
            self.metrics.events.inc(kind=kind)
            await self.handle(event_id, kind, result, chain_id)
            if until is not None and until():
                self.stopping = True

    # ------------------------------------------------------------------ one event

    async def handle(self, event_id: int, kind: str, result: dict[str, Any], chain_id: int) -> None:
        """Check one feed event (only ``signed`` ones carry a signed score)."""
        signature = result.get("signature")
        if kind != "signed" or not isinstance(signature, str) or self.state.seen(signature):
            self.state.advance(event_id)
            return
        check, challenge = await self.check(event_id, result, chain_id)
        self.state.record(check, challenge)
        if check.outcome not in ("skipped", "match"):
            log.warning(
                "event %d: %s %s at block %d: %s%s",
                event_id,
                check.outcome,
                check.subject,
                check.block,
                f"signed {check.signed_score}, recomputed {check.recomputed}",
                f" ({check.detail})" if check.detail else "",
            )
        if challenge is not None:
            await self.file(signature, check.signer, challenge)

    async def check(
        self, event_id: int, result: dict[str, Any], chain_id: int
    ) -> tuple[Check, dict[str, Any] | None]:
        """The conclusion about one signed score, and the challenge request on a mismatch."""
        signature = str(result["signature"])
        base = Check(
            signature=signature,
            event_id=event_id,
            subject=str(result["subject"]).lower(),
            model_hash=str(result["model_hash"]),
            block=int(result["block"]),
            signer=str(result.get("signer") or ""),
            signed_score=int(result["score"]),
            outcome="skipped",
        )

        def concluded(outcome: str, recomputed: int | None = None, detail: str = "") -> Check:
            return replace(base, outcome=outcome, recomputed=recomputed, detail=detail or None)

        try:
            Client.verify_signed(result, base.signer)
        except (CoprocessorError, ValueError, KeyError) as exc:
            return concluded("bad_signature", detail=str(exc)[:200]), None
        if not sampled(self.secret, signature, self.config.probability):
            return base, None
        served = self.catalog.get(base.model_hash)
        if served is None:
            return concluded("unknown_model"), None
        if int(result["chain_id"]) != chain_id:
            return concluded("other_chain", detail=f"our node is chain {chain_id}"), None
        try:
            bundle, score = await self.recompute(served, result)
        except CoprocessorError as exc:
            return concluded("error", detail=str(exc)[:200]), None
        if score == base.signed_score:
            return concluded("match", score), None
        try:
            challenge = await self.challenge_for(served, result, bundle, score)
        except CoprocessorError as exc:
            return concluded("mismatch", score, f"no receipt: {str(exc)[:180]}"), None
        return concluded("mismatch", score), challenge

    async def recompute(self, served: ServedModel, result: dict[str, Any]) -> tuple[Path, int]:
        """Index the score's reads from our own node (anchored at the block the result
        names, its hash as our node has it) and score them; (bundle file, score)."""
        subject, block = str(result["subject"]).lower(), int(result["block"])
        anchor = int(result["anchor"]["number"])
        reads = reads_for_spec(served.spec, subject, block)
        verified = await index_reads(self.rpc, self.index_store, reads, anchor=anchor)
        path = self.data_dir / "bundles" / f"{subject}-{block}-{anchor}.json"
        write_json_atomic(path, verified.bundle.to_json())
        scored = pipeline.run(verified, served.spec, served.model, subject, block)
        return path, scored.score

    async def challenge_for(
        self, served: ServedModel, result: dict[str, Any], bundle: Path, score: int
    ) -> dict[str, Any]:
        """A receipt for the recomputed score from our prover, as a challenge request."""
        signature = str(result["signature"])
        request = ProveRequest(
            bundle=bundle,
            model=served.model_path,
            spec=served.spec_path,
            subject=str(result["subject"]).lower(),
            request_id=hexstr(watch_request_id(signature)),
            block=int(result["block"]),
        )
        receipt = await asyncio.to_thread(self.prover.prove, request, self.config.dev_proofs)
        raw_journal = bytes.fromhex(str(receipt["journal_hex"]).removeprefix("0x"))
        seal_hex = receipt.get("seal_hex")
        if not seal_hex:
            raise ToolError("the prover returned no on-chain seal")
        journal = journal_v1.decode(raw_journal)
        if journal["score"] != score or journal["blockNumber"] != int(result["block"]):
            raise ToolError(
                f"the receipt says score {journal['score']} at block {journal['blockNumber']}, "
                f"we computed {score} at {result['block']}"
            )
        contract = self.config.signed_scores or str(result["signed_scores"])
        return sampling.challenge_request(
            Client.signed_score(result),
            bytes.fromhex(signature[2:]),
            raw_journal,
            bytes.fromhex(str(seal_hex).removeprefix("0x")),
            contract,
        )

    # ------------------------------------------------------------------ challenges

    async def file(self, signature: str, signer: str, request: dict[str, Any]) -> None:
        """Send one stored challenge and settle its row (filed, signer_inactive, failed)."""
        if self.chain is None:
            self.state.settle(signature, "failed", detail="no challenger key configured")
            return
        chain = self.chain
        try:
            status = await asyncio.to_thread(chain.status_of, request["contract"], signer)
            if status not in (ACTIVE, EXITING):
                self.state.settle(signature, "signer_inactive", detail=f"operator status {status}")
                return
            tx_hash, reward = await asyncio.to_thread(chain.file, request)
        except (CoprocessorError, ValueError, OSError) as exc:
            log.error("challenge of %s not filed: %s", signer, str(exc)[:200])
            self.state.settle(signature, "failed", detail=str(exc)[:200])
            return
        log.warning("challenge filed: %s slashed in %s, reward %d wei", signer, tx_hash, reward)
        self.state.settle(signature, "filed", tx_hash=tx_hash, reward_wei=reward)

    async def resume_challenges(self) -> None:
        """Challenges stored but not settled before a restart are sent now."""
        for signature, signer, request in self.state.pending_challenges():
            await self.file(signature, signer, request)


async def run_until_signalled(
    watcher: Watcher, metrics_host: str, metrics_port: int | None
) -> None:
    """Run the watcher (and ``GET /metrics`` + ``GET /healthz`` on ``metrics_port`` if
    given) until SIGINT or SIGTERM."""
    from aiohttp import web

    runner: web.AppRunner | None = None
    if metrics_port is not None:

        async def metrics(_request: web.Request) -> web.Response:
            return web.Response(text=watcher.metrics.render(), content_type="text/plain")

        async def healthz(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True, "cursor": watcher.state.cursor()})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, metrics_host, metrics_port).start()
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(watcher.run())

    def stop() -> None:
        watcher.stop()
        task.cancel()  # a feed read blocks in a thread; the process exits anyway

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        if runner is not None:
            await runner.cleanup()
