"""The ``tree_ensemble`` layer of model format v2 (docs/formats.md §2): a sum of
decision trees over Q16 features, in integers only.

A tree is a tuple of nodes; node 0 is the root. A branch sends ``x`` to ``yes`` when
``x[feature] <= threshold`` (mode ``"<="``) or ``x[feature] < threshold`` (mode
``"<"``), else to ``no``; both children come after the branch, and every node but the
root is the child of exactly one branch, so a walk ends at a leaf in fewer steps than
the tree has nodes. The layer's output (width 1) is
``sat32(base + sum of the leaves reached)``, summed in int64 (8192 trees of int32
leaves stay far below 2^63).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from coprocessor.errors import UserInputError
from coprocessor.scoring.models.fixedpoint import is_int32, sat32

OP: Final = "tree_ensemble"
CODE: Final = 6
#: node kinds of the canonical bytes
KIND_LEAF: Final = 0
MODE_CODES: Final = {"<=": 1, "<": 2}
MAX_TREES: Final = 8192
MAX_NODES: Final = 65536
MAX_TOTAL_NODES: Final = 1 << 20


@dataclass(frozen=True)
class Leaf:
    value: int


@dataclass(frozen=True)
class Branch:
    feature: int
    mode: str
    threshold: int
    yes: int
    no: int

    def goes_yes(self, v: int) -> bool:
        return v <= self.threshold if self.mode == "<=" else v < self.threshold


Node = Leaf | Branch
Tree = tuple[Node, ...]


@dataclass(frozen=True)
class TreeEnsemble:
    """``y = sat32(base + sum_t leaf_t(x))`` (one output)."""

    n_in: int
    base: int
    trees: tuple[Tree, ...]
    op: str = field(default=OP, init=False)

    @property
    def n_out(self) -> int:
        return 1

    def node_count(self) -> int:
        return sum(len(t) for t in self.trees)


def _fail(where: str, message: str, rule: str) -> UserInputError:
    return UserInputError(f"model: {where}: {message}", rule=rule)


def _check_limits(layer: TreeEnsemble, where: str) -> None:
    if not 1 <= len(layer.trees) <= MAX_TREES:
        raise _fail(where, f"needs 1..{MAX_TREES} trees, got {len(layer.trees)}", "model_limits")
    if any(not 1 <= len(t) <= MAX_NODES for t in layer.trees):
        raise _fail(where, f"a tree needs 1..{MAX_NODES} nodes", "model_limits")
    if layer.node_count() > MAX_TOTAL_NODES:
        raise _fail(where, f"more than {MAX_TOTAL_NODES} nodes in all", "model_limits")


def _check_tree(tree: Tree, n_in: int, where: str) -> None:
    """Node shapes, feature range, children after their parent, one parent each."""
    parents = [0] * len(tree)
    for i, node in enumerate(tree):
        at = f"{where} node {i}"
        if isinstance(node, Leaf):
            if not is_int32(node.value):
                raise _fail(at, "leaf value outside int32", "model_int32")
            continue
        if node.mode not in MODE_CODES:
            raise _fail(at, f"mode must be '<=' or '<', got {node.mode!r:.20}", "model_tree")
        if not 0 <= node.feature < n_in:
            raise _fail(at, f"feature {node.feature} is not below in = {n_in}", "model_tree")
        if not is_int32(node.threshold):
            raise _fail(at, "threshold outside int32", "model_int32")
        for child in (node.yes, node.no):
            if not i < child < len(tree):
                raise _fail(at, f"child {child} is not in {i + 1}..{len(tree) - 1}", "model_tree")
            parents[child] += 1
    orphan = next((i for i in range(1, len(tree)) if parents[i] != 1), None)
    if orphan is not None:
        raise _fail(
            f"{where} node {orphan}",
            f"is the child of {parents[orphan]} branches (a tree needs exactly 1)",
            "model_tree",
        )


def validate(layer: TreeEnsemble, width: int, where: str) -> None:
    """The rules of a ``tree_ensemble`` layer whose input has ``width`` values."""
    if layer.n_in != width:
        raise _fail(
            where, f"shape mismatch: takes {layer.n_in} inputs, the width is {width}", "model_shape"
        )
    if not is_int32(layer.base):
        raise _fail(where, "base outside int32", "model_int32")
    _check_limits(layer, where)
    for t, tree in enumerate(layer.trees):
        _check_tree(tree, layer.n_in, f"{where} tree {t}")


# --- JSON form --------------------------------------------------------------------


def _int(value: object, where: str) -> int:
    if type(value) is not int:
        raise _fail(where, f"expected an integer, got {value!r:.40}", "model_types")
    return value


def _node_from_json(obj: object, where: str) -> Node:
    if not isinstance(obj, list) or len(obj) not in (1, 5):
        raise _fail(
            where,
            "a node is [value] (leaf) or [feature, mode, threshold, yes, no] (branch)",
            "model_types",
        )
    if len(obj) == 1:
        return Leaf(_int(obj[0], where))
    feature, mode, threshold, yes, no = obj
    if not isinstance(mode, str):
        raise _fail(where, "the mode must be the string '<=' or '<'", "model_types")
    return Branch(
        _int(feature, where), mode, _int(threshold, where), _int(yes, where), _int(no, where)
    )


def from_json(obj: dict[str, Any], where: str) -> TreeEnsemble:
    """The layer from its JSON object (``op`` already read; keys checked by the caller)."""
    trees = obj.get("trees")
    if not isinstance(trees, list) or not all(isinstance(t, list) for t in trees):
        raise _fail(where, "trees must be a list of node lists", "model_types")
    if not 1 <= len(trees) <= MAX_TREES:
        raise _fail(where, f"needs 1..{MAX_TREES} trees, got {len(trees)}", "model_limits")
    if sum(len(t) for t in trees) > MAX_TOTAL_NODES:
        raise _fail(where, f"more than {MAX_TOTAL_NODES} nodes in all", "model_limits")
    parsed = tuple(
        tuple(_node_from_json(n, f"{where} tree {t} node {i}") for i, n in enumerate(tree))
        for t, tree in enumerate(trees)
    )
    return TreeEnsemble(_int(obj.get("in"), f"{where} in"), _int(obj.get("base"), where), parsed)


def _node_to_json(node: Node) -> list[Any]:
    if isinstance(node, Leaf):
        return [node.value]
    return [node.feature, node.mode, node.threshold, node.yes, node.no]


def to_json(layer: TreeEnsemble) -> dict[str, Any]:
    return {
        "op": OP,
        "in": layer.n_in,
        "base": layer.base,
        "trees": [[_node_to_json(n) for n in tree] for tree in layer.trees],
    }


# --- canonical bytes and inference --------------------------------------------------


def canonical_bytes(layer: TreeEnsemble) -> bytes:
    """After the layer code: ``u32 in ‖ i32 base ‖ u32 tree_count``, then per tree
    ``u32 node_count`` and per node ``u8 0 ‖ i32 value`` (leaf) or
    ``u8 mode ‖ u32 feature ‖ i32 threshold ‖ u32 yes ‖ u32 no`` (mode 1 ``<=``, 2 ``<``)."""
    parts = [struct.pack("<IiI", layer.n_in, layer.base, len(layer.trees))]
    for tree in layer.trees:
        parts.append(struct.pack("<I", len(tree)))
        for node in tree:
            if isinstance(node, Leaf):
                parts.append(struct.pack("<Bi", KIND_LEAF, node.value))
            else:
                code = MODE_CODES[node.mode]
                parts.append(
                    struct.pack("<BIiII", code, node.feature, node.threshold, node.yes, node.no)
                )
    return b"".join(parts)


def leaf_of(tree: Tree, x: Sequence[int]) -> int:
    """The index of the leaf that ``x`` reaches."""
    i = 0
    node = tree[0]
    while isinstance(node, Branch):
        i = node.yes if node.goes_yes(x[node.feature]) else node.no
        node = tree[i]
    return i


def apply(layer: TreeEnsemble, x: Sequence[int]) -> list[int]:
    """The layer on one vector: ``[sat32(base + sum of leaves)]``."""
    acc = layer.base
    for tree in layer.trees:
        leaf = tree[leaf_of(tree, x)]
        assert isinstance(leaf, Leaf)
        acc += leaf.value
    return [sat32(acc)]
