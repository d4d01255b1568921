"""Service throughput and latency on loopback (a real ``coproc serve`` process, a real
anvil, the contracts deployed).

1. Cached signed results: ``GET /v1/scores/{subject}?model=`` under a load generator
   (aiohttp client, its own process, keep-alive connections). Baseline, same run: a bare
   aiohttp server answering a fixed JSON body of the same size (the framework's floor
   on this machine). Target: >= 2,000 req/s with p99 < 25 ms.
2. Fresh signed results: jobs submitted concurrently, each indexed (headers + proofs
   from anvil, verified, stored), scored and signed; submit → done latency.
3. One request through every stage (index, score, sign, prove, post), from the job's
   stage timestamps. Proving uses the zkVM (``coprocessor.zk.prover``, dev mode) when
   ``coproc-host`` is installed; otherwise a stand-in (journal computed in Python, dev
   seal) that is labelled as such in the table.
"""

from __future__ import annotations

import asyncio
import itertools
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
from coprocessor.dev.devnet import free_port, start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import journal as journal_v1
from coprocessor.zk import receipt_claim
from coprocessor.zk.prover import ProveRequest

IMAGE_ID = bytes.fromhex("5e" * 32)
OPERATOR_KEY = "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
POSTER_KEY = "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"
SPEC = {
    "format": "coproc-features", "version": 1, "name": "bench",
    "features": [
        {"name": "eth", "read": {"kind": "balance", "address": "$subject"}, "decimals": 22},
        {"name": "nonce", "read": {"kind": "nonce", "address": "$subject"}},
    ],
}  # fmt: skip
MODEL = {
    "format": "coproc-model", "version": 1, "name": "bench", "scale_bits": 16, "input_dim": 2,
    "layers": [{"op": "dense", "in": 2, "out": 1, "weights": [[-200000, 3000]], "bias": [131072]},
               {"op": "sigmoid"}, {"op": "to_bps"}],
}  # fmt: skip
DURATION = float(os.environ.get("COPROC_BENCH_SECONDS", "8"))
CONCURRENCY = 32
FRESH_JOBS = 40

BASELINE_SERVER = """
import sys
from aiohttp import web
body = sys.stdin.buffer.read()
async def h(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/x", h)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


class StandInProver:
    """Not the zkVM: the journal computed in Python and a dev seal (labelled in output)."""

    def prove(self, request: ProveRequest, dev: bool, *, on_progress: Any = None) -> dict[str, Any]:
        scored = pipeline.run(
            pipeline.verify_file(request.bundle),
            features.load(request.spec),
            fmt.load(request.model),
            request.subject,
            request.block,
        )
        assert request.request_id is not None
        journal = journal_v1.encode(scored.journal_fields(bytes.fromhex(request.request_id[2:])))
        seal = receipt_claim.dev_seal(IMAGE_ID, journal)
        return {"journal_hex": journal.hex(), "seal_hex": seal.hex(), "image_id": IMAGE_ID.hex(),
                "dev_mode": True, "receipt_kind": "stand-in"}  # fmt: skip


def stand_in() -> StandInProver:
    return StandInProver()


def _zkvm_available() -> bool:
    try:
        from coprocessor.zk import prover

        prover.host_binary()
        return True
    except Exception:
        return False


def _http(method: str, url: str, body: Any = None, key: str = "") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


async def _load(
    urls: list[str], headers: dict[str, str], seconds: float
) -> tuple[float, list[float]]:
    """``CONCURRENCY`` clients, spread evenly over ``urls``, each GETting its URL until
    ``seconds`` have passed: (requests per second, latencies)."""
    import aiohttp

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker(url: str) -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}")
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def main() -> None:
    from web3 import Web3
    from web3.types import Wei

    from coprocessor.service import auth
    from coprocessor.service.jobs import JobDB
    from coprocessor.service.signer import write_keystore

    tmp = Path(tempfile.mkdtemp(prefix="coproc-service-bench-"))
    contracts.build()
    node = start_anvil("bench", tmp, persist=False)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc))
        model = fmt.from_json(MODEL)
        zkvm = _zkvm_available()
        image_id = IMAGE_ID
        if zkvm:
            from coprocessor.zk import prover

            image_id = bytes.fromhex(prover.host_image_id()[2:])
        stack = contracts.deploy_dev_stack(
            w3,
            image_id=image_id,
            models={model.hash(): features.spec_hash(features.normalize(SPEC))},
        )
        models = tmp / "models"
        models.mkdir()
        (models / "bench.json").write_text(json.dumps(MODEL))
        (models / "bench.features.json").write_text(json.dumps(SPEC))
        write_keystore(tmp / "ks.json", bytes.fromhex(OPERATOR_KEY), "bench")
        config = {
            "rpc_url": node.rpc, "models_dir": str(models), "keystore": str(tmp / "ks.json"),
            "signed_scores": stack.signed_scores, "oracle": stack.oracle, "workers": 2,
            "prover": "zkvm" if zkvm else "import:bench.service_bench:stand_in",
            "rate_per_second": 1e9, "rate_burst": 10**9, "poll_seconds": 0.02,
        }  # fmt: skip
        (tmp / "config.json").write_text(json.dumps(config))
        data = tmp / "data"
        db = JobDB(data / "service.sqlite")
        key = auth.create_key(db, "bench", 1e9, 10**9)
        db.close()
        port = free_port()
        env = dict(os.environ, COPROC_KEYSTORE_PASSWORD="bench", COPROC_POSTER_KEY=POSTER_KEY,
                   PYTHONPATH=str(REPO_ROOT))  # fmt: skip
        coproc = str(Path(sys.executable).parent / "coproc")
        server = subprocess.Popen(
            [coproc, "--data-dir", str(data), "serve", "--config", str(tmp / "config.json"),
             "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(server)
        base = f"http://127.0.0.1:{port}"
        _wait_up(base + "/healthz", server)

        # --- fresh signed results: many jobs at once, submit -> done
        subjects = ["0x" + (0xB0000 + i).to_bytes(20, "big").hex() for i in range(FRESH_JOBS)]
        for i, s in enumerate(subjects):
            w3.eth.send_transaction(
                {
                    "from": w3.eth.accounts[0],
                    "to": Web3.to_checksum_address(s),
                    "value": Wei(10**18 * (i + 1)),
                }
            )
        t0 = time.perf_counter()
        ids = [_http("POST", base + "/v1/scores", {"subject": s, "model": "bench"}, key)["id"]
               for s in subjects]  # fmt: skip
        jobs: list[dict[str, Any]] = []
        while len(jobs) < len(ids):
            jobs = [j for j in (_http("GET", f"{base}/v1/jobs/{i}", key=key) for i in ids)
                    if j["state"] in ("done", "failed")]  # fmt: skip
            time.sleep(0.05)
        fresh_elapsed = time.perf_counter() - t0
        assert all(j["state"] == "done" for j in jobs), [j["error"] for j in jobs]
        fresh_lat = [j["timestamps"]["done"] - j["timestamps"]["queued"] for j in jobs]

        # --- cached signed results under load
        url = f"{base}/v1/scores/{subjects[0]}?model=bench"
        sample = urllib.request.urlopen(
            urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
        ).read()
        asyncio.run(_load([url], {"Authorization": f"Bearer {key}"}, 1.0))  # warm-up
        rps, lat = asyncio.run(_load([url], {"Authorization": f"Bearer {key}"}, DURATION))

        # --- baseline: bare aiohttp handler, same body size
        bport = free_port()
        baseline = subprocess.Popen(
            [sys.executable, "-c", BASELINE_SERVER, str(bport)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(baseline)
        assert baseline.stdin is not None
        baseline.stdin.write(sample)
        baseline.stdin.close()
        _wait_up(f"http://127.0.0.1:{bport}/x", baseline)
        asyncio.run(_load([f"http://127.0.0.1:{bport}/x"], {}, 1.0))
        brps, blat = asyncio.run(_load([f"http://127.0.0.1:{bport}/x"], {}, DURATION))

        # --- one request through every stage
        w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
        one = _http("POST", base + "/v1/scores",
                    {"subject": subjects[1], "model": "bench", "mode": "both", "destination": "l1"},
                    key)["id"]  # fmt: skip
        while (job := _http("GET", f"{base}/v1/jobs/{one}", key=key))["state"] not in (
            "done", "failed",
        ):  # fmt: skip
            time.sleep(0.05)
        assert job["state"] == "done", job["error"]
        ts = job["timestamps"]
        order = ["queued", "indexing", "scoring", "signing", "proving", "posting", "done"]
        stage_rows = [
            [name, f"{(ts[nxt] - ts[name]) * 1000:.1f}"]
            for name, nxt in itertools.pairwise(order[1:])
        ]
        stage_rows.insert(
            0, ["queued (wait for a worker)", f"{(ts['indexing'] - ts['queued']) * 1000:.1f}"]
        )
        stage_rows.append(["total", f"{(ts['done'] - ts['queued']) * 1000:.1f}"])
        prover_label = (
            "zkVM dev mode (coproc-host)"
            if zkvm
            else "stand-in (Python journal + dev seal, NOT the zkVM)"
        )
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        stop_pid(node.pid)

    def ms(values: list[float], q: float) -> str:
        return f"{_pct(values, q):.2f}"

    print(
        table(
            f"Cached signed results: GET /v1/scores, {CONCURRENCY} connections, {DURATION:g} s",
            ["server", "req/s", "p50 ms", "p99 ms", "x baseline"],
            [
                [
                    "bare aiohttp handler (baseline)",
                    f"{brps:,.0f}",
                    ms(blat, 0.5),
                    ms(blat, 0.99),
                    "1.00",
                ],
                [
                    "coproc serve (auth, rate limit, metrics, cache)",
                    f"{rps:,.0f}",
                    ms(lat, 0.5),
                    ms(lat, 0.99),
                    f"{rps / brps:.2f}",
                ],
            ],
        )
    )
    print(
        table(
            f"Fresh signed results: {FRESH_JOBS} jobs at once (index + score + sign), 2 workers",
            ["jobs/s", "latency p50 ms", "latency p99 ms", "max ms"],
            [
                [
                    f"{len(jobs) / fresh_elapsed:.1f}",
                    f"{_pct(fresh_lat, 0.5):.0f}",
                    f"{_pct(fresh_lat, 0.99):.0f}",
                    f"{max(fresh_lat) * 1000:.0f}",
                ],
            ],
        )
    )
    print(table(f"One request, every stage (prover: {prover_label})", ["stage", "ms"], stage_rows))
    target = rps >= 2000 and _pct(lat, 0.99) < 25
    print(f"target (>= 2,000 req/s cached, p99 < 25 ms): {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
