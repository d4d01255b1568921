"""``coproc index --block N --anchor M|latest``: reads at N tied to a later anchor M
by EIP-2935 hops (bundle v2), and ``coproc inspect bundle FILE`` for either version.

Registered by ``index.py`` and ``inspect.py`` (this module adds no command group)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from coprocessor.chain.bundle import verify_bundle
from coprocessor.chain.bundle_v2 import BundleV2, load_any_bundle, verify_bundle_v2
from coprocessor.chain.hexutil import hexstr, parse_int
from coprocessor.errors import UserInputError
from coprocessor.index.history_index import HistoryStats, index_history
from coprocessor.index.indexer import Read, resolve_block, write_json_atomic
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``coproc index`` for bundle v2."""
    p.add_argument(
        "--anchor",
        default=None,
        help="anchor block M or latest: a bundle v2 tying --block to M by EIP-2935 hops",
    )
    p.add_argument(
        "--state-every",
        type=int,
        default=None,
        help="with --anchor: the node keeps states only at multiples of K (a pruned devnet)",
    )


def _available(every: int | None, anchor: int) -> Any:
    if every is None:
        return None
    if every < 1:
        raise UserInputError("--state-every must be >= 1")
    return lambda block: block % every == 0 or block == anchor


async def run_history(
    args: argparse.Namespace,
    rpc: RpcClient,
    store: Store,
    number: int,
    by_block: Mapping[int, Sequence[Read]],
    started: float,
) -> dict[str, Any]:
    """Index ``by_block`` into a bundle v2 anchored at ``--anchor`` (hops cached in
    ``store``, and taken from it); the summary."""
    if args.ancestors:
        raise UserInputError("--anchor and --ancestors exclude each other")
    text = str(args.anchor)
    anchor = await resolve_block(
        rpc, text if text in ("latest", "finalized", "safe") else parse_int(text, "--anchor")
    )
    if anchor < max(by_block):
        raise UserInputError(f"--anchor {anchor} is below the read block {max(by_block)}")
    stats = HistoryStats()
    verified, plan = await index_history(
        rpc,
        by_block,
        anchor=anchor,
        available=_available(args.state_every, anchor),
        stats=stats,
        store=store,
    )
    out = Path(args.out)
    write_json_atomic(out, BundleV2(base=verified.bundle, hops=verified.hops).to_json())
    header = verified.header(number)
    return {
        "bundle": str(out),
        "version": 2,
        "chain_id": rpc.chain_id,
        "block": number,
        "block_hash": hexstr(header.hash),
        "anchor": {"number": verified.anchor.number, "hash": hexstr(verified.anchor.hash)},
        "hops": len(plan.hops),
        "hops_cached": stats.hops_cached,
        "headers": len(plan.headers),
        "accounts": len(verified.bundle.accounts),
        "nodes": len(verified.bundle.nodes),
        "bytes": out.stat().st_size,
        "rpc_calls": rpc.calls_sent,
        "seconds": round(time.perf_counter() - started, 3),
    }


def inspect_bundle(path: str) -> dict[str, Any]:
    """Verify a bundle of either version; its anchor, reads and how each header is
    tied to the anchor (the hop chain)."""
    bundle = load_any_bundle(path)
    if isinstance(bundle, BundleV2):
        v2 = verify_bundle_v2(bundle)
        chain = v2.chain()
        base, headers, version = v2.bundle, v2.headers, 2
    else:
        v1 = verify_bundle(bundle)
        base, headers, version = bundle, v1.headers, 1
        chain = [
            {"number": h.number, "hash": hexstr(h.hash), "parent_of": h.number + 1}
            for h in reversed(headers[:-1])
        ]
        chain.insert(0, {"number": headers[-1].number, "hash": hexstr(headers[-1].hash)})
        chain[0]["anchor"] = True
    return {
        "version": version,
        "chain_id": base.chain_id,
        "anchor": {"number": base.anchor_number, "hash": hexstr(base.anchor_hash)},
        "reads": [
            {
                "block": a.block,
                "address": hexstr(a.address),
                "slots": len(a.storage),
                "present": a.account is not None,
            }
            for a in base.accounts
        ],
        "links": chain,
        "headers": len(headers),
        "nodes": len(base.nodes),
    }


def print_inspect(args: argparse.Namespace) -> int:
    """Handler of ``coproc inspect bundle FILE``."""
    print(json.dumps(inspect_bundle(args.file), indent=2))
    return 0


__all__ = ["add_arguments", "inspect_bundle", "print_inspect", "run_history"]
