"""``coproc demo-rocky``: the Rocky bot, done with proofs (docs/rocky.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from coprocessor.paths import data_dir


def register(sub: Any) -> None:
    """Add ``demo-rocky``."""
    p = sub.add_parser(
        "demo-rocky",
        help="price-direction score proven, verified on L2, sent to an L1 vault that swaps "
        "(see docs/rocky.md)",
    )
    p.add_argument("--json", action="store_true", help="print the run as JSON")
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave the devnet up (stop: coproc --data-dir DIR/rocky devnet down)",
    )
    p.set_defaults(handler=_demo_rocky)


def _demo_rocky(args: argparse.Namespace) -> int:
    from coprocessor.cli.rocky_demo import render, run_rocky

    run = run_rocky(data_dir(args.data_dir), keep=args.keep)
    print(json.dumps(run.to_json(), indent=2) if args.json else render(run))
    return 0 if run.ok else 1
