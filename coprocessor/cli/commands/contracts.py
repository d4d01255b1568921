"""``coproc contracts deploy|networks|dev-seal``: deploy the contracts (a devnet's dev
verifier, or RISC Zero's published router on Ethereum / Arbitrum), show the published
deployment configs, make dev seals."""

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
from coprocessor.onchain import contracts, risc0_ethereum
from coprocessor.paths import data_dir
from coprocessor.zk import receipt_claim


def register(sub: Any) -> None:
    """Add the ``contracts`` command group."""
    parser = sub.add_parser(
        "contracts", help="deploy the contracts, show RISC Zero's published routers, dev seals"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    dep = actions.add_parser(
        "deploy",
        help="deploy RiskOracle + SignedScores on RISC Zero's published router (Ethereum, "
        "Arbitrum) or on a dev verifier + router (devnets only); prints JSON",
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
    dep.add_argument(
        "--verifier",
        choices=("auto", "published", "dev"),
        default="auto",
        help="published: RISC Zero's router from deployment.toml for the node's chain id; "
        "dev: a dev verifier (devnet chain ids only); auto: published if there is one, else dev",
    )
    dep.add_argument("--max-anchor-lag", type=int, default=256)
    dep.add_argument("--min-bond", type=int, default=10**18, help="SignedScores bond, wei")
    dep.add_argument("--withdrawal-delay", type=int, default=2 * 86400, help="seconds")
    dep.set_defaults(handler=_deploy)
    nets = actions.add_parser(
        "networks",
        help="print the deployment configs of Ethereum mainnet/Sepolia and Arbitrum One/Sepolia "
        "(RISC Zero's published routers and verifiers, from risc0-ethereum's deployment.toml)",
    )
    nets.set_defaults(handler=_networks)
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
        stack = _deploy_stack(w3, args, image_id, models)
    except requests.RequestException as exc:
        raise ToolError(f"node unreachable: {exc.__class__.__name__}") from None
    print(json.dumps(stack.to_json(), indent=2))
    return 0


def _deploy_stack(
    w3: Web3, args: argparse.Namespace, image_id: bytes, models: dict[bytes, bytes]
) -> contracts.DevStack:
    chain_id = int(w3.eth.chain_id)
    published = risc0_ethereum.production_chains().get(chain_id)
    kwargs: dict[str, Any] = {
        "image_id": image_id,
        "models": models,
        "max_anchor_lag": args.max_anchor_lag,
        "min_bond": args.min_bond,
        "withdrawal_delay": args.withdrawal_delay,
        "private_key": os.environ.get("COPROC_PRIVATE_KEY") or None,
    }
    if args.verifier == "published" or (args.verifier == "auto" and published is not None):
        if published is None:
            names = ", ".join(risc0_ethereum.PRODUCTION_CHAINS)
            raise UserInputError(f"chain id {chain_id}: no published RISC Zero router ({names})")
        return contracts.deploy_production_stack(w3, published, **kwargs)
    return contracts.deploy_dev_stack(w3, **kwargs)


def _networks(args: argparse.Namespace) -> int:
    chains = risc0_ethereum.production_chains()
    print(json.dumps([chain.to_json() for chain in chains.values()], indent=2))
    return 0


def _dev_seal(args: argparse.Namespace) -> int:
    image_id = to_bytes(args.image_id, "--image-id", 32)
    journal = to_bytes(args.journal, "journal")
    print("0x" + receipt_claim.dev_seal(image_id, journal).hex())
    return 0
