"""Rust core (through ``coproc-host core ...``) against the Python reference: model
hashes and outputs, feature-spec canonical bytes and hashes, feature vectors, bundle
verification and whole requests. Hypothesis makes the models and specs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from guest_helpers import (
    SUBJECT,
    mainnet_bundle,
    reference_journal,
    small_model,
    weth_bundle,
    weth_spec,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from locations import REPO

from coprocessor.chain.bundle import verify_bundle
from coprocessor.errors import CoprocessorError, UserInputError, VerificationError
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models import reference
from coprocessor.zk import prover

MODEL_VECTORS = REPO / "tests" / "vectors" / "models"
FEATURE_VECTORS = REPO / "tests" / "vectors" / "features"
I32 = (-(2**31), 2**31 - 1)


def core(cmd: str, payload: Any) -> dict[str, Any]:
    return prover.run_host(["core", cmd], stdin=json.dumps(payload).encode(), timeout=120)


def core_text(cmd: str, text: str) -> dict[str, Any]:
    """stdin is the JSON text itself (integers of any size stay exact)."""
    return prover.run_host(["core", cmd], stdin=text.encode(), timeout=120)


# ------------------------------------------------------------------ models


def test_model_vectors_match() -> None:
    files = sorted(p for p in MODEL_VECTORS.glob("*.json") if p.name != "invalid.json")
    assert len(files) >= 4
    for path in files:
        doc = json.loads(path.read_text())
        cases = doc["cases"]
        out = core("model-eval", {"model": doc["model"], "inputs": [c["input"] for c in cases]})
        assert out["model_hash"] == doc["model_hash"], path.name
        assert out["outputs"] == [c["score"] for c in cases], path.name


def test_invalid_models_rejected_by_both() -> None:
    doc = json.loads((MODEL_VECTORS / "invalid.json").read_text())
    assert len(doc["models"]) >= 3
    for case in doc["models"]:
        with pytest.raises(UserInputError) as py:
            fmt.from_json(case["model"])
        with pytest.raises(UserInputError) as rs:
            core("model-hash", case["model"])
        # the rule the vector breaks, by its code, in both languages
        assert py.value.code == rs.value.code == case["code"], case["reason"]


@st.composite
def models_and_inputs(draw: st.DrawFn) -> tuple[dict[str, Any], list[list[int]]]:
    input_dim = draw(st.integers(1, 6))
    width = input_dim
    layers: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["dense", "relu", "sigmoid", "clip"]))
        if kind == "dense":
            out = draw(st.integers(1, 6))
            bound = (2**31 - 1) // width
            w = [[draw(st.integers(-bound, bound)) for _ in range(width)] for _ in range(out)]
            b = [draw(st.integers(*I32)) for _ in range(out)]
            layers.append({"op": "dense", "in": width, "out": out, "weights": w, "bias": b})
            width = out
        elif kind == "clip":
            lo, hi = sorted([draw(st.integers(*I32)), draw(st.integers(*I32))])
            layers.append({"op": "clip", "min": lo, "max": hi})
        else:
            layers.append({"op": kind})
    bound = (2**31 - 1) // width
    w = [[draw(st.integers(-bound, bound)) for _ in range(width)]]
    layers.append(
        {"op": "dense", "in": width, "out": 1, "weights": w, "bias": [draw(st.integers(*I32))]}
    )
    if draw(st.booleans()):
        layers.append({"op": "sigmoid"})
    layers.append({"op": "to_bps"})
    model = {
        "format": "coproc-model",
        "version": 1,
        "name": "h",
        "scale_bits": 16,
        "input_dim": input_dim,
        "layers": layers,
    }
    inputs = draw(
        st.lists(
            st.lists(
                st.one_of(st.integers(*I32), st.integers(-600000, 600000)),
                min_size=input_dim,
                max_size=input_dim,
            ),
            min_size=1,
            max_size=8,
        )
    )
    return model, inputs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models_and_inputs())
def test_models_agree_on_random_models(case: tuple[dict[str, Any], list[list[int]]]) -> None:
    model_json, inputs = case
    m = fmt.from_json(model_json)
    out = core("model-eval", {"model": model_json, "inputs": inputs})
    assert out["model_hash"] == "0x" + m.hash().hex()
    assert out["outputs"] == [reference.score(m, x) for x in inputs]


# ------------------------------------------------------------------ feature specs


def test_feature_vector_file() -> None:
    doc = json.loads((FEATURE_VECTORS / "lending.json").read_text())
    out = core("spec-hash", doc["spec"])
    assert out["canonical"] == doc["canonical"]
    assert out["spec_hash"] == doc["spec_hash"]
    got = core(
        "features",
        {
            "spec": doc["spec"],
            "verified": doc["verified"],
            "subject": doc["subject"],
            "block": doc["block"],
        },
    )
    assert got["features"] == [e["q16"] for e in doc["expected"]]


ADDRS = ["$subject", "0x" + "ab" * 20, "0x" + "CD" * 20]


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    feats: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 5))):
        name = f"f{i}"
        if feats and draw(st.integers(0, 3)) == 0:
            f: dict[str, Any] = {
                "name": name,
                "combine": {
                    "op": draw(st.sampled_from(["sub", "add", "mul", "ratio"])),
                    "args": [draw(st.sampled_from([g["name"] for g in feats])) for _ in range(2)],
                },
            }
        else:
            kind = draw(st.sampled_from(["balance", "nonce", "storage", "code_present"]))
            read: dict[str, Any] = {"kind": kind, "address": draw(st.sampled_from(ADDRS))}
            if draw(st.booleans()):
                read["block_offset"] = draw(st.integers(0, 2**32))
            f = {"name": name, "read": read}
            if kind == "storage":
                path: list[dict[str, Any]] = []
                for _ in range(draw(st.integers(0, 3))):
                    step = draw(st.sampled_from(["mapping", "index", "field"]))
                    if step == "mapping":
                        key = draw(
                            st.one_of(
                                st.just("$subject"),
                                st.integers(-(2**255), 2**256 - 1),
                                st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
                                st.binary(min_size=32, max_size=32).map(
                                    lambda b: "0x" + b.hex().upper()
                                ),
                            )
                        )
                        path.append({"mapping": key})
                    elif step == "index":
                        s: dict[str, Any] = {"index": draw(st.integers(0, 2**256 - 1))}
                        if draw(st.booleans()):
                            s["elem_slots"] = draw(st.integers(1, 2**256 - 1))
                        path.append(s)
                    else:
                        path.append({"field": draw(st.integers(0, 2**256 - 1))})
                slot: dict[str, Any] = {"base": draw(st.integers(0, 2**256 - 1))}
                if len(path) > 0 or draw(st.booleans()):
                    slot["path"] = path
                read["slot"] = slot
                if draw(st.booleans()):
                    off = draw(st.integers(0, 31))
                    bits: dict[str, Any] = {"offset": off}
                    if draw(st.booleans()):
                        bits["size"] = draw(st.integers(1, 32 - off))
                    read["bits"] = bits
                if draw(st.booleans()):
                    f["signed"] = draw(st.booleans())
            if draw(st.booleans()):
                f["decimals"] = draw(st.integers(0, 77))
        if draw(st.booleans()):
            lo, hi = sorted([draw(st.integers(*I32)), draw(st.integers(*I32))])
            f["min"], f["max"] = lo, hi
        feats.append(f)
    return {"format": "coproc-features", "version": 1, "name": "hyp", "features": feats}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_spec_canonical_bytes_agree(spec: dict[str, Any]) -> None:
    text = json.dumps(spec)
    out = core_text("spec-hash", text)
    typed = features.normalize(spec)
    assert out["canonical"].encode() == features.canonical_bytes(typed)
    assert out["spec_hash"] == "0x" + features.spec_hash(typed).hex()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.integers(0, 10**6), st.sampled_from(["drop", "junk", "type"]))
def test_spec_accept_reject_agree(spec: dict[str, Any], seed: int, how: str) -> None:
    """Broken specs: the Python reference and the Rust core reject the same ones."""
    rnd = random.Random(seed)
    f = rnd.choice(spec["features"])
    target: dict[str, Any] = f.get("read") if "read" in f and rnd.random() < 0.5 else f
    key = rnd.choice(sorted(target))
    if how == "drop":
        del target[key]
    elif how == "junk":
        target["junk_" + key] = 1
    else:
        target[key] = rnd.choice([None, True, 1.5, "x", [], {}, -1, 2**300])
    text = json.dumps(spec)
    try:
        features.normalize(json.loads(text))
        python_code = None
    except UserInputError as exc:
        python_code = exc.code or "no code"
    try:
        core_text("spec-hash", text)
        rust_code = None
    except UserInputError as exc:
        rust_code = exc.code or "no code"
    assert python_code == rust_code, (how, key)  # the same rule broken (None: accepted)


# ------------------------------------------------------------------ bundles and requests


def _bundles(vectors: Path) -> dict[str, dict[str, Any]]:
    return {
        "weth": weth_bundle(vectors),
        "cancun": mainnet_bundle(
            vectors,
            ["cancun_21925176.json"],
            [
                ("cancun_21925176_deposit_contract_storage.json", 21925176),
                ("cancun_21925176_miner_eoa.json", 21925176),
            ],
        ),
        "frontier_pair": mainnet_bundle(
            vectors,
            ["frontier_499999.json", "frontier_500000.json"],
            [
                ("frontier_499999_miner_0x580992b5.json", 499999),
                ("frontier_500000_miner_0x580992b5.json", 500000),
            ],
        ),
    }


def test_verify_bundle_agrees_on_real_bundles(shared_vectors: Path) -> None:
    for name, bundle in _bundles(shared_vectors).items():
        py = verify_bundle(bundle).to_json()
        rs = core("verify-bundle", bundle)
        assert rs["anchor"] == py["anchor"], name
        py_reads = [
            {
                "block": a["block"],
                "address": a["address"],
                "account": a["account"],
                "storage": sorted(
                    ({"slot": k, "value": v} for k, v in a["storage"].items()), key=str
                ),
            }
            for a in py["accounts"]
        ]
        rs_reads = [{**r, "storage": sorted(r["storage"], key=str)} for r in rs["reads"]]
        assert rs_reads == py_reads, name


def test_mutated_bundles_rejected_by_both(shared_vectors: Path) -> None:
    rnd = random.Random(4)
    bundle = _bundles(shared_vectors)["weth"]
    strings: list[tuple[list[Any], str]] = []

    def walk(obj: Any, path: list[Any]) -> None:
        if isinstance(obj, str) and obj.startswith("0x"):
            strings.append((path, obj))
        elif isinstance(obj, list):
            for i, x in enumerate(obj):
                walk(x, [*path, i])
        elif isinstance(obj, dict):
            for k, x in obj.items():
                walk(x, [*path, k])

    walk(bundle, [])
    for _ in range(40):
        path, s = rnd.choice(strings)
        i = rnd.randrange(2, len(s))
        new = s[:i] + format((int(s[i], 16) + 1) % 16, "x") + s[i + 1 :]
        m = json.loads(json.dumps(bundle))
        obj = m
        for p in path[:-1]:
            obj = obj[p]
        obj[path[-1]] = new
        with pytest.raises(CoprocessorError) as py:
            verify_bundle(m)
        with pytest.raises((VerificationError, UserInputError)) as rs:
            core("verify-bundle", m)
        assert py.value.code is not None and py.value.code == rs.value.code, (path, i)


def test_features_and_journal_agree_on_real_bundle(shared_vectors: Path) -> None:
    bundle = weth_bundle(shared_vectors)
    spec = weth_spec(bundle)
    py = features.compute(features.normalize(spec), verify_bundle(bundle).to_json(), SUBJECT)
    rs = core("features", {"spec": json.dumps(spec), "bundle": bundle, "subject": SUBJECT})
    assert rs["features"] == list(py.values)
    model = small_model()
    rid = bytes(range(32))
    run = core(
        "run",
        {
            "bundle": bundle,
            "model": model,
            "spec": json.dumps(spec),
            "subject": SUBJECT,
            "request_id": "0x" + rid.hex(),
        },
    )
    assert run["journal"] == reference_journal(bundle, model, spec, SUBJECT, rid)
