"""The ``tree_ensemble`` layer over a batch with numpy, bit-identical to
:func:`coprocessor.scoring.models.trees.apply`: every row walks every tree at once
(all trees' nodes in one array, children as global indices), one level per step."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from coprocessor.scoring.models.fixedpoint import INT32_MAX, INT32_MIN
from coprocessor.scoring.models.trees import MODE_CODES, Leaf, TreeEnsemble

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Flat:
    kind: I64  # 0 leaf, else the mode code
    feature: I64
    threshold: I64
    yes: I64
    no: I64
    value: I64
    roots: I64


@cache
def _flatten(layer: TreeEnsemble) -> _Flat:
    kind: list[int] = []
    feature: list[int] = []
    threshold: list[int] = []
    yes: list[int] = []
    no: list[int] = []
    value: list[int] = []
    roots: list[int] = []
    for tree in layer.trees:
        offset = len(kind)
        roots.append(offset)
        for i, node in enumerate(tree):
            if isinstance(node, Leaf):
                kind.append(0)
                feature.append(0)
                threshold.append(0)
                yes.append(offset + i)
                no.append(offset + i)
                value.append(node.value)
            else:
                kind.append(MODE_CODES[node.mode])
                feature.append(node.feature)
                threshold.append(node.threshold)
                yes.append(offset + node.yes)
                no.append(offset + node.no)
                value.append(0)

    def arr(values: list[int]) -> I64:
        return np.asarray(values, dtype=np.int64)

    return _Flat(arr(kind), arr(feature), arr(threshold), arr(yes), arr(no), arr(value), arr(roots))


def apply_trees(layer: TreeEnsemble, x: I64) -> I64:
    """``(n, in)`` int32 values -> ``(n, 1)``: ``sat32(base + sum of leaves)`` per row."""
    flat = _flatten(layer)
    idx = np.broadcast_to(flat.roots, (x.shape[0], len(flat.roots))).copy()
    le = MODE_CODES["<="]
    while True:
        kind = flat.kind[idx]
        if not kind.any():
            break
        v = np.take_along_axis(x, flat.feature[idx], axis=1)
        thr = flat.threshold[idx]
        go = np.where(kind == le, v <= thr, v < thr)
        idx = np.where(go, flat.yes[idx], flat.no[idx])  # a leaf points at itself
    acc = flat.value[idx].sum(axis=1, dtype=np.int64) + layer.base
    out: I64 = np.clip(acc, INT32_MIN, INT32_MAX).reshape(-1, 1)
    return out
