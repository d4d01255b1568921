"""Where the tests find things: all inside the repository (nothing beside the clone)."""

from __future__ import annotations

from pathlib import Path

#: repository root
REPO = Path(__file__).resolve().parent.parent
#: the tests folder
TESTS = REPO / "tests"
#: project test vectors (models, features, EIP-712) and, under ``chain/``, the real
#: chain vectors copied by ``scripts/copy_vectors.py`` (each file's origin in
#: ``chain/SOURCES.json``)
VECTORS = TESTS / "vectors"
CHAIN_VECTORS = VECTORS / "chain"
