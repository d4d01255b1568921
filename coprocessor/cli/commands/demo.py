"""``coproc demo``: the main job on embedded defaults (local chain, SQLite)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from coprocessor.paths import data_dir


def register(sub: Any) -> None:
    """Add ``demo``."""
    p = sub.add_parser("demo", help="end-to-end demo on a local chain (see docs/quickstart.md)")
    p.add_argument("--json", action="store_true", help="print the result rows as JSON")
    p.add_argument(
        "--prove",
        action="store_true",
        help="real local zkVM proofs instead of dev mode (slow; verified off-chain only)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the service running with its explorer (prints the URL; Ctrl-C stops it) "
        "and leave the demo devnet up (stop: coproc --data-dir DIR/demo devnet down)",
    )
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from coprocessor.cli.demo import render_table, rows_json, run_demo

    rows = run_demo(data_dir(args.data_dir), prove=args.prove, keep=args.keep)
    if args.json:
        print(json.dumps(rows_json(rows), indent=2))
    else:
        print(render_table(rows))
    return 0 if rows and all(r.ok for r in rows) else 1
