"""The explorer in a real browser (Debian's chromium through Playwright) against a real
service: jobs appear (and new ones live), a score page shows the features with their
verified sources, the decoded journal, the signature verified in the page and the
on-chain value equal to the journal's; dev-mode receipts are flagged; a tampered
signature shows as invalid; the plots draw their elements; nothing behind a key shows
without it. Every main page is screenshotted into build/explorer/."""

from __future__ import annotations

import json
from typing import Any

import service_support as support
from explorer.explorer_support import HIST_MODEL, Explorer, job_state, open_page, shot, submit
from web3 import Web3

from coprocessor.onchain import contracts
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import journal as journal_v1


def _job(ex: Explorer, job_id: str) -> dict[str, Any]:
    _, _, raw = support.http(
        "GET", f"{ex.service.url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {ex.key}"}
    )
    return dict(json.loads(raw))


def _result(ex: Explorer, job_id: str) -> dict[str, Any]:
    _, _, raw = support.http(
        "GET",
        f"{ex.service.url}/v1/explorer/jobs/{job_id}/score",
        headers={"Authorization": f"Bearer {ex.key}"},
    )
    return dict(json.loads(raw)["result"])


def test_jobs_appear_and_new_ones_arrive_live(explorer: Explorer, page: Any) -> None:
    open_page(page, explorer, "#/jobs")
    table = page.locator("#jobs-table")
    for job_id in explorer.jobs.values():
        assert table.get_by_role("link", name=job_id).count() == 1
    assert "live: following /v1/feed" in page.locator("#live").inner_text()
    shot(page, "jobs")
    # a job submitted while the page is open shows up without a reload
    new = submit(explorer.service, explorer.key, {"subject": explorer.subjects["b"],
                                                   "model": "svc-test", "block": 3})  # fmt: skip
    table.get_by_role("link", name=new).wait_for(timeout=30_000)
    support.wait_for(lambda: job_state(explorer.service, explorer.key, new) == "done", 60, "job")
    # filters: only signed-mode jobs of subject b
    open_page(page, explorer, f"#/jobs?mode=both&subject={explorer.subjects['a']}")
    links = page.locator("#jobs-table tbody tr")
    assert links.count() == 1
    assert links.first.get_by_role("link", name=explorer.jobs["posted"]).count() == 1


def test_job_page_shows_the_state_timeline(explorer: Explorer, page: Any) -> None:
    open_page(page, explorer, f"#/job/{explorer.jobs['posted']}")
    steps = page.locator("#timeline li")
    names = [steps.nth(i).locator("strong").inner_text() for i in range(steps.count())]
    # mode both, destination l1, no batching: lifecycle.path, written out independently
    assert names == ["queued", "indexing", "scoring", "signing", "proving", "posting", "done"]
    assert page.locator("#timeline li.entered").count() == 7
    assert page.locator("#timeline li[aria-current=step]").inner_text().startswith("done")
    shot(page, "job")


def test_score_page_features_journal_signature_and_chain(explorer: Explorer, page: Any) -> None:
    job_id = explorer.jobs["posted"]
    job = _job(explorer, job_id)
    block, subject = job["block"], explorer.subjects["a"]
    w3 = explorer.chain.w3
    open_page(page, explorer, f"#/score/{job_id}")
    page.wait_for_selector("#onchain-match")
    # features: values and sources against plain RPC reads (not the service's code)
    rows = page.locator("#features tbody tr")
    assert rows.count() == 3
    balance = w3.eth.get_balance(Web3.to_checksum_address(subject), block_identifier=block)
    earlier = w3.eth.get_balance(Web3.to_checksum_address(subject), block_identifier=block - 2)
    assert balance != earlier  # the fixture moved it: the history has two distinct points
    nonce = w3.eth.get_transaction_count(Web3.to_checksum_address(subject), block_identifier=block)
    for i, (raw, offset) in enumerate(((balance, 0), (nonce, 0), (earlier, 2))):
        text = rows.nth(i).inner_text()
        assert f"proven raw value {raw}" in text, text
        assert f"at block {block - offset}" in text
        assert subject in text
    eth_q16 = balance * 65536 // 10**22
    assert rows.nth(0).locator("td").nth(1).inner_text() == str(eth_q16)
    # the journal decoded in the page equals the receipt decoded here
    result = _result(explorer, job_id)
    decoded = journal_v1.decode(bytes.fromhex(result["journal"][2:]))
    for name in ("score", "blockNumber", "anchorNumber", "subject", "modelHash"):
        cell = page.locator(f"#journal [data-field={name}]").inner_text()
        assert cell.lower() == str(decoded[name]).lower()
    assert page.locator("#journal .bad").count() == 0
    # the signature, verified by ethers in the page
    sig = page.locator("#sig-status")
    assert sig.get_attribute("data-valid") == "true", sig.inner_text()
    # on-chain: the oracle's stored value, read here directly, equals the journal's
    oracle = contracts.at(w3, "RiskOracle", explorer.chain.oracle)
    hist_hash = fmt.from_json(HIST_MODEL).hash()
    stored = oracle.functions.scoreOf(Web3.to_checksum_address(subject), hist_hash).call()
    # the later job (signed only) did not post: the stored value is the posted job's
    assert stored[0] == decoded["score"] and stored[1] == decoded["blockNumber"]
    assert page.locator("#onchain-score").inner_text() == str(decoded["score"])
    assert page.locator("#onchain-match").get_attribute("data-match") == "true"
    # dev-mode receipt (FakeProver seals like RISC0_DEV_MODE): flagged loudly
    assert page.locator("#dev-banner").is_visible()
    assert "DEV-MODE RECEIPT" in page.locator("#dev-banner").inner_text()
    # the history feature is drawn: one point per block of the series
    plot = page.locator("svg.feature-series").first
    assert plot.locator("circle.point").count() == 2
    assert plot.locator("polyline.series").count() == 1
    shot(page, "score")


def test_signed_only_score_has_no_dev_banner(explorer: Explorer, page: Any) -> None:
    open_page(page, explorer, f"#/score/{explorer.jobs['signed']}")
    page.wait_for_selector("#onchain")
    assert page.locator("#dev-banner").count() == 0
    assert page.locator("#sig-status").get_attribute("data-valid") == "true"


def _tamper(page: Any, change: Any) -> None:
    def handle(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        change(body["result"])
        route.fulfill(response=response, body=json.dumps(body))

    page.route("**/v1/explorer/jobs/*/score", handle)


def test_tampered_signature_shows_invalid(explorer: Explorer, page: Any) -> None:
    def flip(result: dict[str, Any]) -> None:
        sig = bytearray.fromhex(result["signature"][2:])
        sig[5] ^= 0x01  # r changes: recovers another address (or none)
        result["signature"] = "0x" + sig.hex()

    _tamper(page, flip)
    open_page(page, explorer, f"#/score/{explorer.jobs['signed']}")
    sig = page.locator("#sig-status")
    assert sig.get_attribute("data-valid") == "false"
    assert "INVALID" in sig.inner_text()


def test_tampered_score_shows_invalid(explorer: Explorer, page: Any) -> None:
    def bump(result: dict[str, Any]) -> None:
        result["score"] += 1  # the signature is over the real score

    _tamper(page, bump)
    open_page(page, explorer, f"#/score/{explorer.jobs['signed']}")
    assert page.locator("#sig-status").get_attribute("data-valid") == "false"


def test_subject_page_plots_the_history(explorer: Explorer, page: Any) -> None:
    subject = explorer.subjects["a"]
    open_page(page, explorer, f"#/subject/{subject}")
    first = page.locator("figure svg.plot").first
    # two scored jobs under explorer-hist at two blocks: two points on the score plot
    assert first.locator("circle.point").count() == 2
    assert first.locator("polyline.series").count() == 1
    # one plot per feature beside it
    assert page.locator("section .grid svg.plot").count() == 3
    shot(page, "subject")


def test_models_operations_and_bridge_pages(explorer: Explorer, page: Any) -> None:
    open_page(page, explorer, "#/models")
    hist = page.locator("#model-explorer-hist")
    hist_hash = "0x" + fmt.from_json(HIST_MODEL).hash().hex()
    assert hist_hash in hist.inner_text()
    assert "0x" + support.IMAGE_ID.hex() in hist.inner_text().lower()
    shot(page, "models")
    open_page(page, explorer, "#/ops", key=False)  # /metrics is open
    plots = page.locator("#ops-plots svg.plot")
    assert plots.count() == 3
    assert plots.nth(0).locator("rect.bar").count() == 9  # one per lifecycle state
    assert plots.nth(1).locator("rect.bar").count() >= 4  # stages that ran: index … post
    # the queue-depth plot gains a point per sample (every 2 s)
    support.wait_for(lambda: plots.nth(2).locator("circle.point").count() >= 2, 20, "samples")
    shot(page, "operations")
    open_page(page, explorer, "#/bridge")
    assert "no bridge store" in page.locator("main").inner_text()


def test_nothing_behind_the_key_shows_without_it(explorer: Explorer, page: Any) -> None:
    status, _, _ = support.http("GET", explorer.service.url + "/v1/explorer/jobs")
    assert status == 401
    page.goto(f"{explorer.service.url}/#/jobs")
    page.wait_for_selector("main[data-ready=true]")
    assert page.locator("#needs-key").is_visible()
    text = page.locator("body").inner_text()
    assert all(job_id not in text for job_id in explorer.jobs.values())
    # the key form is labelled and reachable by keyboard
    assert page.get_by_label("API key").is_visible()
    page.get_by_label("API key").fill(explorer.key)
    page.keyboard.press("Enter")
    page.locator("#jobs-table").wait_for()
    assert explorer.jobs["posted"] in page.locator("#jobs-table").inner_text()
