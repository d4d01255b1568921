"""The explorer's browser tests: a real service (tests/service_support.py:
anvil, the contracts, a FakeProver sealing dev-mode receipts) with a few finished jobs,
and Debian's chromium driven by Playwright (it cannot download its own browsers here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import service_support as support
from explorer.explorer_support import HIST_MODEL, HIST_SPEC, Explorer, job_state, submit
from web3.types import Wei

from coprocessor.dev.devnet import stop_pid

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def explorer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explorer]:
    from coprocessor.onchain import contracts
    from coprocessor.scoring import features
    from coprocessor.scoring.models import model as fmt

    tmp = tmp_path_factory.mktemp("explorer")
    chain = support.start_chain(tmp, "explorer")
    try:
        w3 = chain.w3
        hist_hash = fmt.from_json(HIST_MODEL).hash()
        oracle = contracts.at(w3, "RiskOracle", chain.oracle)
        spec_hash = features.spec_hash(features.normalize(HIST_SPEC))
        tx = oracle.functions.registerModel(hist_hash, spec_hash).transact(
            {"from": w3.eth.accounts[0]}
        )
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        for i in (2, 3, 1):  # history: balances move; subject a's (account 1) last
            w3.eth.send_transaction(
                {
                    "from": list(w3.eth.accounts)[i],
                    "to": list(w3.eth.accounts)[5],
                    "value": Wei(10**18 * i),
                }
            )
        # latest = the transfers' block + 1: latest - 2 is before them
        w3.provider.make_request("anvil_mine", [1])  # type: ignore[arg-type]
        cfg = support.service_config(chain, tmp)
        models = Path(cfg["models_dir"])
        (models / "explorer-hist.json").write_text(json.dumps(HIST_MODEL))
        (models / "explorer-hist.features.json").write_text(json.dumps(HIST_SPEC))
        svc = support.LiveService(cfg, tmp / "service")
        try:
            key = svc.add_key("explorer")
            a, b = (list(w3.eth.accounts)[1].lower(), list(w3.eth.accounts)[2].lower())
            jobs = {
                "posted": submit(
                    svc,
                    key,
                    {
                        "subject": a,
                        "model": "explorer-hist",
                        "mode": "both",
                        "destination": "l1",
                        "block": "latest",
                    },
                ),
                "signed": submit(svc, key, {"subject": b, "model": "svc-test"}),
            }
            for job_id in jobs.values():
                support.wait_for(
                    lambda j=job_id: job_state(svc, key, j) in ("done", "failed"), 120, "jobs"
                )
            w3.eth.send_transaction(
                {
                    "from": list(w3.eth.accounts)[1],
                    "to": list(w3.eth.accounts)[5],
                    "value": Wei(10**18),
                }
            )
            w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
            jobs["later"] = submit(svc, key, {"subject": a, "model": "explorer-hist"})
            support.wait_for(lambda: job_state(svc, key, jobs["later"]) == "done", 120, "job")
            yield Explorer(chain, svc, key, jobs, {"a": a, "b": b})
        finally:
            svc.stop()
    finally:
        stop_pid(chain.node.pid)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), "Debian's chromium is missing (scripts/setup.sh installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
