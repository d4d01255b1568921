"""``coproc model`` end to end through the real CLI entry point: import (ONNX and
JSON weights, with a calibration CSV), eval (--input, --csv, --float, --q16), hash,
inspect, and the one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from locations import VECTORS
from onnx import TensorProto, helper, numpy_helper

from coprocessor.chain.keccak import keccak256
from coprocessor.cli import main as cli

VECTORS = VECTORS / "models"


@pytest.fixture(autouse=True)
def _only_model_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register just the command groups under test (others may be mid-flight)."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("model", "features"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


W = np.array([[0.75, -1.25, 0.5]])
B = np.array([0.125])


def _onnx_file(path: Path) -> Path:
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "W", "B"], ["z"], transB=1),
            helper.make_node("Sigmoid", ["z"], ["y"]),
        ],
        "logistic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [
            numpy_helper.from_array(W.astype(np.float32), "W"),
            numpy_helper.from_array(B.astype(np.float32), "B"),
        ],
    )
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_import_eval_hash_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _onnx_file(tmp_path / "logistic.onnx")
    calib = tmp_path / "calib.csv"
    calib.write_text("a,b,c,label\n1,0,0,1\n0,1,0,0\n0,0,1,1\n-1,2,0.5,0\n")
    out_path = tmp_path / "m.json"
    code, out, err = run(
        capsys, "model", "import", str(src), "--calibration", str(calib), "-o", str(out_path)
    )
    assert code == 0, err
    report = json.loads(out)
    obj = json.loads(out_path.read_text())
    # weights are exact multiples of 2^-16 here, so quantization is exact
    assert obj["layers"][0]["weights"] == [[49152, -81920, 32768]]
    assert obj["layers"][0]["bias"] == [8192]
    assert [layer["op"] for layer in obj["layers"]] == ["dense", "sigmoid", "to_bps"]
    assert report["calibration"]["rows"] == 4
    assert report["calibration"]["output_max_abs_err"] < 1e-3
    assert report["calibration"]["labels"]["positives"] == 2

    code, out, _ = run(capsys, "model", "hash", str(out_path))
    assert code == 0
    assert out.strip() == report["model_hash"]
    # the hash is keccak256 of the canonical bytes written out by hand here
    canonical = bytes.fromhex(
        "43504d31" "01" "10" "03000000" "03000000"
        "01" "03000000" "01000000" "00c00000" "00c0feff" "00800000" "00200000"
        "03" "05"
    )  # fmt: skip
    assert out.strip() == "0x" + keccak256(canonical).hex()

    # x = (1, 0, 0): z = 0.875, exact Q16 57344; the table sigmoid of 57344:
    # u = 581632, i = 142, f = 32768 & 4095 = 0 -> T[142] = 46254 -> bps 7058
    code, out, _ = run(capsys, "model", "eval", str(out_path), "--input", "[1, 0, 0]", "--float")
    assert code == 0
    res = json.loads(out)
    assert res["output_q16"] == 46254 and res["score"] == 7058
    assert res["float_output"] == pytest.approx(1 / (1 + np.exp(-0.875)), abs=1e-7)
    assert abs(res["float_score"] - res["score"]) < 5

    code, out, _ = run(capsys, "model", "eval", str(out_path), "--input", "[65536, 0, 0]", "--q16")
    assert code == 0 and json.loads(out)["score"] == 7058

    rows = tmp_path / "rows.csv"
    rows.write_text("1,0,0\n0,0,0\n-20,30,0\n")
    code, out, _ = run(capsys, "model", "eval", str(out_path), "--csv", str(rows))
    assert code == 0
    scores = [r["score"] for r in json.loads(out)]
    # 0.125 -> u = 532480, i = 130, f = 0 -> T[130] = 34813 -> 5312; far negative -> T[0]
    assert scores == [7058, 5312, (22 * 10000 + 32768) >> 16]

    code, out, _ = run(capsys, "model", "inspect", str(out_path))
    info = json.loads(out)
    assert info["model_hash"] == report["model_hash"]
    assert info["input_dim"] == 3 and info["parameters"] == 4
    assert info["canonical_bytes"] == len(canonical)


def test_json_weights_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = {
        "format": "coproc-float-model",
        "input_dim": 2,
        "layers": [
            {"op": "dense", "weights": [[1.0, 2.0], [0.5, -0.5]], "bias": [0.0, 1.0]},
            {"op": "relu"},
            {"op": "dense", "weights": [[0.25, 0.25]], "bias": [-0.5]},
            {"op": "clip", "min": 0.0, "max": 1.0},
        ],
    }
    src = tmp_path / "w.json"
    src.write_text(json.dumps(weights))
    code, out, err = run(capsys, "model", "import", str(src), "-o", str(tmp_path / "m.json"))
    assert code == 0, err
    code, out, _ = run(capsys, "model", "eval", str(tmp_path / "m.json"), "--input", "[1, 1]")
    # h = relu([3, 1]) -> 0.25*3 + 0.25*1 - 0.5 = 0.5 -> clip -> 5000 bps
    assert json.loads(out)["score"] == 5000


BAD_CASES: list[tuple[list[str], str]] = [
    (["model", "hash", "{missing}"], "cannot read"),
    (["model", "hash", "{bad_model}"], "unknown op"),
    (["model", "eval", "{model}", "--input", "[1, 2]"], "2 values"),
    (["model", "eval", "{model}", "--input", '[1, "a"]'], "not a finite number"),
    (["model", "eval", "{model}", "--input", "not json"], "JSON list"),
    (["model", "eval", "{model}", "--input", "[1e10]"], "overflows"),
    (["model", "eval", "{model}", "--input", "[NaN]"], "finite"),
    (["model", "eval", "{model}", "--csv", "{bad_csv}"], "not a finite number"),
    (["model", "eval", "{model}", "--input", "[0.5]", "--q16"], "integers"),
    (["model", "import", "{bad_onnx}", "-o", "{out}"], "unsupported op 'Softmax'"),
    (["model", "import", "{junk}", "-o", "{out}"], "not a valid ONNX"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_CASES, ids=[m for _, m in BAD_CASES])
def test_bad_input_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    model = json.loads((VECTORS / "sigmoid_edges.json").read_text())["model"]
    paths: dict[str, Any] = {
        "missing": tmp_path / "nope.json",
        "model": tmp_path / "model.json",
        "bad_model": tmp_path / "bad.json",
        "bad_csv": tmp_path / "bad.csv",
        "bad_onnx": tmp_path / "bad.onnx",
        "junk": tmp_path / "junk.onnx",
        "out": tmp_path / "out.json",
    }
    paths["model"].write_text(json.dumps(model))
    bad = json.loads(json.dumps(model))
    bad["layers"][1]["op"] = "tanh"
    paths["bad_model"].write_text(json.dumps(bad))
    paths["bad_csv"].write_text("1\nx\n")
    paths["junk"].write_bytes(b"\xffjunk" * 7)
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
    )
    onnx.save(helper.make_model(graph), str(paths["bad_onnx"]))
    code, out, err = run(capsys, *[a.format(**paths) for a in argv])
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coproc: error:"), err
    assert message in lines[0]
    assert not paths["out"].exists()  # no partial writes


def test_import_warns_on_saturating_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _onnx_file(tmp_path / "logistic.onnx")
    calib = tmp_path / "calib.csv"
    calib.write_text("1,0,0\n40000,0,0\n")  # 40000 does not fit Q16 int32
    code, out, err = run(
        capsys, "model", "import", str(src), "--calibration", str(calib), "-o", str(tmp_path / "m")
    )
    assert code == 0
    assert json.loads(out)["calibration"]["input_values_saturated"] == 1
    assert err.startswith("coproc: warning: 1 value(s) saturated")
