"""Train model v2 (``lending-risk-v2``) on the simulated Aave v3 / Morpho Blue markets.

Reproducible: the cached markets devnet (``coprocessor.dev.markets.cache``) is itself
deterministic, and the training uses one seed.

1. Serve the cached markets with anvil (as ``tests/markets/conftest.py`` does). At every
   sampled block (``markets.json``: the only blocks whose state the node keeps) read every
   borrower's position from *proven* storage (``coprocessor.scoring.protocols``: Aave
   ``getUserAccountData`` and Morpho's position, each round of slots one verified bundle).
2. One row per (borrower with debt, sampled block B): the position now (health factor,
   collateral and debt in USD, collateral concentration, liquidation threshold) and its
   history over the WINDOW sampled blocks up to B (minimum and volatility of the health
   factor, debt growth, collateral/debt price volatility and change). Label: a
   liquidation event of that borrower (Aave ``LiquidationCall``, Morpho ``Liquidate``, from
   the node's logs) in blocks B+1..B+HORIZON.
3. Time split: train on the sampled blocks up to SPLIT_BLOCK, evaluate on the later ones.
   Three scores: the health factor alone (baseline, a monotone map of 1/HF fitted on
   the training rows), a logistic regression (exported as Gemm + Sigmoid, imported and
   quantized to Q16) and gradient-boosted trees (scikit-learn, exported by skl2onnx as
   ``TreeEnsembleClassifier``, imported by ``tree_import`` in fixed point).
4. Writes models/lending-risk-v2{,-logistic}.{onnx,json}, models/lending-risk-v2.data.csv,
   models/lending-risk-v2.manifest.json (artifact hashes), the generated model-v2 section
   of docs/models.md and docs/model-v2-reliability.png.

``--render`` rewrites the docs section and the plot from the artifacts (no devnet, no
training). ``--check`` re-derives the docs section from the committed artifacts (no devnet, no
training: the metrics are recomputed from the committed rows and models) and fails if
docs/models.md or an artifact hash differs.

Usage: python scripts/train_model_v2.py [--seed N] [--check | --render]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import math
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from coprocessor.chain.slots import mapping_slot
from coprocessor.dev.devnet import rpc_call, stop_pid
from coprocessor.dev.markets.cache import ensure_built, load_meta, start_markets
from coprocessor.errors import CoprocessorError, UserInputError
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring.models import batch, metrics
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.floatmodel import FloatModel
from coprocessor.scoring.models.onnx_import import load_onnx
from coprocessor.scoring.models.quantize import inputs_to_q16, quantize
from coprocessor.scoring.protocols import aave_v3, morpho_blue
from coprocessor.scoring.protocols.storage import StorageSource, VerifiedStorage

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

NAME = "lending-risk-v2"
LOGISTIC = f"{NAME}-logistic"
SEED = 20261207
HORIZON = 101  # blocks: one epoch of the simulation (the liquidator acts once per epoch)
WINDOW = 4  # sampled blocks (B and the 3 before it) for the history features
SPLIT_BLOCK = 3300  # train on sampled blocks <= this, evaluate on the later ones
HF_CAP = 10.0
BINS = 10
MAX_FIXED_ERR = 1e-3
GB_PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "max_depth": 3,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "min_samples_leaf": 20,
}
# event topics (keccak of the signatures)
AAVE_LIQUIDATION = "0xe413a321e8681d831f4dbccbca790d2952b56f977908e45be37335533e005286"
MORPHO_LIQUIDATE = "0xa4946ede45d0c6f06a0f5ce92c9ad3b4751452d2fe0e25010783bcab57a67e41"

FEATURES: tuple[tuple[str, str], ...] = (
    (
        "health_factor",
        "health factor at B, capped at 10 (Aave: `getUserAccountData`; Morpho: "
        "max borrow / borrowed)",
    ),
    (
        "log10_collateral_usd",
        "log10 of the collateral value in USD (Morpho: loan-token units, USDC taken at $1)",
    ),
    ("log10_debt_usd", "log10 of the debt value in USD (same units)"),
    ("collateral_concentration", "the largest collateral asset's share of the collateral value"),
    ("liquidation_threshold", "Aave: the account's averaged liquidation threshold; Morpho: LLTV"),
    ("hf_min", "minimum health factor over the window"),
    ("hf_volatility", "standard deviation of ln(health factor) over the window"),
    (
        "debt_growth",
        "ln(debt at B / debt at the window's first block), in the debt asset's "
        "own units (interest and borrower actions), clipped to ±5",
    ),
    (
        "price_volatility",
        "standard deviation of the ln returns of the collateral/debt price over the window",
    ),
    ("price_change", "ln(collateral/debt price at B / at the previous sampled block)"),
    ("is_morpho", "1 for a Morpho Blue position, 0 for Aave v3"),
)
NAMES = [n for n, _ in FEATURES]


def _addr(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


# --- reading the markets ----------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """One borrower's position at one sampled block, from proven storage."""

    hf: float
    collateral_usd: float
    debt_usd: float
    concentration: float
    threshold: float
    debt_units: int
    price: float  # the borrower's first collateral asset in its debt asset


def _aave_position(acct: aave_v3.AaveAccount, b: dict[str, Any], usd: dict[str, int]) -> Position:
    collateral = [p.collateral_base for p in acct.positions if p.collateral_base > 0]
    debt = sum(p.variable_debt + p.stable_debt for p in acct.positions if p.borrowing)
    has_debt = acct.total_debt_base > 0
    return Position(
        hf=min(acct.health_factor / 1e18, HF_CAP) if has_debt else HF_CAP,
        collateral_usd=acct.total_collateral_base / 1e8,
        debt_usd=acct.total_debt_base / 1e8,
        concentration=max(collateral) / sum(collateral) if collateral else 1.0,
        threshold=acct.current_liquidation_threshold / 1e4,
        debt_units=debt,
        price=usd[b["collateral"][0]] / usd[b["debt"]],
    )


def _morpho_position(pos: morpho_blue.MorphoPosition) -> Position:
    hf = pos.health_factor
    return Position(
        hf=HF_CAP if hf is None else min(hf / 1e18, HF_CAP),
        collateral_usd=pos.collateral * pos.oracle_price / 1e36 / 1e6,
        debt_usd=pos.borrow_assets / 1e6,
        concentration=1.0,
        threshold=pos.params.lltv / 1e18,
        debt_units=pos.borrow_assets,
        price=pos.oracle_price / 1e36,
    )


Reader = Callable[[StorageSource], Any]


async def read_prices(storage: StorageSource, meta: dict[str, Any]) -> dict[str, int]:
    """AaveOracle's USD price (8 decimals) of each token: its source (aggregator) from
    the oracle's ``assetsSources``, then the aggregator's answer, both proven."""
    oracle = _addr(meta["aave"]["oracle"])
    tokens = {sym: _addr(a) for sym, a in meta["tokens"].items()}
    keys = {sym: mapping_slot(aave_v3.ORACLE_SOURCES_SLOT, a) for sym, a in tokens.items()}
    await storage.load([(oracle, k) for k in keys.values()])
    sources = {sym: storage.value(oracle, k).to_bytes(32, "big")[12:] for sym, k in keys.items()}
    await storage.load([(src, aave_v3.AGGREGATOR_ANSWER_SLOT) for src in sources.values()])
    out = {sym: storage.value(src, aave_v3.AGGREGATOR_ANSWER_SLOT) for sym, src in sources.items()}
    if any(v <= 0 or v >= 1 << 255 for v in out.values()):
        raise UserInputError(f"a non-positive oracle answer: {out}")
    return out


def _readers(meta: dict[str, Any]) -> list[Reader]:
    """One proven read per borrower (in markets.json's order)."""
    provider = _addr(meta["aave"]["provider"])
    morpho = _addr(meta["morpho"]["morpho"])
    hashes = {k: _addr(v) for k, v in meta["code_hashes"].items()}
    out: list[Reader] = []
    for b in meta["borrowers"]:
        user = _addr(b["address"])
        if b["protocol"] == "aave":

            async def aave(s: StorageSource, u: bytes = user, b: dict[str, Any] = b) -> Position:
                acct, usd = await asyncio.gather(
                    aave_v3.read_account(s, provider, u), read_prices(s, meta)
                )
                return _aave_position(acct, b, usd)

            out.append(aave)
        else:
            market = _addr(meta["morpho"]["markets"][b["market"]]["id"])

            async def mor(s: StorageSource, u: bytes = user, m: bytes = market) -> Position:
                pos = await morpho_blue.read_position(
                    s, morpho, m, u, morpho_code_hash=hashes["morpho"], irm_code_hash=hashes["irm"]
                )
                return _morpho_position(pos)

            out.append(mor)
    return out


def read_positions(url: str, store_path: Path, meta: dict[str, Any]) -> dict[int, list[Position]]:
    """Every borrower's position at every sampled block, each block one VerifiedStorage
    (its rounds are verified bundles)."""
    readers = _readers(meta)
    blocks = sorted(s["block"] for s in meta["samples"])

    async def run() -> dict[int, list[Position]]:
        store = Store(store_path)
        out: dict[int, list[Position]] = {}
        try:
            async with RpcClient(url) as rpc:
                for block in blocks:
                    storage = VerifiedStorage(rpc, store, block)
                    out[block] = list(await asyncio.gather(*(r(storage) for r in readers)))
        finally:
            store.close()
        return out

    return asyncio.run(run())


def liquidation_blocks(url: str, meta: dict[str, Any]) -> dict[str, list[int]]:
    """Blocks of each borrower's liquidation events (Aave LiquidationCall, Morpho Liquidate)."""
    out: dict[str, list[int]] = {}
    for address, topic in (
        (meta["aave"]["pool"], AAVE_LIQUIDATION),
        (meta["morpho"]["morpho"], MORPHO_LIQUIDATE),
    ):
        flt = {
            "fromBlock": "0x0",
            "toBlock": hex(meta["head"]),
            "address": address,
            "topics": [topic],
        }
        for log in rpc_call(url, "eth_getLogs", [flt], timeout=120):
            user = "0x" + log["topics"][3][-40:]
            out.setdefault(user, []).append(int(log["blockNumber"], 16))
    found, recorded = sum(len(v) for v in out.values()), sum(meta["liquidations"].values())
    if found != recorded:  # the logs must tell the simulation's own count
        raise UserInputError(
            f"{found} liquidation events in the logs, markets.json records {recorded}"
        )
    return {u: sorted(v) for u, v in out.items()}


# --- rows -------------------------------------------------------------------------------


@dataclass
class Dataset:
    """Feature rows in Q16 (what the fixed-point models see), labels, blocks, borrowers."""

    q16: I64
    labels: I64
    blocks: I64
    borrowers: I64

    @property
    def x(self) -> F64:
        return self.q16 / 65536.0

    def train_mask(self) -> npt.NDArray[np.bool_]:
        return self.blocks <= SPLIT_BLOCK


def _row(window: Sequence[Position], previous: Position, is_morpho: bool) -> list[float]:
    now = window[-1]
    log_hf = [math.log(max(p.hf, 1e-3)) for p in window]
    log_price = [math.log(p.price) for p in window]
    growth = math.log(max(now.debt_units, 1) / max(window[0].debt_units, 1))
    return [
        now.hf,
        math.log10(max(now.collateral_usd, 1e-2)),
        math.log10(max(now.debt_usd, 1e-2)),
        now.concentration,
        now.threshold,
        min(p.hf for p in window),
        float(np.std(log_hf)),
        max(-5.0, min(5.0, growth)),
        float(np.std(np.diff(log_price))),
        math.log(now.price / previous.price),
        1.0 if is_morpho else 0.0,
    ]


def build_rows(
    meta: dict[str, Any], positions: dict[int, list[Position]], liquidations: dict[str, list[int]]
) -> Dataset:
    """A row per (borrower with debt, sampled block with WINDOW-1 sampled blocks before it
    and B + HORIZON within the chain); label = a liquidation in B+1..B+HORIZON."""
    blocks = sorted(positions)
    rows, labels, row_blocks, who = [], [], [], []
    for k in range(WINDOW - 1, len(blocks)):
        block = blocks[k]
        if block + HORIZON > meta["head"]:
            continue
        for i, b in enumerate(meta["borrowers"]):
            window = [positions[blk][i] for blk in blocks[k - WINDOW + 1 : k + 1]]
            if window[-1].debt_usd <= 0:
                continue
            rows.append(_row(window, window[-2], b["protocol"] == "morpho"))
            events = liquidations.get(b["address"].lower(), [])
            labels.append(int(any(block < e <= block + HORIZON for e in events)))
            row_blocks.append(block)
            who.append(i)
    q16, saturated = inputs_to_q16(np.asarray(rows, dtype=np.float64))
    if saturated:
        raise UserInputError(f"{saturated} feature values outside the Q16 range")
    return Dataset(q16, np.asarray(labels), np.asarray(row_blocks), np.asarray(who))


# --- models -----------------------------------------------------------------------------


def hf_baseline(ds: Dataset) -> tuple[float, float]:
    """The health factor alone: P = sigmoid(a + b ln HF), a and b fitted on the training
    rows (a monotone map: the ranking, hence the AUC, is the health factor's own)."""
    from sklearn.linear_model import LogisticRegression

    train = ds.train_mask()
    z = np.log(np.maximum(ds.x[train, :1], 1e-3))
    clf = LogisticRegression(C=1e6, max_iter=5000).fit(z, ds.labels[train])
    return float(clf.intercept_[0]), float(clf.coef_[0][0])


def hf_baseline_p(ds: Dataset, a: float, b: float) -> F64:
    z = a + b * np.log(np.maximum(ds.x[:, 0], 1e-3))
    return 1.0 / (1.0 + np.exp(-z))


def train_logistic(ds: Dataset) -> onnx.ModelProto:
    """Logistic regression on standardized inputs, the scaling folded into the weights;
    exported as Gemm + Sigmoid (what the project's ONNX importer reads)."""
    from sklearn.linear_model import LogisticRegression

    train = ds.train_mask()
    x, y = ds.x[train], ds.labels[train]
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=5000).fit((x - mean) / std, y)
    w = clf.coef_[0] / std
    b = float(clf.intercept_[0] - np.sum(clf.coef_[0] * mean / std))
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["features", "W", "B"], ["logit"], transB=1, name="dense"),
            helper.make_node("Sigmoid", ["logit"], ["probability"], name="sigmoid"),
        ],
        LOGISTIC,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(w)])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
        [
            numpy_helper.from_array(w.reshape(1, -1).astype(np.float32), "W"),
            numpy_helper.from_array(np.array([b], dtype=np.float32), "B"),
        ],
        doc_string="inputs: " + ", ".join(NAMES),
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.producer_name = "coproc"
    proto.ir_version = 9  # what onnxruntime 1.31 reads (onnx 1.23 writes 14 by default)
    onnx.checker.check_model(proto)
    return proto


def train_trees(ds: Dataset, seed: int) -> onnx.ModelProto:
    """scikit-learn gradient boosting, exported by skl2onnx (``TreeEnsembleClassifier``)."""
    from skl2onnx import to_onnx  # type: ignore[import-untyped]
    from sklearn.ensemble import GradientBoostingClassifier

    train = ds.train_mask()
    clf = GradientBoostingClassifier(random_state=seed, **GB_PARAMS)
    clf.fit(ds.x[train], ds.labels[train])
    proto: onnx.ModelProto = to_onnx(
        clf, ds.x[:1].astype(np.float32), options={"zipmap": False}, target_opset=17
    )
    proto.graph.name = NAME
    proto.producer_version = ""  # the file then depends on the model, not the converter build
    return proto


# --- artifacts --------------------------------------------------------------------------


def _paths(models_dir: Path) -> dict[str, Path]:
    return {
        "trees_onnx": models_dir / f"{NAME}.onnx",
        "trees": models_dir / f"{NAME}.json",
        "logistic_onnx": models_dir / f"{LOGISTIC}.onnx",
        "logistic": models_dir / f"{LOGISTIC}.json",
        "data": models_dir / f"{NAME}.data.csv",
    }


def write_data(path: Path, ds: Dataset) -> None:
    header = ",".join(["block", "borrower", *NAMES, "label"])
    lines = [header] + [
        ",".join(str(v) for v in (blk, who, *row, lab))
        for blk, who, row, lab in zip(
            ds.blocks.tolist(),
            ds.borrowers.tolist(),
            ds.q16.tolist(),
            ds.labels.tolist(),
            strict=True,
        )
    ]
    path.write_text("\n".join(lines) + "\n")


def read_data(path: Path) -> Dataset:
    """The rows of a data CSV written by :func:`write_data`."""
    try:
        lines = path.read_text().strip().splitlines()
    except OSError as exc:
        raise UserInputError(f"{path}: {exc.strerror}") from None
    if not lines or lines[0].split(",") != ["block", "borrower", *NAMES, "label"]:
        raise UserInputError(f"{path}: not a {NAME} data file (header)")
    try:
        table = np.array([[int(v) for v in line.split(",")] for line in lines[1:]], dtype=np.int64)
    except ValueError as exc:
        raise UserInputError(f"{path}: {exc}") from None
    return Dataset(table[:, 2:-1], table[:, -1], table[:, 0], table[:, 1])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- evaluation -------------------------------------------------------------------------


@dataclass
class Scored:
    """One model's probabilities on the test rows (float, and the Q16 model's score)."""

    label: str
    float_p: F64
    fixed_p: F64 | None  # score in bps / 10,000 (what the journal commits)
    fixed_err: float | None  # max |Δp| of the Q16 sigmoid output against float


def _quantized(
    fm: FloatModel, model: fmt.Model, ds: Dataset, test: npt.NDArray[np.bool_]
) -> Scored:
    p_float = fm.forward(ds.x[test])[:, 0]
    pre = batch.pre_bps(model, ds.q16[test]) / 65536.0
    return Scored(
        "",
        p_float,
        batch.scores(model, ds.q16[test]) / 10_000.0,
        float(np.abs(pre - p_float).max()),
    )


def evaluate(models_dir: Path, ds: Dataset) -> tuple[list[Scored], dict[str, Any]]:
    """The three scores on the test rows, from the written artifacts."""
    paths = _paths(models_dir)
    test = ~ds.train_mask()
    trees = fmt.load(paths["trees"])
    base = trees.meta["baseline"]
    baseline = Scored(
        "health factor alone (baseline)", hf_baseline_p(ds, base["a"], base["b"])[test], None, None
    )
    logistic = _quantized(load_onnx(paths["logistic_onnx"]), fmt.load(paths["logistic"]), ds, test)
    logistic.label = "logistic regression"
    gbt = _quantized(load_onnx(paths["trees_onnx"]), trees, ds, test)
    gbt.label = "gradient-boosted trees (model v2)"
    return [baseline, logistic, gbt], trees.meta


def reliability(y: I64, p: F64) -> list[tuple[int, float, float]]:
    """Per equal-width bin of p: rows, mean p, observed rate (empty bins: 0 rows)."""
    idx = np.minimum((p * BINS).astype(np.int64), BINS - 1)
    out = []
    for b in range(BINS):
        m = idx == b
        out.append(
            (
                int(m.sum()),
                float(p[m].mean()) if m.any() else 0.0,
                float(y[m].mean()) if m.any() else 0.0,
            )
        )
    return out


# --- the docs section and the plot ------------------------------------------------------

BEGIN = "<!-- model v2: generated by scripts/train_model_v2.py; do not edit by hand -->"
END = "<!-- end of model v2 -->"
PLOT = "model-v2-reliability.png"


def _metric_row(s: Scored, y: I64) -> str:
    def cell(fn: Callable[[Any, Any], float], digits: int) -> str:
        f = f"{fn(y, s.float_p):.{digits}f}"
        return f if s.fixed_p is None else f"{f} / {fn(y, s.fixed_p):.{digits}f}"

    err = "—" if s.fixed_err is None else f"{s.fixed_err:.1e}"
    return (
        f"| {s.label} | {cell(metrics.auc, 4)} | {cell(metrics.brier, 5)} | "
        f"{cell(metrics.ece, 5)} | {err} |"
    )


def _reliability_rows(scored: list[Scored], y: I64) -> list[str]:
    tables = [reliability(y, s.float_p if s.fixed_p is None else s.fixed_p) for s in scored]
    rows = []
    for b in range(BINS):
        cells = [f"{t[b][0]} / {t[b][1]:.3f} / {t[b][2]:.3f}" if t[b][0] else "0" for t in tables]
        rows.append(f"| {b / BINS:.1f}–{(b + 1) / BINS:.1f} | " + " | ".join(cells) + " |")
    return rows


def render(scored: list[Scored], meta: dict[str, Any], ds: Dataset, models_dir: Path) -> str:
    tr, test = meta["training"], ~ds.train_mask()
    y = ds.labels[test]
    paths = _paths(models_dir)
    artifacts = "\n".join(f"| `models/{p.name}` | `{sha256(p)[:16]}` |" for p in paths.values())
    features = "\n".join(f"| `{n}` | {d} |" for n, d in FEATURES)
    metric_rows = "\n".join(_metric_row(s, y) for s in scored)
    rel_rows = "\n".join(_reliability_rows(scored, y))
    heads = " | ".join(s.label for s in scored)
    trees, logistic = fmt.load(paths["trees"]), fmt.load(paths["logistic"])
    n_trees = len(getattr(trees.layers[0], "trees", ()))
    return f"""{BEGIN}

# Model card: `{NAME}` (model v2)

*Generated by `scripts/train_model_v2.py --seed {tr["seed"]}`; `--check` re-derives this
section from the committed artifacts.*

| | |
| --- | --- |
| model file | `models/{NAME}.json` (format v2: `tree_ensemble` + `sigmoid`, Q16) |
| model hash | `{trees.hash_hex()}` |
| ONNX (float) | `models/{NAME}.onnx` (skl2onnx `TreeEnsembleClassifier`, {n_trees} trees, \
depth ≤ {GB_PARAMS["max_depth"]}) |
| logistic (comparison) | `models/{LOGISTIC}.json` (`{logistic.hash_hex()}`), \
`models/{LOGISTIC}.onnx` (Gemm + Sigmoid) |
| score | P(liquidated within {HORIZON} blocks), in basis points |

## Data

The cached markets devnet (docs/markets.md: Aave v3 and Morpho Blue, {tr["borrowers"]} borrowers,
head block {tr["head"]}, simulation seed {tr["sim_seed"]}), served by anvil as the tests do. The
node keeps the state of {tr["sampled_blocks"]} sampled blocks only (positions opened, every 10
epochs, around liquidation blocks, around the rate change, the end), so a row is a
(borrower with debt, sampled block B): every value is read from proven storage
(`coprocessor/scoring/protocols/`, each round of slots a verified bundle; prices from
AaveOracle's sources and Morpho's oracle). The history features use the {WINDOW} sampled
blocks up to B: the simulation offers no denser history, so the window spans from
{tr["window_blocks"][0]} to {tr["window_blocks"][1]} blocks depending on where B falls (not a
week or a month as on a real chain).
Label: a liquidation event of the borrower (Aave `LiquidationCall`, Morpho `Liquidate`,
from the node's logs) in B+1..B+{HORIZON} (one epoch: the liquidator acts once per epoch).
Rows: {tr["rows"]} ({tr["positives"]} positive); train = sampled blocks up to {SPLIT_BLOCK}
({tr["train_rows"]} rows, {tr["train_positives"]} positive), test = later blocks
({tr["test_rows"]} rows, {int(y.sum())} positive, base rate {y.mean():.4f}). The rows are in
`models/{NAME}.data.csv` (Q16).

## Features (Q16)

| feature | definition |
| --- | --- |
{features}

## Metrics (test rows: later blocks than training)

Each cell: float / fixed point (the Q16 model's score in bps, as the journal commits it).
max \\|Δp\\| is the Q16 sigmoid output against the float model (target < 1e-3). The
baseline maps ln(health factor) through a logistic fitted on the training rows (its
ranking is the health factor's own); it is float only.

| model | ROC AUC | Brier | ECE (10 bins) | max \\|Δp\\| |
| --- | --- | --- | --- | --- |
{metric_rows}

Train AUC (float): logistic {meta["train_auc"]["logistic"]:.4f}, trees \
{meta["train_auc"]["trees"]:.4f}.

Reliability on the test rows, per bin of predicted p: rows / mean predicted / observed
rate (fixed point for the two models), plotted in [`{PLOT}`]({PLOT}):

| bin | {heads} |
| --- | --- | --- | --- |
{rel_rows}

Reading: the simulation's liquidator acts on exactly the positions whose health factor is
below 1 after the epoch's price move, so the health factor alone is close to the best
ranking there is in this market, and the history features add little to it. Every
position below 1 in the training blocks was liquidated within the horizon; after the
crash (test blocks) some stay below 1 unliquidated (their liquidations revert: see
`failed_liquidations` in markets.json), which all three scores overrate (the top bins).

## Artifacts (sha256, first 16 hex digits; `--check` compares them)

| file | sha256 |
| --- | --- |
{artifacts}

{END}
"""


def plot(scored: list[Scored], y: I64, path: Path) -> None:
    """Reliability curves (PNG; needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for s, marker in zip(scored, ("o", "s", "^"), strict=True):
        rel = [r for r in reliability(y, s.float_p if s.fixed_p is None else s.fixed_p) if r[0]]
        ax.plot([r[1] for r in rel], [r[2] for r in rel], marker=marker, label=s.label)
    ax.set_xlabel("mean predicted probability (bin)")
    ax.set_ylabel("observed liquidation rate")
    ax.set_title(f"{NAME}: reliability on the test rows (10 bins)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    path.write_bytes(buf.getvalue())


def splice(doc: str, section: str) -> str:
    """``doc`` with its model-v2 section replaced (or appended)."""
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + section.rstrip("\n") + rest.split(END, 1)[1]
    return doc.rstrip("\n") + "\n\n" + section


# --- the run ----------------------------------------------------------------------------


def collect(work: Path) -> tuple[dict[str, Any], Dataset]:
    """The markets' rows (serves the cached markets for the time of the reads)."""
    directory = ensure_built()
    meta = load_meta(directory)
    node = start_markets(directory, work)
    try:
        liquidations = liquidation_blocks(node.rpc, meta)
        positions = read_positions(node.rpc, work / "store.sqlite", meta)
    finally:
        stop_pid(node.pid)
    return meta, build_rows(meta, positions, liquidations)


def window_span(meta: dict[str, Any], ds: Dataset) -> list[int]:
    """The fewest and most blocks a row's history window covers (B minus the window's
    first sampled block)."""
    blocks = sorted(s["block"] for s in meta["samples"])
    first = {b: blocks[k - WINDOW + 1] for k, b in enumerate(blocks) if k >= WINDOW - 1}
    spans = [int(b) - first[int(b)] for b in np.unique(ds.blocks)]
    return [min(spans), max(spans)]


def train_all(meta: dict[str, Any], ds: Dataset, seed: int, out: Path) -> None:
    """Train the three scores on the training rows and write the artifacts to ``out``."""
    paths = _paths(out)
    train = ds.train_mask()
    a, b = hf_baseline(ds)
    logistic_proto, trees_proto = train_logistic(ds), train_trees(ds, seed)
    onnx.save(logistic_proto, str(paths["logistic_onnx"]))
    onnx.save(trees_proto, str(paths["trees_onnx"]))
    fl, ft = load_onnx(paths["logistic_onnx"]), load_onnx(paths["trees_onnx"])
    training = {
        "seed": seed,
        "sim_seed": meta["config"]["seed"],
        "head": meta["head"],
        "borrowers": len(meta["borrowers"]),
        "sampled_blocks": len(meta["samples"]),
        "horizon_blocks": HORIZON,
        "window_samples": WINDOW,
        "window_blocks": window_span(meta, ds),
        "split_block": SPLIT_BLOCK,
        "rows": len(ds.labels),
        "positives": int(ds.labels.sum()),
        "train_rows": int(train.sum()),
        "train_positives": int(ds.labels[train].sum()),
        "test_rows": int((~train).sum()),
        "gradient_boosting": GB_PARAMS,
    }
    y = ds.labels[train]
    common = {"features": NAMES, "training": training}
    meta_trees: dict[str, Any] = {
        **common,
        "source": paths["trees_onnx"].name,
        "baseline": {"a": a, "b": b, "score": "sigmoid(a + b ln health_factor)"},
        "train_auc": {
            "logistic": round(metrics.auc(y, fl.forward(ds.x[train])[:, 0]), 6),
            "trees": round(metrics.auc(y, ft.forward(ds.x[train])[:, 0]), 6),
        },
    }
    meta_logistic = {**common, "source": paths["logistic_onnx"].name}
    paths["trees"].write_text(fmt.dumps(quantize(ft, name=NAME, meta=meta_trees)))
    paths["logistic"].write_text(fmt.dumps(quantize(fl, name=LOGISTIC, meta=meta_logistic)))
    write_data(paths["data"], ds)


def section_from(models_dir: Path, ds: Dataset) -> tuple[str, list[Scored]]:
    """The docs section from the artifacts in ``models_dir``; refuses a fixed-point model
    further than MAX_FIXED_ERR from its float model on the test rows."""
    scored, meta = evaluate(models_dir, ds)
    for s in scored:
        if s.fixed_err is not None and s.fixed_err >= MAX_FIXED_ERR:
            raise UserInputError(f"{s.label}: fixed vs float max |Δp| = {s.fixed_err:.2e}")
    return render(scored, meta, ds, models_dir), scored


def run(seed: int, models_dir: Path, docs: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="coproc-train-v2-") as tmp:
        work = Path(tmp)
        meta, ds = collect(work)
        out = work / "models"
        out.mkdir()
        train_all(meta, ds, seed, out)
        section_from(out, ds)  # refuses a fixed-point model too far from its float model
        models_dir.mkdir(parents=True, exist_ok=True)
        for p in _paths(out).values():
            (models_dir / p.name).write_bytes(p.read_bytes())
    return render_only(models_dir, docs)


def write_docs(section: str, scored: list[Scored], ds: Dataset, docs: Path) -> None:
    """The section into ``docs`` (replacing the old one) and the plot beside it."""
    text = splice(docs.read_text() if docs.exists() else "", section)
    with tempfile.TemporaryDirectory(prefix="coproc-plot-") as tmp:
        plot_file = Path(tmp) / PLOT
        plot(scored, ds.labels[~ds.train_mask()], plot_file)
        (docs.parent / PLOT).write_bytes(plot_file.read_bytes())
    docs.write_text(text)


def render_only(models_dir: Path, docs: Path) -> str:
    """Docs section and plot from the committed artifacts (no devnet, no training)."""
    ds = read_data(_paths(models_dir)["data"])
    section, scored = section_from(models_dir, ds)
    write_docs(section, scored, ds, docs)
    return section


def check(models_dir: Path, docs: Path) -> None:
    """The committed section equals the one derived from the committed artifacts."""
    section, _ = section_from(models_dir, read_data(_paths(models_dir)["data"]))
    try:
        text = docs.read_text()
    except OSError as exc:
        raise UserInputError(f"{docs}: {exc.strerror}") from None
    if BEGIN not in text or END not in text:
        raise UserInputError(f"{docs}: no model-v2 section (run scripts/train_model_v2.py)")
    committed = BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"
    if committed != section:
        old, new = committed.splitlines(), section.splitlines()
        first = next(
            (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
            min(len(old), len(new)),
        )
        raise UserInputError(
            f"{docs}: the model-v2 section differs from the artifacts at its line {first + 1}"
            " (run scripts/train_model_v2.py)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--docs", type=Path, default=REPO_ROOT / "docs" / "models.md")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="compare the docs section with the artifacts"
    )
    mode.add_argument(
        "--render", action="store_true", help="rewrite the docs section and plot from the artifacts"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            check(args.models_dir, args.docs)
            print(f"{args.docs}: model-v2 section matches the artifacts")
        elif args.render:
            print(render_only(args.models_dir, args.docs))
        else:
            print(run(args.seed, args.models_dir, args.docs))
    except CoprocessorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
