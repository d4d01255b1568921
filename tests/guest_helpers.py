"""Helpers for the guest tests (no tests here): requests built from the real mainnet
vectors with the Python indexer code, and the Python reference of a whole request
(verify_bundle + features + model), which the guest's journal must equal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coprocessor.chain.bundle import ProofAtBlock, build_bundle, verify_bundle
from coprocessor.chain.headers import encode_header_json
from coprocessor.chain.keccak import keccak256
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models import reference
from coprocessor.zk.prover import ProveRequest

WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
SUBJECT = "0x4242424242424242424242424242424242424242"


def mainnet_bundle(
    vectors: Path, header_files: list[str], proofs: list[tuple[str, int]]
) -> dict[str, Any]:
    """A bundle v1 dict from header files (consecutive) and (proof file, block) pairs."""
    headers = [
        encode_header_json(json.loads((vectors / "headers" / f).read_text())) for f in header_files
    ]
    items = [
        ProofAtBlock(block, json.loads((vectors / "proofs" / f).read_text())["proof"])
        for f, block in proofs
    ]
    return build_bundle(1, headers, items).bundle.to_json()


def weth_bundle(vectors: Path) -> dict[str, Any]:
    """One account + one storage slot (a WETH balanceOf entry) at a real Prague block."""
    return mainnet_bundle(
        vectors, ["prague_23223655.json"], [("prague_23223655_weth_storage.json", 23223655)]
    )


def weth_spec(bundle: dict[str, Any]) -> dict[str, Any]:
    """Four features over the WETH read: the proven slot (as a direct slot number, a
    256-bit integer), the contract's ETH balance, code presence, a ratio."""
    slot = int(bundle["accounts"][0]["storage"][0]["slot"], 16)
    return {
        "format": "coproc-features",
        "version": 1,
        "name": "weth-test",
        "features": [
            {
                "name": "slot_value",
                "read": {"kind": "storage", "address": WETH, "slot": {"base": slot}},
                "decimals": 18,
            },
            {"name": "weth_eth", "read": {"kind": "balance", "address": WETH}, "decimals": 18},
            {"name": "has_code", "read": {"kind": "code_present", "address": WETH}},
            {
                "name": "ratio",
                "combine": {"op": "ratio", "args": ["slot_value", "weth_eth"]},
                "min": -5,
                "max": 1000000,
            },
        ],
    }


def small_model(input_dim: int = 4, hidden: int = 2) -> dict[str, Any]:
    """A small MLP in model v1 JSON (deterministic weights)."""
    w1 = [
        [(7919 * (i + 1) * (j + 3)) % 60000 - 30000 for j in range(input_dim)]
        for i in range(hidden)
    ]
    return {
        "format": "coproc-model",
        "version": 1,
        "name": f"test-{input_dim}x{hidden}",
        "scale_bits": 16,
        "input_dim": input_dim,
        "layers": [
            {
                "op": "dense",
                "in": input_dim,
                "out": hidden,
                "weights": w1,
                "bias": [5, -9][:hidden] + [0] * (hidden - 2),
            },
            {"op": "relu"},
            {
                "op": "dense",
                "in": hidden,
                "out": 1,
                "weights": [[40000 - 1000 * i for i in range(hidden)]],
                "bias": [1],
            },
            {"op": "sigmoid"},
            {"op": "to_bps"},
        ],
    }


def write_request(
    tmp: Path, bundle: dict[str, Any], model: dict[str, Any], spec: dict[str, Any]
) -> dict[str, Path]:
    paths = {}
    for name, obj in (("bundle", bundle), ("model", model), ("spec", spec)):
        paths[name] = tmp / f"{name}.json"
        paths[name].write_text(json.dumps(obj))
    return paths


def prove_request(paths: dict[str, Path], subject: str = SUBJECT, **kw: Any) -> ProveRequest:
    """The prover's request of the files ``write_request`` wrote."""
    return ProveRequest(paths["bundle"], paths["model"], paths["spec"], subject, **kw)


def weth_request(vectors: Path, tmp: Path) -> dict[str, Any]:
    """The mainnet WETH balance request (bundle, spec, small model) written to ``tmp``:
    its objects and their file ``paths``."""
    bundle = weth_bundle(vectors)
    spec = weth_spec(bundle)
    model = small_model()
    paths = write_request(tmp, bundle, model, spec)
    return {"bundle": bundle, "spec": spec, "model": model, "paths": paths, "tmp": tmp}


def reference_journal(
    bundle: dict[str, Any],
    model: dict[str, Any],
    spec: dict[str, Any],
    subject: str,
    request_id: bytes = bytes(32),
    block: int | None = None,
) -> dict[str, Any]:
    """Journal v1 fields as the Python reference computes them (no Rust involved)."""
    verified = verify_bundle(bundle)
    m = fmt.from_json(model)
    vector = features.compute(features.normalize(spec), verified.to_json(), subject, block)
    return {
        "version": 1,
        "chainId": bundle["chain_id"],
        "anchorNumber": verified.anchor.number,
        "anchorHash": "0x" + verified.anchor.hash.hex(),
        "blockNumber": vector.block,
        "subject": subject.lower(),
        "modelHash": m.hash_hex() if m.hash_hex().startswith("0x") else "0x" + m.hash_hex(),
        "featureSpecHash": "0x"
        + keccak256(features.canonical_bytes(features.normalize(spec))).hex(),
        "score": reference.score(m, list(vector.values)),
        "requestId": "0x" + request_id.hex(),
    }
