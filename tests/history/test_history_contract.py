"""A contract accepts a receipt of a bundle v2: on an anvil serving the devnet history,
RiskOracle (behind RISC Zero's router with the dev verifier, deployed by
``deploy_dev_stack``) takes the guest's dev-mode receipt of a read 60,000 blocks
behind the anchor; the anchor is checked as for any receipt (here by the EIP-2935
history contract, the anchor being 300 blocks old). Nothing on-chain
knows about hops: the receipt commits the one anchor they lead to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from coprocessor.dev.devnet import AnvilNode, stop_pid
from coprocessor.dev.history import VALUE_CONTRACT, History, start_history_node
from coprocessor.onchain import contracts
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.zk import journal as journal_v1
from coprocessor.zk import prover, receipt_claim

BACK = 60_000
SUBJECT = "0x" + "42" * 20
MODEL = {
    "format": "coproc-model",
    "version": 1,
    "name": "history-contract",
    "scale_bits": 16,
    "input_dim": 1,
    "layers": [
        {"op": "dense", "in": 1, "out": 1, "weights": [[65536]], "bias": [-655360]},
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}


def _spec() -> dict[str, Any]:
    """The slot of the history's value contract, BACK blocks behind the request block."""
    read = {"kind": "storage", "address": "0x" + VALUE_CONTRACT.hex(), "slot": {"base": 0}}
    feature = {"name": "old", "read": {**read, "block_offset": BACK}, "decimals": 17}
    return {"format": "coproc-features", "version": 1, "name": "old", "features": [feature]}


def _request(tmp: Path, bundle: dict[str, Any], request_id: str) -> prover.ProveRequest:
    tmp.mkdir(parents=True, exist_ok=True)
    for name, obj in (("bundle", bundle), ("model", MODEL), ("spec", _spec())):
        (tmp / f"{name}.json").write_text(json.dumps(obj))
    files = (tmp / "bundle.json", tmp / "model.json", tmp / "spec.json")
    return prover.ProveRequest(*files, SUBJECT, request_id=request_id)


@pytest.fixture(scope="module")
def node(history: History, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """A node of its own: deploying and mining move its head past the history's."""
    contracts.build()
    node = start_history_node(history, Path(tmp_path_factory.mktemp("history-contract")))
    try:
        yield node
    finally:
        stop_pid(node.pid)


def _receipt(tmp: Path, bundle: dict[str, Any], request_id: str) -> tuple[bytes, bytes]:
    request = _request(tmp, bundle, request_id)
    out = tmp / "receipt.json"
    prover.prove(request, out, dev=True)
    doc = json.loads(out.read_text())
    journal = bytes.fromhex(doc["journal_hex"].removeprefix("0x"))
    seal = bytes.fromhex(doc["seal_hex"].removeprefix("0x"))
    image = bytes.fromhex(prover.committed_image_id().removeprefix("0x"))
    assert seal == receipt_claim.dev_seal(image, journal)  # the mock verifier's form
    return journal, seal


def _oracle(w3: Web3) -> Contract:
    model_hash = fmt.from_json(MODEL).hash()
    spec_hash = features.spec_hash(features.normalize(_spec()))
    stack = contracts.deploy_dev_stack(
        w3,
        image_id=bytes.fromhex(prover.committed_image_id().removeprefix("0x")),
        models={model_hash: spec_hash},
        max_anchor_lag=8191,
    )
    return contracts.at(w3, "RiskOracle", stack.oracle)


def test_risk_oracle_accepts_a_receipt_of_a_read_60000_blocks_back(
    history: History, deep: dict[str, Any], node: AnvilNode, tmp_path: Path
) -> None:
    bundle = deep["json"]
    assert deep["target"] == history.head - BACK and len(deep["plan"].hops) >= 8
    w3 = Web3(Web3.HTTPProvider(node.rpc))
    oracle = _oracle(w3)
    model_hash = fmt.from_json(MODEL).hash()
    # 300 blocks on: the anchor is beyond BLOCKHASH's 256 and checked through EIP-2935.
    # (On an anvil that loaded its blocks with --load-state, BLOCKHASH of a loaded block
    # is not that block's hash -- measured here: RiskOracleAnchorMismatch with the
    # header's hash at block 64,000 -- while the history contract, written as new
    # blocks are mined, holds the right one; so the test checks the anchor there.)
    w3.provider.make_request("anvil_mine", [300])  # type: ignore[arg-type]
    assert 256 < w3.eth.block_number - history.head < 8191
    request_id = "0x" + "01" * 32
    journal, seal = _receipt(tmp_path / "r1", bundle, request_id)
    tx = oracle.functions.submit(journal, seal).transact({"from": w3.eth.accounts[0]})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    score, block, _ = oracle.functions.scoreOf(Web3.to_checksum_address(SUBJECT), model_hash).call()
    decoded = journal_v1.decode(journal)
    assert decoded["anchorNumber"] == history.head and decoded["requestId"] == request_id
    assert decoded["anchorHash"] == bundle["anchor"]["hash"]
    assert (score, block) == (decoded["score"], history.head)
    # the same receipt again is a replay
    with pytest.raises(ContractCustomError):
        oracle.functions.submit(journal, seal).call()
    # a journal changed after proving (a fresh request id, so no replay) is refused
    bad = bytearray(journal)
    bad[9 * 32 + 31] ^= 1  # the request id word
    with pytest.raises(ContractCustomError):
        oracle.functions.submit(bytes(bad), seal).call()
