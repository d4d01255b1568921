"""Versioned schema migrations (``coproc db migrate``) and the config's ``database_url``."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

from coprocessor.cli.main import main
from coprocessor.errors import StoreError, UserInputError
from coprocessor.service.config import DATABASE_URL_ENV, load_config
from coprocessor.service.store.database import (
    migrate_database,
    open_job_store,
    parse_database_url,
    schema_status,
)
from coprocessor.service.store.migrations import MIGRATIONS, SCHEMA_VERSION


def _set_schema(url: str, tmp_path: Path, version: int) -> None:
    """Write ``version`` as the database's schema version, behind the code's back."""
    db = parse_database_url(url, tmp_path)
    if db.kind == "sqlite":
        conn = sqlite3.connect(str(db.path))
        conn.execute("UPDATE svc_meta SET value = ? WHERE key = 'schema'", (str(version),))
        conn.commit()
        conn.close()
    else:
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute(
                "INSERT INTO coproc_schema (version, name) VALUES (%s, 'future')", (version,)
            )


def test_migrations_are_numbered_one_by_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len(MIGRATIONS) == SCHEMA_VERSION


def test_migrate_is_idempotent(store_url: str, tmp_path: Path) -> None:
    # store_url is migrated once already
    kind, found, code = schema_status(store_url, tmp_path)
    assert found == code
    again = migrate_database(store_url, tmp_path)
    assert (again.kind, again.version, again.applied) == (kind, code, [])


def test_a_newer_database_is_refused(store_url: str, tmp_path: Path) -> None:
    _, _, code = schema_status(store_url, tmp_path)
    _set_schema(store_url, tmp_path, code + 1)
    message = f"database schema v{code + 1} is newer than this coproc \\(v{code}\\)"
    with pytest.raises(StoreError, match=message):
        migrate_database(store_url, tmp_path)
    with pytest.raises(StoreError, match=f"schema v?{code + 1}"):
        open_job_store(store_url, tmp_path)


def test_an_unmigrated_postgres_database_is_refused_then_migrated(
    pg_url: str, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match=r"schema v0 is older .* run `coproc db migrate`"):
        open_job_store(pg_url, tmp_path)
    assert schema_status(pg_url, tmp_path) == ("postgresql", 0, SCHEMA_VERSION)
    done = migrate_database(pg_url, tmp_path)
    assert done.applied == list(range(1, SCHEMA_VERSION + 1))
    open_job_store(pg_url, tmp_path).close()


def test_concurrent_migrations_apply_each_version_once(pg_url: str, tmp_path: Path) -> None:
    start = threading.Barrier(3)
    applied: list[int] = []

    def run() -> None:
        start.wait()
        applied.extend(migrate_database(pg_url, tmp_path).applied)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(applied) == list(range(1, SCHEMA_VERSION + 1))
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version FROM coproc_schema ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))


def test_cli_db_migrate_and_status(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--data-dir", str(tmp_path), "db"]
    assert main([*base, "status", "--database-url", pg_url]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "backend": "postgresql", "schema": 0, "code_schema": SCHEMA_VERSION,
    }  # fmt: skip
    assert main([*base, "migrate", "--database-url", pg_url]) == 0
    assert json.loads(capsys.readouterr().out)["applied"] == list(range(1, SCHEMA_VERSION + 1))
    config = tmp_path / "service.json"
    config.write_text(json.dumps({"database_url": pg_url}))
    assert main([*base, "migrate", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["applied"] == []
    _set_schema(pg_url, tmp_path, SCHEMA_VERSION + 1)
    assert main([*base, "migrate", "--database-url", pg_url]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"coproc: error: database schema v{SCHEMA_VERSION + 1} is newer than this coproc "
        f"(v{SCHEMA_VERSION})"
    )


def test_cli_db_migrate_creates_the_default_sqlite_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)  # the default: no database named
    assert main(["--data-dir", str(tmp_path), "db", "migrate"]) == 0
    assert json.loads(capsys.readouterr().out) == {"backend": "sqlite", "schema": 1, "applied": [1]}
    assert (tmp_path / "service.sqlite").is_file()


def test_a_connection_failure_is_one_line_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://coproc:hunter2@/jobs?host={tmp_path}&port=1"
    assert main(["--data-dir", str(tmp_path), "db", "migrate", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coproc: error: database postgresql://coproc:***@/jobs")
    assert "hunter2" not in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "kind", "where"),
    [
        ("", "sqlite", "service.sqlite"),
        ("sqlite:jobs/q.sqlite", "sqlite", "jobs/q.sqlite"),
        ("sqlite:///abs/q.sqlite", "sqlite", "/abs/q.sqlite"),
        ("postgresql://u@h/db", "postgresql", ""),
        ("postgres://u@h/db", "postgresql", ""),
    ],
)
def test_database_url_forms(url: str, kind: str, where: str, tmp_path: Path) -> None:
    db = parse_database_url(url, tmp_path)
    assert db.kind == kind
    if kind == "sqlite":
        assert db.path == tmp_path / where
    else:
        assert db.url == url


@pytest.mark.parametrize("url", ["mysql://root:pw@db/x", "sqlite:", "jobs.sqlite"])
def test_bad_database_urls_are_refused_by_the_config(url: str) -> None:
    with pytest.raises(UserInputError, match="config: database_url") as info:
        load_config(None, {"database_url": url})
    assert "pw" not in str(info.value)


def test_serve_keys_live_in_the_sqlite_file_or_the_postgres_database_of_database_url(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "service.json"
    config.write_text(json.dumps({"database_url": "sqlite:keys/service.sqlite"}))
    base = ["--data-dir", str(tmp_path), "serve", "--config", str(config)]
    assert main([*base, "--list-keys"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert (tmp_path / "keys" / "service.sqlite").is_file()
    assert not (tmp_path / "service.sqlite").exists()
    config.write_text(json.dumps({"database_url": pg_url}))
    assert main([*base, "--list-keys"]) == 2  # not migrated yet: refused in one line
    err = capsys.readouterr().err
    assert "older than this coproc" in err and "coproc db migrate" in err
    assert len(err.strip().splitlines()) == 1
    migrate_database(pg_url, tmp_path)
    assert main([*base, "--add-key", "ops"]) == 0
    assert capsys.readouterr().out.startswith("cpk_")
    assert main([*base, "--list-keys"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["name"] == "ops" and listed["revoked"] is False
    assert main([*base, "--revoke-key", listed["id"]]) == 0
    capsys.readouterr()
    assert main([*base, "--list-keys"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["revoked"] is True
    assert not (tmp_path / "service.sqlite").exists()
