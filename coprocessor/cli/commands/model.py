"""``coproc model``: import (ONNX or JSON weights → Q16 model v1), eval, hash, inspect."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from coprocessor.errors import UserInputError
from coprocessor.scoring.models import batch, floatmodel, quantize, reference
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.fixedpoint import ONE, is_int32, real_to_q16
from coprocessor.scoring.models.floatmodel import FloatLayer, FloatModel
from coprocessor.scoring.models.model import Clip, Dense, Model
from coprocessor.scoring.models.tabular import parse_vector, read_csv


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("model", help="fixed-point models: import, eval, hash, inspect")
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION")
    sub.required = True

    imp = sub.add_parser("import", help="quantize an ONNX model or a JSON weights file")
    imp.add_argument("source", help="FILE.onnx, or a JSON weights file (coproc-float-model)")
    imp.add_argument("-o", "--output", required=True, help="model file to write")
    imp.add_argument("--calibration", help="CSV of real input rows (optional `label` column)")
    imp.add_argument("--name", help="model name (default: the source file's stem)")
    imp.set_defaults(handler=cmd_import)

    ev = sub.add_parser("eval", help="score inputs with the fixed-point model")
    ev.add_argument("model")
    src = ev.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help="JSON list of real feature values, e.g. '[1.5, 0.2]'")
    src.add_argument("--csv", help="CSV of input rows (optional header)")
    ev.add_argument("--q16", action="store_true", help="inputs are Q16 integers, not reals")
    ev.add_argument("--float", action="store_true", help="also print the float reference")
    ev.set_defaults(handler=cmd_eval)

    h = sub.add_parser("hash", help="print the model hash (keccak256 of the canonical bytes)")
    h.add_argument("model")
    h.set_defaults(handler=cmd_hash)

    ins = sub.add_parser("inspect", help="layers, shapes, scale and hash")
    ins.add_argument("model")
    ins.set_defaults(handler=cmd_inspect)


def _print(obj: object) -> None:
    print(json.dumps(obj, indent=1))


def write_atomic(path: str | Path, text: str) -> None:
    """Write a file completely or not at all (temp file + rename)."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    except OSError as exc:
        raise UserInputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_float_source(source: str) -> FloatModel:
    """A float model from ONNX (by content) or a JSON weights file."""
    path = Path(source)
    if not path.is_file():
        raise UserInputError(f"cannot read {source}: no such file")
    if path.suffix.lower() == ".json":
        return floatmodel.load_json(path)
    from coprocessor.scoring.models.onnx_import import load_onnx

    return load_onnx(path)


def cmd_import(args: argparse.Namespace) -> int:
    fm = load_float_source(args.source)
    name = args.name or Path(args.source).stem
    meta: dict[str, Any] = {"source": Path(args.source).name, "float_model": fm.to_json()}
    model = quantize.quantize(fm, name=name, meta=meta)
    out: dict[str, Any] = {"output": args.output, "model_hash": model.hash_hex()}
    if args.calibration:
        table = read_csv(args.calibration)
        report = quantize.calibration_report(fm, model, table.rows, table.labels)
        model.meta["calibration"] = {k: v for k, v in report.items() if k != "layers"}
        out["calibration"] = report
        saturated = report["input_values_saturated"] + sum(
            layer["saturated"] for layer in report["layers"]
        )
        if saturated:
            print(
                f"coproc: warning: {saturated} value(s) saturated int32 on the calibration "
                "set (see calibration.layers)",
                file=sys.stderr,
            )
    write_atomic(args.output, fmt.dumps(model))
    _print(out)
    return 0


def float_reference(model: Model) -> FloatModel:
    """The float model a fixed model was imported from (``meta.float_model``), else
    its dequantized weights with the exact sigmoid."""
    src = model.meta.get("float_model")
    if src is not None:
        fm = floatmodel.from_json(src)
        if fm.input_dim != model.input_dim:
            raise UserInputError("model: meta.float_model does not match the model's width")
        return fm
    layers = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            w = np.asarray(layer.weights, dtype=np.float64) / ONE
            layers.append(FloatLayer("dense", w, np.asarray(layer.bias, dtype=np.float64) / ONE))
        elif isinstance(layer, Clip):
            layers.append(FloatLayer("clip", lo=layer.lo / ONE, hi=layer.hi / ONE))
        elif layer.op in ("relu", "sigmoid"):
            layers.append(FloatLayer(layer.op))
    return FloatModel(model.input_dim, tuple(layers))


def _to_q16_rows(rows: list[list[float | int]], q16: bool) -> list[list[int]]:
    out = []
    for r, row in enumerate(rows):
        qrow = []
        for c, v in enumerate(row):
            if q16:
                if type(v) is not int and not (isinstance(v, float) and v.is_integer()):
                    raise UserInputError(f"row {r} value {c}: --q16 needs integers, got {v!r}")
                q = int(v)
            else:
                q = real_to_q16(float(v))
            if not is_int32(q):
                raise UserInputError(f"row {r} value {c}: {v!r} overflows Q16 int32")
            qrow.append(q)
        out.append(qrow)
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    model = fmt.load(args.model)
    if args.input is not None:
        rows: list[list[float | int]] = [parse_vector(args.input)]
    else:
        table = read_csv(args.csv)
        rows = table.rows.tolist()
        if args.q16:
            rows = [[int(v) if float(v).is_integer() else v for v in row] for row in rows]
    for r, row in enumerate(rows):
        if len(row) != model.input_dim:
            raise UserInputError(f"row {r}: {len(row)} values, the model takes {model.input_dim}")
    xq = _to_q16_rows(rows, args.q16)
    if len(xq) == 1:
        results: list[dict[str, Any]] = [
            {"score": reference.score(model, xq[0]), "output_q16": reference.pre_bps(model, xq[0])}
        ]
    else:
        t = batch.trace(model, np.asarray(xq, dtype=np.int64))
        results = [
            {"score": int(s), "output_q16": int(p)}
            for s, p in zip(t[-1][:, 0], t[-2][:, 0], strict=True)
        ]
    if args.float:
        reals = np.asarray(xq, dtype=np.float64) / ONE if args.q16 else np.asarray(rows, float)
        p = float_reference(model).forward(reals)[:, 0]
        for res, pf in zip(results, p, strict=True):
            res["float_output"] = float(pf)
            res["float_score"] = float(min(max(pf * 10_000, 0.0), 10_000.0))
    _print(results[0] if args.input is not None else results)
    return 0


def cmd_hash(args: argparse.Namespace) -> int:
    print(fmt.load(args.model).hash_hex())
    return 0


def describe(model: Model) -> dict[str, Any]:
    """What ``coproc model inspect`` prints."""
    width = model.input_dim
    layers = []
    for i, layer in enumerate(model.layers):
        entry: dict[str, Any] = {"index": i, "op": layer.op, "in": width}
        if isinstance(layer, Dense):
            width = layer.n_out
            flat = [w for row in layer.weights for w in row]
            entry["weight_range_q16"] = [min(flat), max(flat)]
            entry["max_row_abs_sum_q16"] = max(sum(abs(w) for w in row) for row in layer.weights)
        elif isinstance(layer, Clip):
            entry["min_q16"], entry["max_q16"] = layer.lo, layer.hi
        entry["out"] = width
        layers.append(entry)
    return {
        "name": model.name,
        "format": fmt.FORMAT,
        "version": fmt.VERSION,
        "scale_bits": 16,
        "input_dim": model.input_dim,
        "parameters": sum(
            len(layer.bias) * (layer.n_in + 1) for layer in model.layers if isinstance(layer, Dense)
        ),
        "canonical_bytes": len(model.canonical_bytes()),
        "model_hash": model.hash_hex(),
        "layers": layers,
        "meta_keys": sorted(model.meta),
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    _print(describe(fmt.load(args.model)))
    return 0
