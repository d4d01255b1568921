"""Following on-chain requests: ``RiskRequests.ScoreRequested`` events become jobs.

One :class:`Listener` per ``request_chains`` entry of the config. Each poll it reads the
events of the blocks after its cursor up to ``head - confirmations`` and, in one
transaction of the jobs database, records every request (``onchain_requests``), creates
its job and moves the cursor. So after a crash or downtime it resumes from the last
committed block and back-fills; a request read twice (a crash between the read and the
commit, or a reorg that mined it again) maps to the same job, because the request id is
the job's idempotency key (``onchain:<chain>:<request id>``).

**Reorgs**: the cursor block and every block that carried a request are remembered with
their hashes (``listener_blocks``). Before reading on, the listener compares the newest
remembered block with the node's; if it differs, it walks back to the newest one that is
still canonical, marks the requests read from blocks above it ``dropped`` and re-reads
from there. A dropped request that was mined again (same id) is taken up again by its
job; one that vanished cannot be fulfilled (its job fails at posting: the contract no
longer knows the request).

**Refusals**: a request this service cannot serve (a model it does not serve, a feature
spec other than the served one, a fee below ``min_fee_wei``, a block that cannot be
scored) is logged with its reason and recorded as ``refused``; no job is made and it is
not retried. The contract has no "refused" answer: the requester gets its fee back
through ``refund`` after the timeout, or another fulfiller answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract

from coprocessor.chain.hexutil import hexstr
from coprocessor.errors import CoprocessorError
from coprocessor.onchain import contracts
from coprocessor.service.store.protocol import ServiceDB
from coprocessor.service.worker import Runtime

log = logging.getLogger("coproc.service.listener")

#: ``RiskRequests.BlockRule``
RULE_EXACT, RULE_NOT_BEFORE = 0, 1
#: how far back (blocks) an Exact request may be and still be anchored (the oracle's
#: BLOCKHASH window is 256; anchoring takes a few more blocks)
MAX_EXACT_AGE = 200
#: remembered blocks per chain (the deepest reorg the listener can walk back)
KEEP_BLOCKS = 512

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS listener_blocks (
        chain TEXT NOT NULL, number INTEGER NOT NULL, hash TEXT NOT NULL,
        PRIMARY KEY (chain, number))""",
    """CREATE TABLE IF NOT EXISTS onchain_requests (
        chain TEXT NOT NULL, request_id TEXT NOT NULL, block_number INTEGER NOT NULL,
        block_hash TEXT NOT NULL, tx_hash TEXT NOT NULL, status TEXT NOT NULL,
        reason TEXT, job_id TEXT, event TEXT NOT NULL, seen_at REAL NOT NULL,
        PRIMARY KEY (chain, request_id))""",
)


def ensure_schema(db: ServiceDB) -> None:
    """The listener's tables (PostgreSQL: made by ``coproc db migrate``, schema v4)."""
    if db.kind != "sqlite":
        return
    with db.tx():
        for stmt in _SCHEMA:
            db.execute(stmt)


def idem_key(chain: str, request_id: str) -> str:
    """The job idempotency key of an on-chain request."""
    return f"onchain:{chain}:{request_id}"


def requests_of(db: ServiceDB, chain: str | None = None) -> list[dict[str, Any]]:
    """The recorded requests (oldest block first), for tests, metrics and operators."""
    where, args = ("", ()) if chain is None else ("WHERE chain = ? ", (chain,))
    rows = db.execute(
        "SELECT chain, request_id, block_number, block_hash, status, reason, job_id "
        f"FROM onchain_requests {where}ORDER BY block_number, seen_at",
        args,
    ).fetchall()
    keys = ("chain", "request_id", "block_number", "block_hash", "status", "reason", "job_id")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def status_counts(db: ServiceDB) -> dict[tuple[str, str], int]:
    """Recorded requests per (chain, status)."""
    rows = db.execute(
        "SELECT chain, status, COUNT(*) FROM onchain_requests GROUP BY chain, status"
    ).fetchall()
    return {(str(c), str(s)): int(n) for c, s, n in rows}


def cursor_of(db: ServiceDB, chain: str) -> int | None:
    """The last block whose events are committed (None: nothing read yet)."""
    row = db.execute("SELECT MAX(number) FROM listener_blocks WHERE chain = ?", (chain,)).fetchone()
    return None if row[0] is None else int(row[0])


@dataclass(frozen=True)
class ChainSettings:
    """One ``request_chains`` entry with its defaults filled in."""

    name: str
    rpc_url: str
    requests: str
    confirmations: int
    poll_seconds: float
    start_block: int
    min_fee_wei: int
    max_range: int

    @classmethod
    def of(cls, entry: dict[str, Any], default_rpc: str) -> ChainSettings:
        return cls(
            name=str(entry["name"]),
            rpc_url=str(entry.get("rpc_url") or default_rpc),
            requests=str(entry["requests"]),
            confirmations=int(entry.get("confirmations", 2)),
            poll_seconds=float(entry.get("poll_seconds", 1.0)),
            start_block=int(entry.get("start_block", 0)),
            min_fee_wei=int(entry.get("min_fee_wei", 0)),
            max_range=int(entry.get("max_range", 1000)),
        )


class Listener:
    """Follows one chain's RiskRequests contract into the jobs database."""

    def __init__(self, runtime: Runtime, settings: ChainSettings) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.chain = settings
        self.w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 30}))
        self.contract: Contract = contracts.at(self.w3, "RiskRequests", settings.requests)
        ensure_schema(self.db)

    async def run(self) -> None:
        """Poll until the service stops; errors are logged and the poll retried."""
        while not self.runtime.stopping:
            try:
                await self.poll_once()
            except (CoprocessorError, OSError, ValueError) as exc:
                log.warning("listener %s: %s", self.chain.name, str(exc)[:200])
            except Exception:  # a node hiccup or a bug: keep following
                log.exception("listener %s: unexpected error", self.chain.name)
            await asyncio.sleep(self.chain.poll_seconds)

    async def poll_once(self) -> int:
        """Read the next confirmed range; returns the number of request events read."""
        head = int(await asyncio.to_thread(lambda: self.w3.eth.block_number))
        cursor = await self._rewind_if_reorged()
        start = self.chain.start_block if cursor is None else cursor + 1
        end = min(head - self.chain.confirmations, start + self.chain.max_range - 1)
        if end < start:
            return 0
        end_hash = await self._hash_of(end)
        logs = await asyncio.to_thread(self._logs, start, end)
        hashes = {end: end_hash}
        for entry in logs:
            number = int(entry["blockNumber"])
            if number not in hashes:
                hashes[number] = await self._hash_of(number)
            if hexstr(bytes(entry["blockHash"])) != hashes[number]:
                return 0  # the range changed while it was read: read it again next poll
        l1_head = await self.runtime.rpc.block_number()
        with self.db.tx():
            for entry in logs:
                self._take(entry, l1_head)
            for number, block_hash in hashes.items():
                self.db.execute(
                    "INSERT INTO listener_blocks VALUES (?, ?, ?) "
                    "ON CONFLICT (chain, number) DO UPDATE SET hash = excluded.hash",
                    (self.chain.name, number, block_hash),
                )
            self.db.execute(
                "DELETE FROM listener_blocks WHERE chain = ? AND number < ?",
                (self.chain.name, end - KEEP_BLOCKS),
            )
        if logs:
            self.runtime.wake.set()
        return len(logs)

    def _logs(self, start: int, end: int) -> list[Any]:
        event = self.contract.events.ScoreRequested()
        return list(event.get_logs(from_block=start, to_block=end))

    async def _hash_of(self, number: int) -> str:
        block = await asyncio.to_thread(self.w3.eth.get_block, number)
        return hexstr(bytes(block["hash"]))

    # ------------------------------------------------------------------ reorgs

    async def _rewind_if_reorged(self) -> int | None:
        """The cursor, after walking back past blocks the node no longer has."""
        rows = self.db.execute(
            "SELECT number, hash FROM listener_blocks WHERE chain = ? ORDER BY number DESC",
            (self.chain.name,),
        ).fetchall()
        if not rows:
            return None
        fork: int | None = None
        for number, block_hash in rows:
            if await self._canonical(int(number), str(block_hash)):
                fork = int(number)
                break
        if fork == int(rows[0][0]):
            return fork
        floor = self.chain.start_block - 1 if fork is None else fork
        self._drop_above(floor)
        return None if fork is None else fork

    async def _canonical(self, number: int, block_hash: str) -> bool:
        try:
            return await self._hash_of(number) == block_hash
        except Exception as exc:  # the block does not exist (any more)
            if exc.__class__.__name__ == "BlockNotFound":
                return False
            raise

    def _drop_above(self, number: int) -> None:
        name = self.chain.name
        with self.db.tx():
            dropped = self.db.execute(
                "UPDATE onchain_requests SET status = 'dropped', reason = 'block reorged away' "
                "WHERE chain = ? AND block_number > ? AND status != 'dropped'",
                (name, number),
            ).rowcount
            self.db.execute(
                "DELETE FROM listener_blocks WHERE chain = ? AND number > ?", (name, number)
            )
        log.warning(
            "listener %s: reorg below block %d; %d request(s) dropped, re-reading",
            name,
            number + 1,
            dropped,
        )

    # ------------------------------------------------------------------ one request

    def _take(self, entry: Any, l1_head: int) -> None:
        """Inside a transaction: record the request and make its job (or refuse it)."""
        args = entry["args"]
        request_id = hexstr(bytes(args["requestId"]))
        reason = self.refusal(args, l1_head)
        job_id = None
        if reason is None:
            job, created = self.db.submit(
                self.job_request(args), idem_key(self.chain.name, request_id)
            )
            job_id = job.id
            if created:
                log.info("listener %s: request %s -> job %s", self.chain.name, request_id, job.id)
        else:
            log.warning("listener %s: request %s refused: %s", self.chain.name, request_id, reason)
        event = {k: _plain(v) for k, v in dict(args).items()}
        self.db.execute(
            "INSERT INTO onchain_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (chain, request_id) DO UPDATE SET block_number = excluded.block_number, "
            "block_hash = excluded.block_hash, tx_hash = excluded.tx_hash, "
            "status = excluded.status, reason = excluded.reason, job_id = excluded.job_id",
            (
                self.chain.name,
                request_id,
                int(entry["blockNumber"]),
                hexstr(bytes(entry["blockHash"])),
                hexstr(bytes(entry["transactionHash"])),
                "job" if reason is None else "refused",
                reason,
                job_id,
                _json(event),
                time.time(),
            ),
        )

    def refusal(self, args: Any, l1_head: int) -> str | None:
        """Why this service cannot serve the request (None: it can)."""
        model_hash = hexstr(bytes(args["modelHash"]))
        served = self.runtime.catalog.get(model_hash)
        if served is None:
            return f"unknown model {model_hash} (not served here)"
        spec = hexstr(bytes(args["featureSpecHash"]))
        if spec != hexstr(served.spec_hash):
            return f"feature spec {spec} is not the one served for {served.name}"
        if int(args["fee"]) < self.chain.min_fee_wei:
            return f"fee {int(args['fee'])} wei is below the minimum {self.chain.min_fee_wei}"
        return self.block_refusal(int(args["rule"]), int(args["blockNumber"]), l1_head)

    def block_refusal(self, rule: int, block: int, l1_head: int) -> str | None:
        """Whether the policy's block can be scored and anchored now."""
        ancestors = self.runtime.config.ancestors
        if rule == RULE_EXACT and block < 1:
            return "subject not scorable at block 0 (no usable state root)"
        if block + ancestors > l1_head:
            return (
                f"block {block} (+{ancestors} ancestors) is above the source chain's head {l1_head}"
            )
        if rule == RULE_EXACT and block + ancestors < l1_head - MAX_EXACT_AGE:
            return f"block {block} is too old to anchor (head {l1_head})"
        return None

    def job_request(self, args: Any) -> dict[str, Any]:
        """The job of a request: proven, fulfilled on the request's chain."""
        served = self.runtime.catalog.get(hexstr(bytes(args["modelHash"])))
        assert served is not None
        exact = int(args["rule"]) == RULE_EXACT
        return {
            "subject": str(args["subject"]).lower(),
            "model": served.name,
            "block": int(args["blockNumber"]) if exact else "latest",
            "mode": "proven",
            "destination": self.chain.name,
            "onchain": {
                "chain": self.chain.name,
                "requests": self.chain.requests.lower(),
                "request_id": hexstr(bytes(args["requestId"])),
            },
        }


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return hexstr(bytes(value))
    return value if isinstance(value, int | str | bool) else str(value)


def _json(obj: dict[str, Any]) -> str:
    import json

    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
