"""The simulated markets, built once per machine and cached outside the clone.

``<cache>/markets-<key>/`` holds ``state.json`` (an anvil state: the chain's blocks,
its latest state and the states of the sampled blocks as anvil's own
``historical_states``), ``markets.json`` (addresses, borrowers, sampled blocks, what
the run did, how long it took). ``<key>`` hashes the package versions, the
simulation's parameters and ``SIM_VERSION``, so a change rebuilds. The Morpho build
is cached beside it in ``solc0819-<key>/`` (shared by all simulation parameters).

Why sampled states only: anvil's ``--preserve-historical-states`` dump of every block's
full state is gigabytes for 10,000 blocks (measured: > 3.6 GB for 10,000 blocks of a
1 MB state). The builder instead asks ``anvil_dumpState`` at each sampled block, turns
its accounts into anvil's historical-state form, and writes those into the final dump;
an anvil loading it answers ``eth_getProof``/``eth_call`` at exactly those blocks (and
refuses others with ``BlockOutOfRangeError``).

Build: ``python -m coprocessor.dev.markets.cache build`` (prints the directory).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from coprocessor.chain.keccak import keccak256
from coprocessor.dev.build_cache import locked
from coprocessor.dev.devnet import AnvilNode, start_anvil, stop_pid
from coprocessor.dev.markets import artifacts
from coprocessor.dev.markets.node import BLOCK_GAS_LIMIT, Node
from coprocessor.dev.markets.simulate import BLOCK_SECONDS, MarketSim, SimConfig
from coprocessor.errors import ToolError

#: bump when the simulation or the deployment changes what it builds
SIM_VERSION = 3
#: genesis timestamp of the market chain (a fixed date: deterministic blocks)
GENESIS_TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z
CHAIN_ID = 31337


def cache_root() -> Path:
    """``$COPROC_CACHE_DIR`` or ``~/.cache/coproc``."""
    env = os.environ.get("COPROC_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "coproc"


def cache_key(config: SimConfig) -> str:
    """Package versions + parameters + SIM_VERSION, hashed."""
    blob = json.dumps(
        {"versions": artifacts.VERSIONS, "config": asdict(config), "sim": SIM_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def market_dir(config: SimConfig) -> Path:
    """Where this configuration's markets are cached."""
    return cache_root() / f"markets-{cache_key(config)}"


def anvil_args(*extra: str) -> tuple[str, ...]:
    """The market node's flags: impersonation, big blocks, fixed genesis, no automine."""
    return (
        "--auto-impersonate",
        "--gas-limit",
        str(BLOCK_GAS_LIMIT),
        "--timestamp",
        str(GENESIS_TIMESTAMP),
        "--accounts",
        "2",
        *extra,
    )


# ------------------------------------------------------------ historical states
def _analyze(code: bytes) -> tuple[bytes, list[int]]:
    """revm's legacy analysis: JUMPDEST bitmap (LSB first) and the padded code
    (ends in STOP, push data never runs past the end)."""
    jumps = bytearray((len(code) + 7) // 8)
    i, last = 0, 0
    while i < len(code):
        op = last = code[i]
        if op == 0x5B:
            jumps[i // 8] |= 1 << (i % 8)
        i += 1
        if 0x60 <= op <= 0x7F:
            i += op - 0x5F
    pad = (i - len(code)) + (1 if last != 0x00 else 0)
    return code + b"\0" * pad, list(jumps)


def historical_state(accounts: dict[str, Any], block_hashes: dict[int, str]) -> dict[str, Any]:
    """An ``anvil_dumpState`` ``accounts`` map in anvil's ``historical_states`` form
    (checked against anvil 1.7.1's own output: equal accounts and storage)."""
    out_accounts, out_storage = {}, {}
    for address, account in accounts.items():
        code = bytes.fromhex(str(account["code"])[2:])
        padded, jumps = _analyze(code) if code else (b"\0", [])
        out_accounts[address] = {
            "balance": account["balance"],
            "nonce": account["nonce"],
            "code_hash": "0x" + keccak256(code).hex(),
            "code": {
                "LegacyAnalyzed": {
                    "bytecode": "0x" + padded.hex(),
                    "original_len": len(code),
                    "jump_table": {
                        "order": "bitvec::order::Lsb0",
                        "head": {"width": 8, "index": 0},
                        "bits": len(code),
                        "data": jumps,
                    },
                }
            },
        }
        out_storage[address] = {
            hex(int(k, 16)): hex(int(v, 16)) for k, v in account["storage"].items()
        }
    return {
        "accounts": out_accounts,
        "storage": out_storage,
        "block_hashes": {hex(n): h for n, h in block_hashes.items()},
    }


def dump_state(node: Node) -> dict[str, Any]:
    """The node's state (``anvil_dumpState``: gzip, hex)."""
    raw = str(node.call("anvil_dumpState"))
    return dict(json.loads(gzip.decompress(bytes.fromhex(raw.removeprefix("0x")))))


# ----------------------------------------------------------------------- build
def ensure_built(config: SimConfig | None = None, say: Any = None) -> Path:
    """The cached markets for ``config``, built now if missing (one builder at a time)."""
    config = config or SimConfig()
    target = market_dir(config)
    if (target / "markets.json").exists():
        return target
    with locked(cache_root() / f".markets-{cache_key(config)}.lock"):
        if (target / "markets.json").exists():
            return target
        build(config, target, say or (lambda _m: None))
    return target


class Builder:
    """The building node: anvil with automine off, restarted from its own dump with
    zero-valued storage dropped before every sampled block.

    Why: anvil 1.7.1 keeps every storage slot a transaction touched, zero or not, in
    its state trie, so its state roots commit to zero leaves that Ethereum never
    stores and the verifier rejects (rule ``storage_leaf``). Restarting from a dump
    without them and mining the sampled block empty gives that block a state (and
    root) as Ethereum would have it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.anvil: AnvilNode | None = None
        self.node = Node("http://127.0.0.1:0")
        self.restarts = 0
        self.restart_seconds = 0.0

    def start(self, state: Path | None = None) -> None:
        """Start (or restart from ``state``) the node; blocks 12 s apart."""
        extra = ("--no-mining",) + (("--load-state", str(state)) if state else ())
        self.anvil = start_anvil(
            "markets",
            self.workdir,
            chain_id=CHAIN_ID,
            persist=False,
            timeout=300,
            extra_args=anvil_args(*extra),
        )
        self.node.url = self.anvil.rpc
        # a node loaded from a dump would take the wall clock: continue 12 s apart
        last = self.node.call("eth_getBlockByNumber", "latest", False)
        self.node.call("evm_setNextBlockTimestamp", int(last["timestamp"], 16) + BLOCK_SECONDS)
        self.node.call("anvil_setBlockTimestampInterval", BLOCK_SECONDS)

    def stop(self) -> None:
        """Stop the node (its state is not kept)."""
        if self.anvil is not None:
            stop_pid(self.anvil.pid)
            self.anvil = None

    def restart_clean(self) -> None:
        """Dump, drop zero-valued slots, restart from the dump."""
        t0 = time.monotonic()
        state = dump_state(self.node)
        for account in state["accounts"].values():
            account["storage"] = {k: v for k, v in account["storage"].items() if int(v, 16)}
        path = self.workdir / "clean.json"
        path.write_text(json.dumps(state))
        self.stop()
        self.start(path)
        self.restarts += 1
        self.restart_seconds += time.monotonic() - t0


def build(config: SimConfig, target: Path, say: Any) -> None:
    """Run the simulation on a fresh anvil and write the cache (atomically)."""
    artifacts.check_versions()
    t0 = time.monotonic()
    target.mkdir(parents=True, exist_ok=True)
    compile_start = time.monotonic()
    solc_dir = cache_root() / f"solc0819-{artifacts.build_key()}"
    artifacts.compile_morpho(solc_dir)
    compile_seconds = time.monotonic() - compile_start
    with tempfile.TemporaryDirectory(prefix="coproc-markets-") as work:
        builder = Builder(Path(work))
        builder.start()
        try:
            node = builder.node
            snapshots: dict[str, dict[str, Any]] = {}

            def snapshot() -> int:
                builder.restart_clean()
                node.call("evm_mine")
                block = node.block_number()
                header = node.call("eth_getBlockByNumber", hex(block), False)
                state = dump_state(node)
                snapshots[str(header["hash"])] = historical_state(
                    state["accounts"], {block: str(header["hash"])}
                )
                return block

            sim = MarketSim(node, solc_dir, config, snapshot, say)
            sim_start = time.monotonic()
            result = sim.run()
            sim_seconds = time.monotonic() - sim_start
            final = dump_state(node)
            head = node.block_number()
            code_hashes = {
                name: "0x"
                + keccak256(bytes.fromhex(node.call("eth_getCode", address, "latest")[2:])).hex()
                for name, address in (
                    ("morpho", sim.morpho.morpho if sim.morpho else ""),
                    ("irm", sim.morpho.irm if sim.morpho else ""),
                )
            }
        finally:
            builder.stop()
    final["historical_states"] = [[h, s] for h, s in snapshots.items()]
    assert sim.aave and sim.morpho and sim.uniswap
    meta: dict[str, Any] = {
        "sim_version": SIM_VERSION,
        "config": asdict(config),
        "versions": artifacts.installed_versions(),
        "chain_id": CHAIN_ID,
        "head": head,
        "tokens": sim.tokens,
        "aave": sim.aave.to_json(),
        "aave_steep_strategy": sim.steep_strategy,
        "morpho": sim.morpho.to_json(),
        "uniswap": sim.uniswap.to_json(),
        "liquidator": sim.liquidator,
        "borrowers": [asdict(b) for b in result.borrowers],
        "samples": [asdict(s) for s in result.samples],
        "liquidations": result.liquidations,
        "failed_liquidations": result.failed_liquidations,
        "actions": result.actions,
        "code_hashes": code_hashes,
        "restarts": builder.restarts,
        "build_seconds": {
            "total": round(time.monotonic() - t0, 1),
            "restarts": round(builder.restart_seconds, 1),
            "compile": round(compile_seconds, 1),
            "simulation": round(sim_seconds, 1),
        },
    }
    _write_atomic(target / "state.json", json.dumps(final))
    meta["state_bytes"] = (target / "state.json").stat().st_size
    _write_atomic(target / "markets.json", json.dumps(meta, indent=1))
    say(
        f"built in {meta['build_seconds']['total']} s: head {head}, "
        f"{len(result.samples)} sampled blocks, liquidations {result.liquidations}"
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


# ------------------------------------------------------------------------ load
def load_meta(directory: Path) -> dict[str, Any]:
    """The cache's markets.json."""
    try:
        return dict(json.loads((directory / "markets.json").read_text()))
    except (OSError, ValueError) as exc:
        raise ToolError(f"{directory}: no built markets ({exc})") from None


def start_markets(directory: Path, workdir: Path) -> AnvilNode:
    """An anvil serving the cached chain (automine on for anything sent later)."""
    return start_anvil(
        "markets",
        workdir,
        chain_id=CHAIN_ID,
        persist=False,
        timeout=300,
        extra_args=anvil_args("--load-state", str(directory / "state.json")),
    )


def main(argv: list[str]) -> int:
    """``build``: build (or find) the default markets and print their directory."""
    if argv[:1] != ["build"]:
        print("usage: python -m coprocessor.dev.markets.cache build", file=sys.stderr)
        return 2
    try:
        path = ensure_built(say=lambda m: print(f"[markets] {m}", file=sys.stderr, flush=True))
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
