"""The simulated lending market of the demo and of the sample model's training data.

Deploys ``contracts/src/demo`` (two DemoTokens, DemoPriceOracle, DemoLendingPool) on a
local anvil and runs it block by block: the oracle price follows a seeded random walk
with jumps, borrowers deposit/borrow/repay towards their own target loan-to-value, a
liquidator liquidates every position above 80% LTV. Same seed, same chain.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import numpy as np
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector

from coprocessor.errors import ToolError
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import features

NAME = "lending-risk-v1"
BORROWERS = 50
STEPS = 900
LOOKBACK = 8
PRICE0 = 2000 * 10**8  # debt units per collateral unit, 8 decimals
E18 = 10**18
GAS = 300_000
ARTIFACTS = REPO_ROOT / "contracts" / "out"
POSITIONS_SLOT = 2  # DemoLendingPool: mapping(address => Position) positions


# --- JSON-RPC over one keep-alive connection --------------------------------------


class Rpc:
    """Synchronous JSON-RPC with batches (answers matched by id)."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.conn = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=60)
        self.next_id = 0

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        if not calls:
            return []
        body = []
        for method, params in calls:
            self.next_id += 1
            body.append({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        self.conn.request("POST", "/", json.dumps(body), {"Content-Type": "application/json"})
        answers = json.loads(self.conn.getresponse().read())
        by_id = {a["id"]: a for a in answers}
        out = []
        for req in body:
            answer = by_id[req["id"]]
            if "error" in answer:
                raise ToolError(f"{req['method']}: {answer['error']}")
            out.append(answer["result"])
        return out

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]


def _selector(signature: str) -> bytes:
    return bytes(function_signature_to_4byte_selector(signature))


def calldata(signature: str, types: list[str], args: list[Any]) -> str:
    return "0x" + (_selector(signature) + encode(types, args)).hex()


def artifact_bytecode(name: str) -> str:
    path = ARTIFACTS / f"{name}.sol" / f"{name}.json"
    if not path.exists():
        raise ToolError(f"{path} missing: build the contracts (bash scripts/forge.sh build)")
    code: str = json.loads(path.read_text())["bytecode"]["object"]
    return code if code.startswith("0x") else "0x" + code


# --- the market ---------------------------------------------------------------------


@dataclass
class Market:
    rpc: Rpc
    deployer: str
    liquidator: str
    borrowers: list[str]
    collateral_token: str = ""
    debt_token: str = ""
    oracle: str = ""
    pool: str = ""
    nonces: dict[str, int] = field(default_factory=dict)

    def tx(self, sender: str, to: str, data: str) -> tuple[str, list[Any]]:
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        return (
            "eth_sendTransaction",
            [{"from": sender, "to": to, "data": data, "gas": hex(GAS), "nonce": hex(nonce)}],
        )

    def send_and_mine(self, txs: list[tuple[str, list[Any]]]) -> None:
        """Send one by one (anvil serves a batch concurrently, which would reorder the
        block's transactions run to run), mine one block, check nothing is left over."""
        for method, params in txs:
            self.rpc.call(method, *params)
        self.rpc.call("evm_mine")
        status = self.rpc.call("txpool_status")
        if int(status["pending"], 16) or int(status["queued"], 16):
            raise ToolError(f"transactions left unmined: {status}")


def deploy(rpc: Rpc, borrowers: int = BORROWERS, first_account: int = 0) -> Market:
    """Deploy the demo market from anvil account ``first_account`` with automine on (on
    a fresh chain and account 0: nonces 0..3, so the addresses are fixed). The next
    account liquidates, the ones after it borrow."""
    accounts = rpc.call("eth_accounts")[first_account:]
    market = Market(rpc, accounts[0], accounts[1], accounts[2 : 2 + borrowers])
    if len(market.borrowers) != borrowers:
        raise ToolError("anvil has too few accounts")

    def create(name: str, args_types: list[str], args: list[Any]) -> str:
        data = artifact_bytecode(name) + encode(args_types, args).hex()
        nonce = market.nonces.get(market.deployer, 0)
        market.nonces[market.deployer] = nonce + 1
        tx = {"from": market.deployer, "data": data, "gas": hex(5_000_000), "nonce": hex(nonce)}
        tx_hash = rpc.call("eth_sendTransaction", tx)
        receipt = None
        for _ in range(100):  # automine answers before the receipt is queryable
            receipt = rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                break
            time.sleep(0.02)
        if receipt is None or receipt["status"] != "0x1":
            raise ToolError(f"deploying {name} failed")
        address: str = receipt["contractAddress"]
        return address.lower()

    market.collateral_token = create("DemoToken", ["string", "string"], ["Demo Ether", "dETH"])
    market.debt_token = create("DemoToken", ["string", "string"], ["Demo Dollar", "dUSD"])
    market.oracle = create("DemoPriceOracle", ["uint256"], [PRICE0])
    market.pool = create(
        "DemoLendingPool",
        ["address", "address", "address"],
        [market.collateral_token, market.debt_token, market.oracle],
    )
    for account in [market.liquidator, *market.borrowers]:
        market.nonces[account] = int(rpc.call("eth_getTransactionCount", account, "latest"), 16)
    return market


def setup_balances(market: Market) -> None:
    """Mint collateral and debt tokens, approve the pool (one block)."""
    m, txs = market, []
    mint = "mint(address,uint256)"
    approve = calldata("approve(address,uint256)", ["address", "uint256"], [m.pool, 2**256 - 1])
    txs.append(
        m.tx(
            m.deployer, m.debt_token, calldata(mint, ["address", "uint256"], [m.pool, 10**9 * E18])
        )
    )
    txs.append(
        m.tx(
            m.deployer,
            m.debt_token,
            calldata(mint, ["address", "uint256"], [m.liquidator, 10**9 * E18]),
        )
    )
    txs.append(m.tx(m.liquidator, m.debt_token, approve))
    for b in m.borrowers:
        txs.append(
            m.tx(
                m.deployer,
                m.collateral_token,
                calldata(mint, ["address", "uint256"], [b, 10**6 * E18]),
            )
        )
        txs.append(
            m.tx(m.deployer, m.debt_token, calldata(mint, ["address", "uint256"], [b, 10**6 * E18]))
        )
        txs.append(m.tx(b, m.collateral_token, approve))
        txs.append(m.tx(b, m.debt_token, approve))
    m.send_and_mine(txs)


def position_slot(user: str) -> int:
    return features.Slot(POSITIONS_SLOT, (features.MappingStep(user),)).resolve(user)


@dataclass
class Borrower:
    address: str
    target_ltv: float
    activity: float  # chance to act in a block
    size: float  # collateral units when opening a position


def simulate(market: Market, rng: np.random.Generator, steps: int = STEPS) -> dict[str, Any]:
    """Run the market for ``steps`` blocks; returns summary counters."""
    m = market
    people = [
        Borrower(
            b,
            float(rng.uniform(0.55, 0.745)),
            float(rng.choice([0.02, 0.05, 0.15, 0.4])),
            float(np.exp(rng.normal(math.log(20), 0.7))),
        )
        for b in m.borrowers
    ]
    log_price = math.log(PRICE0)
    liquidations = 0
    slots = [hex(position_slot(p.address)) for p in people]
    for _step in range(steps):
        words = m.rpc.batch([("eth_getStorageAt", [m.pool, s, "latest"]) for s in slots])
        old_price = math.exp(log_price)
        shock = rng.normal(0, 0.02)
        if rng.random() < 0.04:
            shock += rng.normal(-0.08, 0.04)
        shock -= 0.03 * (log_price - math.log(PRICE0))  # mean reversion keeps the walk bounded
        log_price += shock
        price = int(math.exp(log_price))
        txs = [m.tx(m.deployer, m.oracle, calldata("setPrice(uint256)", ["uint256"], [price]))]
        for person, raw in zip(people, words, strict=True):
            w = int(raw, 16)
            collateral, debt = w & (2**128 - 1), w >> 128
            value = collateral * old_price / 1e8
            if debt and debt * 10_000 > value * 8_000:
                liquidations += 1
                txs.append(
                    m.tx(
                        m.liquidator,
                        m.pool,
                        calldata("liquidate(address)", ["address"], [person.address]),
                    )
                )
                continue
            if rng.random() >= person.activity:
                continue
            if collateral == 0:
                amount = int(person.size * rng.uniform(0.7, 1.3) * 1000) * 10**15
                txs.append(
                    m.tx(
                        person.address, m.pool, calldata("deposit(uint256)", ["uint256"], [amount])
                    )
                )
                continue
            ltv = debt / (collateral * price / 1e8)
            if ltv < person.target_ltv - 0.04:
                amount = int((person.target_ltv * collateral * price / 1e8 - debt) * 0.98)
                amount -= amount % 10**12
                if amount > 0:
                    txs.append(
                        m.tx(
                            person.address,
                            m.pool,
                            calldata("borrow(uint256)", ["uint256"], [amount]),
                        )
                    )
            elif ltv > person.target_ltv + 0.04:
                amount = int(debt - person.target_ltv * collateral * price / 1e8)
                txs.append(
                    m.tx(person.address, m.pool, calldata("repay(uint256)", ["uint256"], [amount]))
                )
        m.send_and_mine(txs)
    return {"liquidation_attempts": liquidations, "final_price": math.exp(log_price) / 1e8}


# --- the data set ---------------------------------------------------------------------


def spec_for(market: Market) -> features.Spec:
    """The feature spec of the sample model for this market's addresses."""
    position = {"base": POSITIONS_SLOT, "path": [{"mapping": "$subject"}]}
    second = {"base": POSITIONS_SLOT, "path": [{"mapping": "$subject"}, {"field": 1}]}
    pool, oracle = market.pool, market.oracle
    return features.normalize(
        {
            "format": "coproc-features",
            "version": 1,
            "name": NAME,
            "features": [
                {
                    "name": "collateral",
                    "read": {
                        "kind": "storage",
                        "address": pool,
                        "slot": position,
                        "bits": {"offset": 0, "size": 16},
                    },
                    "decimals": 18,
                    "min": 0,
                },
                {
                    "name": "debt_k",
                    "read": {
                        "kind": "storage",
                        "address": pool,
                        "slot": position,
                        "bits": {"offset": 16, "size": 16},
                    },
                    "decimals": 21,
                    "min": 0,
                },
                {
                    "name": "price_k",
                    "read": {"kind": "storage", "address": oracle, "slot": {"base": 0}},
                    "decimals": 11,
                    "min": 0,
                },
                {
                    "name": "price_k_8",
                    "read": {
                        "kind": "storage",
                        "address": oracle,
                        "slot": {"base": 0},
                        "block_offset": LOOKBACK,
                    },
                    "decimals": 11,
                    "min": 0,
                },
                {
                    "name": "liquidations",
                    "read": {
                        "kind": "storage",
                        "address": pool,
                        "slot": second,
                        "bits": {"offset": 8, "size": 4},
                    },
                    "min": 0,
                    "max": 100 * 65536,
                },
                {
                    "name": "collateral_value_k",
                    "combine": {"op": "mul", "args": ["collateral", "price_k"]},
                    "min": 0,
                },
                {
                    "name": "ltv",
                    "combine": {"op": "ratio", "args": ["debt_k", "collateral_value_k"]},
                    "min": 0,
                    "max": 4 * 65536,
                },
                {
                    "name": "price_change_k",
                    "combine": {"op": "sub", "args": ["price_k", "price_k_8"]},
                },
                {
                    "name": "price_ratio_8",
                    "combine": {"op": "ratio", "args": ["price_k", "price_k_8"]},
                    "min": 0,
                    "max": 4 * 65536,
                },
                {"name": "ltv_x_drop", "combine": {"op": "mul", "args": ["ltv", "price_change_k"]}},
            ],
        }
    )
