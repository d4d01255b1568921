"""Reorg test on a real anvil: a job indexes block N, signs and starts proving; block N
is then reorged away (``evm_revert`` + a different block N). Before posting the job
sees that its anchor is no longer canonical, drops its outputs, re-indexes the new
block N and posts that: the oracle only ever receives the new block's result."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from service_backends import Backend
from service_support import (
    Chain,
    FakeProver,
    LiveService,
    chain_fixture,
    expected_score,
    model_hash,
    service_config,
    wait_for,
)
from web3 import Web3
from web3.types import Wei

from coprocessor.onchain import contracts
from coprocessor.service.client import Client
from coprocessor.zk import journal as journal_v1
from coprocessor.zk.prover import ProveRequest

SUBJECT = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"  # anvil account 2


class GatedProver(FakeProver):
    """Proves only once the test opens the gate; records the anchors it proved."""

    gate = threading.Event()
    entered = threading.Event()
    anchors: ClassVar[list[str]] = []

    def prove(self, request: ProveRequest, *args: Any, **kw: Any) -> dict[str, Any]:
        bundle = json.loads(request.bundle.read_text())
        if kw.get("on_progress") and not type(self).anchors:
            kw["on_progress"]({"event": "segment", "cycles": 1234})
        type(self).entered.set()
        assert type(self).gate.wait(60)
        type(self).anchors.append(bundle["anchor"]["hash"])
        return super().prove(request, *args, **kw)


def gated_prover() -> GatedProver:
    return GatedProver()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("svc-reorg-chain"), "svc-reorg")


def _send(w3: Web3, value: int) -> int:
    tx = w3.eth.send_transaction(
        {
            "from": Web3.to_checksum_address(SUBJECT),
            "to": list(w3.eth.accounts)[7],
            "value": Wei(value),
        }
    )
    return int(w3.eth.wait_for_transaction_receipt(tx)["blockNumber"])


def test_reorged_block_is_reindexed_and_never_posted(
    chain: Chain, tmp_path: Path, backend: Backend
) -> None:
    """Once per database backend (SQLite, PostgreSQL)."""
    w3 = chain.w3
    GatedProver.gate.clear()
    GatedProver.entered.clear()
    GatedProver.anchors.clear()
    first_block = w3.eth.block_number + 1
    cfg = service_config(
        chain,
        tmp_path,
        prover="import:test_service_reorg:gated_prover",
        database_url=backend.database_url,
    )
    service = LiveService(cfg, tmp_path / "data")
    try:
        client = Client(service.url, service.add_key())
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        block = _send(w3, 100 * 10**18)
        old_hash = "0x" + bytes(w3.eth.get_block(block)["hash"]).hex()
        old_score = expected_score(w3, SUBJECT, block)
        job = client.request_score(SUBJECT, "svc-test", block=block, mode="both", destination="l1")
        assert GatedProver.entered.wait(30)
        progress = wait_for(
            lambda: client.job(job["id"])["progress"].get("last_event"), 5, "progress"
        )
        assert progress == {"event": "segment", "cycles": 1234}
        assert client.job(job["id"])["state"] == "proving"
        signed_first = client.score(SUBJECT, "svc-test")
        assert signed_first["anchor"]["hash"] == old_hash

        # reorg: the same height, other contents
        assert w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
        assert _send(w3, 3000 * 10**18) == block
        new_hash = "0x" + bytes(w3.eth.get_block(block)["hash"]).hex()
        new_score = expected_score(w3, SUBJECT, block)
        assert new_hash != old_hash and new_score != old_score

        GatedProver.gate.set()
        done = client.wait(job["id"], timeout=60)
        assert done["reorgs"] == 1 and done["block"] == block
        assert done["score"] == new_score
        assert GatedProver.anchors == [old_hash, new_hash]

        # only the new block's result reached the oracle
        oracle = contracts.at(w3, "RiskOracle", chain.oracle)
        events = oracle.events.ScoreSubmitted.get_logs(from_block=first_block)
        assert len(events) == 1
        tx = w3.eth.get_transaction(events[0]["transactionHash"])
        journal = oracle.decode_function_input(tx["input"])[1]["journal"]
        fields = journal_v1.decode(bytes(journal))
        assert fields["anchorHash"] == new_hash and fields["score"] == new_score
        score, at, _ = oracle.functions.scoreOf(
            Web3.to_checksum_address(SUBJECT), model_hash()
        ).call()
        assert (score, at) == (new_score, block)

        # the latest result served is the new one, and its receipt checks out
        result = wait_for(
            lambda: (r := client.score(SUBJECT, "svc-test"))["anchor"]["hash"] == new_hash and r,
            5,
            "new result",
        )
        assert result["score"] == new_score and result["tx_hashes"]["l1"]
        # the job lives in the backend's database (not a SQLite file beside it)
        assert backend.states() == {"done": 1}
        if backend.name == "postgres":
            assert not (tmp_path / "data" / "service.sqlite").exists()
    finally:
        service.stop()
