"""``coproc devnet up|status|down``: the local chain."""

from __future__ import annotations

import argparse
import json
from typing import Any

from coprocessor.dev.devnet import DEFAULT_CHAIN_ID, Devnet
from coprocessor.errors import UserInputError
from coprocessor.paths import data_dir


def register(sub: Any) -> None:
    """Add the ``devnet`` command group."""
    parser = sub.add_parser("devnet", help="start, inspect or stop the local chain (anvil)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    up = actions.add_parser("up", help="start anvil (reuses a running one); prints JSON")
    up.add_argument("--chain-id", type=int, default=DEFAULT_CHAIN_ID)
    up.add_argument("--port", type=int, default=None, help="RPC port (default: a free one)")
    up.add_argument("--l2", action="store_true", help="also start the L2 chain (bridge devnet)")
    up.set_defaults(handler=_up)
    status = actions.add_parser("status", help="print the devnet's JSON")
    status.add_argument("--json", action="store_true", help="JSON output (the default)")
    status.set_defaults(handler=_status)
    down = actions.add_parser("down", help="stop the devnet's nodes")
    down.set_defaults(handler=_down)


def _up(args: argparse.Namespace) -> int:
    if args.port is not None and not 1 <= args.port <= 65535:
        raise UserInputError(f"--port {args.port}: must be 1..65535")
    if not 1 <= args.chain_id < 2**64:
        raise UserInputError(f"--chain-id {args.chain_id}: must be 1..2^64-1")
    devnet = Devnet(data_dir(args.data_dir))
    info = devnet.up(chain_id=args.chain_id, port=args.port)
    if args.l2:
        import importlib

        try:  # the bridge devnet adds the L2 chain
            bridge_devnet = importlib.import_module("bridge.devnet")
        except ModuleNotFoundError:
            raise UserInputError("--l2: the two-chain devnet is not in this build yet") from None
        info = bridge_devnet.up_l2(devnet)
    print(json.dumps(info, indent=2))
    return 0


def _status(args: argparse.Namespace) -> int:
    info = Devnet(data_dir(args.data_dir)).status()
    print(json.dumps(info, indent=2))
    running = all(v.get("running", True) for v in info.values() if isinstance(v, dict))
    return 0 if info and running else 1


def _down(args: argparse.Namespace) -> int:
    print(json.dumps(Devnet(data_dir(args.data_dir)).down()))
    return 0
