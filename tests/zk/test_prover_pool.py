"""The remote proving pool (``coprocessor.zk.prover_pool``) against real local
Bonsai-API stand-ins (``bonsai_standin``: in-process aiohttp servers, dev-mode receipts
made beforehand by the local ``coproc-host prove --dev``), through the real
``coproc-host prove`` with ``RISC0_PROVER=bonsai``: failover from a slow endpoint (past
its timeout) and a failing one (HTTP 503) to a healthy one, a clear failure when none is
healthy, the per-endpoint concurrency limit (sessions counted by the stand-in), the
cool-down of an endpoint that keeps failing, and that a receipt for another journal is
never accepted. Expected journals come from the Python reference, not from the pool.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from bonsai_standin import KEY, FakeBonsai, serving
from guest_helpers import SUBJECT, prove_request, reference_journal, weth_request

from coprocessor.errors import ToolError, UserInputError
from coprocessor.zk import prover
from coprocessor.zk.prover_pool import (
    Endpoint,
    Policy,
    ProverPool,
    journal_matches,
    parse_config,
)

KEY_ENV = "COPROC_TEST_POOL_KEY"
#: request ids of the proofs the tests ask for (each appears verbatim in the guest input)
REQUEST_IDS = ["0x" + f"{i:02x}" * 32 for i in (0xA1, 0xA2, 0xA3, 0xA4, 0xA5)]
#: a short timeout for the slow endpoint, and waits that keep the tests quick
FAST = Policy(attempts=3, backoff_seconds=0.05, backoff_max_seconds=0.1, max_failures=5)


@pytest.fixture(scope="module")
def files(shared_vectors: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The WETH request under several request ids, with a dev receipt for each."""
    tmp = tmp_path_factory.mktemp("pool")
    req = weth_request(shared_vectors, tmp)
    receipts: dict[str, bytes] = {}
    for rid in REQUEST_IDS:
        out = tmp / f"{rid[2:6]}.json"
        prover.prove(prove_request(req["paths"], request_id=rid), out, dev=True)
        receipts[rid] = bytes.fromhex(json.loads(out.read_text())["receipt_bincode_hex"][2:])
    return {**req, "receipts": receipts}


def receipt_by_request_id(files: dict[str, Any], lie: bool = False) -> Callable[[bytes], bytes]:
    """The stand-in's receipt for an uploaded input: the one of the request id found in
    it (``lie``: the receipt of another request id, a valid receipt of another journal)."""

    def pick(data: bytes) -> bytes:
        (rid,) = [r for r in REQUEST_IDS if bytes.fromhex(r[2:]) in data]
        if lie:
            rid = REQUEST_IDS[(REQUEST_IDS.index(rid) + 1) % len(REQUEST_IDS)]
        receipt: bytes = files["receipts"][rid]
        return receipt

    return pick


@pytest.fixture()
def servers(
    files: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, FakeBonsai]]:
    """Four stand-ins: healthy, slow (sessions run 60 s), failing (HTTP 503), liar."""
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("BONSAI_POLL_INTERVAL_MS", "20")
    states = {
        "healthy": FakeBonsai(receipt_for=receipt_by_request_id(files)),
        "slow": FakeBonsai(receipt_for=receipt_by_request_id(files), delay_seconds=60),
        "failing": FakeBonsai(http_status=503),
        "liar": FakeBonsai(receipt_for=receipt_by_request_id(files, lie=True)),
    }
    with ExitStack() as stack:
        for state in states.values():
            stack.enter_context(serving(state))
        yield states


def endpoint(server: FakeBonsai, max_concurrent: int = 1, timeout: float = 60) -> Endpoint:
    return Endpoint(server.url, KEY_ENV, max_concurrent=max_concurrent, timeout_seconds=timeout)


def prove(pool: ProverPool, files: dict[str, Any], rid: str) -> dict[str, Any]:
    return pool.prove(prove_request(files["paths"], request_id=rid), dev=True)


def want_journal(files: dict[str, Any], rid: str) -> dict[str, Any]:
    """The journal the Python reference computes for request id ``rid``."""
    return reference_journal(
        files["bundle"], files["model"], files["spec"], SUBJECT, bytes.fromhex(rid[2:])
    )


def counts(pool: ProverPool, server: FakeBonsai) -> dict[str, int]:
    return dict(pool.snapshot()[endpoint(server).name]["counts"])


def test_fails_over_from_slow_and_failing_to_healthy(
    files: dict[str, Any], servers: dict[str, FakeBonsai]
) -> None:
    slow, failing, healthy = servers["slow"], servers["failing"], servers["healthy"]
    pool = ProverPool([endpoint(slow, timeout=3), endpoint(failing), endpoint(healthy)], FAST)
    events: list[dict[str, Any]] = []
    rid = REQUEST_IDS[0]
    receipt = pool.prove(
        prove_request(files["paths"], request_id=rid), dev=True, on_progress=events.append
    )
    assert receipt["journal"] == want_journal(files, rid)
    assert receipt["prover"] == "bonsai" and receipt["dev_mode"] is True
    # each endpoint was tried once, in order, and its outcome counted
    assert len(slow.sessions) == 1 and slow.downloads == 0
    assert failing.refused >= 1 and not failing.sessions
    assert len(healthy.sessions) == 1 and healthy.downloads == 1
    assert counts(pool, slow) == {"ok": 0, "error": 0, "timeout": 1, "mismatch": 0}
    assert counts(pool, failing) == {"ok": 0, "error": 1, "timeout": 0, "mismatch": 0}
    assert counts(pool, healthy) == {"ok": 1, "error": 0, "timeout": 0, "mismatch": 0}
    # progress events name the endpoint and the attempt
    proved = [e for e in events if e.get("event") == "proved"]
    assert [(e["endpoint"], e["attempt"]) for e in proved] == [(endpoint(healthy).name, 3)]


def test_with_no_healthy_endpoint_the_proof_fails_clearly_after_retries(
    files: dict[str, Any], servers: dict[str, FakeBonsai]
) -> None:
    slow, failing = servers["slow"], servers["failing"]
    pool = ProverPool([endpoint(slow, timeout=3), endpoint(failing)], FAST)
    with pytest.raises(ToolError) as err:
        prove(pool, files, REQUEST_IDS[0])
    message = str(err.value)
    assert message.startswith("prover pool: 3 attempts failed: ")
    assert "\n" not in message
    assert message.count(endpoint(slow).name) == 2  # slow, failing, slow again
    assert message.count(endpoint(failing).name) == 1
    assert "timed out" in message and "stand-in fault" in message  # the 503 body
    assert counts(pool, slow)["timeout"] == 2 and counts(pool, failing)["error"] == 1
    assert len(slow.sessions) == 2


def test_the_concurrency_limit_of_an_endpoint_holds(
    files: dict[str, Any], servers: dict[str, FakeBonsai]
) -> None:
    healthy = servers["healthy"]
    healthy.delay_seconds = 1.0  # sessions overlap unless the pool holds them back
    pool = ProverPool([endpoint(healthy, max_concurrent=2)], FAST)
    results: dict[str, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def run(rid: str) -> None:
        try:
            results[rid] = prove(pool, files, rid)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(rid,)) for rid in REQUEST_IDS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert {rid: r["journal"] for rid, r in results.items()} == {
        rid: want_journal(files, rid) for rid in REQUEST_IDS
    }
    assert len(healthy.sessions) == len(REQUEST_IDS)
    assert healthy.max_running == 2  # never more than the limit, and the limit was used
    assert pool.snapshot()[endpoint(healthy).name]["in_flight"] == 0


def test_a_receipt_for_another_journal_is_never_accepted(
    files: dict[str, Any], servers: dict[str, FakeBonsai]
) -> None:
    liar, healthy = servers["liar"], servers["healthy"]
    pool = ProverPool([endpoint(liar), endpoint(healthy)], FAST)
    rid = REQUEST_IDS[1]
    receipt = prove(pool, files, rid)
    assert receipt["journal"] == want_journal(files, rid)
    assert liar.downloads == 1 and counts(pool, liar)["mismatch"] == 1
    # the liar alone: every attempt refused, the proof fails
    alone = ProverPool([endpoint(liar)], FAST)
    with pytest.raises(ToolError, match="another journal"):
        prove(alone, files, rid)
    assert counts(alone, liar) == {"ok": 0, "error": 0, "timeout": 0, "mismatch": 3}


def test_the_pool_compares_the_receipt_journal_with_the_local_one(
    files: dict[str, Any],
) -> None:
    # what coproc-host prove returned for two request ids (made by the local host)
    a, b = (
        prover.prove(prove_request(files["paths"], request_id=r), files["tmp"] / r[:8], dev=True)
        for r in REQUEST_IDS[:2]
    )
    assert a["journal_hex"] != b["journal_hex"]
    bare = a["journal_hex"].removeprefix("0x")
    assert journal_matches(a, bare) and journal_matches(a, "0x" + bare.upper())
    assert not journal_matches(a, b["journal_hex"])
    assert not journal_matches({"journal_hex": ""}, "")
    assert not journal_matches({}, a["journal_hex"])


def test_an_endpoint_failing_in_a_row_cools_down(
    files: dict[str, Any], servers: dict[str, FakeBonsai]
) -> None:
    failing, healthy = servers["failing"], servers["healthy"]
    policy = Policy(attempts=3, backoff_seconds=0.05, max_failures=2, cooldown_seconds=600)
    pool = ProverPool([endpoint(failing), endpoint(healthy)], policy)
    for rid in REQUEST_IDS[:2]:
        assert prove(pool, files, rid)["journal"] == want_journal(files, rid)
    assert pool.snapshot()[endpoint(failing).name]["cooling"] is True
    seen = failing.refused
    assert prove(pool, files, REQUEST_IDS[2])["journal"] == want_journal(files, REQUEST_IDS[2])
    assert failing.refused == seen  # skipped while cooling down
    assert counts(pool, failing)["error"] == 2 and counts(pool, healthy)["ok"] == 3


def test_a_request_the_host_refuses_is_not_an_endpoint_failure(
    files: dict[str, Any], servers: dict[str, FakeBonsai], tmp_path: Path
) -> None:
    healthy = servers["healthy"]
    pool = ProverPool([endpoint(healthy)], FAST)
    paths = dict(files["paths"], bundle=tmp_path / "missing-bundle.json")
    with pytest.raises(UserInputError):
        prove(pool, {"paths": paths}, REQUEST_IDS[0])
    assert not healthy.images and not healthy.sessions
    assert counts(pool, healthy) == {"ok": 0, "error": 0, "timeout": 0, "mismatch": 0}


@pytest.mark.parametrize(
    ("provers", "policy", "message"),
    [
        ([{"url": "http://a"}], {}, r"provers\[0\]: api_key_env is required"),
        ([{"url": "ftp://a", "api_key_env": "K"}], {}, r"url must be http"),
        ([{"url": "http://a", "api_key_env": "K", "max_concurrent": 0}], {}, "at least 1"),
        ([{"url": "http://a", "api_key_env": "K", "extra": 1}], {}, r"unknown key\(s\) extra"),
        ([{"url": "http://a", "api_key_env": "K", "max_concurrent": "2"}], {}, "an integer"),
        ([{"url": "http://a", "api_key_env": "K"}] * 2, {}, "listed twice"),
        ([], {"attempts": 0}, "attempts must be at least 1"),
        ([], {"cooldown_seconds": -1}, "must not be negative"),
    ],
)
def test_bad_pool_config_is_one_clear_error(
    provers: list[Any], policy: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_config(provers, policy)


def test_a_missing_api_key_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COPROC_TEST_POOL_NO_KEY", raising=False)
    with pytest.raises(UserInputError, match=r"\$COPROC_TEST_POOL_NO_KEY is not set"):
        ProverPool([Endpoint("http://127.0.0.1:9", "COPROC_TEST_POOL_NO_KEY")])
