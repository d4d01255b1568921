"""Aave v3 is the judge: account data computed from proven storage must equal
``Pool.getUserAccountData`` at the same block, exactly, for every simulated borrower at
every sampled block (right before/after liquidations, around the rate-strategy
change, periodic), and the per-reserve balances and indexes must equal the aToken's,
the debt token's and the Pool's own views."""

from __future__ import annotations

from pathlib import Path

import pytest
from markets.markets_support import Markets
from markets.proven import addr, read_all

from coprocessor.errors import UserInputError
from coprocessor.scoring.protocols import aave_v3
from coprocessor.scoring.protocols.storage import StaticStorage, StorageSource

ACCOUNT_DATA = ["uint256"] * 6


def test_simulation_has_what_the_cross_check_needs(markets: Markets) -> None:
    meta = markets.meta
    assert len(markets.borrowers("aave")) >= 200
    assert len(meta["aave"]["tokens"]) >= 3
    assert len(meta["morpho"]["markets"]) >= 2
    assert meta["head"] >= 10_000
    assert meta["liquidations"]["aave"] > 0 and meta["liquidations"]["morpho"] > 0
    reasons = " ".join(s["reason"] for s in meta["samples"])
    for needed in (
        "liquidation-before",
        "liquidation-after",
        "rate-change-before",
        "rate-change-after",
        "periodic",
    ):
        assert needed in reasons


def test_account_data_equals_pool_at_every_sampled_block(markets: Markets, tmp_path: Path) -> None:
    pool = markets.meta["aave"]["pool"]
    provider = addr(markets.meta["aave"]["provider"])
    users = [b["address"] for b in markets.borrowers("aave")] + [markets.meta["liquidator"]]
    compared = with_debt = unhealthy = in_emode = with_stable = 0
    for block in markets.sample_blocks():
        expected = markets.node.views(
            [(pool, "getUserAccountData(address)", ACCOUNT_DATA, (u,)) for u in users], block
        )
        readers = [lambda s, u=u: aave_v3.read_account(s, provider, addr(u)) for u in users]
        accounts, rounds = read_all(markets.anvil.rpc, tmp_path / "store.sqlite", block, readers)
        assert rounds <= 6  # all users' reads share the rounds
        for user, account, want in zip(users, accounts, expected, strict=True):
            assert want is not None
            assert account.account_data() == tuple(want), f"{user} at block {block}"
            compared += 1
            with_debt += account.total_debt_base > 0
            unhealthy += account.total_debt_base > 0 and account.health_factor < 10**18
            in_emode += account.emode_category != 0 and account.total_debt_base > 0
            with_stable += any(p.stable_debt > 0 for p in account.positions)
    assert compared >= 200 * len(markets.sample_blocks())
    assert with_debt > 0 and unhealthy > 0  # liquidatable accounts were among those checked
    assert in_emode > 0 and with_stable > 0  # eMode users and stable-rate debt too


def test_balances_and_indexes_equal_the_protocol_views(markets: Markets, tmp_path: Path) -> None:
    meta = markets.meta
    provider = addr(meta["aave"]["provider"])
    users = [b["address"] for b in markets.borrowers("aave")[:40]]
    for block in markets.sample_blocks()[:: max(1, len(markets.sample_blocks()) // 6)]:
        readers = [lambda s, u=u: aave_v3.read_account(s, provider, addr(u)) for u in users]
        accounts, _ = read_all(markets.anvil.rpc, tmp_path / "store.sqlite", block, readers)
        requests = []
        for user, account in zip(users, accounts, strict=True):
            for p in account.positions:
                asset = "0x" + p.reserve.asset.hex()
                requests += [
                    ("0x" + p.reserve.a_token.hex(), "balanceOf(address)", ["uint256"], (user,)),
                    (
                        "0x" + p.reserve.a_token.hex(),
                        "scaledBalanceOf(address)",
                        ["uint256"],
                        (user,),
                    ),
                    (
                        "0x" + p.reserve.variable_debt_token.hex(),
                        "balanceOf(address)",
                        ["uint256"],
                        (user,),
                    ),
                    (
                        "0x" + p.reserve.stable_debt_token.hex(),
                        "balanceOf(address)",
                        ["uint256"],
                        (user,),
                    ),
                    (
                        meta["aave"]["pool"],
                        "getReserveNormalizedIncome(address)",
                        ["uint256"],
                        (asset,),
                    ),
                    (
                        meta["aave"]["pool"],
                        "getReserveNormalizedVariableDebt(address)",
                        ["uint256"],
                        (asset,),
                    ),
                    (meta["aave"]["oracle"], "getAssetPrice(address)", ["uint256"], (asset,)),
                ]
        answers = iter(markets.node.views(requests, block))
        now = markets.node.call("eth_getBlockByNumber", hex(block), False)["timestamp"]
        for account in accounts:
            for p in account.positions:
                got = [
                    p.a_token_balance,
                    p.scaled_a_token,
                    p.variable_debt,
                    p.stable_debt,
                    p.reserve.normalized_income(int(now, 16)),
                    p.reserve.normalized_debt(int(now, 16)),
                    p.price,
                ]
                want = [next(answers)[0] for _ in got]  # type: ignore[index]
                assert got == want, f"block {block}"


def test_reserve_data_equals_get_reserve_data(markets: Markets, tmp_path: Path) -> None:
    meta = markets.meta
    provider = addr(meta["aave"]["provider"])
    borrower = markets.borrowers("aave")[0]["address"]
    block = markets.sample_blocks()[-1]
    (account,), _ = read_all(
        markets.anvil.rpc,
        tmp_path / "s.sqlite",
        block,
        [lambda s: aave_v3.read_account(s, provider, addr(borrower))],
    )
    for p in account.positions:
        r = p.reserve
        want = markets.node.view(
            meta["aave"]["pool"],
            "getReserveData(address)",
            [
                "(uint256,uint128,uint128,uint128,uint128,uint128,uint40,uint16,address,address,"
                "address,address,uint128,uint128,uint128)"
            ],
            "0x" + r.asset.hex(),
            block=block,
        )[0]
        got = (
            r.configuration,
            r.liquidity_index,
            r.current_liquidity_rate,
            r.variable_borrow_index,
            r.current_variable_borrow_rate,
            r.current_stable_borrow_rate,
            r.last_update_timestamp,
            r.id,
            "0x" + r.a_token.hex(),
            "0x" + r.stable_debt_token.hex(),
            "0x" + r.variable_debt_token.hex(),
            "0x" + r.interest_rate_strategy.hex(),
        )
        assert got == tuple(x.lower() if isinstance(x, str) else x for x in want[:12])
    config = markets.node.view(
        meta["aave"]["pool"], "getUserConfiguration(address)", ["uint256"], borrower, block=block
    )[0]
    assert account.user_configuration == config


def test_another_pool_revision_is_refused(markets: Markets, tmp_path: Path) -> None:
    """A Pool whose stored revision differs (another Aave version, another layout)
    is refused by name, with the proven values otherwise unchanged."""
    meta = markets.meta
    provider = addr(meta["aave"]["provider"])
    user = addr(markets.borrowers("aave")[0]["address"])
    block = markets.sample_blocks()[-1]
    captured: list[StorageSource] = []

    async def keep(s: StorageSource) -> aave_v3.AaveAccount:
        captured.append(s)
        return await aave_v3.read_account(s, provider, user)

    read_all(markets.anvil.rpc, tmp_path / "s.sqlite", block, [keep])
    proven = captured[0]
    values = dict(proven.values)  # type: ignore[attr-defined]
    pool = addr(meta["aave"]["pool"])
    assert values[(pool, 0)] == aave_v3.POOL_REVISION
    values[(pool, 0)] = 3  # what a v3.1 Pool stores
    static = StaticStorage(values, dict(proven.accounts), proven.timestamp)  # type: ignore[attr-defined]
    import asyncio

    with pytest.raises(UserInputError, match=r"revision 3.*support"):
        asyncio.run(aave_v3.read_account(static, provider, user))
