"""Shared fixtures: the real chain vectors (inside the repository), a real anvil node,
a throwaway PostgreSQL server (``pg_support``) and ``backend``: a test once per service
database backend (``service_backends``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from locations import CHAIN_VECTORS

from coprocessor.dev.devnet import AnvilNode, start_anvil, stop_pid

if TYPE_CHECKING:
    from pg_support import PostgresServer
    from service_backends import Backend


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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server (initdb + pg_ctl in a temporary directory) for the session,
    started when a test first asks for it."""
    from pg_support import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The service database of a test whose service keeps its files in ``tmp_path /
    "data"``: SQLite there, or a new migrated PostgreSQL database on ``pg_server``."""
    from service_backends import make_backend

    pg_url = None
    if request.param == "postgres":
        pg_url = request.getfixturevalue("pg_server").new_database()
    return make_backend(request.param, tmp_path / "data", pg_url)
