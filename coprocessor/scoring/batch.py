"""Many subjects in one request, the twin of the guest's ``batch::run``
(guest/core/src/batch.rs, docs/formats.md §5): one verified bundle, one spec, one model
and one request block give every subject's result, the leaves of batch journal v1 and
the results root. The leaf and the sorted-pair keccak tree are defined here (the zk
layer's ``batch_journal`` encodes the journal around them); tests keep the root equal to
the Rust core's and to ``contracts/src/utils/SortedMerkle.sol``'s.

The bundle's values are read once for all subjects (the guest likewise verifies the
bundle once); the indexer's reads for a batch are the union of each subject's
(:func:`batch_reads`), so nodes shared by subjects are fetched and stored once. The
bundle is v1 or v2 (``pipeline.verify_file`` reads either): a v2 bundle's hops and the
samples of a spec v2 series serve every subject. (The guest also computes the
subject-free features once, ``features::subject_free``; here every subject's vector is
computed whole: the values are the same by definition, and tests compare them.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from coprocessor.chain.bundle import VerifiedBundle
from coprocessor.chain.hexutil import parse_address
from coprocessor.errors import UserInputError
from coprocessor.index.indexer import Read
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models import reference
from coprocessor.scoring.models.model import Model
from coprocessor.scoring.reads import reads_for_spec

#: batch journal v1 version
BATCH_VERSION = 1
#: most subjects one batch takes (rule ``batch_size``, as ``batch::MAX_SUBJECTS``)
MAX_SUBJECTS = 4096
LEAF_TYPES = ["uint64", "address", "bytes32", "bytes32", "uint32", "bytes32"]
ZERO32 = bytes(32)


@dataclass(frozen=True)
class Leaf:
    """One result of a batch."""

    block_number: int
    subject: str
    model_hash: bytes
    feature_spec_hash: bytes
    score: int
    request_id: bytes

    def as_tuple(self) -> tuple[int, str, bytes, bytes, int, bytes]:
        """ABI order (also the contract's ``Leaf`` struct as a web3 argument, so the
        subject is checksummed)."""
        return (
            self.block_number,
            to_checksum_address(self.subject),
            self.model_hash,
            self.feature_spec_hash,
            self.score,
            self.request_id,
        )

    def hash(self) -> bytes:
        """keccak256(keccak256(abi.encode(fields))): double-hashed so that no internal
        node (64 bytes of hashes) can pass as a leaf."""
        return bytes(keccak(keccak(encode(LEAF_TYPES, list(self.as_tuple())))))

    def to_json(self) -> dict[str, Any]:
        """The leaf by field name (the contract's struct names), hex strings."""
        return {
            "blockNumber": self.block_number,
            "subject": self.subject,
            "modelHash": "0x" + self.model_hash.hex(),
            "featureSpecHash": "0x" + self.feature_spec_hash.hex(),
            "score": self.score,
            "requestId": "0x" + self.request_id.hex(),
        }


def _parent(a: bytes, b: bytes) -> bytes:
    return bytes(keccak(a + b if a < b else b + a))


def _up(level: list[bytes]) -> list[bytes]:
    return [
        _parent(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
        for i in range(0, len(level), 2)
    ]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root of the tree over ``leaf_hashes`` (pairs sorted, an odd node carried up)."""
    if not leaf_hashes:
        raise UserInputError("empty batch has no root")
    level = list(leaf_hashes)
    while len(level) > 1:
        level = _up(level)
    return level[0]


def proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` up to the root."""
    if not 0 <= index < len(leaf_hashes):
        raise UserInputError(f"leaf index {index} out of range (0..{len(leaf_hashes) - 1})")
    out: list[bytes] = []
    level = list(leaf_hashes)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            out.append(level[sibling])
        level = _up(level)
        index //= 2
    return out


def verify(leaf_hash: bytes, siblings: Sequence[bytes], expected_root: bytes) -> bool:
    """Whether ``siblings`` fold ``leaf_hash`` into ``expected_root``."""
    node = leaf_hash
    for sibling in siblings:
        node = _parent(node, sibling)
    return node == expected_root


def check_subjects(subjects: Sequence[str]) -> list[str]:
    """The subjects as lowercase 0x-hex; 1..MAX_SUBJECTS of them, none repeated."""
    if not 1 <= len(subjects) <= MAX_SUBJECTS:
        raise UserInputError(
            f"a batch holds 1..={MAX_SUBJECTS} subjects, not {len(subjects)}", rule="batch_size"
        )
    out = ["0x" + parse_address(s, f"subjects[{i}]").hex() for i, s in enumerate(subjects)]
    seen: dict[str, int] = {}
    for i, s in enumerate(out):
        if s in seen:
            raise UserInputError(
                f"batch subject {i} ({s}) repeats subject {seen[s]}",
                rule="batch_subject_unique",
            )
        seen[s] = i
    return out


@dataclass(frozen=True)
class BatchScored:
    """What a batch yields: each subject's result, the leaves and the journal fields."""

    results: tuple[pipeline.Scored, ...]
    request_ids: tuple[bytes, ...]
    #: the batch id committed (the results root when the request's was zero)
    batch_id: bytes

    @property
    def leaves(self) -> list[Leaf]:
        return [
            Leaf(r.block, r.subject, r.model_hash, r.spec_hash, r.score, rid)
            for r, rid in zip(self.results, self.request_ids, strict=True)
        ]

    @property
    def leaf_hashes(self) -> list[bytes]:
        return [leaf.hash() for leaf in self.leaves]

    @property
    def root(self) -> bytes:
        return root(self.leaf_hashes)

    def journal_fields(self) -> dict[str, Any]:
        """Batch journal v1 by field name (``coprocessor.zk.batch_journal``)."""
        first = self.results[0]
        return {
            "version": BATCH_VERSION,
            "chainId": first.chain_id,
            "anchorNumber": first.anchor_number,
            "anchorHash": first.anchor_hash,
            "resultsRoot": self.root,
            "count": len(self.results),
            "batchId": self.batch_id,
        }


def run(
    verified: VerifiedBundle,
    spec: features.Spec,
    model: Model,
    subjects: Sequence[str],
    *,
    request_ids: Sequence[bytes] | None = None,
    block: int | None = None,
    batch_id: bytes = ZERO32,
) -> BatchScored:
    """Every subject's result over one verified bundle (``batch::run``)."""
    names = check_subjects(subjects)
    ids = tuple(request_ids) if request_ids is not None else (ZERO32,) * len(names)
    if len(ids) != len(names) or any(len(r) != 32 for r in ids) or len(batch_id) != 32:
        raise UserInputError("batch: one 32-byte request id per subject, a 32-byte batch id")
    b = pipeline.request_block(verified, block)
    if len(spec.features) != model.input_dim:
        raise UserInputError(
            f"feature spec: the spec yields {len(spec.features)} features, "
            f"the model takes {model.input_dim}",
            rule="feature_count",
        )
    vectors = features.compute_bundle_many(spec, verified, names, b)  # one index, all subjects
    anchor = verified.anchor
    model_hash, spec_hash = model.hash(), features.spec_hash(spec)
    results = []
    for vector in vectors:
        results.append(
            pipeline.Scored(
                features=vector,
                score=reference.score(model, vector.values),
                chain_id=verified.bundle.chain_id,
                anchor_number=anchor.number,
                anchor_hash=anchor.hash,
                block=vector.block,
                subject=vector.subject,
                model_hash=model_hash,
                spec_hash=spec_hash,
            )
        )
    scored = BatchScored(tuple(results), ids, batch_id)
    if batch_id == ZERO32:
        scored = BatchScored(scored.results, ids, scored.root)
    return scored


def load_subjects(text: str) -> list[str]:
    """Subjects given as ``A,B,C`` or as a file of addresses (one a line, or separated by
    commas or blanks; ``#`` starts a comment), checked by :func:`check_subjects`."""
    if text.startswith("0x"):
        items = text.split(",")
        where = "--subjects"
    else:
        path = Path(text)
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserInputError(f"--subjects {text}: cannot read ({exc})") from None
        items = [w for line in lines for w in line.split("#", 1)[0].replace(",", " ").split()]
        where = f"--subjects {text}"
    items = [s.strip() for s in items]
    if any(not s for s in items):
        raise UserInputError(f"{where}: an empty subject")
    try:
        return check_subjects(items)
    except UserInputError as exc:
        raise UserInputError(f"{where}: {exc.message}", rule=exc.rule) from None


def batch_reads(spec: features.Spec, subjects: Sequence[str], block: int) -> dict[int, list[Read]]:
    """The reads a batch needs, by block: the union of every subject's, each account
    once per block with its slots in first-seen order (what ``coproc index --subjects``
    fetches into one bundle)."""
    merged: dict[int, dict[bytes, dict[bytes, None]]] = {}  # dicts as ordered sets
    for subject in check_subjects(subjects):
        for number, reads in reads_for_spec(spec, subject, block).items():
            accounts = merged.setdefault(number, {})
            for read in reads:
                accounts.setdefault(read.address, {}).update(dict.fromkeys(read.slots))
    return {
        number: [Read(address, tuple(slots)) for address, slots in accounts.items()]
        for number, accounts in merged.items()
    }


__all__ = [
    "MAX_SUBJECTS",
    "BatchScored",
    "Leaf",
    "batch_reads",
    "check_subjects",
    "load_subjects",
    "proof",
    "root",
    "run",
    "verify",
]
