"""Batches over bundle v2 and spec v2 on the devnet history (coprocessor/dev/history.py):
eight subjects with their own balances at a new head, and a 6-sample series of the
value contract's slot, one sample every 1,000 blocks (states the pruned node keeps),
tied to the anchor by EIP-2935 hops. ``coproc index --anchor --subjects`` writes one
bundle v2 whose hops, headers and series reads are those of a single subject's bundle
(shared, not repeated per subject); the Rust core (``coproc-host batch``) gives every
leaf the Python twin's features and the batch its journal; ``coproc prove --dev
--subjects`` runs the real guest, whose journal must equal the Python one byte for byte,
and ``coproc verify-receipt --leaf`` serves each leaf. The series values are checked
against the writes the history builder recorded, converted by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_support import cli_json

from coprocessor.chain.bundle_v2 import load_any_bundle
from coprocessor.cli.main import main
from coprocessor.dev.devnet import AnvilNode, rpc_call, stop_pid
from coprocessor.dev.history import (
    CHECKPOINT_EVERY,
    VALUE_CONTRACT,
    History,
    ensure_history,
    start_history_node,
)
from coprocessor.scoring import batch, features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import batch_journal, batch_prover, prover

SAMPLES = 6
#: the request block is two blocks above the history's head (whose state stays as built)
OFFSET = 2
DECIMALS = 14  # the value contract's values are 10**18 + up to 2**48: ~10,000 in Q16
FUNDED = [("0x" + (0x7100 + i).to_bytes(20, "big").hex(), (i + 1) * 3 * 10**18) for i in range(7)]
SUBJECTS = [s for s, _ in FUNDED] + ["0x" + (0x7900).to_bytes(20, "big").hex()]  # one absent
PRICE = {"kind": "storage", "address": "0x" + VALUE_CONTRACT.hex(), "slot": {"base": 0}}


def price_series(samples: int, ops: tuple[str, ...]) -> list[dict[str, Any]]:
    """Features ``px_<op>``: the value contract's slot 0 at ``samples`` checkpoints from
    the request block - OFFSET, reduced by each ``op``."""
    return [
        {
            "name": f"px_{op}",
            "read": {**PRICE, "block_offset": OFFSET},
            "decimals": DECIMALS,
            "series": {"samples": samples, "every": CHECKPOINT_EVERY, "op": op},
        }
        for op in ops
    ]


SPEC: dict[str, Any] = {
    "format": "coproc-features",
    "version": 2,
    "name": "batch-history",
    "features": [
        {"name": "bal", "read": {"kind": "balance", "address": "$subject"}, "decimals": 18},
        *price_series(SAMPLES, ("last", "max", "min")),
        {"name": "spread", "combine": {"op": "sub", "args": ["px_max", "px_min"]}},
        {"name": "tilt", "combine": {"op": "sub", "args": ["bal", "spread"]}},
    ],
}
MODEL: dict[str, Any] = {
    "format": "coproc-model",
    "version": 1,
    "name": "batch-history",
    "scale_bits": 16,
    "input_dim": 6,
    "layers": [
        {
            "op": "dense",
            "in": 6,
            "out": 1,
            "weights": [[19660, 0, 0, 0, 65536, 6553]],
            "bias": [-131072],
        },
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}


@pytest.fixture(scope="module")
def history() -> History:
    return ensure_history()  # minutes on the first run on a machine, then cached


@pytest.fixture(scope="module")
def node(history: History, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """The history served read-only (nothing is written back), the subjects funded two
    blocks above its head: anvil_setBalance changes the head's state in place, so a block
    is mined first and the history's own head keeps the state its header commits to."""
    n = start_history_node(history, Path(tmp_path_factory.mktemp("batch-history-node")))
    try:
        rpc_call(n.rpc, "anvil_mine", ["0x1"])
        for subject, wei in FUNDED:
            rpc_call(n.rpc, "anvil_setBalance", [subject, hex(wei)])
        rpc_call(n.rpc, "anvil_mine", ["0x1"])
        yield n
    finally:
        stop_pid(n.pid)


@pytest.fixture(scope="module")
def indexed(
    history: History, node: AnvilNode, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("batch-history")
    head = history.head + OFFSET
    (work / "spec.json").write_text(json.dumps(SPEC))
    (work / "model.json").write_text(json.dumps(MODEL))
    (work / "subjects.txt").write_text("\n".join(SUBJECTS) + "\n")
    base = ["--data-dir", str(work / "data"), "index", "--rpc", node.rpc, "--block", str(head)]
    base += ["--anchor", str(head), "--spec", str(work / "spec.json")]
    base += ["--state-every", str(CHECKPOINT_EVERY)]
    for which, out in (("--subjects", "subjects.txt"), ("--subject", SUBJECTS[0])):
        target = work / ("batch.json" if which == "--subjects" else "single.json")
        arg = str(work / out) if which == "--subjects" else out
        assert main([*base, which, arg, "--out", str(target)]) == 0
    return {"work": work, "head": head}


def _paths(indexed: dict[str, Any]) -> tuple[Path, Path, Path]:
    w = indexed["work"]
    return w / "batch.json", w / "model.json", w / "spec.json"


def test_one_bundle_v2_shares_hops_and_series(indexed: dict[str, Any]) -> None:
    whole = load_any_bundle(indexed["work"] / "batch.json").to_json()
    single = load_any_bundle(indexed["work"] / "single.json").to_json()
    assert whole["version"] == 2 and whole["hops"]  # older samples are tied by hops
    assert whole["hops"] == single["hops"] and whole["headers"] == single["headers"]
    price = "0x" + VALUE_CONTRACT.hex()
    blocks = [a["block"] for a in whole["accounts"] if a["address"] == price]
    newest = indexed["head"] - OFFSET
    assert blocks == sorted(blocks) == [newest - CHECKPOINT_EVERY * i for i in range(SAMPLES)][::-1]
    subjects = {a["address"] for a in whole["accounts"] if a["block"] == indexed["head"]}
    assert set(SUBJECTS) <= subjects


def test_rust_core_equals_python_on_a_v2_batch(history: History, indexed: dict[str, Any]) -> None:
    bundle, model, spec = _paths(indexed)
    head = indexed["head"]
    ids = tuple(bytes([0x60 + i]) * 32 for i in range(len(SUBJECTS)))
    scored = batch.run(
        pipeline.verify_file(bundle),
        features.load(spec),
        fmt.load(model),
        SUBJECTS,
        request_ids=ids,
        block=head,
    )
    req = batch_prover.BatchProveRequest(bundle, model, spec, tuple(SUBJECTS), ids, block=head)
    got = prover.run_host(["batch", *req.args()], timeout=300)
    assert got["journal_hex"] == "0x" + batch_journal.encode_fields(scored.journal_fields()).hex()
    want = [list(r.features.values) for r in scored.results]
    assert [x["features"] for x in got["leaves"]] == want
    # independently: the recorded writes, converted by hand (Q16 of 10**-14 units)
    xs = [history.value_at(head - OFFSET - CHECKPOINT_EVERY * i) * 65536 // 10**DECIMALS
          for i in range(SAMPLES)]  # fmt: skip
    assert len(set(xs)) > 2  # the value moves along the window
    for (subject, wei), leaf in zip(FUNDED, got["leaves"], strict=False):
        assert leaf["subject"] == subject
        assert leaf["features"][:5] == [wei * 65536 // 10**18, xs[0], max(xs), min(xs),
                                        max(xs) - min(xs)]  # fmt: skip
    assert got["leaves"][-1]["features"][0] == 0  # the absent account
    assert len({x["score"] for x in got["leaves"]}) == len(SUBJECTS)
    # each leaf equals the single request of its subject over the same bundle
    verified = pipeline.verify_file(bundle)
    for subject, result in zip(SUBJECTS, scored.results, strict=True):
        single = pipeline.run(verified, features.load(spec), fmt.load(model), subject, head)
        assert single.score == result.score and single.features == result.features


def test_guest_proves_a_v2_batch(
    indexed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, model, spec = _paths(indexed)
    work = indexed["work"]
    head = indexed["head"]
    # cycles: the batch against one subject's request over its own bundle v2
    single = prover.execute(
        prover.ProveRequest(work / "single.json", model, spec, SUBJECTS[0], block=head)
    )
    req = batch_prover.BatchProveRequest(bundle, model, spec, tuple(SUBJECTS), block=head)
    executed = batch_prover.execute(req)
    one, many = single["cycles"]["user"], executed["cycles"]["user"]
    with capsys.disabled():
        print(f"\nbundle v2 batch of {len(SUBJECTS)}: {many} user cycles; one subject: {one}; "
              f"per extra subject: {(many - one) / (len(SUBJECTS) - 1):.0f}")  # fmt: skip
    receipt = work / "receipt.json"
    args = ["--data-dir", str(work / "data"), "prove", "--bundle", str(bundle), "--model"]
    args += [str(model), "--spec", str(spec), "--subjects", str(work / "subjects.txt")]
    args += ["--block", str(head), "--dev", "--quiet", "--out", str(receipt)]
    summary = cli_json(args, capsys)  # exits non-zero unless the guest's journal is Python's
    assert summary["batch"]["count"] == len(SUBJECTS)
    doc = prover.load_receipt(receipt)
    assert doc["journal_hex"] == executed["journal_hex"]
    fields = batch_journal.decode_batch(bytes.fromhex(doc["journal_hex"][2:]))
    assert fields["anchorNumber"] == head and fields["count"] == len(SUBJECTS)
    python = batch.run(
        pipeline.verify_file(bundle), features.load(spec), fmt.load(model), SUBJECTS, block=head
    )
    assert fields["resultsRoot"] == python.root
    shown = cli_json(["verify-receipt", str(receipt), "--dev", "--leaf", SUBJECTS[3]], capsys)
    leaf = shown["batch"]["leaf"]
    assert leaf["index"] == 3 and leaf["leaf"]["score"] == python.results[3].score
