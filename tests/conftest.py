"""Shared fixtures: the real chain vectors (inside the repository), a real anvil node,
a throwaway PostgreSQL server (``pg_support``) and ``backend``: a test once per service
database backend (``service_backends``).

``--service-backend postgres`` (or ``$COPROC_TEST_SERVICE_BACKEND=postgres``; ``make
test-postgres``) runs the whole suite with PostgreSQL as the default service database:
every test gets a new migrated database in ``$COPROC_DATABASE_URL``, which every service
whose config names no ``database_url`` uses (``coprocessor.service.config``), in this
process and in the ``coproc`` processes the test starts. Tests that pin a backend (the
``backend`` fixture, the SQLite store's own unit tests) keep it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from locations import CHAIN_VECTORS

from coprocessor.dev.devnet import AnvilNode, start_anvil, stop_pid

if TYPE_CHECKING:
    from pg_support import PostgresServer
    from service_backends import Backend


SERVICE_BACKEND_ENV = "COPROC_TEST_SERVICE_BACKEND"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--service-backend",
        choices=("sqlite", "postgres"),
        default=os.environ.get(SERVICE_BACKEND_ENV, "sqlite"),
        help="the default service database of every test (default: sqlite, or "
        f"${SERVICE_BACKEND_ENV})",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"service backend: {config.getoption('--service-backend')}"


@pytest.fixture(scope="session")
def migrated_template(request: pytest.FixtureRequest) -> str | None:
    """``--service-backend postgres``: the name of a migrated template database on
    ``pg_server`` (each test's database is a copy); otherwise None."""
    if request.config.getoption("--service-backend") != "postgres":
        return None
    from service_backends import migrated_template_database

    server: PostgresServer = request.getfixturevalue("pg_server")
    return migrated_template_database(server)


def _fresh_default_database(request: pytest.FixtureRequest, template: str | None) -> Iterator[None]:
    """``$COPROC_DATABASE_URL``: a new copy of ``template`` while the fixture lasts, or
    unset (the default, SQLite) when the suite runs on SQLite."""
    from coprocessor.service.config import DATABASE_URL_ENV

    with pytest.MonkeyPatch.context() as patch:
        if template is None:
            patch.delenv(DATABASE_URL_ENV, raising=False)
        else:
            from service_backends import database_from_template, drop_database

            server: PostgresServer = request.getfixturevalue("pg_server")
            url = database_from_template(server, template)
            patch.setenv(DATABASE_URL_ENV, url)
            yield
            drop_database(server, url)  # a thousand copies would fill the disk
            return
        yield


@pytest.fixture(scope="module", autouse=True)
def module_service_database(
    request: pytest.FixtureRequest, migrated_template: str | None
) -> Iterator[None]:
    """A module's own default service database, for the services of module-scoped
    fixtures (set up before any test's own fixtures)."""
    yield from _fresh_default_database(request, migrated_template)


@pytest.fixture(autouse=True)
def test_service_database(
    request: pytest.FixtureRequest, module_service_database: None, migrated_template: str | None
) -> Iterator[None]:
    """Each test's own default service database, for the services it starts itself."""
    yield from _fresh_default_database(request, migrated_template)


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
