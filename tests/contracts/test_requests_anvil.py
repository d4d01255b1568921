"""On-chain requests on a real anvil (prague), driven from Python: the example lending
pool requests a score when a position opens, a journal answering that request (built in
Python, dev-sealed) is fulfilled by a third party, the callback sets the LTV; a replay, a
journal for another request, a fulfilment after expiry and an answer to a reorged-away
request are refused; fees and refunds are paid out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD
from web3.types import Wei

from coprocessor.dev.devnet import start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.zk import journal as journal_v1
from coprocessor.zk import receipt_claim

IMAGE_ID = Web3.keccak(text="coproc requests test image")
MODEL = Web3.keccak(text="requests model")
SPEC = Web3.keccak(text="requests spec")
PRICE = 10**16
TIMEOUT = 3600


@pytest.fixture(scope="module")
def w3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web3]:
    contracts.build()
    node = start_anvil("requests", tmp_path_factory.mktemp("anvil-requests"), persist=False)
    try:
        yield Web3(Web3.HTTPProvider(node.rpc))
    finally:
        stop_pid(node.pid)


@pytest.fixture(scope="module")
def deployed(w3: Web3) -> dict[str, Contract]:
    owner = w3.eth.accounts[0]
    stack = contracts.deploy_dev_stack(w3, image_id=IMAGE_ID, models={bytes(MODEL): bytes(SPEC)})
    requests = contracts.deploy(w3, "RiskRequests", owner, stack.oracle, TIMEOUT, 500_000)
    requests.functions.offerModel(MODEL, PRICE).transact({"from": owner})
    pool = contracts.deploy(w3, "CallbackLendingPool", requests.address, MODEL, SPEC, 8000, 100_000)
    return {"requests": requests, "pool": pool}


def _selector(signature: str) -> str:
    return "0x" + function_signature_to_4byte_selector(signature).hex()


def _reverts_with(fn: Any, sender: str, signature: str) -> None:
    with pytest.raises((ContractCustomError, ContractLogicError)) as err:
        fn.call({"from": sender})
    data = err.value.data
    assert str(data)[:10] == _selector(signature), (data, signature)


def _answer(w3: Web3, request: dict[str, Any], score: int) -> tuple[bytes, bytes]:
    """A journal answering ``request`` (the ScoreRequested args), anchored at the previous
    block, and its dev seal."""
    anchor = w3.eth.block_number - 1
    journal = journal_v1.encode(
        {
            "version": 1,
            "chainId": w3.eth.chain_id,
            "anchorNumber": anchor,
            "anchorHash": bytes(w3.eth.get_block(anchor)["hash"]),
            "blockNumber": max(request["blockNumber"], anchor - 1),
            "subject": request["subject"],
            "modelHash": bytes(request["modelHash"]),
            "featureSpecHash": bytes(request["featureSpecHash"]),
            "score": score,
            "requestId": bytes(request["requestId"]),
        }
    )
    return journal, receipt_claim.dev_seal(bytes(IMAGE_ID), journal)


def _requested(requests: Contract, tx: HexBytes) -> dict[str, Any]:
    receipt = requests.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return dict(
        requests.events.ScoreRequested().process_receipt(receipt, errors=DISCARD)[0]["args"]
    )


def _mine(w3: Web3, n: int = 1) -> None:
    w3.provider.make_request("anvil_mine", [n])  # type: ignore[arg-type]


def test_position_request_fulfilled_with_callback(w3: Web3, deployed: dict[str, Contract]) -> None:
    requests, pool = deployed["requests"], deployed["pool"]
    borrower, fulfiller = list(w3.eth.accounts)[1], list(w3.eth.accounts)[2]
    request = _requested(
        requests, pool.functions.openPosition().transact({"from": borrower, "value": Wei(PRICE)})
    )
    assert request["subject"] == borrower and request["callback"] == pool.address
    # the id, written out: keccak(chain id, contract, nonce, keccak(content))
    what = Web3.keccak(
        encode(
            ["address", "address", "bytes32", "bytes32", "uint8", "uint64", "address", "uint32"],
            [pool.address, borrower, MODEL, SPEC, 1, request["blockNumber"], pool.address, 100_000],
        )
    )
    nonce = requests.functions.nonce().call()
    expected = Web3.keccak(
        encode(
            ["uint256", "address", "uint256", "bytes32"],
            [w3.eth.chain_id, requests.address, nonce, what],
        )
    )
    assert request["requestId"] == expected
    _mine(w3, 2)
    journal, seal = _answer(w3, request, 2500)
    tx = requests.functions.fulfil(journal, seal).transact({"from": fulfiller})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    ran = requests.events.CallbackExecuted().process_receipt(receipt, errors=DISCARD)
    assert [e["args"]["success"] for e in ran] == [True]
    opened = pool.events.PositionOpened().process_receipt(receipt, errors=DISCARD)
    assert opened[0]["args"]["maxLtvBps"] == 8000 * (10_000 - 2500) // 10_000
    state, ltv, score, rid = pool.functions.positionOf(borrower).call()
    assert (state, ltv, score, rid) == (2, 6000, 2500, bytes(request["requestId"]))
    assert requests.functions.credits(fulfiller).call() == PRICE
    # replay of the same receipt: refused, nothing paid twice
    _reverts_with(
        requests.functions.fulfil(journal, seal), fulfiller, "RiskRequestsNotPending(bytes32,uint8)"
    )
    before = w3.eth.get_balance(fulfiller)
    tx = requests.functions.withdraw().transact({"from": fulfiller})
    r = w3.eth.wait_for_transaction_receipt(tx)
    assert w3.eth.get_balance(fulfiller) - before == PRICE - r["gasUsed"] * r["effectiveGasPrice"]


def test_wrong_answers_and_expiry(w3: Web3, deployed: dict[str, Contract]) -> None:
    requests = deployed["requests"]
    requester, fulfiller = list(w3.eth.accounts)[3], list(w3.eth.accounts)[4]
    subject = Web3.to_checksum_address("0x" + "ab" * 20)
    first = _requested(
        requests,
        requests.functions.request(
            subject, MODEL, SPEC, (1, w3.eth.block_number), "0x" + "00" * 20, 0
        ).transact({"from": requester, "value": Wei(PRICE)}),
    )
    second = _requested(
        requests,
        requests.functions.request(
            subject, MODEL, SPEC, (1, w3.eth.block_number), "0x" + "00" * 20, 0
        ).transact({"from": requester, "value": Wei(PRICE)}),
    )
    assert first["requestId"] != second["requestId"]
    _mine(w3, 2)
    # a journal naming the first request but another subject: refused
    journal, seal = _answer(w3, dict(first, subject="0x" + "cd" * 20), 100)
    _reverts_with(
        requests.functions.fulfil(journal, seal), fulfiller, "RiskRequestsJournalMismatch(bytes32)"
    )
    # a journal for a request that does not exist
    journal, seal = _answer(w3, dict(first, requestId=Web3.keccak(text="nothing")), 100)
    _reverts_with(
        requests.functions.fulfil(journal, seal), fulfiller, "RiskRequestsNotPending(bytes32,uint8)"
    )
    # the first is answered; the second expires unanswered and is refunded
    journal, seal = _answer(w3, first, 100)
    requests.functions.fulfil(journal, seal).transact({"from": fulfiller})
    w3.provider.make_request("evm_increaseTime", [TIMEOUT + 1])  # type: ignore[arg-type]
    _mine(w3)
    journal, seal = _answer(w3, second, 100)
    _reverts_with(
        requests.functions.fulfil(journal, seal), fulfiller, "RiskRequestsExpired(bytes32,uint40)"
    )
    tx = requests.functions.refund(second["requestId"]).transact({"from": fulfiller})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    assert requests.functions.credits(requester).call() == PRICE
    assert requests.functions.requestOf(second["requestId"]).call()[2] == 3  # Refunded


def test_reorged_request_not_fulfillable(w3: Web3, deployed: dict[str, Contract]) -> None:
    """A request whose block is reorged away (anvil snapshot/revert) cannot be answered,
    and a different request made at the same nonce afterwards has another id."""
    requests = deployed["requests"]
    requester, fulfiller = list(w3.eth.accounts)[5], list(w3.eth.accounts)[6]
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    gone = _requested(
        requests,
        requests.functions.request(
            "0x" + "11" * 20, MODEL, SPEC, (1, 0), "0x" + "00" * 20, 0
        ).transact({"from": requester, "value": Wei(PRICE)}),
    )
    w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
    replaced = _requested(
        requests,
        requests.functions.request(
            "0x" + "22" * 20, MODEL, SPEC, (1, 0), "0x" + "00" * 20, 0
        ).transact({"from": requester, "value": Wei(PRICE)}),
    )
    assert replaced["requestId"] != gone["requestId"]
    _mine(w3, 2)
    journal, seal = _answer(w3, gone, 1)
    _reverts_with(
        requests.functions.fulfil(journal, seal), fulfiller, "RiskRequestsNotPending(bytes32,uint8)"
    )
    journal, seal = _answer(w3, replaced, 1)
    tx = requests.functions.fulfil(journal, seal).transact({"from": fulfiller})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
