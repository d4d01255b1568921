"""Shared fixtures: the real vectors beside the checkout, and a real anvil node."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from coprocessor.devnet import AnvilNode, start_anvil, stop_pid

REPO = Path(__file__).resolve().parent.parent


def _vectors_dir() -> Path:
    override = os.environ.get("COPROC_SHARED_VECTORS")
    return Path(override) if override else REPO.parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def shared_vectors() -> Path:
    """``../shared/vectors``: real mainnet headers/proofs and ethereum/tests vectors."""
    path = _vectors_dir()
    if not path.is_dir():
        pytest.fail(f"shared vectors not found at {path} (set COPROC_SHARED_VECTORS)")
    return path


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """One real anvil (prague, loopback, no persistence) for the whole session."""
    workdir = tmp_path_factory.mktemp("anvil")
    node = start_anvil("test-l1", workdir, persist=False)
    try:
        yield node
    finally:
        stop_pid(node.pid)
