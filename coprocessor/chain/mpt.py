"""Merkle-Patricia proof walks over a pool of trie nodes.

The fast path of proof verification: every node of a bundle is hashed once into a
pool (``hash -> node``), then each key is walked from its root. A walk proves either
the value at the key (inclusion) or that the key is absent (exclusion). Nodes
shorter than 32 bytes are inlined in their parent, as the Ethereum trie stores them.
The naive reference is ``trie.HexaryTrie.get_from_proof`` (see ``proofs.py``);
tests assert both agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import rlp
from rlp.exceptions import DecodingError

from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.keccak import EMPTY_TRIE_ROOT, keccak256
from coprocessor.chain.rlpdepth import decode_bounded
from coprocessor.errors import VerificationError

_Node = list[object]


@dataclass
class NodePool:
    """Trie nodes by their keccak256; remembers which ones walks used."""

    nodes: dict[bytes, bytes] = field(default_factory=dict)
    used: set[bytes] = field(default_factory=set)
    #: decoded nodes by hash; may be shared between pools over the same nodes
    #: (a node's hash fixes its content, so a decode is valid wherever it is found)
    decoded: dict[bytes, _Node] = field(default_factory=dict)

    @classmethod
    def from_nodes(cls, nodes: Iterable[bytes]) -> NodePool:
        """Hash each node once. Duplicates are kept once."""
        return cls(nodes={keccak256(node): node for node in nodes})

    def add(self, node: bytes) -> bytes:
        """Add one node; returns its hash."""
        digest = keccak256(node)
        self.nodes[digest] = node
        return digest

    def _load(self, digest: bytes, where: str, root: bool = False) -> _Node:
        decoded = self.decoded.get(digest)
        if decoded is None:
            raw = self.nodes.get(digest)
            if raw is None:
                raise VerificationError(
                    f"{where}: missing trie node {hexstr(digest)}", rule="trie_missing_node"
                )
            if len(raw) < 32 and not root:
                raise VerificationError(
                    f"{where}: node {hexstr(digest)} is shorter than 32 bytes "
                    "(it must be inlined in its parent)",
                    rule="nodes_not_inlined",
                )
            decoded = _decode_node(raw, where)
            self.decoded[digest] = decoded
        self.used.add(digest)
        return decoded

    def unused(self) -> list[bytes]:
        """Hashes of nodes no walk has touched."""
        return sorted(set(self.nodes) - self.used)

    def get(self, root: bytes, key: bytes, where: str) -> bytes | None:
        """Walk ``key`` (already hashed for secure tries) from ``root``: the value
        bytes, or ``None`` when the nodes prove the key absent.

        Paths are compared as hex strings (one nibble per character), which keeps
        the walk in C string operations."""
        if root == EMPTY_TRIE_ROOT:
            return None
        path = key.hex()
        node = self._load(root, where, root=True)
        pos = 0
        while True:
            if len(node) == 17:
                if pos == len(path):
                    raise VerificationError(
                        f"{where}: key ends at a branch node", rule="trie_key_at_branch"
                    )
                ref = node[_NIBBLE[path[pos]]]
                pos += 1
                if ref == b"":
                    return None
                node = self._child(ref, where)
                continue
            # leaf or extension (len == 2, checked by _decode_node)
            encoded = node[0]
            assert isinstance(encoded, bytes)
            is_leaf, rest = _decode_hex_prefix_str(encoded, where)
            if is_leaf:
                if path[pos:] != rest:
                    return None
                value = node[1]
                if not isinstance(value, bytes) or value == b"":
                    raise VerificationError(
                        f"{where}: leaf value is not a byte string", rule="trie_leaf_value"
                    )
                return value
            if not rest:
                raise VerificationError(
                    f"{where}: extension node with empty path", rule="trie_path"
                )
            if not path.startswith(rest, pos):
                return None
            pos += len(rest)
            node = self._child(node[1], where)
            if len(node) != 17:
                raise VerificationError(
                    f"{where}: extension node does not lead to a branch", rule="trie_child_ref"
                )

    def _child(self, ref: object, where: str) -> _Node:
        if isinstance(ref, list):  # inlined node (its RLP is shorter than 32 bytes)
            if len(rlp.encode(ref)) >= 32:
                raise VerificationError(
                    f"{where}: inlined node of 32 bytes or more", rule="trie_child_ref"
                )
            _check_shape(ref, where)
            return ref
        if not isinstance(ref, bytes) or len(ref) != 32:
            raise VerificationError(
                f"{where}: child reference is not a 32-byte hash", rule="trie_child_ref"
            )
        return self._load(ref, where)


_NIBBLE = {c: int(c, 16) for c in "0123456789abcdef"}


def _decode_hex_prefix_str(path: bytes, where: str) -> tuple[bool, str]:
    """Hex-prefix decoding to a hex string of nibbles (the walk's fast form)."""
    if not path:
        raise VerificationError(f"{where}: empty hex-prefix path", rule="trie_path")
    text = path.hex()
    flag = _NIBBLE[text[0]]
    if flag > 3:
        raise VerificationError(f"{where}: bad hex-prefix flag {flag}", rule="trie_path")
    if flag & 1:
        return bool(flag & 2), text[1:]
    if text[1] != "0":
        raise VerificationError(f"{where}: hex-prefix padding nibble is not zero", rule="trie_path")
    return bool(flag & 2), text[2:]


def _decode_hex_prefix(path: bytes, where: str) -> tuple[bool, tuple[int, ...]]:
    """Hex-prefix (compact) encoding: the flag nibble says leaf/extension and odd/even."""
    is_leaf, text = _decode_hex_prefix_str(path, where)
    return is_leaf, tuple(_NIBBLE[c] for c in text)


def _check_shape(node: object, where: str) -> None:
    if not isinstance(node, list) or len(node) not in (2, 17):
        raise VerificationError(
            f"{where}: trie node is neither branch (17) nor leaf/extension (2)",
            rule="trie_node_shape",
        )
    if len(node) == 17 and node[16] != b"":
        raise VerificationError(
            f"{where}: branch node with a value in a fixed-length-key trie", rule="trie_node_shape"
        )
    if len(node) == 2 and not isinstance(node[0], bytes):
        raise VerificationError(
            f"{where}: leaf/extension path is not a byte string", rule="trie_node_shape"
        )


def _decode_node(raw: bytes, where: str) -> _Node:
    node = _fast_decode(raw)
    if node is None:  # inlined child lists, long strings or anything unusual
        try:
            node = decode_bounded(raw, where)
        except DecodingError as exc:
            raise VerificationError(
                f"{where}: trie node is not valid RLP ({exc})", rule="rlp_canonical"
            ) from None
    _check_shape(node, where)
    assert isinstance(node, list)
    return node


def _fast_decode(raw: bytes) -> _Node | None:
    """Strict RLP decoding of the common trie node shape: one list of short strings.

    Returns ``None`` (the caller then uses the general decoder, which gives the
    precise error) for anything else: nested lists, strings of 56+ bytes, or any
    non-canonical or truncated encoding. About 4x faster than ``rlp.decode`` for
    the branch nodes that dominate proofs."""
    size = len(raw)
    if size == 0:
        return None
    b0 = raw[0]
    if b0 < 0xC0:
        return None
    if b0 <= 0xF7:
        pos, length = 1, b0 - 0xC0
    else:
        ll = b0 - 0xF7
        if size < 1 + ll or raw[1] == 0:
            return None
        length = int.from_bytes(raw[1 : 1 + ll], "big")
        if length < 56:
            return None
        pos = 1 + ll
    if pos + length != size:
        return None
    items: _Node = []
    append = items.append
    while pos < size:
        b = raw[pos]
        if b < 0x80:
            append(raw[pos : pos + 1])
            pos += 1
        elif b <= 0xB7:
            end = pos + 1 + (b - 0x80)
            if end > size or (b == 0x81 and raw[pos + 1] < 0x80):
                return None
            append(raw[pos + 1 : end])
            pos = end
        else:
            return None
    return items
