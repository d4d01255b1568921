"""Aave v3 (``@aave/core-v3`` 1.19.3) deployed from its Hardhat artifacts the way the
protocol deploys itself: PoolAddressesProvider, ACLManager, the logic libraries linked
into Pool and PoolConfigurator (both behind the provider's proxies), AaveOracle over
Chainlink-style aggregators, AToken / StableDebtToken / VariableDebtToken
implementations, DefaultReserveInterestRateStrategy, reserves through the configurator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from coprocessor.dev.markets import artifacts
from coprocessor.dev.markets.node import Node, Tx, calldata

RAY = 10**27
#: Aave's base currency on the devnet: USD with 8 decimals (as on Ethereum mainnet)
BASE_CURRENCY_UNIT = 10**8
LOGIC_LIBRARIES = (
    "SupplyLogic",
    "BorrowLogic",
    "LiquidationLogic",
    "EModeLogic",
    "BridgeLogic",
    "PoolLogic",
)
INIT_RESERVE = (
    "initReserves((address,address,address,uint8,address,address,address,address,"
    "string,string,string,string,string,string,bytes)[])"
)
STRATEGY_CTOR = "(address,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256)"


@dataclass(frozen=True)
class RateModel:
    """DefaultReserveInterestRateStrategy parameters (rays)."""

    optimal: int
    base: int
    slope1: int
    slope2: int

    def ctor_args(self, provider: str) -> tuple[Any, ...]:
        """Constructor arguments (stable-rate parameters fixed, stable borrowing off)."""
        return (
            provider,
            self.optimal,
            self.base,
            self.slope1,
            self.slope2,
            RAY * 5 // 100,
            RAY * 60 // 100,
            RAY * 2 // 100,
            RAY * 8 // 100,
            RAY * 20 // 100,
        )


@dataclass(frozen=True)
class ReserveSpec:
    """One reserve to list: its token and risk parameters (basis points)."""

    symbol: str
    decimals: int
    price: int  # base currency units (8 decimals)
    ltv: int
    threshold: int
    bonus: int
    rates: RateModel


@dataclass
class AaveMarket:
    """Addresses of one deployed Aave v3 market (all lowercase hex)."""

    provider: str
    acl_manager: str
    pool: str
    pool_impl: str
    configurator: str
    oracle: str
    data_provider: str
    libraries: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    aggregators: dict[str, str] = field(default_factory=dict)
    strategies: dict[str, str] = field(default_factory=dict)
    decimals: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form (kept in the cache's markets.json)."""
        return asdict(self)


def deploy_token(node: Node, admin: str, symbol: str, decimals: int) -> str:
    """Aave's own MintableERC20 mock (anyone may mint)."""
    art = artifacts.aave("MintableERC20", "mocks/tokens")
    return node.deploy(
        admin,
        art["bytecode"],
        "(string,string,uint8)",
        symbol,
        symbol,
        decimals,
        label=f"token {symbol}",
    )


def deploy_aave(
    node: Node,
    admin: str,
    reserves: Sequence[ReserveSpec],
    tokens: dict[str, str],
    aggregators: dict[str, str],
) -> AaveMarket:
    """Deploy and configure the market; ``tokens``/``aggregators`` by symbol."""
    art = artifacts.aave
    provider = node.deploy(
        admin,
        art("PoolAddressesProvider", "protocol/configuration")["bytecode"],
        "(string,address)",
        "coproc-devnet",
        admin,
        label="provider",
    )
    node.send([Tx(admin, provider, calldata("setACLAdmin(address)", admin), "setACLAdmin")])
    acl = node.deploy(
        admin,
        art("ACLManager", "protocol/configuration")["bytecode"],
        "(address)",
        provider,
        label="ACLManager",
    )
    node.send(
        [
            Tx(admin, provider, calldata("setACLManager(address)", acl), "setACLManager"),
            Tx(admin, acl, calldata("addPoolAdmin(address)", admin), "addPoolAdmin"),
            Tx(admin, acl, calldata("addEmergencyAdmin(address)", admin), "addEmergencyAdmin"),
        ]
    )
    libraries: dict[str, str] = {}
    for name in (*LOGIC_LIBRARIES, "ConfiguratorLogic"):
        libraries[name] = node.deploy(
            admin, art(name, "protocol/libraries/logic")["bytecode"], label=name
        )
    flash = art("FlashLoanLogic", "protocol/libraries/logic")
    libraries["FlashLoanLogic"] = node.deploy(
        admin, artifacts.link(flash, libraries), label="FlashLoanLogic"
    )
    pool_impl = node.deploy(
        admin,
        artifacts.link(art("Pool", "protocol/pool"), libraries),
        "(address)",
        provider,
        label="Pool",
    )
    configurator_impl = node.deploy(
        admin,
        artifacts.link(art("PoolConfigurator", "protocol/pool"), libraries),
        label="PoolConfigurator",
    )
    node.send(
        [
            Tx(admin, provider, calldata("setPoolImpl(address)", pool_impl), "setPoolImpl"),
            Tx(
                admin,
                provider,
                calldata("setPoolConfiguratorImpl(address)", configurator_impl),
                "setPoolConfiguratorImpl",
            ),
        ]
    )
    pool = str(node.view(provider, "getPool()", ["address"])[0]).lower()
    configurator = str(node.view(provider, "getPoolConfigurator()", ["address"])[0]).lower()
    symbols = [r.symbol for r in reserves]
    oracle = node.deploy(
        admin,
        art("AaveOracle", "misc")["bytecode"],
        "(address,address[],address[],address,address,uint256)",
        provider,
        [tokens[s] for s in symbols],
        [aggregators[s] for s in symbols],
        "0x" + "00" * 20,
        "0x" + "00" * 20,
        BASE_CURRENCY_UNIT,
        label="AaveOracle",
    )
    data_provider = node.deploy(
        admin,
        art("AaveProtocolDataProvider", "misc")["bytecode"],
        "(address)",
        provider,
        label="AaveProtocolDataProvider",
    )
    node.send(
        [
            Tx(admin, provider, calldata("setPriceOracle(address)", oracle), "setPriceOracle"),
            Tx(
                admin,
                provider,
                calldata("setPoolDataProvider(address)", data_provider),
                "setPoolDataProvider",
            ),
        ]
    )
    a_impl = node.deploy(
        admin, art("AToken", "protocol/tokenization")["bytecode"], "(address)", pool, label="AToken"
    )
    s_impl = node.deploy(
        admin,
        art("StableDebtToken", "protocol/tokenization")["bytecode"],
        "(address)",
        pool,
        label="StableDebtToken",
    )
    v_impl = node.deploy(
        admin,
        art("VariableDebtToken", "protocol/tokenization")["bytecode"],
        "(address)",
        pool,
        label="VariableDebtToken",
    )
    market = AaveMarket(
        provider,
        acl,
        pool,
        pool_impl,
        configurator,
        oracle,
        data_provider,
        libraries,
        dict(tokens),
        dict(aggregators),
    )
    inputs = []
    for r in reserves:
        strategy = deploy_strategy(node, admin, provider, r.rates, r.symbol)
        market.strategies[r.symbol] = strategy
        market.decimals[r.symbol] = r.decimals
        inputs.append(
            (
                a_impl,
                s_impl,
                v_impl,
                r.decimals,
                strategy,
                tokens[r.symbol],
                admin,
                "0x" + "00" * 20,
                f"Aave {r.symbol}",
                f"a{r.symbol}",
                f"Variable Debt {r.symbol}",
                f"variableDebt{r.symbol}",
                f"Stable Debt {r.symbol}",
                f"stableDebt{r.symbol}",
                b"",
            )
        )
    # one reserve per transaction: each deploys three token proxies (~2.5M gas)
    node.send(
        [
            Tx(admin, configurator, calldata(INIT_RESERVE, [one]), f"initReserves {one[9]}")
            for one in inputs
        ]
    )
    setup = []
    for r in reserves:
        asset = tokens[r.symbol]
        setup += [
            Tx(
                admin,
                configurator,
                calldata(
                    "configureReserveAsCollateral(address,uint256,uint256,uint256)",
                    asset,
                    r.ltv,
                    r.threshold,
                    r.bonus,
                ),
                f"collateral {r.symbol}",
            ),
            Tx(
                admin,
                configurator,
                calldata("setReserveBorrowing(address,bool)", asset, True),
                f"borrowing {r.symbol}",
            ),
            Tx(
                admin,
                configurator,
                calldata("setReserveFactor(address,uint256)", asset, 1000),
                f"reserve factor {r.symbol}",
            ),
        ]
    node.send(setup)
    return market


def deploy_strategy(node: Node, admin: str, provider: str, rates: RateModel, label: str) -> str:
    """One DefaultReserveInterestRateStrategy."""
    art = artifacts.aave("DefaultReserveInterestRateStrategy", "protocol/pool")
    return node.deploy(
        admin, art["bytecode"], STRATEGY_CTOR, *rates.ctor_args(provider), label=f"strategy {label}"
    )
