"""Where Arbitrum's contracts are: documented constants for Arbitrum One and Arbitrum
Sepolia (from the Arbitrum docs' "useful addresses" / the SDK's network list; post-BoLD
rollup addresses), and the devnet read from devnet.json. The bridge code takes a
:class:`Network` and runs the same code paths on all three; only the devnet has the
emulator's extra events to look at (docs/bridge.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from coprocessor.errors import UserInputError
from coprocessor.jsonfile import load_json

SEVEN_DAYS = 7 * 24 * 3600


@dataclass(frozen=True)
class Network:
    """An Arbitrum chain and its parent chain."""

    name: str
    l1_chain_id: int
    l2_chain_id: int
    bridge: str
    inbox: str
    outbox: str
    rollup: str
    sequencer_inbox: str | None = None
    retryable_lifetime: int = SEVEN_DAYS
    #: True on the devnet (ArbOS emulated at 0x64/0x6e)
    emulated: bool = False
    #: our own contracts (pusher, store, oracle, ...) by name
    contracts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("bridge", "inbox", "outbox", "rollup"):
            value = getattr(self, name)
            if not Web3.is_checksum_address(value):
                raise UserInputError(f"{self.name}: {name} {value} is not a checksummed address")


ARBITRUM_ONE = Network(
    name="arbitrum-one",
    l1_chain_id=1,
    l2_chain_id=42161,
    bridge="0x8315177aB297bA92A06054cE80a67Ed4DBd7ed3a",
    inbox="0x4Dbd4fc535Ac27206064B68FfCf827b0A60BAB3f",
    outbox="0x0B9857ae2D4A3DBe74ffE1d7DF045bb7F96E4840",
    rollup="0x4DCeB440657f21083db8aDd07665f8ddBe1DCfc0",
    sequencer_inbox="0x1c479675ad559DC151F6Ec7ed3FbF8ceE79582B6",
)

ARBITRUM_SEPOLIA = Network(
    name="arbitrum-sepolia",
    l1_chain_id=11155111,
    l2_chain_id=421614,
    bridge="0x38f918D0E9F1b721EDaA41302E399fa1B79333a9",
    inbox="0xaAe29B0366299461418F5324a79Afc425BE5ae21",
    outbox="0x65f07C7D521164a4d5DaC6eB8Fac8DA067A3B78F",
    rollup="0x042B2E6C5E99d4c521bd49beeD5E99651D9B0Cf4",
    sequencer_inbox="0x6c97864CE4bEf387dE0b3310A44230f7E3F1be0D",
)

KNOWN = {n.name: n for n in (ARBITRUM_ONE, ARBITRUM_SEPOLIA)}


def from_devnet(info: dict[str, Any]) -> Network:
    """The network of a two-chain devnet (the JSON of ``coproc devnet up --l2``)."""
    c = info["contracts"]
    return Network(
        name="devnet",
        l1_chain_id=int(info["l1"]["chain_id"]),
        l2_chain_id=int(info["l2"]["chain_id"]),
        bridge=c["bridge"],
        inbox=c["inbox"],
        outbox=c["outbox"],
        rollup=c["rollup"],
        emulated=True,
        contracts=dict(c),
    )


def from_config(path: Path) -> tuple[Network, str, str]:
    """A real network from a JSON config ``{"network": "arbitrum-sepolia", "l1_rpc": URL,
    "l2_rpc": URL, "contracts": {name: address}}``; returns (network, l1 rpc, l2 rpc)."""
    data = load_json(path, "bridge config")
    try:
        base = KNOWN[data["network"]]
        l1_rpc, l2_rpc = str(data["l1_rpc"]), str(data["l2_rpc"])
        extra = {k: Web3.to_checksum_address(v) for k, v in data.get("contracts", {}).items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise UserInputError(
            f"{path}: bad bridge config ({exc.__class__.__name__}: {exc})"
        ) from None
    network = Network(**{**base.__dict__, "contracts": extra})
    return network, l1_rpc, l2_rpc
