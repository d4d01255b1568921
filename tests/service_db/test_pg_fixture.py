"""The throwaway PostgreSQL server the job-store tests run on."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from pg_support import PostgresServer, postgres_server, running


def test_server_runs_in_its_temporary_directory(pg_server: PostgresServer, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
        assert row is not None
        assert Path(row[0]).parent == pg_server.root
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
    assert (pg_server.root / f".s.PGSQL.{pg_server.port}").exists()
    if os.geteuid() == 0:  # the server's files belong to the postgres user, not root
        assert (pg_server.root / "data").stat().st_uid != 0


def test_each_test_gets_an_empty_database(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_teardown_stops_the_server_and_removes_its_directory() -> None:
    with postgres_server() as server:
        pid_file = server.root / "data" / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0])
        assert running(pid)
        root = server.root
    assert not root.exists()
    assert not running(pid)
