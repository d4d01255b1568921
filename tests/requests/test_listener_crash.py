"""Crash test: a real ``coproc serve`` process following RiskRequests is killed with
SIGKILL at random moments while borrowers open positions on the example pool (some of
them while the service is down, so it back-fills from its cursor when it restarts).
At the end every request has exactly one job, exactly one ``RequestFulfilled`` event,
the poster sent exactly one transaction per request (no second or reverted fulfil),
every position is open and every score equals an independent computation."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from requests_support import (
    deploy_requests,
    fulfilments,
    listening_config,
    open_position,
)
from service_backends import default_backend
from service_support import POSTER_KEY, Chain, chain_fixture, expected_score, wait_for
from test_service_crash import Proc, _active_states

POSITION_OPEN = 2
KILLS = 4


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("requests-crash-chain"), "req-crash")


def in_flight(states: Counter[str]) -> bool:
    return any(n for state, n in states.items() if state not in ("done", "failed"))


def test_kill_9_while_following_loses_no_request_and_fulfils_none_twice(
    chain: Chain, tmp_path: Path
) -> None:
    rng = random.Random(20261207)
    w3 = chain.w3
    deployed = deploy_requests(chain)
    cfg = listening_config(chain, deployed, tmp_path, workers=2, lease_seconds=1.5)
    cfg["max_attempts"] = 20
    config = tmp_path / "service.json"
    config.write_text(json.dumps(cfg))
    data = tmp_path / "data"
    poster = Account.from_key(POSTER_KEY).address
    nonce_before = w3.eth.get_transaction_count(poster)
    borrowers: list[str] = list(w3.eth.accounts[:8])  # 8 and 9 are the service's poster and signer
    from coprocessor.dev.devnet import free_port

    proc = Proc(config, data, free_port(), tmp_path / "serve.log")
    proc.start()
    request_ids: dict[str, bytes] = {}
    kills = 0
    seen_at_kills: Counter[str] = Counter()
    try:
        for i, borrower in enumerate(borrowers):
            if borrower not in request_ids:  # not already made while the service was down
                request_ids[borrower], _ = open_position(w3, deployed.pool, borrower)
            w3.provider.make_request("anvil_mine", [1])  # type: ignore[arg-type]
            if i % 2 == 1 and kills < KILLS:
                # kill while this request's job is in flight (its prover is slowed down
                # to 0.25 s), at a random moment of it
                wait_for(lambda: in_flight(_active_states(data)), 30, "a job")
                time.sleep(rng.uniform(0.0, 0.3))
                proc.kill9()
                kills += 1
                seen_at_kills.update(_active_states(data))
                # a request made while the service is down: back-filled on restart
                if i + 1 < len(borrowers):
                    nxt = borrowers[i + 1]
                    request_ids[nxt], _ = open_position(w3, deployed.pool, nxt)
                proc.start()
        assert kills == KILLS

        def all_open() -> bool:
            w3.provider.make_request("anvil_mine", [1])  # type: ignore[arg-type]
            states = [deployed.pool.functions.positionOf(b).call()[0] for b in borrowers]
            return all(s == POSITION_OPEN for s in states)

        wait_for(all_open, 120, "every position opened by its callback")
        # the job is marked done after its callback's transaction is confirmed: a
        # position can be open a moment before its job says so
        done = Counter({"done": len(borrowers)})
        wait_for(lambda: _active_states(data) == done, 60, "every job done")
        states = _active_states(data)
    finally:
        proc.stop()
    print("job states seen at kills:", dict(seen_at_kills))
    # the kills hit jobs in the middle of their stages, not only before or after
    assert in_flight(seen_at_kills)
    assert len(request_ids) == len(borrowers)
    assert states == Counter({"done": len(borrowers)})
    assert fulfilments(deployed.requests, deployed.first_block) == Counter(
        dict.fromkeys(request_ids.values(), 1)
    )
    assert w3.eth.get_transaction_count(poster) - nonce_before == len(borrowers)
    rows = default_backend(data).rows("SELECT request_id, status, job_id FROM onchain_requests")
    assert sorted(r for r, _, _ in rows) == sorted("0x" + r.hex() for r in request_ids.values())
    assert {s for _, s, _ in rows} == {"job"}
    assert len({j for _, _, j in rows}) == len(borrowers)
    for borrower, request_id in request_ids.items():
        stored = deployed.requests.functions.requestOf(request_id).call()
        assert stored[5] == expected_score(w3, borrower, stored[14]), borrower
