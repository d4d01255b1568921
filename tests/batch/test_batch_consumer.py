"""The consumer example of batch results (contracts/src/consumer/BatchLeafLendingPool.sol)
on a real anvil, fed exactly what the tools print: ``coproc index --subjects`` and
``coproc prove --dev --subjects`` (the real guest, dev-mode receipt) make a batch receipt,
RiskOracle.submitBatch verifies it with the router seal ``coproc prove`` printed, and
for each subject the leaf and proof that ``coproc verify-receipt --leaf`` prints, passed
by the JSON field names of the contract's ``Leaf`` struct, set its credit in the pool.
The credit equals the Python pipeline's score for that subject; the same leaf again is
stale, and a leaf whose printed score was edited is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from anvil_support import anvil_fixture
from batch_support import cli_json, leaf_struct
from tokenchain import MODEL, SPEC, fund, holder, write_inputs
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from coprocessor.dev.devnet import AnvilNode
from coprocessor.onchain import contracts
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models import model as fmt

SUBJECTS = [holder(i) for i in range(6)] + [holder(700)]  # the last never held anything
BASE_LTV = 8_000
MAX_AGE = 3600
#: selector of BatchLeafPoolStaleLeaf(uint64,uint64)
STALE_LEAF = "0x" + Web3.keccak(text="BatchLeafPoolStaleLeaf(uint64,uint64)")[:4].hex()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    yield from anvil_fixture(tmp_path_factory.mktemp("anvil-consumer"), "batch-consumer")


def test_pool_takes_the_leaf_verify_receipt_prints(
    node: AnvilNode,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path_factory.mktemp("batch-consumer")
    block = fund(node.rpc, 6)
    spec_path, model_path = write_inputs(work)
    (work / "subjects.txt").write_text("\n".join(SUBJECTS) + "\n")
    data = ["--data-dir", str(work / "data")]
    bundle = work / "bundle.json"
    index = [*data, "index", "--rpc", node.rpc, "--block", str(block), "--spec", str(spec_path)]
    cli_json([*index, "--subjects", str(work / "subjects.txt"), "--out", str(bundle)], capsys)
    receipt = work / "receipt.json"
    prove = [*data, "prove", "--bundle", str(bundle), "--model", str(model_path)]
    prove += ["--spec", str(spec_path), "--subjects", str(work / "subjects.txt"), "--dev"]
    summary = cli_json([*prove, "--quiet", "--out", str(receipt)], capsys)
    doc = json.loads(receipt.read_text())

    contracts.build()
    w3 = Web3(Web3.HTTPProvider(node.rpc))
    owner = w3.eth.accounts[0]
    model, spec = fmt.from_json(MODEL), features.normalize(SPEC)
    stack = contracts.deploy_dev_stack(
        w3,
        image_id=bytes.fromhex(doc["image_id"][2:]),
        models={model.hash(): features.spec_hash(spec)},
        max_anchor_lag=64,
    )
    oracle = contracts.at(w3, "RiskOracle", stack.oracle)
    journal = bytes.fromhex(doc["journal_hex"][2:])
    seal = bytes.fromhex(summary["router_seal"][2:])
    tx = oracle.functions.submitBatch(journal, seal).transact({"from": owner})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    pool = contracts.deploy(w3, "BatchLeafLendingPool", oracle.address, model.hash(), MAX_AGE,
                            BASE_LTV)  # fmt: skip

    verified = pipeline.verify_file(bundle)
    scores = set()
    for subject in SUBJECTS:
        shown = cli_json(["verify-receipt", str(receipt), "--dev", "--leaf", subject], capsys)
        leaf = shown["batch"]["leaf"]
        root = bytes.fromhex(leaf["results_root"][2:])
        proof = [bytes.fromhex(p[2:]) for p in leaf["proof"]]
        args = (root, leaf_struct(pool, "refreshMaxLtv", leaf["leaf"]), proof)
        want = pipeline.run(verified, spec, model, subject, block).score
        scores.add(want)
        ltv = BASE_LTV * (10_000 - want) // 10_000
        assert pool.functions.quoteMaxLtv(*args).call() == ltv
        tx = pool.functions.refreshMaxLtv(*args).transact({"from": list(w3.eth.accounts)[3]})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        credit = pool.functions.creditOf(Web3.to_checksum_address(subject)).call()
        assert credit[:3] == [ltv, want, block]
        assert pool.functions.maxBorrow(Web3.to_checksum_address(subject), 10**6).call() == (
            10**6 * ltv // 10_000
        )
        with pytest.raises(ContractCustomError) as stale:  # the same leaf again
            pool.functions.refreshMaxLtv(*args).call()
        assert str(stale.value.data).startswith(STALE_LEAF)
        edited = dict(leaf["leaf"], score=leaf["leaf"]["score"] ^ 1)
        with pytest.raises((ContractCustomError, ContractLogicError)):
            pool.functions.quoteMaxLtv(
                root, leaf_struct(pool, "refreshMaxLtv", edited), proof
            ).call()
    assert len(scores) > 3  # the subjects' scores differ: each leaf is its own
