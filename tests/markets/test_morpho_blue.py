"""Morpho Blue is the judge: positions computed from proven storage must equal
``Morpho.position`` and ``Morpho.market``, the periphery library MorphoBalancesLib
(expected market balances and borrow assets, interest accrued to the block's time
through the IRM) and the oracle's ``price()``; health must agree with whether Morpho
itself lets the liquidator liquidate the position at that block."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from markets.markets_support import Markets
from markets.proven import addr, read_all

from coprocessor.chain.keccak import keccak256
from coprocessor.chain.proofs import Account
from coprocessor.errors import ToolError, UserInputError
from coprocessor.scoring.protocols import morpho_blue
from coprocessor.scoring.protocols.storage import StaticStorage, StorageSource

PARAMS = "(address,address,address,address,uint256)"


def code_hash(markets: Markets, address: str, block: int) -> bytes:
    """keccak256 of the code the node serves (what a spec would name)."""
    code = markets.node.call("eth_getCode", address, hex(block))
    return keccak256(bytes.fromhex(code[2:]))


def position_readers(
    markets: Markets, borrowers: list[dict[str, Any]], block: int
) -> list[Callable[[StorageSource], Awaitable[morpho_blue.MorphoPosition]]]:
    """One read per borrower, with the code hashes the node serves at ``block``."""
    meta = markets.meta
    morpho = addr(meta["morpho"]["morpho"])
    m_hash = code_hash(markets, meta["morpho"]["morpho"], block)
    i_hash = code_hash(markets, meta["morpho"]["irm"], block)

    def reader(
        b: dict[str, Any],
    ) -> Callable[[StorageSource], Awaitable[morpho_blue.MorphoPosition]]:
        market_id = bytes.fromhex(meta["morpho"]["markets"][b["market"]]["id"][2:])
        return lambda s: morpho_blue.read_position(
            s, morpho, market_id, addr(b["address"]), morpho_code_hash=m_hash, irm_code_hash=i_hash
        )

    return [reader(b) for b in borrowers]


def params_of(market: dict[str, Any]) -> tuple[Any, ...]:
    return (
        market["loan_token"],
        market["collateral_token"],
        market["oracle"],
        market["irm"],
        market["lltv"],
    )


def test_positions_equal_morpho_views_at_every_sampled_block(
    markets: Markets, tmp_path: Path
) -> None:
    meta = markets.meta
    morpho = meta["morpho"]["morpho"]
    lens = meta["morpho"]["lens"]
    markets_by_name = meta["morpho"]["markets"]
    borrowers = markets.borrowers("morpho")
    checked = unhealthy = 0
    for block in markets.sample_blocks():
        readers = position_readers(markets, borrowers, block)
        positions, rounds = read_all(markets.anvil.rpc, tmp_path / "store.sqlite", block, readers)
        assert rounds <= 3
        requests: list[tuple[str, str, list[str], tuple[Any, ...]]] = []
        for b in borrowers:
            market = markets_by_name[b["market"]]
            market_id = bytes.fromhex(market["id"][2:])
            params = params_of(market)
            requests += [
                (
                    morpho,
                    "position(bytes32,address)",
                    ["uint256", "uint128", "uint128"],
                    (market_id, b["address"]),
                ),
                (morpho, "market(bytes32)", ["uint128"] * 6, (market_id,)),
                (
                    lens,
                    f"expectedMarketBalances(address,{PARAMS})",
                    ["uint256"] * 4,
                    (morpho, params),
                ),
                (
                    lens,
                    f"expectedBorrowAssets(address,{PARAMS},address)",
                    ["uint256"],
                    (morpho, params, b["address"]),
                ),
                (
                    lens,
                    f"expectedSupplyAssets(address,{PARAMS},address)",
                    ["uint256"],
                    (morpho, params, b["address"]),
                ),
                (market["oracle"], "price()", ["uint256"], ()),
                (
                    morpho,
                    "idToMarketParams(bytes32)",
                    ["address", "address", "address", "address", "uint256"],
                    (market_id,),
                ),
            ]
        answers = markets.node.views(requests, block)
        for k, (b, p) in enumerate(zip(borrowers, positions, strict=True)):
            rows = answers[7 * k : 7 * k + 7]
            assert all(row is not None for row in rows)
            pos, mkt, expected, borrow, supply, price, params = (tuple(r or ()) for r in rows)
            where = f"{b['address']} at block {block}"
            assert (p.supply_shares, p.borrow_shares, p.collateral) == pos, where
            s = p.stored
            assert (
                s.total_supply_assets,
                s.total_supply_shares,
                s.total_borrow_assets,
                s.total_borrow_shares,
                s.last_update,
                s.fee,
            ) == mkt, where
            e = p.expected
            assert (
                e.total_supply_assets,
                e.total_supply_shares,
                e.total_borrow_assets,
                e.total_borrow_shares,
            ) == expected, where
            assert p.borrow_assets == borrow[0], where
            assert p.supply_assets == supply[0], where
            assert p.oracle_price == price[0], where
            assert p.params.lltv == params[4], where
            checked += 1
            unhealthy += not p.healthy
    assert checked >= 60 * len(markets.sample_blocks())
    assert unhealthy > 0


def test_health_agrees_with_morpho_liquidate(markets: Markets, tmp_path: Path) -> None:
    """At the blocks right before liquidations: a position is unhealthy exactly when
    Morpho's own ``liquidate`` (simulated from the liquidator at that block) does not
    revert with "position is healthy"."""
    meta = markets.meta
    morpho = meta["morpho"]["morpho"]
    markets_by_name = meta["morpho"]["markets"]
    borrowers = [b for b in markets.borrowers("morpho")]
    blocks = [s["block"] for s in meta["samples"] if s["reason"].startswith("liquidation-before")]
    assert blocks
    seen = {True: 0, False: 0}
    for block in blocks:
        readers = position_readers(markets, borrowers, block)
        positions, _ = read_all(markets.anvil.rpc, tmp_path / "store.sqlite", block, readers)
        for b, p in zip(borrowers, positions, strict=True):
            if p.borrow_shares == 0:
                continue
            verdict = liquidate_reverts_healthy(
                markets, morpho, markets_by_name[b["market"]], b["address"], block
            )
            assert verdict == p.healthy, f"{b['address']} at block {block}"
            seen[p.healthy] += 1
    assert seen[True] > 0 and seen[False] > 0


def liquidate_reverts_healthy(
    markets: Markets, morpho: str, market: dict[str, Any], user: str, block: int
) -> bool:
    """Whether Morpho refuses a 1-unit liquidation because the position is healthy."""
    from coprocessor.dev.markets.node import calldata

    data = calldata(
        f"liquidate({PARAMS},address,uint256,uint256,bytes)", params_of(market), user, 1, 0, b""
    )
    try:
        markets.node.call(
            "eth_call", {"from": markets.meta["liquidator"], "to": morpho, "data": data}, hex(block)
        )
    except ToolError as exc:  # the node's revert message is the verdict
        if "position is healthy" in str(exc):
            return True
        raise
    return False


def test_another_morpho_build_is_refused(markets: Markets, tmp_path: Path) -> None:
    meta = markets.meta
    morpho = meta["morpho"]["morpho"]
    b = markets.borrowers("morpho")[0]
    market_id = bytes.fromhex(meta["morpho"]["markets"][b["market"]]["id"][2:])
    block = markets.sample_blocks()[-1]
    i_hash = code_hash(markets, meta["morpho"]["irm"], block)
    with pytest.raises(UserInputError, match=r"is not morpho-blue 1\.0\.0"):
        read_all(
            markets.anvil.rpc,
            tmp_path / "s.sqlite",
            block,
            [
                lambda s: morpho_blue.read_position(
                    s,
                    addr(morpho),
                    market_id,
                    addr(b["address"]),
                    morpho_code_hash=b"\x01" * 32,
                    irm_code_hash=i_hash,
                )
            ],
        )


def test_unknown_market_is_refused() -> None:
    morpho = b"\x11" * 20
    market_id = b"\x22" * 32
    storage = StaticStorage({}, {morpho: Account(0, 0, b"\0" * 32, b"\0" * 32)}, 0)
    # every slot reads as zero: the parameters hash to another id
    storage.values = {(morpho, s): 0 for s in _all_slots(market_id, b"\x33" * 20)}
    with pytest.raises(UserInputError, match="does not exist"):
        asyncio.run(
            morpho_blue.read_position(
                storage,
                morpho,
                market_id,
                b"\x33" * 20,
                morpho_code_hash=b"\0" * 32,
                irm_code_hash=b"\0" * 32,
            )
        )


def _all_slots(market_id: bytes, user: bytes) -> list[int]:
    from coprocessor.chain.slots import mapping_slot, nested_mapping_slot

    position = nested_mapping_slot(morpho_blue.POSITION_SLOT, market_id, user)
    market = mapping_slot(morpho_blue.MARKET_SLOT, market_id)
    params = mapping_slot(morpho_blue.ID_TO_MARKET_PARAMS_SLOT, market_id)
    return (
        [position, position + 1] + [market + k for k in range(3)] + [params + k for k in range(5)]
    )
