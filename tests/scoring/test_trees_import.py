"""ONNX-ML tree ensembles exported by skl2onnx (scikit-learn) and onnxmltools (LightGBM):
the float reading of the ONNX equals the source library and onnxruntime, the Q16 model
stays within max |delta p| < 1e-3 of it on held-out rows, and unsupported attributes
are refused naming them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
from onnx import helper

from coprocessor.errors import UserInputError
from coprocessor.scoring.models import batch, onnx_import, quantize, reference

Rows = np.ndarray[Any, np.dtype[np.float64]]


def _data(seed: int) -> tuple[Rows, Rows, Rows]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 5)) * np.array([1.0, 3.0, 0.5, 10.0, 2.0])
    y = (x[:, 0] + x[:, 1] * x[:, 2] - 0.1 * x[:, 3] + rng.normal(size=len(x)) > 0).astype(float)
    xq, _ = quantize.inputs_to_q16(x)
    x = xq / 65536  # the rows as the fixed-point model sees them
    return x[:2000], x[2000:], y[:2000]


def _check(tmp_path: Path, proto: Any, x_test: Rows, p_source: Rows) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    fm = onnx_import.load_onnx(path)
    p_float = fm.forward(x_test)[:, 0]
    assert np.abs(p_float - p_source).max() < 1e-6  # our reading of the ONNX = the library
    sess = ort.InferenceSession(str(path))
    outs = sess.run(None, {sess.get_inputs()[0].name: x_test.astype(np.float32)})
    p_ort = outs[-1][:, -1] if outs[-1].ndim == 2 else outs[-1]
    assert np.abs(p_float - p_ort).max() < 1e-5  # and = onnxruntime (float32 inside)
    model = quantize.quantize(fm, "t")
    assert model.version == 2
    xq = np.rint(x_test * 65536).astype(np.int64)
    p_fixed = batch.pre_bps(model, xq) / 65536
    assert np.abs(p_fixed - p_float).max() < 1e-3
    for row, got in zip(xq[:40], batch.scores(model, xq[:40]), strict=True):
        assert reference.score(model, [int(v) for v in row]) == got


def test_sklearn_gradient_boosting_classifier(tmp_path: Path) -> None:
    from skl2onnx import to_onnx  # type: ignore[import-untyped]
    from sklearn.ensemble import GradientBoostingClassifier

    x, x_test, y = _data(1)
    clf = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0).fit(x, y)
    proto = to_onnx(clf, x[:1].astype(np.float32), options={"zipmap": False})
    _check(tmp_path, proto, x_test, clf.predict_proba(x_test)[:, 1])


def test_sklearn_gradient_boosting_regressor(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingRegressor

    x, x_test, y = _data(2)
    reg = GradientBoostingRegressor(n_estimators=40, max_depth=2, random_state=0).fit(x, y)
    proto = to_onnx(reg, x[:1].astype(np.float32))
    _check(tmp_path, proto, x_test, reg.predict(x_test))


def test_lightgbm_classifier(tmp_path: Path) -> None:
    import lightgbm
    from onnxmltools import convert_lightgbm  # type: ignore[import-untyped]
    from onnxmltools.convert.common.data_types import (  # type: ignore[import-untyped]
        FloatTensorType,
    )

    x, x_test, y = _data(3)
    clf = lightgbm.LGBMClassifier(n_estimators=50, num_leaves=8, verbose=-1).fit(x, y)
    proto = convert_lightgbm(clf, initial_types=[("x", FloatTensorType([None, 5]))], zipmap=False)
    _check(tmp_path, proto, x_test, np.asarray(clf.predict_proba(x_test))[:, 1])


def _tree_proto(**attrs: Any) -> Any:
    base: dict[str, Any] = {
        "nodes_treeids": [0, 0, 0],
        "nodes_nodeids": [0, 1, 2],
        "nodes_featureids": [0, 0, 0],
        "nodes_modes": ["BRANCH_LEQ", "LEAF", "LEAF"],
        "nodes_values": [0.5, 0.0, 0.0],
        "nodes_truenodeids": [1, 0, 0],
        "nodes_falsenodeids": [2, 0, 0],
        "target_treeids": [0, 0],
        "target_nodeids": [1, 2],
        "target_ids": [0, 0],
        "target_weights": [0.25, 0.75],
        "post_transform": "NONE",
    }
    base.update(attrs)
    node = helper.make_node(
        "TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", name="t", **base
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 1])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    return helper.make_model(graph, opset_imports=opsets)


def test_hand_made_regressor_and_gt_mode(tmp_path: Path) -> None:
    path = tmp_path / "r.onnx"
    path.write_bytes(_tree_proto(nodes_modes=["BRANCH_GT", "LEAF", "LEAF"]).SerializeToString())
    model = quantize.quantize(onnx_import.load_onnx(path))
    # x > 0.5 -> 0.25 (the true child), else 0.75; 0.5 is 32768 in Q16
    assert reference.pre_bps(model, [32768, 0]) == 49152
    assert reference.pre_bps(model, [32769, 0]) == 16384


@pytest.mark.parametrize(
    ("attrs", "named"),
    [
        ({"post_transform": "SOFTMAX"}, "post_transform=SOFTMAX"),
        ({"aggregate_function": "MAX"}, "aggregate_function=MAX"),
        ({"nodes_modes": ["BRANCH_EQ", "LEAF", "LEAF"]}, "nodes_modes=BRANCH_EQ"),
        ({"n_targets": 2}, "n_targets=2"),
        ({"target_ids": [0, 1]}, "target_ids"),
        ({"unknown_attr": 1}, "'unknown_attr'"),
    ],
)
def test_unsupported_attribute_is_named(tmp_path: Path, attrs: dict[str, Any], named: str) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(_tree_proto(**attrs).SerializeToString())
    with pytest.raises(UserInputError) as caught:
        onnx_import.load_onnx(path)
    message = str(caught.value)
    assert named in message and "\n" not in message
