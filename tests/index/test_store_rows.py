"""The store's rows, checked against the bundle they come from (not against the
store's own reading code): nodes keyed by the keccak the test computes, one slot row
per storage read with its hex value, and the bulk-insert SQL (rows cut out of packed
parameters inside SQLite) equal to plain one-row-at-a-time inserts."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coprocessor.chain.bundle import ProofAtBlock, StorageRead, build_bundle
from coprocessor.chain.headers import encode_header_json
from coprocessor.chain.keccak import keccak256
from coprocessor.errors import StoreError
from coprocessor.index.store import Store, _insert_nodes, _insert_slots


def _mainnet_bundles(vectors: Path) -> list[tuple[int, list[bytes], list[ProofAtBlock]]]:
    out = []
    for header_file in sorted((vectors / "headers").glob("*.json")):
        proofs = sorted((vectors / "proofs").glob(f"{header_file.stem}_*.json"))
        if proofs:
            header = json.loads(header_file.read_text())
            number = int(header["number"], 16)
            answers = [ProofAtBlock(number, json.loads(p.read_text())["proof"]) for p in proofs]
            out.append((1, [encode_header_json(header)], answers))
    return out


def test_rows_of_real_bundles(shared_vectors: Path, tmp_path: Path) -> None:
    cases = _mainnet_bundles(shared_vectors)
    assert len(cases) >= 3
    store = Store(tmp_path / "s.sqlite")
    expected_nodes: set[tuple[bytes, bytes]] = set()
    expected_slots: set[tuple[bytes, bytes, bytes, str]] = set()
    for case in cases:
        verified = build_bundle(*case)
        store.save_verified(verified)
        expected_nodes |= {(keccak256(n), n) for n in verified.bundle.nodes}
        block_hash = keccak256(case[1][0])
        for read in verified.bundle.accounts:
            expected_slots |= {
                (block_hash, read.address, s.slot, hex(s.value)) for s in read.storage
            }
    conn = store.db.conn
    nodes = conn.execute("SELECT hash, rlp FROM nodes").fetchall()
    assert all(isinstance(h, bytes) and isinstance(n, bytes) for h, n in nodes)
    assert set(nodes) == expected_nodes and len(nodes) == len(expected_nodes)
    slots = conn.execute("SELECT block_hash, address, slot, value FROM slots").fetchall()
    assert set(slots) == expected_slots and len(slots) == len(expected_slots)
    assert any(n for _, n in nodes if len(n) > 500)  # branch nodes, not only leaves
    store.close()


_blob = st.binary(min_size=1, max_size=700)  # RLP: a trie node is never empty
_hash = st.binary(min_size=32, max_size=32)
_word = st.binary(min_size=32, max_size=32)


@settings(max_examples=60, deadline=None)
@given(
    nodes=st.lists(st.tuples(_hash, _blob), max_size=40),
    storage=st.lists(st.tuples(_word, st.integers(min_value=0, max_value=2**256 - 1)), max_size=40),
)
def test_bulk_inserts_equal_row_by_row_inserts(
    nodes: list[tuple[bytes, bytes]], storage: list[tuple[bytes, int]]
) -> None:
    """Repeated hashes/slots included: the first node row of a hash stays, the last
    slot row wins, as with executemany of INSERT OR IGNORE / OR REPLACE."""
    with tempfile.TemporaryDirectory() as tmp:
        bulk, plain = Store(Path(tmp) / "a.sqlite"), Store(Path(tmp) / "b.sqlite")
        reads = [StorageRead(slot, value) for slot, value in storage]
        block_hash, address = b"\x11" * 32, b"\x22" * 20
        _insert_nodes(bulk.db.conn, [h for h, _ in nodes], [n for _, n in nodes])
        _insert_slots(bulk.db.conn, block_hash, address, reads)
        plain.db.conn.executemany("INSERT OR IGNORE INTO nodes (hash, rlp) VALUES (?, ?)", nodes)
        plain.db.conn.executemany(
            "INSERT OR REPLACE INTO slots (block_hash, address, slot, value) VALUES (?, ?, ?, ?)",
            [(block_hash, address, r.slot, hex(r.value)) for r in reads],
        )
        for table in ("nodes", "slots"):
            rows = [
                sorted(s.db.conn.execute(f"SELECT * FROM {table}").fetchall())
                for s in (bulk, plain)
            ]
            assert rows[0] == rows[1]
            assert all(
                type(v) is type(w)
                for a, b in zip(*rows, strict=True)
                for v, w in zip(a, b, strict=True)
            )
        bulk.close()
        plain.close()


def test_bulk_insert_refuses_what_it_cannot_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    for hashes, nodes in (([b"\x01" * 32], [b""]), ([b"\x01" * 31], [b"\xc0"])):
        with pytest.raises(StoreError):
            _insert_nodes(store.db.conn, hashes, nodes)
    with pytest.raises(StoreError):
        _insert_slots(store.db.conn, b"\x11" * 32, b"\x22" * 20, [StorageRead(b"\x01", 1)])
    assert set(store.counts().values()) == {0}
    store.close()
