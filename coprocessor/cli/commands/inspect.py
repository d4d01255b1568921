"""``coproc inspect header FILE`` and ``coproc inspect proof FILE --state-root R``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from coprocessor.chain.headers import decode_header, encode_header_json
from coprocessor.chain.hexutil import hexstr, to_bytes
from coprocessor.chain.proofs import verify_proof_response
from coprocessor.errors import UserInputError
from coprocessor.jsonfile import load_json


def register(sub: Any) -> None:
    """Add the ``inspect`` command group."""
    p = sub.add_parser("inspect", help="check a header or an eth_getProof answer")
    what = p.add_subparsers(dest="what", metavar="WHAT")
    what.required = True
    h = what.add_parser("header", help="recompute a header's hash (eth_getBlockByNumber JSON)")
    h.add_argument("file")
    h.add_argument(
        "--extra-field",
        action="append",
        default=[],
        help="header field added by a fork newer than Prague (in RLP order)",
    )
    h.set_defaults(handler=_header)
    pr = what.add_parser("proof", help="verify an eth_getProof answer against a state root")
    pr.add_argument("file")
    pr.add_argument("--state-root", required=True)
    pr.set_defaults(handler=_proof)
    b = what.add_parser("bundle", help="verify a bundle (v1 or v2); its anchor, reads and links")
    b.add_argument("file")
    b.set_defaults(handler=_bundle)


def _load(path: str) -> Any:
    obj = load_json(path, "")
    if not isinstance(obj, dict):
        raise UserInputError(f"{path}: expected a JSON object")
    return obj


def _header(args: argparse.Namespace) -> int:
    obj = _load(args.file)
    if "result" in obj and isinstance(obj["result"], dict):
        obj = obj["result"]  # a raw JSON-RPC answer
    header = decode_header(encode_header_json(obj, args.extra_field))
    stated = obj.get("hash")
    matches = stated is not None and to_bytes(stated, "hash", 32) == header.hash
    print(
        json.dumps(
            {
                "number": header.number,
                "hash": hexstr(header.hash),
                "stated_hash": stated,
                "matches": matches,
                "fields": header.field_count,
            },
            indent=2,
        )
    )
    return 0 if matches else 1


def _proof(args: argparse.Namespace) -> int:
    obj = _load(args.file)
    for key in ("result", "proof"):
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    root = to_bytes(args.state_root, "--state-root", 32)
    verified = verify_proof_response(obj, root)
    print(json.dumps(dict(verified.to_json(), state_root=hexstr(root)), indent=2))
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from coprocessor.cli.commands.index_history import print_inspect

    return print_inspect(args)
