"""``coproc index --block N --anchor latest`` writes a bundle v2 (hops), which
``coproc verify-bundle`` and ``coproc inspect bundle`` read; bad uses are one-line
errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.history import HISTORY_ADDRESS
from coprocessor.cli.main import main
from coprocessor.dev.devnet import AnvilNode, rpc_call
from coprocessor.errors import rule_code

CONTRACT = "0x00000000000000000000000000000000c0ffee14"


def _coproc(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--data-dir", str(tmp_path / "data"), *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_index_with_an_anchor_writes_a_v2_bundle(
    anvil: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rpc_call(anvil.rpc, "anvil_setStorageAt", [CONTRACT, "0x0", "0x" + "00" * 31 + "2a"])
    rpc_call(anvil.rpc, "anvil_mine", ["0x28"])
    head = int(rpc_call(anvil.rpc, "eth_blockNumber"), 16)
    block = head - 30
    out = tmp_path / "b.json"
    code, text = _coproc(
        tmp_path, capsys, "index", "--rpc", anvil.rpc, "--block", str(block),
        "--anchor", "latest", "--address", CONTRACT, "--slot", "0", "--out", str(out),
    )  # fmt: skip
    assert code == 0, text
    summary = json.loads(text)
    assert summary["version"] == 2 and summary["hops"] == 1
    assert summary["anchor"]["number"] == head
    bundle = json.loads(out.read_text())
    assert bundle["version"] == 2 and bundle["hops"] == [{"from": head, "to": block}]
    assert any(a["address"] == hexstr(HISTORY_ADDRESS) for a in bundle["accounts"])

    code, text = _coproc(tmp_path, capsys, "verify-bundle", str(out))
    assert code == 0, text
    values = json.loads(text)["accounts"]
    mine = [a for a in values if a["address"] == CONTRACT]
    assert mine[0]["storage"] == {"0x" + "00" * 32: "0x2a"}

    code, text = _coproc(tmp_path, capsys, "inspect", "bundle", str(out))
    assert code == 0, text
    shown = json.loads(text)
    assert shown["version"] == 2 and shown["anchor"]["number"] == head
    links = {link["number"]: link for link in shown["links"]}
    assert links[block]["hop_from"] == head and links[head]["anchor"] is True

    bad = dict(bundle, hops=[])
    out.write_text(json.dumps(bad))
    code, text = _coproc(tmp_path, capsys, "verify-bundle", str(out))
    assert code == 1 and f"[{rule_code('hop_tied')}]" in text and "Traceback" not in text


def test_anchor_errors_are_one_line(
    anvil: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.json")
    head = int(rpc_call(anvil.rpc, "eth_blockNumber"), 16)
    base = ["index", "--rpc", anvil.rpc, "--address", CONTRACT, "--out", out]
    for args, message in (
        (["--block", str(head), "--anchor", str(head - 1)], "is below the read block"),
        (["--block", "1", "--anchor", "latest", "--ancestors", "2"], "exclude each other"),
        (["--blocks", "1..2", "--anchor", "latest"], "--anchor goes with --block"),
    ):
        code, text = _coproc(tmp_path, capsys, *base, *args)
        assert code == 2 and message in text, text
        assert "Traceback" not in text
    assert not Path(out).exists()
