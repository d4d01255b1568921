"""Soak of the scaled-out service (issue #18): many jobs through several real
``coproc serve --role all`` processes on one PostgreSQL database while one process at a
time is killed with SIGKILL (its whole process group, so a running ``coproc-host`` dies
with it) and restarted at once on the same data directory.

Setup: a fresh anvil with the dev stack (dev verifier behind the router, RiskOracle with
the bench model registered, SignedScores), a throwaway durable PostgreSQL
(``tests/pg_support.postgres_server``) migrated with ``migrate_database``, ``--processes``
processes with 2 workers each. Every job is ``mode`` ``both``, ``destination`` ``l1``:
signed, proven by the real guest in ``coproc-host`` (dev mode: the zkVM executes the
guest, the receipt is fake and accepted by the dev verifier) in batches of
``--batch-size`` (``batch_max_size``), and posted (``RiskOracle.submitBatch`` then
``storeLeaves``). Without ``coproc-host`` the jobs are signed only (said in the output),
and nothing may reach the chain.

Jobs (distinct subjects, one block) are submitted from a thread pool, spread over the
processes, each with an ``Idempotency-Key``: a submit whose target was just killed is
retried (on another process) with the same key, so it cannot create a second job. From
the first submit until every job is final, every ``--kill-every`` seconds (±50 %, a
seeded RNG; the seed is printed) one random process among those serving (answered
``/healthz`` since their last start) is killed and restarted.

Checked at the end (exit status 1 if any check fails):

- the database: exactly N jobs (one per submit, distinct ids and subjects), all
  ``done``, none failed or still pending; one result row per job; one feed event of each
  kind (signed, proven, posted) per job; the two ``posts`` rows of each batch;
- the chain: every block since the setup is read with its transactions; each
  transaction to the oracle (and to SignedScores, where nothing may be sent) is decoded
  with the contracts' ABI: no batch id or results root is posted twice, no request id
  and no (subject, model, block) is stored twice, no transaction reverted, each job's
  leaf is on-chain exactly once and equals the job's; the oracle's events agree, and the
  poster's nonce counts exactly the transactions seen.

The table's "lost jobs" are the jobs not ``done`` at the end (failed or never finished)
or missing from the database, the chain or the feed, each counted once ("of which
failed": in state ``failed``); "duplicates found" adds what every check saw twice (one
duplicate may be seen by more than one check). Both must be 0.

Run (it shares the machine's cores with everything else; see docs/benchmarks.md)::

    .venv/bin/python -m bench.service_soak [--jobs 10000] [--processes 4] \
        [--kill-every 3] [--batch-size 64] [--seed S] [--timeout SECONDS] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.common import table
from bench.service_bench import MODEL, OPERATOR_KEY, POSTER_KEY, SPEC, _wait_up, _zkvm_available
from coprocessor.dev.devnet import free_port, start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.service.store.database import migrate_database
from coprocessor.service.worker import request_id_of
from coprocessor.zk import batch_journal
from coprocessor.zk import journal as journal_v1

#: the model's name in the service's models directory
MODEL_NAME = "bench"
#: concurrent submitters
SUBMITTERS = 8
#: seconds between progress lines (stderr)
PROGRESS_SECONDS = 5.0
#: tries of one submit (over the processes, 0.2 s apart) before the soak gives up
SUBMIT_TRIES = 300


def _log(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the processes


class Member:
    """One ``coproc serve --role all`` process (own data directory, fixed port), started
    in its own session so that a kill takes its whole process group."""

    def __init__(self, index: int, command: list[str], env: dict[str, str], log: Path) -> None:
        self.index = index
        self.port = free_port()
        self.command = [*command, "--port", str(self.port), "--role", "all"]
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        #: the current process answered /healthz (it is serving and its workers run)
        self.up = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.up = False
        return self.proc

    def check_up(self) -> bool:
        """Whether the current process serves (``/healthz``), remembered once it did."""
        if not self.up:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=0.5) as resp:
                    self.up = resp.status == 200
            except (OSError, http.client.HTTPException):
                pass
        return self.up

    def pid_now(self) -> int:
        return -1 if self.proc is None else self.proc.pid

    def exited(self) -> int | None:
        """The exit status if the process ended (None while it runs)."""
        return None if self.proc is None else self.proc.poll()

    def kill9(self) -> int:
        """SIGKILL the process group; wait for the process: its pid."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill9()


@dataclass
class Counters:
    """What happened during the soak (updated from several threads under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    kills: int = 0
    restarts: int = 0
    #: kills due while no process was serving yet (all restarting): skipped
    kills_skipped: int = 0
    #: processes that exited without being killed (each is restarted too)
    unexpected_exits: list[str] = field(default_factory=list)
    #: job leases / batch-proving leases held by a process at the moment it was killed:
    #: another process must take each over once it runs out
    orphaned_job_leases: int = 0
    orphaned_batch_leases: int = 0
    #: submits sent again after a connection error or 5xx, and answers ``created: false``
    submit_retries: int = 0
    submit_replays: int = 0


class Chaos(threading.Thread):
    """Kills one random process every ``period`` (±50 %) seconds and restarts it; also
    restarts (and records) a process that exited by itself. The victim is one of the
    processes that serve (answered ``/healthz`` since their start): on a loaded machine a
    restart can take longer than the period, and killing processes that are still
    starting would only measure start-up (no worker would ever run)."""

    def __init__(
        self, members: list[Member], period: float, rng: random.Random, db_url: str, c: Counters
    ) -> None:
        super().__init__(name="soak-chaos", daemon=True)
        self.members = members
        self.period = period
        self.rng = rng
        self.db_url = db_url
        self.c = c
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.db_url, autocommit=True) as conn:
                self._loop(conn)
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _loop(self, conn: psycopg.Connection[Any]) -> None:
        next_kill = time.monotonic() + self._interval()
        while not self.halt.wait(0.1):
            for m in self.members:
                status = m.exited()
                if status is not None:
                    with self.c.lock:
                        self.c.unexpected_exits.append(f"p{m.index} pid {m.pid_now()} rc {status}")
                    _log(f"p{m.index} exited by itself (rc {status}); restarting")
                    m.start()
            if time.monotonic() < next_kill or self.period <= 0:
                continue
            serving = [m for m in self.members if m.check_up()]
            if not serving:
                with self.c.lock:
                    self.c.kills_skipped += 1
                next_kill = time.monotonic() + self._interval()
                continue
            victim = self.rng.choice(serving)
            pid = victim.kill9()
            jobs, batches = _orphaned_leases(conn, pid)
            victim.start()
            with self.c.lock:
                self.c.kills += 1
                self.c.restarts += 1
                self.c.orphaned_job_leases += jobs
                self.c.orphaned_batch_leases += batches
            next_kill = time.monotonic() + self._interval()

    def _interval(self) -> float:
        return self.rng.uniform(0.5 * self.period, 1.5 * self.period)


def _orphaned_leases(conn: psycopg.Connection[Any], pid: int) -> tuple[int, int]:
    """Job leases and batch-proving leases the killed process ``pid`` still held (owners
    are ``host:pid:worker:token``, ``coprocessor/service/worker.py``)."""
    like = f"%:{pid}:%"
    now = "extract(epoch FROM clock_timestamp())"
    jobs = conn.execute(
        f"SELECT count(*) FROM jobs WHERE lease_owner LIKE %s AND lease_until > {now}", (like,)
    ).fetchone()
    batches = conn.execute(
        f"SELECT count(*) FROM batches WHERE prover_owner LIKE %s AND prover_until > {now} "
        "AND state = 'closed'",
        (like,),
    ).fetchone()
    return (int(jobs[0]) if jobs else 0, int(batches[0]) if batches else 0)


# ------------------------------------------------------------------ submitting


def _post(url: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url + "/v1/scores", data=json.dumps(body).encode(), method="POST", headers=headers
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


def submit_one(
    members: list[Member], key: str, index: int, tag: str, body: dict[str, Any], c: Counters
) -> str:
    """``POST /v1/scores`` with an idempotency key, retried on other processes after a
    connection error, a 5xx or a 429 (the target was just killed or is starting)."""
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Idempotency-Key": f"soak-{tag}-{index}",
    }
    last = ""
    for attempt in range(SUBMIT_TRIES):
        member = members[(index + attempt) % len(members)]
        try:
            answer = _post(member.url, headers, body)
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 429:
                raise RuntimeError(
                    f"submit {index}: HTTP {exc.code}: {exc.read()[:300]!r}"
                ) from None
            last = f"HTTP {exc.code}"
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if not answer.get("created", True):
                with c.lock:
                    c.submit_replays += 1
            return str(answer["id"])
        with c.lock:
            c.submit_retries += 1
        time.sleep(0.2)
    raise RuntimeError(f"submit {index}: no process accepted it ({last})")


# ------------------------------------------------------------------ checks


@dataclass
class Check:
    name: str
    expected: object
    found: object
    #: duplicates this check found (each duplicate is counted by every check that sees it)
    duplicates: int = 0
    #: the jobs this check found lost (a lost job counts once however many checks see it)
    lost: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return self.expected == self.found


@dataclass
class ChainScan:
    """The transactions of the scanned blocks that matter, decoded."""

    blocks: int = 0
    txs: int = 0
    oracle_txs: int = 0
    signed_scores_txs: int = 0
    reverted: list[str] = field(default_factory=list)
    poster_txs: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    #: submitBatch: (batch id, results root)
    batches: list[tuple[str, str]] = field(default_factory=list)
    #: stored leaves and single submits: request id -> (subject, model hash, block, score)
    results: list[tuple[str, tuple[str, str, int, int]]] = field(default_factory=list)


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


def _leaf_fields(leaf: Any) -> tuple[str, tuple[str, str, int, int]]:
    """(request id, (subject, model hash, block, score)) of a decoded ``Leaf``."""
    if isinstance(leaf, dict):
        block, subject, model, score, rid = (
            leaf["blockNumber"], leaf["subject"], leaf["modelHash"], leaf["score"],
            leaf["requestId"],
        )  # fmt: skip
    else:
        block, subject, model, _, score, rid = leaf
    return _hex(rid), (str(subject).lower(), _hex(model), int(block), int(score))


def scan_chain(w3: Any, first: int, oracle: Any, signed_scores: str, poster: str) -> ChainScan:
    """Every block from ``first`` to the head with its transactions; the oracle's decoded."""
    scan = ChainScan()
    head = int(w3.eth.block_number)
    for number in range(first, head + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        scan.blocks += 1
        for tx in block["transactions"]:
            scan.txs += 1
            sender = str(tx["from"]).lower()
            to = str(tx["to"] or "").lower()
            if sender == poster.lower():
                scan.poster_txs += 1
            if to == signed_scores.lower():
                scan.signed_scores_txs += 1
            if to != oracle.address.lower():
                continue
            scan.oracle_txs += 1
            if int(w3.eth.get_transaction_receipt(tx["hash"])["status"]) != 1:
                scan.reverted.append(_hex(tx["hash"]))
            fn, args = oracle.decode_function_input(tx["input"])
            name = str(fn.fn_name)
            scan.calls[name] += 1
            if name == "submitBatch":
                b = batch_journal.decode_batch(bytes(args["journal"]))
                scan.batches.append((_hex(b["batchId"]), _hex(b["resultsRoot"])))
            elif name == "storeLeaves":
                scan.results.extend(_leaf_fields(leaf) for leaf in args["leaves"])
            elif name == "submit":
                j = journal_v1.decode(bytes(args["journal"]))
                scan.results.append(
                    (_hex(j["requestId"]),
                     (str(j["subject"]).lower(), _hex(j["modelHash"]), int(j["blockNumber"]),
                      int(j["score"])))
                )  # fmt: skip
    return scan


def _dups(values: list[Any]) -> int:
    """How many values are repeats of an earlier one."""
    return sum(n - 1 for n in Counter(values).values() if n > 1)


def db_checks(
    conn: psycopg.Connection[Any], ids: list[str], subjects: list[str], posted: bool
) -> tuple[list[Check], dict[str, dict[str, Any]]]:
    """The database's side; also every job's row (id -> request, state, data)."""
    n = len(ids)
    rows = conn.execute("SELECT id, state, request, data, error FROM jobs").fetchall()
    jobs = {
        str(r[0]): {"state": r[1], "request": json.loads(r[2]), "data": json.loads(r[3]),
                    "error": r[4]}
        for r in rows
    }  # fmt: skip
    states = Counter(j["state"] for j in jobs.values())
    not_done = frozenset(i for i in ids if jobs.get(i, {}).get("state") != "done")
    missing_rows = frozenset(set(ids) - set(jobs))
    subjects_of = [j["request"]["subject"].lower() for j in jobs.values()]
    checks = [
        Check("distinct job ids returned by the submits", n, len(set(ids)),
              duplicates=n - len(set(ids))),
        Check("jobs in the database", n, len(jobs), duplicates=max(0, len(jobs) - n)),
        Check("submitted jobs missing from the database", 0, len(missing_rows),
              lost=missing_rows),
        Check("jobs done", n, n - len(not_done), lost=not_done),
        Check("jobs failed", 0, states.get("failed", 0)),
        Check("distinct subjects of the jobs", n, len(set(subjects_of)),
              duplicates=_dups(subjects_of)),
        Check("subjects are the submitted ones", True, set(subjects_of) == set(subjects)),
    ]  # fmt: skip
    results = conn.execute("SELECT subject, job_id FROM results").fetchall()
    by_job = Counter(str(r[1]) for r in results)
    checks += [
        Check("result rows", n, len(results), duplicates=max(0, len(results) - n)),
        Check("jobs with more than one result row", 0, sum(1 for v in by_job.values() if v > 1),
              duplicates=_dups([str(r[1]) for r in results])),
        Check("jobs without a result row", 0, len(set(ids) - set(by_job)),
              lost=frozenset(set(ids) - set(by_job))),
    ]  # fmt: skip
    feed = Counter((str(j), str(k)) for j, k in conn.execute("SELECT job_id, kind FROM feed"))
    kinds = ("signed", "proven", "posted") if posted else ("signed",)
    extra = sum(v - 1 for v in feed.values() if v > 1)
    missing = [i for i in ids for k in kinds if feed[(i, k)] == 0]
    checks += [
        Check(f"feed events repeated ({'/'.join(kinds)})", 0, extra, duplicates=extra),
        Check(f"feed events missing ({'/'.join(kinds)})", 0, len(missing),
              lost=frozenset(missing)),
    ]  # fmt: skip
    if posted:
        posts = Counter(str(r[0]) for r in conn.execute("SELECT job_id FROM posts").fetchall())
        used = {j["data"].get("batch", {}).get("id") for j in jobs.values()} - {None}
        want = {f"{p}:{b}" for b in used for p in ("batch", "leaves")}
        checks += [
            Check("posts rows = 2 x batches of the jobs", len(want), len(posts)),
            Check("posts rows of the jobs' batches", True, want == set(posts)),
        ]
    return checks, jobs


def chain_checks(
    scan: ChainScan, jobs: dict[str, dict[str, Any]], ids: list[str], posted: bool,
    events: tuple[list[str], list[str]], poster_nonce: int,
) -> list[Check]:  # fmt: skip
    """The chain's side: every post once, every job's result on-chain once."""
    n = len(ids)
    if not posted:
        return [Check("transactions to the oracle (nothing is posted)", 0, scan.oracle_txs,
                      duplicates=scan.oracle_txs)]  # fmt: skip
    batch_ids = [b for b, _ in scan.batches]
    roots = [r for _, r in scan.batches]
    rids = [r for r, _ in scan.results]
    keyed = [(s, m, b) for _, (s, m, b, _) in scan.results]
    job_batches = {jobs[i]["data"].get("batch", {}).get("batch_id") for i in ids if i in jobs}
    job_batches.discard(None)
    job_roots = {jobs[i]["data"].get("batch", {}).get("results_root") for i in ids if i in jobs}
    on_chain = Counter(rids)
    want = {"0x" + request_id_of(i).hex(): i for i in ids}
    not_on_chain = frozenset(j for r, j in want.items() if on_chain[r] == 0)
    stored = dict(scan.results)
    mismatched = 0
    for rid, job_id in want.items():
        leaf = jobs.get(job_id, {}).get("data", {}).get("batch", {}).get("leaf")
        if rid in stored and leaf is not None:
            mine = (leaf["subject"].lower(), leaf["modelHash"], int(leaf["blockNumber"]),
                    int(leaf["score"]))  # fmt: skip
            mismatched += stored[rid] != mine
    score_events, verified_events = events
    return [
        Check("submitBatch transactions = batches of the jobs", len(job_batches),
              scan.calls["submitBatch"],
              duplicates=max(0, scan.calls["submitBatch"] - len(job_batches))),
        Check("storeLeaves transactions = batches of the jobs", len(job_batches),
              scan.calls["storeLeaves"],
              duplicates=max(0, scan.calls["storeLeaves"] - len(job_batches))),
        Check("other oracle calls (single submit, ...)", 0,
              scan.oracle_txs - scan.calls["submitBatch"] - scan.calls["storeLeaves"]),
        Check("batch ids posted twice", 0, _dups(batch_ids), duplicates=_dups(batch_ids)),
        Check("results roots posted twice", 0, _dups(roots), duplicates=_dups(roots)),
        Check("posted batch ids = the jobs' batches", True, set(batch_ids) == job_batches),
        Check("posted roots = the jobs' roots", True, set(roots) == job_roots),
        Check("request ids stored twice", 0, _dups(rids), duplicates=_dups(rids)),
        Check("(subject, model, block) stored twice", 0, _dups(keyed), duplicates=_dups(keyed)),
        Check("results stored on-chain", n, len(scan.results),
              duplicates=max(0, len(scan.results) - n)),
        Check("jobs whose result is not on-chain", 0, len(not_on_chain), lost=not_on_chain),
        Check("on-chain leaves unlike the job's leaf", 0, mismatched),
        Check("reverted oracle transactions", 0, len(scan.reverted)),
        Check("transactions to SignedScores", 0, scan.signed_scores_txs),
        Check("ScoreSubmitted events (distinct request ids)", (n, n),
              (len(score_events), len(set(score_events))),
              duplicates=_dups(score_events)),
        Check("BatchVerified events", len(job_batches), len(verified_events),
              duplicates=max(0, len(verified_events) - len(job_batches))),
        Check("poster nonce = its transactions seen", poster_nonce, scan.poster_txs),
        Check("poster transactions = oracle transactions", scan.oracle_txs, scan.poster_txs),
    ]  # fmt: skip


# ------------------------------------------------------------------ the soak


@dataclass
class Setup:
    w3: Any
    oracle: Any
    signed_scores: str
    poster: str
    config: dict[str, Any]
    env: dict[str, str]


def setup_chain(tmp: Path, rpc: str, zkvm: bool, batch_size: int, lease: float) -> Setup:
    """The dev stack on anvil, the model files, the operator keystore, the config."""
    from eth_account import Account
    from web3 import Web3

    from coprocessor.service.signer import write_keystore

    w3 = Web3(Web3.HTTPProvider(rpc))
    image_id = bytes.fromhex("5e" * 32)
    if zkvm:
        from coprocessor.zk import prover

        image_id = bytes.fromhex(prover.host_image_id()[2:])
    served = fmt.from_json(MODEL)
    stack = contracts.deploy_dev_stack(
        w3, image_id=image_id, models={served.hash(): features.spec_hash(features.normalize(SPEC))}
    )
    models = tmp / "models"
    models.mkdir()
    (models / f"{MODEL_NAME}.json").write_text(json.dumps(MODEL))
    (models / f"{MODEL_NAME}.features.json").write_text(json.dumps(SPEC))
    write_keystore(tmp / "operator.json", bytes.fromhex(OPERATOR_KEY), "soak")
    config: dict[str, Any] = {
        "rpc_url": rpc, "models_dir": str(models), "keystore": str(tmp / "operator.json"),
        "signed_scores": stack.signed_scores, "oracle": stack.oracle, "workers": 2,
        "prover": "zkvm" if zkvm else "none", "dev_proofs": True,
        "batch_max_size": batch_size if zkvm else 0, "batch_wait_seconds": 2.0,
        "rate_per_second": 1e9, "rate_burst": 10**9, "lease_seconds": lease,
        "max_attempts": 10, "backoff_seconds": 0.2, "backoff_max_seconds": 2.0,
        "poll_seconds": 0.1,
    }  # fmt: skip
    env = dict(os.environ, COPROC_KEYSTORE_PASSWORD="soak", COPROC_POSTER_KEY=POSTER_KEY,
               PYTHONPATH=str(REPO_ROOT))  # fmt: skip
    return Setup(
        w3, contracts.at(w3, "RiskOracle", stack.oracle), stack.signed_scores,
        Account.from_key(POSTER_KEY).address, config, env,
    )  # fmt: skip


def _states(conn: psycopg.Connection[Any]) -> Counter[str]:
    rows = conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
    return Counter({str(s): int(k) for s, k in rows})


def run(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from pg_support import postgres_server

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    zkvm = _zkvm_available()
    posted = zkvm
    mode, destination = ("both", "l1") if posted else ("signed", "none")
    _log(f"seed {seed}; {args.jobs} jobs, {args.processes} processes, kill every "
         f"{args.kill_every:g} s ±50 %, batch size {args.batch_size}")  # fmt: skip
    if not zkvm:
        _log("coproc-host is not built: jobs are signed only, nothing is proven or posted")
    tmp = Path(tempfile.mkdtemp(prefix="coproc-soak-"))
    contracts.build()
    node = start_anvil("soak", tmp, persist=False)
    members: list[Member] = []
    c = Counters()
    ok = False
    try:
        s = setup_chain(tmp, node.rpc, zkvm, args.batch_size, args.lease_seconds)
        w3 = s.w3
        w3.provider.make_request("anvil_mine", [2])
        block = int(w3.eth.block_number) - 1
        first_block = int(w3.eth.block_number) + 1
        nonce_before = int(w3.eth.get_transaction_count(s.poster))
        subjects = ["0x" + (0xD00000 + i).to_bytes(20, "big").hex() for i in range(args.jobs)]
        with postgres_server(durable=True) as server:
            db_url = server.new_database()
            migrate_database(db_url, tmp)
            config = dict(s.config, database_url=db_url)
            (tmp / "config.json").write_text(json.dumps(config))
            coproc = str(Path(sys.executable).parent / "coproc")
            serve = ["serve", "--config", str(tmp / "config.json")]
            key = subprocess.run(
                [coproc, "--data-dir", str(tmp / "p0"), *serve, "--add-key", "soak",
                 "--rate", "1e9", "--burst", "1000000000"],
                env=s.env, capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            members = [
                Member(i, [coproc, "--data-dir", str(tmp / f"p{i}"), *serve], s.env,
                       tmp / f"p{i}.log")
                for i in range(args.processes)
            ]  # fmt: skip
            for m in members:
                m.start()
            for m in members:
                assert m.proc is not None
                _wait_up(m.url + "/healthz", m.proc)
            _log(f"{len(members)} processes up; data under {tmp}")
            ok = soak(args, members, key, subjects, block, mode, destination, rng, db_url, c,
                      seed, s, first_block, nonce_before)  # fmt: skip
    finally:
        for m in members:
            m.stop()
        stop_pid(node.pid)
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            _log(f"kept {tmp} (process logs p*.log)")
    return 0 if ok else 1


def soak(
    args: argparse.Namespace, members: list[Member], key: str, subjects: list[str], block: int,
    mode: str, destination: str, rng: random.Random, db_url: str, c: Counters, seed: int,
    s: Setup, first_block: int, nonce_before: int,
) -> bool:  # fmt: skip
    """Submit, kill and restart until every job is final (or the timeout): the checks."""
    n = len(subjects)
    chaos = Chaos(members, args.kill_every, rng, db_url, c)
    tag = f"{seed:x}"
    ids: list[str] = [""] * n
    with psycopg.connect(db_url, autocommit=True) as conn:
        t0 = time.monotonic()
        chaos.start()

        def one(i: int) -> None:
            body = {"subject": subjects[i], "model": MODEL_NAME, "block": block, "mode": mode,
                    "destination": destination}  # fmt: skip
            ids[i] = submit_one(members, key, i, tag, body, c)

        with ThreadPoolExecutor(SUBMITTERS) as pool:
            futures = [pool.submit(one, i) for i in range(n)]
            last = 0.0
            while not all(f.done() for f in futures):
                time.sleep(0.2)
                if time.monotonic() - last >= PROGRESS_SECONDS:
                    last = time.monotonic()
                    submitted = sum(1 for f in futures if f.done())
                    _progress(conn, n, t0, c, f"submitted {submitted}/{n}")
            for f in futures:
                f.result()
        submit_seconds = time.monotonic() - t0
        deadline = t0 + args.timeout
        timed_out = False
        while True:
            states = _states(conn)
            if states["done"] + states["failed"] >= n:
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            _progress(conn, n, t0, c, "")
            time.sleep(PROGRESS_SECONDS)
        wall = time.monotonic() - t0
        chaos.halt.set()
        chaos.join(60)
        for m in members:
            m.stop()
        if timed_out:
            _log(f"TIMEOUT after {wall:.0f} s: jobs not final: "
                 f"{dict(_states(conn) - Counter(done=n))}")  # fmt: skip
        checks, jobs = db_checks(conn, ids, subjects, destination != "none")
    scan = scan_chain(s.w3, first_block, s.oracle, s.signed_scores, s.poster)
    score_events = [
        _hex(e["args"]["requestId"])
        for e in s.oracle.events.ScoreSubmitted.get_logs(from_block=first_block)
    ]
    verified = [
        _hex(e["args"]["batchId"])
        for e in s.oracle.events.BatchVerified.get_logs(from_block=first_block)
    ]
    poster_nonce = int(s.w3.eth.get_transaction_count(s.poster)) - nonce_before
    checks += chain_checks(
        scan, jobs, ids, destination != "none", (score_events, verified), poster_nonce
    )
    checks += [
        Check("soak finished before the timeout", False, timed_out),
        Check("chaos thread error", None, None if chaos.error is None else repr(chaos.error)),
        Check("processes that exited by themselves", [], c.unexpected_exits),
    ]
    failed = [ch for ch in checks if not ch.ok]
    duplicates = sum(ch.duplicates for ch in failed)
    lost = len(frozenset[str]().union(*(ch.lost for ch in failed)))
    batches = len({b for b, _ in scan.batches})
    failed_jobs = sum(1 for j in jobs.values() if j["state"] == "failed")
    print(
        table(
            f"Soak: {n} jobs ({mode}, destination {destination}"
            f"{f', batches of {args.batch_size}' if destination != 'none' else ''}), "
            f"kill -9 every {args.kill_every:g} s ±50 % (seed {seed})",
            ["jobs", "processes", "kills", "restarts", "wall s", "jobs/s", "batches posted",
             "chain txs to the oracle", "duplicates found (must be 0)", "lost jobs (must be 0)",
             "of which failed"],
            [[n, len(members), c.kills, c.restarts, f"{wall:.0f}", f"{n / wall:.2f}", batches,
              scan.oracle_txs, duplicates, lost, failed_jobs]],
        )
    )  # fmt: skip
    print(
        f"submits took {submit_seconds:.0f} s; kills skipped (no process serving yet) "
        f"{c.kills_skipped}; submit retries {c.submit_retries}, answered "
        f"'created: false' (idempotency key replayed) {c.submit_replays}; leases held by "
        f"killed processes: {c.orphaned_job_leases} job, {c.orphaned_batch_leases} batch-proving "
        f"(all taken over if every job is done); blocks scanned {scan.blocks} "
        f"({scan.txs} transactions); oracle calls {dict(scan.calls)}\n"
    )
    print(
        table(
            "Checks",
            ["check", "expected", "found", "ok"],
            [[ch.name, ch.expected, ch.found, "yes" if ch.ok else "**NO**"] for ch in checks],
        )
    )
    if scan.reverted:
        print("reverted:", ", ".join(scan.reverted[:10]))
    errors = Counter(str(j["error"])[:240] for j in jobs.values() if j["state"] == "failed")
    for error, count in errors.most_common(5):
        print(f"failed jobs ({count}): {error}")
    lagging = Counter(j["state"] for j in jobs.values() if j["state"] not in ("done", "failed"))
    if lagging:
        print("jobs not final:", dict(lagging))
    print("SOAK PASSED" if not failed else f"SOAK FAILED: {len(failed)} check(s)")
    return not failed


def _progress(conn: psycopg.Connection[Any], n: int, t0: float, c: Counters, extra: str) -> None:
    states = _states(conn)
    active = ", ".join(f"{k} {v}" for k, v in sorted(states.items()) if k not in ("done",))
    with c.lock:
        kills = c.kills
    _log(f"{time.monotonic() - t0:6.0f} s  done {states['done']}/{n}  kills {kills}  "
         f"{extra + '  ' if extra else ''}[{active}]")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=3.0,
                        help="mean seconds between kills (0: no kills)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lease-seconds", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds from the first submit (default 600 + jobs)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = 600.0 + args.jobs
    sys.exit(run(args))


if __name__ == "__main__":
    main()
