"""The README's main command, end to end, in a throwaway data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

COPROC = str(Path(sys.executable).parent / "coproc")


def test_demo_json(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    try:
        done = subprocess.run(
            [COPROC, *data, "demo", "--json"], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        assert len(rows) == 4
        for row in rows:
            assert row["matches"] is True
            assert row["proven_balance"] == row["onchain_balance"]
            assert int(row["proven_balance"], 16) > 0
            assert row["anchor"] == row["block"] + 4
            check = subprocess.run(
                [COPROC, "verify-bundle", row["bundle"]], capture_output=True, text=True
            )
            assert check.returncode == 0, check.stderr
        again = subprocess.run(
            [COPROC, *data, "devnet", "status", "--json"], capture_output=True, text=True
        )
        assert json.loads(again.stdout)["l1"]["running"] is True
    finally:
        subprocess.run([COPROC, *data, "devnet", "down"], capture_output=True)
    status = subprocess.run([COPROC, *data, "devnet", "status"], capture_output=True, text=True)
    assert status.returncode == 1
