"""ONNX import against onnx's own reference evaluator, unsupported ops, and the
float-vs-fixed error bound of a quantized logistic model (hypothesis)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from coprocessor.errors import UserInputError
from coprocessor.scoring.models import batch
from coprocessor.scoring.models.onnx_import import from_proto, load_onnx
from coprocessor.scoring.models.quantize import inputs_to_q16, quantize


def _graph(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray], dim: int) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def _onnx_eval(model: onnx.ModelProto, xs: np.ndarray) -> np.ndarray:
    outputs: Any = ReferenceEvaluator(model).run(None, {"x": xs.astype(np.float32)})
    out = outputs[0]
    return np.asarray(out, dtype=np.float64)


RNG = np.random.default_rng(7)
XS = RNG.normal(0, 2, size=(64, 4))


def _every_op_model() -> onnx.ModelProto:
    inits = {
        "W1": RNG.normal(0, 0.5, (4, 5)),  # Gemm, transB=0: (in, out)
        "C1": RNG.normal(0, 0.1, (5,)),
        "W2": RNG.normal(0, 0.5, (5, 3)),  # MatMul (in, out)
        "B2": RNG.normal(0, 0.1, (3,)),
        "W3": RNG.normal(0, 0.5, (1, 3)),  # Gemm, transB=1: (out, in)
        "C3": np.array([0.2]),
        "lo": np.array(-1.5),
        "hi": np.array(2.5),
    }
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "W1", "C1"], ["g1"], alpha=0.5, beta=2.0),
        helper.make_node("Relu", ["g1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "W2"], ["m2"]),
        helper.make_node("Add", ["B2", "m2"], ["a2"]),
        helper.make_node("Clip", ["a2", "lo", "hi"], ["c2"]),
        helper.make_node("Identity", ["c2"], ["i2"]),
        helper.make_node("Gemm", ["i2", "W3", "C3"], ["g3"], transB=1),
        helper.make_node("Sigmoid", ["g3"], ["y"]),
    ]
    return _graph(nodes, inits, 4)


def test_every_supported_op_matches_onnx_reference(tmp_path: Path) -> None:
    proto = _every_op_model()
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    fm = load_onnx(path)
    assert [layer.op for layer in fm.layers] == [
        "dense", "relu", "dense", "clip", "dense", "sigmoid",
    ]  # fmt: skip
    expected = _onnx_eval(proto, XS)
    np.testing.assert_allclose(fm.forward(XS), expected, rtol=1e-5, atol=1e-6)
    # and the Q16 model follows within the quantization error
    model = quantize(fm, "every-op")
    xq, saturated = inputs_to_q16(XS)
    assert saturated == 0
    fixed = batch.pre_bps(model, xq) / 65536
    assert np.abs(fixed - expected[:, 0]).max() < 1e-3


def test_clip_as_attributes_opset_6() -> None:
    inits = {"W": np.ones((1, 2))}
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["g"], transB=1),
        helper.make_node("Clip", ["g"], ["y"], min=-0.5, max=0.75),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)])
    fm = from_proto(proto)
    clip = fm.layers[1]
    assert (clip.op, clip.lo, clip.hi) == ("clip", -0.5, 0.75)


@pytest.mark.parametrize("op", ["Softmax", "Tanh", "Conv", "LeakyRelu"])
def test_unsupported_op_is_named(op: str) -> None:
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["g"], transB=1),
        helper.make_node(op, ["g"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(np.ones((1, 2), dtype=np.float32), "W")],
    )
    proto = helper.make_model(graph)
    with pytest.raises(UserInputError, match=f"unsupported op '{op}'"):
        from_proto(proto)


def test_bad_onnx_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a protobuf\xff" * 10)
    with pytest.raises(UserInputError):
        load_onnx(junk)
    with pytest.raises(UserInputError, match="no such file"):
        load_onnx(tmp_path / "missing.onnx")
    # NaN weight
    proto = _graph(
        [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], {"W": np.array([[np.nan]])}, 1
    )
    with pytest.raises(UserInputError, match="NaN"):
        from_proto(proto)
    # shape mismatch between layers
    proto = _graph(
        [
            helper.make_node("Gemm", ["x", "W"], ["h"], transB=1),
            helper.make_node("Gemm", ["h", "V"], ["y"], transB=1),
        ],
        {"W": np.ones((3, 2)), "V": np.ones((1, 3))},
        2,
    )
    proto.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.ones((1, 4), np.float32), "V"))
    with pytest.raises(UserInputError, match="shape mismatch"):
        from_proto(proto)
    # two outputs (softmax-style classifier)
    proto = _graph(
        [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], {"W": np.ones((2, 2))}, 2
    )
    with pytest.raises(UserInputError, match="output width"):
        from_proto(proto)


def test_weight_overflowing_q16_is_an_error() -> None:
    proto = _graph(
        [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], {"W": np.array([[40000.0]])}, 1
    )
    with pytest.raises(UserInputError, match="overflows"):
        quantize(from_proto(proto))


# --- the stated bound --------------------------------------------------------------
# For a logistic model p = sigmoid(w·x + b) with |w_j| <= W and |x_j| <= X over d inputs,
# the logit error of the Q16 model is at most d·(W + X + 1)·2^-17 + 2·2^-17 (weight,
# input and product rounding, bias, final rounding). The sigmoid is 1/4-Lipschitz; the
# table adds at most h²/8·max|σ''| + 2^-16 ≈ 6.2e-5 inside [-8, 8] and at most
# 1 - σ(8) + 2^-16 ≈ 3.5e-4 beyond. So |p_fixed - p_float| <= logit_err/4 + 3.6e-4.


def logistic_bound(d: int, w_max: float, x_max: float) -> float:
    logit_err = (d * (w_max + x_max + 1) + 2) * 2.0**-17
    return logit_err / 4 + 3.6e-4


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # onnx reference exp overflow
@settings(max_examples=60, deadline=None)
@given(
    d=st.integers(1, 8),
    w_max=st.sampled_from([0.01, 0.5, 3.0, 20.0]),
    x_max=st.sampled_from([1.0, 10.0, 300.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_logistic_float_vs_fixed_within_bound(
    d: int, w_max: float, x_max: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    w = rng.uniform(-w_max, w_max, (1, d))
    b = rng.uniform(-2, 2, (1,))
    proto = _graph(
        [
            helper.make_node("Gemm", ["x", "W", "B"], ["z"], transB=1),
            helper.make_node("Sigmoid", ["z"], ["y"]),
        ],
        {"W": w, "B": b},
        d,
    )
    fm = from_proto(proto)
    model = quantize(fm)
    xs = rng.uniform(-x_max, x_max, (50, d))
    xq, _ = inputs_to_q16(xs)
    p_float = _onnx_eval(proto, xs)[:, 0]
    p_fixed = batch.pre_bps(model, xq) / 65536
    # float32 ONNX evaluation adds ~1e-7 relative error of its own
    bound = logistic_bound(d, w_max, x_max) + 1e-6
    err = float(np.abs(p_fixed - p_float).max())
    assert err <= bound, (err, bound)
    assert math.isfinite(err)


def test_constant_nodes_and_matmul_without_bias() -> None:
    lo = helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0])
    hi = helper.make_tensor("hi", TensorProto.FLOAT, [], [0.5])
    nodes = [
        helper.make_node("Constant", [], ["c_lo"], value=lo),
        helper.make_node("Constant", [], ["c_hi"], value=hi),
        helper.make_node("MatMul", ["x", "W"], ["m"]),
        helper.make_node("Clip", ["m", "c_lo", "c_hi"], ["y"]),
    ]
    proto = _graph(nodes, {"W": np.array([[0.25], [-1.0]])}, 2)
    fm = from_proto(proto)
    xs = RNG.normal(0, 1, size=(32, 2))
    np.testing.assert_allclose(fm.forward(xs), _onnx_eval(proto, xs), rtol=1e-6, atol=1e-7)
    assert fm.layers[1].lo == 0.0 and fm.layers[1].hi == 0.5


def test_add_that_is_not_a_bias_is_rejected() -> None:
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["g"], transB=1),
        helper.make_node("Relu", ["g"], ["r"]),
        helper.make_node("Add", ["r", "B"], ["y"]),
    ]
    proto = _graph(nodes, {"W": np.ones((1, 2)), "B": np.ones((1,))}, 2)
    with pytest.raises(UserInputError, match="Add node"):
        from_proto(proto)


def test_bias_shapes(tmp_path: Path) -> None:
    """Gemm C of shape (1, out) and a scalar; a wrong-sized bias is a clear error."""
    for c in (np.array([[0.5, -0.5]]), np.array(0.25)):
        nodes = [
            helper.make_node("Gemm", ["x", "W", "C"], ["h"], transB=1),
            helper.make_node("Gemm", ["h", "V"], ["y"], transB=1),
        ]
        proto = _graph(nodes, {"W": np.ones((2, 2)), "C": c, "V": np.ones((1, 2))}, 2)
        xs = RNG.normal(0, 1, size=(8, 2))
        np.testing.assert_allclose(from_proto(proto).forward(xs), _onnx_eval(proto, xs), rtol=1e-6)
    nodes = [helper.make_node("Gemm", ["x", "W", "C"], ["y"], transB=1)]
    proto = _graph(nodes, {"W": np.ones((1, 2)), "C": np.ones((3,))}, 2)
    with pytest.raises(UserInputError, match="bias has 3 values"):
        from_proto(proto)
