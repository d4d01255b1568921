"""Schemathesis-style fuzzing of the running service from its own OpenAPI document:
for every operation, hypothesis draws requests — valid ones built from the schemas,
and broken ones (wrong types, unknown fields, odd path and query strings, random
headers, random bytes and content types). No request may get a 5xx; every 4xx is a
one-line JSON error; a 2xx body matches the documented schema. Once per database
backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_support import PostgresServer
from service_backends import BACKENDS, make_backend
from service_support import Chain, LiveService, chain_fixture, service_config

from coprocessor.service import openapi

SUBJECT = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("svc-fuzz-chain"), "svc-fuzz")


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    chain: Chain, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("svc-fuzz")
    pg_url = None
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("pg_server")
        pg_url = server.new_database()
    backend = make_backend(request.param, tmp / "data", pg_url)
    # no workers: the fuzzer only talks to the API (queued jobs just stay queued)
    cfg = service_config(
        chain,
        tmp,
        workers=0,
        rate_per_second=1e6,
        rate_burst=10**6,
        database_url=backend.database_url,
    )
    svc = LiveService(cfg, tmp / "data")
    try:
        yield f"127.0.0.1:{svc.port}", svc.add_key("fuzz", rate=1e6, burst=10**6)
    finally:
        svc.stop()


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid values of a schema (the subset the API uses)."""
    if "$ref" in schema:
        return from_schema(openapi.SCHEMAS[schema["$ref"].rsplit("/", 1)[1]])
    if "oneOf" in schema:
        return st.one_of(*(from_schema(s) for s in schema["oneOf"]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in props.items() if k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(max_size=20)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**70)), schema.get("maximum", 2**70))
    return st.none()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)  # fmt: skip

ODD_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30
) | st.sampled_from(["", "..", "%00", "job_" + "0" * 24, SUBJECT, "svc-test", "0x", "-1"])


HEADER_TEXT = ODD_TEXT.filter(lambda t: t.isascii() and "\n" not in t and "\r" not in t)
CONTENT_TYPES = ["application/json", "text/plain", "", "application/x-www-form-urlencoded"]


def mutated_body() -> st.SearchStrategy[bytes]:
    valid = from_schema(openapi.SCHEMAS["ScoreRequest"])
    with_extra = st.builds(lambda d, k, v: {**d, k: v}, valid, st.text(max_size=8), JSON)
    names = st.sampled_from(["subject", "model", "block", "mode", "destination"])
    wrong_field = st.builds(lambda d, k, v: {**d, k: v}, valid, names, JSON)
    as_json = st.one_of(valid, with_extra, wrong_field, JSON).map(lambda v: json.dumps(v).encode())
    return as_json | st.binary(max_size=64)


def request_for(op_id: str, path: str, method: str) -> st.SearchStrategy[dict[str, Any]]:
    params = st.fixed_dictionaries(
        {},
        optional={
            "id": ODD_TEXT,
            "subject": ODD_TEXT | st.just(SUBJECT),
            "model": ODD_TEXT,
            "Idempotency-Key": HEADER_TEXT,
            "Last-Event-ID": HEADER_TEXT,
            "content_type": st.sampled_from(CONTENT_TYPES),
            "auth": st.sampled_from(["good", "none", "bad", "garbage"]),
        },
    )  # fmt: skip
    body = mutated_body() if method == "post" else st.none()
    return st.builds(lambda p, b: {**p, "body": b}, params, body)


def _send(
    host: str, key: str, method: str, path: str, req: dict[str, Any]
) -> tuple[int, bytes, str]:
    url = path
    for name in ("id", "subject"):
        url = url.replace("{" + name + "}", urllib.parse.quote(req.get(name, "x"), safe=""))
    if "model" in req:
        url += "?" + urllib.parse.urlencode({"model": req["model"]})
    headers: dict[str, str] = {}
    auth = req.get("auth", "good")
    if auth == "good":
        headers["Authorization"] = f"Bearer {key}"
    elif auth == "bad":
        headers["Authorization"] = "Bearer cpk_deadbeef_" + "0" * 64
    elif auth == "garbage":
        headers["Authorization"] = "Basic xyz"
    for name in ("Idempotency-Key", "Last-Event-ID"):
        if name in req:
            headers[name] = req[name]
    if req.get("body") is not None:
        headers["Content-Type"] = req.get("content_type", "application/json")
    conn = http.client.HTTPConnection(host, timeout=5)
    try:
        conn.request(method.upper(), url, body=req.get("body"), headers=headers)
        resp = conn.getresponse()
        ctype = resp.getheader("Content-Type", "")
        data = b"" if ctype.startswith("text/event-stream") else resp.read()
        return resp.status, data, ctype
    finally:
        conn.close()


def _check(status: int, data: bytes, ctype: str, op: dict[str, Any]) -> None:
    assert status < 500, (status, data[:200])
    if status == 400 and ctype.startswith("text/plain"):
        return  # not HTTP at all (e.g. control characters in a header): the HTTP
        # parser answers before the application sees a request
    if status >= 400:
        obj = json.loads(data)
        assert set(obj) == {"error"}
        assert "\n" not in obj["error"]["message"]
        assert str(status) in op["responses"] or status in (404, 405), (status, op["operationId"])
        return
    assert str(status) in op["responses"], (status, op["operationId"])
    schema = op["responses"][str(status)]["content"]
    if "application/json" in schema and ctype.startswith("application/json"):
        openapi.validate(json.loads(data), schema["application/json"]["schema"], "response")


OPERATIONS = [(m, p, op) for m, p, op in openapi.ROUTES]


@pytest.mark.parametrize(
    ("method", "path", "op"), OPERATIONS, ids=[o["operationId"] for *_, o in OPERATIONS]
)
def test_no_5xx_for_any_request(
    live: tuple[str, str], method: str, path: str, op: dict[str, Any]
) -> None:
    host, key = live

    @settings(
        max_examples=150 if method == "post" else 60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(request_for(op["operationId"], path, method))
    def run(req: dict[str, Any]) -> None:
        status, data, ctype = _send(host, key, method, path, req)
        _check(status, data, ctype, op)

    run()


def test_valid_requests_are_accepted(live: tuple[str, str]) -> None:
    """The other side: a request drawn from the schema alone (valid) gets 202."""
    host, key = live
    op = next(op for m, p, op in OPERATIONS if op["operationId"] == "requestScore")

    @settings(max_examples=40, deadline=None, derandomize=True, database=None)
    @given(from_schema(openapi.SCHEMAS["ScoreRequest"]))
    def run(body: dict[str, Any]) -> None:
        body = {**body, "model": "svc-test"}
        if body.get("destination", "none") != "none":
            body["mode"] = "both"  # posting needs a receipt; l2 is refused (422)
        status, data, ctype = _send(
            host, key, "post", "/v1/scores", {"body": json.dumps(body).encode()}
        )
        _check(status, data, ctype, op)
        want = 422 if body.get("destination") == "l2" else 202
        assert status == want, (body, data)

    run()


def test_doc_file_matches(tmp_path: Path) -> None:
    """The document is plain JSON (what the endpoint serves) and every operation is fuzzed."""
    doc = json.loads(json.dumps(openapi.document()))
    ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert ops == {op["operationId"] for *_, op in OPERATIONS}
