"""The service serves protocol-read specs (docs/formats.md §3c) over the simulated
markets: HTTP jobs (mode both: signed, and proven by the real guest in dev mode) of the
sample Aave spec (models/aave-v3-health) and of a Morpho spec built here; the indexing
stage records the slots the reads load for the job's subject (service/indexing.py), the
jobs end done, and the signed score and the journal's equal the score computed without
the service: the protocols' views through eth_call (``Pool.getUserAccountData``, the
tokens' ``balanceOf``, AaveOracle; ``Morpho.position``, MorphoLens, ``price()``),
converted to Q16 by the judge's arithmetic, through the model's reference."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from locations import REPO
from markets.markets_support import Markets
from markets.spec_support import (
    aave_views,
    feature,
    morpho_read,
    morpho_views,
    q16,
    ratio,
    spec,
)
from service_support import OPERATOR_KEY, LiveService, guest_config, serve

from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models import reference
from coprocessor.service.client import Client
from coprocessor.zk import prover

AAVE = "aave-v3-health"
MORPHO = "morpho-health"
HEALTH_MAX = 655360
MORPHO_MODEL: dict[str, Any] = {
    "format": "coproc-model",
    "version": 1,
    "name": MORPHO,
    "scale_bits": 16,
    "input_dim": 4,
    "layers": [
        {
            "op": "dense",
            "in": 4,
            "out": 1,
            "weights": [[-131072, 0, 0, 196608]],
            "bias": [65536],
        },
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}


def the_block(markets: Markets) -> int:
    """Right before the first liquidation (positions near their limits)."""
    return min(int(s["block"]) for s in markets.meta["samples"] if s["reason"].startswith("liq"))


def morpho_spec(markets: Markets, market: str, block: int) -> dict[str, Any]:
    """Health factor, borrowed and max borrow (thousands of the loan token, 6 decimals)
    and their ratio, in one Morpho market."""
    health = {**feature("health", morpho_read(markets, market, "health_factor", block), 18)}
    feats = [
        {**health, "max": HEALTH_MAX},
        feature("borrowed_k", morpho_read(markets, market, "borrow_assets", block), 9),
        feature("max_borrow_k", morpho_read(markets, market, "max_borrow", block), 9),
        {
            "name": "use",
            "combine": {"op": "ratio", "args": ["borrowed_k", "max_borrow_k"]},
            "min": 0,
            "max": HEALTH_MAX,
        },
    ]
    return spec(MORPHO, feats)


@pytest.fixture
def service(markets: Markets, tmp_path: Path) -> Iterator[LiveService]:
    block = the_block(markets)
    market = markets.borrowers("morpho")[0]["market"]
    models = tmp_path / "models"
    models.mkdir()
    for suffix in (".json", ".features.json"):
        shutil.copy(REPO / "models" / f"{AAVE}{suffix}", models / f"{AAVE}{suffix}")
    (models / f"{MORPHO}.json").write_text(json.dumps(MORPHO_MODEL))
    (models / f"{MORPHO}.features.json").write_text(json.dumps(morpho_spec(markets, market, block)))
    yield from serve(guest_config(markets.anvil.rpc, models, tmp_path), tmp_path / "data")


def aave_expected(markets: Markets, block: int) -> tuple[str, int]:
    """The Aave borrower with the lowest health factor at ``block`` (debt > 0), and its
    score: the sample spec's features from the views, by the judge's arithmetic."""
    users = [b["address"] for b in markets.borrowers("aave")]
    views = aave_views(markets, users, block)
    user = min(
        (u for u in users if views[u]["total_debt_base"] > 0),
        key=lambda u: views[u]["health_factor"],
    )
    want = views[user]
    debt, collateral = q16(want["total_debt_base"], 11), q16(want["total_collateral_base"], 11)
    vector = [
        q16(want["health_factor"], 18, 0, HEALTH_MAX),
        q16(want["liquidation_threshold"], 4, 0, 65536),
        debt,
        collateral,
        q16(want["price_WETH"], 11),
        q16(want["variable_debt_USDC"], 9),
        ratio(debt, collateral, 0, HEALTH_MAX),
    ]
    assert 0 < vector[0] < HEALTH_MAX and 0 < vector[-1] < HEALTH_MAX  # not clamped
    return user, reference.score(fmt.load(REPO / "models" / f"{AAVE}.json"), vector)


def morpho_expected(markets: Markets, block: int) -> tuple[str, int]:
    """The first Morpho borrower and its score from Morpho's views (market index by the
    sorted names, as ``morpho_views`` keys them)."""
    borrower = markets.borrowers("morpho")[0]
    user = borrower["address"]
    k = sorted(markets.meta["morpho"]["markets"]).index(borrower["market"])
    want = morpho_views(markets, [user], block)[user]
    borrowed, limit = q16(want[f"borrow_assets_{k}"], 9), q16(want[f"max_borrow_{k}"], 9)
    vector = [
        q16(want[f"health_factor_{k}"], 18, 0, HEALTH_MAX),
        borrowed,
        limit,
        ratio(borrowed, limit, 0, HEALTH_MAX),
    ]
    assert 0 < vector[0] < HEALTH_MAX and borrowed > 0  # a live, unclamped position
    return user, reference.score(fmt.from_json(MORPHO_MODEL), vector)


def test_protocol_spec_jobs_are_indexed_signed_and_proven(
    markets: Markets, service: LiveService
) -> None:
    block = the_block(markets)
    client = Client(service.url, service.add_key())
    expected = {AAVE: aave_expected(markets, block), MORPHO: morpho_expected(markets, block)}
    jobs = {
        name: client.request_score(user, name, block=block, mode="both")
        for name, (user, _) in expected.items()
    }
    assert all(0 < score < 10_000 for _, score in expected.values())  # not saturated
    image_id = prover.host_image_id()
    operator = Account.from_key(OPERATOR_KEY).address
    for name, (user, score) in expected.items():
        done = client.wait(jobs[name]["id"], timeout=1200)
        assert done["state"] == "done", done
        assert done["sampling"]["outcome"] == "match"  # the guest's score is the signed one
        result = client.score(user, name)
        assert result["score"] == score and result["block"] == block
        Client.verify_signed(result, operator)
        journal = Client.verify_receipt(result, image_id, allow_dev=True)
        spec_doc = json.loads((service.data_dir.parent / "models" / f"{name}.features.json")
                              .read_text())  # fmt: skip
        assert journal["score"] == score
        assert journal["blockNumber"] == journal["anchorNumber"] == block
        assert journal["subject"].lower() == user.lower()
        assert (
            journal["featureSpecHash"]
            == "0x" + features.spec_hash(features.normalize(spec_doc)).hex()
        )
