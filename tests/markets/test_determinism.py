"""The simulation is deterministic from its seed: two builds of a small configuration
give the same sampled block hashes (hence the same states and transactions) and the
same record; another seed gives other blocks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from coprocessor.dev.markets.cache import build
from coprocessor.dev.markets.simulate import SimConfig

SMALL = SimConfig(
    aave_borrowers=12,
    morpho_borrowers=4,
    epochs=4,
    blocks_per_epoch=12,
    rate_change_epoch=2,
    periodic_sample_every=2,
)
TIMINGS = {"build_seconds", "state_bytes"}


def built(config: SimConfig, target: Path) -> tuple[list[str], dict[str, Any]]:
    build(config, target, lambda _m: None)
    state = json.loads((target / "state.json").read_text())
    meta = json.loads((target / "markets.json").read_text())
    return sorted(h for h, _ in state["historical_states"]), {
        k: v for k, v in meta.items() if k not in TIMINGS
    }


def test_same_seed_same_chain_other_seed_other_chain(tmp_path: Path) -> None:
    hashes_a, meta_a = built(SMALL, tmp_path / "a")
    hashes_b, meta_b = built(SMALL, tmp_path / "b")
    assert hashes_a == hashes_b
    assert meta_a == meta_b
    assert len(hashes_a) == len(meta_a["samples"]) >= 5
    hashes_c, _ = built(replace(SMALL, seed=SMALL.seed + 1), tmp_path / "c")
    assert set(hashes_c).isdisjoint(hashes_a)
