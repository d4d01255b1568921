"""ethereum/tests TrieTests: the reference trie package reproduces every root, and our
node-pool walker (coprocessor.chain.mpt) proves every key of the secure tries (inclusion and
absence) from proofs the reference produced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from trie.hexary import HexaryTrie

from coprocessor.chain.keccak import keccak256
from coprocessor.chain.mpt import NodePool, _decode_hex_prefix
from coprocessor.errors import VerificationError


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text[2:]) if text.startswith("0x") else text.encode()


def _cases(shared: Path, name: str) -> list[tuple[str, list[tuple[str, str | None]], str]]:
    data = json.loads((shared / "trie" / name).read_text())
    out = []
    for case, body in data.items():
        items = body["in"]
        pairs = list(items.items()) if isinstance(items, dict) else [tuple(p) for p in items]
        out.append((f"{name}:{case}", pairs, body["root"]))
    return out


def _build(
    pairs: list[tuple[str, str | None]], secure: bool
) -> tuple[HexaryTrie, dict[bytes, bytes]]:
    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db)
    state: dict[bytes, bytes] = {}
    for key_text, value_text in pairs:
        key = _bytes(key_text)
        key = keccak256(key) if secure else key
        if value_text is None or _bytes(value_text) == b"":
            trie.delete(key)  # type: ignore[no-untyped-call]
            state.pop(key, None)
        else:
            trie.set(key, _bytes(value_text))  # type: ignore[no-untyped-call]
            state[key] = _bytes(value_text)
    return trie, state


@pytest.mark.parametrize(
    "name,secure",
    [
        ("trietest.json", False),
        ("trieanyorder.json", False),
        ("trietest_secureTrie.json", True),
        ("trieanyorder_secureTrie.json", True),
        ("hex_encoded_securetrie_test.json", True),
    ],
)
def test_reference_roots(shared_vectors: Path, name: str, secure: bool) -> None:
    for case, pairs, root in _cases(shared_vectors, name):
        trie, _ = _build(pairs, secure)
        assert "0x" + trie.root_hash.hex() == root, case


@pytest.mark.parametrize(
    "name",
    [
        "trietest_secureTrie.json",
        "trieanyorder_secureTrie.json",
        "hex_encoded_securetrie_test.json",
    ],
)
def test_walker_proves_every_key(shared_vectors: Path, name: str) -> None:
    checked = 0
    for case, pairs, root_text in _cases(shared_vectors, name):
        trie, state = _build(pairs, True)
        root = bytes.fromhex(root_text[2:])
        deleted = {keccak256(_bytes(k)) for k, _ in pairs} - set(state)
        for key in list(state) + sorted(deleted):
            proof = trie.get_proof(key)  # type: ignore[no-untyped-call]
            raw_nodes = [rlp.encode(node) for node in proof]
            pool = NodePool.from_nodes(n for n in raw_nodes if len(n) >= 32 or keccak256(n) == root)
            got = pool.get(root, key, case)
            assert got == state.get(key), case
            checked += 1
    assert checked > 0


def test_walker_rejects_missing_and_tampered_nodes(shared_vectors: Path) -> None:
    _, pairs, root_text = _cases(shared_vectors, "hex_encoded_securetrie_test.json")[0]
    trie, state = _build(pairs, True)
    root = bytes.fromhex(root_text[2:])
    key = next(iter(state))
    nodes = [bytes(rlp.encode(n)) for n in trie.get_proof(key)]  # type: ignore[no-untyped-call]
    assert len(nodes) >= 2
    with pytest.raises(VerificationError, match="missing trie node"):
        NodePool.from_nodes(nodes[:-1]).get(root, key, "t")
    tampered = bytearray(nodes[-1])
    tampered[-1] ^= 1
    with pytest.raises(VerificationError):
        NodePool.from_nodes([*nodes[:-1], bytes(tampered)]).get(root, key, "t")


def test_hex_prefix_vectors(shared_vectors: Path) -> None:
    data: dict[str, Any] = json.loads((shared_vectors / "trie" / "hexencodetest.json").read_text())
    for name, case in data.items():
        is_leaf, nibbles = _decode_hex_prefix(bytes.fromhex(case["out"]), name)
        assert is_leaf == case["term"], name
        assert list(nibbles) == case["seq"], name
