"""What the explorer's browser tests share with their fixtures (tests/explorer/conftest.py):
the running service and its jobs, submitting and polling jobs over HTTP, opening a page
and screenshotting it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import service_support as support
from locations import REPO

#: screenshots of every main page (build output, gitignored)
#: a model with a history feature: the subject's balance now and 2 blocks earlier
HIST_SPEC = {
    "format": "coproc-features",
    "version": 1,
    "name": "explorer-hist",
    "features": [
        {"name": "eth", "read": {"kind": "balance", "address": "$subject"}, "decimals": 22},
        {"name": "nonce", "read": {"kind": "nonce", "address": "$subject"}},
        {
            "name": "eth_2",
            "read": {"kind": "balance", "address": "$subject", "block_offset": 2},
            "decimals": 22,
        },
    ],
}
HIST_MODEL = {
    "format": "coproc-model",
    "version": 1,
    "name": "explorer-hist",
    "scale_bits": 16,
    "input_dim": 3,
    "layers": [
        {
            "op": "dense",
            "in": 3,
            "out": 1,
            "weights": [[-200_000, 3_000, 50_000]],
            "bias": [131_072],
        },
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}
SHOTS = REPO / "build" / "explorer"


@dataclass
class Explorer:
    chain: support.Chain
    service: support.LiveService
    key: str
    jobs: dict[str, str]  # name -> job id
    subjects: dict[str, str]  # name -> subject


def submit(svc: support.LiveService, key: str, body: dict[str, Any]) -> str:
    status, _, raw = support.http(
        "POST",
        svc.url + "/v1/scores",
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert status == 202, raw
    return str(json.loads(raw)["id"])


def job_state(svc: support.LiveService, key: str, job_id: str) -> str:
    _, _, raw = support.http(
        "GET", f"{svc.url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}
    )
    return str(json.loads(raw)["state"])


def open_page(page: Any, ex: Explorer, route: str, *, key: bool = True) -> None:
    """Open the explorer at ``route`` (with the API key, as coproc demo --keep prints it)."""
    if key:
        page.goto(f"{ex.service.url}/#key={ex.key}")
        page.wait_for_selector("main[data-ready=true]")
        page.goto("about:blank")  # a full load of the route (the key stays in this tab)
    page.goto(f"{ex.service.url}/{route}")
    page.wait_for_selector("main[data-ready=true]")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
