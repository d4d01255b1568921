"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary
directory, no system service, torn down (and the directory removed) at the end.

The server binaries come from PATH or from Debian's ``/usr/lib/postgresql/<v>/bin``.
``initdb`` refuses to run as root, so when the tests run as root the server runs as
the ``postgres`` user (``runuser``) in a directory that user owns. The server listens
on a Unix socket only (``listen_addresses=''``), in the temporary directory, under a
port number that was free when chosen; authentication is ``trust``, which the socket's
directory (mode 0700) limits to its owner and root. Durability is off (``fsync``):
the data is thrown away anyway.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from coprocessor.dev.devnet import free_port

#: the user the server runs as when the tests run as root
SERVER_USER = "postgres"
#: the database superuser initdb creates
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the server did not start."""


def server_binary(name: str) -> str:
    """``initdb`` / ``pg_ctl``: on PATH, else the newest ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    candidates.sort(key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    if not candidates:
        raise PostgresUnavailable(
            f"PostgreSQL server binary {name} not found (install Debian's postgresql)"
        )
    return candidates[-1]


@dataclass
class PostgresServer:
    """A running throwaway server."""

    root: Path
    port: int

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for ``dbname`` over the Unix socket."""
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def new_database(self) -> str:
        """Create an empty database with a fresh name; returns its URL."""
        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_server_user() -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PostgresUnavailable(f"{what} failed: {' / '.join(tail)}")


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    """Wait until the server process has exited (``pg_ctl -w stop`` returns when the
    pid file is gone, a moment before the process is)."""
    deadline = time.monotonic() + timeout
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


@contextmanager
def postgres_server(durable: bool = False) -> Iterator[PostgresServer]:
    """Start a server in a new temporary directory; stop it and remove the directory.
    ``durable``: keep PostgreSQL's default ``fsync``, ``synchronous_commit`` and
    ``full_page_writes`` (a commit waits for its WAL flush, as ``coproc`` configures
    SQLite) instead of turning them off (benchmarks compare the two backends with it)."""
    initdb, pg_ctl = server_binary("initdb"), server_binary("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="coproc-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, SERVER_USER, SERVER_USER)
        data = root / "data"
        prefix = _as_server_user()
        _run(
            [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
             "--locale=C", "--no-sync"],
            "initdb",
        )  # fmt: skip
        port = free_port()
        fast = "" if durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        options = f"-p {port} -k {root} -c listen_addresses='' {fast}-c max_connections=100"
        _run(
            [*prefix, pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-o", options,
             "-w", "-t", "60", "start"],
            "pg_ctl start",
        )  # fmt: skip
        pid = int((data / "postmaster.pid").read_text().split()[0])
        try:
            yield PostgresServer(root=root, port=port)
        finally:
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
            wait_gone(pid)
    finally:
        shutil.rmtree(root, ignore_errors=True)
