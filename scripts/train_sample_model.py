"""Train the sample risk model on a simulated lending market on a local anvil devnet.

Reproducible: the same seed gives the same chain, data set, model and model hash.

1. Start anvil (127.0.0.1, free port, prague), deploy contracts/src/demo (two
   DemoTokens, DemoPriceOracle, DemoLendingPool) from the deployer (anvil account 0,
   nonces 0..3: the addresses are therefore fixed).
2. Simulate STEPS blocks: the oracle price follows a seeded random walk with jumps,
   borrowers deposit/borrow/repay towards their own target loan-to-value, a liquidator
   liquidates every position above 80% LTV.
3. Data set: at every SAMPLE_EVERY-th block B, for every borrower with debt, the
   feature vector of models/<name>.features.json computed by coprocessor.scoring.features
   from eth_getProof answers at B and B-8 (the same code path as for verified
   bundles); label = the borrower's on-chain liquidation counter grew within
   HORIZON blocks after B.
4. Logistic regression (scikit-learn, standardized inputs folded into the weights),
   trained on the first 70% of the blocks, tested on the rest; exported to ONNX
   (Gemm + Sigmoid, written with onnx.helper), imported back with the project's
   ONNX importer, quantized to Q16, and compared float vs fixed.
5. Writes models/<name>.onnx, models/<name>.json, models/<name>.features.json,
   models/<name>.data.csv and docs/models.md.

Usage: python scripts/train_sample_model.py [--seed N] [--out-dir DIR] [--docs FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression

from coprocessor.dev.devnet import start_anvil, stop_pid
from coprocessor.dev.market_sim import (
    BORROWERS,
    LOOKBACK,
    NAME,
    STEPS,
    Market,
    Rpc,
    deploy,
    position_slot,
    setup_balances,
    simulate,
    spec_for,
)
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import features
from coprocessor.scoring.models import batch, metrics
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.onnx_import import load_onnx
from coprocessor.scoring.models.quantize import calibration_report, quantize

SEED = 20261121
WARMUP = 24
SAMPLE_EVERY = 3
HORIZON = 20
TRAIN_FRACTION = 0.7
KEEP_FROM = "<!-- model v2:"


def verified_values(rpc: Rpc, reads: list[features.Read]) -> dict[str, Any]:
    """The verify-bundle dict shape from eth_getProof answers (not verified here: the
    simulation trusts its own node; the production path verifies the bundle)."""
    grouped: dict[tuple[int, str], list[int]] = {}
    for r in reads:
        grouped.setdefault((r.block, r.address), [])
        if r.slot is not None and r.slot not in grouped[(r.block, r.address)]:
            grouped[(r.block, r.address)].append(r.slot)
    keys = list(grouped)
    answers = rpc.batch(
        [
            (
                "eth_getProof",
                [
                    addr,
                    ["0x" + s.to_bytes(32, "big").hex() for s in grouped[(blk, addr)]],
                    hex(blk),
                ],
            )
            for blk, addr in keys
        ]
    )
    accounts = []
    for (blk, addr), proof in zip(keys, answers, strict=True):
        accounts.append(
            {
                "block": blk,
                "address": addr,
                "account": {
                    "nonce": proof["nonce"],
                    "balance": proof["balance"],
                    "storage_root": proof["storageHash"],
                    "code_hash": proof["codeHash"],
                },
                "storage": {
                    "0x" + int(sp["key"], 16).to_bytes(32, "big").hex(): hex(int(sp["value"], 16))
                    for sp in proof["storageProof"]
                },
            }
        )
    return {"accounts": accounts}


def build_dataset(market: Market, spec: features.Spec, first_block: int) -> dict[str, Any]:
    rows, labels, blocks = [], [], []
    second_slots = [hex(position_slot(b) + 1) for b in market.borrowers]
    last = first_block + STEPS - HORIZON
    for block in range(first_block + WARMUP, last + 1, SAMPLE_EVERY):
        reads = [r for b in market.borrowers for r in features.required_reads(spec, b, block)]
        values = verified_values(market.rpc, reads)
        now = market.rpc.batch(
            [("eth_getStorageAt", [market.pool, s, hex(block)]) for s in second_slots]
        )
        later = market.rpc.batch(
            [("eth_getStorageAt", [market.pool, s, hex(block + HORIZON)]) for s in second_slots]
        )
        for b, w0, w1 in zip(market.borrowers, now, later, strict=True):
            vec = features.compute(spec, values, b, block)
            if vec.values[1] <= 0:  # no debt: nothing to liquidate
                continue
            count0 = (int(w0, 16) >> 64) & 0xFFFFFFFF
            count1 = (int(w1, 16) >> 64) & 0xFFFFFFFF
            rows.append(vec.values)
            labels.append(int(count1 > count0))
            blocks.append(block)
    return {
        "q16": np.asarray(rows, dtype=np.int64),
        "labels": np.asarray(labels, dtype=np.int64),
        "blocks": np.asarray(blocks, dtype=np.int64),
    }


# --- training and export ---------------------------------------------------------------


def train(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression on standardized inputs; returns weights and bias on raw inputs."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=5000)
    clf.fit((x - mean) / std, y)
    w = clf.coef_[0] / std
    b = float(clf.intercept_[0] - np.sum(clf.coef_[0] * mean / std))
    return w, b


def to_onnx(w: np.ndarray, b: float, names: list[str]) -> onnx.ModelProto:
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["features", "W", "B"], ["logit"], transB=1, name="dense"),
            helper.make_node("Sigmoid", ["logit"], ["probability"], name="sigmoid"),
        ],
        NAME,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(w)])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
        [
            numpy_helper.from_array(w.reshape(1, -1).astype(np.float32), "W"),
            numpy_helper.from_array(np.array([b], dtype=np.float32), "B"),
        ],
        doc_string="inputs: " + ", ".join(names),
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="coproc"
    )
    onnx.checker.check_model(model)
    return model


def run(seed: int, out_dir: Path, docs: Path | None) -> dict[str, Any]:
    started = time.monotonic()
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="coproc-train-") as tmp:
        node = start_anvil(
            "train", Path(tmp), persist=False, extra_args=("--accounts", str(BORROWERS + 2))
        )
        try:
            rpc = Rpc(node.rpc)
            market = deploy(rpc)
            rpc.call("evm_setAutomine", False)
            setup_balances(market)
            first_block = int(rpc.call("eth_blockNumber"), 16)
            sim = simulate(market, rng)
            spec = spec_for(market)
            data = build_dataset(market, spec, first_block)
        finally:
            stop_pid(node.pid)
    names = list(spec.names)
    x = data["q16"] / 65536.0
    y = data["labels"]
    split_block = int(np.quantile(data["blocks"], TRAIN_FRACTION))
    train_mask = data["blocks"] <= split_block
    w, b = train(x[train_mask], y[train_mask])

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{NAME}.onnx"
    onnx.save(to_onnx(w, b, names), str(onnx_path))
    fm = load_onnx(onnx_path)  # through the project's importer, like any user model
    test_x, test_y = x[~train_mask], y[~train_mask]
    meta: dict[str, Any] = {
        "source": onnx_path.name,
        "float_model": fm.to_json(),
        "features": names,
        "feature_spec": f"{NAME}.features.json",
        "feature_spec_hash": "0x" + features.spec_hash(spec).hex(),
        "training": {
            "seed": seed,
            "borrowers": BORROWERS,
            "blocks": STEPS,
            "horizon_blocks": HORIZON,
            "sample_every": SAMPLE_EVERY,
            "rows": len(y),
            "train_rows": int(train_mask.sum()),
            "test_rows": int((~train_mask).sum()),
            "positives": int(y.sum()),
            "split_block": split_block - first_block,
        },
    }
    model = quantize(fm, name=NAME, meta=meta)
    report = calibration_report(fm, model, test_x, test_y.astype(np.float64))
    train_p = fm.forward(x[train_mask])[:, 0]
    fixed_all = batch.scores(model, data["q16"])
    # the fixed model scored straight from the Q16 feature vectors, as in production
    fixed_test = fixed_all[~train_mask] / 10_000
    evaluation = {
        "auc_train_float": metrics.auc(y[train_mask], train_p),
        "auc_test_float": report["labels"]["auc_float"],
        "auc_test_fixed": metrics.auc(test_y, fixed_test),
        "brier_test_float": report["labels"]["brier_float"],
        "brier_test_fixed": metrics.brier(test_y, fixed_test),
        "ece_test_float": report["labels"]["ece_float"],
        "ece_test_fixed": metrics.ece(test_y, fixed_test),
        "max_abs_err_prob": report["output_max_abs_err"],
        "mean_abs_err_prob": report["output_mean_abs_err"],
        "max_abs_err_bps": report["score_max_abs_err_bps"],
        "base_rate_test": float(test_y.mean()),
    }
    model.meta["evaluation"] = {k: round(v, 6) for k, v in evaluation.items()}
    (out_dir / f"{NAME}.json").write_text(fmt.dumps(model))
    (out_dir / f"{NAME}.features.json").write_text(json.dumps(spec.to_json(), indent=1) + "\n")
    header = ",".join(["block", *names, "label"])
    lines = [header] + [
        ",".join(str(v) for v in (int(blk) - first_block, *row, int(lab)))
        for blk, row, lab in zip(data["blocks"], data["q16"].tolist(), y, strict=True)
    ]
    (out_dir / f"{NAME}.data.csv").write_text("\n".join(lines) + "\n")
    result = {
        "model_hash": model.hash_hex(),
        "feature_spec_hash": meta["feature_spec_hash"],
        "pool": market.pool,
        "oracle": market.oracle,
        "simulation": sim,
        "training": meta["training"],
        "evaluation": evaluation,
        "weights": dict(zip(names, [float(v) for v in w], strict=True)),
        "bias": b,
        "seconds": round(time.monotonic() - started, 1),
    }
    if docs is not None:
        # what follows the v1 card (model v2's section, scripts/train_model_v2.py) is kept
        kept = docs.read_text().partition(KEEP_FROM) if docs.exists() else ("", "", "")
        docs.write_text(
            model_card(result, names, spec) + ("\n" + kept[1] + kept[2] if kept[1] else "")
        )
    return result


def model_card(r: dict[str, Any], names: list[str], spec: features.Spec) -> str:
    ev, tr = r["evaluation"], r["training"]
    feats = "\n".join(
        f"| `{f['name']}` | "
        + (
            f"{f['read']['kind']} of `{f['read']['address']}`"
            + (f" slot `{json.dumps(f['read']['slot'])}`" if "slot" in f["read"] else "")
            + (f" bytes `{json.dumps(f['read']['bits'])}`" if "bits" in f["read"] else "")
            + (f", block B-{f['read']['block_offset']}" if f["read"]["block_offset"] else "")
            + f", decimals {f['decimals']}"
            if "read" in f
            else f"{f['combine']['op']}({', '.join(f['combine']['args'])})"
        )
        + f" | {r['weights'][f['name']]:+.5f} |"
        for f in spec.to_json()["features"]
    )
    return f"""# Model card: `{NAME}`

*Generated by `scripts/train_sample_model.py --seed {tr["seed"]}`; do not edit by hand.*

| | |
| --- | --- |
| model file | `models/{NAME}.json` (format v1, Q16) |
| model hash | `{r["model_hash"]}` |
| feature spec | `models/{NAME}.features.json` |
| feature-spec hash | `{r["feature_spec_hash"]}` |
| ONNX (float) | `models/{NAME}.onnx` (Gemm + Sigmoid) |
| score | P(liquidated within {tr["horizon_blocks"]} blocks), in basis points |

## What it is

A logistic regression over the features of a position in the demo lending pool
(`contracts/src/demo/DemoLendingPool.sol`, liquidation above 80% loan-to-value),
read from proven storage. It is a *sample* model: trained on a simulated market, it
shows the whole path (chain data → features → fixed-point model → score), not a
calibrated view of any real protocol.

## Data

A local anvil devnet (deterministic: same seed, same chain). The deployer (anvil
account 0) deploys two `DemoToken`s, `DemoPriceOracle` (`{r["oracle"]}`) and
`DemoLendingPool` (`{r["pool"]}`) at nonces 0..3. For {tr["blocks"]} blocks the
oracle price follows a seeded random walk (σ = 2% per block, 4% chance of a jump of
mean -8%, mild mean reversion); {tr["borrowers"]} borrowers deposit, borrow and repay
towards their own target LTV (55–74.5%) with their own activity rate; a liquidator
liquidates every position above 80% LTV at the previous block's price.

Every {tr["sample_every"]} blocks, every borrower with debt gives one row: its feature
vector at block B (computed by `coprocessor.scoring.features` from `eth_getProof` answers, the
same code as for verified bundles) and the label *its on-chain liquidation counter
grew within B+1..B+{tr["horizon_blocks"]}*. Rows: {tr["rows"]} ({tr["positives"]} positive);
train = blocks up to {tr["split_block"]} ({tr["train_rows"]} rows), test = later blocks
({tr["test_rows"]} rows, base rate {ev["base_rate_test"]:.3f}). The rows are in
`models/{NAME}.data.csv` (Q16 values).

## Features (Q16) and float weights

| feature | definition | weight |
| --- | --- | --- |
{feats}

Bias {r["bias"]:+.5f}. Inputs are standardized for training and the scaling is folded
into the weights, so the model takes the raw Q16 features.

## Metrics (test set, later blocks than training)

| metric | float (ONNX) | fixed-point (Q16) |
| --- | --- | --- |
| ROC AUC | {ev["auc_test_float"]:.4f} | {ev["auc_test_fixed"]:.4f} |
| Brier score | {ev["brier_test_float"]:.5f} | {ev["brier_test_fixed"]:.5f} |
| expected calibration error (10 bins) | {ev["ece_test_float"]:.5f} | {ev["ece_test_fixed"]:.5f} |

Train AUC (float): {ev["auc_train_float"]:.4f}.
Float vs fixed on the test rows: max |Δp| = {ev["max_abs_err_prob"]:.2e}
(target < 1e-3), mean |Δp| = {ev["mean_abs_err_prob"]:.2e}, max |Δscore| =
{ev["max_abs_err_bps"]:.2f} bps. The fixed-point error comes from Q16 weights and
inputs and from the table sigmoid (docs/formats.md §2); the score is rounded to
whole basis points.

## Using it

```sh
coproc model inspect models/{NAME}.json      # layers, shapes, scale, hash
coproc model eval models/{NAME}.json --input '[20, 30, 2, 2, 0, 40, 0.75, 0, 1, 0]' --float
coproc model eval models/{NAME}.json --csv rows.csv           # one result per row
coproc features --spec models/{NAME}.features.json --bundle bundle.json \\
    --subject 0x… --model models/{NAME}.json                  # verified bundle -> score
```

`--input` takes real numbers (rounded half up to Q16); `--q16` takes the Q16
integers that `coproc features` prints. `eval` prints `score` (bps) and
`output_q16` (the sigmoid output before `to_bps`); `--float` adds the float
reference (the ONNX weights with the exact logistic).

## Importing other models

`coproc model import FILE.onnx|FILE.json [--calibration CSV] -o model.json`.
ONNX: a single chain of Gemm, MatMul (+ Add as its bias), Relu, Sigmoid, Clip,
Flatten (axis 1), Identity, with parameters in initializers or Constant nodes, one
output; any other op is an error naming it. JSON weights:
`{{"format": "coproc-float-model", "input_dim": N, "layers": [{{"op": "dense",
"weights": [[…]], "bias": […]}}, {{"op": "relu"}}, {{"op": "sigmoid"}},
{{"op": "clip", "min": a, "max": b}}]}}` (weights as `out` rows of `in`). Weights,
biases and clip bounds round half up to Q16; a value outside int32 or a dense row
whose `Σ|w|` exceeds 2^31-1 is an error, and `to_bps` is appended. The calibration
CSV holds real input rows (optional header; a `label` column is used for AUC,
Brier and calibration error); the import prints, per layer, the float range, the
number of saturated fixed-point values and the float-vs-fixed error, and records the
summary in `meta.calibration`.

ONNX-ML tree ensembles (`TreeEnsembleClassifier`/`TreeEnsembleRegressor`, as skl2onnx
exports scikit-learn's gradient boosting and onnxmltools exports LightGBM or XGBoost)
import into a `tree_ensemble` layer (model format v2, docs/formats.md §2), followed
by `sigmoid` when `post_transform` is `LOGISTIC`: a binary classifier with its
weights on class 0 (P(class 1) = post_transform(base + Σ leaves)) or a single-target
regressor (aggregate `SUM` or `AVERAGE`), modes `BRANCH_LEQ/LT/GTE/GT`; after the
tree node only Identity, Cast, ZipMap and Mul by ones. Any other attribute or value
(`SOFTMAX`, `BRANCH_EQ`, several classes or targets, the opset-5 `TreeEnsemble` op)
is an error naming it. Thresholds are quantized so that each branch decides exactly
as the real comparison on the Q16 input; leaves and the base round half up. A
scikit-learn `GradientBoostingClassifier` (100 trees, depth 3, 5 features) on 2000
rows: max |Δp| = 6.9e-05 (mean 2.3e-05) against the float model, AUC 0.98660 in both
(`tests/scoring/test_trees_import.py` holds |Δp| < 1e-3 for scikit-learn and LightGBM).

## Limits

- Simulated borrowers follow simple rules; real borrowers do not.
- Only the state at B and B-{LOOKBACK} is used; no order flow, no other markets.
- The pool and oracle addresses are part of the feature spec (and its hash): the
  spec applies to the market deployed exactly as above.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--docs", type=Path, default=REPO_ROOT / "docs" / "models.md")
    parser.add_argument("--no-docs", action="store_true", help="do not write the model card")
    args = parser.parse_args(argv)
    result = run(args.seed, args.out_dir, None if args.no_docs else args.docs)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
