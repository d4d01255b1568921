"""End to end on the two-chain devnet: real anvils, Arbitrum's real Bridge/Inbox/Outbox
on L1, ArbOS emulated on L2 (docs/bridge.md), the relay in a thread.

Flows: push-blockhash (L1 pusher -> retryable -> relay -> L2 store), a receipt posted to
the L2 RiskOracle anchored on the bridged hash, and that result relayed back to an L1
consumer through ArbSys and the Outbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from bridge_fixtures import RelayThread
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractCustomError

from bridge import outbox, retryables
from bridge.chain import dev_account
from bridge.devnet import L2_CHAIN_ID, up_l2
from bridge.nitro import nitro_at
from bridge.service import Bridge
from coprocessor.dev.devnet import Devnet
from coprocessor.errors import UserInputError
from coprocessor.onchain import contracts
from coprocessor.zk import journal, receipt_claim

ALREADY_SPENT = "0x" + function_signature_to_4byte_selector("AlreadySpent(uint256)").hex()


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    data = tmp_path_factory.mktemp("devnet2")
    net = Devnet(data)
    try:
        net.up()
        info = up_l2(net, relay=False)
        yield data, info
    finally:
        net.down()


@pytest.fixture()
def bridge(devnet: tuple[Path, dict[str, Any]]) -> Iterator[Bridge]:
    data, info = devnet
    b = Bridge.from_devnet(info, data)
    yield b
    b.store.close()


def test_devnet_json_has_both_chains_and_real_nitro_contracts(
    devnet: tuple[Path, dict[str, Any]], bridge: Bridge
) -> None:
    _, info = devnet
    assert info["l2"]["chain_id"] == L2_CHAIN_ID != info["l1"]["chain_id"]
    # the Bridge is the npm artifact's code behind a proxy, wired to its Inbox and Outbox
    b = bridge
    nitro_bridge = nitro_at(b.l1, "Bridge", info["contracts"]["bridge"])
    assert nitro_bridge.functions.allowedDelayedInboxes(info["contracts"]["inbox"]).call()
    assert nitro_bridge.functions.allowedOutboxes(info["contracts"]["outbox"]).call()
    assert nitro_bridge.functions.rollup().call() == dev_account(0).address
    # the emulators sit at the precompile addresses and answer like ArbOS
    assert outbox.arb_sys(b.l2).functions.arbChainID().call() == L2_CHAIN_ID
    assert retryables.retryable_tx(b.l2).functions.getLifetime().call() == 7 * 24 * 3600


def test_push_blockhash_reaches_l2_store(
    devnet: tuple[Path, dict[str, Any]], bridge: Bridge
) -> None:
    data, info = devnet
    bridge.l1.provider.make_request("anvil_mine", ["0x5"])  # type: ignore[arg-type]
    number = bridge.l1.eth.block_number - 2
    l1_hash = bytes(bridge.l1.eth.get_block(number)["hash"])
    with RelayThread(info, data) as relay:
        result = bridge.push_blockhash(number, timeout=30)
    assert not relay.errors, relay.errors
    assert result["status"] == retryables.REDEEMED
    store = contracts.at(bridge.l2, "L2BlockHashStore", info["contracts"]["l2_block_hash_store"])
    assert bytes(store.functions.blockHashOf(number).call()) == l1_hash
    # the ticket id is Nitro's submit-retryable hash; history went through the statuses
    statuses = [s for s, _, _ in bridge.store.history(result["id"])]
    assert statuses[0] == retryables.NOT_YET_CREATED and statuses[-1] == retryables.REDEEMED
    # the same push again resumes the same message: no second L1 transaction
    nonce = bridge.l1.eth.get_transaction_count(bridge.account.address)
    again = bridge.push_blockhash(number)
    assert (again["id"], again["status"]) == (result["id"], retryables.REDEEMED)
    assert bridge.l1.eth.get_transaction_count(bridge.account.address) == nonce


def _owner_setup(bridge: Bridge, info: dict[str, Any]) -> tuple[Any, bytes, bytes, bytes]:
    oracle = contracts.at(bridge.l2, "RiskOracle", info["contracts"]["l2_risk_oracle"])
    image, model, spec = os.urandom(32), os.urandom(32), os.urandom(32)
    owner = dev_account(1).address
    for fn in (
        oracle.functions.allowImageId(image, True),
        oracle.functions.registerModel(model, spec),
    ):
        tx = fn.transact({"from": owner})
        assert bridge.l2.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return oracle, image, model, spec


def _journal(
    chain_id: int, number: int, anchor: bytes, subject: str, model: bytes, spec: bytes, score: int
) -> bytes:
    return journal.encode(
        {
            "version": 1,
            "chainId": chain_id,
            "anchorNumber": number,
            "anchorHash": anchor,
            "blockNumber": number,
            "subject": subject,
            "modelHash": model,
            "featureSpecHash": spec,
            "score": score,
            "requestId": os.urandom(32),
        }
    )


def test_l2_oracle_result_then_outbox_relay_to_l1(
    devnet: tuple[Path, dict[str, Any]], bridge: Bridge
) -> None:
    data, info = devnet
    bridge.l1.provider.make_request("anvil_mine", ["0x3"])  # type: ignore[arg-type]
    number = bridge.l1.eth.block_number - 1
    l1_hash = bytes(bridge.l1.eth.get_block(number)["hash"])
    oracle, image, model, spec = _owner_setup(bridge, info)
    subject = Web3.to_checksum_address("0x" + "5a" * 20)
    chain = bridge.network.l1_chain_id
    good = _journal(chain, number, l1_hash, subject, model, spec, 7321)
    # before the hash is bridged, the L2 oracle cannot check the anchor
    with pytest.raises(ContractCustomError):
        oracle.functions.submit(good, receipt_claim.dev_seal(image, good)).call()
    with RelayThread(info, data) as relay:
        bridge.push_blockhash(number, timeout=30)
    assert not relay.errors
    bad = _journal(chain, number, b"\x01" * 32, subject, model, spec, 7321)
    with pytest.raises(ContractCustomError):  # anchored on a hash L1 never had
        oracle.functions.submit(bad, receipt_claim.dev_seal(image, bad)).call()
    receipt = bridge.post_l2_score(good, receipt_claim.dev_seal(image, good))
    assert receipt["status"] == 1
    assert oracle.functions.scoreOf(subject, model).call()[:2] == [7321, number]

    # L2 -> L1: the score leaves through ArbSys, waits for a posted root, is executed once
    message = bridge.send_result_to_l1(subject, model)
    assert message.status == outbox.UNCONFIRMED
    with pytest.raises(UserInputError):
        bridge.execute(message.id)
    now = [1_000.0]
    relay_thread = RelayThread(info, data, confirm_delay=60, clock=lambda: now[0])
    stepped = relay_thread.make()
    assert stepped.step().roots == 0  # seen, but not yet old enough
    assert bridge.refresh_send(message.id) == outbox.UNCONFIRMED
    now[0] += 61
    assert stepped.step().roots == 1
    assert bridge.refresh_send(message.id) == outbox.CONFIRMED
    assert bridge.execute(message.id) == outbox.EXECUTED
    receiver = contracts.at(bridge.l1, "L1ResultReceiver", info["contracts"]["l1_result_receiver"])
    assert receiver.functions.resultOf(subject, model).call() == [7321, number]
    # replayed execution: recognised as done, and the Outbox itself refuses it
    assert bridge.execute(message.id) == outbox.EXECUTED
    send = outbox.L2ToL1Message.from_json(message.data)
    box = outbox.outbox_contract(bridge.l1, info["contracts"]["outbox"])
    proof = outbox.proof_for(bridge.l1, bridge.l2, box, send)
    with pytest.raises(ContractCustomError) as err:
        outbox.execute_call(box, send, proof).call({"from": dev_account(2).address})
    assert "0x" + bytes.fromhex(cast(str, err.value.data)[2:10]).hex() == ALREADY_SPENT
    history = [s for s, _, _ in bridge.store.history(message.id)]
    assert history == [outbox.UNCONFIRMED, outbox.CONFIRMED, outbox.EXECUTED]
    stepped.store.close()
