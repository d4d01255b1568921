"""The service with the real zkVM prover (``coproc-host``, built by setup, dev mode:
the guest executes for real, the receipt is a fake whose seal the dev verifier takes):
signed + proven + posted on anvil. The guest's journal must equal what the service
computed, field by field, and the oracle must accept it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from service_support import (
    OPERATOR_KEY,
    Chain,
    LiveService,
    expected_score,
    guest_chain_fixture,
    model_hash,
    service_config,
)
from web3 import Web3

from coprocessor.onchain import contracts
from coprocessor.service.client import Client
from coprocessor.zk import prover

SUBJECT = "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65"  # anvil account 4


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from guest_chain_fixture(tmp_path_factory.mktemp("svc-zkvm-chain"), "svc-zkvm", SUBJECT)


def test_real_guest_proves_what_the_service_signed(chain: Chain, tmp_path: Path) -> None:
    w3 = chain.w3
    service = LiveService(
        service_config(chain, tmp_path, prover="zkvm", ancestors=2), tmp_path / "data"
    )
    try:
        client = Client(service.url, service.add_key())
        job = client.request_score(SUBJECT, "svc-test", mode="both", destination="l1")
        done = client.wait(job["id"], timeout=600)
        assert done["sampling"]["outcome"] == "match"  # guest score == signed score
        result = client.score(SUBJECT, "svc-test")
        assert result["dev_mode"] is True
        assert result["image_id"] == prover.host_image_id()
        assert result["score"] == expected_score(w3, SUBJECT, result["block"])
        Client.verify_signed(result, Account.from_key(OPERATOR_KEY).address)
        journal = Client.verify_receipt(result, result["image_id"], allow_dev=True)
        assert journal["anchorNumber"] == journal["blockNumber"] + 2  # request block != anchor
        assert journal["requestId"] == result["request_id"]
        oracle = contracts.at(w3, "RiskOracle", chain.oracle)
        score, block, _ = oracle.functions.scoreOf(
            Web3.to_checksum_address(SUBJECT), model_hash()
        ).call()
        assert (score, block) == (result["score"], result["block"])
    finally:
        service.stop()
