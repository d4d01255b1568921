"""Issue 20, item 6: a node whose state moves between two calls makes indexing fail
once, not the job for good.

The failure seen in the kill -9 tests (``indexing: ... missing trie node 0x...``,
``attempts 0``) was anvil answering ``eth_getProof`` at its head block from the state
it was mining the next block into (another job's post being mined): the proof's root
is not the header's state root, the verifier finds no node hashing to that root, and
the job failed at once because a verification error counted as permanent. Here a
real anvil behind a proxy does exactly that, deterministically: before the first
``eth_getProof`` it mines a transaction and answers from the new head. The job is
retried (its error and ``attempts`` say so meanwhile) and ends done with the right
score; a node that always answers so fails the job only after its attempts, and says
how many there were."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from lying_proxy import LyingProxy, json_response
from service_support import (
    Chain,
    LiveService,
    chain_fixture,
    expected_score,
    service_config,
    wait_for,
)
from web3 import Web3

from coprocessor.service.client import Client

SUBJECT = "0x" + "5a" * 20


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("moved-chain"), "moved")


def proof_from_the_next_block(times: int | None) -> Any:
    """A proxy rule: for the first ``times`` ``eth_getProof`` requests (``None``: all),
    mine a block with a transfer first and answer from the new head, as anvil does when
    a block is mined while it computes the proof; every other call is forwarded."""

    async def rule(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
        calls = payload if isinstance(payload, list) else [payload]
        proofs = [c for c in calls if c.get("method") == "eth_getProof"]
        if proofs and (times is None or proxy.lies < times):
            accounts = (await proxy.forward(_call("eth_accounts", [])))["result"]
            transfer = {"from": accounts[0], "to": accounts[1], "value": "0x1"}
            sent = await proxy.forward(_call("eth_sendTransaction", [transfer]))
            receipt = _call("eth_getTransactionReceipt", [sent["result"]])
            while (await proxy.forward(receipt))["result"] is None:  # mined, not only sent
                await asyncio.sleep(0.01)
            for call in proofs:
                call["params"][2] = "latest"
            proxy.lies += 1
        return json_response(await proxy.forward(payload))

    return rule


def _call(method: str, params: list[Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def _run(chain: Chain, tmp_path: Path, times: int | None, **cfg: Any) -> tuple[Any, ...]:
    proxy = LyingProxy(chain.node.rpc).start()
    proxy.rule = proof_from_the_next_block(times)
    config = service_config(chain, tmp_path, **cfg)
    config["rpc_url"] = proxy.url
    svc = LiveService(config, tmp_path / "data")
    try:
        client = Client(svc.url, svc.add_key("moved"))
        job_id = client.request_score(SUBJECT, "svc-test", mode="signed")["id"]
        seen: list[dict[str, Any]] = []

        def finished() -> bool:
            job = client.job(job_id)
            seen.append(job)
            return job["state"] in ("done", "failed")

        wait_for(finished, 60, "the job finished")
        return seen, proxy.lies, (client.score(SUBJECT, "svc-test") if times else None)
    finally:
        svc.stop()
        proxy.stop()


def test_a_proof_from_the_next_block_is_retried_and_the_job_ends_done(
    chain: Chain, tmp_path: Path
) -> None:
    seen, lies, result = _run(chain, tmp_path, 1, backoff_seconds=1.0, max_attempts=3)
    assert lies == 1
    assert seen[-1]["state"] == "done", seen[-1]["error"]
    retrying = [j for j in seen if j["state"] == "indexing" and j["error"]]
    assert retrying, "the job was never seen waiting for its retry"
    assert retrying[0]["attempts"] == 1
    assert "missing trie node 0x" in retrying[0]["error"], retrying[0]["error"]
    assert retrying[0]["error"].startswith("indexing: the node's answers do not verify")
    # the score is of the block the job names, computed without the service
    assert result["score"] == expected_score(chain.w3, SUBJECT, result["block"])
    block = chain.w3.eth.get_block(result["block"])
    assert result["anchor"]["hash"] == Web3.to_hex(block["hash"])


def test_a_node_that_always_moves_fails_the_job_after_its_attempts(
    chain: Chain, tmp_path: Path
) -> None:
    seen, lies, _ = _run(chain, tmp_path, None, backoff_seconds=0.1, max_attempts=3)
    final = seen[-1]
    assert final["state"] == "failed"
    assert lies == 3  # one indexing run per attempt, each refused
    assert final["attempts"] == 3
    assert final["error"].endswith("(after 3 attempts)"), final["error"]
    assert "missing trie node 0x" in final["error"]
