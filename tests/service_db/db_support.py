"""What the multi-process tests of tests/service_db share: waiting for a worker, reading
its log."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 300.0) -> None:
    """Poll ``predicate`` until it holds; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def log_lines(path: Path) -> list[str]:
    """The lines a worker wrote to its log so far (none before it created the file)."""
    return path.read_text().splitlines() if path.exists() else []
