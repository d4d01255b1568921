"""An independent oracle for the ``tree_ensemble`` layer of model format v2, and the
check that every expected value in tests/vectors/models/trees_*.json agrees with it.

Written from docs/formats.md §2 with other means than coprocessor.scoring.models:
trees walked recursively on the JSON form, comparisons on exact rationals
(``Fraction``), bytes built with ``int.to_bytes``, keccak from pycryptodome. It imports
nothing from ``coprocessor``. Run this file as a script to (re)write the trees_*.json
files; tests/scoring/test_models_vectors.py runs the Python implementation on them and
tests/zk/test_guest_crosslang.py the Rust core.
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

VECTORS = REPO / "tests" / "vectors" / "models"
TABLE: list[int] = json.loads((REPO / "spec" / "sigmoid_q16.json").read_text())["table"]
LO, HI = -(2**31), 2**31 - 1
HALF = Fraction(1, 2)


def keccak(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


def o_walk(tree: list[list[Any]], i: int, x: list[int]) -> int:
    node = tree[i]
    if len(node) == 1:
        return int(node[0])
    feature, mode, threshold, yes, no = node
    v, t = Fraction(x[feature], 2**16), Fraction(threshold, 2**16)
    holds = v <= t if mode == "<=" else v < t
    return o_walk(tree, yes if holds else no, x)


def o_trees(layer: dict[str, Any], x: list[int]) -> list[int]:
    total = layer["base"] + sum(o_walk(tree, 0, x) for tree in layer["trees"])
    return [max(LO, min(HI, total))]


def o_sigmoid(v: int) -> int:
    real = Fraction(v, 2**16)
    if real <= -8:
        return TABLE[0]
    if real >= 8:
        return TABLE[256]
    pos = (real + 8) * 16
    i = math.floor(pos)
    return math.floor(TABLE[i] + (TABLE[i + 1] - TABLE[i]) * (pos - i) + HALF)


def o_run(model: dict[str, Any], x: list[int]) -> list[list[int]]:
    trace = []
    for layer in model["layers"]:
        op = layer["op"]
        if op == "tree_ensemble":
            x = o_trees(layer, x)
        elif op == "sigmoid":
            x = [o_sigmoid(v) for v in x]
        elif op == "clip":
            x = [max(layer["min"], min(layer["max"], v)) for v in x]
        elif op == "to_bps":
            x = [max(0, min(10000, math.floor(Fraction(v * 10000, 2**16) + HALF))) for v in x]
        else:
            raise ValueError(op)
        trace.append(x)
    return trace


def o_canonical(model: dict[str, Any]) -> bytes:
    def u(v: int, n: int = 4) -> bytes:
        return v.to_bytes(n, "little")

    def i32(v: int) -> bytes:
        return v.to_bytes(4, "little", signed=True)

    codes = {"sigmoid": 3, "clip": 4, "to_bps": 5, "tree_ensemble": 6}
    out = b"CPM1" + u(2, 1) + u(16, 1) + u(model["input_dim"]) + u(len(model["layers"]))
    for layer in model["layers"]:
        out += u(codes[layer["op"]], 1)
        if layer["op"] == "clip":
            out += i32(layer["min"]) + i32(layer["max"])
        elif layer["op"] == "tree_ensemble":
            out += u(layer["in"]) + i32(layer["base"]) + u(len(layer["trees"]))
            for tree in layer["trees"]:
                out += u(len(tree))
                for node in tree:
                    if len(node) == 1:
                        out += u(0, 1) + i32(node[0])
                    else:
                        f, mode, t, yes, no = node
                        out += u(1 if mode == "<=" else 2, 1) + u(f) + i32(t) + u(yes) + u(no)
    return out


# --- the vector files ----------------------------------------------------------------


def _model(name: str, dim: int, layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "coproc-model",
        "version": 2,
        "name": name,
        "scale_bits": 16,
        "input_dim": dim,
        "layers": layers,
    }


def _random_tree(rng: random.Random, dim: int, depth: int) -> list[list[Any]]:
    """A random tree in pre-order (children after their parent)."""
    nodes: list[list[Any]] = []

    def grow(level: int) -> int:
        index = len(nodes)
        if level == depth or rng.random() < 0.2:
            nodes.append([rng.randint(-40000, 40000)])
            return index
        nodes.append([])
        yes = grow(level + 1)
        no = grow(level + 1)
        mode = rng.choice(["<=", "<"])
        nodes[index] = [rng.randrange(dim), mode, rng.randint(-200000, 200000), yes, no]
        return index

    grow(0)
    return nodes


def build_vectors() -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    # (1) edges: <= and < at the threshold and one off, int32 extremes, a one-leaf tree,
    # and a leaf sum that saturates int32
    edge_tree = [[0, "<=", 65536, 1, 2], [1, "<", -5, 3, 4], [HI], [-7], [11]]
    files["trees_edges"] = {
        "_doc": "tree_ensemble edges: x == threshold for <= (yes) and < (no), one off, "
        "int32 extremes, a one-leaf tree, int32 saturation of the leaf sum",
        "model": _model(
            "trees-edges",
            2,
            [
                {
                    "op": "tree_ensemble",
                    "in": 2,
                    "base": 1000,
                    "trees": [edge_tree, [[123]], [[1, "<=", LO, 1, 2], [HI], [65536]]],
                },
                {"op": "clip", "min": LO, "max": HI},
                {"op": "to_bps"},
            ],
        ),
        "inputs": [
            [65536, -5],
            [65536, -6],
            [65537, -5],
            [65535, -6],
            [65537, -6],
            [HI, HI],
            [LO, LO],
            [0, 0],
            [-65536, 5],
        ],
    }
    # (2) a random ensemble (seeded) into the sigmoid, like a gradient-boosted classifier
    rng = random.Random(20261122)
    dim = 5
    files["trees_random"] = {
        "_doc": "random ensemble of 24 trees (depth <= 4) on 5 inputs -> sigmoid -> to_bps "
        "(seeded random.Random)",
        "model": _model(
            "trees-random",
            dim,
            [
                {
                    "op": "tree_ensemble",
                    "in": dim,
                    "base": rng.randint(-70000, 70000),
                    "trees": [_random_tree(rng, dim, 4) for _ in range(24)],
                },
                {"op": "sigmoid"},
                {"op": "to_bps"},
            ],
        ),
        "inputs": [[rng.randint(-300000, 300000) for _ in range(dim)] for _ in range(40)],
    }
    for vec in files.values():
        m = vec["model"]
        vec["model_hash"] = "0x" + keccak(o_canonical(m)).hex()
        vec["cases"] = [
            {"input": x, "trace": t, "score": t[-1][0]}
            for x, t in ((x, o_run(m, x)) for x in vec.pop("inputs"))
        ]
    return files


def vector_files() -> list[Path]:
    return sorted(VECTORS.glob("trees_*.json"))


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: p.stem)
def test_vector_file_agrees_with_oracle(path: Path) -> None:
    vec = json.loads(path.read_text())
    m = vec["model"]
    assert vec["model_hash"] == "0x" + keccak(o_canonical(m)).hex()
    assert vec["cases"]
    for case in vec["cases"]:
        assert o_run(m, case["input"]) == case["trace"]
        assert case["score"] == case["trace"][-1][0]


def test_vector_files_are_current() -> None:
    built = build_vectors()
    assert sorted(p.stem for p in vector_files()) == sorted(built)
    for name, vec in built.items():
        assert json.loads((VECTORS / f"{name}.json").read_text()) == vec


def test_edge_vectors_cover_what_they_claim() -> None:
    cases = {tuple(c["input"]): c["trace"][0][0] for c in build_vectors()["trees_edges"]["cases"]}
    # tree 0: x0 == 65536 takes yes (<=) -> x1 == -5 takes no (<) -> 11
    assert cases[(65536, -5)] == 1000 + 11 + 123 + 65536
    assert cases[(65536, -6)] == 1000 - 7 + 123 + 65536
    assert cases[(65537, -6)] == HI  # 1000 + HI + 123 + 65536 > 2^31 - 1: saturated
    assert cases[(LO, LO)] == HI  # x1 <= LO takes yes: 1000 - 7 + 123 + HI, saturated
    assert cases[(0, 0)] == 1000 + 11 + 123 + 65536


def test_oracle_hand_cases() -> None:
    m = _model("t", 1, [{"op": "tree_ensemble", "in": 1, "base": -1, "trees": [[[5]]]}])
    m["layers"].append({"op": "to_bps"})
    assert o_canonical(m).hex() == (
        "43504d31"
        "02"
        "10"
        "01000000"
        "02000000"  # magic, version 2, Q16, dim 1, 2 layers
        "06"
        "01000000"
        "ffffffff"
        "01000000"  # tree_ensemble, in 1, base -1, 1 tree
        "01000000"
        "00"
        "05000000"  # 1 node: leaf 5
        "05"
    )
    assert o_run(m, [0]) == [[4], [1]]  # 4/65536 -> 0.61 bps rounds up to 1


if __name__ == "__main__":
    for name, vec in build_vectors().items():
        (VECTORS / f"{name}.json").write_text(json.dumps(vec, indent=1) + "\n")
    print(f"wrote {len(vector_files())} files to {VECTORS}", file=sys.stderr)
