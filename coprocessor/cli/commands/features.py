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
    out: dict[str, Any] = {"spec": spec.name, "spec_hash": hexstr(features.spec_hash(spec))}
    if args.bundle is None:
        out["features"] = list(spec.names)
        print(json.dumps(out, indent=1))
        return 0
    if args.subject is None:
        from coprocessor.errors import UserInputError

        raise UserInputError("--subject is required with --bundle")
    from coprocessor.scoring import pipeline

    verified = pipeline.verify_file(args.bundle)
    if not args.model:
        out.update(pipeline.feature_vector(verified, spec, args.subject, args.block).to_json())
        print(json.dumps(out, indent=1))
        return 0
    from coprocessor.scoring.models import model as fmt

    m = fmt.load(args.model)
    scored = pipeline.run(verified, spec, m, args.subject, args.block)
    out.update(scored.features.to_json())
    out["model_hash"] = hexstr(scored.model_hash)
    out["score"] = scored.score
    print(json.dumps(out, indent=1))
    return 0
