"""Generate spec/sigmoid_q16.json, the sigmoid table of model format v1.

T[i] = round_half_up(65536 / (1 + exp(-(i - 128) / 16))) for i = 0..256, i.e. the
sigmoid sampled every 1/16 on [-8, 8] in Q16. The committed JSON is the definition;
this script only documents how it was made (run it to check: it must not change it).
"""

from __future__ import annotations

import itertools
import json
import math
from decimal import ROUND_HALF_UP, Decimal, getcontext
from pathlib import Path

getcontext().prec = 60
DOC = "sigmoid table of model format v1: T[i] = round_half_up(65536/(1+exp(-(i-128)/16))), i=0..256"


def entry(i: int) -> int:
    """One table entry, computed with 60-digit decimals (no float rounding)."""
    x = Decimal(i - 128) / Decimal(16)
    value = Decimal(65536) / (Decimal(1) + (-x).exp())
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def main() -> None:
    table = [entry(i) for i in range(257)]
    assert table[128] == 32768 and table[0] >= 0 and table[256] <= 65536
    assert all(b >= a for a, b in itertools.pairwise(table))
    assert abs(table[200] - 65536 / (1 + math.exp(-(200 - 128) / 16))) < 1
    out = {
        "_doc": DOC,
        "scale_bits": 16,
        "x_min_q16": -8 * 65536,
        "step_shift": 12,
        "table": table,
    }
    path = Path(__file__).resolve().parent.parent / "spec" / "sigmoid_q16.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
