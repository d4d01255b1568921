"""Fixed-point model inference: numpy batch path vs the scalar reference (the
baseline, same run), and float vs fixed accuracy of the sample model.

1. Throughput on the sample model's data set (models/lending-risk-v1.data.csv) and on
   a wider random MLP (10-32-16-1): rows/s of ``batch.scores`` vs ``reference.score``
   in a Python loop. Both give identical scores (checked here too).
2. Accuracy: the ONNX float model (exact sigmoid) vs the Q16 model on the same rows:
   max/mean |Δp| on the sigmoid output (target < 0.001), max |Δscore| in bps, AUC
   float vs fixed.
"""

from __future__ import annotations

import itertools
import random
from functools import partial
from pathlib import Path

import numpy as np

from bench.common import best_of, table
from coprocessor.scoring.models import batch, metrics, reference
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.model import Dense, Model, Relu, Sigmoid, ToBps
from coprocessor.scoring.models.onnx_import import load_onnx

ROOT = Path(__file__).resolve().parent.parent
NAME = "lending-risk-v1"


def _scalar(model: Model, rows: list[list[int]]) -> list[int]:
    return [reference.score(model, x) for x in rows]


def _data() -> tuple[np.ndarray, np.ndarray]:
    lines = (ROOT / "models" / f"{NAME}.data.csv").read_text().strip().splitlines()[1:]
    rows = np.array([[int(v) for v in line.split(",")] for line in lines], dtype=np.int64)
    return rows[:, 1:-1], rows[:, -1]


def _random_mlp(dims: list[int], seed: int = 1) -> Model:
    rng = random.Random(seed)
    layers: list[Dense | Relu | Sigmoid | ToBps] = []
    for n_in, n_out in itertools.pairwise(dims):
        rows = tuple(tuple(rng.randint(-30000, 30000) for _ in range(n_in)) for _ in range(n_out))
        layers.append(Dense(rows, tuple(rng.randint(-20000, 20000) for _ in range(n_out))))
        layers.append(Relu() if n_out > 1 else Sigmoid())
    layers.append(ToBps())
    return Model(input_dim=dims[0], layers=tuple(layers))


def throughput() -> None:
    q16, _ = _data()
    sample = fmt.load(ROOT / "models" / f"{NAME}.json")
    mlp = _random_mlp([10, 32, 16, 1])
    rows = []
    for label, model in (("sample (logistic, 10 inputs)", sample), ("MLP 10-32-16-1", mlp)):
        xs = q16[:, : model.input_dim]
        scalar_rows = xs[:2000].tolist()
        t_scalar = best_of(3, partial(_scalar, model, scalar_rows))
        t_batch = best_of(5, partial(batch.scores, model, xs))
        same = batch.scores(model, xs[:2000]).tolist() == [
            reference.score(model, x) for x in scalar_rows
        ]
        scalar_rate = len(scalar_rows) / t_scalar
        batch_rate = len(xs) / t_batch
        rows.append(
            [
                label,
                len(xs),
                f"{scalar_rate:,.0f}",
                f"{batch_rate:,.0f}",
                f"{batch_rate / scalar_rate:.0f}x",
                "yes" if same else "NO",
            ]
        )
    print(
        table(
            "Batch inference (rows/s, one core)",
            ["model", "rows", "scalar reference", "numpy batch", "ratio", "identical"],
            rows,
        )
    )


def accuracy() -> None:
    q16, labels = _data()
    model = fmt.load(ROOT / "models" / f"{NAME}.json")
    fm = load_onnx(ROOT / "models" / f"{NAME}.onnx")
    p_float = fm.forward(q16 / 65536.0)[:, 0]
    p_fixed = batch.pre_bps(model, q16) / 65536.0
    scores = batch.scores(model, q16)
    err = np.abs(p_fixed - p_float)
    bps_err = np.abs(scores - p_float * 10_000)
    auc_f, auc_q = metrics.auc(labels, p_float), metrics.auc(labels, scores)
    rows = [
        ["max abs error, sigmoid output", f"{err.max():.2e}", "< 1e-3"],
        ["mean abs error, sigmoid output", f"{err.mean():.2e}", ""],
        ["max abs error, score (bps)", f"{bps_err.max():.2f}", ""],
        ["AUC float / fixed", f"{auc_f:.4f} / {auc_q:.4f}", ""],
        ["AUC delta (fixed - float)", f"{auc_q - auc_f:+.5f}", ""],
        [
            "Brier float / fixed",
            f"{metrics.brier(labels, p_float):.5f} / {metrics.brier(labels, scores / 1e4):.5f}",
            "",
        ],
    ]
    print(table(f"Float vs fixed, {NAME}, all {len(labels)} rows", ["", "value", "target"], rows))


def main() -> None:
    throughput()
    accuracy()


if __name__ == "__main__":
    main()
