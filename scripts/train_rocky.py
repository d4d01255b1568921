"""Train the Rocky direction model (docs/rocky.md) on simulated price paths.

Reproducible: the same seed gives the same paths, data set, model and model hash.

1. Paths: ``PATHS`` seeded paths of the Rocky process (``coprocessor.dev.rocky.tick_path``:
   a drift persisting about a day plus noise, a move every 50 blocks) over
   ``DAYS`` days each; path ``i`` uses seed ``seed * 1_000_003 + i``.
2. Rows: every hour once a day of history exists, the feature vector of
   ``models/rocky-direction-v1.features.json`` computed by ``coprocessor.scoring.features``
   (the production code path) from slot0 words holding the path's ticks at the sampled
   blocks; label = the tick an hour later is above the tick now.
3. Logistic regression (scikit-learn, inputs as they are: of like scale) on
   the slope, change, stdev and now-minus-mean features of the first 75 % of the paths
   (the tick level and its mean get weight 0: the level says nothing about the
   direction); tested on the other paths; quantized to Q16 and compared float vs fixed.
4. Writes models/rocky-direction-v1.json and models/rocky-direction-v1.features.json.

Usage: python scripts/train_rocky.py [--seed N] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from coprocessor.dev import rocky
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import features
from coprocessor.scoring.models import batch, metrics
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.floatmodel import FloatLayer, FloatModel
from coprocessor.scoring.models.quantize import quantize

PATHS = 240
DAYS = 3
TRAIN_FRACTION = 0.75
#: moves per sample (an hour) and the samples' span in moves (a day less an hour)
STEP = rocky.EVERY // rocky.MOVE_EVERY
SPAN = (rocky.SAMPLES - 1) * STEP
#: the features the regression uses (the others get weight 0)
USED = ("tick_slope", "tick_change", "tick_stdev", "tick_vs_mean")
START_TICK = -195_000
POOL = "0x" + "00" * 19 + "01"


def _verified(ticks: list[int], block: int) -> dict[str, Any]:
    """Verified values of the pool's slot 0 at the sampled blocks ending at ``block``
    (``ticks`` oldest first)."""
    slot = "0x" + "00" * 32
    accounts = [
        {
            "block": number,
            "address": POOL,
            "account": {
                "nonce": "0x1",
                "balance": "0x0",
                "storage_root": "0x" + "11" * 32,
                "code_hash": "0x" + "22" * 32,
            },
            "storage": {slot: hex(rocky.slot0_word(tick, 2**96))},
        }
        for number, tick in zip(rocky.sample_blocks(block), ticks, strict=True)
    ]
    return {"chain_id": rocky.CHAIN_ID, "anchor": {"number": block}, "accounts": accounts}


def dataset(seed: int, spec: features.Spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Q16 vectors, labels, path index) of every row."""
    moves = DAYS * 24 * STEP
    vectors, labels, paths = [], [], []
    for i in range(PATHS):
        path = rocky.tick_path(np.random.default_rng(seed * 1_000_003 + i), moves, START_TICK)
        for t in range(SPAN, moves - STEP, STEP):
            ticks = [path[t - (rocky.SAMPLES - 1 - k) * STEP] for k in range(rocky.SAMPLES)]
            vector = features.compute(spec, _verified(ticks, rocky.HEAD), POOL, rocky.HEAD)
            vectors.append(vector.values)
            labels.append(int(path[t + STEP] > path[t]))
            paths.append(i)
    return np.array(vectors, dtype=np.int64), np.array(labels), np.array(paths)


def train(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression (the inputs are of like scale: Q16 / 2^16, hundreds of ticks)."""
    clf = LogisticRegression(C=1.0, max_iter=5000).fit(x, y)
    return clf.coef_[0], float(clf.intercept_[0])


def run(seed: int, out_dir: Path) -> dict[str, Any]:
    started = time.monotonic()
    spec_json = rocky.direction_spec()
    spec = features.normalize(spec_json)
    q16, y, paths = dataset(seed, spec)
    names = list(spec.names)
    used = [names.index(n) for n in USED]
    x = q16 / 65536.0
    train_mask = paths < int(PATHS * TRAIN_FRACTION)
    w_used, b = train(x[train_mask][:, used], y[train_mask])
    w = np.zeros(len(names))
    w[used] = w_used
    fm = FloatModel(
        input_dim=len(names),
        layers=(
            FloatLayer("dense", weights=w.reshape(1, -1), bias=np.array([b])),
            FloatLayer("sigmoid"),
        ),
    )
    float_p = fm.forward(x)[:, 0]
    meta: dict[str, Any] = {
        "features": names,
        "feature_spec": f"{rocky.MODEL}.features.json",
        "feature_spec_hash": "0x" + features.spec_hash(spec).hex(),
        "output": "probability (bps) that the pool's tick is higher an hour later",
        "training": {
            "script": "scripts/train_rocky.py",
            "seed": seed,
            "paths": PATHS,
            "days": DAYS,
            "rows": len(y),
            "train_rows": int(train_mask.sum()),
            "test_rows": int((~train_mask).sum()),
            "process": {
                "move_every_blocks": rocky.MOVE_EVERY,
                "drift_persistence": rocky.DRIFT_PERSISTENCE,
                "drift_sd_ticks": rocky.DRIFT_SD,
                "noise_sd_ticks": rocky.NOISE_SD,
            },
        },
    }
    model = quantize(fm, name=rocky.MODEL, meta=meta)
    fixed = batch.scores(model, q16) / 10_000
    test = ~train_mask
    evaluation = {
        "auc_test_float": metrics.auc(y[test], float_p[test]),
        "auc_test_fixed": metrics.auc(y[test], fixed[test]),
        "brier_test_fixed": metrics.brier(y[test], fixed[test]),
        "accuracy_test_fixed": float(np.mean((fixed[test] >= 0.5) == (y[test] == 1))),
        "base_rate_test": float(y[test].mean()),
        "max_abs_err_prob": float(np.max(np.abs(fixed - float_p))),
    }
    model.meta["evaluation"] = {k: round(v, 6) for k, v in evaluation.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{rocky.MODEL}.json").write_text(fmt.dumps(model))
    (out_dir / f"{rocky.MODEL}.features.json").write_text(json.dumps(spec_json, indent=1) + "\n")
    return {
        "model_hash": model.hash_hex(),
        "feature_spec_hash": meta["feature_spec_hash"],
        "training": meta["training"],
        "evaluation": evaluation,
        "weights": dict(zip(names, [float(v) for v in w], strict=True)),
        "bias": b,
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "models")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.seed, args.out_dir), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
