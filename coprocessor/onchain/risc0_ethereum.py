"""RISC Zero's published on-chain verifiers, read from the crate risc0-ethereum-contracts
(copied into ``contracts/lib/risc0-ethereum`` by ``scripts/setup.d/15-risc0-ethereum.sh``):
``deployment.toml`` (routers, verifiers, selectors and emergency stops per chain) and the
test receipts with real Groth16 seals (``test/TestReceiptV3_0.sol``). Nothing here is typed
in by hand: every address and selector comes from those files.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from coprocessor.errors import ToolError, UserInputError
from coprocessor.paths import REPO_ROOT

LIB_DIR = REPO_ROOT / "contracts" / "lib" / "risc0-ethereum"
DEPLOYMENT_TOML = LIB_DIR / "deployment.toml"
TEST_RECEIPT_SOL = LIB_DIR / "test" / "TestReceiptV3_0.sol"

#: deployment.toml's keys of the chains this project deploys to
PRODUCTION_CHAINS = ("ethereum-mainnet", "ethereum-sepolia", "arbitrum-mainnet", "arbitrum-sepolia")

#: chain ids where a dev verifier may be deployed: anvil's default (the devnet's L1,
#: coprocessor.dev.devnet.DEFAULT_CHAIN_ID) and the devnet's L2 (bridge.devnet.L2_CHAIN_ID,
#: the id of Arbitrum's local test node). Any other chain id gets no dev verifier.
DEVNET_CHAIN_IDS = frozenset({31337, 412346})

#: the verifier the router routes real proofs to
GROTH16 = "RiscZeroGroth16Verifier"


@dataclass(frozen=True)
class PublishedVerifier:
    """One verifier registered on a published router (a ``[[chains.X.verifiers]]`` entry)."""

    name: str
    version: str
    selector: bytes
    verifier: str
    estop: str
    stopped: bool

    def to_json(self) -> dict[str, Any]:
        """JSON form (selector as 0x-hex)."""
        return {
            "name": self.name,
            "version": self.version,
            "selector": "0x" + self.selector.hex(),
            "verifier": self.verifier,
            "estop": self.estop,
            "stopped": self.stopped,
        }


@dataclass(frozen=True)
class PublishedChain:
    """A chain's published RISC Zero router and the verifiers behind it."""

    key: str
    name: str
    chain_id: int
    router: str
    verifiers: tuple[PublishedVerifier, ...]

    def active(self, name: str) -> tuple[PublishedVerifier, ...]:
        """Verifiers of kind ``name`` that are not stopped, oldest first."""
        return tuple(v for v in self.verifiers if v.name == name and not v.stopped)

    def latest(self, name: str = GROTH16) -> PublishedVerifier:
        """The newest (last listed) active verifier of kind ``name``."""
        found = self.active(name)
        if not found:
            raise ToolError(f"{DEPLOYMENT_TOML}: {self.key} has no active {name}")
        return found[-1]

    def to_json(self) -> dict[str, Any]:
        """The deployment config ``coproc contracts networks`` prints."""
        latest = self.latest()
        return {
            "chain": self.key,
            "name": self.name,
            "chain_id": self.chain_id,
            "router": self.router,
            "groth16_selector": "0x" + latest.selector.hex(),
            "groth16_version": latest.version,
            "active_verifiers": [v.to_json() for v in self.verifiers if not v.stopped],
        }


def _address(where: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise ToolError(f"{DEPLOYMENT_TOML}: {where}: not an address: {value!r}")
    return str(Web3.to_checksum_address(value))


def _selector(where: str, value: Any) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{8}", value):
        raise ToolError(f"{DEPLOYMENT_TOML}: {where}: not a 4-byte selector: {value!r}")
    return bytes.fromhex(value[2:])


def _verifier(key: str, index: int, entry: dict[str, Any]) -> PublishedVerifier:
    where = f"chains.{key}.verifiers[{index}]"
    return PublishedVerifier(
        name=str(entry.get("name", "")),
        version=str(entry.get("version", "")),
        selector=_selector(f"{where}.selector", entry.get("selector")),
        verifier=_address(f"{where}.verifier", entry.get("verifier")),
        estop=_address(f"{where}.estop", entry.get("estop")),
        stopped=bool(entry.get("stopped", False)),
    )


def _chain(key: str, entry: dict[str, Any]) -> PublishedChain:
    chain_id = entry.get("id")
    if not isinstance(chain_id, int) or chain_id <= 0:
        raise ToolError(f"{DEPLOYMENT_TOML}: chains.{key}.id: not a chain id: {chain_id!r}")
    verifiers = tuple(_verifier(key, i, v) for i, v in enumerate(entry.get("verifiers", [])))
    return PublishedChain(
        key=key,
        name=str(entry.get("name", key)),
        chain_id=chain_id,
        router=_address(f"chains.{key}.router", entry.get("router")),
        verifiers=verifiers,
    )


def load_deployments(path: Path = DEPLOYMENT_TOML) -> dict[str, PublishedChain]:
    """Every chain of ``deployment.toml`` that has a router, by its key."""
    if not path.is_file():
        raise ToolError(f"{path} missing: run scripts/setup.sh (stage 15-risc0-ethereum)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ToolError(f"{path}: not TOML: {exc}") from None
    chains = data.get("chains", {})
    return {key: _chain(key, entry) for key, entry in chains.items() if "router" in entry}


def production_chains(path: Path = DEPLOYMENT_TOML) -> dict[int, PublishedChain]:
    """The chains this project deploys to (``PRODUCTION_CHAINS``), by chain id."""
    chains = load_deployments(path)
    missing = [key for key in PRODUCTION_CHAINS if key not in chains]
    if missing:
        raise ToolError(f"{path}: no router for {', '.join(missing)}")
    return {chains[key].chain_id: chains[key] for key in PRODUCTION_CHAINS}


@dataclass(frozen=True)
class TestReceipt:
    """A real receipt RISC Zero ships for testing verifiers: Groth16 seal (selector
    first), the image ID it was proven for, and the journal."""

    __test__ = False  # not a pytest class

    seal: bytes
    image_id: bytes
    journal: bytes


def _sol_hex(text: str, name: str, path: Path) -> bytes:
    found = re.search(rf"\b{name}\s*=\s*hex\"([0-9a-fA-F]*)\"\s*;", text)
    if found is None:
        raise ToolError(f'{path}: no `{name} = hex"…";` constant')
    return bytes.fromhex(found.group(1))


def load_test_receipt(path: Path = TEST_RECEIPT_SOL) -> TestReceipt:
    """The Groth16 test receipt of risc0-ethereum-contracts (``library TestReceipt``)."""
    if not path.is_file():
        raise ToolError(f"{path} missing: run scripts/setup.sh (stage 15-risc0-ethereum)")
    text = path.read_text()
    receipt = TestReceipt(
        _sol_hex(text, "SEAL", path),
        _sol_hex(text, "IMAGE_ID", path),
        _sol_hex(text, "JOURNAL", path),
    )
    if len(receipt.image_id) != 32 or len(receipt.seal) < 4:
        raise ToolError(f"{path}: IMAGE_ID must be 32 bytes and SEAL at least 4")
    return receipt


def check_dev_verifier_allowed(chain_id: int) -> None:
    """Refuse a dev verifier (which proves nothing) on any chain but a devnet."""
    if chain_id not in DEVNET_CHAIN_IDS:
        allowed = ", ".join(str(c) for c in sorted(DEVNET_CHAIN_IDS))
        raise UserInputError(
            f"chain id {chain_id} is not a devnet ({allowed}): refusing to deploy a dev verifier"
        )
