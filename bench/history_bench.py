"""Deep history: one storage read k blocks behind the anchor, proven by EIP-2935 hops
(bundle v2) or by the consecutive header chain (bundle v1), on the cached devnet
history (coprocessor/dev/history.py, 64,000 blocks).

Measured in one run: guest cycles (RISC Zero executor, the real guest) of a read
1 hour (300 blocks), 1 day (7,200) and about 7 days (51,000: the nearest block with
a state on the devnet) back by hops; the header chain directly at 1 hour and, from
its measured cost per header, extrapolated linearly beyond (said so in the table);
30 days (216,000 blocks, beyond the devnet) extrapolated from the measured cost per
hop. Also: a second read at an already reached block, a 30-sample series of one slot
(30 spec v1 reads spaced 2,000 blocks, sharing hops; and one spec v2 series feature,
the mean of 30 samples spaced 1,000 blocks, the devnet's state spacing), bundle
bytes per reached block, and indexing time against the raw RPC calls it needs.

The hop cache (``hop_cache.py``): a read 60,000 blocks back anchored at the head,
indexed with an empty store and with a store a run anchored 1,000 blocks earlier
filled (RPC calls as the client counts them, best of 5 interleaved runs).

Run: ``.venv/bin/python -m bench.history_bench`` (builds the history first if the
machine has none: minutes); ``.venv/bin/python -m bench.history_bench cache`` runs
only the hop cache rows (no guest).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import table
from bench.guest_cycles import model
from coprocessor.chain.bundle import ProofAtBlock, build_bundle
from coprocessor.chain.bundle_v2 import BundleV2
from coprocessor.dev.devnet import AnvilNode, stop_pid
from coprocessor.dev.history import VALUE_CONTRACT, History, ensure_history, start_history_node
from coprocessor.index.history_index import HistoryStats, index_history
from coprocessor.index.indexer import Read, fetch_headers
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.zk import prover

SUBJECT = "0x" + "42" * 20
#: blocks back (12 s blocks): 1 hour, 1 day, ~7 days (nearest devnet state), 30 days
HOUR, DAY, WEEK, MONTH = 300, 7_200, 51_000, 216_000
SLOT = bytes(32)
#: total cycles (segments padded to powers of two) of each run, by name
TOTALS: dict[str, int] = {}


def _spec(offsets: list[int]) -> dict[str, Any]:
    feats = [
        {
            "name": f"v{i}",
            "read": {
                "kind": "storage",
                "address": "0x" + VALUE_CONTRACT.hex(),
                "slot": {"base": 0},
                "block_offset": off,
            },
            "decimals": 18,
        }
        for i, off in enumerate(offsets)
    ]
    return {"format": "coproc-features", "version": 1, "name": "history", "features": feats}


def _available(history: History) -> Any:
    blocks = set(history.checkpoints) | set(range(history.head - 8, history.head + 1))
    return blocks.__contains__


async def _v2(
    node: AnvilNode, history: History, blocks: list[int], extra_slot: bool = False
) -> tuple[dict[str, Any], int, HistoryStats, float]:
    stats = HistoryStats()
    slots = (SLOT, (1).to_bytes(32, "big")) if extra_slot else (SLOT,)
    started = time.perf_counter()
    async with RpcClient(node.rpc, timeout=300) as rpc:
        verified, plan = await index_history(
            rpc,
            {b: [Read(VALUE_CONTRACT, slots)] for b in blocks},
            anchor=history.head,
            available=_available(history),
            stats=stats,
        )
    seconds = time.perf_counter() - started
    return BundleV2(verified.bundle, verified.hops).to_json(), len(plan.hops), stats, seconds


async def _v1(node: AnvilNode, history: History, back: int) -> dict[str, Any]:
    async with RpcClient(node.rpc, timeout=300) as rpc:
        headers = await fetch_headers(rpc, history.head - back, history.head)
        proof = await rpc.get_proof(VALUE_CONTRACT, [SLOT], history.head - back)
    verified = build_bundle(
        31337, [h.raw for h in headers], [ProofAtBlock(history.head - back, proof)]
    )
    return verified.bundle.to_json()


def _series_spec(samples: int, every: int) -> dict[str, Any]:
    """Spec v2: one feature, the mean of ``samples`` reads of the slot ``every`` apart."""
    read = {"kind": "storage", "address": "0x" + VALUE_CONTRACT.hex(), "slot": {"base": 0}}
    series = {"samples": samples, "every": every, "op": "mean"}
    feature = {"name": "mean", "read": read, "decimals": 18, "series": series}
    return {"format": "coproc-features", "version": 2, "name": "series", "features": [feature]}


def _cycles(
    work: Path,
    name: str,
    bundle: dict[str, Any],
    offsets: list[int],
    spec: dict[str, Any] | None = None,
) -> int:
    d = work / name
    d.mkdir()
    spec = _spec(offsets) if spec is None else spec
    dim = len(spec["features"])
    for k, v in (("bundle", bundle), ("spec", spec), ("model", model(dim, 0))):
        (d / f"{k}.json").write_text(json.dumps(v))
    request = prover.ProveRequest(
        d / "bundle.json", d / "model.json", d / "spec.json", SUBJECT, block=None
    )
    cycles = prover.execute(request)["cycles"]
    TOTALS[name] = int(cycles["total"])
    return int(cycles["user"])


async def _deep_run(
    node: AnvilNode, history: History, anchor: int, store: Store | None
) -> tuple[int, float, HistoryStats]:
    """RPC calls and seconds of indexing the read 60,000 blocks back at ``anchor``."""
    stats = HistoryStats()
    started = time.perf_counter()
    async with RpcClient(node.rpc, timeout=300) as rpc:
        await index_history(
            rpc,
            {history.head - 60_000: [Read(VALUE_CONTRACT, (SLOT,))]},
            anchor=anchor,
            available=_available(history),
            stats=stats,
            store=store,
        )
        calls = rpc.calls_sent
    return calls, time.perf_counter() - started, stats


def _cache_rows(
    node: AnvilNode, history: History, work: Path, repeat: int = 5
) -> tuple[list[str], list[list[object]]]:
    filled = work / "filled.sqlite"
    store = Store(filled)
    asyncio.run(_deep_run(node, history, history.head - 1_000, store))
    store.close()
    best: dict[str, tuple[int, float, HistoryStats]] = {}
    for i in range(repeat):
        copy = work / f"cached-{i}.sqlite"
        shutil.copy(filled, copy)
        for name, path in (("no cache (empty store)", None), ("hops cached", copy)):
            run_store = Store(path) if path is not None else None
            try:
                calls, seconds, stats = asyncio.run(
                    _deep_run(node, history, history.head, run_store)
                )
            finally:
                if run_store is not None:
                    run_store.close()
            if name not in best or seconds < best[name][1]:
                best[name] = (calls, seconds, stats)
    rows: list[list[object]] = []
    for name, (calls, seconds, stats) in best.items():
        rows.append([name, stats.hops_cached, stats.headers, stats.proofs, calls, f"{seconds:.3f}"])
    header = ["run (anchor = head)", "hops cached", "headers", "eth_getProof", "RPC calls", "s"]
    return header, rows


def main() -> None:
    history = ensure_history()
    only_cache = "cache" in sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        work = Path(tmp)
        node = start_history_node(history, work / "node")
        try:
            cache = _cache_rows(node, history, work)
            if not only_cache:
                rows, sizes = _measure(node, history, work)
        finally:
            stop_pid(node.pid)
    if not only_cache:
        print(table("guest user cycles of one read k blocks back (executor)", *rows))
        totals = ", ".join(f"{k} {v:,}" for k, v in TOTALS.items())
        print("total cycles (padded segments): " + totals)
        print(table("bundle v2 size and indexing", *sizes))
    print(table("hop cache: a read 60,000 blocks back, second anchor", *cache))


def _measure(
    node: AnvilNode, history: History, work: Path
) -> tuple[tuple[list[str], list[list[object]]], tuple[list[str], list[list[object]]]]:
    head = history.head
    anchor_only = asyncio.run(_v1(node, history, 0))
    base = _cycles(work, "anchor", anchor_only, [0])
    chain_1h = asyncio.run(_v1(node, history, HOUR))
    chain_cycles = _cycles(work, "chain-1h", chain_1h, [HOUR])
    per_header = (chain_cycles - base) / HOUR
    results: dict[int, tuple[int, int, dict[str, Any]]] = {}
    size_rows: list[list[object]] = []
    for back in (HOUR, DAY, WEEK):
        bundle, hops, stats, seconds = asyncio.run(_v2(node, history, [head - back]))
        results[back] = (_cycles(work, f"hops-{back}", bundle, [back]), hops, bundle)
        size = len(json.dumps(bundle))
        raw_calls = stats.headers + stats.proofs
        size_rows.append(
            [back, hops, f"{size:,}", f"{size / (hops or 1):,.0f}", raw_calls, f"{seconds:.2f}"]
        )
    week_cycles, week_hops, _ = results[WEEK]
    per_hop = (week_cycles - results[DAY][0]) / (week_hops - results[DAY][1])
    month_hops = -(-MONTH // 8_191)
    rows: list[list[object]] = []
    for back, label in ((HOUR, "1 hour"), (DAY, "1 day"), (WEEK, "~7 days")):
        cycles, hops, _ = results[back]
        chain = chain_cycles if back == HOUR else base + per_header * back
        how = "measured" if back == HOUR else "extrapolated"
        rows.append(
            [label, back, hops, f"{cycles:,}", f"{chain:,.0f} ({how})", f"{chain / cycles:,.0f}x"]
        )
    month = week_cycles + per_hop * (month_hops - week_hops)
    month_chain = base + per_header * MONTH
    rows.append(
        [
            "30 days",
            MONTH,
            month_hops,
            f"{month:,.0f} (extrapolated)",
            f"{month_chain:,.0f} (extrapolated)",
            f"{month_chain / month:,.0f}x",
        ]
    )
    second, _, _, _ = asyncio.run(_v2(node, history, [head - WEEK], extra_slot=True))
    second_cycles = _cycles(work, "second", second, [WEEK, WEEK])
    rows.append(
        ["+1 read at a reached block", WEEK, "-", f"{second_cycles - week_cycles:,}", "-", "-"]
    )
    series_blocks = [head - 2_000 * i for i in range(30)]
    series, series_hops, _, _ = asyncio.run(_v2(node, history, series_blocks))
    series_cycles = _cycles(work, "series", series, [head - b for b in series_blocks])
    rows.append(["30 samples, 2,000 apart", 58_000, series_hops, f"{series_cycles:,}", "-", "-"])
    # spec v2: one feature aggregating 30 samples 1,000 blocks apart (the devnet keeps a
    # state every 1,000 blocks; daily samples would reach 216,000 blocks back)
    v2_blocks = [head - 1_000 * i for i in range(30)]
    v2, v2_hops, _, _ = asyncio.run(_v2(node, history, v2_blocks))
    v2_cycles = _cycles(work, "series-v2", v2, [], _series_spec(30, 1_000))
    rows.append(["spec v2: mean of 30, 1,000 apart", 29_000, v2_hops, f"{v2_cycles:,}", "-", "-"])
    rows.append(["anchor only (base)", 0, 0, f"{base:,}", "-", "-"])
    return (
        ["read", "blocks back", "hops", "user cycles (hops)", "user cycles (chain)", "ratio"],
        rows,
    ), (
        ["blocks back", "hops", "bundle bytes", "bytes per hop", "RPC calls", "index seconds"],
        size_rows,
    )


if __name__ == "__main__":
    main()
