"""``coproc watch``: an independent watcher of a service's signed scores (proof of
sampling by someone other than the signer; ``coprocessor.service.watcher``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

from coprocessor.errors import UserInputError
from coprocessor.paths import REPO_ROOT, data_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="check a service's signed scores independently; challenge the wrong ones",
        description="Follows the service's signed-score feed, re-computes a sample "
        "(probability --probability) from this watcher's own node, and files "
        "SignedScores.challenge when a signed score is wrong. Runs until SIGINT/SIGTERM; "
        "state in <data dir>/watch.sqlite.",
    )
    parser.add_argument("--feed", required=True, help="base URL of the watched service")
    parser.add_argument("--chain", required=True, help="this watcher's own node (source chain)")
    parser.add_argument(
        "--challenge-rpc", help="node of the chain SignedScores lives on (default: --chain)"
    )
    parser.add_argument("--probability", type=float, default=0.1, help="sampling p (0.1)")
    parser.add_argument("--models", default=str(REPO_ROOT / "models"), help="models directory")
    parser.add_argument(
        "--prover", default="zkvm", help="none, zkvm or import:MODULE:FACTORY (default zkvm)"
    )
    parser.add_argument("--no-dev-proofs", action="store_true", help="real (not dev) proofs")
    parser.add_argument("--signed-scores", default="", help="challenge at this SignedScores")
    parser.add_argument("--seed", type=int, help="fixed sampling seed (tests, benchmarks)")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="metrics bind address")
    parser.add_argument("--metrics-port", type=int, help="serve GET /metrics on this port")
    parser.add_argument(
        "--api-key-env", default="COPROC_WATCH_API_KEY", help="env var with the feed's API key"
    )
    parser.add_argument(
        "--key-env",
        default="COPROC_WATCHER_KEY",
        help="env var with the private key that sends challenges (unset: check only)",
    )
    parser.set_defaults(handler=cmd_watch)


def _key(name: str) -> bytes | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise UserInputError(f"${name} is not hex") from None
    if len(raw) != 32:
        raise UserInputError(f"${name} must be a 32-byte private key")
    return raw


def cmd_watch(args: argparse.Namespace) -> int:
    from coprocessor.service.catalog import load_catalog
    from coprocessor.service.proving import make_prover
    from coprocessor.service.watcher import Chain, WatchConfig, Watcher, run_until_signalled

    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        raise UserInputError(f"--metrics-port must be 1..65535, got {args.metrics_port}")
    config = WatchConfig(
        feed_url=args.feed,
        rpc_url=args.chain,
        challenge_rpc_url=args.challenge_rpc or args.chain,
        probability=args.probability,
        api_key=os.environ.get(args.api_key_env) or None,
        signed_scores=args.signed_scores,
        dev_proofs=not args.no_dev_proofs,
        seed=args.seed,
    ).validate()
    key = _key(args.key_env)
    chain = None if key is None else Chain(config.challenge_rpc_url, key)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    watcher = Watcher(
        config, data_dir(args.data_dir), load_catalog(args.models), make_prover(args.prover), chain
    )
    try:
        asyncio.run(run_until_signalled(watcher, args.metrics_host, args.metrics_port))
    finally:
        watcher.close()
    return 0
