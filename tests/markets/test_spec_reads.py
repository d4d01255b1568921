"""Protocol reads in the spec language, end to end on the simulated markets: ``coproc
index --spec --subjects`` records every slot the reads load into one bundle, the
features computed from that verified bundle alone equal the protocols' own views
(``Pool.getUserAccountData``, the tokens' ``balanceOf``, AaveOracle, ``Morpho.position``,
MorphoBalancesLib through MorphoLens, the oracle) for every borrower at blocks around
liquidations and the rate change; a bundle missing a slot the read needs, any changed
byte, and a deployment of another version are refused with their rule codes."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from pathlib import Path
from typing import Any

import pytest
from bundle_checks import single_hex_changes_rejected
from locations import REPO
from markets.markets_support import Markets
from markets.spec_support import (
    INT32_MAX,
    aave_read,
    aave_spec,
    aave_views,
    feature,
    index,
    morpho_read,
    morpho_spec,
    morpho_views,
    q16,
    ratio,
    raw_values,
    spec,
)

from coprocessor.chain.bundle import VerifiedBundle
from coprocessor.chain.bundle_v2 import VerifiedBundleV2
from coprocessor.cli.main import main
from coprocessor.errors import UserInputError
from coprocessor.index.indexer import Read, index_reads
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.scoring import batch, features, pipeline
from coprocessor.scoring.models import model as models


def judged_blocks(markets: Markets) -> list[int]:
    """Right before and after the first liquidation, before and after the rate-strategy
    change, and the end."""
    by_reason = {s["reason"]: s["block"] for s in markets.meta["samples"]}
    before = min(b for r, b in by_reason.items() if r.startswith("liquidation-before"))
    after = min(b for r, b in by_reason.items() if r.startswith("liquidation-after"))
    blocks = [before, after, by_reason["rate-change-before"], by_reason["rate-change-after"]]
    return [*blocks, by_reason["end"]]


def test_aave_features_equal_the_protocol_views(
    markets: Markets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = [b["address"] for b in markets.borrowers("aave")] + [markets.meta["liquidator"]]
    every_field = aave_spec(markets)
    sample = features.load(REPO / "models" / "aave-v3-health.features.json")
    model = models.load(REPO / "models" / "aave-v3-health.json")
    with_debt = unhealthy = 0
    for block in judged_blocks(markets):
        verified, summary = index(markets, capsys, tmp_path, every_field, users, block)
        assert summary["subjects"] == len(users) and summary["block"] == block
        views = aave_views(markets, users, block)
        batched = batch.run(verified, sample, model, users, block=block).results
        for user, in_batch in zip(users, batched, strict=True):
            want = views[user]
            assert raw_values(verified, every_field, user, block) == want, f"{user} at {block}"
            # the sample spec's features through the pipeline, converted by the judge
            debt, collateral = (
                q16(want["total_debt_base"], 11),
                q16(want["total_collateral_base"], 11),
            )
            expected = [
                q16(want["health_factor"], 18, 0, 655360),
                q16(want["liquidation_threshold"], 4, 0, 65536),
                debt,
                collateral,
                q16(want["price_WETH"], 11),
                q16(want["variable_debt_USDC"], 9),
                ratio(debt, collateral, 0, 655360),
            ]
            scored = pipeline.run(verified, sample, model, user, block)
            assert list(scored.features.values) == expected, f"{user} at {block}"
            assert in_batch == scored  # the batch (one index of the bundle) gives the same
            with_debt += want["total_debt_base"] > 0
            unhealthy += want["health_factor"] < 10**18
    assert with_debt > 100 and unhealthy > 0


def test_morpho_features_equal_the_protocol_views(
    markets: Markets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = [b["address"] for b in markets.borrowers("morpho")]
    unhealthy = 0
    for block in judged_blocks(markets):
        every_field = morpho_spec(markets, block)
        verified, _ = index(markets, capsys, tmp_path, every_field, users, block)
        views = morpho_views(markets, users, block)
        for user in users:
            got = raw_values(verified, every_field, user, block)
            assert got == views[user], f"{user} at {block}"
            unhealthy += got["healthy_0"] == 0 or got["healthy_1"] == 0
        vector = pipeline.feature_vector(verified, features.normalize(every_field), users[0], block)
        assert list(vector.values) == [
            q16(views[users[0]][f["name"]], 0) for f in every_field["features"]
        ]
    assert unhealthy > 0


def test_block_offset_reads_the_earlier_block(
    markets: Markets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = judged_blocks(markets)[:2]
    assert after - before == 2
    then = {**aave_read(markets, "health_factor"), "block_offset": 2}
    feats = [
        feature("now", aave_read(markets, "health_factor"), 18),
        feature("then", then, 18),
    ]
    spec_obj = spec("offset", feats)
    users = [b["address"] for b in markets.borrowers("aave")[:40]]
    verified, _ = index(markets, capsys, tmp_path, spec_obj, users, after)
    assert [h.number for h in verified.headers] == [before, before + 1, after]
    now, earlier = aave_views(markets, users, after), aave_views(markets, users, before)
    changed = 0
    for user in users:
        got = raw_values(verified, spec_obj, user, after)
        assert got == {"now": now[user]["health_factor"], "then": earlier[user]["health_factor"]}
        changed += got["now"] != got["then"]
    assert changed > 0


def test_a_read_far_below_the_anchor_is_proven_by_a_history_hop(
    markets: Markets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--anchor`` writes a bundle v2: the reads at the request block, tied to a later
    anchor by an EIP-2935 hop; the features equal the views at the request block."""
    block, end = judged_blocks(markets)[3], judged_blocks(markets)[-1]
    assert 1 < end - block <= 8191
    sample = features.load(REPO / "models" / "aave-v3-health.features.json")
    users = [b["address"] for b in markets.borrowers("aave")[:20]]
    verified, _ = index(
        markets, capsys, tmp_path, sample.to_json(), users, block, ["--anchor", str(end)]
    )
    assert isinstance(verified, VerifiedBundleV2)
    assert verified.anchor.number == end and verified.hops
    assert block in {h.number for h in verified.headers}
    assert block + 1 not in {h.number for h in verified.headers}  # tied by a hop
    views = aave_views(markets, users, block)
    for user in users:
        got = pipeline.feature_vector(verified, sample, user, block).values[0]
        assert got == q16(views[user]["health_factor"], 18, 0, 655360)


def test_a_spec_v2_series_samples_a_protocol_read(
    markets: Markets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spec v2 series over the health factor at four periodic blocks 1,010 apart
    (one bundle v2: the samples tied by hops): its min and last equal the views'."""
    by_reason = {s["reason"]: s["block"] for s in markets.meta["samples"]}
    samples = [by_reason[f"periodic epoch {e}"] for e in (60, 70, 80, 90)]
    assert {b - a for a, b in itertools.pairwise(samples)} == {1010}
    read = aave_read(markets, "health_factor")
    feats = [
        {**feature(op, read, 18), "max": 655360, "series": {"samples": 4, "every": 1010, "op": op}}
        for op in ("min", "last")
    ]
    spec_obj = spec("series", feats, version=2)
    users = [b["address"] for b in markets.borrowers("aave")[:10]]
    extra = ["--anchor", str(by_reason["end"])]
    verified, _ = index(markets, capsys, tmp_path, spec_obj, users, samples[-1], extra)
    parsed = features.normalize(spec_obj)
    views = [aave_views(markets, users, block) for block in samples]
    for user in users:
        healths = [q16(v[user]["health_factor"], 18, 0, 655360) for v in views]
        got = pipeline.feature_vector(verified, parsed, user, samples[-1]).values
        assert list(got) == [min(healths), healths[-1]], user


def both_protocols(markets: Markets, block: int) -> tuple[dict[str, Any], list[str]]:
    """A spec with an Aave and a Morpho read, and one borrower of each."""
    morpho_b = markets.borrowers("morpho")[0]
    feats = [
        feature("health", aave_read(markets, "health_factor")),
        feature("usdc_debt", aave_read(markets, "variable_debt", markets.meta["tokens"]["USDC"])),
        feature("borrowed", morpho_read(markets, morpho_b["market"], "borrow_assets", block)),
    ]
    return spec("both", feats), [markets.borrowers("aave")[0]["address"], morpho_b["address"]]


def test_any_single_byte_change_of_a_protocol_bundle_is_rejected(
    markets: Markets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block = judged_blocks(markets)[0]
    spec_obj, users = both_protocols(markets, block)
    verified, _ = index(markets, capsys, tmp_path, spec_obj, users, block)
    aave_user, morpho_user = users
    market = markets.borrowers("morpho")[0]["market"]
    assert (
        raw_values(verified, spec_obj, aave_user, block)["health"]
        == (aave_views(markets, [aave_user], block)[aave_user]["health_factor"])
    )
    k = sorted(markets.meta["morpho"]["markets"]).index(market)
    assert (
        raw_values(verified, spec_obj, morpho_user, block)["borrowed"]
        == (morpho_views(markets, [morpho_user], block)[morpho_user][f"borrow_assets_{k}"])
    )
    obj = verified.bundle.to_json()
    single_hex_changes_rejected(obj, seed=1503)


def rebuilt(
    markets: Markets, store_path: Path, verified: VerifiedBundle, drop: tuple[bytes, bytes | None]
) -> VerifiedBundle:
    """The same reads at the same block with one slot (or, slot ``None``, one account)
    left out, proven again (from the store)."""
    (block,) = {a.block for a in verified.bundle.accounts}
    reads = [
        Read(a.address, tuple(s.slot for s in a.storage if (a.address, s.slot) != drop))
        for a in verified.bundle.accounts
        if drop != (a.address, None)
    ]

    async def run() -> VerifiedBundle:
        store = Store(store_path)
        try:
            async with RpcClient(markets.anvil.rpc) as rpc:
                return await index_reads(rpc, store, {block: reads}, anchor=block)
        finally:
            store.close()

    return asyncio.run(run())


def test_a_bundle_without_a_slot_the_read_needs_is_refused(
    markets: Markets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block = judged_blocks(markets)[0]
    spec_obj, users = both_protocols(markets, block)
    parsed = features.normalize(spec_obj)
    verified, _ = index(markets, capsys, tmp_path, spec_obj, users[:1], block)
    morpho_bundle, _ = index(markets, capsys, tmp_path, spec_obj, users[1:], block)
    assert pipeline.feature_vector(verified, parsed, users[0], block).values[0] > 0
    slots = [(a.address, s.slot) for a in verified.bundle.accounts for s in a.storage]
    pool = bytes.fromhex(markets.meta["aave"]["pool"][2:])
    chosen = [(pool, bytes(32)), *random.Random(7).sample(slots, 5)]
    for address, slot in chosen:
        smaller = rebuilt(markets, tmp_path / "data" / "coproc.sqlite", verified, (address, slot))
        with pytest.raises(UserInputError) as caught:
            pipeline.feature_vector(smaller, parsed, users[0], block)
        text = str(caught.value)
        assert re.match(
            r"\[F018\] feature '(health|usdc_debt|borrowed)': the bundle has no slot", text
        )
        assert f"0x{slot.hex()} of 0x{address.hex()} at block {block}" in text
    # the Morpho read needs the IRM's account (its code hash)
    irm = bytes.fromhex(markets.meta["morpho"]["irm"][2:])
    store = tmp_path / "data" / "coproc.sqlite"
    smaller = rebuilt(markets, store, morpho_bundle, (irm, None))
    with pytest.raises(
        UserInputError, match=r"^\[F018\] feature 'borrowed': the bundle has no read"
    ):
        pipeline.feature_vector(smaller, parsed, users[1], block)


def test_another_morpho_build_is_refused_when_indexing_and_scoring(
    markets: Markets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block = judged_blocks(markets)[-1]
    spec_obj, users = both_protocols(markets, block)
    verified, _ = index(markets, capsys, tmp_path, spec_obj, users[1:], block)
    wrong = spec_obj["features"][2]["read"]["irm_code_hash"]
    spec_obj["features"][2]["read"]["morpho_code_hash"] = wrong  # another build's hash
    with pytest.raises(UserInputError) as caught:
        pipeline.feature_vector(verified, features.normalize(spec_obj), users[1], block)
    assert str(caught.value).startswith("[P004] feature 'borrowed': 0x"), caught.value
    assert "is not morpho-blue 1.0.0" in str(caught.value)
    (tmp_path / "again").mkdir()
    path = tmp_path / "again" / "spec.json"
    path.write_text(__import__("json").dumps(spec_obj))
    argv = ["--data-dir", str(tmp_path / "data"), "index", "--rpc", markets.anvil.rpc]
    argv += ["--spec", str(path), "--subject", users[1], "--block", str(block)]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "again" / "b.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "[P004]" in err and "morpho-blue 1.0.0" in err, err
    assert not (tmp_path / "again" / "b.json").exists()


def test_another_aave_pool_revision_is_refused_when_indexing(
    markets: Markets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Pool whose slot 0 says another revision (what a v3.1+ Pool stores) is refused
    by name; the chain is put back afterwards (anvil snapshot)."""
    node, pool = markets.node, markets.meta["aave"]["pool"]
    snapshot = node.call("evm_snapshot")
    try:
        node.call("anvil_setStorageAt", pool, "0x" + "00" * 32, "0x" + f"{3:064x}")
        node.call("evm_mine")
        head = node.block_number()
        feats = [feature("health", aave_read(markets, "health_factor"), 18)]
        path = tmp_path / "spec.json"
        path.write_text(__import__("json").dumps(spec("v31", feats)))
        user = markets.borrowers("aave")[0]["address"]
        argv = ["--data-dir", str(tmp_path / "data"), "index", "--rpc", markets.anvil.rpc]
        argv += ["--spec", str(path), "--subject", user, "--block", str(head)]
        capsys.readouterr()
        assert main([*argv, "--out", str(tmp_path / "b.json")]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "[P004]" in err and "revision 3" in err, err
        assert "aave-v3.0" in err
    finally:
        assert node.call("evm_revert", snapshot) is True
    assert node.view(pool, "POOL_REVISION()", ["uint256"])[0] == 1
    assert INT32_MAX == 2**31 - 1
