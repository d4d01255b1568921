"""Compile test fixtures with the project's solcjs (through scripts/solc-wrapper.js,
the same compiler forge uses) and deploy them to a real node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from locations import REPO
from web3 import Web3


def compile_contract(path: Path, name: str) -> tuple[list[Any], str]:
    """(abi, creation bytecode hex) of contract ``name`` in ``path``."""
    request = {
        "language": "Solidity",
        "sources": {path.name: {"content": path.read_text()}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "prague",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    done = subprocess.run(
        ["node", str(REPO / "scripts" / "solc-wrapper.js"), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    output = json.loads(done.stdout)
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise RuntimeError(errors[0]["formattedMessage"])
    contract = output["contracts"][path.name][name]
    return contract["abi"], "0x" + contract["evm"]["bytecode"]["object"]


def deploy(rpc: str, path: Path, name: str, *args: Any) -> tuple[Web3, Any]:
    """Deploy from anvil's first (unlocked) account; returns (w3, contract)."""
    w3 = Web3(Web3.HTTPProvider(rpc))
    abi, bytecode = compile_contract(path, name)
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    sender = w3.eth.accounts[0]
    tx = factory.constructor(*args).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    return w3, w3.eth.contract(address=receipt["contractAddress"], abi=abi)
