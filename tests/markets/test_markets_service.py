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
from service_support import OPERATOR_KEY, LiveService, guest_config, serve, wait_for

from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models import reference
from coprocessor.service.client import Client
from coprocessor.zk import prover

AAVE = "aave-v3-health"
MORPHO = "morpho-health"
OTHER_BUILD = "morpho-other-build"
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


def write_models(markets: Markets, models: Path) -> Path:
    """The sample Aave model, the Morpho one, and the Morpho one naming another build of
    Morpho (a wrong code hash)."""
    block = the_block(markets)
    market = markets.borrowers("morpho")[0]["market"]
    models.mkdir()
    for suffix in (".json", ".features.json"):
        shutil.copy(REPO / "models" / f"{AAVE}{suffix}", models / f"{AAVE}{suffix}")
    morpho = morpho_spec(markets, market, block)
    other = json.loads(json.dumps(morpho).replace(morpho_code(morpho), "0x" + "11" * 32))
    for name, doc in ((MORPHO, morpho), (OTHER_BUILD, {**other, "name": OTHER_BUILD})):
        (models / f"{name}.json").write_text(json.dumps({**MORPHO_MODEL, "name": name}))
        (models / f"{name}.features.json").write_text(json.dumps(doc))
    return models


def morpho_code(spec_doc: dict[str, Any]) -> str:
    """The Morpho code hash a spec names."""
    return str(spec_doc["features"][0]["read"]["morpho_code_hash"])


@pytest.fixture
def service(markets: Markets, tmp_path: Path) -> Iterator[LiveService]:
    models = write_models(markets, tmp_path / "models")
    yield from serve(guest_config(markets.anvil.rpc, models, tmp_path), tmp_path / "data")


@pytest.fixture
def batched(markets: Markets, tmp_path: Path) -> Iterator[LiveService]:
    """Batches of three (waiting long enough that they close full)."""
    models = write_models(markets, tmp_path / "models")
    config = guest_config(
        markets.anvil.rpc, models, tmp_path, batch_max_size=3, batch_wait_seconds=600.0
    )
    yield from serve(config, tmp_path / "data")


def aave_expected(markets: Markets, block: int, count: int = 1) -> list[tuple[str, int]]:
    """The ``count`` Aave borrowers with the lowest health factors at ``block`` (debt > 0),
    and their scores: the sample spec's features from the views, by the judge's
    arithmetic, through the model's reference."""
    users = [b["address"] for b in markets.borrowers("aave")]
    views = aave_views(markets, users, block)
    lowest = sorted(
        (u for u in users if views[u]["total_debt_base"] > 0),
        key=lambda u: views[u]["health_factor"],
    )[:count]
    model = fmt.load(REPO / "models" / f"{AAVE}.json")
    out = []
    for user in lowest:
        want = views[user]
        debt = q16(want["total_debt_base"], 11)
        collateral = q16(want["total_collateral_base"], 11)
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
        out.append((user, reference.score(model, vector)))
    return out


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
    markets: Markets, service: LiveService, capsys: pytest.CaptureFixture[str]
) -> None:
    block = the_block(markets)
    client = Client(service.url, service.add_key())
    expected = {AAVE: aave_expected(markets, block)[0], MORPHO: morpho_expected(markets, block)}
    jobs = {
        name: client.request_score(user, name, block=block, mode="both")
        for name, (user, _) in expected.items()
    }
    assert all(0 < score < 10_000 for _, score in expected.values())  # not saturated
    image_id = prover.host_image_id()
    operator = Account.from_key(OPERATOR_KEY).address
    cycles: dict[str, Any] = {}
    for name, (user, score) in expected.items():
        done = client.wait(jobs[name]["id"], timeout=1200)
        assert done["state"] == "done", done
        assert done["sampling"]["outcome"] == "match"  # the guest's score is the signed one
        cycles[name] = done["progress"]["cycles"]
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
    with capsys.disabled():
        print(f"\nguest cycles of one protocol-read job: {cycles}")


def test_protocol_spec_jobs_are_proven_in_one_batch(markets: Markets, batched: LiveService) -> None:
    """The batch's one bundle holds the slots the reads load for all three subjects."""
    block = the_block(markets)
    client = Client(batched.url, batched.add_key())
    expected = aave_expected(markets, block, 3)
    assert len({score for _, score in expected}) == 3  # a leaf in another's place would show
    ids = [client.request_score(u, AAVE, block=block, mode="proven")["id"] for u, _ in expected]
    image_id = prover.host_image_id()
    for (user, score), job_id in zip(expected, ids, strict=True):
        done = client.wait(job_id, timeout=1200)
        assert done["state"] == "done" and done["batch"]["size"] == 3
        assert int(done["batch"]["leaf"]["score"]) == score == done["score"]
        result = client.score(user, AAVE)
        journal = Client.verify_receipt(result, image_id, allow_dev=True)
        assert journal["score"] == score and journal["subject"] == user.lower()


def test_a_protocol_refusal_fails_the_job_at_once(markets: Markets, service: LiveService) -> None:
    """Another Morpho build than the spec names is the request's fault ([P004]): the job
    fails at indexing after one run, not retried as a node's bad answer would be."""
    client = Client(service.url, service.add_key())
    user = markets.borrowers("morpho")[0]["address"]
    job_id = client.request_score(user, OTHER_BUILD, block=the_block(markets))["id"]
    job = wait_for(lambda: (j := client.job(job_id))["state"] in ("done", "failed") and j)
    assert job["state"] == "failed" and job["attempts"] == 1
    assert job["error"].startswith("indexing: [P004]"), job["error"]
