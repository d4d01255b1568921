"""The aiohttp application: API v1 exactly as ``openapi.ROUTES`` lists it.

Every error is a JSON body ``{"error": {"code", "message"}}`` with a 4xx status for
anything the client got wrong; bodies are limited (``max_body_bytes``); an unexpected
exception is logged and answered 500 without details (the tests fuzz the API to make
sure no malformed request gets there).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from coprocessor.errors import UserInputError
from coprocessor.jsonfile import loads_json
from coprocessor.service import explorer, feed, openapi
from coprocessor.service.auth import ApiKey, KeyRing
from coprocessor.service.proving import NoProver
from coprocessor.service.worker import Runtime

log = logging.getLogger("coproc.service")

RUNTIME = web.AppKey("runtime", Runtime)
KEYRING = web.AppKey("keyring", KeyRing)
CACHE = web.AppKey("cache", dict)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CACHE_TTL = 1.0  # seconds; results written by other processes show up within this
CACHE_MAX = 100_000  # entries


class ApiError(web.HTTPException):
    """A JSON error response."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        self.status_code = status
        super().__init__(
            text=json.dumps({"error": {"code": code, "message": message}}),
            content_type="application/json",
            headers=headers,
        )


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(obj, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except ApiError as exc:
        status = exc.status
        raise
    except web.HTTPException as exc:  # aiohttp's own: 404, 405, 413 …
        status = exc.status
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "error")
        message = exc.reason if exc.status != 413 else "request body too large"
        raise ApiError(exc.status, code, message) from None
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        raise ApiError(500, "internal", "internal error") from None
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        runtime.metrics.http_requests.inc(route=name, status=str(status))
        runtime.metrics.http_latency.observe(time.perf_counter() - started, route=name)


_BEARER = re.compile(r"^Bearer ([!-~]{1,200})$")


def _authorize(request: web.Request) -> ApiKey | None:
    runtime = request.app[RUNTIME]
    if not runtime.config.auth_required:
        return None
    header = request.headers.get("Authorization")
    token = None
    if header is not None:
        match = _BEARER.match(header)
        token = match.group(1) if match else None
    else:
        token = request.headers.get("X-API-Key")
    if not token:
        raise ApiError(401, "unauthorized", "API key required (Authorization: Bearer cpk_…)")
    key = request.app[KEYRING].lookup(token)
    if key is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    wait = request.app[KEYRING].allow(key)
    if wait > 0:
        runtime.metrics.rate_limited.inc(key=key.id)
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of key {key.id} exceeded",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )
    return key


async def post_score(request: web.Request) -> web.Response:
    key = _authorize(request)
    runtime = request.app[RUNTIME]
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "body must be application/json")
    raw = await request.read()
    try:
        body = loads_json(raw, "body")
    except UserInputError as exc:  # malformed, duplicate keys, too deep, huge integers
        raise ApiError(400, "bad_json", str(exc)) from None
    try:
        req = openapi.validate(body, openapi.SCHEMAS["ScoreRequest"])
    except openapi.SchemaError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    idem = request.headers.get("Idempotency-Key")
    if idem is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", idem):
        raise ApiError(400, "invalid_request", "Idempotency-Key: 1..128 of [A-Za-z0-9_.:-]")
    served = runtime.catalog.get(req["model"])
    if served is None:
        raise ApiError(
            422, "unknown_model", f"model {req['model']!r} is not served (GET /v1/models)"
        )
    req["model"] = served.name
    req["subject"] = req["subject"].lower()
    _check_capabilities(runtime, req)
    scope = key.id if key is not None else "anonymous"
    try:
        job, created = runtime.db.submit(req, None if idem is None else f"{scope}:{idem}")
    except ValueError as exc:
        raise ApiError(409, "idempotency_conflict", str(exc)) from None
    if created:
        runtime.wake.set()
    return _json(
        {"id": job.id, "state": job.state, "url": f"/v1/jobs/{job.id}", "created": created}, 202
    )


def _check_capabilities(runtime: Runtime, req: dict[str, Any]) -> None:
    mode, destination = req["mode"], req["destination"]
    if mode in ("signed", "both") and runtime.signer is None:
        raise ApiError(422, "signing_unavailable", "this service has no signing key configured")
    if mode in ("proven", "both") and isinstance(runtime.prover, NoProver):
        raise ApiError(422, "proving_unavailable", "this service has no prover configured")
    if destination != "none" and mode == "signed":
        raise ApiError(
            422, "needs_proof", f"destination {destination} needs mode proven or both (a receipt)"
        )
    if destination == "l1" and runtime.l1_poster is None:
        raise ApiError(422, "destination_unavailable", "l1 posting is not configured (oracle)")
    if destination == "l2" and runtime.l2_poster is None:
        raise ApiError(422, "destination_unavailable", "l2 posting is not configured (l2_network)")


async def get_job(request: web.Request) -> web.Response:
    _authorize(request)
    job_id = request.match_info["id"]
    if not re.fullmatch(openapi.JOB_ID[1:-1], job_id):
        raise ApiError(400, "invalid_request", "job id is of the form job_<24 hex digits>")
    job = request.app[RUNTIME].db.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return _json(job.to_json())


async def get_score(request: web.Request) -> web.Response:
    _authorize(request)
    runtime = request.app[RUNTIME]
    subject = request.match_info["subject"]
    if not re.fullmatch(openapi.HEX_ADDRESS[1:-1], subject):
        raise ApiError(400, "invalid_request", "subject must be a 20-byte 0x-hex address")
    model = request.query.get("model")
    if model is None:
        raise ApiError(400, "invalid_request", "query parameter model is required")
    served = runtime.catalog.get(model)
    if served is None:
        if not re.fullmatch(openapi.MODEL_KEY[1:-1], model):
            raise ApiError(400, "invalid_request", "model: a model name or 0x model hash")
        raise ApiError(404, "not_found", f"model {model[:80]!r} is not served")
    key = (subject.lower(), "0x" + served.model_hash.hex())
    cache = request.app[CACHE]
    hit = cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        body: bytes | None = hit[0]
    else:
        text = runtime.db.result(*key)
        body = text.encode() if text is not None else None
        if len(cache) >= CACHE_MAX:  # bounded: random subjects cannot grow it forever
            cache.clear()
        cache[key] = (body, now + CACHE_TTL)
    if body is None:
        raise ApiError(404, "not_found", f"no result for {subject} under {served.name}")
    return web.Response(body=body, content_type="application/json")


async def get_feed(request: web.Request) -> web.StreamResponse:
    _authorize(request)
    last = request.headers.get("Last-Event-ID")
    if last is not None and not re.fullmatch(r"[0-9]{1,18}", last):
        raise ApiError(400, "invalid_request", "Last-Event-ID must be an event number")
    return await feed.stream(request, request.app[RUNTIME], None if last is None else int(last))


async def get_models(request: web.Request) -> web.Response:
    _authorize(request)
    return _json(request.app[RUNTIME].catalog.to_json())


async def get_openapi(request: web.Request) -> web.Response:
    return _json(openapi.document())


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    return _json({"ok": True, "chain_id": runtime.chain_id, "jobs": runtime.db.counts()})


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    return web.Response(
        text=runtime.metrics.render(), content_type="text/plain", charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


HANDLERS: dict[str, Handler] = {
    "requestScore": post_score,
    "getJob": get_job,
    "getScore": get_score,
    "feed": get_feed,
    "listModels": get_models,
    "openapi": get_openapi,
    "health": healthz,
    "metrics": metrics,
}


def make_app(runtime: Runtime) -> web.Application:
    """The application for ``runtime`` (routes from ``openapi.ROUTES``)."""
    app = web.Application(
        middlewares=[errors_and_metrics], client_max_size=runtime.config.max_body_bytes
    )
    app[RUNTIME] = runtime
    app[KEYRING] = KeyRing(runtime.db)
    cache: dict[tuple[str, str], tuple[bytes | None, float]] = {}
    app[CACHE] = cache
    runtime.on_result.append(lambda subject, model_hash: cache.pop((subject, model_hash), None))
    for method, path, op in openapi.ROUTES:
        app.router.add_route(method.upper(), path, HANDLERS[op["operationId"]])
    explorer.register(app, _authorize)  # the read-only web pages at / (docs/explorer.md)
    return app


def make_worker_app(runtime: Runtime) -> web.Application:
    """What a ``--role worker`` process serves: ``GET /healthz`` and ``GET /metrics``
    (its workers' stage, prover and posting metrics), no API."""
    app = web.Application(middlewares=[errors_and_metrics], client_max_size=1024)
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
