"""The table sigmoid of model format v1 (spec/sigmoid_q16.json).

257 entries sample the sigmoid every 1/16 on [-8, 8] in Q16; between entries the
value is interpolated linearly with 12 fraction bits, rounded half up. Outside
[-8, 8) the result is the end entry.
"""

from __future__ import annotations

import itertools
import json
from functools import cache
from typing import Final

from coprocessor.errors import ToolError
from coprocessor.paths import REPO_ROOT

SIGMOID_SPEC = REPO_ROOT / "spec" / "sigmoid_q16.json"
X_MIN: Final = -524_288  # -8.0 in Q16
X_MAX: Final = 524_288  # +8.0 in Q16
STEP_SHIFT: Final = 12  # one table step = 2**12 in Q16 = 1/16
STEP_MASK: Final = (1 << STEP_SHIFT) - 1
TABLE_LEN: Final = 257


@cache
def table() -> tuple[int, ...]:
    """The 257 table entries, read once from the spec file and sanity-checked."""
    try:
        spec = json.loads(SIGMOID_SPEC.read_text())
    except (OSError, ValueError) as exc:
        raise ToolError(f"cannot read the sigmoid table {SIGMOID_SPEC}: {exc}") from None
    entries = spec.get("table")
    if (
        spec.get("scale_bits") != 16
        or spec.get("x_min_q16") != X_MIN
        or spec.get("step_shift") != STEP_SHIFT
        or not isinstance(entries, list)
        or len(entries) != TABLE_LEN
        or not all(type(v) is int and 0 <= v <= 65536 for v in entries)
        or any(b < a for a, b in itertools.pairwise(entries))
    ):
        raise ToolError(f"{SIGMOID_SPEC} is not a valid v1 sigmoid table")
    return tuple(entries)


def sigmoid_q16(x: int) -> int:
    """Table sigmoid of a Q16 value (the specification; see docs/formats.md §2)."""
    t = table()
    if x <= X_MIN:
        return t[0]
    if x >= X_MAX:
        return t[TABLE_LEN - 1]
    u = x - X_MIN
    i = u >> STEP_SHIFT
    f = u & STEP_MASK
    return t[i] + (((t[i + 1] - t[i]) * f + (1 << (STEP_SHIFT - 1))) >> STEP_SHIFT)
