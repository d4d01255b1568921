"""The demo's markets and spec (``coprocessor.dev.markets.demo_market``, what ``make
demo`` scores): at the block the demo scores, served as the demo serves it (new blocks
mined on top), every borrower's feature vector from a verified bundle of the spec's
protocol reads equals the vector the test computes from the protocols' own views
(``Pool.getUserAccountData``; ``Morpho.position``, MorphoLens, the oracle's ``price()``)
with its own Q16 arithmetic (docs/formats.md §3), and equals what the training script
turns those view values into (``scripts/train_model_v2_spec.py``'s ``vector``): the
rows the model was trained on are the vectors the spec computes."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from locations import REPO
from markets.markets_support import Markets
from markets.spec_support import INT32_MAX, aave_views, morpho_views, q16, ratio

from coprocessor.chain.bundle import verify_bundle
from coprocessor.cli.main import main
from coprocessor.dev.devnet import stop_pid
from coprocessor.dev.markets import demo_market
from coprocessor.dev.markets.node import Node
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models import reference

HEALTH_MAX = 10 * 65536
ANCESTORS = 2
#: morpho_views numbers the markets in sorted name order
MARKET_INDEX = {"wbtc": 0, "weth": 1}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Markets]:
    """The demo's markets served as the demo serves them (its node mines one block on
    top), with blocks up to the demo's anchor."""
    directory, meta = demo_market.ensure_demo_markets()
    anvil = demo_market.start_demo_node(directory, tmp_path_factory.mktemp("demo-markets"))
    try:
        node = Node(anvil.rpc)
        node.call("anvil_mine", hex(ANCESTORS))  # on top of the node's own first block
        yield Markets(anvil, node, meta)
    finally:
        stop_pid(anvil.pid)


def _script() -> Any:
    path = REPO / "scripts" / "train_model_v2_spec.py"
    spec = importlib.util.spec_from_file_location("train_model_v2_spec", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _mul(a: int, b: int) -> int:
    return (a * b + (1 << 15)) >> 16


def expected_vector(aave: dict[str, int], morpho: dict[str, int]) -> dict[str, int]:
    """The spec's features from the views' values, by formats.md §3 written out here."""
    out = {
        "aave_health": q16(aave["health_factor"], 18, 0, HEALTH_MAX),
        "aave_collateral_k": q16(aave["total_collateral_base"], 11),
        "aave_debt_k": q16(aave["total_debt_base"], 11),
        "aave_threshold": q16(aave["liquidation_threshold"], 4),
    }
    for prefix, k in MARKET_INDEX.items():
        out[f"{prefix}_health"] = q16(morpho[f"health_factor_{k}"], 18, 0, HEALTH_MAX)
        out[f"{prefix}_debt_k"] = q16(morpho[f"borrow_assets_{k}"], 9)
        out[f"{prefix}_max_borrow_k"] = q16(morpho[f"max_borrow_{k}"], 9)
    out["aave_capacity_k"] = _mul(out["aave_collateral_k"], out["aave_threshold"])
    out["morpho_debt_k"] = out["weth_debt_k"] + out["wbtc_debt_k"]
    out["morpho_capacity_k"] = out["weth_max_borrow_k"] + out["wbtc_max_borrow_k"]
    out["debt_k"] = out["aave_debt_k"] + out["morpho_debt_k"]
    out["capacity_k"] = out["aave_capacity_k"] + out["morpho_capacity_k"]
    out["health_factor"] = ratio(out["capacity_k"], out["debt_k"], 0, HEALTH_MAX)
    out["morpho_share"] = ratio(out["morpho_debt_k"], out["debt_k"], 0, 65536)
    assert all(0 <= v <= INT32_MAX for v in out.values())
    return out


def test_demo_features_equal_the_protocols_views(demo: Markets, tmp_path: Path) -> None:
    block = demo_market.demo_block(demo.meta)
    assert demo.node.block_number() == block + 1 + ANCESTORS
    users = [str(b["address"]).lower() for b in demo.meta["borrowers"]]
    assert {b["protocol"] for b in demo.meta["borrowers"]} == {"aave", "morpho"}
    spec_doc = demo_market.spec_for(demo.meta)
    spec_path, bundle_path = tmp_path / "spec.json", tmp_path / "bundle.json"
    spec_path.write_text(json.dumps(spec_doc))
    # a fresh data dir: no node cached by another run answers for this one
    argv = ["--data-dir", str(tmp_path / "data"), "index", "--rpc", demo.anvil.rpc]
    argv += ["--spec", str(spec_path)]
    argv += ["--subjects", ",".join(users), "--block", str(block)]
    assert main([*argv, "--ancestors", str(ANCESTORS), "--out", str(bundle_path)]) == 0
    verified = verify_bundle(json.loads(bundle_path.read_text()))
    assert verified.anchor.number == block + ANCESTORS
    spec = features.normalize(spec_doc)
    got = features.compute_bundle_many(spec, verified, users, block)

    aave, morpho = aave_views(demo, users, block), morpho_views(demo, users, block)
    train = _script()
    model = fmt.load(REPO / "models" / f"{demo_market.MODEL}.json")
    assert model.meta["features"] == list(spec.names)
    scores = []
    for user, vector in zip(users, got, strict=True):
        want = expected_vector(aave[user], morpho[user])
        assert dict(zip(spec.names, vector.values, strict=True)) == want, user
        # the training script's conversion of the same view values gives the same vector
        raw = {
            "aave_health": aave[user]["health_factor"],
            "aave_collateral_k": aave[user]["total_collateral_base"],
            "aave_debt_k": aave[user]["total_debt_base"],
            "aave_threshold": aave[user]["liquidation_threshold"],
        }
        for prefix, k in MARKET_INDEX.items():
            raw[f"{prefix}_health"] = morpho[user][f"health_factor_{k}"]
            raw[f"{prefix}_debt_k"] = morpho[user][f"borrow_assets_{k}"]
            raw[f"{prefix}_max_borrow_k"] = morpho[user][f"max_borrow_{k}"]
        assert train.vector(raw) == list(vector.values), user
        scores.append(reference.score(model, list(vector.values)))
    # a borrower with one position: the combined health factor is that position's own
    for user, vector in zip(users, got, strict=True):
        values = dict(zip(spec.names, vector.values, strict=True))
        own = [values["aave_health"], values["weth_health"], values["wbtc_health"]]
        assert abs(values["health_factor"] - min(own)) <= max(64, min(own) // 500), user
    assert len(set(scores)) > 1, scores  # the scores depend on the borrower
