"""Model v2 over spec reads (``scripts/train_model_v2_spec.py``, what ``make demo``
serves): ``--check`` trains again and passes on the committed artifacts and section,
and fails on a changed artifact or section (one line); the model's inputs are the demo
spec's features in order; on the test rows (rebuilt by the script from model v2's rows)
the Q16 model stays within 1e-3 of the float ONNX as onnxruntime reads it, and the Rust
core scores rows exactly as the Python reference. That the spec computes, from the
protocols' views, the vectors the script trains on: tests/markets/test_demo_markets.py."""

from __future__ import annotations

import importlib.util
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

from coprocessor.dev.markets import demo_market
from coprocessor.scoring.models import batch, reference
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import prover

SCRIPT = REPO / "scripts" / "train_model_v2_spec.py"
MODELS = REPO / "models"
DOCS = REPO / "docs" / "models.md"
NAME = demo_market.MODEL


def _check(models: Path = MODELS, docs: Path = DOCS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--models-dir", str(models), "--docs", str(docs)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    models = tmp_path / "models"
    models.mkdir()
    for p in MODELS.glob("lending-risk-v2*"):
        shutil.copy(p, models / p.name)
    docs = tmp_path / "models.md"
    shutil.copy(DOCS, docs)
    return models, docs


def test_check_passes_on_committed_artifacts() -> None:
    done = _check()
    assert done.returncode == 0, done.stderr
    assert "match a new run" in done.stdout


@pytest.mark.parametrize("what", ["artifact", "section"])
def test_check_fails_on_a_change(tmp_path: Path, what: str) -> None:
    models, docs = _copy(tmp_path)
    if what == "artifact":
        doc = json.loads((models / f"{NAME}.json").read_text())
        doc["meta"]["training"]["seed"] += 1  # meta only: the file, not the model hash
        (models / f"{NAME}.json").write_text(json.dumps(doc))
    else:
        text = docs.read_text()
        section = text.split("<!-- model v2 (spec):", 1)[1]
        docs.write_text(text.replace(section, section.replace("ROC AUC", "AUC", 1), 1))
    done = _check(models, docs)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert ("differs from a new training run" if what == "artifact" else "section differs") in (
        done.stderr
    )


def test_inputs_are_the_demo_spec_features() -> None:
    model = fmt.load(MODELS / f"{NAME}.json")
    names = [f["name"] for f in demo_market.spec_for(_fake_meta())["features"]]
    assert model.meta["features"] == names == list(demo_market.NAMES)
    assert model.input_dim == len(names)


def _fake_meta() -> dict[str, object]:
    """A markets.json shape with made-up addresses (the names do not depend on them)."""
    market = {"id": "0x" + "22" * 32}
    return {
        "aave": {"provider": "0x" + "11" * 20},
        "morpho": {
            "morpho": "0x" + "33" * 20,
            "markets": {"WETH/USDC": market, "WBTC/USDC": market},
        },
        "code_hashes": {"morpho": "0x" + "44" * 32, "irm": "0x" + "55" * 32},
    }


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("train_model_v2_spec", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def test_rows() -> tuple[Any, Any]:
    rows = _script().load_rows(MODELS)
    test = ~rows.train()
    return rows.q16[test], rows.labels[test]


def test_fixed_point_within_1e3_of_onnxruntime(test_rows: tuple[Any, Any]) -> None:
    q16, _ = test_rows
    sess = ort.InferenceSession(str(MODELS / f"{NAME}.onnx"))
    outs = sess.run(None, {sess.get_inputs()[0].name: (q16 / 65536).astype(np.float32)})
    p_ort = outs[-1][:, -1] if outs[-1].ndim == 2 else outs[-1]
    model = fmt.load(MODELS / f"{NAME}.json")
    assert np.abs(batch.pre_bps(model, q16) / 65536 - p_ort).max() < 1e-3


def test_rust_core_scores_rows_as_python(test_rows: tuple[Any, Any]) -> None:
    q16, labels = test_rows
    pick = np.r_[np.flatnonzero(labels == 1)[:20], np.flatnonzero(labels == 0)[:40]]
    rows = [[int(v) for v in q16[i]] for i in pick]
    doc = json.loads((MODELS / f"{NAME}.json").read_text())
    out = prover.run_host(
        ["core", "model-eval"],
        stdin=json.dumps({"model": doc, "inputs": rows}).encode(),
        timeout=120,
    )
    model = fmt.from_json(doc)
    assert out["model_hash"] == model.hash_hex()
    assert out["outputs"] == [reference.score(model, r) for r in rows]
    assert len(set(out["outputs"])) > 2  # rows of both labels: more than one score
