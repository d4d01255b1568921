"""One real (not dev-mode) local proof of a 16-subject batch, then its verification.

The batch is the batch benchmark's: 16 ERC20-balance subjects of one token at one block of
a fresh anvil (``bench/batch_bench.py``), the erc20-balance spec, the one-input model.
It runs ``coproc prove --subjects`` without ``--dev`` (a composite receipt from the local
CPU prover) and ``coproc verify-receipt``, and prints the wall time and the cycles. Too
slow for ``make test`` on 2 cores (about 2 hours here, docs/guest.md): run it with
``bash scripts/rust.sh prove-batch-check`` (``make prove-batch-check``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.batch_bench import SPEC, bundle_for, fund, holder
from bench.guest_cycles import model
from coprocessor.dev.devnet import start_anvil, stop_pid

SUBJECTS = 16
REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=SUBJECTS)
    parser.add_argument("--keep", type=Path, help="also copy the receipt to this file")
    args = parser.parse_args()
    coproc = str(REPO / ".venv" / "bin" / "coproc")
    with tempfile.TemporaryDirectory(prefix="coproc-batch-proof-") as tmp:
        work = Path(tmp)
        node = start_anvil("prove-batch", work, persist=False)
        try:
            block = fund(node.rpc, args.subjects)
            bundle = bundle_for(node.rpc, node.chain_id, block, args.subjects)
        finally:
            stop_pid(node.pid)
        (work / "bundle.json").write_text(json.dumps(bundle))
        (work / "spec.json").write_text(json.dumps(SPEC))
        (work / "model.json").write_text(json.dumps(model(1, 0)))
        subjects = ",".join(holder(i) for i in range(args.subjects))
        receipt = work / "receipt.json"
        env = dict(os.environ, RISC0_DEV_MODE="0")
        start = time.monotonic()
        subprocess.run(
            [
                coproc,
                "prove",
                "--bundle",
                str(work / "bundle.json"),
                "--model",
                str(work / "model.json"),
                "--spec",
                str(work / "spec.json"),
                "--subjects",
                subjects,
                "--out",
                str(receipt),
                "--timeout",
                str(6 * 3600),
                "--no-record",
            ],
            check=True,
            env=env,
        )
        proved = time.monotonic() - start
        start = time.monotonic()
        done = subprocess.run(
            [coproc, "verify-receipt", str(receipt)],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        verified = time.monotonic() - start
        sys.stdout.write(done.stdout)
        data = json.loads(receipt.read_text())
        print(
            json.dumps(
                {
                    "subjects": args.subjects,
                    "proved_seconds": round(proved, 1),
                    "verified_seconds": round(verified, 2),
                    "image_id": data.get("image_id"),
                    "cycles": data.get("cycles"),
                    "receipt_bytes": len(receipt.read_bytes()),
                },
                indent=2,
            )
        )
        if args.keep:
            args.keep.write_bytes(receipt.read_bytes())


if __name__ == "__main__":
    main()
