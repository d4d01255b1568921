"""``coproc serve``: the HTTP service (API v1, workers); key and keystore management."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from typing import Any

from coprocessor.errors import UserInputError
from coprocessor.paths import data_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the HTTP service (API v1 + job workers); manage API keys",
        description="Without a key/keystore option: serve until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8545 + 1000, help="port (default 9545)")
    parser.add_argument("--config", help="service config JSON (docs/operations.md)")
    parser.add_argument("--rpc", help="L1 node URL (overrides config rpc_url)")
    parser.add_argument("--workers", type=int, help="worker tasks (overrides config)")
    parser.add_argument(
        "--role",
        choices=("all", "api", "worker"),
        default="all",
        help="all: HTTP API + workers (default); api: HTTP API only, no workers; "
        "worker: workers and on-chain listeners only, no HTTP listener",
    )
    parser.add_argument("--add-key", metavar="NAME", help="create an API key, print it, exit")
    parser.add_argument("--rate", type=float, default=None, help="with --add-key: requests/s")
    parser.add_argument("--burst", type=int, default=None, help="with --add-key: burst size")
    parser.add_argument("--list-keys", action="store_true", help="list API keys (no secrets)")
    parser.add_argument("--revoke-key", metavar="ID", help="revoke an API key")
    parser.add_argument(
        "--new-keystore",
        metavar="PATH",
        help="create an operator keystore (random key, password from the config's "
        "keystore_password_env) and print its address",
    )
    parser.set_defaults(handler=cmd_serve)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.rpc:
        out["rpc_url"] = args.rpc
    if args.workers is not None:
        out["workers"] = args.workers
    return out


def cmd_serve(args: argparse.Namespace) -> int:
    from coprocessor.service import auth
    from coprocessor.service.config import load_config
    from coprocessor.service.store.database import open_service_db

    if not 0 < args.port < 65536:
        raise UserInputError(f"--port must be 1..65535, got {args.port}")
    config = load_config(args.config, _overrides(args))
    root = data_dir(args.data_dir)
    if args.new_keystore:
        from coprocessor.service.signer import write_keystore

        password = os.environ.get(config.keystore_password_env)
        if not password:
            raise UserInputError(f"set ${config.keystore_password_env} to the keystore password")
        address = write_keystore(args.new_keystore, os.urandom(32), password)
        print(json.dumps({"keystore": args.new_keystore, "address": address}))
        return 0
    if args.add_key or args.list_keys or args.revoke_key:
        db = open_service_db(config.database_url, root)
        try:
            if args.add_key:
                rate = config.rate_per_second if args.rate is None else args.rate
                burst = config.rate_burst if args.burst is None else args.burst
                key = auth.create_key(db, args.add_key, rate, burst)
                print(key)
            elif args.revoke_key:
                auth.revoke_key(db, args.revoke_key)
                print(json.dumps({"revoked": args.revoke_key}))
            else:
                print(json.dumps(auth.list_keys(db), indent=1))
        finally:
            db.close()
        return 0
    from coprocessor.service.server import serve

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    asyncio.run(serve(config, root, args.host, args.port, args.role))
    return 0
