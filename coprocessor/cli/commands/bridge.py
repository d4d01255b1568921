"""``coproc bridge push-blockhash|status|redeem|execute|keepalive``: Arbitrum messaging
on the two-chain devnet (``coproc devnet up --l2``) or, with ``--config FILE``, on a
real network (bridge.networks)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from coprocessor.errors import UserInputError
from coprocessor.paths import data_dir


def register(sub: Any) -> None:
    """Add the ``bridge`` command group."""
    parser = sub.add_parser("bridge", help="Arbitrum bridge: block hashes, tickets, outbox")
    parser.add_argument(
        "--config",
        default=None,
        help="JSON config of a real network (default: the devnet of the data dir)",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    push = actions.add_parser("push-blockhash", help="send an L1 block hash to the L2 store")
    push.add_argument("--block", type=int, required=True, help="L1 block number")
    push.add_argument("--timeout", type=float, default=60.0)
    push.set_defaults(handler=_push)
    status = actions.add_parser("status", help="every bridge message and its status")
    status.add_argument("--json", action="store_true", help="JSON output")
    status.add_argument("--no-refresh", action="store_true", help="do not ask the chains")
    status.set_defaults(handler=_status)
    redeem = actions.add_parser("redeem", help="manually redeem a retryable ticket")
    redeem.add_argument("id", help="ticket id (0x...)")
    redeem.add_argument("--gas", type=int, default=1_000_000)
    redeem.set_defaults(handler=_redeem)
    execute = actions.add_parser("execute", help="execute a confirmed L2->L1 message on L1")
    execute.add_argument("id", help="message id (l2tol1:N)")
    execute.set_defaults(handler=_execute)
    watch = actions.add_parser("watch", help="follow every message; alert before tickets expire")
    watch.add_argument("--interval", type=float, default=60.0, help="seconds between rounds")
    watch.add_argument("--once", action="store_true", help="one round, then exit")
    watch.add_argument("--auto-keepalive", action="store_true", help="keepalive alerted tickets")
    watch.set_defaults(handler=_watch)
    keep = actions.add_parser("keepalive", help="extend a waiting ticket by one lifetime")
    keep.add_argument("id", help="ticket id (0x...)")
    keep.set_defaults(handler=_keepalive)


def _bridge(args: argparse.Namespace) -> Any:
    from bridge.chain import connect
    from bridge.networks import from_config
    from bridge.service import Bridge
    from bridge.store import BridgeStore

    directory = data_dir(args.data_dir)
    if args.config:
        network, l1_rpc, l2_rpc = from_config(Path(args.config))
        key = os.environ.get("COPROC_BRIDGE_KEY")
        if not key:
            raise UserInputError("set COPROC_BRIDGE_KEY to the private key that signs")
        from eth_account import Account

        try:
            account = Account.from_key(key)
        except ValueError:
            raise UserInputError("COPROC_BRIDGE_KEY is not a private key") from None
        return Bridge(
            network,
            connect(l1_rpc, network.l1_chain_id),
            connect(l2_rpc, network.l2_chain_id),
            BridgeStore.in_dir(directory),
            account,
        )
    from bridge.devnet import load

    return Bridge.from_devnet(load(directory), directory)


def _ticket_id(text: str) -> str:
    value = text.lower()
    if len(value) != 66 or not value.startswith("0x"):
        raise UserInputError(f"ticket id must be 0x + 64 hex digits, got {text!r}")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise UserInputError(f"ticket id must be 0x + 64 hex digits, got {text!r}") from None
    return value


def _push(args: argparse.Namespace) -> int:
    if args.block < 0:
        raise UserInputError("--block must be >= 0")
    result = _bridge(args).push_blockhash(args.block, timeout=args.timeout)
    print(json.dumps(result, indent=2))
    return 0


def _status(args: argparse.Namespace) -> int:
    bridge = _bridge(args)
    messages = bridge.store.messages() if args.no_refresh else bridge.refresh()
    if args.json:
        out = [dict(m.to_json(), history=bridge.store.history(m.id)) for m in messages]
        print(json.dumps(out, indent=2))
        return 0
    if not messages:
        print("no bridge messages")
    for m in messages:
        alerts = bridge.alerts(m.id) if m.kind == "l1_to_l2" else []
        purpose = m.data.get("purpose", "")
        print(
            f"{m.id}  {m.kind}  {m.status}  {purpose}"
            + (f"  ALERT: {alerts[-1]}" if alerts else "")
        )
    return 0


def _redeem(args: argparse.Namespace) -> int:
    state = _bridge(args).redeem(_ticket_id(args.id), gas=args.gas)
    print(json.dumps(state.to_json(), indent=2))
    return 0 if state.status == "REDEEMED" else 1


def _execute(args: argparse.Namespace) -> int:
    status = _bridge(args).execute(args.id)
    print(json.dumps({"id": args.id, "status": status}))
    return 0


def _watch(args: argparse.Namespace) -> int:
    """Exit 1 after a round (``--once``) that raised alerts, else 0; loops otherwise."""
    import time

    bridge = _bridge(args)
    while True:
        alerts = bridge.watch_once(auto_keepalive=args.auto_keepalive)
        for ticket, text in alerts:
            print(f"ALERT {ticket}: {text}", flush=True)
        if args.once:
            return 1 if alerts else 0
        time.sleep(args.interval)


def _keepalive(args: argparse.Namespace) -> int:
    timeout = _bridge(args).keepalive(_ticket_id(args.id))
    print(json.dumps({"id": args.id, "timeout": timeout}))
    return 0
