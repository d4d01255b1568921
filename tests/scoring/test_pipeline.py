"""The scoring pipeline (coprocessor/scoring/pipeline.py) against the committed lending
vector (a real anvil bundle with its expected vectors and scores) and against the
guest's Rust core (``coproc-host core run``: ``request::run`` itself), case by case:
features, score and the encoded journal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from locations import REPO, VECTORS

from coprocessor.chain.bundle import parse_bundle
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import journal as journal_v1
from coprocessor.zk import prover

VECTOR = json.loads((VECTORS / "features" / "lending_bundle.json").read_text())
BUNDLE = VECTOR["bundle"]
SPEC = features.load(REPO / VECTOR["spec_file"])
MODEL_JSON = json.loads((REPO / VECTOR["model_file"]).read_text())
MODEL = fmt.from_json(MODEL_JSON)
CASES = VECTOR["cases"]
RID = bytes(range(32))


def core_run(subject: str, block: int | None, model: dict[str, Any] = MODEL_JSON) -> Any:
    payload: dict[str, Any] = {
        "bundle": BUNDLE,
        "model": model,
        "spec": json.dumps(SPEC.to_json()),
        "subject": subject,
        "request_id": "0x" + RID.hex(),
    }
    if block is not None:
        payload["block"] = block
    return prover.run_host(["core", "run"], stdin=json.dumps(payload).encode(), timeout=120)


def scored(subject: str, block: int | None) -> pipeline.Scored:
    return pipeline.run(pipeline.verify(parse_bundle(BUNDLE)), SPEC, MODEL, subject, block)


def test_vector_has_cases() -> None:
    assert len(CASES) >= 3
    assert len({c["subject"] for c in CASES}) >= 3


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["subject"][:10])
def test_pipeline_matches_the_committed_vector(case: dict[str, Any]) -> None:
    got = scored(case["subject"], case["block"])
    assert list(got.features.values) == case["vector"]
    assert got.score == case["score"]
    assert "0x" + got.model_hash.hex() == VECTOR["model_hash"]
    assert "0x" + got.spec_hash.hex() == VECTOR["spec_hash"]
    assert got.chain_id == BUNDLE["chain_id"] == 31337
    assert got.anchor_number == BUNDLE["anchor"]["number"]
    assert "0x" + got.anchor_hash.hex() == BUNDLE["anchor"]["hash"]
    assert got.block == case["block"]
    assert got.subject == case["subject"].lower()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["subject"][:10])
def test_pipeline_equals_the_rust_core(case: dict[str, Any]) -> None:
    got = scored(case["subject"], case["block"])
    rs = core_run(case["subject"], case["block"])
    assert list(got.features.values) == rs["features"]
    raw = journal_v1.encode(got.journal_fields(RID))
    assert raw.hex() == rs["journal_hex"].removeprefix("0x")
    assert journal_v1.decode(raw) == rs["journal"]


def test_default_block_is_the_anchor_in_both() -> None:
    subject = CASES[0]["subject"]
    got = scored(subject, None)
    assert got.block == BUNDLE["anchor"]["number"]
    rs = core_run(subject, None)
    assert journal_v1.encode(got.journal_fields(RID)).hex() == rs["journal_hex"].removeprefix("0x")


def test_native_and_python_verification_give_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES[0]
    native = scored(case["subject"], case["block"])
    monkeypatch.setenv("COPROC_NATIVE", "0")
    python = scored(case["subject"], case["block"])
    assert native == python


def test_request_block_outside_the_headers_is_rejected_by_both() -> None:
    subject = CASES[0]["subject"]
    anchor = BUNDLE["anchor"]["number"]
    first = anchor - len(BUNDLE["headers"]) + 1
    for block in (first - 1, anchor + 1):
        with pytest.raises(VerificationError, match="outside the bundle's headers") as py:
            scored(subject, block)
        with pytest.raises(VerificationError, match="outside the bundle's headers") as rs:
            core_run(subject, block)
        assert py.value.code == rs.value.code == "Q001"


def test_spec_and_model_widths_must_agree_in_both() -> None:
    narrow = dict(MODEL_JSON, input_dim=MODEL.input_dim - 1)
    first = dict(narrow["layers"][0])
    first["in"] = MODEL.input_dim - 1
    first["weights"] = [row[:-1] for row in first["weights"]]
    narrow["layers"] = [first, *narrow["layers"][1:]]
    subject = CASES[0]["subject"]
    with pytest.raises(UserInputError, match="the model takes") as py:
        pipeline.run(pipeline.verify(parse_bundle(BUNDLE)), SPEC, fmt.from_json(narrow), subject)
    with pytest.raises(UserInputError, match="the model takes") as rs:
        core_run(subject, None, narrow)
    assert py.value.code == rs.value.code == "F020"
