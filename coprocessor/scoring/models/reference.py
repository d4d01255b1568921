"""Scalar reference inference: the specification of model format v1/v2 written out
one integer operation at a time. The numpy path and the Rust guest must match it
bit for bit; keep it obvious rather than fast."""

from __future__ import annotations

from collections.abc import Sequence

from coprocessor.errors import UserInputError
from coprocessor.scoring.models import trees
from coprocessor.scoring.models.fixedpoint import SCALE_BITS, is_int32, rshift_round, sat32, to_bps
from coprocessor.scoring.models.model import Clip, Dense, Layer, Model, Relu, Sigmoid, ToBps
from coprocessor.scoring.models.sigmoid import sigmoid_q16
from coprocessor.scoring.models.trees import TreeEnsemble


def check_input(model: Model, x: Sequence[int]) -> list[int]:
    """The input vector as a list of int32 values of the model's width."""
    if len(x) != model.input_dim:
        raise UserInputError(
            f"input has {len(x)} values, the model takes {model.input_dim}",
            rule="model_input_length",
        )
    out = []
    for i, v in enumerate(x):
        if type(v) is not int or not is_int32(v):
            raise UserInputError(f"input[{i}] is not a Q16 int32 value: {v!r:.40}")
        out.append(v)
    return out


def apply_layer(layer: Layer, x: list[int]) -> list[int]:
    """One layer on one vector (every value int32 in and out)."""
    if isinstance(layer, Dense):
        out = []
        for row, b in zip(layer.weights, layer.bias, strict=True):
            acc = b << SCALE_BITS
            for w, v in zip(row, x, strict=True):
                acc += w * v
            out.append(sat32(rshift_round(acc, SCALE_BITS)))
        return out
    if isinstance(layer, Relu):
        return [v if v > 0 else 0 for v in x]
    if isinstance(layer, Sigmoid):
        return [sigmoid_q16(v) for v in x]
    if isinstance(layer, Clip):
        return [min(max(v, layer.lo), layer.hi) for v in x]
    if isinstance(layer, ToBps):
        return [to_bps(v) for v in x]
    if isinstance(layer, TreeEnsemble):
        return trees.apply(layer, x)
    raise AssertionError(f"unknown layer {layer!r}")  # pragma: no cover


def trace(model: Model, x: Sequence[int]) -> list[list[int]]:
    """Every layer's output for one input (the last entry is ``[score]``)."""
    values = check_input(model, x)
    outputs = []
    for layer in model.layers:
        values = apply_layer(layer, values)
        outputs.append(values)
    return outputs


def score(model: Model, x: Sequence[int]) -> int:
    """The model's score (basis points, 0..10000) for one Q16 input vector."""
    return trace(model, x)[-1][0]


def pre_bps(model: Model, x: Sequence[int]) -> int:
    """The Q16 value that enters the final ``to_bps`` (the probability for a
    sigmoid model); finer than the score, used for accuracy reports."""
    t = trace(model, x)
    return t[-2][0] if len(t) > 1 else check_input(model, x)[0]
