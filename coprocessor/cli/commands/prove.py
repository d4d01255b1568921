"""``coproc prove`` and ``coproc verify-receipt``: the zkVM guest through ``coproc-host``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from coprocessor.chain.hexutil import parse_address
from coprocessor.cli.commands import prove_batch
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.paths import data_dir
from coprocessor.zk import batch_prover, prover, receipt_store


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "prove",
        help="prove a risk score in the RISC Zero zkVM (writes a receipt file)",
        description=(
            "Runs the guest on a proof bundle, a model and a feature spec: it re-verifies "
            "every header and proof, computes the features and the score, and commits "
            "journal v1. Local CPU proving gives composite receipts; with BONSAI_API_URL "
            "and BONSAI_API_KEY set the proof runs on a Bonsai-compatible service."
        ),
    )
    p.add_argument("--bundle", required=True, help="proof bundle v1 JSON file")
    p.add_argument("--model", required=True, help="model v1 JSON file")
    p.add_argument("--spec", required=True, help="feature spec v1 JSON file")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--subject", help="address scored ($subject)")
    who.add_argument(
        "--subjects",
        help="a batch: many addresses (A,B,C or a file, one a line) proven in one receipt "
        "committing batch journal v1 (docs/formats.md §5)",
    )
    p.add_argument("--request-id", help="bytes32 hex or a decimal integer (default 0)")
    p.add_argument(
        "--request-ids", help="with --subjects: one bytes32 hex per subject (A,B,C or a file)"
    )
    p.add_argument("--batch-id", help="with --subjects: bytes32 hex (default: the results root)")
    p.add_argument("--block", type=int, help="request block B (default: the bundle's anchor)")
    p.add_argument("--out", required=True, help="receipt file to write")
    p.add_argument(
        "--dev",
        action="store_true",
        help="RISC0_DEV_MODE: real execution, FAKE receipt (mock verifiers only)",
    )
    p.add_argument(
        "--receipt-kind",
        choices=("composite", "succinct", "groth16"),
        default="composite",
        help="composite works locally; succinct/groth16 need a remote (Bonsai) prover; "
        "groth16 (and --dev) receipts also print router_seal, the seal RISC Zero's router takes",
    )
    p.add_argument("--timeout", type=float, default=prover.PROVE_TIMEOUT, help="seconds")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--no-record",
        action="store_true",
        help=f"do not index the receipt in <data dir>/{receipt_store.FILE_NAME}",
    )
    p.set_defaults(handler=cmd_prove)

    r = subparsers.add_parser(
        "receipts",
        help=f"list the receipts `coproc prove` recorded (<data dir>/{receipt_store.FILE_NAME})",
    )
    r.add_argument("--claim", help="only receipts of this claim digest (0x-hex)")
    r.add_argument("--limit", type=int, default=100, help="newest N rows (default 100)")
    r.add_argument("--json", action="store_true", help="JSON output")
    r.set_defaults(handler=cmd_receipts)

    v = subparsers.add_parser(
        "verify-receipt",
        help="verify a receipt file against the guest's image ID (exit 1 if it does not verify)",
    )
    v.add_argument("receipt", help="receipt file written by `coproc prove`")
    v.add_argument("--image-id", help="expected image ID (default: the installed guest's)")
    v.add_argument(
        "--dev", action="store_true", help="accept dev-mode (fake) receipts, labelled as such"
    )
    v.add_argument(
        "--leaf",
        help="batch receipt: print this leaf (index or subject) with its Merkle proof",
    )
    v.set_defaults(handler=cmd_verify_receipt)


def _progress(event: dict[str, Any]) -> None:
    print(f"coproc prove: {json.dumps(event, sort_keys=True)}", file=sys.stderr)


def cmd_prove(args: argparse.Namespace) -> int:
    if args.subjects is not None:
        return prove_batch.cmd_prove_batch(args, _progress)
    if args.request_ids is not None or args.batch_id is not None:
        raise UserInputError("--request-ids and --batch-id go with --subjects")
    subject = "0x" + parse_address(args.subject, "--subject").hex()
    request = prover.ProveRequest(
        bundle=Path(args.bundle),
        model=Path(args.model),
        spec=Path(args.spec),
        subject=subject,
        request_id=args.request_id,
        block=args.block,
    )
    summary = prover.prove(
        request,
        args.out,
        dev=args.dev,
        receipt_kind=args.receipt_kind,
        timeout=args.timeout,
        on_progress=None if args.quiet else _progress,
    )
    prove_batch.add_seal_facts(summary, args)
    if not args.no_record:
        store = receipt_store.open_default(data_dir(args.data_dir))
        try:
            row = store.record(args.out, prover.load_receipt(args.out))
        finally:
            store.close()
        summary["recorded"] = {"store": str(store.path), "file_sha256": row.file_sha256}
    print(json.dumps(summary, indent=1))
    return 0


def cmd_receipts(args: argparse.Namespace) -> int:
    store = receipt_store.open_default(data_dir(args.data_dir))
    try:
        rows = store.rows(claim_digest=args.claim, limit=args.limit)
        for row in rows:
            row["file"] = store.check(row)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        label = "DEV (fake)" if row["dev_mode"] else row["receipt_kind"]
        print(
            f"{row['claim_digest']}  {label:<10}  chain {row['chain_id']} block "
            f"{row['block_number']}  {row['subject']}  score {row['score']}  "
            f"{row['path']} ({row['file']})"
        )
    if not rows:
        print("no receipts recorded", file=sys.stderr)
    return 0


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    doc = prover.load_receipt(args.receipt)
    if doc.get("dev_mode") and not args.dev:
        raise VerificationError(
            f"{args.receipt} is a dev-mode (fake) receipt: it proves nothing "
            "(pass --dev to check its journal and claim anyway)"
        )
    result = prover.verify_receipt(args.receipt, image_id=args.image_id, dev=args.dev)
    if batch_prover.is_batch_receipt(doc):
        _journal, leaves = batch_prover.receipt_leaves(doc)
        result["batch"] = {"leaves": len(leaves), "leaves_match_root": True}
        if args.leaf is not None:
            result["batch"]["leaf"] = batch_prover.leaf_with_proof(doc, args.leaf)
    elif args.leaf is not None:
        raise UserInputError(f"--leaf: {args.receipt} is not a batch receipt")
    print(json.dumps(result, indent=1))
    return 0
