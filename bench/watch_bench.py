"""Independent watchers against a lying operator: detection rate vs. p.

A real ``coproc serve`` process on a real anvil signs ``SCORES`` scores; it is configured
with the test-only knob ``test_lie_subjects`` so that a fifth of the subjects get a score
one basis point off. Watchers (``coprocessor.service.watcher``, in this process, each
with its own state and a fresh random sampling secret) follow the same feed with two
values of p and recompute what they sample from the node. Measured per p: lies signed,
lies detected (share vs. p, with the binomial standard deviation), honest scores wrongly
flagged (must be 0), scores recomputed and the watcher's wall time over the whole feed. No
challenges are sent (detection only; the slashing path is tests/watch/test_watch_liar.py).

``python -m bench watch_bench``
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import table
from bench.service_bench import MODEL, OPERATOR_KEY, POSTER_KEY, SPEC, _http, _wait_up
from coprocessor.dev.devnet import free_port, start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.service.catalog import load_catalog
from coprocessor.service.proving import make_prover
from coprocessor.service.watcher import WatchConfig, Watcher

SUBJECTS = int(os.environ.get("COPROC_BENCH_WATCH_SUBJECTS", "50"))
ROUNDS = int(os.environ.get("COPROC_BENCH_WATCH_ROUNDS", "8"))
PROBABILITIES = (0.1, 0.3)


def _sign_all(base: str, key: str, w3: object, subjects: list[str]) -> int:
    """ROUNDS signed scores per subject (a new block between rounds); returns the count."""
    done = 0
    for _ in range(ROUNDS):
        ids = [
            _http("POST", base + "/v1/scores", {"subject": s, "model": "bench"}, key)["id"]
            for s in subjects
        ]
        pending = set(ids)
        while pending:
            for i in list(pending):
                job = _http("GET", f"{base}/v1/jobs/{i}", key=key)
                if job["state"] == "failed":
                    raise RuntimeError(f"job {i} failed: {job['error']}")
                if job["state"] == "done":
                    pending.discard(i)
                    done += 1
            time.sleep(0.05)
        w3.provider.make_request("anvil_mine", [1])  # type: ignore[attr-defined]
    return done


def _watch(base: str, key: str, rpc: str, models: Path, data: Path, p: float, last: int) -> Watcher:
    config = WatchConfig(feed_url=base, rpc_url=rpc, probability=p, api_key=key)
    watcher = Watcher(config, data, load_catalog(models), make_prover("none"), None)
    asyncio.run(watcher.run(until=lambda: watcher.state.cursor() >= last))
    return watcher


def main() -> None:
    from web3 import Web3
    from web3.types import Wei

    from coprocessor.service import auth
    from coprocessor.service.jobs import JobDB
    from coprocessor.service.signer import write_keystore

    tmp = Path(tempfile.mkdtemp(prefix="coproc-watch-bench-"))
    contracts.build()
    node = start_anvil("bench-watch", tmp, persist=False)
    server: subprocess.Popen[bytes] | None = None
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc))
        model = fmt.from_json(MODEL)
        stack = contracts.deploy_dev_stack(
            w3,
            image_id=bytes(32 * [0x5E]),
            models={model.hash(): features.spec_hash(features.normalize(SPEC))},
        )
        subjects = ["0x" + (0xC0000 + i).to_bytes(20, "big").hex() for i in range(SUBJECTS)]
        for i, s in enumerate(subjects):
            w3.eth.send_transaction(
                {"from": w3.eth.accounts[0], "to": Web3.to_checksum_address(s),
                 "value": Wei(10**17 * (i + 1))}
            )  # fmt: skip
        liars = set(subjects[::5])
        models = tmp / "models"
        models.mkdir()
        (models / "bench.json").write_text(json.dumps(MODEL))
        (models / "bench.features.json").write_text(json.dumps(SPEC))
        write_keystore(tmp / "ks.json", bytes.fromhex(OPERATOR_KEY), "bench")
        config = {
            "rpc_url": node.rpc, "models_dir": str(models), "keystore": str(tmp / "ks.json"),
            "signed_scores": stack.signed_scores, "oracle": stack.oracle, "workers": 2,
            "prover": "none", "rate_per_second": 1e9, "rate_burst": 10**9,
            "poll_seconds": 0.02, "test_lie_subjects": sorted(liars),
        }  # fmt: skip
        (tmp / "config.json").write_text(json.dumps(config))
        data = tmp / "data"
        db = JobDB(data / "service.sqlite")
        key = auth.create_key(db, "bench", 1e9, 10**9)
        db.close()
        port = free_port()
        env = dict(os.environ, COPROC_KEYSTORE_PASSWORD="bench", COPROC_POSTER_KEY=POSTER_KEY,
                   PYTHONPATH=str(REPO_ROOT))  # fmt: skip
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "coproc"), "--data-dir", str(data), "serve",
             "--config", str(tmp / "config.json"), "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        _wait_up(base + "/healthz", server)
        signed = _sign_all(base, key, w3, subjects)
        feed = JobDB(data / "service.sqlite")
        last = feed.last_feed_seq()
        feed.close()
        lies = ROUNDS * len(liars)

        rows = []
        for p in PROBABILITIES:
            t0 = time.perf_counter()
            watcher = _watch(base, key, node.rpc, models, tmp / f"watch-{p}", p, last)
            elapsed = time.perf_counter() - t0
            checks = watcher.state.checks()
            watcher.close()
            detected = sum(c["outcome"] == "mismatch" for c in checks)
            false_flags = sum(c["outcome"] == "mismatch" and c["subject"] not in liars
                              for c in checks)  # fmt: skip
            recomputed = sum(c["outcome"] in ("match", "mismatch") for c in checks)
            sigma = (p * (1 - p) / lies) ** 0.5
            rows.append([
                f"{p:g}", str(signed), str(lies), str(detected), f"{detected / lies:.3f}",
                f"{p:g} ± {sigma:.3f}", str(false_flags), str(recomputed),
                f"{elapsed:.1f}",
                f"{1 - (1 - p) ** lies:.6f}",
            ])  # fmt: skip
        print(table(
            "Independent watchers vs. a lying operator (a fifth of the subjects lied about, "
            "by 1 bp)",
            ["p", "signed", "lies", "detected", "rate", "expected (p ± 1σ)", "honest flagged",
             "recomputed", "watcher wall s (whole feed)", "P(≥1 lie caught)"],
            rows,
        ))  # fmt: skip
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        stop_pid(node.pid)
