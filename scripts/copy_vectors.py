"""Copy the chain test vectors into ``tests/vectors/chain`` and record each file's source.

Usage: ``python scripts/copy_vectors.py SOURCE_DIR``, where SOURCE_DIR holds
``headers/``, ``headers_nonmainnet/``, ``proofs/``, ``rlp/`` and ``trie/`` (real mainnet,
hive and ethereum/tests data). Files are copied byte for byte; ``SOURCES.json`` maps
each copied file to its public origin (``owner/repo:path@commit``): the file's own
``_source`` field, or its line in the directory's ``SOURCES.txt`` for the unmodified
ethereum/tests files. A file without a recorded origin is refused. Both the Python
tests and the Rust core tests read the copy, so the repository needs nothing beside it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

DEST = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "chain"
FOLDERS = ("headers", "headers_nonmainnet", "proofs", "rlp", "trie")


def _sources_txt(folder: Path) -> dict[str, str]:
    listing = folder / "SOURCES.txt"
    if not listing.is_file():
        return {}
    out = {}
    for line in listing.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            out[fields[0]] = fields[1]
    return out


def _origin(path: Path, listed: dict[str, str]) -> str:
    if path.name in listed:
        return listed[path.name]
    data = json.loads(path.read_text())
    source = data.get("_source") if isinstance(data, dict) else None
    if not isinstance(source, str) or not source:
        raise SystemExit(f"copy_vectors: {path.name} records no _source; not copied")
    return source


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src = Path(argv[0])
    sources: dict[str, str] = {}
    staged: list[tuple[Path, str]] = []
    for name in FOLDERS:
        folder = src / name
        if not folder.is_dir():
            raise SystemExit(f"copy_vectors: {folder} is not a directory")
        listed = _sources_txt(folder)
        for path in sorted(folder.glob("*.json")):
            rel = f"{name}/{path.name}"
            sources[rel] = _origin(path, listed)
            staged.append((path, rel))
    for path, rel in staged:
        (DEST / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DEST / rel)
    if (src / "README.md").is_file():
        shutil.copyfile(src / "README.md", DEST / "README.md")
    (DEST / "SOURCES.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    print(f"copied {len(staged)} files to {DEST}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
