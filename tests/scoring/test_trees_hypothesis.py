"""Property tests of the tree_ensemble layer: on random ensembles the scalar reference,
the numpy batch path and the Rust core (``coproc-host core model-eval``) give the same
outputs and hashes; the JSON round trip keeps the hash; the threshold quantization
decides exactly as the real comparison on the quantized input; broken trees are
refused by both languages with the same rule."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coprocessor.errors import UserInputError
from coprocessor.scoring.models import batch, reference
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.tree_import import quantize_branch
from coprocessor.zk import prover

I32 = st.integers(-(2**31), 2**31 - 1)
VALUE = st.one_of(I32, st.integers(-300_000, 300_000), st.sampled_from([-(2**31), 2**31 - 1]))


@st.composite
def tree(draw: st.DrawFn, dim: int, max_depth: int = 5) -> list[list[Any]]:
    nodes: list[list[Any]] = []

    def grow(level: int) -> int:
        index = len(nodes)
        if level == max_depth or draw(st.integers(0, 3)) == 0:
            nodes.append([draw(VALUE)])
            return index
        nodes.append([])
        yes, no = grow(level + 1), grow(level + 1)
        mode = draw(st.sampled_from(["<=", "<"]))
        nodes[index] = [draw(st.integers(0, dim - 1)), mode, draw(VALUE), yes, no]
        return index

    grow(0)
    return nodes


@st.composite
def tree_models(draw: st.DrawFn) -> dict[str, Any]:
    dim = draw(st.integers(1, 6))
    layers: list[dict[str, Any]] = [
        {
            "op": "tree_ensemble",
            "in": dim,
            "base": draw(VALUE),
            "trees": draw(st.lists(tree(dim), min_size=1, max_size=12)),
        }
    ]
    if draw(st.booleans()):
        layers.append({"op": "sigmoid"})
    layers.append({"op": "to_bps"})
    return {
        "format": "coproc-model",
        "version": 2,
        "name": "h",
        "scale_bits": 16,
        "input_dim": dim,
        "layers": layers,
    }


def _inputs(dim: int) -> st.SearchStrategy[list[list[int]]]:
    row = st.lists(VALUE, min_size=dim, max_size=dim)
    return st.lists(row, min_size=1, max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_batch_equals_reference(data: st.DataObject) -> None:
    doc = data.draw(tree_models())
    model = fmt.from_json(doc)
    rows = data.draw(_inputs(model.input_dim))
    traces = batch.trace(model, np.array(rows, dtype=np.int64))
    for r, row in enumerate(rows):
        assert [out[r].tolist() for out in traces] == reference.trace(model, row)
    again = fmt.from_json(json.loads(fmt.dumps(model)))
    assert again == model and again.hash() == model.hash()
    assert model.canonical_bytes()[4] == 2  # version byte


def core(cmd: str, payload: Any) -> dict[str, Any]:
    return prover.run_host(["core", cmd], stdin=json.dumps(payload).encode(), timeout=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rust_core_equals_reference(data: st.DataObject) -> None:
    doc = data.draw(tree_models())
    model = fmt.from_json(doc)
    rows = data.draw(_inputs(model.input_dim))
    out = core("model-eval", {"model": doc, "inputs": rows})
    assert out["model_hash"] == model.hash_hex()
    assert out["outputs"] == [reference.score(model, x) for x in rows]


# --- thresholds: the integer test decides as the real test on q / 2^16 ----------------

REAL_TESTS = {
    "BRANCH_LEQ": lambda v, t: v <= t,
    "BRANCH_LT": lambda v, t: v < t,
    "BRANCH_GTE": lambda v, t: v >= t,
    "BRANCH_GT": lambda v, t: v > t,
}
THRESHOLD = st.one_of(
    st.floats(-40000.0, 40000.0, width=32),
    st.floats(allow_nan=False),
    st.integers(-(2**31), 2**31).map(lambda q: q / 65536),  # exactly on the Q16 grid
)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(sorted(REAL_TESTS)), THRESHOLD, I32)
def test_threshold_decides_exactly(mode: str, t: float, q: int) -> None:
    q_mode, q_t, swap = quantize_branch(mode, t)
    integer = q <= q_t if q_mode == "<=" else q < q_t
    if math.isinf(t):
        real = REAL_TESTS[mode](q, t)  # any finite value against +-inf
    else:
        real = REAL_TESTS[mode](Fraction(q, 65536), Fraction(t))
    assert (integer != swap) == real


# --- broken trees: both languages name the same rule ----------------------------------


def _one_tree(nodes: list[Any], version: int = 2, **layer: Any) -> dict[str, Any]:
    tree_layer = {"op": "tree_ensemble", "in": 2, "base": 0, "trees": [nodes], **layer}
    return {
        "format": "coproc-model",
        "version": version,
        "name": "bad",
        "scale_bits": 16,
        "input_dim": 2,
        "layers": [tree_layer, {"op": "to_bps"}],
    }


OK_TREE = [[0, "<=", 5, 1, 2], [1], [2]]
INVALID = [
    ("child before its parent", _one_tree([[0, "<=", 5, 0, 1], [1]]), "M016"),
    ("child out of range", _one_tree([[0, "<=", 5, 1, 3], [1], [2]]), "M016"),
    ("node with two parents", _one_tree([[0, "<=", 5, 1, 1], [1]]), "M016"),
    ("unreachable node", _one_tree([[0, "<=", 5, 1, 2], [1], [2], [3]]), "M016"),
    ("feature >= in", _one_tree([[2, "<=", 5, 1, 2], [1], [2]]), "M016"),
    ("unknown mode", _one_tree([[0, ">=", 5, 1, 2], [1], [2]]), "M016"),
    ("node of 3 items", _one_tree([[0, "<=", 5], [1], [2]]), "M005"),
    ("float leaf", _one_tree([[0, "<=", 5, 1, 2], [1.5], [2]]), "M005"),
    ("leaf outside int32", _one_tree([[0, "<=", 5, 1, 2], [2**31], [2]]), "M009"),
    ("threshold outside int32", _one_tree([[0, "<=", -(2**31) - 1, 1, 2], [1], [2]]), "M009"),
    ("empty tree", _one_tree([]), "M007"),
    ("no trees", _one_tree(OK_TREE, trees=[]), "M007"),
    ("in != width", _one_tree(OK_TREE, **{"in": 3}), "M008"),
    ("unknown key", _one_tree(OK_TREE, depth=3), "M004"),
    ("trees under version 1", _one_tree(OK_TREE, version=1), "M017"),
    ("version 3", _one_tree(OK_TREE, version=3), "M002"),
]


@pytest.mark.parametrize(("reason", "doc", "code"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_trees_rejected_by_python(reason: str, doc: dict[str, Any], code: str) -> None:
    with pytest.raises(UserInputError) as caught:
        fmt.from_json(doc)
    assert caught.value.code == code, reason


def test_invalid_trees_rejected_by_rust() -> None:
    for reason, doc, code in INVALID:
        with pytest.raises(UserInputError) as caught:
            core("model-hash", doc)
        assert caught.value.code == code, reason
    fmt.from_json(_one_tree(OK_TREE))  # the base case is valid
    assert core("model-hash", _one_tree(OK_TREE))["model_hash"] == (
        fmt.from_json(_one_tree(OK_TREE)).hash_hex()
    )
