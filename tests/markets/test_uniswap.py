"""The Uniswap v3 pool is a second price source: its observation ring (grown by the
build) gives a time-weighted tick over the last hour that agrees with the price the
simulation wrote to the WETH and USDC aggregators."""

from __future__ import annotations

import math

from markets.markets_support import Markets


def test_twap_follows_the_oracle_prices(markets: Markets) -> None:
    meta = markets.meta
    pool = meta["uniswap"]["pool"]
    block = markets.sample_blocks()[-1]
    slot0 = markets.node.view(
        pool,
        "slot0()",
        ["uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool"],
        block=block,
    )
    assert slot0[3] == 64  # observationCardinality
    window = 3600
    cumulatives = markets.node.view(
        pool, "observe(uint32[])", ["int56[]", "uint160[]"], [window, 0], block=block
    )[0]
    twap_tick = (cumulatives[1] - cumulatives[0]) // window
    weth = markets.node.view(
        meta["aave"]["aggregators"]["WETH"], "latestAnswer()", ["int256"], block=block
    )[0]
    usdc = markets.node.view(
        meta["aave"]["aggregators"]["USDC"], "latestAnswer()", ["int256"], block=block
    )[0]
    raw = weth / usdc * 10 ** (6 - 18)  # USDC raw units per WETH raw unit
    if meta["uniswap"]["token0"] != meta["tokens"]["WETH"]:
        raw = 1 / raw
    oracle_tick = math.log(raw) / math.log(1.0001)
    # the pool sits at the last written price; an hour's average stays within ~10%
    assert abs(twap_tick - oracle_tick) < math.log(1.10) / math.log(1.0001)
