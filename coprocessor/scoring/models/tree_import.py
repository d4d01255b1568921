"""ONNX-ML tree ensembles (``TreeEnsembleClassifier`` / ``TreeEnsembleRegressor``, as
skl2onnx and onnxmltools export scikit-learn, XGBoost and LightGBM models) → float
trees → the Q16 ``tree_ensemble`` layer.

Supported: one binary classifier (all class weights on class 0, which is how the
converters write P(class 1) = post_transform(base + sum of leaves)) or one
single-target regressor (aggregate SUM or AVERAGE); post_transform NONE or LOGISTIC
(the logistic becomes a ``sigmoid`` layer); modes BRANCH_LEQ, BRANCH_LT, BRANCH_GTE,
BRANCH_GT; after the tree node only Identity, Cast, ZipMap and Mul by ones.
``nodes_missing_value_tracks_true`` and ``nodes_hitrates`` are read and ignored (Q16
inputs are never missing). Anything else is refused, naming it.

Thresholds (docs/formats.md §2): with integer Q16 inputs ``q`` (real ``q / 2^16``),
``q/2^16 <= t`` iff ``q <= floor(t·2^16)`` and ``q/2^16 < t`` iff ``q < ceil(t·2^16)``
(``t·2^16`` is exact in binary floating point), so each branch decides exactly as the
real comparison on the quantized input; GTE/GT are LT/LEQ with the children swapped,
and a threshold beyond int32 becomes an always-true ``<= 2^31-1`` or always-false
``< -2^31``. Leaves and the base round half up to Q16.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

import numpy as np

from coprocessor.errors import UserInputError
from coprocessor.scoring.models.fixedpoint import INT32_MAX, INT32_MIN, ONE, is_int32, real_to_q16
from coprocessor.scoring.models.floatmodel import F64, FloatLayer, FloatModel, validate
from coprocessor.scoring.models.trees import Branch, Leaf, Node, TreeEnsemble

ML_DOMAIN: Final = "ai.onnx.ml"
TREE_OPS: Final = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")
#: ops allowed after the tree node (they pass the scores through)
PASS_OPS: Final = ("Identity", "Cast", "ZipMap", "Mul")
MODES: Final = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "LEAF")
_NODE_ATTRS: Final = (
    "nodes_treeids",
    "nodes_nodeids",
    "nodes_featureids",
    "nodes_modes",
    "nodes_values",
    "nodes_truenodeids",
    "nodes_falsenodeids",
    "nodes_missing_value_tracks_true",
    "nodes_hitrates",
    "post_transform",
    "base_values",
)
KNOWN_ATTRS: Final = {
    "TreeEnsembleClassifier": {
        *_NODE_ATTRS,
        "class_treeids",
        "class_nodeids",
        "class_ids",
        "class_weights",
        "classlabels_int64s",
        "classlabels_strings",
    },
    "TreeEnsembleRegressor": {
        *_NODE_ATTRS,
        "target_treeids",
        "target_nodeids",
        "target_ids",
        "target_weights",
        "n_targets",
        "aggregate_function",
    },
}


@dataclass(frozen=True)
class FloatTree:
    """Nodes in pre-order (root 0, children after their parent). ``mode`` is one of
    :data:`MODES`; a branch goes to ``yes`` when its comparison holds."""

    feature: tuple[int, ...]
    mode: tuple[str, ...]
    threshold: tuple[float, ...]
    yes: tuple[int, ...]
    no: tuple[int, ...]
    value: tuple[float, ...]


@dataclass(frozen=True)
class FloatTrees:
    """``raw(x) = base + sum of the leaves reached`` (the logistic, if any, is a
    separate ``sigmoid`` layer)."""

    n_in: int
    base: float
    trees: tuple[FloatTree, ...]

    def raw(self, xs: F64) -> F64:
        """Real comparisons in float64 on (n, n_in) inputs -> (n,)."""
        xs = np.asarray(xs, dtype=np.float64)
        out = np.full(len(xs), self.base, dtype=np.float64)
        for r, x in enumerate(xs):
            for tree in self.trees:
                i = 0
                while tree.mode[i] != "LEAF":
                    v, t = x[tree.feature[i]], tree.threshold[i]
                    holds = {
                        "BRANCH_LEQ": v <= t,
                        "BRANCH_LT": v < t,
                        "BRANCH_GTE": v >= t,
                        "BRANCH_GT": v > t,
                    }[tree.mode[i]]
                    i = tree.yes[i] if holds else tree.no[i]
                out[r] += tree.value[i]
        return out


# --- quantization -------------------------------------------------------------------


def quantize_branch(mode: str, t: float) -> tuple[str, int, bool]:
    """``(q_mode, q_threshold, swap)``: the integer test ``q <= T`` / ``q < T`` that holds
    exactly when the real test on ``q / 2^16`` does (``swap``: children exchanged)."""
    if math.isnan(t):
        raise UserInputError("ONNX-ML: a NaN threshold")
    always_true, always_false = ("<=", INT32_MAX), ("<", INT32_MIN)
    if math.isinf(t):
        q_mode, q_t = always_true if t > 0 else always_false
    elif mode in ("BRANCH_LEQ", "BRANCH_GT"):  # GT = not LEQ
        floor = math.floor(Fraction(t) * ONE)
        q_mode, q_t = (
            always_true
            if floor >= INT32_MAX
            else always_false
            if floor < INT32_MIN
            else ("<=", floor)
        )
    else:  # LT, and GTE = not LT
        ceil = math.ceil(Fraction(t) * ONE)
        q_mode, q_t = (
            always_true if ceil > INT32_MAX else always_false if ceil <= INT32_MIN else ("<", ceil)
        )
    return q_mode, q_t, mode in ("BRANCH_GT", "BRANCH_GTE")


def _q(value: float, where: str) -> int:
    q = real_to_q16(value)
    if not is_int32(q):
        raise UserInputError(f"quantize: {where}: {value!r} overflows Q16 int32 (|x| >= 32768)")
    return q


def quantize_trees(ft: FloatTrees) -> TreeEnsemble:
    """The Q16 layer (see the module doc for the rounding)."""
    trees = []
    for t, tree in enumerate(ft.trees):
        nodes: list[Node] = []
        for i, mode in enumerate(tree.mode):
            if mode == "LEAF":
                nodes.append(Leaf(_q(tree.value[i], f"tree {t} leaf {i}")))
                continue
            q_mode, q_t, swap = quantize_branch(mode, tree.threshold[i])
            yes, no = (tree.no[i], tree.yes[i]) if swap else (tree.yes[i], tree.no[i])
            nodes.append(Branch(tree.feature[i], q_mode, q_t, yes, no))
        trees.append(tuple(nodes))
    return TreeEnsemble(ft.n_in, _q(ft.base, "base"), tuple(trees))


# --- ONNX-ML --------------------------------------------------------------------------


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _attrs(node: Any) -> dict[str, Any]:
    import onnx  # deferred, as in onnx_import

    out = {}
    for attr in node.attribute:
        name, value = attr.name, onnx.helper.get_attribute_value(attr)
        if name.endswith("_as_tensor"):  # the double-precision form of the same list
            name = name.removesuffix("_as_tensor")
            value = np.asarray(value, dtype=np.float64).reshape(-1).tolist()
        out[name] = value
    unknown = sorted(set(out) - KNOWN_ATTRS[node.op_type])
    if unknown:
        raise UserInputError(f"ONNX-ML: {node.op_type} attribute {unknown[0]!r} is not supported")
    return out


def _refuse(node: Any, what: str) -> UserInputError:
    return UserInputError(f"ONNX-ML: {node.op_type}: {what} is not supported")


def _leaf_weights(node: Any, a: dict[str, Any]) -> dict[tuple[int, int], float]:
    """Leaf weights by (tree id, node id), for the one output the format supports."""
    if node.op_type == "TreeEnsembleClassifier":
        labels = a.get("classlabels_int64s") or a.get("classlabels_strings") or []
        if len(labels) != 2:
            raise _refuse(node, f"{len(labels)} classes (only binary classifiers)")
        prefix = "class"
    else:
        if a.get("n_targets", 1) != 1:
            raise _refuse(node, f"n_targets={a['n_targets']}")
        prefix = "target"
    ids = list(a.get(f"{prefix}_ids", []))
    if any(i != 0 for i in ids):
        raise _refuse(node, f"{prefix}_ids other than 0")
    weights: dict[tuple[int, int], float] = defaultdict(float)
    cols = [a.get(f"{prefix}_{k}", []) for k in ("treeids", "nodeids", "weights")]
    if not len(cols[0]) == len(cols[1]) == len(cols[2]) == len(ids):
        raise UserInputError(f"ONNX-ML: {node.op_type}: {prefix}_* lists of different lengths")
    for tree_id, node_id, w in zip(*cols, strict=True):
        weights[(int(tree_id), int(node_id))] += float(w)
    return weights


def _build_tree(
    tree_id: int, rows: dict[int, int], a: dict[str, Any], weights: dict[tuple[int, int], float]
) -> FloatTree:
    """One tree in pre-order from its ONNX node rows (node id -> attribute index)."""
    children = {
        nid: (int(a["nodes_truenodeids"][k]), int(a["nodes_falsenodeids"][k]))
        for nid, k in rows.items()
        if _text(a["nodes_modes"][k]) != "LEAF"
    }
    child_ids = [c for pair in children.values() for c in pair]
    roots = [nid for nid in rows if nid not in child_ids]
    if len(roots) != 1 or len(child_ids) != len(set(child_ids)) or not set(child_ids) <= set(rows):
        raise UserInputError(f"ONNX-ML: tree {tree_id} is not a tree")
    order: list[int] = []
    stack = [roots[0]]
    while stack:  # pre-order: a node, its true subtree, its false subtree
        nid = stack.pop()
        order.append(nid)
        if nid in children:
            stack.extend(reversed(children[nid]))
    pos = {nid: i for i, nid in enumerate(order)}
    feature, mode, threshold, yes, no, value = [], [], [], [], [], []
    for nid in order:
        k = rows[nid]
        m = _text(a["nodes_modes"][k])
        if m not in MODES:
            raise UserInputError(f"ONNX-ML: nodes_modes={m} is not supported (tree {tree_id})")
        if m != "LEAF" and (tree_id, nid) in weights:
            raise UserInputError(f"ONNX-ML: tree {tree_id} node {nid}: a weight on a branch")
        feature.append(int(a["nodes_featureids"][k]))
        mode.append(m)
        threshold.append(float(a["nodes_values"][k]))
        yes_id, no_id = children.get(nid, (nid, nid))  # a leaf points at itself
        yes.append(pos[yes_id])
        no.append(pos[no_id])
        value.append(weights.get((tree_id, nid), 0.0))
    return FloatTree(
        tuple(feature), tuple(mode), tuple(threshold), tuple(yes), tuple(no), tuple(value)
    )


def trees_from_node(node: Any, n_in: int) -> tuple[FloatTrees, bool]:
    """The float trees of one tree-ensemble node, and whether a logistic follows."""
    a = _attrs(node)
    post = _text(a.get("post_transform", "NONE"))
    if post not in ("NONE", "LOGISTIC"):
        raise UserInputError(f"ONNX-ML: {node.op_type}: post_transform={post} is not supported")
    aggregate = _text(a.get("aggregate_function", "SUM"))
    if aggregate not in ("SUM", "AVERAGE"):
        raise UserInputError(
            f"ONNX-ML: {node.op_type}: aggregate_function={aggregate} is not supported"
        )
    base_values = list(a.get("base_values", []))
    if len(base_values) > 1:
        raise _refuse(node, f"{len(base_values)} base_values")
    weights = _leaf_weights(node, a)
    n = len(a["nodes_nodeids"])
    for key in ("nodes_treeids", "nodes_featureids", "nodes_modes", "nodes_values"):
        if len(a.get(key, [])) != n:
            raise UserInputError(f"ONNX-ML: {node.op_type}: {key} has the wrong length")
    by_tree: dict[int, dict[int, int]] = defaultdict(dict)
    for k in range(n):
        by_tree[int(a["nodes_treeids"][k])][int(a["nodes_nodeids"][k])] = k
    trees = [_build_tree(t, rows, a, weights) for t, rows in sorted(by_tree.items())]
    if any(f >= n_in or f < 0 for tree in trees for f in tree.feature):
        raise UserInputError(f"ONNX-ML: a feature id is not below the input width {n_in}")
    if aggregate == "AVERAGE":
        n_trees = len(trees)
        trees = [
            FloatTree(
                t.feature, t.mode, t.threshold, t.yes, t.no, tuple(v / n_trees for v in t.value)
            )
            for t in trees
        ]
    base = float(base_values[0]) if base_values else 0.0
    return FloatTrees(n_in, base, tuple(trees)), post == "LOGISTIC"


def _check_pass_node(node: Any, consts: dict[str, Any]) -> None:
    """A node after the tree node must pass the scores through unchanged."""
    if node.op_type not in PASS_OPS:
        raise UserInputError(
            f"ONNX-ML: op {node.op_type!r} after the tree ensemble (node {node.name!r}) "
            f"is not supported; supported: {', '.join(PASS_OPS)}"
        )
    if node.op_type == "Mul":
        others = [consts.get(i) for i in node.input[1:]]
        if len(others) != 1 or others[0] is None or not np.all(np.asarray(others[0]) == 1):
            raise UserInputError(f"ONNX-ML: Mul node {node.name!r} is supported only by ones")


def from_graph(graph: Any) -> FloatModel:
    """The float model of a graph holding one tree-ensemble node on its input."""
    import onnx

    consts: dict[str, Any] = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute:
            consts[n.output[0]] = onnx.numpy_helper.to_array(n.attribute[0].t)
    tree_nodes = [n for n in graph.node if n.op_type in (*TREE_OPS, "TreeEnsemble")]
    if len(tree_nodes) != 1:
        raise UserInputError(f"ONNX-ML: expected one tree-ensemble node, got {len(tree_nodes)}")
    node = tree_nodes[0]
    if node.op_type == "TreeEnsemble":
        raise UserInputError(
            "ONNX-ML: op 'TreeEnsemble' (ai.onnx.ml opset 5) is not supported; "
            "export with TreeEnsembleClassifier/TreeEnsembleRegressor (ai.onnx.ml opset <= 4)"
        )
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or list(node.input) != [inputs[0].name]:
        raise UserInputError("ONNX-ML: the tree ensemble must read the graph's single input")
    dims = [
        d.dim_value if d.HasField("dim_value") else 0 for d in inputs[0].type.tensor_type.shape.dim
    ]
    if len(dims) != 2 or dims[1] < 1:
        raise UserInputError(
            "ONNX-ML: the input must have shape (batch, features) with a known width"
        )
    for other in graph.node:
        if other is not node and other.op_type != "Constant":
            _check_pass_node(other, consts)
    trees, logistic = trees_from_node(node, dims[1])
    layers = [FloatLayer("trees", trees=trees)]
    if logistic:
        layers.append(FloatLayer("sigmoid"))
    return validate(FloatModel(dims[1], tuple(layers)))
