"""The implementation (scalar reference and numpy batch) on the shared vectors in
tests/vectors/models/ (whose expected values tests/test_models_oracle.py checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from locations import VECTORS

from coprocessor.errors import UserInputError
from coprocessor.scoring.models import batch, reference
from coprocessor.scoring.models import model as fmt

VECTORS = VECTORS / "models"
VALID = sorted(p for p in VECTORS.glob("*.json") if p.stem != "invalid")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_there_are_vectors() -> None:
    assert len(VALID) >= 5


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_hash_and_roundtrip(path: Path) -> None:
    vec = _load(path)
    model = fmt.from_json(vec["model"])
    assert model.hash_hex() == vec["model_hash"]
    again = fmt.from_json(json.loads(fmt.dumps(model)))
    assert again == model and again.hash_hex() == vec["model_hash"]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_scalar_reference(path: Path) -> None:
    vec = _load(path)
    model = fmt.from_json(vec["model"])
    for case in vec["cases"]:
        assert reference.trace(model, case["input"]) == case["trace"], case["input"]
        assert reference.score(model, case["input"]) == case["score"]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_numpy_batch(path: Path) -> None:
    vec = _load(path)
    model = fmt.from_json(vec["model"])
    xs = np.array([c["input"] for c in vec["cases"]], dtype=np.int64)
    traces = batch.trace(model, xs)
    for layer_index, out in enumerate(traces):
        expected = [c["trace"][layer_index] for c in vec["cases"]]
        assert out.tolist() == expected, f"layer {layer_index}"
    assert batch.scores(model, xs).tolist() == [c["score"] for c in vec["cases"]]


INVALID = _load(VECTORS / "invalid.json")["models"]


@pytest.mark.parametrize("case", INVALID, ids=[c["reason"] for c in INVALID])
def test_invalid_models_rejected(case: dict[str, Any]) -> None:
    with pytest.raises(UserInputError) as caught:
        fmt.from_json(case["model"])
    assert caught.value.code == case["code"]  # the rule the vector breaks


def test_edge_vectors_cover_what_they_claim() -> None:
    """The edge files really contain the edges (so a regenerated file cannot lose them)."""
    sig = _load(VECTORS / "sigmoid_edges.json")["cases"]
    outs = {c["input"][0]: c["trace"][1][0] for c in sig}
    assert outs[-(2**31)] == outs[-524288] == 22  # saturating end of the table
    assert outs[2**31 - 1] == outs[524288] == 65514
    assert outs[0] == 32768
    rounding = _load(VECTORS / "dense_rounding.json")["cases"]
    tie = {c["input"][0]: c["trace"][0][0] for c in rounding}
    assert tie[32768] == 1 and tie[-32768] == 0 and tie[-98304] == -1  # half up
    sat = _load(VECTORS / "dense_saturation.json")["cases"]
    first = {tuple(c["input"]): c["trace"][0] for c in sat}
    assert first[(2**31 - 1, 2**31 - 1)][0] == 2**31 - 1
    assert first[(-(2**31), -(2**31))][0] == -(2**31)
    assert first[(-(2**31), -(2**31))][1] == 2**31 - 1


def test_bad_inputs() -> None:
    model = fmt.from_json(_load(VALID[0])["model"])
    width = model.input_dim
    with pytest.raises(UserInputError, match="takes"):
        reference.score(model, [0] * (width + 1))
    with pytest.raises(UserInputError, match="int32"):
        reference.score(model, [2**31] * width)
    with pytest.raises(UserInputError):
        reference.score(model, [0.5] * width)  # type: ignore[list-item]
    with pytest.raises(UserInputError, match="shape"):
        batch.scores(model, np.zeros((2, width + 1), dtype=np.int64))
    with pytest.raises(UserInputError, match="int32"):
        batch.scores(model, np.full((1, width), 2**40, dtype=np.int64))
    with pytest.raises(UserInputError, match="integers"):
        batch.scores(model, np.zeros((1, width)))


def test_meta_and_name_are_not_hashed() -> None:
    obj = _load(VALID[0])["model"]
    a = fmt.from_json(obj)
    b = fmt.from_json({**obj, "name": "other", "meta": {"x": 1}})
    assert a.hash() == b.hash()
    changed = json.loads(json.dumps(obj))
    changed["layers"][0]["bias"][0] += 1
    assert fmt.from_json(changed).hash() != a.hash()


def test_nan_in_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    text = json.dumps(_load(VECTORS / "sigmoid_edges.json")["model"])
    assert "65536" in text
    path.write_text(text.replace("65536", "NaN", 1))
    with pytest.raises(UserInputError, match="NaN"):
        fmt.load(path)
