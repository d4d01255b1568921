"""Fixed-point model inference: numpy batch path vs the scalar reference (the
baseline, same run), and float vs fixed accuracy of the sample model.

1. Throughput on the sample model's data set (models/lending-risk-v1.data.csv) and on
   a wider random MLP (10-32-16-1): rows/s of ``batch.scores`` vs ``reference.score``
   in a Python loop. Both give identical scores (checked here too).
2. Accuracy: the ONNX float model (exact sigmoid) vs the Q16 model on the same rows:
   max/mean |Δp| on the sigmoid output (target < 0.001), max |Δscore| in bps, AUC
   float vs fixed.
3. ``--guest``: zkVM guest cycles per score (RISC Zero executor, the real guest) of a
   logistic regression and of gradient-boosted trees (10/50/100 trees, depth 3/6;
   scikit-learn, exported by skl2onnx, imported in Q16) over 8 features, and of the
   committed model v2 pair (11 features), with their float vs fixed error. Per model:
   one batch request of N=1 and one of N=17 subjects (each subject's token balance at
   8 or 11 scales as the features); the
   marginal user cycles per extra subject minus a one-leaf model's = the evaluation
   of one score; the N=1 request minus the one-leaf model's and minus one evaluation =
   decoding and hashing the model. Each batch journal is checked equal to the Python
   pipeline's (bit-equal scores in the guest).
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.batch_bench import bundle_for, fund, holder, run_child
from bench.common import best_of, table
from bench.guest_cycles import TOKEN
from coprocessor.dev.devnet import start_anvil, stop_pid
from coprocessor.scoring import batch as batch_scoring
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models import batch, floatmodel, metrics, reference
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.floatmodel import FloatModel
from coprocessor.scoring.models.model import Dense, Model, Relu, Sigmoid, ToBps
from coprocessor.scoring.models.onnx_import import from_proto, load_onnx
from coprocessor.scoring.models.quantize import inputs_to_q16, quantize
from coprocessor.zk import batch_journal

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


# --- 3. guest cycles per score -----------------------------------------------------------

GUEST_FEATURES = 8
GUEST_N = 17
TREE_SHAPES = ((10, 3), (50, 3), (100, 3), (10, 6), (50, 6), (100, 6))
V2 = "lending-risk-v2"

Labelled = tuple[str, Model, float | None]  # label, Q16 model, float vs fixed max |Δp|


def _guest_spec(width: int) -> dict[str, Any]:
    """``width`` features of the subject: its token balance at decimals 18, 19, ... (all
    below 1,000, so no input saturates)."""
    feats = [
        {
            "name": f"bal_e{18 + i}",
            "read": {
                "kind": "storage",
                "address": TOKEN,
                "slot": {"base": 0, "path": [{"mapping": "$subject"}]},
            },
            "decimals": 18 + i,
        }
        for i in range(width)
    ]
    return {"format": "coproc-features", "version": 1, "name": f"bal-{width}", "features": feats}


def _synthetic(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows as the Q16 model sees them (train 3000, held out 2000) and labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(5000, GUEST_FEATURES)) * np.linspace(0.5, 20.0, GUEST_FEATURES)
    logit = x[:, 0] + 0.3 * x[:, 1] * x[:, 2] - 0.1 * x[:, 3] + np.sin(x[:, 4]) - 0.05 * x[:, 7]
    y = (logit + rng.normal(size=len(x)) > 0).astype(np.int64)
    xq, _ = inputs_to_q16(x)
    x = xq / 65536.0
    return x[:3000], y[:3000], x[3000:], y[3000:]


def _max_err(fm: FloatModel, model: Model, xq: np.ndarray) -> float:
    p_float = fm.forward(xq / 65536.0)[:, 0]
    return float(np.abs(batch.pre_bps(model, xq) / 65536.0 - p_float).max())


def _one_leaf(width: int) -> Labelled:
    """The smallest model of a width: one tree of one leaf (the baseline of a group)."""
    model = fmt.from_json(
        {
            "format": "coproc-model",
            "version": 2,
            "name": "one-leaf",
            "scale_bits": 16,
            "input_dim": width,
            "layers": [
                {"op": "tree_ensemble", "in": width, "base": 0, "trees": [[[0]]]},
                {"op": "sigmoid"},
                {"op": "to_bps"},
            ],
        }
    )
    return (f"one leaf ({width} inputs, baseline)", model, None)


def _synthetic_models() -> list[Labelled]:
    """A logistic regression and the tree shapes, trained on the same synthetic rows."""
    from skl2onnx import to_onnx  # type: ignore[import-untyped]
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    x, y, x_test, _ = _synthetic(7)
    xq_test = np.rint(x_test * 65536).astype(np.int64)
    lr = LogisticRegression(max_iter=5000).fit(x, y)
    fl = floatmodel.from_json(
        {
            "format": "coproc-float-model",
            "input_dim": GUEST_FEATURES,
            "layers": [
                {"op": "dense", "weights": lr.coef_.tolist(), "bias": lr.intercept_.tolist()},
                {"op": "sigmoid"},
            ],
        }
    )
    logistic = quantize(fl, "logistic")
    out = [
        _one_leaf(GUEST_FEATURES),
        (
            f"logistic regression ({GUEST_FEATURES} inputs)",
            logistic,
            _max_err(fl, logistic, xq_test),
        ),
    ]
    for n_trees, depth in TREE_SHAPES:
        clf = GradientBoostingClassifier(n_estimators=n_trees, max_depth=depth, random_state=0)
        clf.fit(x, y)
        ft = from_proto(to_onnx(clf, x[:1].astype(np.float32), options={"zipmap": False}))
        model = quantize(ft, f"gbt-{n_trees}x{depth}")
        out.append((f"trees: {n_trees} x depth {depth}", model, _max_err(ft, model, xq_test)))
    return out


def _v2_models() -> list[Labelled]:
    """The committed model v2 pair; the error on its committed test rows (blocks > 3300)."""
    lines = (ROOT / "models" / f"{V2}.data.csv").read_text().strip().splitlines()[1:]
    table_ = np.array([[int(v) for v in line.split(",")] for line in lines], dtype=np.int64)
    xq = table_[table_[:, 0] > 3300][:, 2:-1]
    out = [_one_leaf(xq.shape[1])]
    for name, label in ((f"{V2}-logistic", "logistic"), (V2, "trees")):
        model = fmt.load(ROOT / "models" / f"{name}.json")
        fm = load_onnx(ROOT / "models" / f"{name}.onnx")
        out.append(
            (f"`{name}` ({label}, {model.input_dim} inputs)", model, _max_err(fm, model, xq))
        )
    return out


def _nodes(model: Model) -> int:
    layer = model.layers[0]
    return sum(len(t) for t in getattr(layer, "trees", ()))


def _execute(work: Path, bundle: Path, width: int, model: Model, label: str, n: int) -> int:
    """User cycles of one batch request of the first ``n`` holders; the journal must equal
    the Python pipeline's."""
    spec = _guest_spec(width)
    (work / "spec.json").write_text(json.dumps(spec))
    (work / "model.json").write_text(fmt.dumps(model))
    subjects = [holder(i) for i in range(n)]
    out, _ = run_child(
        [
            "execute",
            "--bundle",
            str(bundle),
            "--model",
            str(work / "model.json"),
            "--spec",
            str(work / "spec.json"),
            "--subjects",
            ",".join(subjects),
        ]
    )
    scored = batch_scoring.run(
        pipeline.verify_file(bundle), features.normalize(spec), model, subjects
    )
    want = batch_journal.encode_fields(scored.journal_fields())
    if out["journal_hex"] != "0x" + want.hex():
        raise SystemExit(f"{label}, N={n}: the guest's journal differs from Python's")
    return int(out["cycles"]["user"])


def _group_rows(work: Path, bundles: dict[int, Path], group: list[Labelled]) -> list[list[object]]:
    """Table rows of one group (the first model is its one-leaf baseline)."""
    measured = []
    for label, model, err in group:
        one, many = (
            _execute(work, bundles[n], model.input_dim, model, label, n) for n in (1, GUEST_N)
        )
        measured.append((label, model, err, one, many))
    _, _, _, base_1, base_n = measured[0]
    base_eval = (base_n - base_1) / (GUEST_N - 1)
    rows: list[list[object]] = [[measured[0][0], "", "", "", "", f"{base_1:,}", ""]]
    for label, model, err, one, many in measured[1:]:
        per_score = (many - one) / (GUEST_N - 1) - base_eval
        rows.append(
            [
                label,
                f"{_nodes(model):,}" if _nodes(model) else "",
                f"{len(model.canonical_bytes()):,}",
                f"{per_score:,.0f}",
                f"{one - base_1 - per_score:,.0f}",
                f"{one:,}",
                f"{err:.1e}" if err is not None else "",
            ]
        )
    return rows


def guest_cycles() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-models-guest-") as tmp:
        work = Path(tmp)
        node = start_anvil("bench-models", work, persist=False)
        try:
            block = fund(node.rpc, GUEST_N)
            bundles = {}
            for n in (1, GUEST_N):
                bundles[n] = work / f"bundle-{n}.json"
                bundles[n].write_text(json.dumps(bundle_for(node.rpc, node.chain_id, block, n)))
        finally:
            stop_pid(node.pid)
        rows = _group_rows(work, bundles, _synthetic_models())
        rows += _group_rows(work, bundles, _v2_models())
    print(
        table(
            "zkVM guest cycles per score (user cycles, executor)",
            [
                "model",
                "tree nodes",
                "canonical bytes",
                "evaluation per score",
                "decode + hash per request",
                "N=1 request (total user)",
                "float vs fixed max |Δp|",
            ],
            rows,
        )
    )
    print(
        f"evaluation per score = (user cycles at N={GUEST_N} - at N=1) / {GUEST_N - 1} minus the "
        "same for the one-leaf model of the width; decode + hash = the N=1 request minus the "
        "one-leaf model's minus one evaluation. Δp: synthetic models on 2,000 held-out rows, "
        "model v2 on its committed test rows."
    )


def main() -> None:
    throughput()
    accuracy()
    if "--guest" in sys.argv:
        guest_cycles()


if __name__ == "__main__":
    main()
