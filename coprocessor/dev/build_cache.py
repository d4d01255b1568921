"""A chain built once per machine and cached outside the clone: a folder holding
``state.json`` (an anvil state) and ``manifest.json`` (what the builder recorded, its
``version`` the cache key). One builder at a time: others wait on a lock file, then
find the cache. Used by the history devnet (``history.py``) and the Rocky scenario
(``rocky.py``); the simulated markets (``markets/cache.py``, their own layout) take
only its lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.errors import ToolError

#: what a build returns and a load finds: the state file and the manifest
Built = tuple[Path, dict[str, Any]]


@dataclass(frozen=True)
class BuiltChain:
    """A built chain: the anvil state file and what the builder recorded (its ``head``
    and ``checkpoints``, the blocks whose state the node keeps)."""

    state: Path
    manifest: dict[str, Any]

    @property
    def head(self) -> int:
        """The head block."""
        return int(self.manifest["head"])

    @property
    def checkpoints(self) -> tuple[int, ...]:
        """Blocks with a kept state (``eth_getProof`` works there)."""
        return tuple(int(b) for b in self.manifest["checkpoints"])


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_built(folder: Path, version: str) -> Built | None:
    """The build in ``folder`` if it is complete and of ``version``, else None."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    state = folder / "state.json"
    if not isinstance(manifest, dict) or manifest.get("version") != version:
        return None
    return (state, manifest) if state.exists() else None


def ensure_built(
    folder: Path,
    version: str,
    build: Callable[[Path], dict[str, Any]],
    leftovers: Sequence[str] = (),
) -> Built:
    """The build in ``folder``, made first if missing: ``build(workdir)`` writes
    ``workdir/state.json`` and returns the manifest; the work folder (without
    ``leftovers``) then replaces ``folder``."""
    with locked(folder.parent / f"{version}.lock"):
        found = load_built(folder, version)
        if found is not None:
            return found
        work = folder.parent / f"{version}.building"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        manifest = build(work)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=1))
        for name in leftovers:
            (work / name).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        work.replace(folder)
    built = load_built(folder, version)
    if built is None:
        raise ToolError(f"{version}: the build in {folder} left no manifest")
    return built


__all__ = ["Built", "BuiltChain", "ensure_built", "load_built", "locked"]
