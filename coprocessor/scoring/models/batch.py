"""Vectorized inference over a batch of inputs with numpy int64, bit-identical to
:mod:`coprocessor.scoring.models.reference` (the hypothesis tests hold them together).

int64 never overflows here: a valid dense row has ``sum |w| <= 2^31 - 1`` and its
inputs are int32, so ``|sum w x| < 2^62``; the bias term adds less than 2^47.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from coprocessor.errors import UserInputError
from coprocessor.scoring.models.fixedpoint import BPS_MAX, INT32_MAX, INT32_MIN, SCALE_BITS
from coprocessor.scoring.models.model import Clip, Dense, Layer, Model, Relu, Sigmoid, ToBps
from coprocessor.scoring.models.sigmoid import STEP_MASK, STEP_SHIFT, X_MAX, X_MIN, table
from coprocessor.scoring.models.tree_batch import apply_trees
from coprocessor.scoring.models.trees import TreeEnsemble

I64 = npt.NDArray[np.int64]
_HALF = np.int64(1 << (SCALE_BITS - 1))


@cache
def _table() -> I64:
    return np.asarray(table(), dtype=np.int64)


@cache
def _dense_arrays(layer: Dense) -> tuple[I64, I64]:
    w = np.asarray(layer.weights, dtype=np.int64).T.copy()  # (in, out)
    b = np.asarray(layer.bias, dtype=np.int64) << SCALE_BITS
    return w, b


def check_batch(model: Model, xs: object) -> I64:
    """A 2-D int64 array of Q16 int32 values with the model's width."""
    arr = np.asarray(xs)
    if arr.ndim != 2 or arr.shape[1] != model.input_dim:
        raise UserInputError(
            f"batch must have shape (n, {model.input_dim}), got {tuple(arr.shape)}"
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise UserInputError("batch values must be Q16 integers")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < INT32_MIN or arr.max() > INT32_MAX):
        raise UserInputError("batch has a value outside int32")
    return arr


def sigmoid_q16(x: I64) -> I64:
    """Table sigmoid, element-wise (same steps as :func:`sigmoid.sigmoid_q16`)."""
    t = _table()
    u = np.clip(x, X_MIN, X_MAX - 1) - X_MIN
    i = u >> STEP_SHIFT
    f = u & STEP_MASK
    y = t[i] + (((t[i + 1] - t[i]) * f + (1 << (STEP_SHIFT - 1))) >> STEP_SHIFT)
    y = np.where(x <= X_MIN, t[0], y)
    out: I64 = np.where(x >= X_MAX, t[-1], y)
    return out


def apply_layer(layer: Layer, x: I64) -> I64:
    if isinstance(layer, Dense):
        w, b = _dense_arrays(layer)
        acc = x @ w + b
        dense: I64 = np.clip((acc + _HALF) >> SCALE_BITS, INT32_MIN, INT32_MAX)
        return dense
    if isinstance(layer, Relu):
        return np.maximum(x, 0)
    if isinstance(layer, Sigmoid):
        return sigmoid_q16(x)
    if isinstance(layer, Clip):
        return np.clip(x, layer.lo, layer.hi)
    if isinstance(layer, ToBps):
        bps: I64 = np.clip((x * BPS_MAX + _HALF) >> SCALE_BITS, 0, BPS_MAX)
        return bps
    if isinstance(layer, TreeEnsemble):
        return apply_trees(layer, x)
    raise AssertionError(f"unknown layer {layer!r}")  # pragma: no cover


def trace(model: Model, xs: object) -> list[I64]:
    """Every layer's output for the whole batch."""
    values = check_batch(model, xs)
    outputs = []
    for layer in model.layers:
        values = apply_layer(layer, values)
        outputs.append(values)
    return outputs


def scores(model: Model, xs: object) -> I64:
    """Scores (basis points) of every row, shape (n,)."""
    return trace(model, xs)[-1][:, 0]


def pre_bps(model: Model, xs: object) -> I64:
    """The Q16 values entering the final ``to_bps``, shape (n,)."""
    t = trace(model, xs)
    return t[-2][:, 0] if len(t) > 1 else check_batch(model, xs)[:, 0]
