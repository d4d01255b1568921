"""On-chain requests served by one service: a real ``coproc serve`` process follows
RiskRequests on a real anvil (``request_chains``, confirmations 0, poll 0.05 s).

1. Latency, request event -> callback: the example pool (CallbackLendingPool) opens
   positions one at a time; from the moment the request transaction's receipt is back
   (the event is on-chain) until the pool's position is open (its callback ran in the
   fulfil transaction). Each confirmation the service waits for adds one block time.
2. Throughput: many requests (no callback) sent at once; requests fulfilled per minute
   from the first request until the last ``RequestFulfilled``.

Proofs: the stand-in prover of ``bench.service_bench`` (journal computed in Python, dev
seal), unless ``COPROC_BENCH_ZKVM=1`` and ``coproc-host`` is installed (zkVM dev mode:
real guest execution, fake receipt). Which one ran is printed in the table titles.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import table
from bench.service_bench import (
    IMAGE_ID,
    MODEL,
    OPERATOR_KEY,
    POSTER_KEY,
    SPEC,
    _pct,
    _wait_up,
    _zkvm_available,
)
from coprocessor.dev.devnet import free_port, start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt

SEQUENTIAL = int(os.environ.get("COPROC_BENCH_REQUESTS_SEQ", "8"))
BURST = int(os.environ.get("COPROC_BENCH_REQUESTS_BURST", "40"))
PRICE = 10**15
OPEN = 2


def main() -> None:
    from web3 import Web3
    from web3.types import Wei

    from coprocessor.service.signer import write_keystore

    tmp = Path(tempfile.mkdtemp(prefix="coproc-requests-bench-"))
    contracts.build()
    node = start_anvil("bench-requests", tmp, persist=False)
    server: subprocess.Popen[bytes] | None = None
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc))
        model = fmt.from_json(MODEL)
        spec_hash = features.spec_hash(features.normalize(SPEC))
        zkvm = os.environ.get("COPROC_BENCH_ZKVM") == "1" and _zkvm_available()
        image_id = IMAGE_ID
        if zkvm:
            from coprocessor.zk import prover

            image_id = bytes.fromhex(prover.host_image_id()[2:])
        stack = contracts.deploy_dev_stack(w3, image_id=image_id, models={model.hash(): spec_hash})
        owner = w3.eth.accounts[0]
        requests = contracts.deploy(w3, "RiskRequests", owner, stack.oracle, 3600, 500_000)
        requests.functions.offerModel(model.hash(), PRICE).transact({"from": owner})
        pool = contracts.deploy(
            w3, "CallbackLendingPool", requests.address, model.hash(), spec_hash, 8000, 100_000
        )
        first_block = w3.eth.block_number
        models = tmp / "models"
        models.mkdir()
        (models / "bench.json").write_text(json.dumps(MODEL))
        (models / "bench.features.json").write_text(json.dumps(SPEC))
        write_keystore(tmp / "ks.json", bytes.fromhex(OPERATOR_KEY), "bench")
        follow = {"name": "l1", "requests": requests.address, "confirmations": 0,
                  "poll_seconds": 0.05, "start_block": first_block}  # fmt: skip
        config = {
            "rpc_url": node.rpc, "models_dir": str(models), "keystore": str(tmp / "ks.json"),
            "signed_scores": stack.signed_scores, "oracle": stack.oracle, "workers": 2,
            "prover": "zkvm" if zkvm else "import:bench.service_bench:stand_in",
            "poll_seconds": 0.02, "request_chains": [follow],
        }  # fmt: skip
        (tmp / "config.json").write_text(json.dumps(config))
        port = free_port()
        env = dict(os.environ, COPROC_KEYSTORE_PASSWORD="bench", COPROC_POSTER_KEY=POSTER_KEY,
                   PYTHONPATH=str(REPO_ROOT))  # fmt: skip
        coproc = str(Path(sys.executable).parent / "coproc")
        server = subprocess.Popen(
            [coproc, "--data-dir", str(tmp / "data"), "serve", "--config",
             str(tmp / "config.json"), "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_up(f"http://127.0.0.1:{port}/healthz", server)

        # --- 1. latency, one request at a time, event -> callback
        latencies = []
        for borrower in w3.eth.accounts[1 : 1 + SEQUENTIAL]:
            tx = pool.functions.openPosition().transact({"from": borrower, "value": Wei(PRICE)})
            assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
            t0 = time.perf_counter()
            deadline = t0 + 120
            while pool.functions.positionOf(borrower).call()[0] != OPEN:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"no callback for {borrower} within 120 s")
                time.sleep(0.01)
            latencies.append(time.perf_counter() - t0)

        # --- 2. throughput, a burst of requests
        zero = "0x" + "00" * 20
        subjects = ["0x" + (0xC0000 + i).to_bytes(20, "big").hex() for i in range(BURST)]
        before = len(requests.events.RequestFulfilled.get_logs(from_block=first_block))
        t0 = time.perf_counter()
        for subject in subjects:
            requests.functions.request(
                Web3.to_checksum_address(subject), model.hash(), spec_hash,
                (1, w3.eth.block_number), zero, 0,
            ).transact({"from": owner, "value": Wei(PRICE)})  # fmt: skip
        sent = time.perf_counter() - t0
        deadline = t0 + 600
        while True:
            done = len(requests.events.RequestFulfilled.get_logs(from_block=first_block)) - before
            if done >= BURST:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {done}/{BURST} fulfilled within 600 s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        stop_pid(node.pid)

    label = "zkVM dev mode" if zkvm else "stand-in (Python journal, dev seal)"
    print(
        table(
            f"On-chain request event -> callback, one at a time ({SEQUENTIAL} requests, "
            f"confirmations 0, prover: {label})",
            ["p50 ms", "p90 ms", "max ms"],
            [
                [
                    f"{_pct(latencies, 0.5):.0f}",
                    f"{_pct(latencies, 0.9):.0f}",
                    f"{max(latencies) * 1000:.0f}",
                ]
            ],
        )
    )
    print(
        table(
            f"On-chain requests fulfilled by one service (burst of {BURST}, 2 workers, "
            f"prover: {label})",
            ["requests", "sending s", "all fulfilled s", "requests / minute"],
            [[BURST, f"{sent:.1f}", f"{elapsed:.1f}", f"{BURST / elapsed * 60:.0f}"]],
        )
    )


if __name__ == "__main__":
    main()
