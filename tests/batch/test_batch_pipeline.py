"""The Python batch (coprocessor/scoring/batch.py) on the committed lending vector: each
leaf equals the single-subject pipeline's result and the vector's score, the root equals
a tree built here independently (eth_utils keccak, words packed by hand), the guest's
batch rules carry their codes, and every single-byte change of a batch journal, a leaf
or a leaf proof is rejected."""

from __future__ import annotations

import json

import pytest
from eth_utils.crypto import keccak as keccak_ref
from locations import REPO, VECTORS

from coprocessor.chain.bundle import VerifiedBundle, parse_bundle
from coprocessor.errors import CoprocessorError, UserInputError, VerificationError
from coprocessor.scoring import batch, features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.reads import reads_for_spec
from coprocessor.zk import batch_journal, receipt_claim

VECTOR = json.loads((VECTORS / "features" / "lending_bundle.json").read_text())
SPEC = features.load(REPO / VECTOR["spec_file"])
MODEL = fmt.from_json(json.loads((REPO / VECTOR["model_file"]).read_text()))
CASES = VECTOR["cases"]
SUBJECTS = [c["subject"] for c in CASES]
BLOCK = CASES[0]["block"]
IDS = [bytes([i + 1]) * 32 for i in range(len(SUBJECTS))]
IMAGE = bytes(range(32))


@pytest.fixture(scope="module")
def verified() -> VerifiedBundle:
    return pipeline.verify(parse_bundle(VECTOR["bundle"]))


@pytest.fixture(scope="module")
def scored(verified: VerifiedBundle) -> batch.BatchScored:
    return batch.run(verified, SPEC, MODEL, SUBJECTS, request_ids=IDS, block=BLOCK)


def ref_leaf_hash(
    block: int, subject: str, model: bytes, spec: bytes, score: int, rid: bytes
) -> bytes:
    words = (
        block.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(subject[2:])
        + model
        + spec
        + score.to_bytes(32, "big")
        + rid
    )
    return keccak_ref(keccak_ref(words))


def ref_root(level: list[bytes]) -> bytes:
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            nxt.append(keccak_ref(b"".join(sorted(level[i : i + 2]))))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def test_leaves_are_the_single_requests_and_the_vector(
    verified: VerifiedBundle, scored: batch.BatchScored
) -> None:
    assert len(CASES) >= 3 and all(c["block"] == BLOCK for c in CASES)
    for case, result, leaf, rid in zip(CASES, scored.results, scored.leaves, IDS, strict=True):
        single = pipeline.run(verified, SPEC, MODEL, case["subject"], BLOCK)
        assert result == single
        assert leaf.score == case["score"] and list(result.features.values) == case["vector"]
        assert (leaf.block_number, leaf.subject, leaf.request_id) == (BLOCK, case["subject"], rid)
        assert "0x" + leaf.model_hash.hex() == VECTOR["model_hash"]


def test_root_equals_an_independent_tree(scored: batch.BatchScored) -> None:
    hashes = [
        ref_leaf_hash(
            BLOCK,
            c["subject"],
            scored.results[0].model_hash,
            scored.results[0].spec_hash,
            c["score"],
            rid,
        )
        for c, rid in zip(CASES, IDS, strict=True)
    ]
    assert scored.leaf_hashes == hashes
    assert scored.root == ref_root(hashes)
    # odd sizes carry a node up; every size's root agrees
    for n in range(1, 40):
        level = [keccak_ref(bytes([i])) for i in range(n)]
        assert batch.root(level) == ref_root(level)
        for i in range(n):
            assert batch.verify(level[i], batch.proof(level, i), ref_root(level))


def test_journal_fields_and_default_batch_id(
    verified: VerifiedBundle, scored: batch.BatchScored
) -> None:
    fields = scored.journal_fields()
    anchor = VECTOR["bundle"]["anchor"]
    assert fields["count"] == len(SUBJECTS) and fields["anchorNumber"] == anchor["number"]
    assert fields["batchId"] == scored.root  # a zero batch id commits the root
    given = batch.run(verified, SPEC, MODEL, SUBJECTS, block=BLOCK, batch_id=b"\x05" * 32)
    assert given.batch_id == b"\x05" * 32
    assert given.root != scored.root  # other request ids, other leaves
    journal = batch_journal.encode_fields(fields)
    assert len(journal) == 224
    assert batch_journal.decode_batch(journal) == fields


@pytest.mark.parametrize(
    ("subjects", "rule"),
    [
        (
            [SUBJECTS[0], SUBJECTS[1], SUBJECTS[0].upper().replace("0X", "0x")],
            "batch_subject_unique",
        ),
        ([], "batch_size"),
        ([f"0x{i + 1:040x}" for i in range(batch.MAX_SUBJECTS + 1)], "batch_size"),
    ],
)
def test_batch_rules(verified: VerifiedBundle, subjects: list[str], rule: str) -> None:
    with pytest.raises(UserInputError) as err:
        batch.run(verified, SPEC, MODEL, subjects, block=BLOCK)
    assert err.value.rule == rule
    assert err.value.code in ("Q002", "Q003")


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def test_every_byte_of_leaf_proof_and_journal_is_checked(scored: batch.BatchScored) -> None:
    journal = batch_journal.encode_fields(scored.journal_fields())
    seal = receipt_claim.dev_seal(IMAGE, journal)
    hashes = scored.leaf_hashes
    for index, leaf in enumerate(scored.leaves):
        siblings = batch.proof(hashes, index)
        batch_journal.check_leaf(journal, leaf, index, siblings)
        # the leaf: every byte of its ABI encoding
        raw = b"".join(
            [
                leaf.block_number.to_bytes(32, "big"),
                bytes(12),
                bytes.fromhex(leaf.subject[2:]),
                leaf.model_hash,
                leaf.feature_spec_hash,
                leaf.score.to_bytes(32, "big"),
                leaf.request_id,
            ]
        )
        assert batch_journal.decode_leaf(raw) == leaf
        for i in range(len(raw)):
            try:
                bad = batch_journal.decode_leaf(_flip(raw, i))
            except VerificationError:
                continue  # a bit beyond its field's type: not a leaf at all
            assert bad != leaf
            with pytest.raises(VerificationError):
                batch_journal.check_leaf(journal, bad, index, siblings)
        # the proof: every byte, and a sibling dropped or added
        for s in range(len(siblings)):
            for i in range(32):
                bad_proof = list(siblings)
                bad_proof[s] = _flip(siblings[s], i)
                with pytest.raises(VerificationError):
                    batch_journal.check_leaf(journal, leaf, index, bad_proof)
        for bad_proof in (siblings[:-1], [*siblings, siblings[-1]]):
            with pytest.raises(VerificationError):
                batch_journal.check_leaf(journal, leaf, index, bad_proof)
    # the journal: every byte changes its claim (the seal no longer fits) and most are
    # refused by the leaf check itself
    leaf0, proof0 = scored.leaves[0], batch.proof(hashes, 0)
    for i in range(len(journal)):
        changed = _flip(journal, i)
        assert receipt_claim.dev_seal(IMAGE, changed) != seal
        if 128 <= i < 160:  # resultsRoot
            with pytest.raises(VerificationError):
                batch_journal.check_leaf(changed, leaf0, 0, proof0)


def test_decoder_refuses_malformed_journals(scored: batch.BatchScored) -> None:
    journal = batch_journal.encode_fields(scored.journal_fields())
    for bad in (journal[:-1], journal + b"\x00", bytes(224)):
        with pytest.raises(CoprocessorError):
            batch_journal.decode_batch(bad)
    for word in (0, 1, 2, 5):  # version, chainId, anchorNumber, count: range checked
        with pytest.raises(VerificationError):
            batch_journal.decode_batch(_flip(journal, 32 * word))


def test_batch_reads_share_subject_independent_reads() -> None:
    merged = batch.batch_reads(SPEC, SUBJECTS, BLOCK)
    singles = [reads_for_spec(SPEC, s, BLOCK) for s in SUBJECTS]
    for number, reads in merged.items():
        addresses = [r.address for r in reads]
        assert len(addresses) == len(set(addresses))
        for read in reads:
            want = {
                slot
                for single in singles
                for r in single.get(number, [])
                if r.address == read.address
                for slot in r.slots
            }
            assert set(read.slots) == want and len(read.slots) == len(want)
