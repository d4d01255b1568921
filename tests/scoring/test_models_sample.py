"""The committed sample model (models/lending-risk-v1.*): consistent files, the
accuracy target float vs fixed, and the training script reproducing it on anvil."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from locations import REPO

from coprocessor.scoring import features
from coprocessor.scoring.models import batch, metrics
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.onnx_import import load_onnx
from coprocessor.scoring.models.quantize import quantize

ROOT = REPO
MODELS = ROOT / "models"
NAME = "lending-risk-v1"


def _data() -> tuple[list[str], np.ndarray, np.ndarray]:
    lines = (MODELS / f"{NAME}.data.csv").read_text().strip().splitlines()
    header = lines[0].split(",")
    rows = np.array([[int(v) for v in line.split(",")] for line in lines[1:]], dtype=np.int64)
    return header, rows[:, 1:-1], rows[:, -1]


def test_files_agree() -> None:
    model = fmt.load(MODELS / f"{NAME}.json")
    spec = features.load(MODELS / f"{NAME}.features.json")
    assert model.meta["feature_spec_hash"] == "0x" + features.spec_hash(spec).hex()
    assert model.meta["features"] == list(spec.names)
    assert model.input_dim == len(spec.features)
    # the ONNX file quantizes to exactly the committed model
    again = quantize(load_onnx(MODELS / f"{NAME}.onnx"))
    assert again.hash() == model.hash()
    card = (ROOT / "docs" / "models.md").read_text()
    assert model.hash_hex() in card and model.meta["feature_spec_hash"] in card


def test_accuracy_target_on_the_data_set() -> None:
    """Float (ONNX weights, exact sigmoid) vs fixed (Q16 from the Q16 feature rows):
    max |Δp| < 0.001, and the AUC barely moves."""
    header, q16, labels = _data()
    model = fmt.load(MODELS / f"{NAME}.json")
    assert header[1:-1] == model.meta["features"]
    fm = load_onnx(MODELS / f"{NAME}.onnx")
    p_float = fm.forward(q16 / 65536.0)[:, 0]
    p_fixed = batch.pre_bps(model, q16) / 65536.0
    assert float(np.abs(p_fixed - p_float).max()) < 1e-3
    scores = batch.scores(model, q16)
    assert abs(metrics.auc(labels, scores) - metrics.auc(labels, p_float)) < 0.002
    assert metrics.auc(labels, scores) > 0.75  # the model does learn something


def test_training_script_reproduces_the_model(tmp_path: Path) -> None:
    """Same seed -> same chain -> same data -> same model hash (runs anvil, ~40 s)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_sample_model.py"),
         "--out-dir", str(tmp_path), "--no-docs"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    committed = fmt.load(MODELS / f"{NAME}.json")
    assert result["model_hash"] == committed.hash_hex()
    for suffix in (".json", ".features.json", ".data.csv", ".onnx"):
        assert (tmp_path / f"{NAME}{suffix}").read_bytes() == (
            MODELS / f"{NAME}{suffix}"
        ).read_bytes(), suffix
