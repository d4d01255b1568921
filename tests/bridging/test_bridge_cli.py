"""``coproc devnet up --l2`` and ``coproc bridge ...`` as a user runs them: the devnet
JSON, the relay as its own process, push-blockhash's exit code, status JSON, one-line
errors with exit 2, and ``devnet down`` stopping all three processes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from web3 import Web3

from coprocessor.cli.main import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_bridge_cli_on_the_two_chain_devnet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path)
    code, _, err = _run(capsys, "--data-dir", d, "bridge", "status")
    assert code == 2 and err.count("\n") == 1 and "devnet up --l2" in err
    try:
        code, out, _ = _run(capsys, "--data-dir", d, "devnet", "up", "--l2")
        assert code == 0
        info = json.loads(out)
        assert set(info) >= {"l1", "l2", "contracts", "relay"}
        assert info["l1"]["chain_id"] != info["l2"]["chain_id"]
        assert {"bridge", "inbox", "outbox", "l2_block_hash_store"} <= set(info["contracts"])
        pids = [info["l1"]["pid"], info["l2"]["pid"], info["relay"]["pid"]]
        assert all(_alive(p) for p in pids)
        # `up --l2` again reuses everything
        code, out, _ = _run(capsys, "--data-dir", d, "devnet", "up", "--l2")
        assert json.loads(out)["contracts"] == info["contracts"]
        assert json.loads(out)["relay"]["pid"] == info["relay"]["pid"]

        code, out, _ = _run(capsys, "--data-dir", d, "bridge", "push-blockhash", "--block", "2")
        assert code == 0, out
        pushed = json.loads(out)
        assert pushed["status"] == "REDEEMED" and pushed["block"] == 2
        code, out, _ = _run(capsys, "--data-dir", d, "bridge", "status", "--json")
        assert code == 0
        listed = json.loads(out)
        assert [m["id"] for m in listed] == [pushed["id"]]
        assert [h[0] for h in listed[0]["history"]][-1] == "REDEEMED"
        code, out, _ = _run(capsys, "--data-dir", d, "bridge", "status")
        assert pushed["id"] in out and "REDEEMED" in out

        for argv, needle in (
            (("push-blockhash", "--block", "-1"), "--block"),
            (("push-blockhash", "--block", "999999"), "999999"),
            (("redeem", "0x1234"), "ticket id"),
            (("redeem", "0x" + "00" * 32), "NOT_YET_CREATED"),
            (("execute", "l2tol1:77"), "no l2 to l1 message"),
        ):
            code, out, err = _run(capsys, "--data-dir", d, "bridge", *argv)
            assert code == 2, (argv, err)
            assert err.startswith("coproc: error:") and err.count("\n") == 1 and needle in err
            assert "Traceback" not in err
    finally:
        code, out, _ = _run(capsys, "--data-dir", d, "devnet", "down")
    stopped = json.loads(out)["stopped"]
    assert set(stopped) >= {"l1", "l2", "relay"}
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)

    # up again: both chains come back from their state files, nothing is redeployed,
    # a new relay resumes from its cursors and the bridge keeps working
    try:
        code, out, _ = _run(capsys, "--data-dir", d, "devnet", "up", "--l2")
        again = json.loads(out)
        assert code == 0 and again["contracts"] == info["contracts"]
        # a block made after the restart: anvil's restored chain answers eth_getBlock
        # for older blocks with other hashes than BLOCKHASH/EIP-2935 give on chain
        # (push-blockhash then exits 1: the L2 hash differs from the RPC's)
        l1 = Web3(Web3.HTTPProvider(again["l1"]["rpc"]))
        l1.provider.make_request("anvil_mine", ["0x2"])  # type: ignore[arg-type]
        block = str(l1.eth.block_number - 1)
        code, out, err = _run(capsys, "--data-dir", d, "bridge", "push-blockhash", "--block", block)
        assert code == 0 and json.loads(out)["status"] == "REDEEMED", err
        code, out, _ = _run(capsys, "--data-dir", d, "bridge", "status", "--json")
        assert [m["status"] for m in json.loads(out)] == ["REDEEMED", "REDEEMED"]
    finally:
        _run(capsys, "--data-dir", d, "devnet", "down")


def test_real_network_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = str(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"network": "arbitrum-nowhere", "l1_rpc": "x", "l2_rpc": "y"}')
    good = tmp_path / "sepolia.json"
    good.write_text(
        json.dumps(
            {
                "network": "arbitrum-sepolia",
                "l1_rpc": "http://127.0.0.1:9",  # nothing listens on the discard port
                "l2_rpc": "http://127.0.0.1:9",
            }
        )
    )
    monkeypatch.delenv("COPROC_BRIDGE_KEY", raising=False)
    cases = [
        ((str(tmp_path / "missing.json"), "status"), "cannot read"),
        ((str(bad), "status"), "bad bridge config"),
        ((str(good), "status"), "COPROC_BRIDGE_KEY"),
    ]
    for (config, *rest), needle in cases:
        code, _, err = _run(capsys, "--data-dir", d, "bridge", "--config", config, *rest)
        assert code == 2 and err.count("\n") == 1 and needle in err, err
    monkeypatch.setenv("COPROC_BRIDGE_KEY", "0x" + "11" * 32)
    code, _, err = _run(capsys, "--data-dir", d, "bridge", "--config", str(good), "status")
    assert code == 2 and err.count("\n") == 1 and "unreachable" in err, err
