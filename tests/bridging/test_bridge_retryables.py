"""Retryable arithmetic, message parsing, the send tree and the emulators' ABI, each
checked against something independent: the real Inbox/Outbox bytecode from npm
nitro-contracts, the Solidity accumulator of the ArbSys emulator, nitro's own
precompile interfaces, or plain big-integer arithmetic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_hash.auto import keccak
from hexbytes import HexBytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from locations import TESTS
from web3 import Web3
from web3.contract import Contract

from bridge import networks, outbox, retryables
from bridge.chain import l1_to_l2_alias, raw_request
from bridge.nitro import ARB_SYS, nitro_artifact, nitro_at
from bridge.store import BridgeStore
from coprocessor.dev.devnet import AnvilNode
from coprocessor.errors import StoreError, UserInputError, VerificationError
from coprocessor.onchain import contracts

U256 = 2**256 - 1
BOUNDS = st.sampled_from([0, 1, 2, 2**64 - 1, 2**128, 2**255, U256 // 6, U256 // 1400, U256])
TESTDATA = TESTS / "testdata"
UINTS = st.one_of(BOUNDS, st.integers(0, U256), st.integers(0, 2**64))


@pytest.fixture(scope="module")
def w3(anvil: AnvilNode) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc))


def _deploy(w3: Web3, name: str, *args: Any) -> Contract:
    art = nitro_artifact(name)
    tx = (
        w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        .constructor(*args)
        .transact({"from": w3.eth.accounts[0]})
    )
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    assert address is not None
    return w3.eth.contract(address=address, abi=art["abi"])


@pytest.fixture(scope="module")
def inbox(w3: Web3) -> Contract:
    return _deploy(w3, "Inbox", 117_964)  # the logic contract: its views need no proxy


@pytest.fixture(scope="module")
def nitro_outbox(w3: Web3) -> Contract:
    return _deploy(w3, "Outbox")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(length=UINTS, base_fee=UINTS.filter(lambda v: v > 0))
def test_submission_fee_equals_the_real_inbox(inbox: Contract, length: int, base_fee: int) -> None:
    exact = (1400 + 6 * length) * base_fee  # Python integers do not overflow
    try:
        on_chain: int | None = inbox.functions.calculateRetryableSubmissionFee(
            length, base_fee
        ).call()
    except Exception:  # Solidity 0.8 checked arithmetic: Panic(0x11)
        on_chain = None
    if exact > U256:
        assert on_chain is None
        with pytest.raises(UserInputError):
            retryables.submission_fee(length, base_fee)
    else:
        assert on_chain == exact == retryables.submission_fee(length, base_fee)


def test_submission_fee_refuses_a_zero_base_fee() -> None:
    # on chain, 0 means "this block's base fee": a caller must say which one
    with pytest.raises(UserInputError):
        retryables.submission_fee(68, 0)


@settings(max_examples=300, deadline=None)
@given(sub=UINTS, gas=UINTS, fee=UINTS, value=UINTS)
def test_deposit_at_integer_bounds(sub: int, gas: int, fee: int, value: int) -> None:
    fees = retryables.RetryableFees(sub, gas, fee, value)
    exact = sub + value + gas * fee
    if gas * fee > U256 or exact > U256:
        with pytest.raises(UserInputError):
            _ = fees.deposit
    else:
        assert fees.deposit == exact


@pytest.mark.parametrize("field", ["max_submission_cost", "gas_limit", "max_fee_per_gas"])
@pytest.mark.parametrize("bad", [-1, 2**256])
def test_fee_fields_out_of_uint256_range(field: str, bad: int) -> None:
    kw = {"max_submission_cost": 1, "gas_limit": 1, "max_fee_per_gas": 1, field: bad}
    with pytest.raises(UserInputError):
        retryables.RetryableFees(**kw)


@settings(max_examples=100, deadline=None)
@given(value=st.integers(0, 2**200), percent=st.integers(0, 1000))
def test_margin_rounds_up(value: int, percent: int) -> None:
    padded = retryables.with_margin(value, percent)
    assert padded * 100 >= value * (100 + percent) > (padded - 1) * 100 or value == 0


def _inbox_data(words: list[int], calldata: bytes) -> bytes:
    return b"".join(w.to_bytes(32, "big") for w in words) + calldata


def test_parse_inbox_message_layout_and_rejections() -> None:
    to, refund = 0xAB, 0xCD
    data = _inbox_data([to, 5, 100, 7, refund, refund, 30_000, 9, 3], b"\x01\x02\x03")
    parsed = retryables.parse_inbox_message(data)
    assert parsed["to"] == Web3.to_checksum_address(f"0x{to:040x}")
    assert (parsed["l2_call_value"], parsed["deposit"], parsed["max_submission_cost"]) == (
        5,
        100,
        7,
    )
    assert (parsed["gas_limit"], parsed["max_fee_per_gas"], parsed["data"]) == (
        30_000,
        9,
        b"\x01\x02\x03",
    )
    with pytest.raises(VerificationError, match="too short"):
        retryables.parse_inbox_message(data[:200])
    with pytest.raises(VerificationError, match="length"):
        retryables.parse_inbox_message(data + b"\x04")
    with pytest.raises(VerificationError, match="high bits"):
        retryables.parse_inbox_message(_inbox_data([2**160 + to, 0, 0, 0, 0, 0, 0, 0, 0], b""))


def _message(**kw: Any) -> retryables.RetryableMessage:
    base: dict[str, Any] = {
        "message_number": 7,
        "sender": l1_to_l2_alias("0x" + "11" * 20),
        "l1_base_fee": 10**9,
        "to": Web3.to_checksum_address("0x" + "22" * 20),
        "l2_call_value": 0,
        "deposit": 10**16,
        "max_submission_cost": 10**14,
        "excess_fee_refund": Web3.to_checksum_address("0x" + "33" * 20),
        "call_value_refund": Web3.to_checksum_address("0x" + "44" * 20),
        "gas_limit": 100_000,
        "max_fee_per_gas": 10**8,
        "data": b"\xaa" * 68,
        "l1_tx_hash": "0x" + "00" * 32,
        "l1_block": 1,
    }
    base.update(kw)
    return retryables.RetryableMessage(**base)


def test_ticket_id_is_the_hash_of_the_typed_submit_retryable_tx() -> None:
    import rlp

    m = _message()
    fields = [
        (412346).to_bytes(3, "big"),
        (7).to_bytes(32, "big"),
        bytes.fromhex(m.sender[2:]),
        (10**9).to_bytes(4, "big"),
        (10**16).to_bytes(7, "big"),
        (10**8).to_bytes(4, "big"),
        (100_000).to_bytes(3, "big"),
        bytes.fromhex(m.to[2:]),
        b"",  # zero call value: an empty string, as go-ethereum's RLP writes a zero big.Int
        bytes.fromhex(m.call_value_refund[2:]),
        (10**14).to_bytes(6, "big"),
        bytes.fromhex(m.excess_fee_refund[2:]),
        m.data,
    ]
    assert m.ticket_id(412346) == keccak(b"\x69" + rlp.encode(fields))
    # every field is bound: changing any one changes the id
    for change in (
        {"message_number": 8},
        {"l1_base_fee": 10**9 + 1},
        {"deposit": 1},
        {"gas_limit": 1},
        {"max_fee_per_gas": 1},
        {"l2_call_value": 1},
        {"max_submission_cost": 1},
        {"data": b""},
        {"excess_fee_refund": m.call_value_refund},
    ):
        assert _message(**change).ticket_id(412346) != m.ticket_id(412346), change
    assert m.ticket_id(42161) != m.ticket_id(412346)


def _log(entry: dict[str, Any], vector: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": Web3.to_checksum_address(entry["address"]),
        "topics": [HexBytes(t) for t in entry["topics"]],
        "data": HexBytes(entry["data"]),
        "logIndex": entry["logIndex"],
        "transactionIndex": 0,
        "transactionHash": HexBytes(vector["l1_tx_hash"]),
        "blockHash": HexBytes(bytes(32)),
        "blockNumber": vector["l1_block"],
    }


def test_ticket_id_of_a_real_arbitrum_one_retryable() -> None:
    """A retryable created on Ethereum mainnet for Arbitrum One (tests/testdata, source in
    its ``_source``): our parser reads the real Bridge/Inbox logs (the data hash check
    included) into the fields the Arbitrum SDK reads, and our ticket id is the real one."""
    vector = json.loads((TESTDATA / "arbitrum_one_retryable_15500657.json").read_text())
    w3 = Web3()
    receipt = {
        "logs": [_log(entry, vector) for entry in vector["logs"]],
        "transactionHash": HexBytes(vector["l1_tx_hash"]),
        "blockNumber": vector["l1_block"],
    }
    found = retryables.messages_in_receipt(
        nitro_at(w3, "Bridge", vector["bridge"]), nitro_at(w3, "Inbox", vector["inbox"]), receipt
    )
    assert len(found) == 1
    message, expected = found[0], vector["expected"]
    for name in ("sender", "to", "excess_fee_refund", "call_value_refund"):
        assert getattr(message, name) == expected[name], name
    for name in (
        "message_number",
        "l1_base_fee",
        "l2_call_value",
        "deposit",
        "max_submission_cost",
        "gas_limit",
        "max_fee_per_gas",
    ):
        assert getattr(message, name) == int(expected[name], 16), name
    assert message.data == bytes(HexBytes(expected["data"]))
    assert message.sender == l1_to_l2_alias(vector["l1_caller"])
    assert "0x" + message.ticket_id(vector["l2_chain_id"]).hex() == expected["ticket_id"]
    # and the id binds the chain: the same message on another chain is another ticket
    assert message.ticket_id(42170) != message.ticket_id(vector["l2_chain_id"])


def test_expiry_alert_window() -> None:
    waiting = retryables.TicketState(retryables.FUNDS_DEPOSITED_ON_CHILD, timeout=1_000_000)
    assert retryables.expiry_alert(waiting, now=1_000_000 - 86_401) is None
    assert "expires in 86400s" in str(retryables.expiry_alert(waiting, now=1_000_000 - 86_400))
    assert "expired" in str(retryables.expiry_alert(waiting, now=1_000_001))
    done = retryables.TicketState(retryables.REDEEMED)
    assert retryables.expiry_alert(done, now=0) is None


# ---------------------------------------------------------------------- the send tree


@pytest.fixture(scope="module")
def arb_sys(w3: Web3) -> Contract:
    contracts.build()
    code = contracts.artifact("ArbSysEmulator").deployed_bytecode
    raw_request(w3, "anvil_setCode", [ARB_SYS, "0x" + code.hex()])
    return contracts.at(w3, "ArbSysEmulator", ARB_SYS)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_send_tree_matches_emulator_and_real_outbox(
    w3: Web3, arb_sys: Contract, nitro_outbox: Contract, sizes: list[int]
) -> None:
    sender = list(w3.eth.accounts)[3]
    for batch in sizes:
        for _ in range(batch):
            tx = arb_sys.functions.sendTxToL1(list(w3.eth.accounts)[4], b"\x01").transact(
                {"from": sender}
            )
            w3.eth.wait_for_transaction_receipt(tx)
        sends = outbox.all_messages(w3)
        items = [m.item_hash for m in sends]
        size, root, _ = arb_sys.functions.sendMerkleTreeState().call()
        assert size == len(items)
        assert outbox.tree_root(items) == bytes(root)  # Python == the Solidity accumulator
        for position in {0, len(items) // 2, len(items) - 1}:
            proof = outbox.tree_proof(items, position)
            assert len(proof) == outbox.depth(len(items))
            ours = outbox.root_from_proof(items[position], position, proof)
            theirs = nitro_outbox.functions.calculateMerkleRoot(
                proof, position, items[position]
            ).call()
            assert ours == bytes(theirs) == bytes(root)  # and == nitro's Outbox fold


def test_item_hash_equals_outbox_calculate_item_hash(nitro_outbox: Contract) -> None:
    args = (
        Web3.to_checksum_address("0x" + "12" * 20),
        Web3.to_checksum_address("0x" + "34" * 20),
        5,
        6,
        7,
        8,
        b"xyz",
    )
    assert outbox.item_hash(*args) == bytes(nitro_outbox.functions.calculateItemHash(*args).call())


def test_tree_proof_rejects_positions_outside() -> None:
    with pytest.raises(VerificationError):
        outbox.tree_proof([b"\x01" * 32], 1)
    assert outbox.tree_root([]) == bytes(32)


# ---------------------------------------------------------------------- emulator ABIs


def _signatures(abi: list[dict[str, Any]]) -> set[str]:
    out = set()
    for item in abi:
        if item["type"] in ("function", "event", "error"):
            types = ",".join(i["type"] for i in item["inputs"])
            out.add(f"{item['type']} {item['name']}({types})")
    return out


@pytest.mark.parametrize(
    ("emulator", "precompile"),
    [("ArbSysEmulator", "ArbSys"), ("ArbRetryableTxEmulator", "ArbRetryableTx")],
)
def test_emulators_have_every_function_event_and_error_of_the_precompile(
    emulator: str, precompile: str
) -> None:
    contracts.build()
    ours = _signatures(contracts.artifact(emulator).abi)
    theirs = _signatures(nitro_artifact(precompile)["abi"])
    assert theirs - ours == set()


def test_network_constants_are_checksummed_and_distinct() -> None:
    for net in networks.KNOWN.values():
        addresses = [net.bridge, net.inbox, net.outbox, net.rollup]
        assert len(set(addresses)) == 4
        assert all(Web3.is_checksum_address(a) for a in addresses)
    assert networks.ARBITRUM_ONE.l2_chain_id == 42161
    assert networks.ARBITRUM_SEPOLIA.l1_chain_id == 11155111


def test_store_history_and_schema_version(tmp_path: Any) -> None:
    store = BridgeStore(tmp_path / "b.sqlite")
    assert store.add_message("m", "l1_to_l2", "A", {"x": 1})
    assert not store.add_message("m", "l1_to_l2", "A", {"x": 2})  # idempotent
    store.set_status("m", "A")  # no change, no event
    store.set_status("m", "B", data={"y": 2})
    assert [s for s, _, _ in store.history("m")] == ["A", "B"]
    assert store.message("m").data == {"x": 1, "y": 2}  # type: ignore[union-attr]
    store.put_state("l1_cursor", 12)
    store.db.execute(
        "INSERT INTO txs VALUES ('k', 5, '0xA', 0, NULL, x'', '0', 21000, 'pending',"
        " NULL, NULL, NULL, 0, 0)"
    )
    store.reset_chains([5])  # a devnet started afresh
    assert store.messages() == [] and store.get_state("l1_cursor") is None
    assert store.db.execute("SELECT COUNT(*) FROM txs").fetchone()[0] == 0
    store.db.execute("UPDATE meta SET value = '99' WHERE key = 'bridge_schema_version'")
    store.close()
    with pytest.raises(StoreError, match="schema version 99"):
        BridgeStore(tmp_path / "b.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError):
        BridgeStore(tmp_path / "junk.sqlite")
