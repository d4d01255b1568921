"""Where things live: the data directory and the project-local tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from coprocessor.errors import ToolError, UserInputError

#: repository root (the package is installed editable from the checkout)
REPO_ROOT = Path(__file__).resolve().parent.parent
NPM_BIN = REPO_ROOT / "tools" / "npm" / "node_modules" / "@foundry-rs"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``--data-dir``, else ``$COPROC_DATA_DIR``, else ``./.coproc``."""
    raw = override or os.environ.get("COPROC_DATA_DIR") or ".coproc"
    path = Path(raw).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserInputError(f"data directory {path} exists and is not a directory") from None
    except OSError as exc:
        raise UserInputError(f"data directory {path}: {exc.strerror}") from None
    return path


def foundry_tool(name: str) -> Path:
    """Path of a Foundry binary (anvil, forge, cast): env ``COPROC_<NAME>``, the
    project-local npm install, then ``PATH``."""
    env = os.environ.get(f"COPROC_{name.upper()}")
    if env:
        return Path(env)
    local = NPM_BIN / f"{name}-linux-amd64" / "bin" / name
    if local.exists():
        return local
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ToolError(f"{name} not found: run `make setup` (or set COPROC_{name.upper()})")
