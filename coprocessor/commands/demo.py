"""``coproc demo``: the main job on embedded defaults (local chain, SQLite)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from coprocessor.paths import data_dir


def register(sub: Any) -> None:
    """Add ``demo``."""
    p = sub.add_parser("demo", help="end-to-end demo on a local chain (see docs/quickstart.md)")
    p.add_argument("--json", action="store_true", help="print the result rows as JSON")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from coprocessor.demo import render_table, rows_json, run_demo

    print("[demo] starting the local chain and creating history...", file=sys.stderr)
    rows = run_demo(data_dir(args.data_dir))
    if args.json:
        print(json.dumps(rows_json(rows), indent=2))
    else:
        print(render_table(rows))
    return 0 if rows and all(r.ok for r in rows) else 1
