"""The demo's lending markets and the feature spec of the model it serves.

``make demo`` scores Aave v3 and Morpho Blue borrowers with ``lending-risk-v2-spec``
(docs/models.md), the model v2 variant whose features the spec language expresses
(docs/formats.md §3c): protocol reads at the request block and combinations of them.

:data:`DEMO_CONFIG` is a small simulation (the same code as the markets the model was
trained on, ``simulate.MarketSim``, deterministic from its seed): a handful of
borrowers, a price crash, three sampled blocks (positions opened,
epoch 0, the end). It is built once per machine and cached like the big markets
(``cache.ensure_built``); the demo serves its state and scores at its last sampled
block (:func:`demo_block`), whose state has no zero-valued storage leaves.

:func:`spec_for` is the one definition of the model's feature spec: the training
script (``scripts/train_model_v2_spec.py``) uses its layout (:data:`READS`,
:data:`COMBINES`) to turn training rows into the vectors the spec computes, and the
demo builds the spec for the deployment it serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coprocessor.dev.devnet import AnvilNode, rpc_call, start_anvil
from coprocessor.dev.markets.cache import CHAIN_ID, anvil_args, ensure_built, load_meta
from coprocessor.dev.markets.simulate import BLOCK_SECONDS, SimConfig
from coprocessor.errors import ToolError

#: the model the demo serves (models/<MODEL>.json)
MODEL = "lending-risk-v2-spec"

#: the demo's markets: 4 Aave and 4 Morpho borrowers (2 per market), 3 epochs of 24
#: blocks, the crash in epoch 1 (its liquidations in the same epoch), no liquidation or
#: rate-change samples. With this seed two Aave borrowers end near liquidation (health
#: factors about 1.09 and 1.10) and one was liquidated
DEMO_CONFIG = SimConfig(
    seed=20261207,
    aave_borrowers=4,
    morpho_borrowers=4,
    epochs=3,
    blocks_per_epoch=24,
    actors_per_epoch=3,
    periodic_sample_every=1000,
    max_liquidation_samples=0,
    rate_change_epoch=1000,
)

#: ether of each dev account on the demo's L1 (anvil's default)
DEV_BALANCE = 10_000 * 10**18

#: a health factor above 10 (or no debt: 2^256 - 1) reads as 10.0
HEALTH_MAX = 10 * 65536
INT32_MAX = 2**31 - 1

#: the Morpho markets the spec reads (markets.json names), and the prefix of their features
MORPHO_MARKETS = (("WETH/USDC", "weth"), ("WBTC/USDC", "wbtc"))

#: the read features, in order: (name, protocol, field, decimals, max). Aave: the
#: account's health factor, collateral and debt in thousands of USD, averaged
#: liquidation threshold; each Morpho market: health factor, borrowed and max borrow in
#: thousands of USDC
READS: tuple[tuple[str, str, str, int, int], ...] = (
    ("aave_health", "aave", "health_factor", 18, HEALTH_MAX),
    ("aave_collateral_k", "aave", "total_collateral_base", 11, INT32_MAX),
    ("aave_debt_k", "aave", "total_debt_base", 11, INT32_MAX),
    ("aave_threshold", "aave", "liquidation_threshold", 4, INT32_MAX),
    *(
        row
        for _, prefix in MORPHO_MARKETS
        for row in (
            (f"{prefix}_health", prefix, "health_factor", 18, HEALTH_MAX),
            (f"{prefix}_debt_k", prefix, "borrow_assets", 9, INT32_MAX),
            (f"{prefix}_max_borrow_k", prefix, "max_borrow", 9, INT32_MAX),
        )
    ),
)

#: the combined features, in order: (name, op, a, b, min, max). A borrower's health
#: factor over both protocols is its borrowing capacity (Aave: collateral times the
#: liquidation threshold; Morpho: max borrow) over its debt: for a borrower in one
#: protocol (or one market) it is that position's own health factor
COMBINES: tuple[tuple[str, str, str, str, int, int], ...] = (
    ("aave_capacity_k", "mul", "aave_collateral_k", "aave_threshold", 0, INT32_MAX),
    ("morpho_debt_k", "add", "weth_debt_k", "wbtc_debt_k", 0, INT32_MAX),
    ("morpho_capacity_k", "add", "weth_max_borrow_k", "wbtc_max_borrow_k", 0, INT32_MAX),
    ("debt_k", "add", "aave_debt_k", "morpho_debt_k", 0, INT32_MAX),
    ("capacity_k", "add", "aave_capacity_k", "morpho_capacity_k", 0, INT32_MAX),
    ("health_factor", "ratio", "capacity_k", "debt_k", 0, HEALTH_MAX),
    ("morpho_share", "ratio", "morpho_debt_k", "debt_k", 0, 65536),
)

NAMES: tuple[str, ...] = tuple(r[0] for r in READS) + tuple(c[0] for c in COMBINES)


def _read(meta: dict[str, Any], protocol: str, field: str) -> dict[str, Any]:
    if protocol == "aave":
        return {
            "kind": "protocol",
            "protocol": "aave-v3.0",
            "provider": meta["aave"]["provider"],
            "field": field,
        }
    market = {prefix: name for name, prefix in MORPHO_MARKETS}[protocol]
    morpho = meta["morpho"]
    return {
        "kind": "protocol",
        "protocol": "morpho-blue-1.0.0",
        "morpho": morpho["morpho"],
        "morpho_code_hash": meta["code_hashes"]["morpho"],
        "market_id": morpho["markets"][market]["id"],
        "irm_code_hash": meta["code_hashes"]["irm"],
        "field": field,
    }


def spec_for(meta: dict[str, Any]) -> dict[str, Any]:
    """The model's feature spec (v1) for the markets a ``markets.json`` describes."""
    feats: list[dict[str, Any]] = [
        {
            "name": name,
            "read": _read(meta, protocol, field),
            "decimals": decimals,
            "min": 0,
            "max": hi,
        }
        for name, protocol, field, decimals, hi in READS
    ]
    feats += [
        {"name": name, "combine": {"op": op, "args": [a, b]}, "min": lo, "max": hi}
        for name, op, a, b, lo, hi in COMBINES
    ]
    return {"format": "coproc-features", "version": 1, "name": MODEL, "features": feats}


def ensure_demo_markets(say: Any = None) -> tuple[Path, dict[str, Any]]:
    """The demo's cached markets (built first if missing) and their markets.json."""
    directory = ensure_built(DEMO_CONFIG, say)
    return directory, load_meta(directory)


def start_demo_node(
    directory: Path, workdir: Path, fund: Sequence[str] = (), name: str = "l1"
) -> AnvilNode:
    """An anvil serving the cached markets in ``directory`` (automine: what is sent later
    is mined at once, on top of the markets' head); nothing is written back to the cache.

    anvil recomputes the loaded head's state with its own genesis accounts, so it is
    started with the builder's flags (``cache.anvil_args``: the same two dev accounts):
    the head's state is then the one its header commits to (``eth_getProof`` at
    :func:`demo_block` verifies). One empty block is mined on top before the accounts in
    ``fund`` (the other dev accounts the bridge devnet uses) get their ether
    (``anvil_setBalance`` changes the latest state, which must not be the demo block's)."""
    node = start_anvil(
        name,
        workdir,
        chain_id=CHAIN_ID,
        persist=False,
        extra_args=anvil_args("--silent", "--load-state", str(directory / "state.json")),
        timeout=300.0,
    )
    # the builder's --timestamp is the genesis time: continue 12 s after the head instead
    head = rpc_call(node.rpc, "eth_getBlockByNumber", ["latest", False])
    rpc_call(node.rpc, "evm_setNextBlockTimestamp", [int(head["timestamp"], 16) + BLOCK_SECONDS])
    rpc_call(node.rpc, "anvil_mine", ["0x1"])
    for account in fund:
        rpc_call(node.rpc, "anvil_setBalance", [account, hex(DEV_BALANCE)])
    return node


def demo_block(meta: dict[str, Any]) -> int:
    """The block the demo scores at: the markets' last sampled block (the end)."""
    ends = [int(s["block"]) for s in meta["samples"] if s["reason"] == "end"]
    if len(ends) != 1:
        raise ToolError(f"the demo markets have {len(ends)} end samples, expected 1")
    return ends[0]


__all__ = [
    "COMBINES",
    "DEMO_CONFIG",
    "MODEL",
    "NAMES",
    "READS",
    "demo_block",
    "ensure_demo_markets",
    "spec_for",
    "start_demo_node",
]
