"""The service's API v1 against a real running server (loopback port, real anvil with
the contracts, real SQLite): the full path signed → proven → posted, results checked
independently (plain RPC reads + the reference model, on-chain reads, signature
recovery); idempotency, auth, rate limits, validation, metrics, sampling."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from service_support import (
    IMAGE_ID,
    OPERATOR_KEY,
    Chain,
    LiveService,
    chain_fixture,
    expected_score,
    http,
    model_hash,
    service_config,
    wait_for,
)
from web3 import Web3
from web3.types import Wei

from coprocessor.errors import VerificationError
from coprocessor.onchain import contracts, eip712
from coprocessor.service.client import ApiError, Client

SUBJECT = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"  # anvil account 1


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("svc-api-chain"), "svc-api")


@pytest.fixture(scope="module")
def service(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp("svc-api")
    svc = LiveService(service_config(chain, tmp, rate_per_second=1000.0), tmp / "data")
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def client(service: LiveService) -> Client:
    return Client(service.url, service.add_key("api-tests"))


def _error(body: bytes) -> dict[str, Any]:
    obj = json.loads(body)
    assert set(obj) == {"error"} and set(obj["error"]) == {"code", "message"}
    assert "\n" not in obj["error"]["message"]
    error: dict[str, Any] = obj["error"]
    return error


def test_signed_proven_posted_end_to_end(chain: Chain, client: Client) -> None:
    w3 = chain.w3
    # some history for the subject: a transfer changes balance and nonce
    tx = w3.eth.send_transaction(
        {
            "from": Web3.to_checksum_address(SUBJECT),
            "to": list(w3.eth.accounts)[5],
            "value": Wei(10**18),
        }
    )
    w3.eth.wait_for_transaction_receipt(tx)
    accepted = client.request_score(SUBJECT, "svc-test", mode="both", destination="l1")
    assert accepted["created"] is True and accepted["state"] == "queued"
    job = client.wait(accepted["id"], timeout=60)
    assert list(job["timestamps"]) == [
        "queued", "indexing", "scoring", "signing", "proving", "posting", "done",
    ]  # fmt: skip
    stamps = list(job["timestamps"].values())
    assert stamps == sorted(stamps)
    result = client.score(SUBJECT, "svc-test")
    block = result["block"]
    assert result["job_id"] == accepted["id"]
    # independent: plain RPC reads at that block and the reference model
    assert result["score"] == expected_score(w3, SUBJECT, block)
    assert result["anchor"]["hash"] == "0x" + bytes(w3.eth.get_block(block)["hash"]).hex()
    # the signature: recovered locally and accepted by the contract
    operator = Account.from_key(OPERATOR_KEY).address
    assert Client.verify_signed(result, operator) == operator
    signed = contracts.at(w3, "SignedScores", chain.signed_scores)
    sig = bytes.fromhex(result["signature"][2:])
    on_chain_signer = signed.functions.verifySignedScore(
        Client.signed_score(result).as_tuple(), sig
    ).call()
    assert on_chain_signer == operator
    # the receipt: journal fields are the result's; dev seal bound to image + journal
    journal = Client.verify_receipt(result, "0x" + IMAGE_ID.hex(), allow_dev=True)
    assert journal["score"] == result["score"]
    with pytest.raises(VerificationError):
        Client.verify_receipt(result, "0x" + IMAGE_ID.hex())  # dev seals need allow_dev
    with pytest.raises(VerificationError):
        Client.verify_receipt(result, "0x" + "11" * 32, allow_dev=True)
    # posted: the oracle holds the score, from the recorded transaction
    oracle = contracts.at(w3, "RiskOracle", chain.oracle)
    score, at_block, _ = oracle.functions.scoreOf(
        Web3.to_checksum_address(SUBJECT), model_hash()
    ).call()
    assert (score, at_block) == (result["score"], block)
    receipt = w3.eth.get_transaction_receipt(result["tx_hashes"]["l1"])
    assert receipt["status"] == 1 and receipt["to"] == oracle.address
    # a tampered result fails the local checks
    forged = dict(result, score=result["score"] + 1)
    with pytest.raises(VerificationError):
        Client.verify_signed(forged, operator)
    with pytest.raises(VerificationError):
        Client.verify_receipt(forged, "0x" + IMAGE_ID.hex(), allow_dev=True)


def test_feed_replays_results(service: LiveService, client: Client) -> None:
    accepted = client.request_score(SUBJECT, "svc-test")
    client.wait(accepted["id"])
    events = []
    for event in client.feed(last_event_id=0):
        events.append(event)
        if event[2]["job_id"] == accepted["id"]:
            break
    ids = [e[0] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    kinds = [(e[1], e[2]["job_id"]) for e in events]
    assert ("signed", accepted["id"]) in kinds
    assert len([k for k in kinds if k[1] == accepted["id"]]) == 1  # signed only


def test_idempotency_key(client: Client) -> None:
    first = client.request_score(SUBJECT, "svc-test", idempotency_key="same-1")
    again = client.request_score(SUBJECT, "svc-test", idempotency_key="same-1")
    assert again["id"] == first["id"] and again["created"] is False
    with pytest.raises(ApiError) as err:
        client.request_score(SUBJECT, "svc-test", block=3, idempotency_key="same-1")
    assert err.value.status == 409
    other = client.request_score(SUBJECT, "svc-test", idempotency_key="same-2")
    assert other["id"] != first["id"]


def test_auth_and_rate_limits(service: LiveService) -> None:
    url = service.url + "/v1/models"
    status, _, body = http("GET", url)
    assert status == 401 and _error(body)["code"] == "unauthorized"
    status, _, body = http("GET", url, headers={"Authorization": "Bearer cpk_00000000_ff"})
    assert status == 401
    key = service.add_key("slow", rate=0.5, burst=2)
    auth = {"Authorization": f"Bearer {key}"}
    statuses = [http("GET", url, headers=auth)[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    status, headers, body = http("GET", url, headers=auth)
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert _error(body)["code"] == "rate_limited"
    # the key is stored hashed: its secret appears nowhere in the database file
    stored = service.backend.dump()
    assert len(stored) > 1000 and key.split("_")[1].encode() in stored  # the key id is there
    assert key.rsplit("_", 1)[1].encode() not in stored
    # revoked keys stop working
    from coprocessor.service import auth as auth_mod

    key_id = key.split("_")[1]
    service.call(_async(lambda: auth_mod.revoke_key(service.runtime.db, key_id)))
    service.runtime  # noqa: B018
    wait_for(lambda: http("GET", url, headers=auth)[0] == 401, 5, "revocation")


async def _async(fn: Any) -> Any:
    return fn()


BAD_BODIES: list[tuple[bytes, str]] = [
    (b"", "bad_json"),
    (b"{", "bad_json"),
    (b"[]", "invalid_request"),
    (b"null", "invalid_request"),
    (b'{"model": "svc-test"}', "invalid_request"),
    (b'{"subject": "0x12", "model": "svc-test"}', "invalid_request"),
    (b'{"subject": "%s", "model": "svc-test", "block": -1}' % SUBJECT.encode(), "invalid_request"),
    (b'{"subject": "%s", "model": "svc-test", "block": 1.5}' % SUBJECT.encode(), "invalid_request"),
    (b'{"subject": "%s", "model": "svc-test", "block": "soon"}' % SUBJECT.encode(), "invalid_request"),  # noqa: E501
    (b'{"subject": "%s", "model": "svc-test", "mode": "fast"}' % SUBJECT.encode(), "invalid_request"),  # noqa: E501
    (b'{"subject": "%s", "model": "svc-test", "extra": 1}' % SUBJECT.encode(), "invalid_request"),
    (b'{"subject": "%s", "model": "svc-test", "block": NaN}' % SUBJECT.encode(), "bad_json"),
    (b'{"subject": "%s", "model": "nope"}' % SUBJECT.encode(), "unknown_model"),
    (b'{"subject": "%s", "model": "svc-test", "destination": "l2", "mode": "proven"}'
     % SUBJECT.encode(), "destination_unavailable"),
    (b'{"subject": "%s", "model": "svc-test", "destination": "l1"}' % SUBJECT.encode(),
     "needs_proof"),
    (b"[" * 5000 + b"]" * 5000, "bad_json"),  # deeper than jsonfile.MAX_DEPTH
    ("{\"subject\": \"\u00e9\"}".encode(), "invalid_request"),
    (b"\xff\xfe", "bad_json"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "code"), BAD_BODIES)
def test_malformed_requests_get_one_line_4xx(
    service: LiveService, client: Client, body: bytes, code: str
) -> None:
    headers = {"Authorization": f"Bearer {client.api_key}", "Content-Type": "application/json"}
    status, _, answer = http("POST", service.url + "/v1/scores", body, headers)
    assert 400 <= status < 500, (status, answer)
    assert _error(answer)["code"] == code


def test_other_4xx(service: LiveService, client: Client) -> None:
    auth = {"Authorization": f"Bearer {client.api_key}"}
    big = b'{"subject": "' + b"0" * 20000 + b'"}'
    status, _, body = http(
        "POST", service.url + "/v1/scores", big, {**auth, "Content-Type": "application/json"}
    )
    assert status == 413 and _error(body)["code"] == "body_too_large"
    status, _, body = http(
        "POST", service.url + "/v1/scores", b"{}", {**auth, "Content-Type": "text/plain"}
    )
    assert status == 415
    for path, want in [
        ("/v1/jobs/nope", 400),
        ("/v1/jobs/job_" + "0" * 24, 404),
        ("/v1/scores/0x12?model=svc-test", 400),
        (f"/v1/scores/{SUBJECT}", 400),
        (f"/v1/scores/{SUBJECT}?model=other", 404),
        (f"/v1/scores/{'0x' + '42' * 20}?model=svc-test", 404),
        ("/v2/anything", 404),
    ]:
        status, _, body = http("GET", service.url + path, headers=auth)
        assert status == want, path
        _error(body)
    status, _, body = http("DELETE", service.url + "/v1/models", headers=auth)
    assert status == 405
    _error(body)
    status, _, body = http("GET", service.url + "/v1/feed", headers={**auth, "Last-Event-ID": "x"})
    assert status == 400


def test_openapi_document_lists_exactly_the_routes(service: LiveService) -> None:
    from coprocessor.service.app import make_app

    status, _, body = http("GET", service.url + "/v1/openapi.json")
    doc = json.loads(body)
    assert status == 200 and doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    app = make_app(service.runtime)
    served = {
        (r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None
    }
    from coprocessor.service.explorer import ROUTES as EXPLORER  # docs/api.md documents them

    explorer = {(method, path) for method, path, _ in EXPLORER}
    assert explorer <= served and not explorer & documented
    assert documented == served - explorer
    for ops in doc["paths"].values():
        for op in ops.values():
            for ref in re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(op)):
                assert ref in doc["components"]["schemas"]


def test_models_health_metrics(service: LiveService, client: Client) -> None:
    models = client.models()
    assert [m["name"] for m in models] == ["svc-test"]
    assert models[0]["model_hash"] == "0x" + model_hash().hex()
    status, _, body = http("GET", service.url + "/healthz")
    assert status == 200 and json.loads(body)["ok"] is True
    status, headers, body = http("GET", service.url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    for name in (
        "coproc_http_requests_total",
        "coproc_jobs",
        "coproc_sampling_probability",
        "coproc_stage_seconds_bucket",
    ):
        assert f"\n{name}" in "\n" + text, name
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? [0-9.e+-]+|^[a-z_]+\S* \+Inf$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line


def test_signature_is_eip712_of_the_result(client: Client) -> None:
    result = client.score(SUBJECT, "svc-test")
    digest = eip712.digest(
        Client.signed_score(result), result["signing_chain_id"], result["signed_scores"]
    )
    assert len(digest) == 32
    assert result["signer"] == Account.from_key(OPERATOR_KEY).address


def test_feed_pushes_new_results_live(client: Client) -> None:
    import queue
    import threading
    import time

    got: queue.Queue[tuple[int, str, dict[str, Any]]] = queue.Queue()

    def listen() -> None:
        try:
            for event in client.feed():  # no Last-Event-ID: only events from now on
                got.put(event)
        except OSError:
            pass  # the server closes the stream when the test module ends

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(0.5)
    accepted = client.request_score(SUBJECT, "svc-test", idempotency_key="live-feed")
    event_id, kind, result = got.get(timeout=20)
    assert kind == "signed" and result["job_id"] == accepted["id"]
    assert (
        result == client.score(SUBJECT, "svc-test")
        or result["block"] <= client.score(SUBJECT, "svc-test")["block"]
    )
    assert event_id > 0


def test_block_tags_resolve(chain: Chain, client: Client) -> None:
    chain.w3.provider.make_request("anvil_mine", [70])  # type: ignore[arg-type]
    head = chain.w3.eth.block_number
    for tag in ("latest", "finalized"):
        job = client.wait(client.request_score(SUBJECT, "svc-test", block=tag)["id"])
        assert 1 <= job["block"] <= chain.w3.eth.block_number
        if tag == "latest":
            assert job["block"] >= head
        else:  # anvil finalizes head - 64
            assert job["block"] == int(chain.w3.eth.get_block("finalized")["number"])
    job = client.wait(client.request_score(SUBJECT, "svc-test", block=2)["id"])
    assert job["block"] == 2 and job["score"] == expected_score(chain.w3, SUBJECT, 2)
    with pytest.raises(Exception, match="above the node's head"):
        client.wait(client.request_score(SUBJECT, "svc-test", block=10**9)["id"])


def test_post_that_would_revert_fails_with_the_contract_error(chain: Chain, client: Client) -> None:
    """A second result for a block the oracle already holds is stale: the job fails with
    the oracle's error by name, and no transaction is sent."""
    from service_support import POSTER_KEY

    posted = client.score(SUBJECT, "svc-test")
    oracle = contracts.at(chain.w3, "RiskOracle", chain.oracle)
    _, stored_block, _ = oracle.functions.scoreOf(
        Web3.to_checksum_address(SUBJECT), model_hash()
    ).call()
    poster = Account.from_key(POSTER_KEY).address
    nonce = chain.w3.eth.get_transaction_count(poster)
    job = client.request_score(
        SUBJECT, "svc-test", block=stored_block, mode="proven", destination="l1"
    )
    with pytest.raises(Exception, match="RiskOracleStale"):
        client.wait(job["id"], timeout=30)
    assert client.job(job["id"])["error"].startswith("posting: RiskOracle.submit would revert")
    assert chain.w3.eth.get_transaction_count(poster) == nonce
    assert posted["block"] >= 1
