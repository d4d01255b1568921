"""``coproc prove --subjects``: many subjects in one receipt (batch journal v1,
docs/formats.md §5). The Python pipeline computes the same batch first (its journal must
be the guest's byte for byte) and its leaves go into the receipt file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from coprocessor.chain.hexutil import to_bytes
from coprocessor.errors import UserInputError
from coprocessor.scoring import batch, features, pipeline
from coprocessor.scoring.models import model as model_format
from coprocessor.zk import batch_prover, prover, router_seal


def _request_ids(text: str | None, count: int) -> tuple[bytes, ...] | None:
    if text is None:
        return None
    if text.startswith("0x"):
        items = text.split(",")
    else:
        try:
            items = Path(text).read_text().split()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserInputError(f"--request-ids {text}: cannot read ({exc})") from None
    ids = tuple(to_bytes(s.strip(), f"--request-ids[{i}]", 32) for i, s in enumerate(items))
    if len(ids) != count:
        raise UserInputError(f"--request-ids has {len(ids)} ids for {count} subjects")
    return ids


def add_seal_facts(summary: dict[str, Any], args: argparse.Namespace) -> None:
    """Whether the image ID is the committed one and, for Groth16 and dev receipts, what
    RISC Zero's router (``RiskOracle.submit``/``submitBatch``) takes, checked:
    selector ‖ seal."""
    summary["image_id_matches_spec"] = summary.get("image_id") == prover.committed_image_id()
    if args.receipt_kind == "groth16" or summary.get("receipt_kind") == "fake":
        summary["router_seal"] = "0x" + router_seal.router_seal(summary, str(args.out)).hex()


def cmd_prove_batch(args: argparse.Namespace, progress: prover.Progress) -> int:
    """Prove the batch of ``--subjects``; print the summary."""
    if args.request_id is not None:
        raise UserInputError("--request-id goes with --subject (use --request-ids)")
    subjects = batch.load_subjects(args.subjects)
    ids = _request_ids(args.request_ids, len(subjects))
    batch_id = None if args.batch_id is None else to_bytes(args.batch_id, "--batch-id", 32)
    scored = batch.run(
        pipeline.verify_file(args.bundle),
        features.load(args.spec),
        model_format.load(args.model),
        subjects,
        request_ids=ids,
        block=args.block,
        batch_id=batch_id or bytes(32),
    )
    request = batch_prover.BatchProveRequest(
        Path(args.bundle),
        Path(args.model),
        Path(args.spec),
        tuple(subjects),
        ids,
        batch_id,
        args.block,
    )
    summary = batch_prover.prove(
        request,
        args.out,
        scored,
        dev=args.dev,
        receipt_kind=args.receipt_kind,
        timeout=args.timeout,
        on_progress=None if args.quiet else progress,
    )
    add_seal_facts(summary, args)
    summary["recorded"] = None  # the receipt index holds single-subject receipts only
    print(json.dumps(summary, indent=1))
    return 0
