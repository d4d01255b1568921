"""Model v2 (``scripts/train_model_v2.py``, trained on the simulated Aave v3 / Morpho
markets; re-training takes minutes, so these tests work on the committed artifacts):
``--check`` passes on them and fails on a changed artifact or section; the metrics in
the section agree with scikit-learn's on the committed test rows; the Q16 models stay
within 1e-3 of the float ONNX as onnxruntime reads it; the Rust core scores committed
rows exactly as the Python reference."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
from locations import REPO
from sklearn.metrics import brier_score_loss, roc_auc_score

from coprocessor.scoring.models import batch, reference
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import prover

SCRIPT = REPO / "scripts" / "train_model_v2.py"
MODELS = REPO / "models"
DOCS = REPO / "docs" / "models.md"
NAME = "lending-risk-v2"
SPLIT_BLOCK = 3300  # the script's split (the section states it; checked below)

Q16 = np.ndarray[Any, np.dtype[np.int64]]


def _rows() -> tuple[Q16, Q16, Q16]:
    """Blocks, Q16 features and labels of the committed data file (own parser)."""
    lines = (MODELS / f"{NAME}.data.csv").read_text().strip().splitlines()
    header = lines[0].split(",")
    assert header[:2] == ["block", "borrower"] and header[-1] == "label"
    table = np.array([[int(v) for v in line.split(",")] for line in lines[1:]], dtype=np.int64)
    return table[:, 0], table[:, 2:-1], table[:, -1]


def _test_rows() -> tuple[Q16, Q16]:
    blocks, q16, labels = _rows()
    test = blocks > SPLIT_BLOCK
    return q16[test], labels[test]


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )


def _section() -> str:
    text = DOCS.read_text()
    return text.split("<!-- model v2:", 1)[1].split("<!-- end of model v2 -->", 1)[0]


def test_check_passes_on_committed_artifacts() -> None:
    done = _script("--check")
    assert done.returncode == 0, done.stderr
    assert f"sampled blocks up to {SPLIT_BLOCK}" in _section()


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    models = tmp_path / "models"
    models.mkdir()
    for p in MODELS.glob(f"{NAME}*"):
        shutil.copy(p, models / p.name)
    docs = tmp_path / "models.md"
    shutil.copy(DOCS, docs)
    return models, docs


def test_check_fails_on_a_changed_section(tmp_path: Path) -> None:
    models, docs = _copy(tmp_path)
    text = docs.read_text()
    head, rest = text.split("| gradient-boosted trees", 1)
    docs.write_text(head + "| gradient-boosted trees" + rest.replace("0.", "1.", 1))
    done = _script("--check", "--models-dir", str(models), "--docs", str(docs))
    assert done.returncode == 1
    assert "model-v2 section differs" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_check_fails_on_a_changed_artifact(tmp_path: Path) -> None:
    models, docs = _copy(tmp_path)
    data = models / f"{NAME}.data.csv"
    lines = data.read_text().splitlines()
    last = lines[-1].rsplit(",", 1)
    lines[-1] = f"{last[0]},{1 - int(last[1])}"  # one test label flipped
    data.write_text("\n".join(lines) + "\n")
    done = _script("--check", "--models-dir", str(models), "--docs", str(docs))
    assert done.returncode == 1 and "differs" in done.stderr, done.stderr


def test_section_metrics_agree_with_sklearn() -> None:
    q16, labels = _test_rows()
    section = _section()
    labelled = ((NAME, "gradient-boosted trees ("), (f"{NAME}-logistic", "logistic regression |"))
    for name, label in labelled:
        sess = ort.InferenceSession(str(MODELS / f"{name}.onnx"))
        outs = sess.run(None, {sess.get_inputs()[0].name: (q16 / 65536).astype(np.float32)})
        p = outs[-1][:, -1] if outs[-1].ndim == 2 else outs[-1]
        row = next(line for line in section.splitlines() if line.startswith(f"| {label}"))
        auc = roc_auc_score(labels, p)
        brier = brier_score_loss(labels, p)
        # float32 inside onnxruntime: agree to the printed digits up to one unit
        cells = row.split("|")
        assert abs(float(cells[2].split("/")[0]) - auc) <= 2e-4, (label, auc, row)
        assert abs(float(cells[3].split("/")[0]) - brier) <= 2e-5, (label, brier, row)
        model = fmt.load(MODELS / f"{name}.json")
        fixed = batch.scores(model, q16) / 10_000
        assert abs(float(cells[2].split("/")[1]) - roc_auc_score(labels, fixed)) <= 1e-4


@pytest.mark.parametrize("name", [NAME, f"{NAME}-logistic"])
def test_fixed_point_within_1e3_of_onnxruntime(name: str) -> None:
    q16, _ = _test_rows()
    sess = ort.InferenceSession(str(MODELS / f"{name}.onnx"))
    outs = sess.run(None, {sess.get_inputs()[0].name: (q16 / 65536).astype(np.float32)})
    p_ort = outs[-1][:, -1] if outs[-1].ndim == 2 else outs[-1]
    model = fmt.load(MODELS / f"{name}.json")
    p_fixed = batch.pre_bps(model, q16) / 65536
    assert np.abs(p_fixed - p_ort).max() < 1e-3
    for row, got in zip(q16[:60], batch.scores(model, q16[:60]), strict=True):
        assert reference.score(model, [int(v) for v in row]) == got


def test_rust_core_scores_committed_rows_as_python() -> None:
    q16, labels = _test_rows()
    pick = np.r_[np.flatnonzero(labels == 1)[:20], np.flatnonzero(labels == 0)[:40]]
    rows = [[int(v) for v in q16[i]] for i in pick]
    for name in (NAME, f"{NAME}-logistic"):
        doc = json.loads((MODELS / f"{name}.json").read_text())
        out = prover.run_host(
            ["core", "model-eval"],
            stdin=json.dumps({"model": doc, "inputs": rows}).encode(),
            timeout=120,
        )
        model = fmt.from_json(doc)
        assert out["model_hash"] == model.hash_hex()
        assert out["outputs"] == [reference.score(model, r) for r in rows]
