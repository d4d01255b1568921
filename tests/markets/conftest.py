"""The simulated markets (built once per machine, then loaded from the cache) served
by a real anvil for the whole session, and a verified-storage factory over it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coprocessor.dev.devnet import AnvilNode, stop_pid
from coprocessor.dev.markets.cache import ensure_built, load_meta, start_markets
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


@pytest.fixture(scope="session")
def markets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Markets]:
    """Build (first time on a machine: minutes) or find the markets, and serve them."""
    directory: Path = ensure_built()
    anvil = start_markets(directory, tmp_path_factory.mktemp("markets"))
    try:
        yield Markets(anvil, Node(anvil.rpc), load_meta(directory))
    finally:
        stop_pid(anvil.pid)
