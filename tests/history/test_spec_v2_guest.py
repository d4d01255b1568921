"""Feature spec v2 end to end: the Rust core computes the spec v2 vector
(tests/vectors/features/spec_v2.json) bit-equal to its oracle values, and on the
devnet history a 30-sample series of one slot is indexed from the reads the spec
needs (``coproc index --spec --anchor``), verified in Python and run by the guest
(executor and a dev-mode receipt) with the same score.

The devnet history keeps a state every 1,000 blocks (coprocessor/dev/history.py), so
the series samples every 1,000 blocks (not daily: 30 days would be 216,000 blocks,
beyond its 64,000), the newest at the anchor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from locations import VECTORS
from series_oracle import oracle

from coprocessor.chain.bundle_v2 import verify_bundle_v2
from coprocessor.cli.main import main as cli
from coprocessor.dev.devnet import AnvilNode
from coprocessor.dev.history import CHECKPOINT_EVERY, VALUE_CONTRACT, History
from coprocessor.errors import CoprocessorError
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.reads import reads_for_spec
from coprocessor.zk import prover

SUBJECT = "0x" + "42" * 20
SAMPLES = 30
DECIMALS = 14  # values are 10**18 + up to 2**48: about 10,000 in Q16, moving by up to ~3
OPS = ("mean", "last", "stdev", "slope", "change")
MODEL = {
    "format": "coproc-model",
    "version": 1,
    "name": "series",
    "scale_bits": 16,
    "input_dim": len(OPS) + 1,
    "layers": [
        # the mean and the last sample sit near 10,000: their difference carries them
        {
            "op": "dense",
            "in": 6,
            "out": 1,
            "weights": [[0, 0, 65536, 65536, 65536, 65536]],
            "bias": [0],
        },
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}


def _spec() -> dict[str, Any]:
    read = {"kind": "storage", "address": "0x" + VALUE_CONTRACT.hex(), "slot": {"base": 0}}
    feats: list[dict[str, Any]] = [
        {
            "name": op,
            "read": read,
            "decimals": DECIMALS,
            "series": {"samples": SAMPLES, "every": CHECKPOINT_EVERY, "op": op},
        }
        for op in OPS
    ]
    feats.append({"name": "drift", "combine": {"op": "sub", "args": ["mean", "last"]}})
    return {"format": "coproc-features", "version": 2, "name": "series", "features": feats}


def test_the_rust_core_computes_the_v2_vector() -> None:
    doc = json.loads((VECTORS / "features" / "spec_v2.json").read_text())
    out = prover.run_host(["core", "spec-hash"], stdin=json.dumps(doc["spec"]).encode())
    assert out["canonical"] == doc["canonical"] and out["spec_hash"] == doc["spec_hash"]
    payload = {k: doc[k] for k in ("spec", "verified", "subject", "block")}
    got = prover.run_host(["core", "features"], stdin=json.dumps(payload).encode())
    assert got["features"] == [e["q16"] for e in doc["expected"]]


def test_the_rust_core_refuses_a_series_in_a_v1_spec() -> None:
    doc = json.loads((VECTORS / "features" / "spec_v2.json").read_text())
    with pytest.raises(CoprocessorError, match=r"\[S003\]"):
        prover.run_host(
            ["core", "spec-hash"], stdin=json.dumps({**doc["spec"], "version": 1}).encode()
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    op=st.sampled_from(["last", "mean", "min", "max", "stdev", "slope", "change", "count_above"]),
    raws=st.lists(st.integers(0, 2**80), min_size=1, max_size=12),
    every=st.integers(1, 9),
    offset=st.integers(0, 5),
    decimals=st.integers(0, 20),
    threshold=st.integers(-(2**31), 2**31 - 1),
    lo=st.integers(-(2**31), 0),
)
def test_python_and_the_rust_core_agree_on_random_series(
    op: str,
    raws: list[int],
    every: int,
    offset: int,
    decimals: int,
    threshold: int,
    lo: int,
) -> None:
    """Random v2 specs and sampled balances: the Python reference (itself checked
    against the fractions oracle in tests/scoring) and the Rust core give the same Q16."""
    series: dict[str, Any] = {"samples": len(raws), "every": every, "op": op}
    if op == "count_above":
        series["threshold"] = threshold
    read = {"kind": "balance", "address": "$subject", "block_offset": offset}
    spec = {
        "format": "coproc-features",
        "version": 2,
        "name": "h",
        "features": [
            {"name": "x", "read": read, "decimals": decimals, "series": series, "min": lo},
            {"name": "y", "combine": {"op": "mul", "args": ["x", "x"]}},
        ],
    }
    block = 1_000
    newest = block - offset
    accounts = [
        {
            "block": newest - (len(raws) - 1 - i) * every,
            "address": SUBJECT,
            "account": {
                "nonce": "0x0",
                "balance": hex(raw),
                "storage_root": "0x" + "00" * 32,
                "code_hash": "0x" + "cc" * 32,
            },
            "storage": {},
        }
        for i, raw in enumerate(raws)
    ]
    verified = {
        "chain_id": 31337,
        "anchor": {"number": block, "hash": "0x" + "ab" * 32},
        "blocks": [],
        "accounts": accounts,
    }
    python = features.compute(features.normalize(spec), verified, SUBJECT, block).values
    payload = {"spec": spec, "verified": verified, "subject": SUBJECT, "block": block}
    rust = prover.run_host(["core", "features"], stdin=json.dumps(payload).encode())
    assert rust["features"] == list(python)


def test_a_30_sample_series_in_the_guest(
    history: History, history_node: AnvilNode, tmp_path: Path
) -> None:
    head = history.head
    spec = features.normalize(_spec())
    blocks = sorted(reads_for_spec(spec, SUBJECT, head))
    assert blocks == [head - CHECKPOINT_EVERY * i for i in range(SAMPLES)][::-1]
    assert set(blocks) <= set(history.checkpoints) | {head}
    (tmp_path / "spec.json").write_text(json.dumps(_spec()))
    (tmp_path / "model.json").write_text(json.dumps(MODEL))
    bundle_path = tmp_path / "bundle.json"
    code = cli(
        [
            "index",
            "--rpc",
            history_node.rpc,
            "--block",
            str(head),
            "--anchor",
            str(head),
            "--spec",
            str(tmp_path / "spec.json"),
            "--subject",
            SUBJECT,
            "--state-every",
            str(CHECKPOINT_EVERY),
            "--out",
            str(bundle_path),
        ]
    )
    assert code == 0
    bundle = json.loads(bundle_path.read_text())
    verified = verify_bundle_v2(bundle)
    vector = features.compute_bundle(spec, verified, SUBJECT, head)
    # independently: the recorded writes, converted by hand, through the oracle
    xs = [history.value_at(b) * 65536 // 10**DECIMALS for b in blocks]
    expected = [oracle(op, xs) for op in OPS]
    assert list(vector.values) == [*expected, expected[0] - expected[1]]
    assert len(set(xs)) > 5  # the slot moves along the window
    model = fmt.from_json(MODEL)
    scored = pipeline.run(verified, spec, model, SUBJECT, head)
    request = prover.ProveRequest(
        bundle_path, tmp_path / "model.json", tmp_path / "spec.json", SUBJECT
    )
    out = prover.execute(request)
    assert out["journal"]["score"] == scored.score
    assert out["journal"]["featureSpecHash"] == "0x" + features.spec_hash(spec).hex()
    assert out["journal"]["anchorNumber"] == head
    print(f"30-sample series (every {CHECKPOINT_EVERY} blocks): cycles {out['cycles']}")
    receipt = tmp_path / "receipt.json"
    summary = prover.prove(request, receipt, dev=True)
    assert summary["dev_mode"] is True and summary["journal"] == out["journal"]
    assert prover.verify_receipt(receipt, dev=True)["journal"] == out["journal"]
