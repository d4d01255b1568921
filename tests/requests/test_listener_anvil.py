"""The service follows RiskRequests on a real anvil: the example pool's request event
becomes one job, is proven (the fake dev-mode prover of the service tests), fulfilled
through ``RiskRequests.fulfil`` and the pool's callback sets the LTV from a score that
matches an independent computation; a request for a model the service does not serve
is refused with a reason and no job; a request event reorged away (evm_snapshot /
evm_revert) is dropped and the re-mined one re-read into the same single job. Each
test runs once per database backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from requests_support import (
    BASE_LTV,
    PRICE,
    deploy_requests,
    fulfilments,
    listening_config,
    open_position,
    recorded,
)
from service_backends import Backend
from service_support import (
    POSTER_KEY,
    Chain,
    LiveService,
    chain_fixture,
    expected_score,
    http,
    wait_for,
)
from web3 import Web3
from web3.types import Wei

from coprocessor.onchain import contracts
from coprocessor.service.listener import idem_key

POSITION_OPEN = 2


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("requests-chain"), "requests")


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def test_request_event_to_job_to_fulfil_to_callback(
    chain: Chain, tmp_path: Path, backend: Backend
) -> None:
    w3 = chain.w3
    deployed = deploy_requests(chain)
    poster = Account.from_key(POSTER_KEY).address
    borrower = list(w3.eth.accounts)[1]
    cfg = listening_config(chain, deployed, tmp_path, database_url=backend.database_url)
    service = LiveService(cfg, tmp_path / "data")
    try:
        request_id, _ = open_position(w3, deployed.pool, borrower)
        w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]

        def opened() -> bool:
            state = deployed.pool.functions.positionOf(borrower).call()[0]
            return bool(state == POSITION_OPEN)

        wait_for(opened, 60, "the pool's callback")
        rows = recorded(backend)
    finally:
        service.stop()
    assert rows[_hex(request_id)]["status"] == "job"
    stored = deployed.requests.functions.requestOf(request_id).call()
    status, callback_status, score, fulfiller, result_block = (
        stored[2], stored[3], stored[5], stored[13], stored[14]
    )  # fmt: skip
    assert (status, callback_status) == (2, 1)  # Fulfilled, callback Done
    assert fulfiller == poster
    assert score == expected_score(w3, borrower, result_block)
    state, ltv, pool_score, rid = deployed.pool.functions.positionOf(borrower).call()
    assert (state, ltv, pool_score, rid) == (
        POSITION_OPEN, BASE_LTV * (10_000 - score) // 10_000, score, request_id
    )  # fmt: skip
    assert deployed.requests.functions.credits(poster).call() == PRICE
    assert fulfilments(deployed.requests, deployed.first_block) == {request_id: 1}


def test_unserved_model_refused_with_reason(chain: Chain, tmp_path: Path, backend: Backend) -> None:
    """A model registered and offered on-chain but not in the service's catalog."""
    w3 = chain.w3
    deployed = deploy_requests(chain)
    # once per backend on one chain: a model not registered yet each time
    other_model = Web3.keccak(text=f"a model this service does not serve ({backend.name})")
    owner = w3.eth.accounts[0]
    oracle = contracts.at(w3, "RiskOracle", chain.oracle)
    spec = Web3.keccak(text="its spec")
    for fn in (
        oracle.functions.registerModel(other_model, spec),
        deployed.requests.functions.offerModel(other_model, PRICE),
    ):
        assert w3.eth.wait_for_transaction_receipt(fn.transact({"from": owner}))["status"] == 1
    requester = list(w3.eth.accounts)[2]
    tx = deployed.requests.functions.request(
        requester, other_model, spec, (1, w3.eth.block_number), "0x" + "00" * 20, 0
    ).transact({"from": requester, "value": Wei(PRICE)})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    request_id = bytes(
        deployed.requests.events.ScoreRequested().process_receipt(receipt)[0]["args"]["requestId"]
    )
    w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    db = backend
    cfg = listening_config(chain, deployed, tmp_path, database_url=backend.database_url)
    service = LiveService(cfg, tmp_path / "data")
    try:
        row = wait_for(lambda: recorded(db).get(_hex(request_id)), 30, "the request read")
        metrics = http("GET", service.url + "/metrics")[2].decode()
    finally:
        service.stop()
    assert row["status"] == "refused" and row["job_id"] is None
    assert "unknown model " + _hex(other_model) in row["reason"]
    assert sum(backend.states().values()) == 0
    assert 'coproc_onchain_requests{chain="l1",status="refused"} 1' in metrics


def test_reorged_request_dropped_and_reread(chain: Chain, tmp_path: Path, backend: Backend) -> None:
    """Workers off (jobs stay queued): only the listener's bookkeeping is under test."""
    w3 = chain.w3
    deployed = deploy_requests(chain)
    a, b = list(w3.eth.accounts)[3], list(w3.eth.accounts)[4]
    db = backend
    cfg = listening_config(
        chain, deployed, tmp_path, confirmations=0, workers=0, database_url=backend.database_url
    )
    service = LiveService(cfg, tmp_path / "data")
    try:
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        first_a, first_block = open_position(w3, deployed.pool, a)
        only_b, _ = open_position(w3, deployed.pool, b)
        head = w3.eth.block_number
        wait_for(lambda: len(recorded(db)) == 2, 30, "both requests read")
        before = recorded(db)
        # the listener's cursor has passed both blocks before the reorg
        from coprocessor.service.listener import cursor_of

        wait_for(lambda: (cursor_of(service.runtime.db, "l1") or 0) >= head, 30, "cursor")
        old_time = w3.eth.get_block(first_block)["timestamp"]
        assert w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
        # the same request mined again at the same height (the pool's policy block is
        # block.number, part of the id) in a block with another timestamp: same id,
        # another block hash
        w3.provider.make_request("evm_setNextBlockTimestamp", [old_time + 7])  # type: ignore[arg-type]
        again_a, again_block = open_position(w3, deployed.pool, a)
        again_hash = "0x" + bytes(w3.eth.get_block(again_block)["hash"]).hex()
        w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]

        def reread() -> bool:
            row = recorded(db).get(_hex(first_a))
            return row is not None and row["hash"] == again_hash and row["status"] == "job"

        wait_for(reread, 30, "the re-mined request re-read")
        after = recorded(db)
        jobs = service.runtime.db.all_jobs()
    finally:
        service.stop()
    assert again_a == first_a
    assert before[_hex(first_a)]["block"] == first_block == again_block
    assert before[_hex(first_a)]["hash"] != again_hash
    assert after[_hex(only_b)]["status"] == "dropped"
    assert after[_hex(only_b)]["reason"] == "block reorged away"
    # one job per request id: the re-read request is taken up by its first job
    assert after[_hex(first_a)]["job_id"] == before[_hex(first_a)]["job_id"]
    assert len(jobs) == 2
    keys = {j.request["onchain"]["request_id"] for j in jobs}
    assert keys == {_hex(first_a), _hex(only_b)}
    by_key = {idem_key("l1", k) for k in keys}
    assert len(by_key) == len(jobs)
