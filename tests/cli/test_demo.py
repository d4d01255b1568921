"""The README's main command, end to end (dev-mode proofs), in a throwaway data dir:
two chains, market history, service, signed + proven scores, bridge, L2 oracle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

COPROC = str(Path(sys.executable).parent / "coproc")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_json(tmp_path: Path) -> None:
    done = subprocess.run(
        [COPROC, "--data-dir", str(tmp_path), "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)
    assert len(rows) >= 3
    for row in rows:
        # the Rust guest's journal, the Python reference's signed score and the score
        # the L2 RiskOracle stored (read back) are three independent paths
        assert row["journal_score"] == row["signed_score"] == row["onchain_score"]
        assert 0 <= row["journal_score"] <= 10_000
        assert row["anchor"] == row["block"] + 2
        assert row["dev_mode"] is True
        assert row["max_ltv_bps"] == 8000 * (10_000 - row["onchain_score"]) // 10_000
        # posted by the service (destination l2): the batch's L2 storeLeaves transaction
        assert row["tx"].startswith("0x") and len(row["tx"]) == 66
    # one batch receipt for all subjects (one results root, one storeLeaves), a leaf each
    assert len({row["batch"] for row in rows}) == 1 and len({row["tx"] for row in rows}) == 1
    assert sorted(row["leaf_index"] for row in rows) == list(range(len(rows)))
    assert len({row["subject"] for row in rows}) == len(rows)
    assert len({row["journal_score"] for row in rows}) > 1  # scores depend on the subject
    # the devnet was stopped at the end
    record = json.loads((tmp_path / "demo" / "devnet" / "l1.state.json").read_text() or "{}")
    assert record is not None
    devnet = tmp_path / "demo" / "devnet" / "devnet.json"
    assert not devnet.exists()
