"""The block-hash bridge through Arbitrum's real Inbox and Bridge (nitro-contracts
artifacts, behind OpenZeppelin's TransparentUpgradeableProxy) on an L1 anvil; the L2 is a
second anvil on which the retryable is executed as ArbOS would: from the sender recorded
by the Bridge (the pusher's alias) with the calldata recorded by the Inbox. An oracle on
that L2 then accepts a result anchored on the bridged L1 hash."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import rlp
from eth_abi.abi import encode
from eth_hash.auto import keccak
from locations import REPO
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD
from web3.types import TxParams, Wei

from coprocessor.dev.devnet import AnvilNode, start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.zk import receipt_claim

NITRO = REPO / "tools/npm/node_modules/@arbitrum/nitro-contracts"
ARTIFACTS = NITRO / "build" / "contracts"
ALIAS_OFFSET = 0x1111000000000000000000000000000000001111
L2_CHAIN_ID = 412346
SPEC = json.loads((REPO / "spec/journal_v1.json").read_text())


def _nitro(w3: Web3, rel: str) -> tuple[list[Any], str]:
    data = json.loads((ARTIFACTS / rel).read_text())
    return data["abi"], data["bytecode"]


def _deploy_raw(w3: Web3, abi: list[Any], bytecode: str, *args: Any) -> str:
    tx = (
        w3.eth.contract(abi=abi, bytecode=bytecode)
        .constructor(*args)
        .transact({"from": w3.eth.accounts[0]})
    )
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


def _behind_proxy(
    w3: Web3, rel: str, ctor: tuple[Any, ...], init: str, *init_args: Any
) -> Contract:
    abi, bytecode = _nitro(w3, rel)
    logic = _deploy_raw(w3, abi, bytecode, *ctor)
    data = w3.eth.contract(abi=abi).encode_abi(init, list(init_args))
    proxy_abi, proxy_code = _nitro(
        w3,
        "@openzeppelin/contracts/proxy/transparent/TransparentUpgradeableProxy.sol/"
        "TransparentUpgradeableProxy.json",
    )
    admin = list(w3.eth.accounts)[9]  # a transparent proxy does not forward its admin's calls
    proxy = _deploy_raw(w3, proxy_abi, proxy_code, logic, admin, data)
    return w3.eth.contract(address=Web3.to_checksum_address(proxy), abi=abi)


@pytest.fixture(scope="module")
def chains(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Web3, Web3]]:
    contracts.build()
    work = tmp_path_factory.mktemp("arbitrum")
    nodes: list[AnvilNode] = []
    try:
        nodes.append(start_anvil("l1", work, persist=False))
        nodes.append(start_anvil("l2", work, chain_id=L2_CHAIN_ID, persist=False))
        yield Web3(Web3.HTTPProvider(nodes[0].rpc)), Web3(Web3.HTTPProvider(nodes[1].rpc))
    finally:
        for node in nodes:
            stop_pid(node.pid)


def _next_address(w3: Web3, sender: str) -> str:
    nonce = w3.eth.get_transaction_count(Web3.to_checksum_address(sender))
    raw = keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]
    return Web3.to_checksum_address(raw)


def test_pushed_hash_reaches_l2_and_anchors_an_l2_oracle(chains: tuple[Web3, Web3]) -> None:
    l1, l2 = chains
    rollup = l1.eth.accounts[0]
    bridge = _behind_proxy(l1, "src/bridge/Bridge.sol/Bridge.json", (), "initialize", rollup)
    inbox = _behind_proxy(
        l1,
        "src/bridge/Inbox.sol/Inbox.json",
        (117_964,),
        "initialize",
        bridge.address,
        list(l1.eth.accounts)[8],
    )
    bridge.functions.setDelayedInbox(inbox.address, True).transact({"from": rollup})

    # the store (L2) must know the pusher (L1): predict the pusher's address
    pusher_address = _next_address(l1, l1.eth.accounts[0])
    store = contracts.deploy(l2, "L2BlockHashStore", pusher_address)
    pusher = contracts.deploy(l1, "L1BlockHashPusher", inbox.address, store.address)
    assert pusher.address == pusher_address

    l1.provider.make_request("anvil_mine", [20])  # type: ignore[arg-type]
    number = l1.eth.block_number - 5
    l1_hash = bytes(l1.eth.get_block(number)["hash"])
    fees = {"maxSubmissionCost": 10**15, "gasLimit": 300_000, "maxFeePerGas": 2 * 10**9}
    value = fees["maxSubmissionCost"] + fees["gasLimit"] * fees["maxFeePerGas"]
    tx = pusher.functions.push(
        number, fees["maxSubmissionCost"], fees["gasLimit"], fees["maxFeePerGas"]
    ).transact({"from": list(l1.eth.accounts)[1], "value": Wei(value)})
    receipt = l1.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1

    delivered = bridge.events.MessageDelivered().process_receipt(receipt, errors=DISCARD)
    assert len(delivered) == 1
    assert delivered[0]["args"]["kind"] == 9  # L1MessageType_submitRetryableTx
    sender = delivered[0]["args"]["sender"]
    assert int(sender, 16) == (int(pusher.address, 16) + ALIAS_OFFSET) % 2**160
    assert sender == store.functions.aliasedPusher().call()

    message = bytes(
        inbox.events.InboxMessageDelivered().process_receipt(receipt, errors=DISCARD)[0]["args"][
            "data"
        ]
    )
    words = [int.from_bytes(message[i : i + 32], "big") for i in range(0, 9 * 32, 32)]
    to, call_value, deposit, max_submission, _, _, gas_limit, max_fee, length = words
    calldata = message[9 * 32 :]
    assert Web3.to_checksum_address(f"0x{to:040x}") == store.address
    assert (call_value, deposit, max_submission) == (0, value, fees["maxSubmissionCost"])
    assert (gas_limit, max_fee, length) == (fees["gasLimit"], fees["maxFeePerGas"], len(calldata))
    assert keccak(message) == bytes(delivered[0]["args"]["messageDataHash"])

    # execute the retryable on L2 as ArbOS does: from the aliased sender
    l2.provider.make_request("anvil_impersonateAccount", [sender])  # type: ignore[arg-type]
    l2.provider.make_request("anvil_setBalance", [sender, hex(10**18)])  # type: ignore[arg-type]
    l2_tx: TxParams = {"from": sender, "to": store.address, "data": calldata, "gas": gas_limit}
    assert l2.eth.wait_for_transaction_receipt(l2.eth.send_transaction(l2_tx))["status"] == 1
    assert bytes(store.functions.blockHashOf(number).call()) == l1_hash
    with pytest.raises(ContractCustomError):  # the same message again: StoreAlreadyKnown
        l2.eth.call(l2_tx)

    # an oracle on L2 accepts a result anchored on the bridged L1 block, and only that
    owner = l2.eth.accounts[0]
    dev = contracts.deploy(l2, "DevVerifier")
    router = contracts.deploy(l2, "RiscZeroVerifierRouter", owner)
    router.functions.addVerifier(b"\xff" * 4, dev.address).transact({"from": owner})
    oracle = contracts.deploy(
        l2, "RiskOracle", owner, router.address, store.address, l1.eth.chain_id, 64
    )
    image, model, spec = os.urandom(32), os.urandom(32), os.urandom(32)
    oracle.functions.allowImageId(image, True).transact({"from": owner})
    oracle.functions.registerModel(model, spec).transact({"from": owner})
    subject = Web3.to_checksum_address("0x" + "0b" * 20)

    def journal(anchor_hash: bytes, chain_id: int) -> bytes:
        values = [
            1,
            chain_id,
            number,
            anchor_hash,
            number,
            subject,
            model,
            spec,
            9000,
            os.urandom(32),
        ]
        return bytes(encode([f["type"] for f in SPEC["fields"]], values))

    good = journal(l1_hash, l1.eth.chain_id)
    tx = oracle.functions.submit(good, receipt_claim.dev_seal(image, good)).transact(
        {"from": owner}
    )
    assert l2.eth.wait_for_transaction_receipt(tx)["status"] == 1
    assert oracle.functions.scoreOf(subject, model).call()[0] == 9000
    for bad in (journal(b"\x01" * 32, l1.eth.chain_id), journal(l1_hash, L2_CHAIN_ID)):
        with pytest.raises(ContractCustomError):
            oracle.functions.submit(bad, receipt_claim.dev_seal(image, bad)).call()
