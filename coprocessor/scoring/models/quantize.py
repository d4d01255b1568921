"""Float model → Q16 model v1, and the float-vs-fixed report over a calibration set.

Weights, biases and clip bounds are rounded to the nearest Q16 integer (ties up);
a value outside int32 or a dense row beyond the accumulator bound is an error,
never silently saturated. The calibration set (real-valued input rows) checks the
result: per-layer activation range and saturation count, float-vs-fixed error of
the output and of the score, and AUC/calibration when labels are given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from coprocessor.errors import UserInputError
from coprocessor.scoring.models import batch
from coprocessor.scoring.models.fixedpoint import INT32_MAX, INT32_MIN, ONE, is_int32, real_to_q16
from coprocessor.scoring.models.floatmodel import F64, FloatModel
from coprocessor.scoring.models.metrics import auc, brier, ece
from coprocessor.scoring.models.model import Clip, Dense, Layer, Model, Relu, Sigmoid, ToBps
from coprocessor.scoring.models.tree_import import quantize_trees


def _q(value: float, where: str) -> int:
    q = real_to_q16(value)
    if not is_int32(q):
        raise UserInputError(f"quantize: {where}: {value!r} overflows Q16 int32 (|x| >= 32768)")
    return q


def _bound(value: float) -> int:
    """A clip bound: infinite or huge bounds become the int32 limits."""
    if value == math.inf or value * ONE >= INT32_MAX:
        return INT32_MAX
    if value == -math.inf or value * ONE <= INT32_MIN:
        return INT32_MIN
    return real_to_q16(value)


def quantize(fm: FloatModel, name: str = "", meta: dict[str, Any] | None = None) -> Model:
    """The Q16 model of a float model, with ``to_bps`` appended."""
    layers: list[Layer] = []
    for i, layer in enumerate(fm.layers):
        where = f"layer {i} ({layer.op})"
        if layer.op == "dense":
            assert layer.weights is not None and layer.bias is not None
            rows = tuple(
                tuple(_q(float(w), f"{where} weight[{r}]") for w in row)
                for r, row in enumerate(layer.weights)
            )
            bias = tuple(_q(float(b), f"{where} bias") for b in layer.bias)
            layers.append(Dense(rows, bias))
        elif layer.op == "relu":
            layers.append(Relu())
        elif layer.op == "sigmoid":
            layers.append(Sigmoid())
        elif layer.op == "clip":
            layers.append(Clip(_bound(layer.lo), _bound(layer.hi)))
        elif layer.op == "trees":
            assert layer.trees is not None
            layers.append(quantize_trees(layer.trees))
        else:  # pragma: no cover - FloatModel.validate admits only these
            raise AssertionError(layer.op)
    layers.append(ToBps())
    return Model(input_dim=fm.input_dim, layers=tuple(layers), name=name, meta=dict(meta or {}))


def inputs_to_q16(xs: F64) -> tuple[np.ndarray[Any, np.dtype[np.int64]], int]:
    """Real input rows as Q16 (ties up), saturated; also the number of saturated values."""
    scaled = np.floor(np.asarray(xs, dtype=np.float64) * ONE + 0.5)
    if not np.isfinite(scaled).all():
        raise UserInputError("input has a NaN/infinite value")
    saturated = int(((scaled < INT32_MIN) | (scaled > INT32_MAX)).sum())
    return np.clip(scaled, INT32_MIN, INT32_MAX).astype(np.int64), saturated


def calibration_report(
    fm: FloatModel, model: Model, xs: F64, labels: F64 | None = None
) -> dict[str, Any]:
    """Float vs fixed over the calibration rows (see the module doc)."""
    xs = np.asarray(xs, dtype=np.float64)
    if xs.ndim != 2 or xs.shape[1] != fm.input_dim or len(xs) == 0:
        raise UserInputError(
            f"calibration set must have rows of {fm.input_dim} values, got shape {xs.shape}"
        )
    xq, in_sat = inputs_to_q16(xs)
    fixed_trace = batch.trace(model, xq)
    layers = []
    x = xs
    for i, layer in enumerate(fm.layers):
        x = FloatModel(x.shape[1], (layer,)).forward(x)
        fixed = fixed_trace[i]
        layers.append(
            {
                "layer": i,
                "op": layer.op,
                "float_min": float(x.min()),
                "float_max": float(x.max()),
                "saturated": int(((fixed == INT32_MIN) | (fixed == INT32_MAX)).sum()),
                "max_abs_err": float(np.abs(fixed / ONE - x).max()),
            }
        )
    p_float = x[:, 0]
    p_fixed = fixed_trace[-2][:, 0] / ONE
    score_fixed = fixed_trace[-1][:, 0]
    score_float = np.clip(p_float * 10_000, 0, 10_000)
    report: dict[str, Any] = {
        "rows": len(xs),
        "input_values_saturated": in_sat,
        "output_max_abs_err": float(np.abs(p_fixed - p_float).max()),
        "output_mean_abs_err": float(np.abs(p_fixed - p_float).mean()),
        "score_max_abs_err_bps": float(np.abs(score_fixed - score_float).max()),
        "layers": layers,
    }
    if labels is not None:
        y = np.asarray(labels, dtype=np.float64)
        report["labels"] = {
            "positives": int(y.sum()),
            "auc_float": auc(y, p_float),
            "auc_fixed": auc(y, score_fixed.astype(np.float64)),
            "brier_float": brier(y, p_float),
            "brier_fixed": brier(y, score_fixed / 10_000),
            "ece_float": ece(y, p_float),
            "ece_fixed": ece(y, score_fixed / 10_000),
        }
    return report
