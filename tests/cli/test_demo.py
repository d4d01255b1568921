"""The README's main command, end to end (dev-mode proofs), in a throwaway data dir:
two chains (L1 serving the demo's Aave v3 / Morpho Blue markets), service, model v2 over
spec reads, signed + proven scores in one batch receipt, bridge, L2 oracle. The scores
are checked against the protocols' own views in tests/markets/test_demo_markets.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from coprocessor.dev.markets import demo_market

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
    _, meta = demo_market.ensure_demo_markets()
    borrowers = {str(b["address"]).lower(): b for b in meta["borrowers"]}
    # every borrower of the demo markets, Aave v3 and Morpho Blue (both markets) alike
    assert sorted(row["subject"].lower() for row in rows) == sorted(borrowers)
    assert {row["protocol"] for row in rows} == {"aave", "morpho WETH/USDC", "morpho WBTC/USDC"}
    for row in rows:
        assert row["block"] == demo_market.demo_block(meta)
        want = borrowers[row["subject"].lower()]
        assert row["protocol"].split()[0] == want["protocol"]
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
    assert len({row["cycles"] for row in rows}) == 1 and rows[0]["cycles"] > 0
    assert len({row["subject"] for row in rows}) == len(rows)
    assert len({row["journal_score"] for row in rows}) > 1  # scores depend on the subject
    # the devnet was stopped at the end
    devnet = tmp_path / "demo" / "devnet" / "devnet.json"
    assert not devnet.exists()
