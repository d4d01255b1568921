"""Service scale-out (issue #18): real ``coproc serve`` processes on one PostgreSQL
database against one process on SQLite, measured in the same run on a real anvil.

1. Signed jobs: ``JOBS`` jobs (distinct subjects, one block) submitted to the first
   process; each is indexed (headers + proofs from anvil, verified, cached), scored and
   signed by whichever process claims it. Throughput = jobs / (first submit .. last
   done). 1 process on SQLite (the baseline) vs 1, 2 and 4 ``--role all`` processes
   (``workers`` 2 each, a data directory each, as on separate hosts) on PostgreSQL.
2. Proven jobs (mode ``both``: signed, then proven by the real guest in ``coproc-host``,
   dev mode: the zkVM executes the guest, the receipt is a fake), ``PROVEN_JOBS`` per
   row, the same way (needs ``coproc-host``; without it the table says so).
3. Cached signed results: ``GET /v1/scores/{subject}?model=`` under a keep-alive load
   generator (this process, ``CONCURRENCY`` connections spread over the processes):
   req/s and p99 with N processes.

Both databases make a commit durable before it returns: SQLite ``synchronous=FULL``
(``coprocessor/sqlite.py``) and PostgreSQL with its defaults (``fsync``, synchronous
commit; ``tests/pg_support.postgres_server(durable=True)``, a throwaway server in a
temporary directory). Everything (anvil, the database, the processes, the load
generator) shares this machine's cores: see docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import table
from bench.service_bench import (
    MODEL,
    OPERATOR_KEY,
    SPEC,
    _load,
    _pct,
    _wait_up,
    _zkvm_available,
)
from coprocessor.dev.devnet import free_port, start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.service.store.database import migrate_database

JOBS = int(os.environ.get("COPROC_BENCH_JOBS", "120"))
PROVEN_JOBS = int(os.environ.get("COPROC_BENCH_PROVEN_JOBS", "16"))
DURATION = float(os.environ.get("COPROC_BENCH_SECONDS", "6"))
PROCESSES = (1, 2, 4)


def _http(method: str, url: str, key: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


class Fleet:
    """``n`` ``coproc serve`` processes on one database, each with its own data directory."""

    def __init__(self, tmp: Path, config: dict[str, Any], n: int, env: dict[str, str]) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True)
        (tmp / "config.json").write_text(json.dumps(config))
        coproc = str(Path(sys.executable).parent / "coproc")
        base = [coproc, "serve", "--config", str(tmp / "config.json")]
        self.key = subprocess.run(
            [coproc, "--data-dir", str(tmp / "p0"), *base[1:], "--add-key", "bench",
             "--rate", "1e9", "--burst", "1000000000"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        self.ports = [free_port() for _ in range(n)]
        self.procs = [
            subprocess.Popen(
                [coproc, "--data-dir", str(tmp / f"p{i}"), *base[1:], "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i, port in enumerate(self.ports)
        ]
        for port, proc in zip(self.ports, self.procs, strict=True):
            _wait_up(f"http://127.0.0.1:{port}/healthz", proc)

    def url(self, i: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def jobs(self, subjects: list[str], block: int, mode: str = "signed") -> float:
        """Submit a job per subject, wait for all: jobs per second."""
        t0 = time.perf_counter()
        ids = [
            _http("POST", self.url() + "/v1/scores", self.key,
                  {"subject": s, "model": "bench", "block": block, "mode": mode})["id"]
            for s in subjects
        ]  # fmt: skip
        pending = list(ids)
        while pending:
            job = _http("GET", f"{self.url()}/v1/jobs/{pending[0]}", self.key)
            if job["state"] == "failed":
                raise RuntimeError(f"job {job['id']} failed: {job['error']}")
            if job["state"] == "done":
                pending.pop(0)
            else:
                time.sleep(0.02)
        return len(ids) / (time.perf_counter() - t0)

    def cached_reads(self, subject: str) -> tuple[float, list[float]]:
        """GET the subject's result from every process at once: (req/s, latencies)."""
        headers = {"Authorization": f"Bearer {self.key}"}
        urls = [f"{self.url(i)}/v1/scores/{subject}?model=bench" for i in range(len(self.ports))]
        asyncio.run(_load(urls, headers, 1.0))  # warm-up
        return asyncio.run(_load(urls, headers, DURATION))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    from web3 import Web3
    from web3.types import Wei

    from coprocessor.service.signer import write_keystore

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from pg_support import postgres_server

    tmp = Path(tempfile.mkdtemp(prefix="coproc-scale-bench-"))
    contracts.build()
    node = start_anvil("scale-bench", tmp, persist=False)
    rows_jobs: list[list[object]] = []
    rows_reads: list[list[object]] = []
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc))
        model = fmt.from_json(MODEL)
        stack = contracts.deploy_dev_stack(
            w3,
            image_id=bytes.fromhex("5e" * 32),  # nothing is posted: no receipt is verified
            models={model.hash(): features.spec_hash(features.normalize(SPEC))},
        )
        models = tmp / "models"
        models.mkdir()
        (models / "bench.json").write_text(json.dumps(MODEL))
        (models / "bench.features.json").write_text(json.dumps(SPEC))
        write_keystore(tmp / "ks.json", bytes.fromhex(OPERATOR_KEY), "bench")
        config: dict[str, Any] = {
            "rpc_url": node.rpc, "models_dir": str(models), "keystore": str(tmp / "ks.json"),
            "signed_scores": stack.signed_scores, "workers": 2, "prover": "zkvm",
            "rate_per_second": 1e9, "rate_burst": 10**9,
        }  # fmt: skip
        env = dict(os.environ, COPROC_KEYSTORE_PASSWORD="bench", PYTHONPATH=str(REPO_ROOT))
        runs = [("SQLite", 1), *(("PostgreSQL", n) for n in PROCESSES)]
        zkvm = _zkvm_available()
        count = JOBS + (PROVEN_JOBS if zkvm else 0)
        subjects = {
            run: ["0x" + (0xC0000 + 1000 * k + i).to_bytes(20, "big").hex() for i in range(count)]
            for k, run in enumerate(runs)
        }
        for i, s in enumerate(s for group in subjects.values() for s in group):
            w3.eth.send_transaction(
                {"from": w3.eth.accounts[0], "to": Web3.to_checksum_address(s),
                 "value": Wei(10**15 * (i + 1))}
            )  # fmt: skip
        w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
        block = int(w3.eth.block_number) - 1
        results: dict[tuple[str, int], tuple[float, float | None, float, list[float]]] = {}
        with postgres_server(durable=True) as server:
            for backend, n in runs:
                url = ""
                if backend == "PostgreSQL":
                    url = server.new_database()
                    migrate_database(url, tmp)
                fleet = Fleet(tmp / f"{backend}-{n}", {**config, "database_url": url}, n, env)
                group = subjects[(backend, n)]
                try:
                    rate = fleet.jobs(group[:JOBS], block)
                    proven = fleet.jobs(group[JOBS:], block, "both") if zkvm else None
                    rps, lat = fleet.cached_reads(group[0])
                finally:
                    fleet.stop()
                results[(backend, n)] = (rate, proven, rps, lat)
    finally:
        stop_pid(node.pid)

    base_rate, base_proven, base_rps, _ = results[("SQLite", 1)]
    rows_proven: list[list[object]] = []
    for (backend, n), (rate, proven, rps, lat) in results.items():
        rows_jobs.append([backend, n, JOBS, f"{rate:.1f}", f"{rate / base_rate:.2f}"])
        if proven is not None and base_proven is not None:
            rows_proven.append(
                [backend, n, PROVEN_JOBS, f"{proven:.2f}", f"{proven / base_proven:.2f}"]
            )
        rows_reads.append(
            [backend, n, f"{rps:,.0f}", f"{_pct(lat, 0.5):.1f}", f"{_pct(lat, 0.99):.1f}",
             f"{rps / base_rps:.2f}"]
        )  # fmt: skip
    print(
        table(
            "Signed jobs: coproc serve processes on one PostgreSQL vs one on SQLite",
            ["database", "processes", "jobs", "jobs/s", "x SQLite 1 process"],
            rows_jobs,
        )
    )
    if rows_proven:
        print(
            table(
                "Proven jobs (signed + zkVM dev mode in coproc-host), same processes",
                ["database", "processes", "jobs", "jobs/s", "x SQLite 1 process"],
                rows_proven,
            )
        )
    else:
        print("proven jobs: not measured (coproc-host is not built)\n")
    print(
        table(
            f"Cached signed results (GET /v1/scores, {DURATION:g} s per row)",
            ["database", "processes", "req/s", "p50 ms", "p99 ms", "x SQLite 1 process"],
            rows_reads,
        )
    )


if __name__ == "__main__":
    main()
