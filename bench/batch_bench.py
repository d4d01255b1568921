"""Batch receipts (docs/formats.md §5), measured: zkVM cycles (executor, the real guest)
of N = 1, 16, 64, 256, 1,024 ERC20-balance subjects of one token at one block in one
run, the marginal cycles per extra subject against a single-subject receipt (goal at
N = 256: <= 20 %), proven scores per CPU-hour (cycles ratio: proving time grows with
cycles), gas per stored result on a real anvil for N = 64 and 256, and the memory of the
host (executor) and of the core's batch run natively for N = 1,024 (the guest's working
set is of that order, with 32-bit pointers).

Run: ``.venv/bin/python -m bench batch_bench`` (add ``--no-guest`` for gas only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from web3 import Web3

from bench.common import table
from bench.guest_cycles import TOKEN, model
from coprocessor.chain.bundle import ProofAtBlock, build_bundle
from coprocessor.chain.headers import encode_header_json
from coprocessor.chain.slots import mapping_slot
from coprocessor.dev.devnet import rpc_call, start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.scoring import batch, features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import batch_journal, prover, receipt_claim
from coprocessor.zk import journal as journal_v1

SIZES = (1, 16, 64, 256, 1024)
GAS_SIZES = (64, 256)
GOAL = 0.20
REPO = Path(__file__).resolve().parent.parent
ZERO = "0x0000000000000000000000000000000000000000"
IMAGE = Web3.keccak(text="coproc batch bench image")
SPEC = {
    "format": "coproc-features",
    "version": 1,
    "name": "erc20-balance",
    "features": [
        {
            "name": "bal",
            "read": {
                "kind": "storage",
                "address": TOKEN,
                "slot": {"base": 0, "path": [{"mapping": "$subject"}]},
            },
            "decimals": 18,
        }
    ],
}


def holder(i: int) -> str:
    return "0x" + (0x10000 + i).to_bytes(20, "big").hex()


def _word(v: int) -> str:
    return "0x" + v.to_bytes(32, "big").hex()


def _slot(i: int) -> str:
    return _word(mapping_slot(0, bytes.fromhex(holder(i)[2:])))


def fund(url: str, count: int) -> int:
    rpc_call(url, "anvil_setCode", [TOKEN, "0x6001"])
    for i in range(count):
        rpc_call(url, "anvil_setStorageAt", [TOKEN, _slot(i), _word((i % 997 + 1) * 10**18)])
    rpc_call(url, "anvil_mine", ["0x1"])
    return int(rpc_call(url, "eth_blockNumber"), 16)


def bundle_for(url: str, chain_id: int, block: int, n: int) -> dict[str, Any]:
    """One bundle: the token's account and the first ``n`` holders' slots at ``block``."""
    header = encode_header_json(rpc_call(url, "eth_getBlockByNumber", [hex(block), False]))
    keys = [_slot(i) for i in range(n)]
    proof = rpc_call(url, "eth_getProof", [TOKEN, keys, hex(block)], timeout=120)
    return build_bundle(chain_id, [header], [ProofAtBlock(block, proof)]).bundle.to_json()


def run_child(args: list[str]) -> tuple[dict[str, Any], int]:
    """Run ``coproc-host ARGS`` under ``/usr/bin/time``; return (JSON, peak RSS KiB). (Not
    ``wait4`` from here: a child's max RSS starts at this Python process's size at fork.)"""
    env = dict(os.environ, RISC0_DEV_MODE="0")
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), str(prover.host_binary()), *args],
            capture_output=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"coproc-host {args[0]} failed: {done.stderr.decode()[-600:]}")
        return json.loads(done.stdout), int(rss_file.read_text().split()[-1])


def cycles(work: Path, url: str, chain_id: int, block: int) -> list[str]:
    """The cycles table and the memory lines."""
    spec_path, model_path = work / "spec.json", work / "model.json"
    spec_path.write_text(json.dumps(SPEC))
    model_path.write_text(json.dumps(model(1, 0)))
    bundles: dict[int, Path] = {}
    for n in SIZES:
        bundles[n] = work / f"bundle-{n}.json"
        bundles[n].write_text(json.dumps(bundle_for(url, chain_id, block, n)))
    common = ["--model", str(model_path), "--spec", str(spec_path)]
    single, _ = run_child(["execute", "--bundle", str(bundles[1]), *common, "--subject", holder(0)])
    base = single["cycles"]["total"]
    rows: list[list[object]] = [
        [
            "single request (journal v1)",
            1,
            f"{single['cycles']['user']:,}",
            f"{base:,}",
            single["cycles"]["segments"],
            "",
            "",
            "1.0",
        ]
    ]
    totals: dict[int, int] = {}
    rss: dict[int, int] = {}
    marginal_256 = 0.0
    for n in SIZES:
        subjects = ",".join(holder(i) for i in range(n))
        args = ["execute", "--bundle", str(bundles[n]), *common, "--subjects", subjects]
        out, rss[n] = run_child(args)
        check_journal(out, bundles[n], n)
        c = out["cycles"]
        totals[n] = c["total"]
        marginal = (c["total"] - totals[1]) / (n - 1) if n > 1 else 0.0
        if n == 256:
            marginal_256 = marginal
        per_hour_ratio = base / (c["total"] / n)
        rows.append(
            [
                "batch",
                n,
                f"{c['user']:,}",
                f"{c['total']:,}",
                c["segments"],
                f"{marginal:,.0f}" if n > 1 else "",
                f"{marginal / base:.1%}" if n > 1 else "",
                f"{per_hour_ratio:.1f}",
            ]
        )
    _native, native_rss = run_child(
        [
            "batch",
            "--bundle",
            str(bundles[1024]),
            *common,
            "--subjects",
            ",".join(holder(i) for i in range(1024)),
        ]
    )
    lines = [
        table(
            "batch receipts: zkVM cycles (executor), ERC20 balance of N holders of one token",
            [
                "run",
                "N",
                "user cycles",
                "total cycles",
                "segments",
                "marginal cycles / extra subject",
                "marginal vs single receipt",
                "proven scores per CPU-hour vs single",
            ],
            rows,
        )
    ]
    verdict = "meets" if marginal_256 <= GOAL * base else "MISSES"
    lines.append(
        f"N=256: marginal {marginal_256:,.0f} cycles per extra subject = "
        f"{marginal_256 / base:.1%} of a single-subject receipt ({base:,}) -> {verdict} "
        f"the <= {GOAL:.0%} goal"
    )
    size = bundles[1024].stat().st_size
    lines.append(
        f"N=1,024 memory: host executing the guest peak RSS {rss[1024] / 1024:.0f} MiB "
        f"(N=1: {rss[1] / 1024:.0f} MiB); the core's batch run natively (what the guest "
        f"holds, 64-bit) peak RSS {native_rss / 1024:.0f} MiB; bundle file {size / 1e6:.1f} MB"
    )
    return lines


def lending(work: Path) -> list[str]:
    """The lending model (models/lending-risk-v1, 5 features over the demo market's
    contracts) on the committed lending vector's bundle: its borrowers in one batch."""
    vector = json.loads(
        (REPO / "tests" / "vectors" / "features" / "lending_bundle.json").read_text()
    )
    bundle = work / "lending-bundle.json"
    bundle.write_text(json.dumps(vector["bundle"]))
    subjects = [c["subject"] for c in vector["cases"]]
    block = str(vector["cases"][0]["block"])
    common = ["--bundle", str(bundle), "--model", str(REPO / vector["model_file"])]
    common += ["--spec", str(REPO / vector["spec_file"]), "--block", block]
    single, _ = run_child(["execute", *common, "--subject", subjects[0]])
    base = single["cycles"]["total"]
    totals = {}
    for n in (1, len(subjects)):
        out, _ = run_child(["execute", *common, "--subjects", ",".join(subjects[:n])])
        totals[n] = (out["cycles"]["user"], out["cycles"]["total"])
    n = len(subjects)
    marginal_user = (totals[n][0] - totals[1][0]) / (n - 1)
    return [
        f"lending model (committed vector, {n} borrowers of the demo market, 5 features): "
        f"single receipt {single['cycles']['user']:,} user / {base:,} total cycles; batch "
        f"of 1: {totals[1][0]:,} / {totals[1][1]:,}; batch of {n}: {totals[n][0]:,} / "
        f"{totals[n][1]:,}; marginal per extra subject {marginal_user:,.0f} user cycles = "
        f"{marginal_user / single['cycles']['user']:.1%} of the single receipt's user cycles "
        "(total cycles move by whole padded segments at this size)"
    ]


def check_journal(out: dict[str, Any], bundle: Path, n: int) -> None:
    """The guest's batch journal equals the Python pipeline's (or the bench stops)."""
    scored = batch.run(
        pipeline.verify_file(bundle),
        features.normalize(SPEC),
        fmt.from_json(model(1, 0)),
        [holder(i) for i in range(n)],
    )
    want = batch_journal.encode_fields(scored.journal_fields())
    if out["journal_hex"] != "0x" + want.hex():
        raise SystemExit(f"N={n}: the guest's batch journal differs from the pipeline's")


def gas(url: str, chain_id: int) -> list[str]:
    """Gas per stored result on RiskOracle (real anvil transactions)."""
    contracts.build()
    w3 = Web3(Web3.HTTPProvider(url))
    owner = w3.eth.accounts[0]
    dev = contracts.deploy(w3, "DevVerifier")
    router = contracts.deploy(w3, "RiscZeroVerifierRouter", owner)
    router.functions.addVerifier(b"\xff\xff\xff\xff", dev.address).transact({"from": owner})
    oracle = contracts.deploy(w3, "RiskOracle", owner, router.address, ZERO, 0, 64)
    oracle.functions.allowImageId(IMAGE, True).transact({"from": owner})
    spec, mdl = features.normalize(SPEC), fmt.from_json(model(1, 0))
    oracle.functions.registerModel(mdl.hash(), features.spec_hash(spec)).transact({"from": owner})

    def send(call: Any) -> int:
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": owner}))
        assert receipt["status"] == 1
        return int(receipt["gasUsed"])

    rows: list[list[object]] = []
    offset = 0
    for n in GAS_SIZES:
        subjects = [holder(offset + i) for i in range(n)]
        offset += n
        per: dict[str, int] = {}
        for round_ in ("fresh", "update"):
            rpc_call(url, "anvil_mine", ["0x2"])  # the anchor's hash is then a past block's
            block = int(rpc_call(url, "eth_blockNumber"), 16) - 1
            header = encode_header_json(rpc_call(url, "eth_getBlockByNumber", [hex(block), False]))
            keys = [_word(mapping_slot(0, bytes.fromhex(s[2:]))) for s in subjects]
            proof = rpc_call(url, "eth_getProof", [TOKEN, keys, hex(block)], timeout=120)
            verified = build_bundle(chain_id, [header], [ProofAtBlock(block, proof)])
            scored = batch.run(verified, spec, mdl, subjects)
            journal = batch_journal.encode_fields(scored.journal_fields())
            submit = send(
                oracle.functions.submitBatch(journal, receipt_claim.dev_seal(bytes(IMAGE), journal))
            )
            hashes, leaves = scored.leaf_hashes, scored.leaves
            proofs = [batch.proof(hashes, i) for i in range(n)]
            store = send(
                oracle.functions.storeLeaves(
                    [scored.root] * n, [x.as_tuple() for x in leaves], proofs
                )
            )
            read = oracle.functions.leafScore(scored.root, leaves[0].as_tuple(), proofs[0], 3600)
            per[round_] = (submit + store) // n
            per["submit"] = submit
            per["read"] = int(read.estimate_gas()) - 21_000
        rows.append(
            [
                n,
                f"{per['submit']:,}",
                f"{per['submit'] // n:,}",
                f"{per['read']:,}",
                f"{per['fresh']:,}",
                f"{per['update']:,}",
            ]
        )
    # the single-subject receipt's submit, for comparison
    rpc_call(url, "anvil_mine", ["0x2"])
    block = int(rpc_call(url, "eth_blockNumber"), 16) - 1
    fields = {
        "version": 1,
        "chainId": chain_id,
        "anchorNumber": block,
        "anchorHash": bytes(w3.eth.get_block(block)["hash"]),
        "blockNumber": block,
        "subject": holder(5000),
        "modelHash": mdl.hash(),
        "featureSpecHash": features.spec_hash(spec),
        "score": 1,
        "requestId": os.urandom(32),
    }
    j = journal_v1.encode(fields)
    single = send(oracle.functions.submit(j, receipt_claim.dev_seal(bytes(IMAGE), j)))
    return [
        table(
            "batch receipts: gas per result on RiskOracle (anvil, dev verifier)",
            [
                "N",
                "submitBatch",
                "submitBatch / N",
                "leafScore read (excl. 21k)",
                "per stored result, fresh slots (submit+store)/N",
                "per stored result, update (submit+store)/N",
            ],
            rows,
        ),
        f"single-subject receipt: submit (fresh slot, dev verifier) {single:,} gas",
    ]


def main() -> None:
    guest = "--no-guest" not in sys.argv
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        node = start_anvil("bench-batch", work, persist=False)
        try:
            block = fund(node.rpc, max(SIZES) + sum(GAS_SIZES))
            lines = cycles(work, node.rpc, node.chain_id, block) + lending(work) if guest else []
            lines += gas(node.rpc, node.chain_id)
        finally:
            stop_pid(node.pid)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
