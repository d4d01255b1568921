"""``coproc index`` (fetch, verify, cache, write bundles) and ``coproc verify-bundle``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from coprocessor.chain.bundle import load_bundle, verify_bundle
from coprocessor.chain.bundle_v2 import BundleV2, load_any_bundle, verify_bundle_v2
from coprocessor.chain.headers import header_from_json
from coprocessor.chain.hexutil import hexstr, parse_address, parse_int
from coprocessor.chain.slots import slot_bytes
from coprocessor.cli.commands import index_history
from coprocessor.errors import CoprocessorError, UserInputError
from coprocessor.index.indexer import (
    IndexStats,
    Read,
    index_block,
    index_reads,
    resolve_block,
    write_json_atomic,
)
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.paths import data_dir
from coprocessor.scoring import batch, protocol_index
from coprocessor.scoring.reads import reads_for_spec


def register(sub: Any) -> None:
    """Add ``index`` and ``verify-bundle``."""
    p = sub.add_parser(
        "index",
        help="fetch headers and proofs over JSON-RPC, verify, cache, write a proof bundle",
    )
    p.add_argument("--rpc", required=True, help="JSON-RPC URL of an Ethereum node")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--block", help="N, latest or finalized")
    where.add_argument("--blocks", help="history range FROM..TO (one bundle per block)")
    p.add_argument("--every", type=int, default=1, help="with --blocks: every K-th block")
    p.add_argument("--address", action="append", default=[], help="account (repeatable)")
    p.add_argument(
        "--spec",
        default=None,
        help="feature spec: index exactly the reads it needs for --subject (multi-block)",
    )
    p.add_argument("--subject", default=None, help="with --spec: the account scored")
    p.add_argument(
        "--subjects",
        default=None,
        help="with --spec: many accounts (A,B,C or a file, one a line) in one bundle whose "
        "reads and nodes are shared (a batch, docs/formats.md §5)",
    )
    p.add_argument(
        "--slot",
        action="append",
        default=[],
        help="storage slot of the (last) --address, hex or decimal (repeatable)",
    )
    p.add_argument(
        "--ancestors",
        type=int,
        default=0,
        help="anchor the bundle K blocks later (header chain N..N+K)",
    )
    index_history.add_arguments(p)
    p.add_argument("--chain-id", type=int, default=None, help="refuse a node on another chain")
    p.add_argument("--out", required=True, help="bundle file (with --blocks: a directory)")
    p.add_argument("--progress", action="store_true", help="progress lines on stderr")
    p.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per RPC request (default 30)"
    )
    p.add_argument("--retries", type=int, default=4, help="retries of a failed read (default 4)")
    p.set_defaults(handler=_index)

    v = sub.add_parser("verify-bundle", help="re-verify a bundle offline; print its values")
    v.add_argument("file")
    v.set_defaults(handler=_verify)


def _reads(args: argparse.Namespace) -> list[Read]:
    if not args.address:
        raise UserInputError("give --address (with --slot) or --spec with --subject")
    addresses = [parse_address(a, f"--address {a}") for a in args.address]
    slots = tuple(slot_bytes(parse_int(s, f"--slot {s}")) for s in args.slot)
    for s in args.slot:
        if parse_int(s, "--slot") >= 2**256 or parse_int(s, "--slot") < 0:
            raise UserInputError(f"--slot {s}: out of the 256-bit range")
    if len(set(addresses)) != len(addresses):
        raise UserInputError("--address given twice")
    if len(set(slots)) != len(slots):
        raise UserInputError("--slot given twice")
    reads = [Read(a) for a in addresses[:-1]]
    reads.append(Read(addresses[-1], slots))
    return reads


def _block_spec(text: str) -> str | int:
    if text in ("latest", "finalized", "safe"):
        return text
    value = parse_int(text, "--block")
    if value < 0:
        raise UserInputError("--block must be >= 0")
    return value


def _range(text: str, every: int) -> list[int]:
    if ".." not in text:
        raise UserInputError("--blocks must look like FROM..TO")
    lo_text, hi_text = text.split("..", 1)
    lo, hi = parse_int(lo_text, "--blocks FROM"), parse_int(hi_text, "--blocks TO")
    if lo < 0 or hi < lo:
        raise UserInputError("--blocks: need 0 <= FROM <= TO")
    if every < 1:
        raise UserInputError("--every must be >= 1")
    return list(range(lo, hi + 1, every))


def _index(args: argparse.Namespace) -> int:
    if args.spec is not None:
        if (args.subject is None) == (args.subjects is None) or args.address or args.slot:
            raise UserInputError("--spec needs --subject or --subjects and no --address/--slot")
        if args.blocks:
            raise UserInputError("--spec indexes one request block: use --block")
        from coprocessor.scoring import features

        args.spec_obj = features.load(args.spec)
        if args.subjects is not None:
            args.subjects = batch.load_subjects(args.subjects)
        else:
            parse_address(args.subject, "--subject")
        reads: list[Read] = []
    else:
        if args.subjects is not None:
            raise UserInputError("--subjects goes with --spec")
        args.spec_obj = None
        reads = _reads(args)
    if args.ancestors < 0:
        raise UserInputError("--ancestors must be >= 0")
    blocks = _range(args.blocks, args.every) if args.blocks else None
    if blocks is not None and args.anchor is not None:
        raise UserInputError("--anchor goes with --block (one request block)")
    spec = _block_spec(args.block) if args.block else None
    store = Store(data_dir(args.data_dir) / "coproc.sqlite")
    try:
        summary = asyncio.run(_run(args, reads, spec, blocks, store))
    finally:
        store.close()
    print(json.dumps(summary, indent=2))
    return 0


async def _run(
    args: argparse.Namespace,
    reads: list[Read],
    spec: str | int | None,
    blocks: list[int] | None,
    store: Store,
) -> dict[str, Any]:
    started = time.perf_counter()
    out = Path(args.out)
    if args.timeout <= 0 or args.retries < 0:
        raise UserInputError("--timeout must be > 0 and --retries >= 0")
    async with RpcClient(
        args.rpc, expected_chain_id=args.chain_id, timeout=args.timeout, retries=args.retries
    ) as rpc:
        if blocks is None:
            assert spec is not None
            number = await resolve_block(rpc, spec)
            if number == 0:
                raise UserInputError("block 0 has no provable state on many nodes; use >= 1")
            stats = IndexStats()
            if args.spec_obj is not None and args.subjects is not None:
                by_block = batch.batch_reads(args.spec_obj, args.subjects, number)
            elif args.spec_obj is not None:
                by_block = reads_for_spec(args.spec_obj, args.subject, number)
                if 0 in by_block:
                    raise UserInputError("the spec reads block 0, which has no provable state")
            else:
                by_block = {number: reads}
            if args.spec_obj is not None and protocol_index.has_protocol_reads(args.spec_obj):
                subjects = args.subjects if args.subjects is not None else [args.subject]
                recorded = await protocol_index.record_protocol_reads(
                    rpc, store, args.spec_obj, subjects, number
                )
                by_block = protocol_index.merge_reads(by_block, recorded)
            if args.anchor is not None:
                return await index_history.run_history(args, rpc, store, number, by_block, started)
            verified = await index_reads(
                rpc,
                store,
                by_block,
                anchor=number + args.ancestors,
                progress=_progress(args),
                stats=stats,
            )
            write_json_atomic(out, verified.bundle.to_json())
            header = verified.header(number)
            return {
                "bundle": str(out),
                "chain_id": rpc.chain_id,
                "block": number,
                "block_hash": hexstr(header.hash),
                "state_root": hexstr(header.state_root),
                "anchor": {"number": verified.anchor.number, "hash": hexstr(verified.anchor.hash)},
                "accounts": len(verified.bundle.accounts),
                "slots": sum(len(a.storage) for a in verified.bundle.accounts),
                "nodes": len(verified.bundle.nodes),
                **({"subjects": len(args.subjects)} if args.subjects is not None else {}),
                "cached": stats.cached,
                "rpc_calls": rpc.calls_sent,
                "seconds": round(time.perf_counter() - started, 3),
            }
        head = await rpc.block_number()
        if blocks[-1] + args.ancestors > head:
            raise UserInputError(f"--blocks reaches {blocks[-1]}, above the node's head ({head})")
        if blocks[0] == 0:
            raise UserInputError("block 0 has no provable state on many nodes; start at >= 1")
        out.mkdir(parents=True, exist_ok=True)
        written, skipped = [], 0
        show = _bar(args, len(blocks))
        for number in blocks:
            path = out / f"bundle-{number}.json"
            if path.exists() and await _resumable(path, rpc, number, reads, args.ancestors):
                skipped += 1  # resumable: a verified bundle from an earlier run
            else:
                verified = await index_block(rpc, store, number, reads, ancestors=args.ancestors)
                write_json_atomic(path, verified.bundle.to_json())
            written.append(str(path))
            show(number)
        return {
            "bundles": len(written),
            "resumed": skipped,
            "directory": str(out),
            "chain_id": rpc.chain_id,
            "first": blocks[0],
            "last": blocks[-1],
            "rpc_calls": rpc.calls_sent,
            "seconds": round(time.perf_counter() - started, 3),
        }


async def _resumable(
    path: Path, rpc: RpcClient, number: int, reads: list[Read], ancestors: int
) -> bool:
    """A bundle from an earlier run is kept only if it verifies, answers the same
    reads with the same anchor, and its anchor is still the node's block there
    (after a reorg, or with other --address/--slot/--ancestors, it is redone)."""
    try:
        verified = verify_bundle(load_bundle(path))
    except CoprocessorError:
        return False
    bundle = verified.bundle
    asked = {(r.address, frozenset(r.slots)) for r in reads}
    held = {(a.address, frozenset(s.slot for s in a.storage)) for a in bundle.accounts}
    if (
        bundle.chain_id != rpc.chain_id
        or bundle.anchor_number != number + ancestors
        or {a.block for a in bundle.accounts} != {number}
        or held != asked
        or len(bundle.accounts) != len(reads)
    ):
        return False
    current = header_from_json(await rpc.get_block(bundle.anchor_number))
    return current.hash == bundle.anchor_hash


def _progress(args: argparse.Namespace) -> Any:
    from coprocessor.index.indexer import stderr_progress

    return stderr_progress(args.progress)


def _bar(args: argparse.Namespace, total: int) -> Any:
    if not (args.progress or sys.stderr.isatty()):
        return lambda _n: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="block", file=sys.stderr)

    def step(number: int) -> None:
        bar.set_postfix_str(str(number))
        bar.update(1)
        if bar.n == total:
            bar.close()

    return step


def _verify(args: argparse.Namespace) -> int:
    bundle = load_any_bundle(args.file)
    verified = verify_bundle_v2(bundle) if isinstance(bundle, BundleV2) else verify_bundle(bundle)
    print(json.dumps(verified.to_json(), indent=2))
    return 0
