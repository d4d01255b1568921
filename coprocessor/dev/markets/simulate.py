"""A seeded market simulation on the real protocols: price paths (drift, noise, jumps)
on the aggregators, Morpho's oracles and the Uniswap pool; borrowers who supply, borrow,
repay and add collateral; interest accruing over >= 10,000 blocks; a liquidator who calls
``Pool.liquidationCall`` and ``Morpho.liquidate`` whenever a position is unhealthy.

Everything random comes from one ``random.Random(seed)``: the same seed gives the same
transactions in the same blocks. The blocks to keep a state of (for proofs at old blocks)
are recorded with a reason: periodic, right before / after liquidations and around an
interest-rate-strategy change."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coprocessor.chain.keccak import keccak256
from coprocessor.dev.markets import aave, morpho, uniswap
from coprocessor.dev.markets.artifacts import compile_morpho
from coprocessor.dev.markets.node import Node, Tx, calldata

MAX_UINT = 2**256 - 1
RAY = aave.RAY
WAD = 10**18
BLOCK_SECONDS = 12
ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class SimConfig:
    """Size and seed of the simulation (the cache key includes all of it)."""

    seed: int = 20261201
    aave_borrowers: int = 200
    morpho_borrowers: int = 60
    epochs: int = 100
    blocks_per_epoch: int = 101
    actors_per_epoch: int = 16
    periodic_sample_every: int = 10
    max_liquidation_samples: int = 24
    rate_change_epoch: int = 50


RESERVES = (
    aave.ReserveSpec(
        "WETH",
        18,
        3000 * 10**8,
        8000,
        8250,
        10500,
        aave.RateModel(RAY * 80 // 100, 0, RAY * 33 // 1000, RAY * 80 // 100),
    ),
    aave.ReserveSpec(
        "WBTC",
        8,
        60000 * 10**8,
        7000,
        7500,
        10650,
        aave.RateModel(RAY * 45 // 100, 0, RAY * 4 // 100, RAY * 300 // 100),
    ),
    aave.ReserveSpec(
        "USDC",
        6,
        1 * 10**8,
        7700,
        8000,
        10450,
        aave.RateModel(RAY * 90 // 100, 0, RAY * 4 // 100, RAY * 60 // 100),
    ),
)
#: an eMode category for WETH and WBTC (LTV 85%, LT 88%, bonus 2%, no price source)
EMODE_CATEGORY = 1
EMODE = (EMODE_CATEGORY, 8500, 8800, 10200, "0x" + "00" * 20, "majors")
#: the USDC strategy switched to at ``rate_change_epoch`` (a governance rate change)
USDC_STEEP = aave.RateModel(RAY * 80 // 100, RAY * 1 // 100, RAY * 7 // 100, RAY * 120 // 100)
#: Morpho markets: (name, loan, collateral, LLTV)
MORPHO_MARKETS = (
    ("WETH/USDC", "USDC", "WETH", 86 * 10**16),
    ("WBTC/USDC", "USDC", "WBTC", 77 * 10**16),
)
#: yearly-ish volatility per epoch and jump behaviour by asset
VOL = {"WETH": 0.035, "WBTC": 0.03, "USDC": 0.001}
DRIFT = {"WETH": -0.002, "WBTC": -0.001, "USDC": 0.0}


def derived(label: str) -> str:
    """A deterministic address for a simulated actor."""
    return "0x" + keccak256(f"coproc-markets/{label}".encode())[12:].hex()


@dataclass
class Borrower:
    """One simulated borrower and what it holds."""

    address: str
    protocol: str  # "aave" or "morpho"
    collateral: list[str]
    debt: str
    market: str = ""  # Morpho market name
    borrowed: int = 0  # raw units of ``debt`` received so far
    rate_mode: int = 2  # Aave: 1 stable, 2 variable
    emode: int = 0  # Aave eMode category the borrower chose


@dataclass
class Sample:
    """A block whose state the cache keeps (eth_getProof works there)."""

    block: int
    reason: str


@dataclass
class SimResult:
    """What the simulation did (kept in the cache's markets.json)."""

    borrowers: list[Borrower] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    liquidations: dict[str, int] = field(default_factory=lambda: {"aave": 0, "morpho": 0})
    failed_liquidations: int = 0
    actions: int = 0
    prices: dict[str, list[int]] = field(default_factory=dict)


#: mines a block whose state is kept and returns its number (see cache.py)
Snapshot = Callable[[], int]


class MarketSim:
    """The simulation over a node with automine off and auto-impersonation on."""

    def __init__(
        self,
        node: Node,
        cache_dir: Path,
        config: SimConfig,
        snapshot: Snapshot,
        say: Callable[[str], None],
    ) -> None:
        self.node = node
        self.cache_dir = cache_dir
        self.config = config
        self.snapshot = snapshot
        self.say = say
        self.rng = random.Random(config.seed)
        self.admin = derived("admin")
        self.lp = derived("lp")
        self.liquidator = derived("liquidator")
        self.result = SimResult()
        self.prices = {r.symbol: r.price for r in RESERVES}
        self.tokens: dict[str, str] = {}
        self.aggregators: dict[str, str] = {}
        self.aave: aave.AaveMarket | None = None
        self.morpho: morpho.MorphoDeployment | None = None
        self.uniswap: uniswap.UniswapPool | None = None
        self.steep_strategy = ""

    # ----------------------------------------------------------------- set-up
    def fund(self, addresses: list[str]) -> None:
        """Ether for gas."""
        self.node.batch([("anvil_setBalance", [a, hex(10**24)]) for a in addresses])

    def deploy(self) -> None:
        """Tokens, aggregators, Aave, Morpho and its markets, the Uniswap pool."""
        node, admin = self.node, self.admin
        self.fund([admin, self.lp, self.liquidator])
        for spec in RESERVES:
            self.tokens[spec.symbol] = aave.deploy_token(node, admin, spec.symbol, spec.decimals)
            self.aggregators[spec.symbol] = morpho.deploy_aggregator(
                node, admin, self.cache_dir, spec.price, spec.symbol
            )
        self.aave = aave.deploy_aave(node, admin, RESERVES, self.tokens, self.aggregators)
        conf = self.aave.configurator
        node.send(
            [
                Tx(
                    admin,
                    conf,
                    calldata(
                        "setReserveStableRateBorrowing(address,bool)", self.tokens["USDC"], True
                    ),
                    "stable USDC",
                ),
                Tx(
                    admin,
                    conf,
                    calldata("setEModeCategory(uint8,uint16,uint16,uint16,address,string)", *EMODE),
                    "eMode category",
                ),
            ]
        )
        node.send(
            [
                Tx(
                    admin,
                    conf,
                    calldata(
                        "setAssetEModeCategory(address,uint8)", self.tokens[s], EMODE_CATEGORY
                    ),
                    f"eMode {s}",
                )
                for s in ("WETH", "WBTC")
            ]
        )
        self.steep_strategy = aave.deploy_strategy(
            node, admin, self.aave.provider, USDC_STEEP, "USDC steep"
        )
        self.morpho = morpho.deploy_morpho(node, admin, self.cache_dir)
        for name, loan, coll, lltv in MORPHO_MARKETS:
            morpho.create_market(
                node,
                admin,
                self.cache_dir,
                self.morpho,
                name,
                self.tokens[loan],
                self.tokens[coll],
                lltv,
                self.morpho_price(coll, loan),
            )
        helper = compile_morpho(self.cache_dir)["UniswapV3Helper"]["bytecode"]
        weth, usdc = self.tokens["WETH"], self.tokens["USDC"]
        self.uniswap = uniswap.deploy_uniswap(
            node, admin, helper, weth, usdc, self.raw_price("WETH", "USDC")
        )
        self.provide_liquidity()

    def raw_price(self, base: str, quote: str) -> float:
        """Raw units of ``quote`` per raw unit of ``base`` at the current prices."""
        dec = {r.symbol: r.decimals for r in RESERVES}
        return float(self.prices[base] / self.prices[quote] * 10.0 ** (dec[quote] - dec[base]))

    def morpho_price(self, collateral: str, loan: str) -> int:
        """Morpho oracle price: loan raw units per collateral raw unit, 1e36-scaled."""
        dec = {r.symbol: r.decimals for r in RESERVES}
        scaled: int = self.prices[collateral] * morpho.ORACLE_PRICE_SCALE * 10 ** dec[loan]
        return scaled // (self.prices[loan] * int(10 ** dec[collateral]))

    def units(self, symbol: str, usd: float) -> int:
        """Raw token units worth ``usd`` dollars now."""
        dec = {r.symbol: r.decimals for r in RESERVES}[symbol]
        return int(usd * 10**8 / self.prices[symbol] * 10**dec)

    def provide_liquidity(self) -> None:
        """The LP supplies to Aave and Morpho; the liquidator and the Uniswap helper are
        funded; everyone approves the protocols."""
        assert self.aave and self.morpho and self.uniswap
        pool, mo = self.aave.pool, self.morpho.morpho
        txs = []
        # liquidity in proportion to the borrowers: USDC utilisation ends up near 40%
        scale = max(1, self.config.aave_borrowers)
        supply = {"WETH": 12_000 * scale, "WBTC": 12_000 * scale, "USDC": 70_000 * max(scale, 10)}
        for sym, usd in supply.items():
            token = self.tokens[sym]
            amount = self.units(sym, usd)
            txs += [
                Tx(self.lp, token, calldata("mint(uint256)", amount * 2), f"mint {sym}"),
                Tx(self.lp, token, calldata("approve(address,uint256)", pool, MAX_UINT)),
                Tx(self.lp, token, calldata("approve(address,uint256)", mo, MAX_UINT)),
                Tx(
                    self.lp,
                    pool,
                    calldata("supply(address,uint256,address,uint16)", token, amount, self.lp, 0),
                    f"LP supply {sym}",
                ),
            ]
            big = self.units(sym, 500_000_000)
            txs += [
                Tx(self.liquidator, token, calldata("mint(uint256)", big)),
                Tx(self.liquidator, token, calldata("approve(address,uint256)", pool, MAX_UINT)),
                Tx(self.liquidator, token, calldata("approve(address,uint256)", mo, MAX_UINT)),
                Tx(self.admin, token, calldata("mint(address,uint256)", self.uniswap.helper, big)),
            ]
        for market in self.morpho.markets.values():
            txs.append(
                Tx(
                    self.lp,
                    mo,
                    calldata(
                        f"supply({morpho.MARKET_PARAMS},uint256,uint256,address,bytes)",
                        market.params,
                        self.units("USDC", 120_000 * max(2, self.config.morpho_borrowers // 2)),
                        0,
                        self.lp,
                        b"",
                    ),
                    f"LP supply {market.name}",
                )
            )
        self.node.send(txs)
        # full-range liquidity worth about $20M a side at the start
        liquidity = int(math.sqrt(self.units("WETH", 20_000_000) * self.units("USDC", 20_000_000)))
        self.node.send(
            [
                Tx(
                    self.admin,
                    self.uniswap.helper,
                    calldata(
                        "mint(int24,int24,uint128)", uniswap.MIN_TICK, uniswap.MAX_TICK, liquidity
                    ),
                    "uniswap mint",
                )
            ]
        )

    def open_positions(self) -> None:
        """Every borrower supplies collateral and borrows toward a random health factor."""
        assert self.aave and self.morpho
        cfg, rng = self.config, self.rng
        borrowers = []
        for i in range(cfg.aave_borrowers):
            roll = rng.random()
            coll = ["WETH"] if roll < 0.55 else ["WBTC"] if roll < 0.85 else ["WETH", "WBTC"]
            debt = "USDC" if rng.random() < 0.8 else ("WETH" if "WETH" not in coll else "WBTC")
            if debt in coll:
                debt = "USDC"
            borrower = Borrower(derived(f"aave/{i}"), "aave", coll, debt)
            choice = rng.random()
            if debt == "USDC" and choice < 0.15:
                borrower.rate_mode = 1  # stable rate
            elif debt != "USDC" and choice < 0.5:
                borrower.emode = EMODE_CATEGORY
            borrowers.append(borrower)
        names = list(self.morpho.markets)
        for j in range(cfg.morpho_borrowers):
            name = names[j % len(names)]
            collateral = name.split("/")[0]
            borrowers.append(Borrower(derived(f"morpho/{j}"), "morpho", [collateral], "USDC", name))
        self.fund([b.address for b in borrowers])
        txs = []
        spec = {r.symbol: r for r in RESERVES}
        for b in borrowers:
            usd = math.exp(rng.uniform(math.log(5_000), math.log(250_000)))
            hf = rng.uniform(1.08, 2.6)
            if b.protocol == "aave":
                weights = [spec[c].threshold for c in b.collateral]
                lt = sum(weights) / len(weights) / 10_000
                borrow_usd = usd * lt / hf
                ltv = sum(spec[c].ltv for c in b.collateral) / len(b.collateral) / 10_000
                borrow_usd = min(borrow_usd, usd * ltv * 0.97)
                for c in b.collateral:
                    amount = self.units(c, usd / len(b.collateral))
                    txs += self.aave_supply(b.address, c, amount)
                b.borrowed = self.units(b.debt, borrow_usd)
                txs.append(self.aave_borrow(b, b.borrowed))
                if b.emode:
                    txs.append(
                        Tx(
                            b.address,
                            self.aave.pool,
                            calldata("setUserEMode(uint8)", b.emode),
                            "setUserEMode",
                        )
                    )
                txs.append(
                    Tx(
                        b.address,
                        self.tokens[b.debt],
                        calldata("approve(address,uint256)", self.aave.pool, MAX_UINT),
                    )
                )
            else:
                market = self.morpho.markets[b.market]
                lltv = market.lltv / WAD
                borrow_usd = usd * lltv / hf
                amount = self.units(b.collateral[0], usd)
                b.borrowed = self.units("USDC", borrow_usd)
                txs += self.morpho_supply_collateral(b, amount)
                txs.append(self.morpho_borrow(b, b.borrowed))
                txs.append(
                    Tx(
                        b.address,
                        self.tokens["USDC"],
                        calldata("approve(address,uint256)", self.morpho.morpho, MAX_UINT),
                    )
                )
        self.node.send(txs)
        self.result.borrowers = borrowers

    def aave_supply(self, who: str, symbol: str, amount: int) -> list[Tx]:
        """Mint, approve and supply ``amount`` of ``symbol`` to Aave."""
        assert self.aave
        token = self.tokens[symbol]
        return [
            Tx(who, token, calldata("mint(uint256)", amount)),
            Tx(who, token, calldata("approve(address,uint256)", self.aave.pool, MAX_UINT)),
            Tx(
                who,
                self.aave.pool,
                calldata("supply(address,uint256,address,uint16)", token, amount, who, 0),
                f"supply {symbol}",
            ),
        ]

    def aave_borrow(self, b: Borrower, amount: int, must: bool = True) -> Tx:
        """A borrow of the borrower's debt asset at its rate mode (stable or variable)."""
        assert self.aave
        return Tx(
            b.address,
            self.aave.pool,
            calldata(
                "borrow(address,uint256,uint256,uint16,address)",
                self.tokens[b.debt],
                amount,
                b.rate_mode,
                0,
                b.address,
            ),
            f"borrow {b.debt}",
            must,
        )

    def repay(self, b: Borrower, amount: int) -> Tx:
        """Repay part of the borrower's debt (may fail: e.g. after a liquidation)."""
        assert self.aave and self.morpho
        if b.protocol == "aave":
            signature = "repay(address,uint256,uint256,address)"
            args: tuple[Any, ...] = (self.tokens[b.debt], amount, b.rate_mode, b.address)
            return Tx(b.address, self.aave.pool, calldata(signature, *args), "repay", False)
        market = self.morpho.markets[b.market]
        signature = f"repay({morpho.MARKET_PARAMS},uint256,uint256,address,bytes)"
        args = (market.params, amount, 0, b.address, b"")
        return Tx(b.address, self.morpho.morpho, calldata(signature, *args), "morpho repay", False)

    def morpho_borrow(self, b: Borrower, amount: int, must: bool = True) -> Tx:
        """Borrow ``amount`` loan tokens from the borrower's Morpho market."""
        assert self.morpho
        market = self.morpho.markets[b.market]
        return Tx(
            b.address,
            self.morpho.morpho,
            calldata(
                f"borrow({morpho.MARKET_PARAMS},uint256,uint256,address,address)",
                market.params,
                amount,
                0,
                b.address,
                b.address,
            ),
            "morpho borrow",
            must,
        )

    def morpho_supply_collateral(self, b: Borrower, amount: int) -> list[Tx]:
        """Mint, approve and supply collateral to the borrower's Morpho market."""
        assert self.morpho
        market = self.morpho.markets[b.market]
        token = market.collateral_token
        return [
            Tx(b.address, token, calldata("mint(uint256)", amount)),
            Tx(
                b.address, token, calldata("approve(address,uint256)", self.morpho.morpho, MAX_UINT)
            ),
            Tx(
                b.address,
                self.morpho.morpho,
                calldata(
                    f"supplyCollateral({morpho.MARKET_PARAMS},uint256,address,bytes)",
                    market.params,
                    amount,
                    b.address,
                    b"",
                ),
                "morpho supplyCollateral",
            ),
        ]

    # ------------------------------------------------------------------ epochs
    def move_prices(self, epoch: int) -> list[Tx]:
        """Next prices: log drift + noise, rare jumps, a crash at a third of the run."""
        assert self.morpho and self.uniswap
        rng = self.rng
        crash = epoch == self.config.epochs // 3
        for sym in ("WETH", "WBTC", "USDC"):
            step = DRIFT[sym] + rng.gauss(0, VOL[sym])
            if sym != "USDC" and rng.random() < 0.06:
                step += rng.gauss(-0.06, 0.05)
            if crash and sym != "USDC":
                step -= 0.22
            if sym == "USDC":
                step = max(-0.004, min(0.004, step))
                self.prices[sym] = int(10**8 * math.exp(step))
            else:
                self.prices[sym] = max(1, int(self.prices[sym] * math.exp(step)))
            self.result.prices.setdefault(sym, []).append(self.prices[sym])
        txs = [
            Tx(
                self.admin,
                self.aggregators[s],
                calldata("setAnswer(int256)", self.prices[s]),
                f"price {s}",
            )
            for s in self.prices
        ]
        for market in self.morpho.markets.values():
            loan, coll = market.name.split("/")[1], market.name.split("/")[0]
            txs.append(
                Tx(
                    self.admin,
                    market.oracle,
                    calldata("setPrice(uint256)", self.morpho_price(coll, loan)),
                    f"oracle {market.name}",
                )
            )
        target = self.raw_price("WETH", "USDC")
        if self.uniswap.token0 != self.tokens["WETH"]:
            target = 1 / target
        sqrt_target = uniswap.sqrt_price_x96(target)
        current = int(self.node.view(self.uniswap.pool, "slot0()", ["uint160"])[0])
        if sqrt_target != current:
            txs.append(
                Tx(
                    self.admin,
                    self.uniswap.helper,
                    calldata(
                        "swap(bool,int256,uint160)", sqrt_target < current, 10**40, sqrt_target
                    ),
                    "uniswap swap",
                    False,
                )
            )
        return txs

    def actions(self) -> list[Tx]:
        """A few borrowers act: borrow more, repay part, add collateral."""
        assert self.aave and self.morpho
        rng = self.rng
        live = [b for b in self.result.borrowers]
        actors = rng.sample(live, min(self.config.actors_per_epoch, len(live)))
        txs: list[Tx] = []
        for b in actors:
            roll = rng.random()
            self.result.actions += 1
            if roll < 0.35:
                top = 0.25 if b.protocol == "aave" else 0.2
                amount = int(b.borrowed * rng.uniform(0.05, top))
                borrow = self.aave_borrow if b.protocol == "aave" else self.morpho_borrow
                txs.append(borrow(b, amount, must=False))
                b.borrowed += amount
            elif roll < 0.7:
                txs.append(self.repay(b, int(b.borrowed * rng.uniform(0.1, 0.4))))
            elif b.protocol == "aave":
                c = rng.choice(b.collateral)
                txs += self.aave_supply(b.address, c, self.units(c, rng.uniform(1_000, 20_000)))
            else:
                usd = rng.uniform(1_000, 20_000)
                txs += self.morpho_supply_collateral(b, self.units(b.collateral[0], usd))
        return txs

    def unhealthy(self) -> list[Tx]:
        """The liquidator's scan: every position whose protocol would let it liquidate."""
        assert self.aave and self.morpho
        aave_b = [b for b in self.result.borrowers if b.protocol == "aave"]
        data = self.node.views(
            [
                (self.aave.pool, "getUserAccountData(address)", ["uint256"] * 6, (b.address,))
                for b in aave_b
            ]
        )
        txs = []
        for b, row in zip(aave_b, data, strict=True):
            if row is None or row[1] == 0 or row[5] >= WAD:
                continue
            coll = max(b.collateral, key=lambda c: self.prices[c])
            txs.append(
                Tx(
                    self.liquidator,
                    self.aave.pool,
                    calldata(
                        "liquidationCall(address,address,address,uint256,bool)",
                        self.tokens[coll],
                        self.tokens[b.debt],
                        b.address,
                        MAX_UINT,
                        False,
                    ),
                    "aave liquidation",
                    False,
                )
            )
        morpho_b = [b for b in self.result.borrowers if b.protocol == "morpho"]
        requests: list[tuple[str, str, list[str], tuple[Any, ...]]] = []
        for b in morpho_b:
            market = self.morpho.markets[b.market]
            requests.append(
                (
                    self.morpho.morpho,
                    "position(bytes32,address)",
                    ["uint256", "uint128", "uint128"],
                    (market.id, b.address),
                )
            )
            requests.append(
                (
                    self.morpho.lens,
                    f"expectedBorrowAssets(address,{morpho.MARKET_PARAMS},address)",
                    ["uint256"],
                    (self.morpho.morpho, market.params, b.address),
                )
            )
            requests.append((market.oracle, "price()", ["uint256"], ()))
        rows = self.node.views(requests)
        for k, b in enumerate(morpho_b):
            position, borrowed, price = rows[3 * k], rows[3 * k + 1], rows[3 * k + 2]
            if position is None or borrowed is None or price is None or position[1] == 0:
                continue
            market = self.morpho.markets[b.market]
            max_borrow = position[2] * price[0] // morpho.ORACLE_PRICE_SCALE * market.lltv // WAD
            if borrowed[0] > max_borrow:
                txs.append(
                    Tx(
                        self.liquidator,
                        self.morpho.morpho,
                        calldata(
                            f"liquidate({morpho.MARKET_PARAMS},address,uint256,uint256,bytes)",
                            market.params,
                            b.address,
                            0,
                            max(1, position[1] // 2),
                            b"",
                        ),
                        "morpho liquidation",
                        False,
                    )
                )
        return txs

    def sample(self, reason: str) -> None:
        """Mine an empty block whose state is kept (the state the transactions so far
        left, at the next block's time)."""
        self.result.samples.append(Sample(self.snapshot(), reason))

    def liquidate(self, epoch: int) -> None:
        """Send the liquidations (if any) in their own block, sampled before and after."""
        txs = self.unhealthy()
        if not txs:
            return
        keep = len([s for s in self.result.samples if s.reason.startswith("liquidation")])
        keep_it = keep < 2 * self.config.max_liquidation_samples
        if keep_it:
            self.sample(f"liquidation-before epoch {epoch}")
        receipts = self.node.send(txs)
        for tx, receipt in zip(txs, receipts, strict=True):
            ok = int(receipt["status"], 16) == 1
            if ok:
                self.result.liquidations["aave" if tx.label.startswith("aave") else "morpho"] += 1
            else:
                self.result.failed_liquidations += 1
        if keep_it:
            self.sample(f"liquidation-after epoch {epoch}")

    def run(self) -> SimResult:
        """Deploy, open the positions, then ``epochs`` epochs of prices, actions,
        liquidations and idle blocks."""
        assert self.config.blocks_per_epoch > 8
        self.say("deploying Aave v3, Morpho Blue, Uniswap v3")
        self.deploy()
        self.say(f"opening {self.config.aave_borrowers + self.config.morpho_borrowers} positions")
        self.open_positions()
        self.sample("positions opened")
        for epoch in range(self.config.epochs):
            start = self.node.block_number()
            if epoch == self.config.rate_change_epoch:
                self.change_rate_strategy()
            self.node.send(self.move_prices(epoch))
            self.node.send(self.actions())
            self.liquidate(epoch)
            if epoch % self.config.periodic_sample_every == 0:
                self.sample(f"periodic epoch {epoch}")
            used = self.node.block_number() - start
            self.node.call(
                "anvil_mine", hex(max(1, self.config.blocks_per_epoch - used)), hex(BLOCK_SECONDS)
            )
            if epoch % 10 == 9:
                self.say(
                    f"epoch {epoch + 1}/{self.config.epochs}: block "
                    f"{self.node.block_number()}, liquidations {self.result.liquidations}"
                )
        self.sample("end")
        return self.result

    def change_rate_strategy(self) -> None:
        """Governance swaps USDC's interest-rate strategy (sampled before and after)."""
        assert self.aave
        self.sample("rate-change-before")
        self.node.send(
            [
                Tx(
                    self.admin,
                    self.aave.configurator,
                    calldata(
                        "setReserveInterestRateStrategyAddress(address,address)",
                        self.tokens["USDC"],
                        self.steep_strategy,
                    ),
                    "rate strategy change",
                )
            ]
        )
        # the new strategy applies at the reserve's next update: poke it with a tiny supply
        self.node.send(self.aave_supply(self.lp, "USDC", 10**6))
        self.sample("rate-change-after")
