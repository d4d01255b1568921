"""Shared fixtures: the real chain vectors (inside the repository), and a real anvil node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from locations import CHAIN_VECTORS

from coprocessor.dev.devnet import AnvilNode, start_anvil, stop_pid


@pytest.fixture(scope="session")
def shared_vectors() -> Path:
    """``tests/vectors/chain``: real mainnet headers/proofs and ethereum/tests vectors
    (copied into the repository by ``scripts/copy_vectors.py``)."""
    return CHAIN_VECTORS


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """One real anvil (prague, loopback, no persistence) for the whole session."""
    workdir = tmp_path_factory.mktemp("anvil")
    node = start_anvil("test-l1", workdir, persist=False)
    try:
        yield node
    finally:
        stop_pid(node.pid)
