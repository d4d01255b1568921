"""The layer contracts (pyproject ``[tool.importlinter]``) hold, and they can fail:
an upward import added to a copy of the tree breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from locations import REPO

LINT = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for name in ("coprocessor", "bridge"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_its_layers(tree: Path) -> None:
    done = _lint(tree)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("coprocessor/chain/hexutil.py", "coprocessor.index.rpc"),
        ("coprocessor/index/store.py", "coprocessor.scoring.features"),
        ("coprocessor/scoring/features.py", "coprocessor.zk.journal"),
        ("coprocessor/zk/journal.py", "coprocessor.service.jobs"),
        ("coprocessor/service/jobs.py", "coprocessor.cli.main"),
        ("bridge/store.py", "coprocessor.service.jobs"),
        ("coprocessor/zk/prover.py", "bridge.store"),
    ],
)
def test_an_upward_import_breaks_the_contract(tree: Path, module: str, upward: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\nimport {upward}  # noqa\n")
    done = _lint(tree)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
