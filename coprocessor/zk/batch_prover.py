"""Batch receipts (docs/formats.md §5): many subjects proven in one guest run, through
``coproc-host execute|prove --subjects``. The receipt file is the host's
``coproc-receipt`` v1 whose journal is batch journal v1, plus a ``batch`` object written
here: every leaf (computed by the Python twin, :mod:`coprocessor.scoring.batch`) with its
hash. A leaf is read from the file only after its hashes fold into the proven journal's
results root, so a file whose leaves were edited is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.chain.hexutil import to_bytes
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.index.indexer import write_json_atomic
from coprocessor.scoring import batch as scoring_batch
from coprocessor.scoring.batch import BatchScored, Leaf
from coprocessor.zk import batch_journal, prover


@dataclass(frozen=True)
class BatchProveRequest:
    """A batch request to the guest: its three input files and the subjects."""

    bundle: Path
    model: Path
    spec: Path
    #: the subjects, 0x-hex, distinct (the guest refuses repeats)
    subjects: tuple[str, ...]
    #: one bytes32 per subject (default: all zero)
    request_ids: tuple[bytes, ...] | None = None
    #: the batch id (default zero: the guest commits the results root)
    batch_id: bytes | None = None
    block: int | None = None

    def args(self) -> list[str]:
        """The host's options (lists comma-separated)."""
        args = ["--bundle", str(self.bundle), "--model", str(self.model), "--spec", str(self.spec)]
        args += ["--subjects", ",".join(self.subjects)]
        if self.request_ids is not None:
            args += ["--request-ids", ",".join("0x" + r.hex() for r in self.request_ids)]
        if self.batch_id is not None:
            args += ["--batch-id", "0x" + self.batch_id.hex()]
        if self.block is not None:
            args += ["--block", str(self.block)]
        return args


def execute(
    request: BatchProveRequest, *, timeout: float = prover.EXECUTE_TIMEOUT
) -> dict[str, Any]:
    """Run the batch in the zkVM executor (no proof): journal, cycles."""
    return prover.run_host(
        ["execute", *request.args()], timeout=timeout, env={"RISC0_DEV_MODE": "0"}
    )


def prove(
    request: BatchProveRequest,
    out: str | Path,
    scored: BatchScored,
    *,
    dev: bool = False,
    receipt_kind: str = "composite",
    timeout: float = prover.PROVE_TIMEOUT,
    on_progress: prover.Progress | None = None,
) -> dict[str, Any]:
    """Prove a batch into ``out``; ``scored`` is the Python twin's result of the same
    request: its journal must be the guest's, byte for byte, and its leaves are written
    into the receipt file (atomically, after the host's write)."""
    args = ["prove", *request.args(), "--out", str(out), "--receipt-kind", receipt_kind]
    env = {"RISC0_DEV_MODE": "1" if dev else "0"}
    summary = prover.run_host(args, timeout=timeout, env=env, on_progress=on_progress)
    doc = prover.load_receipt(out)
    expected = batch_journal.encode_fields(scored.journal_fields())
    if doc.get("journal_hex") != "0x" + expected.hex():
        Path(out).unlink(missing_ok=True)
        raise VerificationError(
            "batch: the guest's journal differs from the Python pipeline's for this request"
        )
    doc["batch"] = batch_section(scored)
    write_json_atomic(Path(out), doc)
    if dev:
        summary["warning"] = prover.DEV_WARNING
    summary["batch"] = {"count": len(scored.results), "results_root": "0x" + scored.root.hex()}
    return summary


def batch_section(scored: BatchScored) -> dict[str, Any]:
    """What a batch receipt file carries beside the receipt: the leaves and their hashes."""
    return {
        "leaves": [
            {**leaf.to_json(), "hash": "0x" + h.hex()}
            for leaf, h in zip(scored.leaves, scored.leaf_hashes, strict=True)
        ]
    }


def _leaf(obj: object, where: str) -> Leaf:
    if not isinstance(obj, dict):
        raise VerificationError(f"{where}: expected an object")
    try:
        return Leaf(
            block_number=int(obj["blockNumber"]),
            subject="0x" + to_bytes(obj["subject"], "subject", 20).hex(),
            model_hash=to_bytes(obj["modelHash"], "modelHash", 32),
            feature_spec_hash=to_bytes(obj["featureSpecHash"], "featureSpecHash", 32),
            score=int(obj["score"]),
            request_id=to_bytes(obj["requestId"], "requestId", 32),
        )
    except (KeyError, TypeError, ValueError, UserInputError) as exc:
        raise VerificationError(f"{where}: malformed leaf ({exc})") from None


def receipt_leaves(doc: dict[str, Any]) -> tuple[bytes, list[Leaf]]:
    """The journal and the leaves of a batch receipt file, checked: the leaves fold into
    the journal's results root and their number is its count. (The receipt itself, and
    so the journal, is checked by ``coproc-host verify``.)"""
    journal = to_bytes(doc.get("journal_hex"), "journal_hex")
    fields = batch_journal.decode_batch(journal)
    section = doc.get("batch")
    items = section.get("leaves") if isinstance(section, dict) else None
    if not isinstance(items, list):
        raise VerificationError("batch receipt: no batch.leaves")
    leaves = [_leaf(item, f"batch.leaves[{i}]") for i, item in enumerate(items)]
    if len(leaves) != fields["count"]:
        raise VerificationError(
            f"batch receipt: {len(leaves)} leaves, the journal commits {fields['count']}"
        )
    if scoring_batch.root([leaf.hash() for leaf in leaves]) != fields["resultsRoot"]:
        raise VerificationError("batch receipt: the leaves do not make the journal's results root")
    return journal, leaves


def leaf_with_proof(doc: dict[str, Any], which: str) -> dict[str, Any]:
    """One leaf of a batch receipt (by index or subject) with its Merkle proof."""
    journal, leaves = receipt_leaves(doc)
    index = _index(leaves, which)
    hashes = [leaf.hash() for leaf in leaves]
    siblings = scoring_batch.proof(hashes, index)
    batch_journal.check_leaf(journal, leaves[index], index, siblings)
    return {
        "index": index,
        "leaf": leaves[index].to_json(),
        "leaf_hash": "0x" + hashes[index].hex(),
        "proof": ["0x" + s.hex() for s in siblings],
        "results_root": "0x" + scoring_batch.root(hashes).hex(),
    }


def _index(leaves: Sequence[Leaf], which: str) -> int:
    if which.startswith("0x"):
        subject = "0x" + to_bytes(which, "--leaf", 20).hex()
        for i, leaf in enumerate(leaves):
            if leaf.subject == subject:
                return i
        raise UserInputError(f"--leaf {which}: no leaf of this subject in the batch")
    try:
        index = int(which)
    except ValueError:
        raise UserInputError(f"--leaf {which}: expected an index or a subject address") from None
    if not 0 <= index < len(leaves):
        raise UserInputError(f"--leaf {which}: index out of range (0..{len(leaves) - 1})")
    return index


def is_batch_receipt(doc: dict[str, Any]) -> bool:
    """Whether a receipt file's journal is a batch journal (224 bytes)."""
    text = doc.get("journal_hex")
    return isinstance(text, str) and len(text) == 2 + 2 * batch_journal.LENGTH


__all__ = [
    "BatchProveRequest",
    "batch_section",
    "execute",
    "is_batch_receipt",
    "leaf_with_proof",
    "prove",
    "receipt_leaves",
]
