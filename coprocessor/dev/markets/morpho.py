"""Morpho Blue 1.0.0 (compiled from ``@morpho-org/morpho-blue`` with solc 0.8.19), its
``IrmMock`` (utilization-proportional rate: x% utilization is x% APR) and ``OracleMock``
from the same package, markets created by the owner, and the MorphoLens helper."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_abi.abi import encode

from coprocessor.chain.keccak import keccak256
from coprocessor.dev.markets import artifacts
from coprocessor.dev.markets.node import Node, Tx, calldata

MARKET_PARAMS = "(address,address,address,address,uint256)"
#: Morpho's oracle price scale (ConstantsLib.ORACLE_PRICE_SCALE)
ORACLE_PRICE_SCALE = 10**36


@dataclass
class MorphoMarket:
    """One Morpho Blue market: its parameters and id."""

    name: str
    loan_token: str
    collateral_token: str
    oracle: str
    irm: str
    lltv: int

    @property
    def params(self) -> tuple[str, str, str, str, int]:
        """The MarketParams tuple."""
        return (self.loan_token, self.collateral_token, self.oracle, self.irm, self.lltv)

    @property
    def id(self) -> bytes:
        """Morpho's market id: keccak256(abi.encode(marketParams))."""
        return keccak256(
            encode(["address", "address", "address", "address", "uint256"], list(self.params))
        )


@dataclass
class MorphoDeployment:
    """Morpho Blue, its markets and the lens."""

    morpho: str
    irm: str
    lens: str
    markets: dict[str, MorphoMarket] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form (kept in the cache's markets.json)."""
        out = asdict(self)
        for name, market in self.markets.items():
            out["markets"][name]["id"] = "0x" + market.id.hex()
        return out


def deploy_morpho(node: Node, owner: str, cache_dir: Path) -> MorphoDeployment:
    """Deploy Morpho (owner = ``owner``), enable the IRM mock, deploy the lens."""
    built = artifacts.compile_morpho(cache_dir)
    morpho = node.deploy(owner, built["Morpho"]["bytecode"], "(address)", owner, label="Morpho")
    irm = node.deploy(owner, built["IrmMock"]["bytecode"], label="IrmMock")
    lens = node.deploy(owner, built["MorphoLens"]["bytecode"], label="MorphoLens")
    node.send([Tx(owner, morpho, calldata("enableIrm(address)", irm), "enableIrm")])
    return MorphoDeployment(morpho, irm, lens)


def create_market(
    node: Node,
    owner: str,
    cache_dir: Path,
    deployment: MorphoDeployment,
    name: str,
    loan: str,
    collateral: str,
    lltv: int,
    price: int,
) -> MorphoMarket:
    """An OracleMock at ``price`` (1e36-scaled), the LLTV enabled, the market created."""
    built = artifacts.compile_morpho(cache_dir)
    oracle = node.deploy(owner, built["OracleMock"]["bytecode"], label=f"oracle {name}")
    market = MorphoMarket(name, loan, collateral, oracle, deployment.irm, lltv)
    enabled = node.view(deployment.morpho, "isLltvEnabled(uint256)", ["bool"], lltv)[0]
    txs = [Tx(owner, oracle, calldata("setPrice(uint256)", price), "setPrice")]
    if not enabled:
        txs.append(
            Tx(owner, deployment.morpho, calldata("enableLltv(uint256)", lltv), "enableLltv")
        )
    node.send(txs)
    node.send(
        [
            Tx(
                owner,
                deployment.morpho,
                calldata(f"createMarket({MARKET_PARAMS})", market.params),
                "createMarket",
            )
        ]
    )
    deployment.markets[name] = market
    return market


def deploy_aggregator(node: Node, owner: str, cache_dir: Path, answer: int, label: str) -> str:
    """A DevAggregator (Chainlink-style, 8 decimals) answering ``answer``."""
    built = artifacts.compile_morpho(cache_dir)
    return node.deploy(
        owner, built["DevAggregator"]["bytecode"], "(int256)", answer, label=f"aggregator {label}"
    )
