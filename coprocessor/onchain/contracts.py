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
from coprocessor.onchain import risc0_ethereum
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
    """Addresses of a deployment: ``deploy_dev_stack`` (dev verifier behind a new router)
    or ``deploy_production_stack`` (RISC Zero's published router; ``dev_verifier`` empty)."""

    dev_verifier: str
    router: str
    oracle: str
    signed_scores: str
    image_id: str
    models: dict[str, str]
    chain_id: int = 0
    router_source: str = "deployed"

    def to_json(self) -> dict[str, Any]:
        """The JSON ``coproc contracts deploy`` prints."""
        return {
            "chain_id": self.chain_id,
            "router_source": self.router_source,
            "dev_verifier": self.dev_verifier or None,
            "router": self.router,
            "oracle": self.oracle,
            "signed_scores": self.signed_scores,
            "image_id": self.image_id,
            "models": self.models,
        }


class _Deployer:
    """Sends deployments and calls from one account: a local ``private_key``, or an
    account unlocked on the node (``owner``, default the node's first account)."""

    def __init__(self, w3: Web3, owner: str | None, private_key: str | None) -> None:
        self.w3 = w3
        self.private_key = private_key
        sender = Account.from_key(private_key).address if private_key else None
        self.sender = Web3.to_checksum_address(sender or owner or w3.eth.accounts[0])

    def deploy(self, name: str, *args: Any) -> Contract:
        if self.private_key:
            return deploy(self.w3, name, *args, private_key=self.private_key)
        return deploy(self.w3, name, *args, sender=self.sender)

    def send(self, fn: Any) -> None:
        if self.private_key is None:
            tx_hash = fn.transact({"from": self.sender})
        else:
            account = Account.from_key(self.private_key)
            nonce = self.w3.eth.get_transaction_count(self.sender, "pending")
            tx = fn.build_transaction({"from": self.sender, "nonce": nonce})
            signed = account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        if self.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] != 1:
            raise ToolError(f"transaction {tx_hash.hex()} reverted")


def _check_image_id(image_id: bytes) -> None:
    if len(image_id) != 32 or image_id == bytes(32):
        raise UserInputError("image id must be 32 nonzero bytes")


def _oracle_stack(
    d: _Deployer,
    router: str,
    image_id: bytes,
    models: dict[bytes, bytes],
    max_anchor_lag: int,
    min_bond: int,
    withdrawal_delay: int,
) -> tuple[Contract, Contract]:
    """RiskOracle on ``router`` (image ID default, models registered) and SignedScores."""
    oracle = d.deploy("RiskOracle", d.sender, router, ZERO_ADDRESS, 0, max_anchor_lag)
    d.send(oracle.functions.allowImageId(image_id, True))
    for model_hash, spec_hash in models.items():
        d.send(oracle.functions.registerModel(model_hash, spec_hash))
    signed = d.deploy("SignedScores", oracle.address, min_bond, withdrawal_delay)
    return oracle, signed


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
    """Deploy DevVerifier behind RISC Zero's router, a RiskOracle anchored on this chain
    (image ID allowed as default, ``models`` = {model hash: feature-spec hash} registered)
    and SignedScores. Devnets only: the dev verifier proves nothing, so any chain id but a
    devnet's is refused (``risc0_ethereum.DEVNET_CHAIN_IDS``)."""
    _check_image_id(image_id)
    chain_id = int(w3.eth.chain_id)
    risc0_ethereum.check_dev_verifier_allowed(chain_id)
    d = _Deployer(w3, owner, private_key)
    dev = d.deploy("DevVerifier")
    router = d.deploy("RiscZeroVerifierRouter", d.sender)
    d.send(router.functions.addVerifier(DEV_SEAL_SELECTOR, dev.address))
    models = models or {}
    oracle, signed = _oracle_stack(
        d, router.address, image_id, models, max_anchor_lag, min_bond, withdrawal_delay
    )
    return DevStack(
        dev.address,
        router.address,
        oracle.address,
        signed.address,
        "0x" + image_id.hex(),
        {"0x" + m.hex(): "0x" + s.hex() for m, s in models.items()},
        chain_id,
    )


def deploy_production_stack(
    w3: Web3,
    chain: risc0_ethereum.PublishedChain,
    *,
    image_id: bytes,
    models: dict[bytes, bytes] | None = None,
    max_anchor_lag: int = 256,
    min_bond: int = 10**18,
    withdrawal_delay: int = 2 * 86400,
    owner: str | None = None,
    private_key: str | None = None,
) -> DevStack:
    """Deploy a RiskOracle on RISC Zero's published router for ``chain`` (from
    deployment.toml) and SignedScores; no verifier and no router of our own. The node
    must be that chain and the router must have code there."""
    _check_image_id(image_id)
    chain_id = int(w3.eth.chain_id)
    if chain_id != chain.chain_id:
        raise UserInputError(f"node is chain id {chain_id}, not {chain.key} ({chain.chain_id})")
    router = Web3.to_checksum_address(chain.router)
    if not w3.eth.get_code(router):
        raise ToolError(f"no code at {chain.key}'s published RISC Zero router {router}")
    d = _Deployer(w3, owner, private_key)
    models = models or {}
    oracle, signed = _oracle_stack(
        d, router, image_id, models, max_anchor_lag, min_bond, withdrawal_delay
    )
    return DevStack(
        "",
        router,
        oracle.address,
        signed.address,
        "0x" + image_id.hex(),
        {"0x" + m.hex(): "0x" + s.hex() for m, s in models.items()},
        chain_id,
        "published",
    )
