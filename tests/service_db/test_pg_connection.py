"""The PostgreSQL job store when its connection dies: one ``StoreError`` line, then the
next call reconnects."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from coprocessor.errors import StoreError
from coprocessor.service.store.database import migrate_database
from coprocessor.service.store.postgres import PgJobStore

REQ = {"subject": "0x" + "44" * 20, "model": "m", "block": "latest", "mode": "signed",
       "destination": "none"}  # fmt: skip


def test_a_killed_connection_is_one_error_then_a_reconnect(pg_url: str, tmp_path: Path) -> None:
    migrate_database(pg_url, tmp_path)
    store = PgJobStore(pg_url)
    job, _ = store.submit(REQ, None)
    row = store.conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
    with pytest.raises(StoreError, match=r"^job store postgresql://postgres@/t_\w+\?host=") as info:
        store.claim("a", 30.0)
    assert "\n" not in str(info.value)
    claimed = store.claim("a", 30.0)  # a new connection
    assert claimed is not None and claimed.id == job.id
    store.close()
