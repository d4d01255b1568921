"""The service serves a spec v2 (series) model over the devnet history: an HTTP job
(mode both: signed and proven by the real guest in dev mode) indexes a bundle v2 with
hops (service/indexing.py), scores it, signs it, proves it, and ends done with the
receipt's journal equal to what was signed; the score is computed independently from
the values the history builder wrote. The hops the job fetched are in the service's
store afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from series_oracle import oracle
from service_support import OPERATOR_KEY, LiveService, guest_config, serve

from coprocessor.chain.bundle_v2 import verify_bundle_v2
from coprocessor.dev.devnet import AnvilNode
from coprocessor.dev.history import CHECKPOINT_EVERY, VALUE_CONTRACT, History
from coprocessor.index.store import Store
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models import reference
from coprocessor.scoring.reads import reads_for_spec
from coprocessor.service.client import Client
from coprocessor.service.indexing import needs_hops
from coprocessor.zk import prover

SUBJECT = "0x" + "42" * 20
SAMPLES = 12  # 11,000 blocks: further than one hop from the anchor
DECIMALS = 14
OPS = ("mean", "last")
MODEL = {
    "format": "coproc-model",
    "version": 1,
    "name": "series-svc",
    "scale_bits": 16,
    "input_dim": 2,
    "layers": [
        {"op": "dense", "in": 2, "out": 1, "weights": [[65536, -65536]], "bias": [0]},
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}


def _spec() -> dict[str, Any]:
    read = {"kind": "storage", "address": "0x" + VALUE_CONTRACT.hex(), "slot": {"base": 0}}
    return {
        "format": "coproc-features",
        "version": 2,
        "name": "series-svc",
        "features": [
            {
                "name": op,
                "read": read,
                "decimals": DECIMALS,
                "series": {"samples": SAMPLES, "every": CHECKPOINT_EVERY, "op": op},
            }
            for op in OPS
        ],
    }


@pytest.fixture
def service(history_node: AnvilNode, tmp_path: Path) -> Iterator[LiveService]:
    models = tmp_path / "models"
    models.mkdir()
    (models / "series-svc.json").write_text(json.dumps(MODEL))
    (models / "series-svc.features.json").write_text(json.dumps(_spec()))
    yield from serve(guest_config(history_node.rpc, models, tmp_path), tmp_path / "data")


def test_a_series_job_is_indexed_with_hops_and_proven(
    history: History, service: LiveService
) -> None:
    head = history.head
    client = Client(service.url, service.add_key())
    job = client.request_score(SUBJECT, "series-svc", block=head, mode="both")
    done = client.wait(job["id"], timeout=1200)
    assert done["state"] == "done"
    assert done["sampling"]["outcome"] == "match"  # the guest's score is the signed one
    result = client.score(SUBJECT, "series-svc")
    # independently: the builder's recorded writes, by hand into Q16, the oracle, the model
    blocks = [head - CHECKPOINT_EVERY * i for i in range(SAMPLES)][::-1]
    xs = [history.value_at(b) * 65536 // 10**DECIMALS for b in blocks]
    assert len(set(xs)) > 3  # the slot moves along the window
    expected = reference.score(fmt.from_json(MODEL), [oracle(op, xs) for op in OPS])
    assert result["score"] == expected and result["block"] == head
    Client.verify_signed(result, Account.from_key(OPERATOR_KEY).address)
    journal = Client.verify_receipt(result, prover.host_image_id(), allow_dev=True)
    spec_hash = "0x" + features.spec_hash(features.normalize(_spec())).hex()
    assert journal["score"] == result["score"] == expected
    assert journal["anchorNumber"] == journal["blockNumber"] == head
    assert journal["featureSpecHash"] == spec_hash
    # the bundle the job wrote is a v2 whose hops reach the oldest sample
    (bundle_file,) = (service.data_dir / "jobs" / job["id"]).glob("bundle-g*.json")
    bundle = json.loads(bundle_file.read_text())
    assert bundle["version"] == 2 and bundle["hops"]
    verified = verify_bundle_v2(bundle)
    assert verified.header(blocks[0]).number == head - CHECKPOINT_EVERY * (SAMPLES - 1)
    if service.backend.name == "postgres":  # the shared cache's table
        cached = service.backend.rows("SELECT source, target FROM chain_hops")
    else:
        store = Store(service.data_dir / "coproc.sqlite")
        try:
            cached = store.db.conn.execute("SELECT source, target FROM hops").fetchall()
        finally:
            store.close()
    assert sorted(cached) == sorted((h["from"], h["to"]) for h in bundle["hops"])


def _v1_spec(offset: int) -> features.Spec:
    read = {"kind": "balance", "address": "$subject", "block_offset": offset}
    feature = {"name": "old", "read": read}
    doc = {"format": "coproc-features", "version": 1, "name": "d", "features": [feature]}
    return features.normalize(doc)


@pytest.mark.parametrize(
    ("offset", "ancestors", "hops"),
    [(0, 0, False), (255, 0, False), (256, 0, True), (200, 55, False), (200, 56, True)],
)
def test_a_v1_spec_takes_hops_beyond_256_headers(offset: int, ancestors: int, hops: bool) -> None:
    """By hand: the header chain runs from the oldest read (block - offset) to the
    anchor (block + ancestors), both included."""
    block = 10_000
    spec = _v1_spec(offset)
    reads = reads_for_spec(spec, SUBJECT, block)
    assert needs_hops(spec, reads, block + ancestors) is hops


def test_a_v2_spec_always_takes_hops() -> None:
    spec = features.normalize(_spec())
    reads = reads_for_spec(spec, SUBJECT, 1_000_000)
    assert needs_hops(spec, {max(reads): reads[max(reads)]}, max(reads)) is True
