"""The Solidity contracts as Python sees them: ABIs and bytecode read from forge's build
output (``contracts/out``, written by ``scripts/forge.sh build`` / ``make setup``), never
copied by hand, plus a small web3.py deploy helper.
"""

from __future__ import annotations

import json
import re
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
#: written by the guest build: ``library ImageID { bytes32 public constant RISK_SCORE_ID = 0x…; }``
IMAGE_ID_SOL = REPO_ROOT / "contracts" / "src" / "generated" / "ImageID.sol"
_IMAGE_ID = re.compile(r"RISK_SCORE_ID\s*=\s*(?:bytes32\()?\s*(0x[0-9a-fA-F]{64})\s*\)?\s*;")


def guest_image_id(path: Path = IMAGE_ID_SOL) -> bytes:
    """The guest's image ID, as the guest build generated it into Solidity."""
    if not path.is_file():
        raise UserInputError(f"{path} does not exist yet (build the guest, or pass --image-id)")
    found = _IMAGE_ID.search(path.read_text())
    if found is None:
        raise UserInputError(f"{path}: no `RISK_SCORE_ID = 0x<64 hex>;` constant")
    return bytes.fromhex(found.group(1)[2:])


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


ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
DEV_SEAL_SELECTOR = b"\xff\xff\xff\xff"


@dataclass(frozen=True)
class DevStack:
    """Addresses of a local deployment (``deploy_dev_stack``)."""

    dev_verifier: str
    router: str
    oracle: str
    signed_scores: str
    image_id: str
    models: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """The JSON ``coproc contracts deploy`` prints."""
        return {
            "dev_verifier": self.dev_verifier,
            "router": self.router,
            "oracle": self.oracle,
            "signed_scores": self.signed_scores,
            "image_id": self.image_id,
            "models": self.models,
        }


def deploy_dev_stack(
    w3: Web3,
    *,
    image_id: bytes,
    models: dict[bytes, bytes] | None = None,
    max_anchor_lag: int = 256,
    min_bond: int = 10**18,
    withdrawal_delay: int = 2 * 86400,
    owner: str | None = None,
    private_key: str | None = None,
) -> DevStack:
    """Deploy DevVerifier behind a router, a RiskOracle anchored on this chain (image ID
    allowed as default, ``models`` = {model hash: feature-spec hash} registered) and
    SignedScores. For local chains only: the dev verifier proves nothing."""
    if len(image_id) != 32 or image_id == bytes(32):
        raise UserInputError("image id must be 32 nonzero bytes")
    sender = Account.from_key(private_key).address if private_key else (owner or w3.eth.accounts[0])
    sender = Web3.to_checksum_address(sender)

    def send(fn: Any) -> None:
        if private_key is None:
            tx_hash = fn.transact({"from": sender})
        else:
            account = Account.from_key(private_key)
            tx = fn.build_transaction(
                {"from": sender, "nonce": w3.eth.get_transaction_count(sender, "pending")}
            )
            tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        if w3.eth.wait_for_transaction_receipt(tx_hash)["status"] != 1:
            raise ToolError(f"transaction {tx_hash.hex()} reverted")

    kw: dict[str, Any] = {"private_key": private_key} if private_key else {"sender": sender}
    dev = deploy(w3, "DevVerifier", **kw)
    router = deploy(w3, "RiscZeroVerifierRouter", sender, **kw)
    send(router.functions.addVerifier(DEV_SEAL_SELECTOR, dev.address))
    oracle = deploy(w3, "RiskOracle", sender, router.address, ZERO_ADDRESS, 0, max_anchor_lag, **kw)
    send(oracle.functions.allowImageId(image_id, True))
    for model_hash, spec_hash in (models or {}).items():
        send(oracle.functions.registerModel(model_hash, spec_hash))
    signed = deploy(w3, "SignedScores", oracle.address, min_bond, withdrawal_delay, **kw)
    return DevStack(
        dev.address,
        router.address,
        oracle.address,
        signed.address,
        "0x" + image_id.hex(),
        {"0x" + m.hex(): "0x" + s.hex() for m, s in (models or {}).items()},
    )
