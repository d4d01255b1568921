"""Arbitrum's contracts as shipped by npm ``@arbitrum/nitro-contracts`` (Hardhat
artifacts: ABI + bytecode), read from ``tools/npm/node_modules`` — never copied."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from coprocessor.errors import ToolError
from coprocessor.paths import REPO_ROOT

ARTIFACTS = REPO_ROOT / "tools/npm/node_modules/@arbitrum/nitro-contracts/build/contracts"

#: name -> artifact path under ARTIFACTS
PATHS = {
    "Bridge": "src/bridge/Bridge.sol/Bridge.json",
    "Inbox": "src/bridge/Inbox.sol/Inbox.json",
    "Outbox": "src/bridge/Outbox.sol/Outbox.json",
    "ArbSys": "src/precompiles/ArbSys.sol/ArbSys.json",
    "ArbRetryableTx": "src/precompiles/ArbRetryableTx.sol/ArbRetryableTx.json",
    "NodeInterface": "src/node-interface/NodeInterface.sol/NodeInterface.json",
    "TransparentUpgradeableProxy": "@openzeppelin/contracts/proxy/transparent/"
    "TransparentUpgradeableProxy.sol/TransparentUpgradeableProxy.json",
}

#: the precompile addresses on every Arbitrum chain
ARB_SYS = Web3.to_checksum_address("0x0000000000000000000000000000000000000064")
ARB_RETRYABLE_TX = Web3.to_checksum_address("0x000000000000000000000000000000000000006e")
NODE_INTERFACE = Web3.to_checksum_address("0x00000000000000000000000000000000000000c8")


@cache
def nitro_artifact(name: str, root: Path = ARTIFACTS) -> dict[str, Any]:
    """The Hardhat artifact of ``name`` (keys ``abi``, ``bytecode``)."""
    path = root / PATHS[name]
    if not path.is_file():
        raise ToolError(f"nitro-contracts artifact missing at {path}: run `make setup`")
    return dict(json.loads(path.read_text()))


def nitro_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 handle on nitro contract ``name`` at ``address``."""
    abi = nitro_artifact(name)["abi"]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
