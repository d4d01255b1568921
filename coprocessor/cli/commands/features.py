"""``coproc features``: the Q16 feature vector of a subject from a verified bundle."""

from __future__ import annotations

import argparse
import json
from typing import Any

from coprocessor.chain.hexutil import hexstr
from coprocessor.scoring import features


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "features",
        help="compute a feature vector from a proof bundle (verified first)",
        description="Without --bundle: validate the spec and print its hash.",
    )
    parser.add_argument("--spec", required=True, help="feature spec v1 JSON file")
    parser.add_argument("--bundle", help="proof bundle v1 JSON file")
    parser.add_argument("--subject", help="the account scored ($subject)")
    parser.add_argument("--block", type=int, help="request block (default: the anchor)")
    parser.add_argument("--model", help="also score the vector with this model file")
    parser.set_defaults(handler=cmd_features)


def cmd_features(args: argparse.Namespace) -> int:
    spec = features.load(args.spec)
    out: dict[str, Any] = {"spec": spec["name"], "spec_hash": hexstr(features.spec_hash(spec))}
    if args.bundle is None:
        out["features"] = [f["name"] for f in spec["features"]]
        print(json.dumps(out, indent=1))
        return 0
    if args.subject is None:
        from coprocessor.errors import UserInputError

        raise UserInputError("--subject is required with --bundle")
    from coprocessor.chain.bundle import load_bundle, verify_bundle

    verified = verify_bundle(load_bundle(args.bundle)).to_json()
    vector = features.compute(spec, verified, args.subject, args.block)
    out.update(vector.to_json())
    if args.model:
        from coprocessor.scoring.models import model as fmt
        from coprocessor.scoring.models import reference

        m = fmt.load(args.model)
        out["model_hash"] = m.hash_hex()
        out["score"] = reference.score(m, list(vector.values))
    print(json.dumps(out, indent=1))
    return 0
