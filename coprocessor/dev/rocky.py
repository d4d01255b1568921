"""The Rocky scenario (docs/rocky.md): a Uniswap v3 WETH/USDC pool on a local L1 whose
price follows a seeded path over a day of 12-second blocks, built once per machine and
cached outside the clone (``<cache>/rocky/<VERSION>/``).

The pool is the markets' Uniswap v3 deployment (``markets.uniswap``: the real
``@uniswap/v3-core`` 1.0.1 factory and pool, full-range liquidity through the
UniswapV3Helper). Every :data:`MOVE_EVERY` blocks (one block before each multiple)
the helper swaps the pool to the path's next tick. The direction model reads the
pool's ``slot0`` tick every :data:`EVERY` blocks (an hour) over :data:`SAMPLES`
samples ending at :data:`HEAD`; those blocks are *checkpoints* whose states the
built node keeps, so ``eth_getProof`` works there (the building node is
``markets.cache.Builder``: each checkpoint block is mined empty right after a restart
from a dump without zero-valued slots, as the markets cache does, and its state
becomes one of anvil's ``historical_states``).

The price path (:func:`tick_path`) is the process the model is trained on
(``scripts/train_rocky.py``): a latent drift that persists for about a day (AR(1))
plus noise, in ticks per :data:`MOVE_EVERY` blocks. The scenario's path has its own
seed (:data:`SCENARIO_SEED`), not one of the training seeds.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from coprocessor.dev.build_cache import BuiltChain, ensure_built, load_built
from coprocessor.dev.devnet import AnvilNode, start_anvil
from coprocessor.dev.history import cache_root
from coprocessor.dev.markets import aave, artifacts, uniswap
from coprocessor.dev.markets import cache as markets_cache
from coprocessor.dev.markets.node import Node, Tx, calldata
from coprocessor.dev.markets.simulate import derived
from coprocessor.errors import ToolError

#: the cache key: change it whenever the chain the builder makes changes
VERSION = "coproc-rocky-v2"
#: samples of the series (hourly over a day)
SAMPLES = 24
#: blocks between samples (an hour at 12 s)
EVERY = 300
#: the scenario's head: the request block of the demo's score (newest sample)
HEAD = 7_500
#: blocks mined after the newest sample (see ``_build``)
TIP_AFTER_HEAD = 1
#: a price move every this many blocks (10 minutes)
MOVE_EVERY = 50
#: the path's process, in ticks per move (1 tick = 0.01 % of the price)
DRIFT_PERSISTENCE = 0.995
DRIFT_SD = 4.0
NOISE_SD = 30.0
#: the seed of the scenario's own path (training uses others)
SCENARIO_SEED = 20_260_101
#: USD per token at the start; decimals of the two tokens
START_PRICE = {"WETH": 3_000.0, "USDC": 1.0}
DECIMALS = {"WETH": 18, "USDC": 6}
#: full-range liquidity of about this many dollars a side
LIQUIDITY_USD = 20_000_000
#: the pool's slot0 tick: bytes [20, 23) of slot 0, an int24
TICK_OFFSET, TICK_BYTES = 20, 3
#: the anvil the scenario is served by (the L1 of the Rocky demo)
CHAIN_ID = markets_cache.CHAIN_ID
MAX_UINT = 2**256 - 1


#: the direction model and its feature spec (models/<MODEL>.json, .features.json)
MODEL = "rocky-direction-v1"
#: the spec's features: the tick now, its mean, slope, change and stdev over the day,
#: and now minus the mean (ticks / 100 in Q16: 1.0 is 100 ticks, about 1 % of the price)
SERIES_OPS = ("mean", "slope", "change", "stdev")


def direction_spec() -> dict[str, Any]:
    """The feature spec v2 of the direction model: the pool's slot0 tick (an int24 in
    bytes [20, 23)) read at the request block and as a series of :data:`SAMPLES`
    samples :data:`EVERY` blocks apart. The pool is the subject."""
    read = {
        "kind": "storage",
        "address": "$subject",
        "slot": {"base": 0},
        "bits": {"offset": TICK_OFFSET, "size": TICK_BYTES},
    }
    tick = {"read": read, "decimals": 2, "signed": True}
    feats: list[dict[str, Any]] = [{"name": "tick_now", **tick}]
    feats += [
        {"name": f"tick_{op}", **tick, "series": {"samples": SAMPLES, "every": EVERY, "op": op}}
        for op in SERIES_OPS
    ]
    feats.append(
        {"name": "tick_vs_mean", "combine": {"op": "sub", "args": ["tick_now", "tick_mean"]}}
    )
    return {"format": "coproc-features", "version": 2, "name": MODEL, "features": feats}


def slot0_word(tick: int, sqrt_price: int = 0) -> int:
    """A slot0 word holding ``tick`` (and ``sqrt_price`` below it)."""
    return ((tick & ((1 << 24) - 1)) << (8 * TICK_OFFSET)) | sqrt_price


def rocky_dir(root: Path | None = None) -> Path:
    """Where the scenario of this :data:`VERSION` lives."""
    return (root or cache_root()) / "rocky" / VERSION


def sample_blocks(head: int = HEAD) -> tuple[int, ...]:
    """The blocks the series reads (oldest first), as feature spec v2 samples them."""
    return tuple(head - (SAMPLES - 1 - i) * EVERY for i in range(SAMPLES))


def tick_path(rng: np.random.Generator, moves: int, start: int) -> list[int]:
    """``moves`` ticks after ``start``: drift (AR(1), about a day of persistence) plus
    noise, rounded to whole ticks."""
    ticks: list[int] = []
    drift = rng.normal(0.0, DRIFT_SD)
    level = float(start)
    innovation = DRIFT_SD * math.sqrt(1 - DRIFT_PERSISTENCE**2)
    for _ in range(moves):
        level += drift + rng.normal(0.0, NOISE_SD)
        drift = DRIFT_PERSISTENCE * drift + rng.normal(0.0, innovation)
        ticks.append(round(level))
    return ticks


def sqrt_price_at_tick(tick: int) -> int:
    """sqrtPriceX96 of ``1.0001 ** tick`` (float precision: well under a tick)."""
    return int(math.sqrt(1.0001**tick) * 2**96)


def tick_of_word(word: int) -> int:
    """The int24 tick of a slot0 word (two's complement of bytes [20, 23))."""
    raw = (word >> (8 * TICK_OFFSET)) & ((1 << (8 * TICK_BYTES)) - 1)
    return raw - (1 << 24) if raw >= 1 << 23 else raw


class Scenario(BuiltChain):
    """A built scenario: the anvil state file and what the builder recorded (its head
    is the newest sample)."""

    @property
    def pool(self) -> str:
        """The Uniswap v3 pool (lowercase hex)."""
        return str(self.manifest["uniswap"]["pool"])

    def tick_at(self, block: int) -> int:
        """The pool's tick at a checkpoint, as the builder read it there."""
        return int(self.manifest["ticks"][str(block)])


def _move(node: Node, admin: str, pool: uniswap.UniswapPool, tick: int) -> None:
    """Swap the pool to ``tick`` (the helper pays; the price limit stops the swap)."""
    target = sqrt_price_at_tick(tick)
    current = int(node.view(pool.pool, "slot0()", ["uint160"])[0])
    if target == current:
        node.call("evm_mine")
        return
    data = calldata("swap(bool,int256,uint160)", target < current, 10**40, target)
    node.send([Tx(admin, pool.helper, data, f"move to tick {tick}")])


def _deploy(node: Node, admin: str) -> tuple[uniswap.UniswapPool, dict[str, str], int]:
    """Tokens, the pool at the start price, funded helper, full-range liquidity."""
    tokens = {s: aave.deploy_token(node, admin, s, DECIMALS[s]) for s in ("WETH", "USDC")}
    raw = START_PRICE["WETH"] / START_PRICE["USDC"] * 10.0 ** (DECIMALS["USDC"] - DECIMALS["WETH"])
    solc_dir = markets_cache.cache_root() / f"solc0819-{artifacts.build_key()}"
    helper = artifacts.compile_morpho(solc_dir)["UniswapV3Helper"]["bytecode"]
    pool = uniswap.deploy_uniswap(node, admin, helper, tokens["WETH"], tokens["USDC"], raw)
    weth = int(LIQUIDITY_USD / START_PRICE["WETH"] * 10 ** DECIMALS["WETH"])
    usdc = int(LIQUIDITY_USD / START_PRICE["USDC"] * 10 ** DECIMALS["USDC"])
    node.send(
        [
            Tx(
                admin,
                tokens[s],
                calldata("mint(address,uint256)", pool.helper, 10**40),
                f"fund {s}",
            )
            for s in tokens
        ]
    )
    liquidity = int(math.sqrt(weth * usdc))
    node.send(
        [
            Tx(
                admin,
                pool.helper,
                calldata(
                    "mint(int24,int24,uint128)", uniswap.MIN_TICK, uniswap.MAX_TICK, liquidity
                ),
                "uniswap mint",
            )
        ]
    )
    word = int(node.call("eth_getStorageAt", pool.pool, "0x0", "latest"), 16)
    return pool, tokens, tick_of_word(word)


def _build(workdir: Path, head: int) -> dict[str, Any]:
    """Run the scenario in ``workdir``; returns the manifest (the state is
    ``workdir/state.json``)."""
    started = time.monotonic()
    builder = markets_cache.Builder(workdir)
    builder.start()
    snapshots: dict[str, dict[str, Any]] = {}
    ticks: dict[str, int] = {}
    checkpoints = sample_blocks(head)
    try:
        node = builder.node
        admin = derived("rocky/admin")
        node.call("anvil_setBalance", admin, hex(10**24))
        pool, tokens, start_tick = _deploy(node, admin)
        first = node.block_number() + 1
        # a move one block before each multiple of MOVE_EVERY: a checkpoint block is
        # then an empty block mined right after a clean restart
        moves = [b - 1 for b in range(MOVE_EVERY, head + 1, MOVE_EVERY) if b - 1 >= first]
        path = tick_path(np.random.default_rng(SCENARIO_SEED), len(moves), start_tick)
        if checkpoints[0] - 1 < first:
            raise ToolError(f"rocky: the first sample {checkpoints[0]} is before the pool")
        for block, tick in zip(moves, path, strict=True):
            _mine_to(node, block - 1)
            _move(node, admin, pool, tick)
            if node.block_number() != block:
                raise ToolError(f"rocky: the move planned for block {block} went elsewhere")
            if block + 1 in checkpoints:
                snapshots.update(_checkpoint(builder, block + 1))
                word = int(node.call("eth_getStorageAt", pool.pool, "0x0", hex(block + 1)), 16)
                ticks[str(block + 1)] = tick_of_word(word)
        # one block more: the node serving the cache recomputes its head state (with
        # its own genesis accounts), so the newest sample must be a historical state
        _mine_to(node, head + TIP_AFTER_HEAD)
        final = markets_cache.dump_state(node)
        if node.block_number() != head + TIP_AFTER_HEAD:
            raise ToolError(f"rocky: the node ended at {node.block_number()}, not {head + 1}")
    finally:
        builder.stop()
    final["historical_states"] = [[h, s] for h, s in snapshots.items()]
    (workdir / "state.json").write_text(json.dumps(final))
    return {
        "version": VERSION,
        "chain_id": CHAIN_ID,
        "head": head,
        "samples": SAMPLES,
        "every": EVERY,
        "move_every": MOVE_EVERY,
        "checkpoints": list(checkpoints),
        "ticks": ticks,
        "path_seed": SCENARIO_SEED,
        "start_tick": start_tick,
        "moves": len(path),
        "uniswap": pool.to_json(),
        "tokens": tokens,
        "admin": admin,
        "restarts": builder.restarts,
        "build_seconds": round(time.monotonic() - started, 1),
        "state_bytes": (workdir / "state.json").stat().st_size,
    }


def _checkpoint(builder: markets_cache.Builder, block: int) -> dict[str, dict[str, Any]]:
    """Mine ``block`` empty after a clean restart; its state as a historical state."""
    builder.restart_clean()  # no zero-valued slots: the state root as Ethereum has it
    node = builder.node
    node.call("evm_mine")
    if node.block_number() != block:
        raise ToolError(f"rocky: the checkpoint {block} was mined as {node.block_number()}")
    header = node.call("eth_getBlockByNumber", hex(block), False)
    state = markets_cache.dump_state(node)
    accounts = state["accounts"]
    return {str(header["hash"]): markets_cache.historical_state(accounts, {block: header["hash"]})}


def _mine_to(node: Node, target: int) -> None:
    head = node.block_number()
    if target > head:
        node.call("anvil_mine", hex(target - head))


def load_rocky(root: Path | None = None) -> Scenario | None:
    """The cached scenario, or None if it was not built (or is incomplete)."""
    found = load_built(rocky_dir(root), VERSION)
    return None if found is None else Scenario(*found)


def ensure_rocky(root: Path | None = None, head: int = HEAD) -> Scenario:
    """The cached scenario, built first if missing (minutes, once per machine)."""
    leftovers = ("clean.json", "markets.log", "markets.state.json")
    return Scenario(*ensure_built(rocky_dir(root), VERSION, lambda w: _build(w, head), leftovers))


def start_rocky_node(scenario: Scenario, workdir: Path, name: str = "l1") -> AnvilNode:
    """An anvil serving the scenario (automine: what is sent later is mined at once);
    nothing is written back to the cache."""
    return start_anvil(
        name,
        workdir,
        chain_id=CHAIN_ID,
        persist=False,
        extra_args=("--silent", "--auto-impersonate", "--load-state", str(scenario.state)),
        timeout=300.0,
    )


__all__ = [
    "EVERY",
    "HEAD",
    "MODEL",
    "SAMPLES",
    "Scenario",
    "direction_spec",
    "ensure_rocky",
    "load_rocky",
    "rocky_dir",
    "sample_blocks",
    "slot0_word",
    "sqrt_price_at_tick",
    "start_rocky_node",
    "tick_of_word",
    "tick_path",
]
