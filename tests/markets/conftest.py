"""The simulated markets (built once per machine, then loaded from the cache) served
by a real anvil for the whole session, and a verified-storage factory over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from markets.markets_support import Markets

from coprocessor.dev.devnet import stop_pid
from coprocessor.dev.markets.cache import ensure_built, load_meta, start_markets
from coprocessor.dev.markets.node import Node


@pytest.fixture(scope="session")
def markets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Markets]:
    """Build (first time on a machine: minutes) or find the markets, and serve them."""
    directory: Path = ensure_built()
    anvil = start_markets(directory, tmp_path_factory.mktemp("markets"))
    try:
        yield Markets(anvil, Node(anvil.rpc), load_meta(directory))
    finally:
        stop_pid(anvil.pid)
