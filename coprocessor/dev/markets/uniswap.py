"""A Uniswap v3 pool (``@uniswap/v3-core`` 1.0.1 artifacts) as a second price source:
factory, one pool, full-range liquidity through UniswapV3Helper, and an observation
ring (its TWAP) grown to ``CARDINALITY`` slots."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from coprocessor.dev.markets import artifacts
from coprocessor.dev.markets.node import Node, Tx, calldata

FEE = 3000
#: full range for tick spacing 60
MIN_TICK, MAX_TICK = -887220, 887220
CARDINALITY = 64
Q96 = 2**96


@dataclass
class UniswapPool:
    """Addresses of the factory, the pool and its helper; token0 < token1."""

    factory: str
    pool: str
    helper: str
    token0: str
    token1: str

    def to_json(self) -> dict[str, Any]:
        """JSON form (kept in the cache's markets.json)."""
        return asdict(self)


def sqrt_price_x96(raw_price: float) -> int:
    """sqrtPriceX96 of a price given as token1 raw units per token0 raw unit."""
    return int(math.isqrt(int(raw_price * 2**64)) * 2**64)


def deploy_uniswap(
    node: Node,
    admin: str,
    helper_bytecode: str,
    token_a: str,
    token_b: str,
    raw_price_b_per_a: float,
) -> UniswapPool:
    """Factory, pool at the given price, observation ring, helper (not yet funded)."""
    factory = node.deploy(
        admin, artifacts.uniswap("UniswapV3Factory")["bytecode"], label="UniswapV3Factory"
    )
    node.send(
        [
            Tx(
                admin,
                factory,
                calldata("createPool(address,address,uint24)", token_a, token_b, FEE),
                "createPool",
            )
        ]
    )
    pool = str(
        node.view(factory, "getPool(address,address,uint24)", ["address"], token_a, token_b, FEE)[0]
    ).lower()
    token0, token1 = sorted([token_a, token_b])
    price = raw_price_b_per_a if token0 == token_a else 1 / raw_price_b_per_a
    node.send(
        [
            Tx(admin, pool, calldata("initialize(uint160)", sqrt_price_x96(price)), "initialize"),
            Tx(
                admin,
                pool,
                calldata("increaseObservationCardinalityNext(uint16)", CARDINALITY),
                "cardinality",
            ),
        ]
    )
    helper = node.deploy(admin, helper_bytecode, "(address)", pool, label="UniswapV3Helper")
    return UniswapPool(factory, pool, helper, token0, token1)
