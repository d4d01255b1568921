"""Receipt files whose redundant fields disagree with the receipt bytes are refused
in every mode, ``--dev`` included (issue #20 item 7): one real dev-mode proof through
the CLI, then each field ``prove`` derives from the receipt changed in turn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from guest_helpers import SUBJECT, weth_request

from coprocessor.cli.main import main as coproc_main

COPROC = Path(sys.executable).parent / "coproc"
RID = "0x" + "5e" * 32


@pytest.fixture(scope="module")
def receipt(shared_vectors: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("hostile-receipts")
    paths = weth_request(shared_vectors, tmp)["paths"]
    out = tmp / "receipt.json"
    args = ["--data-dir", str(tmp / "data"), "prove", "--bundle", str(paths["bundle"])]
    args += ["--model", str(paths["model"]), "--spec", str(paths["spec"]), "--subject", SUBJECT]
    args += ["--request-id", RID, "--dev", "--quiet", "--no-record", "--out", str(out)]
    assert coproc_main(args) == 0
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def verify(tmp_path: Path, doc: dict[str, Any] | str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "receipt.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    env = dict(os.environ, COPROC_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run(
        [str(COPROC), "verify-receipt", "--dev", str(path)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def changed(value: Any) -> Any:
    """Another value of the same JSON type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        last = value[-1]
        return value[:-1] + ("0" if last != "0" else "1")
    if isinstance(value, dict):
        key = "score" if "score" in value else sorted(value)[0]
        inner = value[key]
        return {**value, key: inner + 1 if isinstance(inner, int) else changed(inner)}
    if value is None:
        return "0x" + "00" * 36
    raise AssertionError(f"no change for {value!r}")


def test_the_unchanged_dev_receipt_verifies(tmp_path: Path, receipt: dict[str, Any]) -> None:
    proc = verify(tmp_path, receipt)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dev_mode"] is True


@pytest.mark.parametrize(
    "field", ["dev_mode", "receipt_kind", "image_id", "journal", "claim_digest", "seal_hex"]
)
def test_a_redundant_field_that_disagrees_is_refused_with_dev(
    tmp_path: Path, receipt: dict[str, Any], field: str
) -> None:
    assert field in receipt
    doc = {**receipt, field: changed(receipt[field])}
    proc = verify(tmp_path, doc)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{field} in the file differs from the receipt" in lines[0], lines[0]


def test_a_receipt_with_a_key_written_twice_is_refused(
    tmp_path: Path, receipt: dict[str, Any]
) -> None:
    text = json.dumps(receipt)
    doubled = text.replace('"dev_mode": true', '"dev_mode": false, "dev_mode": true', 1)
    assert doubled != text
    proc = verify(tmp_path, doubled)
    assert proc.returncode == 2, proc.stderr
    assert "duplicate key 'dev_mode'" in proc.stderr
