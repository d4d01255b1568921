"""A worker whose lease ran out while it indexed (stalled, not dead) cannot make the job
fail: its late bundle file (of a newer head block) does not replace the one the job's
new holder committed, and its commit is fenced (``LeaseLost``). Before bundle files were
named by their anchor, the late write replaced the holder's file and scoring refused
it for good ("bundle file does not match the job's anchor")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import Chain, LiveService, chain_fixture, service_config
from web3 import Web3
from web3.types import Wei

from coprocessor.service.client import Client
from coprocessor.service.jobs import LeaseLost


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("stale-chain"), "stale")


def test_a_late_indexer_cannot_replace_the_holders_bundle(chain: Chain, tmp_path: Path) -> None:
    svc = LiveService(service_config(chain, tmp_path, workers=0), tmp_path / "data")
    try:
        rt = svc.runtime
        client = Client(svc.url, svc.add_key("stale"))
        subject = str(list(chain.w3.eth.accounts)[3]).lower()
        job_id = client.request_score(subject, "svc-test", mode="signed")["id"]
        stalled = rt.db.claim("stalled", 0.5)
        assert stalled is not None and stalled.id == job_id
        stalled = svc.call(rt.step(stalled, "stalled"))
        assert stalled.state == "indexing"
        # its lease runs out; another worker takes the job and indexes the head
        holder = rt.db.claim("holder", 30, now=time.time() + 5)
        assert holder is not None and holder.id == job_id
        holder = svc.call(rt.step(holder, "holder"))
        assert holder.state == "scoring"
        # a new head, then the stalled worker wakes and indexes it: fenced at its commit
        tx = chain.w3.eth.send_transaction(
            {"from": chain.w3.eth.accounts[0], "to": Web3.to_checksum_address(subject),
             "value": Wei(1)}
        )  # fmt: skip
        chain.w3.eth.wait_for_transaction_receipt(tx)
        with pytest.raises(LeaseLost):
            svc.call(rt.step(stalled, "stalled"))
        # the holder scores and signs the bundle it committed
        holder = svc.call(rt.step(holder, "holder"))
        assert holder.state == "signing"
        files = sorted((tmp_path / "data" / "jobs" / job_id).glob("bundle-*.json"))
        assert len(files) == 2  # both wrote, each its own file
        holder = svc.call(rt.step(holder, "holder"))
        assert holder.state == "done"
    finally:
        svc.stop()
