"""API v1, defined once: the JSON schemas, the route table, the OpenAPI 3 document
built from them (served at ``/v1/openapi.json``), and the validator the handlers use
on request bodies and parameters, which reads the same schemas."""

from __future__ import annotations

import re
from typing import Any

from coprocessor.service.lifecycle import State

HEX_ADDRESS = r"^0x[0-9a-fA-F]{40}$"
MODEL_KEY = r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,79}|0x[0-9a-fA-F]{64})$"
JOB_ID = r"^job_[0-9a-f]{24}$"
IDEMPOTENCY_KEY = r"^[A-Za-z0-9_.:-]{1,128}$"
MAX_BLOCK = 2**63 - 1

HEX = {"type": "string", "pattern": r"^0x[0-9a-f]*$"}
NULLABLE_HEX = {"type": "string", "pattern": r"^0x[0-9a-f]*$", "nullable": True}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ScoreRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["subject", "model"],
        "properties": {
            "subject": {"type": "string", "pattern": HEX_ADDRESS, "description": "account scored"},
            "model": {
                "type": "string",
                "pattern": MODEL_KEY,
                "description": "model name or model hash (GET /v1/models)",
            },
            "block": {
                "oneOf": [
                    {"type": "integer", "minimum": 1, "maximum": MAX_BLOCK},
                    {"type": "string", "enum": ["latest", "finalized"]},
                ],
                "default": "latest",
            },
            "mode": {"type": "string", "enum": ["signed", "proven", "both"], "default": "signed"},
            "destination": {"type": "string", "enum": ["l1", "l2", "none"], "default": "none"},
        },
    },
    "JobAccepted": {
        "type": "object",
        "required": ["id", "state", "url"],
        "properties": {
            "id": {"type": "string", "pattern": JOB_ID},
            "state": {"type": "string"},
            "url": {"type": "string"},
            "created": {"type": "boolean", "description": "false: idempotent replay"},
        },
    },
    "Job": {
        "type": "object",
        "required": ["id", "state", "timestamps", "request"],
        "properties": {
            "id": {"type": "string", "pattern": JOB_ID},
            "state": {"type": "string", "enum": [s.value for s in State]},
            "request": {"$ref": "#/components/schemas/ScoreRequest"},
            "attempts": {"type": "integer"},
            "timestamps": {"type": "object", "additionalProperties": {"type": "number"}},
            "error": {"type": "string", "nullable": True},
            "reorgs": {"type": "integer"},
            "block": {"type": "integer", "nullable": True},
            "score": {"type": "integer", "nullable": True},
            "progress": {"type": "object", "description": "stage progress: cycles, proof"},
            "sampled": {"type": "boolean"},
            "tx_hash": {"type": "string", "nullable": True},
            "batch": {
                "type": "object",
                "nullable": True,
                "description": "a job proven in a batch: id, batch_id, size, leaf_index, "
                "leaf, leaf_hash, proof (siblings up to results_root), results_root",
            },
        },
    },
    "Result": {
        "type": "object",
        "required": ["subject", "model", "model_hash", "block", "score"],
        "properties": {
            "subject": {"type": "string"},
            "model": {"type": "string"},
            "model_hash": HEX,
            "feature_spec_hash": HEX,
            "chain_id": {"type": "integer"},
            "block": {"type": "integer"},
            "anchor": {
                "type": "object",
                "properties": {"number": {"type": "integer"}, "hash": HEX},
            },
            "score": {"type": "integer", "minimum": 0, "maximum": 10000},
            "signature": NULLABLE_HEX,
            "signer": {"type": "string", "nullable": True},
            "journal": NULLABLE_HEX,
            "seal": NULLABLE_HEX,
            "image_id": NULLABLE_HEX,
            "dev_mode": {"type": "boolean", "nullable": True},
            "tx_hashes": {"type": "object", "additionalProperties": {"type": "string"}},
            "anchor_push": {
                "type": "object",
                "nullable": True,
                "description": "destination l2: how the anchor's L1 hash reached L2",
            },
            "job_id": {"type": "string"},
            "request_id": HEX,
        },
    },
    "Model": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "model_hash": HEX,
            "feature_spec_hash": HEX,
            "input_dim": {"type": "integer"},
            "features": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str | dict[str, Any], description: str) -> dict[str, Any]:
    schema = _ref(name) if isinstance(name, str) else name
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "malformed request",
        401: "missing or unknown API key",
        404: "not found",
        409: "idempotency key reused with another body",
        413: "body too large",
        415: "body is not application/json",
        422: "valid JSON that the service cannot do",
        429: "rate limited (Retry-After)",
    }
    return {str(c): _json("Error", text[c]) for c in codes}


AUTH: list[dict[str, list[str]]] = [{"apiKey": []}]

#: (method, path, operation): the route table; app.py registers exactly these
ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "post",
        "/v1/scores",
        {
            "operationId": "requestScore",
            "summary": "Request a score; returns a job to poll",
            "security": AUTH,
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("ScoreRequest")}},
            },
            "responses": {
                "202": _json("JobAccepted", "job queued (or the job of this idempotency key)"),
                **_errors(400, 401, 409, 413, 415, 422, 429),
            },
        },
    ),
    (
        "get",
        "/v1/jobs/{id}",
        {
            "operationId": "getJob",
            "summary": "A job's state, timestamps, errors and progress",
            "security": AUTH,
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": _json("Job", "the job"), **_errors(400, 401, 404, 429)},
        },
    ),
    (
        "get",
        "/v1/scores/{subject}",
        {
            "operationId": "getScore",
            "summary": "The latest result for a subject and model",
            "security": AUTH,
            "parameters": [
                {"name": "subject", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "model",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "pattern": MODEL_KEY},
                },
            ],
            "responses": {"200": _json("Result", "latest result"), **_errors(400, 401, 404, 429)},
        },
    ),
    (
        "get",
        "/v1/feed",
        {
            "operationId": "feed",
            "summary": "Server-sent events of results (event: signed|proven|posted)",
            "security": AUTH,
            "parameters": [
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": r"^[0-9]{1,18}$"},
                }
            ],
            "responses": {
                "200": {
                    "description": "event stream; each data line is a Result",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **_errors(400, 401, 429),
            },
        },
    ),
    (
        "get",
        "/v1/models",
        {
            "operationId": "listModels",
            "summary": "Models served",
            "security": AUTH,
            "responses": {
                "200": _json({"type": "array", "items": _ref("Model")}, "models"),
                **_errors(401, 429),
            },
        },
    ),
    (
        "get",
        "/v1/openapi.json",
        {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.0 document")},
        },
    ),
    (
        "get",
        "/healthz",
        {
            "operationId": "health",
            "summary": "Liveness and queue depth",
            "responses": {"200": _json({"type": "object"}, "alive")},
        },
    ),
    (
        "get",
        "/metrics",
        {
            "operationId": "metrics",
            "summary": "Prometheus text format",
            "responses": {
                "200": {
                    "description": "metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        },
    ),
]


def document(version: str = "1.0.0") -> dict[str, Any]:
    """The OpenAPI 3.0 document of API v1."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, op in ROUTES:
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "coproc service",
            "version": version,
            "description": "Verifiable risk scores: signed at once, proven in the zkVM, "
            "posted on-chain. See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "cpk_… key"}
            },
        },
    }


# ------------------------------------------------------------------ validation


class SchemaError(ValueError):
    """A value does not match its schema; the message names where."""


def validate(value: Any, schema: dict[str, Any], where: str = "body") -> Any:
    """Check ``value`` against ``schema`` (the subset used above) and return it with
    defaults of missing object properties filled in."""
    if "$ref" in schema:
        return validate(value, SCHEMAS[schema["$ref"].rsplit("/", 1)[1]], where)
    if value is None and schema.get("nullable"):
        return None
    if "oneOf" in schema:
        for option in schema["oneOf"]:
            try:
                return validate(value, option, where)
            except SchemaError:
                continue
        raise SchemaError(f"{where}: {_describe(schema)} expected, got {_show(value)}")
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object, got {_show(value)}")
        props: dict[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise SchemaError(f"{where}: missing required field {name!r}")
        if schema.get("additionalProperties") is False:
            extra = sorted(set(value) - set(props))
            if extra:
                raise SchemaError(f"{where}: unknown field {extra[0][:40]!r}")
        out = {}
        for name, sub in props.items():
            if name in value:
                out[name] = validate(value[name], sub, f"{where}.{name}")
            elif "default" in sub:
                out[name] = sub["default"]
        return out
    if kind == "string":
        if not isinstance(value, str):
            raise SchemaError(f"{where}: expected a string, got {_show(value)}")
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaError(f"{where}: must be one of {', '.join(schema['enum'])}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise SchemaError(f"{where}: {_show(value)} is not of the expected form")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{where}: expected an integer, got {_show(value)}")
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            raise SchemaError(
                f"{where}: {value} is outside {schema.get('minimum')}..{schema.get('maximum')}"
            )
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise SchemaError(f"{where}: expected an array, got {_show(value)}")
        items = schema.get("items", {})
        return [validate(v, items, f"{where}[{i}]") if items else v for i, v in enumerate(value)]
    if kind == "boolean":
        if not isinstance(value, bool):
            raise SchemaError(f"{where}: expected true or false, got {_show(value)}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(f"{where}: expected a number, got {_show(value)}")
        return value
    if "enum" in schema:
        if value not in schema["enum"]:
            raise SchemaError(f"{where}: must be one of {', '.join(schema['enum'])}")
        return value
    if kind is None:
        return value
    raise AssertionError(f"schema type {kind!r} is not supported by the validator")


def _describe(schema: dict[str, Any]) -> str:
    parts: list[str] = []
    for option in schema["oneOf"]:
        if "enum" in option:
            parts.extend(repr(e) for e in option["enum"])
        else:
            parts.append(f"an {option['type']}")
    return " or ".join(parts)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
