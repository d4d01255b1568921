"""Model format v1/v2 (``coproc-model``, docs/formats.md §2): the layer types, loading
and validation of the JSON form, canonical bytes and the model hash. Version 2 is
version 1 plus the ``tree_ensemble`` layer (:mod:`.trees`); a model is version 2
exactly when it has one, so a v1 model keeps its bytes and its hash."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from coprocessor.chain.keccak import keccak256
from coprocessor.errors import UserInputError
from coprocessor.jsonfile import load_json
from coprocessor.scoring.models import trees
from coprocessor.scoring.models.fixedpoint import INT32_MAX, SCALE_BITS, is_int32
from coprocessor.scoring.models.trees import TreeEnsemble

FORMAT: Final = "coproc-model"
VERSION: Final = 1
#: the version of a model with a tree_ensemble layer
VERSION_TREES: Final = 2
MAGIC: Final = b"CPM1"
#: the layer codes of the canonical bytes
OP_CODES: Final = {
    "dense": 1,
    "relu": 2,
    "sigmoid": 3,
    "clip": 4,
    "to_bps": 5,
    trees.OP: trees.CODE,
}
#: limits that keep a hostile file from exhausting memory before validation ends
MAX_DIM: Final = 4096
MAX_LAYERS: Final = 256


@dataclass(frozen=True)
class Dense:
    """``y_i = sat32(rshift_round(sum_j w_ij x_j + (b_i << 16), 16))``."""

    weights: tuple[tuple[int, ...], ...]
    bias: tuple[int, ...]
    op: str = field(default="dense", init=False)

    @property
    def n_in(self) -> int:
        return len(self.weights[0])

    @property
    def n_out(self) -> int:
        return len(self.weights)


@dataclass(frozen=True)
class Relu:
    op: str = field(default="relu", init=False)


@dataclass(frozen=True)
class Sigmoid:
    op: str = field(default="sigmoid", init=False)


@dataclass(frozen=True)
class Clip:
    lo: int
    hi: int
    op: str = field(default="clip", init=False)


@dataclass(frozen=True)
class ToBps:
    op: str = field(default="to_bps", init=False)


Layer = Dense | Relu | Sigmoid | Clip | ToBps | TreeEnsemble


@dataclass(frozen=True)
class Model:
    """A validated v1 model. ``name`` and ``meta`` are not part of the hash."""

    input_dim: int
    layers: tuple[Layer, ...]
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        validate(self)

    def canonical_bytes(self) -> bytes:
        return canonical_bytes(self)

    def hash(self) -> bytes:
        """keccak256 of the canonical bytes."""
        return keccak256(canonical_bytes(self))

    def hash_hex(self) -> str:
        return "0x" + self.hash().hex()

    @property
    def version(self) -> int:
        """2 if the model has a tree_ensemble layer, else 1 (rule M017)."""
        has_trees = any(isinstance(layer, TreeEnsemble) for layer in self.layers)
        return VERSION_TREES if has_trees else VERSION

    def to_json(self) -> dict[str, Any]:
        return to_json(self)


def _where(index: int, layer: Layer | None = None) -> str:
    return f"layer {index}" + (f" ({layer.op})" if layer is not None else "")


def validate(model: Model) -> None:
    """Check the rules of §2: int32 values, the dense row bound, chained shapes,
    ``to_bps`` last with final width 1."""
    if not 1 <= model.input_dim <= MAX_DIM:
        raise UserInputError(
            f"model: input_dim must be 1..{MAX_DIM}, got {model.input_dim}", rule="model_limits"
        )
    if not model.layers or len(model.layers) > MAX_LAYERS:
        raise UserInputError(
            f"model: needs 1..{MAX_LAYERS} layers, got {len(model.layers)}", rule="model_limits"
        )
    width = model.input_dim
    for index, layer in enumerate(model.layers):
        where = _where(index, layer)
        if isinstance(layer, Dense):
            if not layer.weights or not layer.weights[0]:
                raise UserInputError(f"model: {where}: empty weight matrix", rule="model_limits")
            if layer.n_out > MAX_DIM or layer.n_in > MAX_DIM:
                raise UserInputError(
                    f"model: {where}: more than {MAX_DIM} rows or columns", rule="model_limits"
                )
            if layer.n_in != width:
                raise UserInputError(
                    f"model: {where}: shape mismatch: takes {layer.n_in} inputs, "
                    f"the previous width is {width}",
                    rule="model_shape",
                )
            if len(layer.bias) != layer.n_out:
                raise UserInputError(
                    f"model: {where}: bias has {len(layer.bias)} entries, expected {layer.n_out}",
                    rule="model_shape",
                )
            for r, row in enumerate(layer.weights):
                if len(row) != layer.n_in:
                    raise UserInputError(
                        f"model: {where}: row {r} has {len(row)} weights, expected {layer.n_in}",
                        rule="model_shape",
                    )
                if not all(is_int32(w) for w in row):
                    raise UserInputError(
                        f"model: {where}: row {r} has a weight outside int32", rule="model_int32"
                    )
                if sum(abs(w) for w in row) > INT32_MAX:
                    raise UserInputError(
                        f"model: {where}: row {r}: sum of |weights| exceeds 2^31-1 "
                        "(the 64-bit accumulator could overflow)",
                        rule="model_row_bound",
                    )
            if not all(is_int32(b) for b in layer.bias):
                raise UserInputError(f"model: {where}: a bias is outside int32", rule="model_int32")
            width = layer.n_out
        elif isinstance(layer, TreeEnsemble):
            trees.validate(layer, width, where)
            width = layer.n_out
        elif isinstance(layer, Clip):
            if not (is_int32(layer.lo) and is_int32(layer.hi)):
                raise UserInputError(f"model: {where}: min/max outside int32", rule="model_int32")
            if layer.lo > layer.hi:
                raise UserInputError(
                    f"model: {where}: min {layer.lo} > max {layer.hi}", rule="model_clip"
                )
        elif isinstance(layer, ToBps) and index != len(model.layers) - 1:
            raise UserInputError(
                f"model: {where}: to_bps must be the last layer", rule="model_to_bps_last"
            )
    if not isinstance(model.layers[-1], ToBps):
        raise UserInputError("model: the last layer must be to_bps", rule="model_to_bps_last")
    if width != 1:
        raise UserInputError(
            f"model: the final width must be 1, got {width}", rule="model_final_width"
        )


# --- JSON form --------------------------------------------------------------------


def _int(value: object, where: str) -> int:
    """A JSON integer (bool and float rejected; a float is never silently truncated)."""
    if type(value) is not int:
        if isinstance(value, float) and not math.isfinite(value):
            raise UserInputError(f"model: {where}: NaN/infinite value", rule="model_types")
        raise UserInputError(
            f"model: {where}: expected an integer, got {value!r:.40}", rule="model_types"
        )
    return value


def _keys(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise UserInputError(
            f"model: {where}: unknown key(s) {', '.join(extra)}", rule="model_keys"
        )


def _layer_from_json(index: int, obj: object) -> Layer:
    where = _where(index)
    if not isinstance(obj, dict):
        raise UserInputError(f"model: {where}: expected an object", rule="model_types")
    op = obj.get("op")
    if not isinstance(op, str) or op not in OP_CODES:
        raise UserInputError(f"model: {where}: unknown op {op!r:.40}", rule="model_op")
    where = f"{where} ({op})"
    if op == "dense":
        _keys(obj, {"op", "in", "out", "weights", "bias"}, where)
        n_in, n_out = _int(obj.get("in"), f"{where} in"), _int(obj.get("out"), f"{where} out")
        if not (1 <= n_in <= MAX_DIM and 1 <= n_out <= MAX_DIM):
            raise UserInputError(
                f"model: {where}: in/out must be 1..{MAX_DIM}", rule="model_limits"
            )
        weights, bias = obj.get("weights"), obj.get("bias")
        if not isinstance(weights, list):
            raise UserInputError(f"model: {where}: weights must be a list", rule="model_types")
        if len(weights) != n_out:
            raise UserInputError(
                f"model: {where}: weights must be a list of {n_out} rows", rule="model_shape"
            )
        rows = []
        for r, row in enumerate(weights):
            if not isinstance(row, list):
                raise UserInputError(
                    f"model: {where}: weights row {r} must be a list", rule="model_types"
                )
            if len(row) != n_in:
                raise UserInputError(
                    f"model: {where}: weights row {r} must have {n_in} entries", rule="model_shape"
                )
            rows.append(tuple(_int(w, f"{where} weights[{r}]") for w in row))
        if not isinstance(bias, list):
            raise UserInputError(f"model: {where}: bias must be a list", rule="model_types")
        if len(bias) != n_out:
            raise UserInputError(
                f"model: {where}: bias must be a list of {n_out} entries", rule="model_shape"
            )
        return Dense(tuple(rows), tuple(_int(b, f"{where} bias") for b in bias))
    if op == trees.OP:
        _keys(obj, {"op", "in", "base", "trees"}, where)
        return trees.from_json(obj, where)
    if op == "clip":
        _keys(obj, {"op", "min", "max"}, where)
        return Clip(_int(obj.get("min"), f"{where} min"), _int(obj.get("max"), f"{where} max"))
    _keys(obj, {"op"}, where)
    if op == "relu":
        return Relu()
    return Sigmoid() if op == "sigmoid" else ToBps()


def from_json(obj: object) -> Model:
    """Parse and validate the JSON form of a v1 model."""
    if not isinstance(obj, dict):
        raise UserInputError("model: expected a JSON object", rule="model_types")
    if obj.get("format") != FORMAT:
        raise UserInputError(
            f"model: format must be {FORMAT!r}, got {obj.get('format')!r:.40}", rule="model_format"
        )
    version = obj.get("version")
    if type(version) is not int or version not in (VERSION, VERSION_TREES):
        raise UserInputError(f"model: unsupported version {version!r:.20}", rule="model_version")
    _keys(obj, {"format", "version", "name", "scale_bits", "input_dim", "layers", "meta"}, "top")
    if obj.get("scale_bits") != SCALE_BITS:
        raise UserInputError(f"model: scale_bits must be {SCALE_BITS}", rule="model_scale")
    name = obj.get("name", "")
    if not isinstance(name, str):
        raise UserInputError("model: name must be a string", rule="model_types")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise UserInputError("model: meta must be an object", rule="model_types")
    layers = obj.get("layers")
    if not isinstance(layers, list):
        raise UserInputError("model: layers must be a list", rule="model_types")
    if not 1 <= len(layers) <= MAX_LAYERS:
        raise UserInputError(
            f"model: layers must be a list of 1..{MAX_LAYERS} layers", rule="model_limits"
        )
    model = Model(
        input_dim=_int(obj.get("input_dim"), "input_dim"),
        layers=tuple(_layer_from_json(i, layer) for i, layer in enumerate(layers)),
        name=name,
        meta=meta,
    )
    if version != model.version:
        raise UserInputError(
            f"model: version {version} but the model is version {model.version} "
            "(2 exactly when it has a tree_ensemble layer)",
            rule="model_tree_version",
        )
    return model


def _layer_to_json(layer: Layer) -> dict[str, Any]:
    if isinstance(layer, Dense):
        return {
            "op": "dense",
            "in": layer.n_in,
            "out": layer.n_out,
            "weights": [list(row) for row in layer.weights],
            "bias": list(layer.bias),
        }
    if isinstance(layer, Clip):
        return {"op": "clip", "min": layer.lo, "max": layer.hi}
    if isinstance(layer, TreeEnsemble):
        return trees.to_json(layer)
    return {"op": layer.op}


def to_json(model: Model) -> dict[str, Any]:
    """The JSON form (what :func:`from_json` reads)."""
    out: dict[str, Any] = {
        "format": FORMAT,
        "version": model.version,
        "name": model.name,
        "scale_bits": SCALE_BITS,
        "input_dim": model.input_dim,
        "layers": [_layer_to_json(layer) for layer in model.layers],
    }
    if model.meta:
        out["meta"] = model.meta
    return out


def dumps(model: Model) -> str:
    """The JSON file text: one layer parameter list per line, readable and diffable."""
    return json.dumps(to_json(model), indent=1, sort_keys=False) + "\n"


def load(path: str | Path) -> Model:
    """Read and validate a model file."""
    return from_json(load_json(path, "model"))


# --- canonical bytes ----------------------------------------------------------------


def canonical_bytes(model: Model) -> bytes:
    """``CPM1 ‖ u8 version ‖ u8 scale_bits ‖ u32 input_dim ‖ u32 layer_count ‖ layers``,
    little-endian (docs/formats.md §2)."""
    head = struct.pack("<BBII", model.version, SCALE_BITS, model.input_dim, len(model.layers))
    parts = [MAGIC, head]
    for layer in model.layers:
        parts.append(struct.pack("<B", OP_CODES[layer.op]))
        if isinstance(layer, Dense):
            parts.append(struct.pack("<II", layer.n_in, layer.n_out))
            flat = [w for row in layer.weights for w in row]
            parts.append(struct.pack(f"<{len(flat)}i", *flat))
            parts.append(struct.pack(f"<{len(layer.bias)}i", *layer.bias))
        elif isinstance(layer, Clip):
            parts.append(struct.pack("<ii", layer.lo, layer.hi))
        elif isinstance(layer, TreeEnsemble):
            parts.append(trees.canonical_bytes(layer))
    return b"".join(parts)
