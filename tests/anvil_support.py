"""A real anvil node for a test module's fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from coprocessor.dev.devnet import AnvilNode, start_anvil, stop_pid


def anvil_fixture(workdir: Path, name: str) -> Iterator[AnvilNode]:
    """A fresh anvil (no persistence) in ``workdir`` while the fixture lives:
    ``yield from anvil_fixture(tmp_path_factory.mktemp(...), name)``."""
    node = start_anvil(name, workdir, persist=False)
    try:
        yield node
    finally:
        stop_pid(node.pid)
