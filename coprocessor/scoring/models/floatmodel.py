"""Float models: what is imported (ONNX, JSON weights) before quantization, and
the float reference a fixed-point model is compared with.

A float model is the same layer list as format v1 with real numbers, without the
final ``to_bps`` (the importer appends it); the sigmoid is the exact logistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from coprocessor.errors import UserInputError
from coprocessor.jsonfile import load_json as read_json

if TYPE_CHECKING:
    from coprocessor.scoring.models.tree_import import FloatTrees

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FloatLayer:
    """``op`` is dense, relu, sigmoid, clip or trees. Dense: ``weights`` (out, in) and
    ``bias`` (out,); clip: ``lo``/``hi``; trees: ``trees`` (one output)."""

    op: str
    weights: F64 | None = None
    bias: F64 | None = None
    lo: float = -math.inf
    hi: float = math.inf
    trees: FloatTrees | None = None


@dataclass(frozen=True)
class FloatModel:
    input_dim: int
    layers: tuple[FloatLayer, ...]

    def output_dim(self) -> int:
        width = self.input_dim
        for layer in self.layers:
            if layer.weights is not None:
                width = layer.weights.shape[0]
        return width

    def forward(self, xs: F64) -> F64:
        """Outputs (n, width) for real inputs (n, input_dim), in float64."""
        x = np.asarray(xs, dtype=np.float64)
        for layer in self.layers:
            if layer.op == "dense":
                assert layer.weights is not None and layer.bias is not None
                x = x @ layer.weights.T + layer.bias
            elif layer.op == "relu":
                x = np.maximum(x, 0.0)
            elif layer.op == "sigmoid":
                x = 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic, without exp overflow
            elif layer.op == "clip":
                x = np.clip(x, layer.lo, layer.hi)
            elif layer.op == "trees":
                assert layer.trees is not None
                x = layer.trees.raw(x)[:, None]
            else:  # pragma: no cover - constructors only make the four ops
                raise AssertionError(layer.op)
        return x

    def to_json(self) -> dict[str, Any]:
        """The JSON weights form (what :func:`from_json` reads)."""
        layers: list[dict[str, Any]] = []
        for layer in self.layers:
            if layer.op == "trees":
                raise UserInputError("float model: tree ensembles have no JSON weights form")
            if layer.op == "dense":
                assert layer.weights is not None and layer.bias is not None
                layers.append(
                    {"op": "dense", "weights": layer.weights.tolist(), "bias": layer.bias.tolist()}
                )
            elif layer.op == "clip":
                layers.append({"op": "clip", "min": layer.lo, "max": layer.hi})
            else:
                layers.append({"op": layer.op})
        return {"format": "coproc-float-model", "input_dim": self.input_dim, "layers": layers}


def validate(model: FloatModel) -> FloatModel:
    """Shapes chain, every parameter finite, final width 1."""
    width = model.input_dim
    if width < 1:
        raise UserInputError("float model: input_dim must be >= 1")
    for i, layer in enumerate(model.layers):
        where = f"layer {i} ({layer.op})"
        if layer.op == "dense":
            w, b = layer.weights, layer.bias
            if w is None or b is None or w.ndim != 2 or b.shape != (w.shape[0],):
                raise UserInputError(f"float model: {where}: weights (out, in) and bias (out,)")
            if w.shape[1] != width:
                raise UserInputError(
                    f"float model: {where}: shape mismatch: takes {w.shape[1]} inputs, "
                    f"the previous width is {width}"
                )
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise UserInputError(f"float model: {where}: NaN/infinite weight or bias")
            width = w.shape[0]
        elif layer.op == "clip":
            if math.isnan(layer.lo) or math.isnan(layer.hi) or layer.lo > layer.hi:
                raise UserInputError(f"float model: {where}: bad min/max")
        elif layer.op == "trees":
            if layer.trees is None or layer.trees.n_in != width:
                raise UserInputError(f"float model: {where}: the trees do not take {width} inputs")
            width = 1
        elif layer.op not in ("relu", "sigmoid"):
            raise UserInputError(f"float model: {where}: unsupported op {layer.op!r}")
    if width != 1:
        raise UserInputError(f"float model: the output width must be 1, got {width}")
    return model


def _number(value: object, where: str) -> float:
    if type(value) not in (int, float):
        raise UserInputError(f"weights file: {where}: not a number: {value!r:.40}")
    out = float(value)  # type: ignore[arg-type]
    if not math.isfinite(out):
        raise UserInputError(f"weights file: {where}: NaN/infinite value")
    return out


def from_json(obj: object) -> FloatModel:
    """A float model from the JSON weights form::

    {"format": "coproc-float-model", "input_dim": 3,
     "layers": [{"op": "dense", "weights": [[...]], "bias": [...]},
                {"op": "relu"}, {"op": "sigmoid"}, {"op": "clip", "min": 0, "max": 1}]}
    """
    if not isinstance(obj, dict) or obj.get("format") != "coproc-float-model":
        raise UserInputError("weights file: expected an object with format 'coproc-float-model'")
    dim = obj.get("input_dim")
    if type(dim) is not int:
        raise UserInputError("weights file: input_dim must be an integer")
    raw_layers = obj.get("layers")
    if not isinstance(raw_layers, list):
        raise UserInputError("weights file: layers must be a list")
    layers = []
    for i, raw in enumerate(raw_layers):
        where = f"layer {i}"
        if not isinstance(raw, dict):
            raise UserInputError(f"weights file: {where}: expected an object")
        op = raw.get("op")
        if op == "dense":
            rows, bias = raw.get("weights"), raw.get("bias")
            if not isinstance(rows, list) or not rows or not isinstance(bias, list):
                raise UserInputError(f"weights file: {where}: weights and bias lists needed")
            width = len(rows[0]) if isinstance(rows[0], list) else -1
            if width < 1 or any(not isinstance(r, list) or len(r) != width for r in rows):
                raise UserInputError(f"weights file: {where}: weights must be a rectangle")
            w = np.array([[_number(v, where) for v in r] for r in rows], dtype=np.float64)
            b = np.array([_number(v, where) for v in bias], dtype=np.float64)
            layers.append(FloatLayer("dense", w, b))
        elif op == "clip":
            lo = _number(raw.get("min"), f"{where} min")
            hi = _number(raw.get("max"), f"{where} max")
            layers.append(FloatLayer("clip", lo=lo, hi=hi))
        elif op in ("relu", "sigmoid"):
            layers.append(FloatLayer(op))
        else:
            raise UserInputError(f"weights file: {where}: unsupported op {op!r:.40}")
    return validate(FloatModel(dim, tuple(layers)))


def load_json(path: str | Path) -> FloatModel:
    return from_json(read_json(path, "weights file"))
