"""Model v2 over spec reads (``scripts/train_model_v2_spec.py``, what ``make demo``
serves): ``--check`` trains again and passes on the committed artifacts and section,
and fails on a changed artifact or section (one line); the model's inputs are the demo
spec's features in order. That the spec computes, from the protocols' views, the same
vectors the script trains on: tests/markets/test_demo_markets.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from locations import REPO

from coprocessor.dev.markets import demo_market
from coprocessor.scoring.models import model as fmt

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
