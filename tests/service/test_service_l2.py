"""Destination ``l2`` on the real two-chain devnet (L1 + L2 anvil, nitro Bridge/Inbox on
L1, ArbOS emulated on L2, the relay in a thread): the service pushes the journal's
anchor hash through the bridge when L2 does not hold it yet, then submits the receipt
to the L2 RiskOracle — exactly once, also when the process is killed with SIGKILL in
the middle of posting. Scores are checked against an independent computation."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bridge_fixtures import RelayThread, two_chain_devnet
from eth_account import Account
from service_support import (
    IMAGE_ID,
    POSTER_ENV,
    POSTER_KEY,
    LiveService,
    expected_score,
    http,
    model_hash,
    spec_hash,
    wait_for,
    write_models,
)
from test_service_crash import COPROC, Proc, _active_states
from web3 import Web3

from bridge.chain import dev_account
from coprocessor.onchain import contracts
from coprocessor.service.worker import request_id_of

ZERO = "0x" + "00" * 32
POSTER = Account.from_key(POSTER_KEY).address


@dataclass
class L2Net:
    data: Path
    info: dict[str, Any]
    l1: Web3
    l2: Web3
    oracle: Any
    store: Any
    pusher: Any


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[L2Net]:
    data = tmp_path_factory.mktemp("svc-l2")
    with two_chain_devnet(data) as info, RelayThread(info, data) as relay:
        l1 = Web3(Web3.HTTPProvider(info["l1"]["rpc"]))
        l2 = Web3(Web3.HTTPProvider(info["l2"]["rpc"]))
        c = info["contracts"]
        oracle = contracts.at(l2, "RiskOracle", c["l2_risk_oracle"])
        owner = dev_account(1).address
        for fn in (
            oracle.functions.allowImageId(IMAGE_ID, True),
            oracle.functions.registerModel(model_hash(), spec_hash()),
        ):
            tx = fn.transact({"from": owner})
            assert l2.eth.wait_for_transaction_receipt(tx)["status"] == 1
        yield L2Net(
            data,
            info,
            l1,
            l2,
            oracle,
            contracts.at(l2, "L2BlockHashStore", c["l2_block_hash_store"]),
            contracts.at(l1, "L1BlockHashPusher", c["l1_block_hash_pusher"]),
        )
        assert not relay.errors, relay.errors[:3]


def l2_config(net: L2Net, tmp: Path, **extra: Any) -> dict[str, Any]:
    os.environ[POSTER_ENV] = "0x" + POSTER_KEY.hex()
    cfg: dict[str, Any] = {
        "rpc_url": net.info["l1"]["rpc"],
        "models_dir": str(write_models(tmp / "models")),
        "poster_key_env": POSTER_ENV,
        "bridge_key_env": "COPROC_TEST_BRIDGE_KEY_UNSET",  # the poster key pushes too
        "l2_network": "devnet",
        "l2_devnet_dir": str(net.data),
        "prover": "import:service_support:fake_prover",
        "lease_seconds": 3.0,
        "backoff_seconds": 0.2,
        "backoff_max_seconds": 1.0,
        "poll_seconds": 0.05,
    }
    cfg.update(extra)
    return cfg


def _hash_on_l2(net: L2Net, number: int) -> str:
    return "0x" + bytes(net.store.functions.blockHashOf(number).call()).hex()


def _l1_hash(net: L2Net, number: int) -> str:
    return "0x" + bytes(net.l1.eth.get_block(number)["hash"]).hex()


def _request(url: str, auth: dict[str, str], subject: str, block: int | str) -> str:
    body = {"subject": subject, "model": "svc-test", "block": block, "mode": "proven"}
    body["destination"] = "l2"
    status, _, answer = http("POST", f"{url}/v1/scores", json.dumps(body).encode(), auth)
    assert status == 202, answer
    return str(json.loads(answer)["id"])


def _job(url: str, auth: dict[str, str], job_id: str) -> dict[str, Any]:
    status, _, body = http("GET", f"{url}/v1/jobs/{job_id}", headers=auth)
    assert status == 200, body
    return dict(json.loads(body))


def _finished(url: str, auth: dict[str, str], job_id: str, timeout: float = 120) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (j := _job(url, auth, job_id))["state"] in ("done", "failed") and j,
            timeout,
            f"job {job_id}",
        )
    )


def test_l2_job_pushes_the_anchor_then_posts_once(net: L2Net, tmp_path: Path) -> None:
    svc = LiveService(l2_config(net, tmp_path), tmp_path / "data")
    try:
        auth = {"Authorization": f"Bearer {svc.add_key()}", "Content-Type": "application/json"}
        subject = list(net.l1.eth.accounts)[2]
        block = net.l1.eth.block_number - 1
        assert _hash_on_l2(net, block) == ZERO  # not bridged yet
        l1_nonce, l2_nonce = (w.eth.get_transaction_count(POSTER) for w in (net.l1, net.l2))
        job = _finished(svc.url, auth, _request(svc.url, auth, subject, block))
        assert job["state"] == "done", job["error"]

        status, _, body = http("GET", f"{svc.url}/v1/scores/{subject}?model=svc-test", headers=auth)
        assert status == 200
        result = json.loads(body)
        assert set(result["tx_hashes"]) == {"l2"}
        tx = result["tx_hashes"]["l2"]
        assert job["tx_hash"] == tx
        receipt = net.l2.eth.get_transaction_receipt(tx)
        assert receipt["status"] == 1
        assert receipt["to"] == net.oracle.address
        assert receipt["from"] == POSTER
        # the anchor went through the bridge first: one L1 push by the same key, the
        # ticket redeemed, L2 now holds L1's hash of the block
        assert result["anchor_push"]["status"] == "REDEEMED"
        assert result["anchor_push"]["ticket"].startswith("0x")
        assert _hash_on_l2(net, block) == _l1_hash(net, block) == result["anchor"]["hash"]
        pushes = net.pusher.events.BlockHashPushed.get_logs(
            from_block=0, argument_filters={"number": block}
        )
        assert len(pushes) == 1
        assert net.l1.eth.get_transaction(pushes[0]["transactionHash"])["from"] == POSTER
        assert net.l1.eth.get_transaction_count(POSTER) == l1_nonce + 1
        assert net.l2.eth.get_transaction_count(POSTER) == l2_nonce + 1
        # stored on the L2 oracle, equal to an independent computation
        score, stored_block, _ = net.oracle.functions.scoreOf(subject, model_hash()).call()
        assert (score, stored_block) == (expected_score(net.l1, subject, block), block)
        assert score == result["score"]

        # a second job on the same anchor: nothing to push, one more L2 submit
        other = list(net.l1.eth.accounts)[3]
        job2 = _finished(svc.url, auth, _request(svc.url, auth, other, block))
        assert job2["state"] == "done", job2["error"]
        assert net.l1.eth.get_transaction_count(POSTER) == l1_nonce + 1
        assert net.l2.eth.get_transaction_count(POSTER) == l2_nonce + 2
        status, _, body = http("GET", f"{svc.url}/v1/scores/{other}?model=svc-test", headers=auth)
        assert json.loads(body)["anchor_push"] == {"block": block, "status": "ALREADY_ON_L2"}
        score2, _, _ = net.oracle.functions.scoreOf(other, model_hash()).call()
        assert score2 == expected_score(net.l1, other, block)
    finally:
        svc.stop()


def test_anchor_at_the_l1_head_waits_for_the_next_block(net: L2Net, tmp_path: Path) -> None:
    """BLOCKHASH(N) exists from block N + 1 on: the job waits (and retries) in posting
    while the anchor is the L1 head, and finishes once L1 moves on."""
    cfg = l2_config(net, tmp_path, l2_anchor_wait_seconds=0.5, max_attempts=50)
    svc = LiveService(cfg, tmp_path / "data")
    try:
        auth = {"Authorization": f"Bearer {svc.add_key()}", "Content-Type": "application/json"}
        head = net.l1.eth.block_number
        job_id = _request(svc.url, auth, list(net.l1.eth.accounts)[4], head)
        wait_for(
            lambda: "still the L1 head" in (_job(svc.url, auth, job_id)["error"] or ""),
            60,
            "the posting stage to wait for the next L1 block",
        )
        job = _job(svc.url, auth, job_id)
        assert job["state"] == "posting"
        assert net.l1.eth.block_number == head
        assert _hash_on_l2(net, head) == ZERO
        net.l1.provider.make_request("anvil_mine", [1])  # type: ignore[arg-type]
        job = _finished(svc.url, auth, job_id)
        assert job["state"] == "done", job["error"]
        assert _hash_on_l2(net, head) == _l1_hash(net, head)
        score, stored_block, _ = net.oracle.functions.scoreOf(
            list(net.l1.eth.accounts)[4], model_hash()
        ).call()
        assert stored_block == head
        assert score == expected_score(net.l1, list(net.l1.eth.accounts)[4], head)
    finally:
        svc.stop()


def test_kill_9_during_l2_posting_submits_each_job_once(net: L2Net, tmp_path: Path) -> None:
    """A real ``coproc serve`` process killed with SIGKILL while jobs are in posting
    (anchor push or L2 submit), restarted each time: every job ends done with exactly
    one L2 submission and each new anchor pushed exactly once."""
    from coprocessor.dev.devnet import free_port

    rng = random.Random(7)
    cfg = l2_config(net, tmp_path, workers=2, lease_seconds=1.5, max_attempts=30)
    config = tmp_path / "service.json"
    config.write_text(json.dumps(cfg))
    data = tmp_path / "data"
    key = subprocess.run(
        [str(COPROC), "--data-dir", str(data), "serve", "--config", str(config), "--add-key", "c"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for _ in range(6):  # blocks no earlier test anchored on
        net.l1.provider.make_request("anvil_mine", [1])  # type: ignore[arg-type]
    head = net.l1.eth.block_number
    blocks = [head - 1, head - 2, head - 3, head - 3, head - 4]
    subjects = [a.lower() for a in list(net.l1.eth.accounts)[5:10]]
    new_anchors = {b for b in blocks if _hash_on_l2(net, b) == ZERO}
    assert len(new_anchors) == 4
    l1_nonce, l2_nonce = (w.eth.get_transaction_count(POSTER) for w in (net.l1, net.l2))
    l1_first, l2_first = net.l1.eth.block_number + 1, net.l2.eth.block_number + 1

    proc = Proc(config, data, free_port(), tmp_path / "serve.log")
    proc.start()
    url = f"http://127.0.0.1:{proc.port}"
    try:
        ids = [_request(url, auth, s, b) for s, b in zip(subjects, blocks, strict=True)]
        kills_in_posting = 0
        for _ in range(3):
            wait_for(
                lambda: (
                    _active_states(data)["posting"] > 0 or _active_states(data)["done"] == len(ids)
                ),
                90,
                "a job in posting",
            )
            time.sleep(rng.uniform(0.0, 0.5))
            proc.kill9()
            kills_in_posting += _active_states(data)["posting"] > 0
            proc.start()
        wait_for(
            lambda: sum(_active_states(data)[s] for s in ("done", "failed")) == len(ids),
            180,
            "all jobs finished",
        )
        jobs = [_job(url, auth, i) for i in ids]
    finally:
        proc.stop()

    assert kills_in_posting > 0  # the kills did hit jobs in posting
    assert [j["state"] for j in jobs] == ["done"] * len(ids), [j["error"] for j in jobs]
    events = net.oracle.events.ScoreSubmitted.get_logs(from_block=l2_first)
    by_request = Counter("0x" + bytes(e["args"]["requestId"]).hex() for e in events)
    for job_id in ids:
        assert by_request["0x" + request_id_of(job_id).hex()] == 1, job_id
    assert len(events) == len(ids)
    assert net.l2.eth.get_transaction_count(POSTER) - l2_nonce == len(ids)
    pushes = net.pusher.events.BlockHashPushed.get_logs(from_block=l1_first)
    assert Counter(int(p["args"]["number"]) for p in pushes) == dict.fromkeys(new_anchors, 1)
    assert net.l1.eth.get_transaction_count(POSTER) - l1_nonce == len(new_anchors)
    for job, subject, block in zip(jobs, subjects, blocks, strict=True):
        assert job["tx_hash"] is not None
        assert _hash_on_l2(net, block) == _l1_hash(net, block)
        score, stored_block, _ = net.oracle.functions.scoreOf(
            Web3.to_checksum_address(subject), model_hash()
        ).call()
        assert (score, stored_block) == (expected_score(net.l1, subject, block), block)
        assert score == job["score"]


def test_push_interrupted_after_recording_resumes_the_same_transaction(
    net: L2Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the push intent is signed and stored but before it is broadcast:
    the next attempt broadcasts the stored bytes (one L1 transaction, one ticket); a
    third call finds the hash on L2 and sends nothing."""
    from bridge.store import BridgeStore
    from bridge.txsender import TxSender
    from coprocessor.service.config import load_config
    from coprocessor.service.l2posting import BridgeL2Poster, load_network

    class Crash(BaseException):
        pass

    def crash(self: TxSender, raw: bytes) -> None:
        raise Crash

    network, l1_rpc, l2_rpc = load_network(load_config(None, l2_config(net, tmp_path)), tmp_path)
    net.l1.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    number = net.l1.eth.block_number - 1
    want = _l1_hash(net, number)
    assert _hash_on_l2(net, number) == ZERO
    nonce = net.l1.eth.get_transaction_count(POSTER)
    bridge_dir = tmp_path / "svc"

    def poster() -> BridgeL2Poster:
        return BridgeL2Poster(network, l1_rpc, l2_rpc, bridge_dir, POSTER_KEY, POSTER_KEY)

    monkeypatch.setattr(TxSender, "_broadcast", crash)
    with pytest.raises(Crash):
        poster().ensure_anchor(number, want)
    monkeypatch.undo()
    assert net.l1.eth.get_transaction_count(POSTER) == nonce  # nothing left the process
    store = BridgeStore.in_dir(bridge_dir)
    key = f"push-blockhash:{network.l1_chain_id}:{number}"
    (recorded,) = store.db.execute("SELECT tx_hash FROM txs WHERE key = ?", (key,)).fetchone()
    store.close()

    done = poster().ensure_anchor(number, want)
    assert done["status"] == "REDEEMED"
    assert _hash_on_l2(net, number) == want
    assert net.l1.eth.get_transaction_count(POSTER) == nonce + 1
    (push,) = net.pusher.events.BlockHashPushed.get_logs(
        from_block=number, argument_filters={"number": number}
    )
    assert "0x" + bytes(push["transactionHash"]).hex() == recorded  # the stored bytes

    assert poster().ensure_anchor(number, want) == {"block": number, "status": "ALREADY_ON_L2"}
    assert net.l1.eth.get_transaction_count(POSTER) == nonce + 1


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        ({}, {POSTER_ENV: ""}, "poster key"),
        ({"l2_poster": "import:x:y"}, {}, "not both"),
        ({"oracle": "0x" + "11" * 20}, {}, "key of its own"),
        ({"l2_devnet_dir": "EMPTY"}, {}, "no devnet here"),
        ({"l2_network": "MISSING.json"}, {}, "cannot read"),
    ],
    ids=["no-poster-key", "two-posters", "shared-key-with-l1", "no-devnet", "no-config-file"],
)
def test_l2_config_errors_are_one_line_exit_2(
    net: L2Net, tmp_path: Path, extra: dict[str, Any], env: dict[str, str], message: str
) -> None:
    cfg = l2_config(net, tmp_path, **extra)
    for name in ("l2_devnet_dir", "l2_network"):
        if cfg[name] in ("EMPTY", "MISSING.json"):
            cfg[name] = str(tmp_path / cfg[name])
    (tmp_path / "EMPTY").mkdir()
    config = tmp_path / "service.json"
    config.write_text(json.dumps(cfg))
    run_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent.parent), str(Path(__file__).parent)]
        ),
        **env,
    }
    from coprocessor.dev.devnet import free_port

    done = subprocess.run(
        [str(COPROC), "--data-dir", str(tmp_path / "d"), "serve", "--config", str(config),
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, env=run_env,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_ticket_redeemed_between_the_log_read_and_get_timeout_is_redeemed(
    net: L2Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay's redeem report emits RedeemScheduled and deletes the ticket in one
    transaction; a status lookup that read the logs just before it and calls getTimeout
    just after must still say REDEEMED (it said EXPIRED: a flaky bridge CLI test and a
    wrong ``anchor_push.status``)."""
    from bridge import retryables
    from coprocessor.service.config import load_config
    from coprocessor.service.l2posting import BridgeL2Poster, load_network

    network, l1_rpc, l2_rpc = load_network(load_config(None, l2_config(net, tmp_path)), tmp_path)
    net.l1.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    number = net.l1.eth.block_number - 1
    poster = BridgeL2Poster(network, l1_rpc, l2_rpc, tmp_path / "svc", POSTER_KEY, POSTER_KEY)
    ticket = poster.ensure_anchor(number, _l1_hash(net, number))["ticket"]
    ticket_id = bytes.fromhex(ticket[2:])
    assert retryables.ticket_state(net.l2, ticket_id).status == retryables.REDEEMED

    real_logs = retryables._logs
    hidden: list[list[Any]] = []

    def before_the_report(l2: Any, topics: list[Any], from_block: int) -> list[Any]:
        if topics[0] == retryables.REDEEM_SCHEDULED and not hidden:
            hidden.append(topics)
            return []  # the first read happens just before the report lands
        return real_logs(l2, topics, from_block)

    monkeypatch.setattr(retryables, "_logs", before_the_report)
    state = retryables.ticket_state(net.l2, ticket_id)
    assert hidden
    assert state.status == retryables.REDEEMED
