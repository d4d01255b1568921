"""What the batch tests share: ``coproc`` run in-process, its exit code checked and its
JSON output read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coprocessor.cli.main import main


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Run ``coproc ARGS``; it must exit 0; return what it printed (one JSON object)."""
    assert main(args) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out
