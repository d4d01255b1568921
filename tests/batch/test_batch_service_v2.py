"""The service batches jobs over bundle v2 (service/batching.py, the rule of
service/indexing.py: a spec v2, or reads further back than 256 headers): on the devnet
history, four HTTP jobs (mode both) of one series model (and of a spec v1 model reading
1,002 blocks back) at one block join one batch, which indexes one bundle v2 for all of
them (the hops and headers a single job's bundle has, not one set per subject), is
proven once by the real guest in dev mode (its journal must be the Python twin's byte
for byte), and every job ends done with its leaf. Each leaf's score equals the
single-job Python pipeline's over the job's own bundle, and the score computed by hand
from the balances funded (the node of test_batch_history) and the values the history
builder recorded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import test_batch_history as funded
from eth_account import Account
from service_support import OPERATOR_KEY, LiveService, guest_config, serve

from coprocessor.chain.bundle_v2 import load_any_bundle
from coprocessor.dev.devnet import AnvilNode
from coprocessor.dev.history import CHECKPOINT_EVERY, History
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models import reference
from coprocessor.service.client import Client
from coprocessor.zk import prover

#: test_batch_history's fixtures: the history node, subjects funded two blocks above its head
history, node = funded.history, funded.node
FUNDED = funded.FUNDED[:4]
DECIMALS, OFFSET, PRICE = funded.DECIMALS, funded.OFFSET, funded.PRICE
SAMPLES = 4
SUBJECTS = [s for s, _ in FUNDED]
NAME = "series-batch"
SPEC: dict[str, Any] = {
    "format": "coproc-features",
    "version": 2,
    "name": NAME,
    "features": [
        {"name": "bal", "read": {"kind": "balance", "address": "$subject"}, "decimals": 18},
        *funded.price_series(SAMPLES, ("last", "min")),
    ],
}
MODEL: dict[str, Any] = {
    "format": "coproc-model",
    "version": 1,
    "name": NAME,
    "scale_bits": 16,
    "input_dim": 3,
    "layers": [
        {"op": "dense", "in": 3, "out": 1, "weights": [[9830, 65536, -65536]], "bias": [-98304]},
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}

DEEP = "deep-batch"
#: a spec v1 whose oldest read is 1,002 blocks below the request block: far back
DEEP_SPEC: dict[str, Any] = {
    "format": "coproc-features",
    "version": 1,
    "name": DEEP,
    "features": [
        SPEC["features"][0],
        *(
            {"name": name, "read": {**PRICE, "block_offset": offset}, "decimals": DECIMALS}
            for name, offset in (("px_now", OFFSET), ("px_old", OFFSET + CHECKPOINT_EVERY))
        ),
    ],
}
#: each model's spec, and its third feature from the samples (newest first)
SPECS: dict[str, tuple[dict[str, Any], Callable[[list[int]], int]]] = {
    NAME: (SPEC, min),
    DEEP: (DEEP_SPEC, lambda xs: xs[1]),
}


@pytest.fixture
def service(node: AnvilNode, tmp_path: Path) -> Iterator[LiveService]:
    models = tmp_path / "models"
    models.mkdir()
    for name, (spec, _) in SPECS.items():
        (models / f"{name}.json").write_text(json.dumps({**MODEL, "name": name}))
        (models / f"{name}.features.json").write_text(json.dumps(spec))
    config = guest_config(
        node.rpc,
        models,
        tmp_path,
        batch_max_size=len(SUBJECTS),  # closes full: every job in one batch
        batch_wait_seconds=600.0,
        workers=2,
    )
    yield from serve(config, tmp_path / "data")


def by_hand(history: History, head: int, third: Callable[[list[int]], int]) -> list[int]:
    """Each subject's score from the balances funded and the builder's recorded writes,
    converted to Q16 by hand, through the model's reference."""
    xs = [history.value_at(head - OFFSET - CHECKPOINT_EVERY * i) * 65536 // 10**DECIMALS
          for i in range(SAMPLES)]  # fmt: skip
    assert len(set(xs)) > 1  # the value moves along the window
    model = fmt.from_json(MODEL)
    return [
        reference.score(model, [wei * 65536 // 10**18, xs[0], third(xs)]) for _, wei in FUNDED[:4]
    ]


@pytest.mark.parametrize("name", [NAME, DEEP])
def test_a_batch_shares_one_bundle_v2(history: History, service: LiveService, name: str) -> None:
    """A spec v2 (series), and a spec v1 reading 1,002 blocks back (past 256 headers)."""
    head = history.head + OFFSET
    client = Client(service.url, service.add_key())
    ids = [client.request_score(s, name, block=head, mode="both")["id"] for s in SUBJECTS]
    jobs = [client.wait(i, timeout=1200) for i in ids]
    spec_doc, third = SPECS[name]
    want = by_hand(history, head, third)
    assert len(set(want)) == len(SUBJECTS)  # a leaf in another's place would show
    spec, model = features.normalize(spec_doc), fmt.from_json(MODEL)
    (batch_id,) = {job["batch"]["id"] for job in jobs}  # one batch
    batch_file = service.data_dir / "batches" / f"{batch_id}.json"
    whole = load_any_bundle(batch_file).to_json()
    assert whole["version"] == 2 and whole["hops"]
    image_id = prover.host_image_id()
    operator = Account.from_key(OPERATOR_KEY).address
    for subject, job, score in zip(SUBJECTS, jobs, want, strict=True):
        assert job["state"] == "done", job["error"]
        assert "batching" in job["timestamps"] and job["batch"]["size"] == len(SUBJECTS)
        leaf = job["batch"]["leaf"]
        assert leaf["subject"] == subject and int(leaf["blockNumber"]) == head
        # the single-job pipeline over the job's own bundle (v2, written by indexing)
        (own,) = (service.data_dir / "jobs" / job["id"]).glob("bundle-g*.json")
        single = pipeline.run(pipeline.verify_file(own), spec, model, subject, head)
        assert int(leaf["score"]) == single.score == score == job["score"]
        mine = load_any_bundle(own).to_json()
        assert mine["hops"] == whole["hops"] and mine["headers"] == whole["headers"]
        result = client.score(subject, name)
        Client.verify_signed(result, operator)
        journal = Client.verify_receipt(result, image_id, allow_dev=True)
        assert journal["score"] == score and journal["anchorNumber"] == head
