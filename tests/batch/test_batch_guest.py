"""The guest's batch mode against the Python twin: ``coproc-host batch`` (the Rust core
natively) and ``coproc-host execute --subjects`` (the real guest in the zkVM executor)
commit the batch journal the pipeline computes, on the committed lending vector and on
a 42-subject anvil bundle; repeated subjects are refused by the guest [Q002];
``coproc prove --subjects --dev`` writes a batch receipt whose leaves ``coproc
verify-receipt --leaf`` prints with their proof, and a receipt file whose leaves were
edited is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from locations import REPO, VECTORS
from tokenchain import fund, holder, write_inputs

from coprocessor.cli.main import main
from coprocessor.dev.devnet import AnvilNode, start_anvil, stop_pid
from coprocessor.errors import CoprocessorError, VerificationError
from coprocessor.index.indexer import write_json_atomic
from coprocessor.scoring import batch, features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import batch_journal, batch_prover, prover

VECTOR = json.loads((VECTORS / "features" / "lending_bundle.json").read_text())
LENDING_SUBJECTS = [c["subject"] for c in VECTOR["cases"]]
IDS = [bytes([0x40 + i]) * 32 for i in range(len(LENDING_SUBJECTS))]


def _native(bundle: Path, model: Path, spec: Path, subjects: list[str], **kw: Any) -> Any:
    req = batch_prover.BatchProveRequest(bundle, model, spec, tuple(subjects), **kw)
    return prover.run_host(["batch", *req.args()], timeout=300)


def _python(bundle: Path, model: Path, spec: Path, subjects: list[str], **kw: Any) -> Any:
    return batch.run(
        pipeline.verify_file(bundle), features.load(spec), fmt.load(model), subjects, **kw
    )


@pytest.fixture(scope="module")
def lending(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("lending")
    (d / "bundle.json").write_text(json.dumps(VECTOR["bundle"]))
    return {
        "bundle": d / "bundle.json",
        "model": REPO / VECTOR["model_file"],
        "spec": REPO / VECTOR["spec_file"],
    }


def test_rust_core_equals_python_on_the_lending_vector(lending: dict[str, Path]) -> None:
    block = VECTOR["cases"][0]["block"]
    kw: dict[str, Any] = {"request_ids": tuple(IDS), "block": block}
    got = _native(lending["bundle"], lending["model"], lending["spec"], LENDING_SUBJECTS, **kw)
    want = _python(lending["bundle"], lending["model"], lending["spec"], LENDING_SUBJECTS,
                   request_ids=IDS, block=block)  # fmt: skip
    assert got["journal_hex"] == "0x" + batch_journal.encode_fields(want.journal_fields()).hex()
    assert [x["hash"] for x in got["leaves"]] == ["0x" + h.hex() for h in want.leaf_hashes]
    assert [x["score"] for x in got["leaves"]] == [c["score"] for c in VECTOR["cases"]]
    assert [x["features"] for x in got["leaves"]] == [c["vector"] for c in VECTOR["cases"]]


def test_guest_refuses_repeated_subjects(lending: dict[str, Path]) -> None:
    subjects = [LENDING_SUBJECTS[0], LENDING_SUBJECTS[1], LENDING_SUBJECTS[0]]
    req = batch_prover.BatchProveRequest(
        lending["bundle"], lending["model"], lending["spec"], tuple(subjects)
    )
    with pytest.raises(CoprocessorError) as native:
        prover.run_host(["batch", *req.args()], timeout=120)
    assert native.value.rule == "batch_subject_unique"
    with pytest.raises(VerificationError) as guest:  # the guest itself (zkVM executor)
        batch_prover.execute(req)
    assert "[Q002]" in str(guest.value) and "guest rejected" in str(guest.value)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("batch-guest")
    node: AnvilNode = start_anvil("batch-guest", work, persist=False)
    try:
        block = fund(node.rpc, 40)
        spec, model = write_inputs(work)
        subjects = [holder(i) for i in range(40)] + [holder(900), holder(901)]
        (work / "subjects.txt").write_text("\n".join(subjects) + "\n")
        out = work / "bundle.json"
        args = ["--data-dir", str(work / "data"), "index", "--rpc", node.rpc]
        args += [
            "--block",
            str(block),
            "--spec",
            str(spec),
            "--subjects",
            str(work / "subjects.txt"),
        ]
        assert main([*args, "--out", str(out)]) == 0
    finally:
        stop_pid(node.pid)
    return {"work": work, "bundle": out, "spec": spec, "model": model, "subjects": subjects}


def test_guest_execution_equals_python_on_42_subjects(token: dict[str, Any]) -> None:
    t = token
    req = batch_prover.BatchProveRequest(t["bundle"], t["model"], t["spec"], tuple(t["subjects"]))
    out = batch_prover.execute(req)
    want = _python(t["bundle"], t["model"], t["spec"], t["subjects"])
    assert out["journal_hex"] == "0x" + batch_journal.encode_fields(want.journal_fields()).hex()
    assert out["journal"]["count"] == 42 and out["journal"]["batchId"] == "0x" + want.root.hex()
    assert out["dev_mode"] is False and out["cycles"]["total"] > 0


def test_prove_and_verify_a_batch_receipt(
    token: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    t = token
    receipt = t["work"] / "receipt.json"
    args = ["--data-dir", str(t["work"] / "data"), "prove", "--bundle", str(t["bundle"])]
    args += ["--model", str(t["model"]), "--spec", str(t["spec"]), "--dev", "--quiet"]
    args += ["--subjects", str(t["work"] / "subjects.txt"), "--out", str(receipt)]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["batch"]["count"] == 42 and summary["receipt_kind"] == "fake"
    doc = prover.load_receipt(receipt)
    assert len(doc["batch"]["leaves"]) == 42
    verify = ["verify-receipt", str(receipt), "--dev", "--leaf", t["subjects"][7]]
    assert main(verify) == 0
    shown = json.loads(capsys.readouterr().out)
    leaf = shown["batch"]["leaf"]
    assert leaf["index"] == 7 and leaf["leaf"]["subject"] == t["subjects"][7]
    proof = [bytes.fromhex(p[2:]) for p in leaf["proof"]]
    journal = bytes.fromhex(doc["journal_hex"][2:])
    batch_journal.check_leaf(journal, batch_prover._leaf(leaf["leaf"], "leaf"), 7, proof)
    # a receipt file whose leaves say something else is refused (exit 1, one line)
    edited = dict(doc)
    edited["batch"] = {"leaves": [dict(x) for x in doc["batch"]["leaves"]]}
    edited["batch"]["leaves"][3]["score"] += 1
    bad = t["work"] / "edited.json"
    write_json_atomic(bad, edited)
    assert main(["verify-receipt", str(bad), "--dev"]) == 1
    err = capsys.readouterr().err
    assert "results root" in err and "Traceback" not in err


def test_single_subject_bundle_is_a_batch_of_one(token: dict[str, Any]) -> None:
    t = token
    verified = pipeline.verify_file(t["bundle"])
    one = batch.run(verified, features.load(t["spec"]), fmt.load(t["model"]), t["subjects"][:1])
    assert one.root == one.leaf_hashes[0] and one.journal_fields()["count"] == 1
    req = batch_prover.BatchProveRequest(t["bundle"], t["model"], t["spec"], (t["subjects"][0],))
    got = prover.run_host(["batch", *req.args()], timeout=120)
    assert got["journal"]["resultsRoot"] == "0x" + one.root.hex()
