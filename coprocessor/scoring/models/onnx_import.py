"""ONNX → float model. Supported: Gemm, MatMul (+ Add), Relu, Sigmoid, Clip,
Flatten, Identity, with parameters in initializers or Constant nodes; the graph
must be one chain from its single input to its single output (batch × features).
Anything else is rejected with an error naming the op. A graph with ONNX-ML nodes goes
to :mod:`.tree_import` (tree ensembles)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from coprocessor.errors import UserInputError
from coprocessor.scoring.models import tree_import
from coprocessor.scoring.models.floatmodel import F64, FloatLayer, FloatModel, validate
from coprocessor.scoring.models.tree_import import ML_DOMAIN

SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Relu", "Sigmoid", "Clip", "Flatten", "Identity")


def _onnx() -> Any:
    import onnx  # deferred: importing onnx costs ~0.3 s and most commands never need it

    return onnx


def load_onnx(path: str | Path) -> FloatModel:
    """Read an ONNX file and convert it (see the module doc)."""
    onnx = _onnx()
    try:
        proto = onnx.load(str(path))
    except FileNotFoundError:
        raise UserInputError(f"cannot read {path}: no such file") from None
    except Exception as exc:  # onnx raises DecodeError and others for non-ONNX bytes
        raise UserInputError(f"{path}: not a valid ONNX model ({type(exc).__name__})") from None
    try:
        return from_proto(proto)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        if isinstance(exc, UserInputError):
            raise
        raise UserInputError(
            f"{path}: malformed ONNX model ({type(exc).__name__}: {exc})"
        ) from None


def _bias(value: F64, n: int, node: Any) -> F64:
    """A bias of ``n`` entries from a constant of shape (), (1,), (n,) or (1, n)."""
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    if flat.size == 1:
        return np.full(n, float(flat[0]))
    if flat.size != n:
        raise UserInputError(
            f"ONNX: {node.op_type} node {node.name!r}: bias has {flat.size} values, expected {n}"
        )
    return flat


def _attrs(node: Any) -> dict[str, Any]:
    onnx = _onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def from_proto(proto: Any) -> FloatModel:
    """Convert a loaded ``onnx.ModelProto``."""
    onnx = _onnx()
    numpy_helper = onnx.numpy_helper
    graph = proto.graph
    if any(n.domain == ML_DOMAIN for n in graph.node):
        return tree_import.from_graph(graph)  # ONNX-ML tree ensembles
    consts: dict[str, F64] = {}
    for init in graph.initializer:
        consts[init.name] = numpy_helper.to_array(init).astype(np.float64)
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UserInputError(
            f"ONNX: expected one input and one output, got {len(inputs)} and {len(graph.output)}"
        )
    current = inputs[0].name
    dims = [
        d.dim_value if d.HasField("dim_value") else None
        for d in inputs[0].type.tensor_type.shape.dim
    ]
    input_dim = dims[-1] if dims else None
    layers: list[FloatLayer] = []
    # the output name of the last MatMul, whose bias a following Add may provide
    open_matmul: str | None = None

    def const(name: str, node: Any) -> F64:
        if name not in consts:
            raise UserInputError(
                f"ONNX: {node.op_type} node {node.name!r}: input {name!r} is not a constant "
                "(only one data path is supported)"
            )
        return consts[name]

    for node in graph.node:
        op = node.op_type
        if op == "Constant":
            value = _attrs(node).get("value")
            if value is None:
                raise UserInputError(f"ONNX: Constant node {node.name!r} without a tensor value")
            consts[node.output[0]] = numpy_helper.to_array(value).astype(np.float64)
            continue
        if op not in SUPPORTED_OPS:
            raise UserInputError(
                f"ONNX: unsupported op {op!r} (node {node.name!r}); supported: "
                + ", ".join(SUPPORTED_OPS)
            )
        data_inputs = [i for i in node.input if i and i not in consts]
        if op == "Add":
            if open_matmul is None or list(data_inputs) != [open_matmul]:
                raise UserInputError(
                    f"ONNX: Add node {node.name!r} is supported only as the bias of a MatMul"
                )
            other = next(i for i in node.input if i != open_matmul)
            dense = layers[-1]
            assert dense.weights is not None and dense.bias is not None
            bias = _bias(const(other, node), len(dense.bias), node)
            layers[-1] = FloatLayer("dense", dense.weights, dense.bias + bias)
            open_matmul = None
            current = node.output[0]
            continue
        open_matmul = None
        if not node.input or node.input[0] != current:
            raise UserInputError(
                f"ONNX: {op} node {node.name!r} does not continue the chain from {current!r}"
            )
        attrs = _attrs(node)
        if op == "Gemm":
            if attrs.get("transA", 0):
                raise UserInputError(f"ONNX: Gemm node {node.name!r}: transA=1 is not supported")
            b = const(node.input[1], node)
            if b.ndim != 2:
                raise UserInputError(f"ONNX: Gemm node {node.name!r}: weights must be 2-D")
            w = b if attrs.get("transB", 0) else b.T
            w = float(attrs.get("alpha", 1.0)) * w
            if len(node.input) > 2 and node.input[2]:
                c = _bias(const(node.input[2], node), w.shape[0], node)
                bias = float(attrs.get("beta", 1.0)) * c
            else:
                bias = np.zeros(w.shape[0])
            layers.append(FloatLayer("dense", np.array(w, dtype=np.float64), np.array(bias)))
        elif op == "MatMul":
            b = const(node.input[1], node)
            if b.ndim != 2:
                raise UserInputError(f"ONNX: MatMul node {node.name!r}: weights must be 2-D")
            layers.append(FloatLayer("dense", b.T.copy(), np.zeros(b.shape[1])))
            open_matmul = node.output[0]
        elif op in ("Relu", "Sigmoid"):
            layers.append(FloatLayer(op.lower()))
        elif op == "Clip":
            lo, hi = attrs.get("min", -math.inf), attrs.get("max", math.inf)
            if len(node.input) > 1 and node.input[1]:
                lo = float(const(node.input[1], node).reshape(-1)[0])
            if len(node.input) > 2 and node.input[2]:
                hi = float(const(node.input[2], node).reshape(-1)[0])
            layers.append(FloatLayer("clip", lo=float(lo), hi=float(hi)))
        elif op == "Flatten" and attrs.get("axis", 1) != 1:
            raise UserInputError(f"ONNX: Flatten node {node.name!r}: only axis=1 is supported")
        # Identity: nothing to do
        current = node.output[0]
    if current != graph.output[0].name:
        raise UserInputError("ONNX: the graph output is not the end of the chain")
    first_dense = next((layer for layer in layers if layer.weights is not None), None)
    if first_dense is not None and first_dense.weights is not None:
        width = first_dense.weights.shape[1]
        if input_dim not in (None, 0, width):
            raise UserInputError(
                f"ONNX: shape mismatch: input has {input_dim} features, first layer takes {width}"
            )
        input_dim = width
    if not input_dim:
        raise UserInputError("ONNX: cannot tell the input width (no dense layer, no shape)")
    return validate(FloatModel(int(input_dim), tuple(layers)))
