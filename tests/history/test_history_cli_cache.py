"""``coproc index --anchor`` caches the hops it proves in the data directory's store:
run again with a later anchor reaching the same block, it takes the hops below its
first from there (``hops_cached`` in the summary) with fewer RPC calls, and writes
the bundle a run with an empty store writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coprocessor.cli.main import main
from coprocessor.dev.devnet import AnvilNode
from coprocessor.dev.history import CHECKPOINT_EVERY, VALUE_CONTRACT, History


def _index(
    node: AnvilNode,
    data: Path,
    out: Path,
    block: int,
    anchor: int,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, object]:
    code = main(
        [
            "--data-dir", str(data), "index", "--rpc", node.rpc, "--block", str(block),
            "--anchor", str(anchor), "--address", "0x" + VALUE_CONTRACT.hex(), "--slot", "0",
            "--state-every", str(CHECKPOINT_EVERY), "--out", str(out),
        ]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    summary: dict[str, object] = json.loads(text)
    return summary


def test_a_second_run_with_a_later_anchor_takes_cached_hops(
    history: History, history_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block, head = history.head - 60_000, history.head
    data = tmp_path / "data"
    first = _index(history_node, data, tmp_path / "a.json", block, head - 1000, capsys)
    assert first["hops_cached"] == 0 and first["hops"] == 8
    second = _index(history_node, data, tmp_path / "b.json", block, head, capsys)
    fresh = _index(history_node, tmp_path / "empty", tmp_path / "c.json", block, head, capsys)
    # 7 of the 8 hops are below the first anchor's own (the chain 4,000 .. 60,000)
    assert second["hops_cached"] == 7 and fresh["hops_cached"] == 0
    assert isinstance(second["rpc_calls"], int) and isinstance(fresh["rpc_calls"], int)
    assert second["rpc_calls"] < fresh["rpc_calls"]
    assert (tmp_path / "b.json").read_bytes() == (tmp_path / "c.json").read_bytes()
