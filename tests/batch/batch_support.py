"""What the batch tests share: ``coproc`` run in-process (its exit code checked, its
JSON output read), and a printed leaf as a contract's ``Leaf`` struct argument."""

from __future__ import annotations

import json
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from coprocessor.cli.main import main


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Run ``coproc ARGS``; it must exit 0; return what it printed (one JSON object)."""
    assert main(args) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def leaf_struct(contract: Contract, function: str, leaf: dict[str, Any]) -> tuple[Any, ...]:
    """A leaf as JSON shows it (``GET /v1/jobs/{id}``, ``coproc verify-receipt --leaf``)
    as the ``Leaf`` argument (the second) of ``function``: field by field by the names
    the contract's ABI gives them, not through the Python ``Leaf`` class."""
    fn: dict[str, Any] = next(dict(x) for x in contract.abi if x.get("name") == function)
    out = []
    for part in fn["inputs"][1]["components"]:
        value = leaf[part["name"]]
        if part["type"] == "address":
            value = Web3.to_checksum_address(value)
        elif part["type"] == "bytes32":
            value = bytes.fromhex(value[2:])
        out.append(value)
    return tuple(out)
