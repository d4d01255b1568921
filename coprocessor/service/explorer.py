"""The explorer: read-only web pages at ``/`` and the JSON routes they read.

The pages are plain ES modules in ``coprocessor/service/static/`` (no build step); the
one library they use, ethers (EIP-712 recovery and ABI decoding in the page), is served
from the npm package setup installs in ``tools/npm``. The pages themselves carry no
data: everything comes from ``/v1/explorer/*`` (and ``/v1/feed``), which need an API
key exactly like the rest of ``/v1``, and from the open ``/metrics`` and ``/healthz``.
Nothing here writes: the routes read the job database, the bundle files the jobs
verified, the bridge store (if the service has one) and the destination chain.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from coprocessor.chain.bundle import VerifiedBundle
from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.keccak import EMPTY_CODE_HASH
from coprocessor.chain.slots import extract_packed, slot_bytes
from coprocessor.errors import CoprocessorError
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models.fixedpoint import SCALE_BITS
from coprocessor.scoring.protocol_spec import AaveRead, MorphoRead
from coprocessor.service import lifecycle, openapi
from coprocessor.service.catalog import ServedModel
from coprocessor.service.jobs import Job
from coprocessor.service.worker import Runtime
from coprocessor.zk import journal as journal_v1

STATIC = Path(__file__).parent / "static"
ETHERS = REPO_ROOT / "tools" / "npm" / "node_modules" / "ethers" / "dist" / "ethers.min.js"
MAX_JOBS = 500
_ASSET = re.compile(r"[a-z0-9_-]{1,40}\.(js|css|svg)")
_TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
#: how the destination's RiskOracle checks a journal's anchor (docs/contracts.md)
ANCHOR_CHECKS = {
    "l1": "RiskOracle on L1: anchorHash must equal BLOCKHASH(anchorNumber) "
    "(EIP-2935 history: the last 8191 blocks)",
    "l2": "RiskOracle on the Arbitrum chain: anchorHash must equal the L1 hash the "
    "L2BlockHashStore holds for anchorNumber (pushed over the bridge as a retryable ticket)",
    "none": "not posted: the anchor is checked by whoever submits the receipt "
    "(BLOCKHASH on L1, bridged hashes on L2)",
}

Authorize = Callable[[web.Request], object]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(obj: Any) -> web.Response:
    return web.json_response(obj, dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"))


def _not_found(message: str) -> web.HTTPException:
    from coprocessor.service.app import ApiError

    return ApiError(404, "not_found", message)


def _bad(message: str) -> web.HTTPException:
    from coprocessor.service.app import ApiError

    return ApiError(400, "invalid_request", message)


# ------------------------------------------------------------------ pages and assets


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=_page_headers())


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; connect-src 'self'",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "ethers.js":
        if not ETHERS.is_file():
            raise _not_found("ethers is not installed (tools/npm: run make setup)")
        path = ETHERS
    elif name == "journal_v1.json":
        path = journal_v1.SPEC_PATH
    else:
        match = _ASSET.fullmatch(name)
        path = STATIC / name
        if match is None or not path.is_file():
            raise _not_found(f"no explorer asset {name[:60]!r}")
    kind = "application/json" if name.endswith(".json") else _TYPES[name.rsplit(".", 1)[1]]
    return web.FileResponse(path, headers={**_page_headers(), "Content-Type": kind})


# ------------------------------------------------------------------ jobs


def _durations(job: Job) -> dict[str, float]:
    """Seconds spent in each state left (from the entry times)."""
    entered = sorted(job.timestamps.items(), key=lambda kv: kv[1])
    return {state: round(entered[i + 1][1] - at, 3) for i, (state, at) in enumerate(entered[:-1])}


def job_summary(job: Job) -> dict[str, Any]:
    """One row of the jobs list."""
    req = job.request
    return {
        "id": job.id,
        "state": job.state,
        "subject": req["subject"],
        "model": req["model"],
        "mode": req["mode"],
        "destination": req["destination"],
        "block": job.data.get("block"),
        "score": job.data.get("score"),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "durations": _durations(job),
        "error": job.error,
        "dev_mode": bool((job.data.get("receipt") or {}).get("dev_mode")),
    }


_FILTERS = ("state", "model", "subject", "mode", "destination")


def _job_rows(runtime: Runtime, query: dict[str, str], limit: int) -> list[Job]:
    filters = {
        name: (value.lower() if name == "subject" else value)
        for name in _FILTERS
        if (value := query.get(name))
    }
    jobs = [runtime.db.get(job_id) for job_id in runtime.db.job_ids(filters, limit)]
    return [j for j in jobs if j is not None]


async def list_jobs(request: web.Request) -> web.Response:
    _auth(request)
    runtime = _runtime(request)
    query = {k: v for k, v in request.query.items() if k in (*_FILTERS, "limit")}
    if "state" in query and query["state"] and query["state"] not in tuple(lifecycle.State):
        raise _bad(f"state: one of {', '.join(lifecycle.State)}")
    if query.get("subject") and not re.fullmatch(openapi.HEX_ADDRESS[1:-1], query["subject"]):
        raise _bad("subject must be a 20-byte 0x-hex address")
    limit_text = query.get("limit", "100")
    if not re.fullmatch(r"[0-9]{1,3}", limit_text) or not 1 <= int(limit_text) <= MAX_JOBS:
        raise _bad(f"limit: 1..{MAX_JOBS}")
    jobs = _job_rows(runtime, query, int(limit_text))
    return _json({"jobs": [job_summary(j) for j in jobs], "counts": runtime.db.counts()})


def _job(request: web.Request) -> Job:
    job_id = request.match_info["id"]
    if not re.fullmatch(openapi.JOB_ID[1:-1], job_id):
        raise _bad("job id is of the form job_<24 hex digits>")
    job = _runtime(request).db.get(job_id)
    if job is None:
        raise _not_found(f"no job {job_id}")
    return job


async def get_job(request: web.Request) -> web.Response:
    _auth(request)
    job = _job(request)
    body = job.to_json()
    body["summary"] = job_summary(job)
    body["path"] = list(lifecycle.path(job.request, job.data))
    body["timeline"] = [
        {"state": s, "at": at} for s, at in sorted(job.timestamps.items(), key=lambda kv: kv[1])
    ]
    return _json(body)


# ------------------------------------------------------------------ a score


def _reads_index(verified: VerifiedBundle) -> dict[tuple[int, str], Any]:
    return {(a.block, "0x" + a.address.hex()): a for a in verified.bundle.accounts}


def _proven_raw(
    reads: dict[tuple[int, str], Any],
    src: features.Source,
    signed: bool,
    block: int,
    subject: str,
) -> dict[str, Any]:
    """The verified value a read feature took at ``block``: the storage word (and the
    packed field extracted from it) or the account field."""
    address = subject if src.address == features.SUBJECT else src.address
    read = reads.get((block, address))
    out: dict[str, Any] = {"address": address, "block": block, "in_bundle": read is not None}
    if src.slot is not None:
        slot = src.slot.resolve(subject)
        out["slot"] = "0x" + slot_bytes(slot).hex()
        out["slot_path"] = src.slot.to_json()
        word = 0
        if read is not None and read.account is not None:
            words = {s.slot: s.value for s in read.storage}
            word = words.get(slot_bytes(slot), 0)
        out["word"] = "0x" + word.to_bytes(32, "big").hex()
        bits = src.bits or features.Bits()
        out["bits"] = bits.to_json()
        out["raw"] = str(extract_packed(word, bits.offset, bits.size, signed))
    else:
        account = read.account if read is not None else None
        value = 0
        if account is not None:
            value = (
                account.balance
                if src.kind == "balance"
                else account.nonce
                if src.kind == "nonce"
                else int(account.code_hash != EMPTY_CODE_HASH)
            )
        out["raw"] = str(value)
    return out


def provenance(
    served: ServedModel, verified: VerifiedBundle | None, subject: str, block: int,
    vector: list[int] | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Each feature: its value and where it came from (reads: address, slot path, block,
    the proven raw value; features of the same source at several block offsets are
    grouped as a history series)."""
    reads = _reads_index(verified) if verified is not None else {}
    out: list[dict[str, Any]] = []
    for i, feat in enumerate(served.spec.features):
        q16 = vector[i] if vector is not None and i < len(vector) else None
        row: dict[str, Any] = {
            "name": feat.name,
            "q16": q16,
            "value": None if q16 is None else q16 / (1 << SCALE_BITS),
        }
        if isinstance(feat, features.ReadFeature):
            src = feat.read
            at = block - src.block_offset
            row.update(block_offset=src.block_offset, decimals=feat.decimals)
            if isinstance(src, AaveRead | MorphoRead):
                # a protocol read computes from many proven slots (formats.md §3c): name it
                row.update(kind="read", read="protocol", source={**src.to_json(), "block": at})
            else:
                row.update(kind="read", read=src.kind)
                row["source"] = (
                    _proven_raw(reads, src, feat.signed, at, subject) if verified else None
                )
            row["series_key"] = _series_key(feat)
        else:
            row.update(kind="combine", op=feat.op, args=list(feat.args))
        out.append(row)
    _attach_series(out)
    return out


def _series_key(feat: features.ReadFeature) -> str:
    src = feat.read.to_json()
    src.pop("block_offset", None)
    return _dumps([src, feat.decimals, feat.signed])


def _attach_series(rows: list[dict[str, Any]]) -> None:
    """History features: read features of one source at different block offsets get
    the whole series (block, Q16 value), oldest first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("kind") == "read":
            groups.setdefault(row.pop("series_key"), []).append(row)
    for members in groups.values():
        if len({m["block_offset"] for m in members}) < 2:
            continue
        series = sorted(
            ({"block": m["source"]["block"] if m["source"] else None, "q16": m["q16"],
              "name": m["name"]} for m in members),
            key=lambda p: -1 if p["block"] is None else p["block"],
        )  # fmt: skip
        for m in members:
            m["series"] = series


async def get_score_page(request: web.Request) -> web.Response:
    _auth(request)
    runtime = _runtime(request)
    job = _job(request)
    if job.data.get("score") is None:
        raise _not_found(f"job {job.id} has no score yet (state {job.state})")
    served = runtime.model_of(job)
    verified = await asyncio.to_thread(_verified_bundle, job.data.get("bundle"))
    body = {
        "result": runtime.result_body(job, served),
        "job": job_summary(job),
        "features": provenance(
            served,
            verified,
            job.request["subject"],
            int(job.data["block"]),
            job.data.get("vector"),
        ),
        "bundle_verified": verified is not None,
        "anchor_check": ANCHOR_CHECKS.get(job.request["destination"], ANCHOR_CHECKS["none"]),
        "posted_block": job.data.get("posted_block"),
    }
    return _json(body)


def _verified_bundle(path: object) -> VerifiedBundle | None:
    if not isinstance(path, str) or not Path(path).is_file():
        return None
    try:
        return pipeline.verify_file(path)
    except CoprocessorError:
        return None


# ------------------------------------------------------------------ on-chain status


def _onchain_read(runtime: Runtime, job: Job, served: ServedModel) -> dict[str, Any]:
    """The destination oracle's stored score for the job's subject and model, and the
    anchor as the destination sees it, read now from the destination's RPC."""
    from web3 import Web3

    from coprocessor.onchain import contracts

    destination = job.request["destination"]
    poster: Any = runtime.l1_poster if destination == "l1" else runtime.l2_poster
    if destination == "none" or poster is None:
        return {"available": False, "reason": f"destination {destination}: nothing posted"}
    if destination == "l1":
        w3, address = poster.w3, poster.oracle.address
    else:
        w3, address = getattr(poster, "l2", None), getattr(poster, "oracle_address", None)
    if w3 is None or address is None:
        return {"available": False, "reason": "this service's poster exposes no oracle"}
    oracle = contracts.at(w3, "RiskOracle", address)
    subject = Web3.to_checksum_address(job.request["subject"])
    score, block, updated = oracle.functions.scoreOf(subject, served.model_hash).call()
    anchor = job.data.get("anchor") or {}
    out: dict[str, Any] = {
        "available": True,
        "destination": destination,
        "chain_id": int(w3.eth.chain_id),
        "oracle": address,
        "stored": {"score": int(score), "block": int(block), "updated_at": int(updated)},
        "head": int(w3.eth.block_number),
        "tx_hash": job.data.get("tx_hash"),
        "tx_block": job.data.get("posted_block"),
    }
    if destination == "l2" and anchor:
        store = contracts.at(
            w3, "L2BlockHashStore", poster.network.contracts["l2_block_hash_store"]
        )
        held = store.functions.blockHashOf(int(anchor["number"])).call()
        out["anchor_on_destination"] = hexstr(bytes(held))
    return out


async def get_onchain(request: web.Request) -> web.Response:
    _auth(request)
    runtime = _runtime(request)
    job = _job(request)
    served = runtime.model_of(job)
    try:
        body = await asyncio.to_thread(_onchain_read, runtime, job, served)
    except Exception as exc:  # the chain is someone else's: say so, do not fail the page
        body = {"available": False, "reason": f"read failed: {str(exc)[:160]}"}
    return _json(body)


# ------------------------------------------------------------------ subject, models, bridge


async def get_subject(request: web.Request) -> web.Response:
    _auth(request)
    runtime = _runtime(request)
    subject = request.match_info["subject"].lower()
    if not re.fullmatch(openapi.HEX_ADDRESS[1:-1], subject):
        raise _bad("subject must be a 20-byte 0x-hex address")
    jobs = _job_rows(runtime, {"subject": subject}, MAX_JOBS)
    points = []
    for job in jobs:
        if job.data.get("score") is None:
            continue
        served = runtime.catalog.get(job.request["model"])
        names = list(served.spec.names) if served is not None else []
        vector = job.data.get("vector") or []
        points.append(
            {
                "job_id": job.id,
                "model": job.request["model"],
                "block": job.data["block"],
                "score": job.data["score"],
                "state": job.state,
                "features": dict(zip(names, vector, strict=False)),
            }
        )
    points.sort(key=lambda p: (p["model"], p["block"]))
    return _json({"subject": subject, "points": points})


def model_card(served: ServedModel, image_id: str | None) -> dict[str, Any]:
    """A model's card: from the model file (layers, meta: training and evaluation) and
    its spec, with the hashes a journal commits to."""
    meta = served.model.meta if isinstance(served.model.meta, dict) else {}
    raw = _model_file(served.model_path)
    return {
        "name": served.name,
        "model_hash": hexstr(served.model_hash),
        "feature_spec_hash": hexstr(served.spec_hash),
        "input_dim": served.model.input_dim,
        "layers": [
            {k: v for k, v in layer.items() if k in ("op", "in", "out")}
            for layer in raw.get("layers", [])
            if isinstance(layer, dict)
        ],
        "training": meta.get("training"),
        "evaluation": meta.get("evaluation"),
        "source": meta.get("source"),
        "spec": served.spec.to_json(),
        "image_id": image_id,
    }


def _model_file(path: Path) -> dict[str, Any]:
    from coprocessor.jsonfile import load_json

    try:
        obj = load_json(path, "model")
    except CoprocessorError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _image_id(runtime: Runtime) -> str | None:
    """The image ID of the receipts this service produced (the newest proven job's)."""
    return runtime.db.latest_image_id()


async def get_models(request: web.Request) -> web.Response:
    _auth(request)
    runtime = _runtime(request)
    image_id = _image_id(runtime)
    return _json([model_card(m, image_id) for m in runtime.catalog.models])


def _bridge_messages(runtime: Runtime) -> dict[str, Any]:
    from bridge.store import FILENAME, BridgeStore

    directory = getattr(runtime.l2_poster, "bridge_dir", None) or runtime.data_dir
    path = Path(directory) / FILENAME
    if not path.is_file():
        return {"available": False, "messages": []}
    store = BridgeStore(path)
    try:
        messages = []
        for m in store.messages():
            body = m.to_json()
            body["history"] = [
                {"status": s, "at": at, "detail": d} for s, at, d in store.history(m.id)
            ]
            messages.append(body)
    finally:
        store.close()
    return {"available": True, "messages": messages}


async def get_bridge(request: web.Request) -> web.Response:
    _auth(request)
    return _json(await asyncio.to_thread(_bridge_messages, _runtime(request)))


# ------------------------------------------------------------------ registration

_AUTHORIZE = web.AppKey("explorer_authorize", object)


def _auth(request: web.Request) -> None:
    authorize: Any = request.app[_AUTHORIZE]
    authorize(request)


def _runtime(request: web.Request) -> Runtime:
    from coprocessor.service.app import RUNTIME

    return request.app[RUNTIME]


#: (method, path, handler): the explorer's pages and its read-only JSON routes
ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("GET", "/", index),
    ("GET", "/explorer/{name}", asset),
    ("GET", "/v1/explorer/jobs", list_jobs),
    ("GET", "/v1/explorer/jobs/{id}", get_job),
    ("GET", "/v1/explorer/jobs/{id}/score", get_score_page),
    ("GET", "/v1/explorer/jobs/{id}/onchain", get_onchain),
    ("GET", "/v1/explorer/subjects/{subject}", get_subject),
    ("GET", "/v1/explorer/models", get_models),
    ("GET", "/v1/explorer/bridge", get_bridge),
)


def register(app: web.Application, authorize: Authorize) -> None:
    """Add the explorer's routes; ``authorize`` is the API's key check (raises)."""
    app[_AUTHORIZE] = authorize
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
