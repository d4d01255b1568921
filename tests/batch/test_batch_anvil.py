"""Batches on a real anvil: ``coproc index --spec --subjects`` writes one bundle whose
shared reads and trie nodes appear once; the Python batch over it equals the single
requests; the batch journal is accepted by RiskOracle.submitBatch and every leaf is read
(leafScore) and stored (storeLeaves) with its proof; every single-byte change of the
journal, a leaf or a proof is refused by the contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from anvil_support import anvil_fixture
from eth_abi.abi import encode
from tokenchain import MODEL, SPEC, fund, holder, write_inputs
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from coprocessor.chain.bundle import load_bundle
from coprocessor.cli.main import main
from coprocessor.dev.devnet import AnvilNode
from coprocessor.errors import VerificationError
from coprocessor.onchain import contracts
from coprocessor.scoring import batch, features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import batch_journal, receipt_claim

FUNDED = 40
#: funded holders plus two that never held anything (absent accounts, zero slots)
SUBJECTS = [holder(i) for i in range(FUNDED)] + [holder(500), holder(501)]
IMAGE = Web3.keccak(text="coproc batch test image")
ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    yield from anvil_fixture(tmp_path_factory.mktemp("anvil-batch"), "batch")


@pytest.fixture(scope="module")
def indexed(node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("batch-index")
    block = fund(node.rpc, FUNDED)
    spec_path, model_path = write_inputs(work)
    (work / "subjects.txt").write_text("# holders\n" + "\n".join(SUBJECTS) + "\n")
    base = ["--data-dir", str(work / "data"), "index", "--rpc", node.rpc, "--block", str(block)]
    base += ["--spec", str(spec_path)]
    assert (
        main([*base, "--subjects", str(work / "subjects.txt"), "--out", str(work / "b.json")]) == 0
    )
    singles = {}
    for s in (SUBJECTS[0], SUBJECTS[7], SUBJECTS[-1]):
        out = work / f"single-{s}.json"
        assert main([*base, "--subject", s, "--out", str(out)]) == 0
        singles[s] = load_bundle(out)
    return {
        "block": block,
        "bundle": load_bundle(work / "b.json"),
        "singles": singles,
        "work": work,
        "spec_path": spec_path,
        "model_path": model_path,
    }


def test_one_bundle_shares_reads_and_nodes(indexed: dict[str, Any]) -> None:
    bundle = indexed["bundle"]
    token_reads = [a for a in bundle.accounts if a.address == bytes.fromhex("70" * 20)]
    assert len(token_reads) == 1  # the token once, with every holder's slot + the total
    assert len(token_reads[0].storage) == len(SUBJECTS) + 1
    assert len(bundle.accounts) == len(SUBJECTS) + 1
    nodes = set(bundle.nodes)
    single_nodes = [set(b.nodes) for b in indexed["singles"].values()]
    for s in single_nodes:
        assert s <= nodes  # every single request's proof nodes are in the batch pool
    # the state and storage trie tops are shared: the batch pool is far below the sum
    assert len(nodes) < sum(len(s) for s in single_nodes) * len(SUBJECTS) / len(single_nodes) / 2


def test_batch_equals_single_requests(indexed: dict[str, Any]) -> None:
    spec, model = features.normalize(SPEC), fmt.from_json(MODEL)
    verified = pipeline.verify(indexed["bundle"])
    scored = batch.run(verified, spec, model, SUBJECTS, block=indexed["block"])
    for subject, single in indexed["singles"].items():
        want = pipeline.run(pipeline.verify(single), spec, model, subject, indexed["block"])
        got = scored.results[SUBJECTS.index(subject)]
        assert got.features == want.features and got.score == want.score
    for subject, result in zip(SUBJECTS, scored.results, strict=True):
        assert result == pipeline.run(verified, spec, model, subject, indexed["block"])
    assert len({r.score for r in scored.results}) > 5  # the scores differ by subject


def test_index_refuses_repeated_subjects(
    node: AnvilNode, indexed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    work = indexed["work"]
    out = work / "never.json"
    args = ["--data-dir", str(work / "data"), "index", "--rpc", node.rpc, "--block", "1"]
    args += ["--spec", str(indexed["spec_path"]), "--out", str(out)]
    assert main([*args, "--subjects", f"{SUBJECTS[0]},{SUBJECTS[1]},{SUBJECTS[0]}"]) == 2
    err = capsys.readouterr().err
    assert "[Q002]" in err and "repeats subject 0" in err and "Traceback" not in err
    assert not out.exists()


@pytest.fixture(scope="module")
def oracle(node: AnvilNode) -> tuple[Web3, Contract]:
    contracts.build()
    w3 = Web3(Web3.HTTPProvider(node.rpc))
    owner = w3.eth.accounts[0]
    dev = contracts.deploy(w3, "DevVerifier")
    router = contracts.deploy(w3, "RiscZeroVerifierRouter", owner)
    router.functions.addVerifier(b"\xff\xff\xff\xff", dev.address).transact({"from": owner})
    oracle = contracts.deploy(w3, "RiskOracle", owner, router.address, ZERO, 0, 64)
    oracle.functions.allowImageId(IMAGE, True).transact({"from": owner})
    m, s = fmt.from_json(MODEL).hash(), features.spec_hash(features.normalize(SPEC))
    oracle.functions.registerModel(m, s).transact({"from": owner})
    return w3, oracle


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def _refused(call: Any) -> None:
    with pytest.raises((ContractCustomError, ContractLogicError)):
        call.call()


def test_batch_on_chain_every_byte_checked(
    indexed: dict[str, Any], oracle: tuple[Web3, Contract]
) -> None:
    w3, contract = oracle
    scored = batch.run(
        pipeline.verify(indexed["bundle"]),
        features.normalize(SPEC),
        fmt.from_json(MODEL),
        SUBJECTS,
        request_ids=[Web3.keccak(text=s) for s in SUBJECTS],
        block=indexed["block"],
    )
    journal = batch_journal.encode_fields(scored.journal_fields())
    seal = receipt_claim.dev_seal(bytes(IMAGE), journal)
    for i in range(len(journal)):  # any other journal: refused (never the same claim)
        _refused(contract.functions.submitBatch(_flip(journal, i), seal))
    tx = contract.functions.submitBatch(journal, seal).transact({"from": list(w3.eth.accounts)[1]})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    root, hashes, leaves = scored.root, scored.leaf_hashes, scored.leaves
    for i, leaf in enumerate(leaves):
        proof = batch.proof(hashes, i)
        assert contract.functions.leafScore(root, leaf.as_tuple(), proof, 3600).call() == leaf.score
    # one leaf, every byte: of its encoding (through the ABI) and of its proof
    leaf, proof = leaves[3], batch.proof(hashes, 3)
    raw = encode(batch_journal.LEAF_TYPES, list(leaf.as_tuple()))
    for i in range(len(raw)):
        try:
            bad = batch_journal.decode_leaf(_flip(raw, i))
        except VerificationError:  # a bit beyond the field's type: no such leaf
            continue
        _refused(contract.functions.leafScore(root, bad.as_tuple(), proof, 3600))
    for s in range(len(proof)):
        for i in range(32):
            bad_proof = list(proof)
            bad_proof[s] = _flip(proof[s], i)
            _refused(contract.functions.leafScore(root, leaf.as_tuple(), bad_proof, 3600))
    # store every leaf; the oracle then serves each subject's score
    proofs = [batch.proof(hashes, i) for i in range(len(leaves))]
    tx = contract.functions.storeLeaves(
        [root] * len(leaves), [x.as_tuple() for x in leaves], proofs
    ).transact({"from": list(w3.eth.accounts)[2]})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    model_hash = fmt.from_json(MODEL).hash()
    for leaf in leaves:
        score, block, _at = contract.functions.scoreOf(
            Web3.to_checksum_address(leaf.subject), model_hash
        ).call()
        assert (score, block) == (leaf.score, indexed["block"])
    assert json.dumps(scored.journal_fields(), default=str)  # fields are plain values
