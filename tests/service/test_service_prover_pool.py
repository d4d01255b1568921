"""The service with a remote proving pool (config ``provers``) of local Bonsai-API
stand-ins (``bonsai_standin``): a failing one (HTTP 503), a slow one (past its attempt
timeout) and a healthy one. A proven job ends done through the healthy endpoint, its
receipt verifies and its journal is what the service signed; with only the bad two the
job fails after its retries, saying what each endpoint did; ``/metrics`` counts the
attempts by endpoint and outcome.

The healthy stand-in cannot prove: when asked, it makes the dev-mode receipt with the
local ``coproc-host prove --dev`` for the job whose request id is in the uploaded input
(the job's bundle, model, spec, subject and block, read back from the job store).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from bonsai_standin import KEY, FakeBonsai, serving
from eth_account import Account
from service_backends import default_store
from service_support import (
    OPERATOR_KEY,
    Chain,
    LiveService,
    guest_chain_fixture,
    service_config,
)

from coprocessor.chain.hexutil import hexstr
from coprocessor.errors import ToolError, UserInputError
from coprocessor.service.catalog import load_catalog
from coprocessor.service.client import Client
from coprocessor.service.config import load_config
from coprocessor.service.worker import request_id_of
from coprocessor.zk import prover

SUBJECT = "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65"  # anvil account 4
KEY_ENV = "COPROC_TEST_POOL_KEY"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from guest_chain_fixture(tmp_path_factory.mktemp("svc-pool-chain"), "svc-pool", SUBJECT)


def local_receipts(config: dict[str, Any], data_dir: Path) -> Callable[[bytes], bytes]:
    """A receipt for an uploaded guest input: the job whose request id it contains,
    proven locally in dev mode as the worker asks (its files, subject, block)."""

    def make(data: bytes) -> bytes:
        db = default_store(data_dir)
        try:
            jobs = [j for j in db.all_jobs() if request_id_of(j.id) in data]
        finally:
            db.close()
        assert len(jobs) == 1, "the input names one job of this service"
        (job,) = jobs
        served = load_catalog(config["models_dir"]).get(job.request["model"])
        assert served is not None
        request = prover.ProveRequest(
            bundle=Path(job.data["bundle"]),
            model=served.model_path,
            spec=served.spec_path,
            subject=job.request["subject"],
            request_id=hexstr(request_id_of(job.id)),
            block=job.data["block"],
        )
        out = data_dir / f"standin-{job.id}.json"
        prover.prove(request, out, dev=True)
        return bytes.fromhex(json.loads(out.read_text())["receipt_bincode_hex"][2:])

    return make


@pytest.fixture()
def standins(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FakeBonsai]]:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("BONSAI_POLL_INTERVAL_MS", "20")
    states = {
        "failing": FakeBonsai(http_status=503),
        "slow": FakeBonsai(delay_seconds=60),
        "healthy": FakeBonsai(),
    }
    with ExitStack() as stack:
        for state in states.values():
            stack.enter_context(serving(state))
        yield states


def pool_config(chain: Chain, tmp: Path, servers: list[FakeBonsai], **extra: Any) -> dict[str, Any]:
    provers = [{"url": s.url, "api_key_env": KEY_ENV, "timeout_seconds": 3} for s in servers]
    policy = {"attempts": len(servers), "backoff_seconds": 0.05, "max_failures": 10}
    return service_config(chain, tmp, prover="zkvm", provers=provers, prover_pool=policy, **extra)


def metrics(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text: str = response.read().decode()
    return text


def test_a_job_is_proven_through_the_healthy_endpoint(
    chain: Chain, standins: dict[str, FakeBonsai], tmp_path: Path
) -> None:
    failing, slow, healthy = standins["failing"], standins["slow"], standins["healthy"]
    config = pool_config(chain, tmp_path, [failing, slow, healthy])
    data_dir = tmp_path / "data"
    healthy.receipt_for = local_receipts(config, data_dir)
    service = LiveService(config, data_dir)
    try:
        client = Client(service.url, service.add_key())
        job = client.request_score(SUBJECT, "svc-test", mode="both", destination="l1")
        done = client.wait(job["id"], timeout=300)
        assert done["sampling"]["outcome"] == "match"  # the remote journal == signed score
        result = client.score(SUBJECT, "svc-test")
        assert result["dev_mode"] is True and result["image_id"] == prover.host_image_id()
        Client.verify_signed(result, Account.from_key(OPERATOR_KEY).address)
        journal = Client.verify_receipt(result, result["image_id"], allow_dev=True)
        assert journal["requestId"] == result["request_id"] == hexstr(request_id_of(job["id"]))
        assert failing.refused >= 1 and len(slow.sessions) == 1 and healthy.downloads == 1
        text = metrics(service.url)
        for server, outcome in ((failing, "error"), (slow, "timeout"), (healthy, "ok")):
            line = f'coproc_prover_attempts_total{{endpoint="{server.url}",outcome="{outcome}"}} 1'
            assert line in text.splitlines()
    finally:
        service.stop()


def test_with_only_bad_endpoints_the_job_fails_saying_why(
    chain: Chain, standins: dict[str, FakeBonsai], tmp_path: Path
) -> None:
    failing, slow = standins["failing"], standins["slow"]
    config = pool_config(chain, tmp_path, [failing, slow], max_attempts=2)
    service = LiveService(config, tmp_path / "data")
    try:
        client = Client(service.url, service.add_key())
        job = client.request_score(SUBJECT, "svc-test", mode="proven", destination="l1")
        with pytest.raises(ToolError) as err:
            client.wait(job["id"], timeout=300)
        message = str(err.value)
        assert "prover pool: 2 attempts failed" in message
        assert f"{failing.url}: " in message and f"{slow.url}: " in message
        assert "timed out" in message
        assert len(slow.sessions) == 2 and failing.refused >= 2  # retried: 2 job attempts
    finally:
        service.stop()


def test_pool_config_is_checked_when_loaded() -> None:
    entry = {"url": "http://127.0.0.1:9", "api_key_env": KEY_ENV}
    assert load_config(None, {"provers": [entry]}).provers == [entry]
    with pytest.raises(UserInputError, match='needs prover "zkvm"'):
        load_config(None, {"provers": [entry], "prover": "none"})
    with pytest.raises(UserInputError, match=r"provers\[0\]: max_concurrent must be at least 1"):
        load_config(None, {"provers": [{**entry, "max_concurrent": 0}]})
    with pytest.raises(UserInputError, match=r"prover_pool: unknown key\(s\) retries"):
        load_config(None, {"provers": [entry], "prover_pool": {"retries": 3}})
    with pytest.raises(UserInputError, match="provers must be a list"):
        load_config(None, {"provers": entry})
