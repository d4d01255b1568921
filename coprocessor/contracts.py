"""The Solidity contracts as Python sees them: ABIs and bytecode read from forge's build
output (``contracts/out``, written by ``scripts/forge.sh build`` / ``make setup``), never
copied by hand, plus a small web3.py deploy helper.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from coprocessor.errors import ToolError, UserInputError
from coprocessor.paths import REPO_ROOT

OUT_DIR = REPO_ROOT / "contracts" / "out"


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes


def build() -> None:
    """Compile contracts/ (forge + solcjs, offline); a no-op for forge when nothing changed."""
    script = REPO_ROOT / "scripts" / "forge.sh"
    done = subprocess.run(
        ["bash", str(script), "build"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["?"]
        raise ToolError(f"forge build failed: {lines[-1]}")


def _hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


@cache
def artifact(name: str, source: str | None = None, out_dir: Path = OUT_DIR) -> Artifact:
    """The artifact of contract ``name`` (from ``<source>/<name>.json``; ``source``
    defaults to ``<name>.sol``, the file a contract of that name lives in here)."""
    path = out_dir / (source or f"{name}.sol") / f"{name}.json"
    if not path.is_file():
        raise ToolError(f"no build output for {name} at {path}: run `scripts/forge.sh build`")
    data = json.loads(path.read_text())
    bytecode = _hex_bytes(data["bytecode"]["object"])
    if data["bytecode"].get("linkReferences"):
        raise ToolError(f"{name} needs library linking, which deploy() does not do")
    return Artifact(name, data["abi"], bytecode, _hex_bytes(data["deployedBytecode"]["object"]))


def at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 handle on the deployed contract ``name`` at ``address``."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name).abi)


def deploy(
    w3: Web3,
    name: str,
    *args: Any,
    sender: str | None = None,
    private_key: str | None = None,
    value: int = 0,
) -> Contract:
    """Deploy ``name`` with constructor ``args`` and wait for the receipt.

    With ``private_key`` the transaction is signed locally; otherwise ``sender`` (default:
    the node's first account) must be unlocked on the node, as anvil's dev accounts are.
    """
    art = artifact(name)
    if not art.bytecode:
        raise UserInputError(f"{name} is abstract or an interface: nothing to deploy")
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    constructor = factory.constructor(*args)
    if private_key is not None:
        account = Account.from_key(private_key)
        tx = constructor.build_transaction(
            {
                "from": account.address,
                "value": value,
                "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            }
        )
        signed = account.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    else:
        frm = sender or w3.eth.accounts[0]
        tx_hash = constructor.transact({"from": Web3.to_checksum_address(frm), "value": value})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    address = receipt.get("contractAddress")
    if receipt["status"] != 1 or address is None:
        raise ToolError(f"deploying {name} failed (tx {tx_hash.hex()})")
    return w3.eth.contract(address=address, abi=art.abi)
