"""``coproc contracts deploy|dev-seal``: the contracts on a local chain."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import requests
from web3 import Web3

from coprocessor.chain.hexutil import to_bytes
from coprocessor.dev.devnet import Devnet
from coprocessor.errors import ToolError, UserInputError
from coprocessor.onchain import contracts
from coprocessor.paths import data_dir
from coprocessor.zk import receipt_claim


def register(sub: Any) -> None:
    """Add the ``contracts`` command group."""
    parser = sub.add_parser("contracts", help="deploy the contracts locally, make dev seals")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    dep = actions.add_parser(
        "deploy",
        help="deploy dev verifier + router + RiskOracle + SignedScores (local chains); prints JSON",
    )
    dep.add_argument("--rpc", default=None, help="node URL (default: the devnet's L1)")
    dep.add_argument(
        "--image-id",
        default=None,
        help="bytes32 hex (default: RISK_SCORE_ID of contracts/src/generated/ImageID.sol)",
    )
    dep.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="MODEL_HASH:SPEC_HASH",
        help="register a model bound to its feature spec (repeatable)",
    )
    dep.add_argument("--max-anchor-lag", type=int, default=256)
    dep.add_argument("--min-bond", type=int, default=10**18, help="SignedScores bond, wei")
    dep.add_argument("--withdrawal-delay", type=int, default=2 * 86400, help="seconds")
    dep.set_defaults(handler=_deploy)
    seal = actions.add_parser("dev-seal", help="print the seal the DevVerifier accepts")
    seal.add_argument("--image-id", required=True, help="bytes32 hex")
    seal.add_argument("journal", help="journal bytes as 0x-hex")
    seal.set_defaults(handler=_dev_seal)


def _rpc(args: argparse.Namespace) -> str:
    if args.rpc:
        return str(args.rpc)
    node = Devnet(data_dir(args.data_dir)).node("l1")
    if node is None:
        raise UserInputError("no --rpc given and no devnet running (`coproc devnet up`)")
    return node.rpc


def _deploy(args: argparse.Namespace) -> int:
    if args.image_id is None:
        image_id = contracts.guest_image_id()
    else:
        image_id = to_bytes(args.image_id, "--image-id", 32)
    models: dict[bytes, bytes] = {}
    for item in args.model:
        model, sep, spec = item.partition(":")
        if not sep:
            raise UserInputError(f"--model: expected MODEL_HASH:SPEC_HASH, got {item!r}")
        models[to_bytes(model, "--model hash", 32)] = to_bytes(spec, "--model spec hash", 32)
    for name in ("max_anchor_lag", "min_bond", "withdrawal_delay"):
        if getattr(args, name) < 0:
            raise UserInputError(f"--{name.replace('_', '-')} must not be negative")
    w3 = Web3(Web3.HTTPProvider(_rpc(args), request_kwargs={"timeout": 30}))
    try:
        if not w3.is_connected():
            raise ToolError(f"node at {w3.provider.endpoint_uri} does not answer")  # type: ignore[attr-defined]
        stack = contracts.deploy_dev_stack(
            w3,
            image_id=image_id,
            models=models,
            max_anchor_lag=args.max_anchor_lag,
            min_bond=args.min_bond,
            withdrawal_delay=args.withdrawal_delay,
            private_key=os.environ.get("COPROC_PRIVATE_KEY") or None,
        )
    except requests.RequestException as exc:
        raise ToolError(f"node unreachable: {exc.__class__.__name__}") from None
    print(json.dumps(stack.to_json(), indent=2))
    return 0


def _dev_seal(args: argparse.Namespace) -> int:
    image_id = to_bytes(args.image_id, "--image-id", 32)
    journal = to_bytes(args.journal, "journal")
    print("0x" + receipt_claim.dev_seal(image_id, journal).hex())
    return 0
