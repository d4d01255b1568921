"""An independent oracle for model format v1, and the check that every expected
value in tests/vectors/models/*.json agrees with it.

The oracle is written from the text of docs/formats.md §2 with different means
than coprocessor.scoring.models: exact rationals (``Fraction``) and ``math.floor`` for every
rounding, bytes built with ``int.to_bytes`` and keccak from pycryptodome. It imports
nothing from ``coprocessor``. Run this file as a script to (re)write the vector
files; the tests then hold the committed files, the oracle and the implementation
together (tests/test_models_vectors.py runs the implementation on them).
"""

from __future__ import annotations

import json
import math
import random
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from Crypto.Hash import keccak as _keccak
from locations import REPO

ROOT = REPO
VECTORS = ROOT / "tests" / "vectors" / "models"
TABLE: list[int] = json.loads((ROOT / "spec" / "sigmoid_q16.json").read_text())["table"]
LO, HI = -(2**31), 2**31 - 1
HALF = Fraction(1, 2)


def keccak(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


def clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def o_dense(w: list[list[int]], b: list[int], x: list[int]) -> list[int]:
    # real result = sum(w*x)/2^32 + b/2^16, rounded half up to Q16
    out = []
    for row, bias in zip(w, b, strict=True):
        real_q16 = Fraction(sum(wi * xi for wi, xi in zip(row, x, strict=True)), 2**16) + bias
        out.append(clamp(math.floor(real_q16 + HALF), LO, HI))
    return out


def o_sigmoid(v: int) -> int:
    real = Fraction(v, 2**16)
    if real <= -8:
        return TABLE[0]
    if real >= 8:
        return TABLE[256]
    pos = (real + 8) * 16  # table position, i + f/4096
    i = math.floor(pos)
    frac = pos - i
    return math.floor(TABLE[i] + (TABLE[i + 1] - TABLE[i]) * frac + HALF)


def o_bps(v: int) -> int:
    return clamp(math.floor(Fraction(v * 10000, 2**16) + HALF), 0, 10000)


def o_run(model: dict[str, Any], x: list[int]) -> list[list[int]]:
    """Every layer's output."""
    trace = []
    for layer in model["layers"]:
        op = layer["op"]
        if op == "dense":
            x = o_dense(layer["weights"], layer["bias"], x)
        elif op == "relu":
            x = [max(v, 0) for v in x]
        elif op == "sigmoid":
            x = [o_sigmoid(v) for v in x]
        elif op == "clip":
            x = [clamp(v, layer["min"], layer["max"]) for v in x]
        elif op == "to_bps":
            x = [o_bps(v) for v in x]
        else:
            raise ValueError(op)
        trace.append(x)
    return trace


def o_canonical(model: dict[str, Any]) -> bytes:
    def u8(v: int) -> bytes:
        return v.to_bytes(1, "little")

    def u32(v: int) -> bytes:
        return v.to_bytes(4, "little")

    def i32(v: int) -> bytes:
        return v.to_bytes(4, "little", signed=True)

    codes = {"dense": 1, "relu": 2, "sigmoid": 3, "clip": 4, "to_bps": 5}
    out = b"CPM1" + u8(1) + u8(16) + u32(model["input_dim"]) + u32(len(model["layers"]))
    for layer in model["layers"]:
        out += u8(codes[layer["op"]])
        if layer["op"] == "dense":
            out += u32(layer["in"]) + u32(layer["out"])
            out += b"".join(i32(w) for row in layer["weights"] for w in row)
            out += b"".join(i32(v) for v in layer["bias"])
        elif layer["op"] == "clip":
            out += i32(layer["min"]) + i32(layer["max"])
    return out


# --- the vector files ----------------------------------------------------------------


def _model(name: str, dim: int, layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "coproc-model",
        "version": 1,
        "name": name,
        "scale_bits": 16,
        "input_dim": dim,
        "layers": layers,
    }


def _dense(w: list[list[int]], b: list[int]) -> dict[str, Any]:
    return {"op": "dense", "in": len(w[0]), "out": len(w), "weights": w, "bias": b}


WIDE_CLIP = {"op": "clip", "min": LO, "max": HI}


def _bps_tie_input() -> int:
    # smallest positive x with x*10000 + 2^15 an exact multiple of 2^16
    return next(x for x in range(1, 70000) if (x * 10000 + 2**15) % 2**16 == 0)


def _sigmoid_tie_inputs() -> list[int]:
    # f = 2048 with an even table step: the interpolation lands exactly on .5
    out = []
    for i in range(256):
        if (TABLE[i + 1] - TABLE[i]) % 2 == 0 and TABLE[i + 1] != TABLE[i]:
            out.append(-524288 + (i << 12) + 2048)
        if len(out) == 3:
            break
    return out


def build_vectors() -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    # (1) identity into the sigmoid: every sigmoid edge through a 1x1 unit dense
    sig_inputs = [LO, -524289, -524288, -524287, -65536, -4097, -4096, -1, 0, 1, 4095, 4096]
    sig_inputs += [65536, 300000, 524287, 524288, 524289, HI, *_sigmoid_tie_inputs()]
    files["sigmoid_edges"] = {
        "_doc": "unit dense (w=1.0) -> sigmoid -> to_bps: table ends, saturation of huge "
        "inputs, interpolation ties (f = 2048 with an even step)",
        "model": _model(
            "sigmoid-edges", 1, [_dense([[65536]], [0]), {"op": "sigmoid"}, {"op": "to_bps"}]
        ),
        "inputs": [[v] for v in sig_inputs],
    }
    # (2) dense rounding ties: w = 1 (2^-16) so acc = x, result = round_half_up(x / 2^16)
    ties = [32768, -32768, 32767, -32769, 98304, -98304, 65536 + 32768, -1, 1]
    files["dense_rounding"] = {
        "_doc": "dense w=2^-16: output = round-half-up(x / 2^16); ties go towards +infinity",
        "model": _model(
            "dense-rounding", 1, [_dense([[1]], [0]), dict(WIDE_CLIP), {"op": "to_bps"}]
        ),
        "inputs": [[v] for v in ties],
    }
    # (3) saturation at the dense layer and the accumulator bound (sum |w| = 2^31 - 1)
    files["dense_saturation"] = {
        "_doc": "rows at the accumulator bound sum|w| = 2^31-1 with extreme inputs: the "
        "64-bit accumulator holds, the result saturates to int32",
        "model": _model(
            "dense-saturation",
            2,
            [
                _dense([[HI - 5, 5], [-(2**30), -(2**30) + 1], [3, -4]], [LO, HI, -7]),
                dict(WIDE_CLIP),
                _dense([[1, 1, 1]], [0]),
                {"op": "to_bps"},
            ],
        ),
        "inputs": [[HI, HI], [LO, LO], [HI, LO], [LO, HI], [0, 0], [1, -1], [65536, 65536]],
    }
    # (4) relu, clip and to_bps edges on a 3-input model
    bps_tie = _bps_tie_input()
    files["relu_clip_bps"] = {
        "_doc": "relu, clip and to_bps edges (negative, above 1.0, exact .5 bps tie)",
        "model": _model(
            "relu-clip-bps",
            3,
            [
                _dense([[65536, 0, 0], [0, 65536, 0], [0, 0, 65536]], [0, 0, 0]),
                {"op": "relu"},
                {"op": "clip", "min": 0, "max": 98304},
                _dense([[65536, -65536, 32768]], [0]),
                {"op": "to_bps"},
            ],
        ),
        "inputs": [
            [0, 0, 0],
            [-5, 7, 9],
            [65536, 0, 0],
            [70000, 0, 0],
            [131072, 0, 0],
            [bps_tie, 0, 0],
            [bps_tie - 1, 0, 0],
            [0, 65536, 0],
            [0, 0, 200000],
            [-(2**31), HI, HI],
        ],
    }
    # (5) a random MLP 6 -> 8 -> 4 -> 1 (fixed seed), moderate weights
    rng = random.Random(20261121)

    def rand_matrix(rows: int, cols: int, scale: int) -> list[list[int]]:
        return [[rng.randint(-scale, scale) for _ in range(cols)] for _ in range(rows)]

    files["mlp_random"] = {
        "_doc": "random MLP 6-8-4-1 with relu, clip and sigmoid (seeded random.Random)",
        "model": _model(
            "mlp-random",
            6,
            [
                _dense(rand_matrix(8, 6, 90000), [rng.randint(-70000, 70000) for _ in range(8)]),
                {"op": "relu"},
                _dense(rand_matrix(4, 8, 60000), [rng.randint(-70000, 70000) for _ in range(4)]),
                {"op": "clip", "min": -200000, "max": 200000},
                {"op": "relu"},
                _dense(rand_matrix(1, 4, 50000), [rng.randint(-40000, 40000)]),
                {"op": "sigmoid"},
                {"op": "to_bps"},
            ],
        ),
        "inputs": [[rng.randint(-300000, 300000) for _ in range(6)] for _ in range(40)],
    }
    for vec in files.values():
        m = vec["model"]
        vec["model_hash"] = "0x" + keccak(o_canonical(m)).hex()
        vec["cases"] = [
            {"input": x, "trace": t, "score": t[-1][0]}
            for x, t in ((x, o_run(m, x)) for x in vec.pop("inputs"))
        ]
    files["invalid"] = {
        "_doc": "models every reader must reject (with the reason and the code of the rule "
        "broken, docs/formats.md \u00a76)",
        "models": _invalid_models(),
    }
    return files


def _invalid_models() -> list[dict[str, Any]]:
    ok = [_dense([[65536, 65536]], [0]), {"op": "sigmoid"}, {"op": "to_bps"}]
    out = []

    def bad(reason: str, code: str, layers: list[dict[str, Any]], **top: Any) -> None:
        """``code``: the rule each model breaks, from docs/formats.md §6 (written here by
        hand: the readers must report it)."""
        m = _model("bad", 2, layers)
        m.update(top)
        out.append({"reason": reason, "model": m, "code": code})

    bad("unknown op", "M006", [ok[0], {"op": "softmax"}, ok[2]])
    bad("shape mismatch", "M008", [_dense([[1, 2, 3]], [0]), ok[2]])
    bad("bias length", "M008", [_dense([[1, 2]], [0, 1]), ok[2]])
    bad("weight outside int32", "M009", [_dense([[2**31, 0]], [0]), ok[2]])
    bad("bias outside int32", "M009", [_dense([[1, 0]], [-(2**31) - 1]), ok[2]])
    bad("row sum |w| over 2^31-1", "M010", [_dense([[2**30, 2**30]], [0]), ok[2]])
    bad("last layer not to_bps", "M012", [ok[0], ok[1]])
    bad("to_bps not last", "M012", [ok[0], ok[2], ok[1], ok[2]])
    bad("final width 2", "M013", [_dense([[1, 0], [0, 1]], [0, 0]), ok[2]])
    bad("clip min > max", "M011", [ok[0], {"op": "clip", "min": 5, "max": 4}, ok[2]])
    bad("non-integer weight", "M005", [_dense([[1.5, 0]], [0]), ok[2]])  # type: ignore[list-item]
    bad("scale_bits 8", "M003", ok, scale_bits=8)
    bad("version 3", "M002", ok, version=3)
    bad("input_dim 0", "M007", ok, input_dim=0)
    return out


def vector_files() -> list[Path]:
    """This oracle's files (``trees_*.json`` have their own: test_trees_oracle.py)."""
    return sorted(p for p in VECTORS.glob("*.json") if not p.stem.startswith("trees_"))


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: p.stem)
def test_vector_file_agrees_with_oracle(path: Path) -> None:
    vec = json.loads(path.read_text())
    if "models" in vec:
        assert vec["models"], "invalid-model list is empty"
        return
    m = vec["model"]
    assert vec["model_hash"] == "0x" + keccak(o_canonical(m)).hex()
    assert vec["cases"]
    for case in vec["cases"]:
        assert o_run(m, case["input"]) == case["trace"]
        assert case["score"] == case["trace"][-1][0]


def test_vector_files_are_current() -> None:
    """The committed files are exactly what the generator writes (nothing edited by hand
    and nothing missing)."""
    built = build_vectors()
    assert sorted(p.stem for p in vector_files()) == sorted(built)
    for name, vec in built.items():
        assert json.loads((VECTORS / f"{name}.json").read_text()) == vec


# hand-derived values: the oracle itself is checked against arithmetic done on paper
def test_oracle_hand_cases() -> None:
    assert TABLE[128] == 32768 and TABLE[0] == 22 and TABLE[256] == 65536 - 22
    assert o_sigmoid(0) == 32768
    assert o_sigmoid(-(2**31)) == 22 and o_sigmoid(2**31 - 1) == 65514
    # x = -8 + 1/32: i = 0, f = 2048 -> 22 + ((23 - 22) * 2048 + 2048 >> 12) = 22 + 1 = 23
    assert o_sigmoid(-524288 + 2048) == 23
    assert o_bps(65536) == 10000 and o_bps(32768) == 5000 and o_bps(-1) == 0
    # 1 bps is 6.5536 Q16: x = 3 -> (30000 + 32768) >> 16 = 0; x = 4 -> 72768 >> 16 = 1
    assert o_bps(3) == 0 and o_bps(4) == 1
    assert o_dense([[1]], [0], [32768]) == [1] and o_dense([[1]], [0], [-32768]) == [0]
    assert o_dense([[1]], [0], [-32769]) == [-1]
    assert o_dense([[65536, 65536]], [65536], [65536, -131072]) == [0]
    assert o_dense([[2**31 - 1]], [0], [2**31 - 1]) == [2**31 - 1]
    m = _model("t", 1, [_dense([[65536]], [-1]), {"op": "to_bps"}])
    assert o_canonical(m).hex() == (
        "43504d310110010000000200000001010000000100000000000100ffffffff05"
    )


if __name__ == "__main__":
    VECTORS.mkdir(parents=True, exist_ok=True)
    for stale in vector_files():
        stale.unlink()
    for name, vec in build_vectors().items():
        (VECTORS / f"{name}.json").write_text(json.dumps(vec, indent=1) + "\n")
    print(f"wrote {len(vector_files())} files to {VECTORS}", file=sys.stderr)
