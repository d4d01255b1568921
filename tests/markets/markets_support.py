"""What the markets fixture (tests/markets/conftest.py) hands the tests: the running
market chain and what its build recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coprocessor.dev.devnet import AnvilNode
from coprocessor.dev.markets.node import Node


@dataclass
class Markets:
    """The running market chain and what the build recorded."""

    anvil: AnvilNode
    node: Node
    meta: dict[str, Any]

    def borrowers(self, protocol: str) -> list[dict[str, Any]]:
        """The simulated borrowers of ``aave`` or ``morpho``."""
        return [b for b in self.meta["borrowers"] if b["protocol"] == protocol]

    def sample_blocks(self) -> list[int]:
        """Every block whose state the cache kept."""
        return sorted(s["block"] for s in self.meta["samples"])
