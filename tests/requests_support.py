"""Shared pieces of the on-chain request tests (tests/requests/; no tests here): the
service test chain with RiskRequests and the example CallbackLendingPool deployed, a
service config that follows the requests contract, and reading what happened on-chain."""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service_backends import Backend
from service_support import Chain, model_hash, service_config, spec_hash
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import Wei

from coprocessor.onchain import contracts

PRICE = 10**15
TIMEOUT = 3600
BASE_LTV = 8000
CALLBACK_GAS = 100_000


@dataclass
class Deployed:
    requests: Contract
    pool: Contract
    first_block: int


def deploy_requests(chain: Chain) -> Deployed:
    """RiskRequests on the chain's oracle (the test model offered at ``PRICE``) and the
    example pool that requests a score when a position opens."""
    w3 = chain.w3
    owner = w3.eth.accounts[0]
    requests = contracts.deploy(w3, "RiskRequests", owner, chain.oracle, TIMEOUT, 500_000)
    tx = requests.functions.offerModel(model_hash(), PRICE).transact({"from": owner})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    pool = contracts.deploy(
        w3, "CallbackLendingPool", requests.address, model_hash(), spec_hash(), BASE_LTV,
        CALLBACK_GAS,
    )  # fmt: skip
    return Deployed(requests, pool, w3.eth.block_number)


def listening_config(
    chain: Chain, deployed: Deployed, tmp: Path, *, confirmations: int = 1, **extra: Any
) -> dict[str, Any]:
    follow = {
        "name": "l1",
        "requests": deployed.requests.address,
        "confirmations": confirmations,
        "poll_seconds": 0.05,
        "start_block": deployed.first_block,
    }
    return service_config(chain, tmp, request_chains=[follow], **extra)


def open_position(w3: Web3, pool: Contract, borrower: str) -> tuple[bytes, int]:
    """The borrower opens a position; returns the id of the request it made and the
    block of the transaction."""
    tx = pool.functions.openPosition().transact({"from": borrower, "value": Wei(PRICE)})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    events = pool.events.PositionRequested().process_receipt(receipt, errors=DISCARD)
    return bytes(events[0]["args"]["requestId"]), int(receipt["blockNumber"])


def fulfilments(requests: Contract, first_block: int) -> Counter[bytes]:
    """RequestFulfilled events per request id since ``first_block``."""
    events = requests.events.RequestFulfilled.get_logs(from_block=first_block)
    return Counter(bytes(e["args"]["requestId"]) for e in events)


def recorded(db: Path | Backend) -> dict[str, dict[str, Any]]:
    """The service's ``onchain_requests`` rows by request id (read-only); ``db``: the
    SQLite file, or a test's database backend."""
    query = (
        "SELECT request_id, block_number, block_hash, status, reason, job_id FROM onchain_requests"
    )
    keys = ("block", "hash", "status", "reason", "job_id")
    if isinstance(db, Backend):
        if db.name != "postgres":
            return recorded(db.data_dir / "service.sqlite")
        return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in db.rows(query)}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(query).fetchall()
    except sqlite3.OperationalError:  # the listener has not made its table yet
        return {}
    finally:
        conn.close()
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}
