"""A lying operator is caught by an independent watcher, in separate processes.

The service (in this process, real HTTP on loopback) is configured with the test-only
knob ``test_lie_subjects``: the scores of two subjects are signed one basis point off.
``coproc watch`` runs as its own process, with its own data directory, following the
service's feed with p = 1 and recomputing from the same anvil through its own indexer.
It must find every lie and nothing else, file ``SignedScores.challenge`` once (the key is
slashed after that; later lies find the signer inactive), and be paid half the bond.
It is killed with SIGKILL halfway and restarted: no signed score is checked twice or
skipped. Honest scores are never challenged."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from locations import REPO
from service_support import (
    OPERATOR_KEY,
    Chain,
    LiveService,
    chain_fixture,
    expected_score,
    http,
    service_config,
    wait_for,
)
from web3.logs import DISCARD

from coprocessor.dev.devnet import free_port
from coprocessor.onchain import contracts
from coprocessor.service.client import Client
from coprocessor.service.watch_store import WatchStore

COPROC = REPO / ".venv" / "bin" / "coproc"
# anvil's default accounts 1..6 (funded, so their scores differ)
SUBJECTS = [
    "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
    "0x90f79bf6eb2c4f870365e785982e1f101e93b906",
    "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65",
    "0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc",
    "0x976ea74026e726554db657fa54763abd0c3a0aa9",
]
LIARS = {SUBJECTS[1], SUBJECTS[4]}
WATCHER_KEY = bytes.fromhex("8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba")
BOND = 10**18


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("watch-chain"), "watch")


class WatchProcess:
    def __init__(self, chain: Chain, service_url: str, api_key: str, data: Path, models: Path):
        self.port = free_port()
        self.log = data.parent / "watch.log"
        self.args = [
            str(COPROC), "--data-dir", str(data), "watch",
            "--feed", service_url, "--chain", chain.node.rpc,
            "--probability", "1", "--models", str(models),
            "--prover", "import:service_support:fake_prover",
            "--metrics-port", str(self.port),
        ]  # fmt: skip
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = str(REPO / "tests")
        self.env["COPROC_WATCH_API_KEY"] = api_key
        self.env["COPROC_WATCHER_KEY"] = "0x" + WATCHER_KEY.hex()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=out)
        wait_for(self.healthy, timeout=60, what="the watcher's metrics endpoint")

    def healthy(self) -> bool:
        try:
            return bool(http("GET", f"http://127.0.0.1:{self.port}/healthz", timeout=2)[0] == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        return str(http("GET", f"http://127.0.0.1:{self.port}/metrics")[2].decode())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)


def _checked(data: Path) -> list[dict[str, object]]:
    store = WatchStore(data / "watch.sqlite")
    try:
        return store.checks()
    finally:
        store.close()


def test_liar_caught_by_separate_watcher(chain: Chain, tmp_path: Path) -> None:
    w3 = chain.w3
    watcher_address = Account.from_key(WATCHER_KEY).address
    operator = Account.from_key(OPERATOR_KEY).address
    signed_scores = contracts.at(w3, "SignedScores", chain.signed_scores)
    assert signed_scores.functions.operatorOf(operator).call()[1] == 1  # Active
    cfg = service_config(chain, tmp_path, test_lie_subjects=sorted(LIARS))
    service = LiveService(cfg, tmp_path / "service")
    watch_data = tmp_path / "watcher"
    try:
        client = Client(service.url, service.add_key())
        # first round: one signed score per subject
        jobs = [client.request_score(s, "svc-test")["id"] for s in SUBJECTS]
        done = [client.wait(j) for j in jobs]
        balance_before = w3.eth.get_balance(watcher_address)
        watcher = WatchProcess(
            chain, service.url, service.add_key("watcher"), watch_data, tmp_path / "models"
        )
        watcher.start()
        wait_for(lambda: len(_checked(watch_data)) == len(SUBJECTS), 120, "first round checked")
        # the liar's bond is gone, half of it to the watcher
        wait_for(lambda: signed_scores.functions.operatorOf(operator).call()[1] == 4, 60, "slashed")
        # kill -9 while idle, move the chain, sign a second round, restart
        watcher.kill()
        w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
        second = [client.request_score(s, "svc-test")["id"] for s in SUBJECTS]
        done += [client.wait(j) for j in second]
        watcher.start()
        wait_for(lambda: len(_checked(watch_data)) == 2 * len(SUBJECTS), 120, "all checked")
        text = watcher.metrics()
        watcher.kill(signal.SIGTERM)
    finally:
        service.stop()

    checks = _checked(watch_data)
    # every signed score checked exactly once, across the restart
    seen = sorted((str(c["subject"]), int(str(c["block"]))) for c in checks)
    assert seen == sorted((str(j["request"]["subject"]).lower(), int(j["block"])) for j in done)
    for c in checks:
        truth = expected_score(w3, str(c["subject"]), int(str(c["block"])))
        assert c["recomputed"] == truth  # the watcher's recomputation is right
        if c["subject"] in LIARS:
            assert c["outcome"] == "mismatch" and c["signed_score"] != truth
        else:
            assert c["outcome"] == "match" and c["signed_score"] == truth
    store = WatchStore(watch_data / "watch.sqlite")
    challenges = store.challenges()
    store.close()
    by_status = sorted(str(c["status"]) for c in challenges)
    # one challenge slashes; the other lies find the key already slashed
    assert by_status == ["filed"] + ["signer_inactive"] * (2 * len(LIARS) - 1)
    filed = next(c for c in challenges if c["status"] == "filed")
    assert int(str(filed["reward_wei"])) == BOND // 2
    receipt = w3.eth.get_transaction_receipt(str(filed["tx_hash"]))  # type: ignore[arg-type]
    assert receipt["status"] == 1 and receipt["from"] == watcher_address
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(watcher_address) - balance_before == BOND // 2 - fee
    slashed = signed_scores.events.OperatorSlashed().process_receipt(receipt, errors=DISCARD)
    assert slashed[0]["args"]["signer"] == operator
    assert slashed[0]["args"]["challenger"] == watcher_address
    assert 'coproc_watch_checks{outcome="mismatch"} 4' in text
    assert 'coproc_watch_checks{outcome="match"} 8' in text
    assert 'coproc_watch_challenges{status="filed"} 1' in text
    assert f"coproc_watch_reward_wei {BOND // 2}" in text


def test_watch_cli_refuses_bad_input(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(COPROC), "--data-dir", str(tmp_path), "watch", "--feed", "ftp://x", "--chain", "y"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "--feed must be an http(s) URL" in done.stderr
    assert not (tmp_path / "watch.sqlite").exists()
    env = dict(os.environ, COPROC_WATCHER_KEY="0x1234")
    done = subprocess.run(
        [str(COPROC), "--data-dir", str(tmp_path), "watch", "--feed", "http://x", "--chain", "y"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode != 0 and "COPROC_WATCHER_KEY must be a 32-byte" in done.stderr
