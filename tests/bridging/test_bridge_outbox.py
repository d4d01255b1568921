"""Outbox proofs through NodeInterface (0xc8) on the two-chain devnet.

The emulated ``NodeInterface.constructOutboxProof(size, leaf)`` is judged by things it
does not share code with: the send tree rebuilt in Python from the ``L2ToL1Tx`` events
(``outbox.tree_root``/``tree_proof``), the root the ArbSys accumulator reported at each
size, and the real nitro-contracts Outbox deployed on L1 (``calculateItemHash``,
``calculateMerkleRoot``, ``roots`` and a simulated ``executeTransaction``). Outside the
proofs a Nitro node gives, the expected answers are Nitro's, as read from its
``ConstructOutboxProof`` (nitro ``execution/nodeInterface/NodeInterface.go``): see
:func:`nitro_answer`. A node that lies about the proof is refused before any L1
transaction."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from bridge_fixtures import RelayThread, two_chain_devnet
from eth_abi.abi import encode
from eth_hash.auto import keccak
from eth_utils.abi import function_signature_to_4byte_selector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lying_proxy import LyingProxy, json_response, mutate
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from bridge import outbox
from bridge.chain import dev_account
from bridge.nitro import ARB_SYS, NODE_INTERFACE, nitro_artifact
from bridge.service import Bridge
from coprocessor.errors import RpcError, VerificationError
from coprocessor.onchain import contracts

SENDS = 21
SIZE_BEYOND = (
    "0x"
    + function_signature_to_4byte_selector(
        "NodeInterfaceEmulatorSizeBeyondSends(uint64,uint256)"
    ).hex()
)
Answer = tuple[bytes, bytes, list[bytes]] | str


def nitro_answer(items: list[bytes], size: int, leaf: int) -> Answer:
    """What Nitro's NodeInterface answers for ``items`` sent so far, or its error text.

    Read from Nitro's ConstructOutboxProof (it walks the logs up to its head): ``leaf``
    beyond the send count fails "leaf does not exist"; ``leaf < size`` gives the proof of
    the first ``size`` sends; otherwise its walk misses a node ("incomplete information")
    or has no level to check ("proof is wrong", sizes 0 and 1), except for two inputs it
    answers: size = leaf = 0 (the leaf as root) and an odd size >= 3 with leaf = size (the
    proof in the tree of size + 1, a missing send counted as zero). A size above the
    send count is the emulator's own refusal (Nitro's answer there depends on its walk)."""
    count = len(items)
    if leaf > count:
        return "leaf does not exist"
    if size > count:
        return "size beyond sends"
    send = items[leaf] if leaf < count else bytes(32)
    if leaf < size:
        tree = items[:size]
    elif size == leaf == 0:
        return send, bytes(keccak(send)), []
    elif size >= 3 and size % 2 == 1 and leaf == size:
        tree = [*items[:size], send]
    elif size <= 1:
        return "internal error constructing proof: proof is wrong"
    else:
        return "internal error constructing proof: incomplete information"
    return send, outbox.tree_root(tree), outbox.tree_proof(tree, leaf)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    data = tmp_path_factory.mktemp("outbox")
    with two_chain_devnet(data) as info:
        yield data, info


@pytest.fixture(scope="module")
def chains(devnet: tuple[Path, dict[str, Any]]) -> Iterator[Bridge]:
    data, info = devnet
    b = Bridge.from_devnet(info, data)
    yield b
    b.store.close()


def _send(l2: Web3, i: int) -> Any:
    arb_sys = outbox.arb_sys(l2)
    sender = l2.eth.accounts[2 + i % 3]
    destination = Web3.to_checksum_address("0x" + f"{0xD0 + i % 7:02x}" * 20)
    # the L1 Bridge calls an address without code only with empty data (else NotContract)
    data = os.urandom(i % 5 * 9) if i % 2 else b""
    tx = arb_sys.functions.sendTxToL1(destination, data).transact({"from": sender})
    receipt = l2.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return receipt


@pytest.fixture(scope="module")
def posted(chains: Bridge, devnet: tuple[Path, dict[str, Any]]) -> dict[int, bytes]:
    """SENDS sends on L2; the root of every prefix posted to the real Outbox by the
    rollup EOA (as the relay does for the newest). Returns {size: root}."""
    _, info = devnet
    box = outbox.outbox_contract(chains.l1, info["contracts"]["outbox"])
    rollup = dev_account(0).address
    roots = {}
    for i in range(SENDS):
        receipt = _send(chains.l2, i)
        size, root, _ = outbox.arb_sys(chains.l2).functions.sendMerkleTreeState().call()
        assert size == i + 1
        tx = box.functions.updateSendRoot(root, receipt["blockHash"]).transact({"from": rollup})
        assert chains.l1.eth.wait_for_transaction_receipt(tx)["status"] == 1
        roots[size] = bytes(root)
    return roots


def _call(chains: Bridge, size: int, leaf: int) -> tuple[bytes, bytes, list[bytes]]:
    fn = outbox.node_interface(chains.l2).functions.constructOutboxProof(size, leaf)
    send, root, proof = fn.call()
    return bytes(send), bytes(root), [bytes(p) for p in proof]


def _box(chains: Bridge) -> Contract:
    return outbox.outbox_contract(chains.l1, chains.network.outbox)


def test_every_proof_up_to_the_send_count_is_accepted_by_the_real_outbox(
    chains: Bridge, posted: dict[int, bytes]
) -> None:
    box = _box(chains)
    messages = outbox.all_messages(chains.l2)[:SENDS]
    items = [m.item_hash for m in messages]
    for size in range(1, SENDS + 1):
        assert outbox.tree_root(items[:size]) == posted[size]  # Python == the accumulator
        for leaf in range(size):
            m = messages[leaf]
            send, root, proof = _call(chains, size, leaf)
            assert (send, root, proof) == (
                items[leaf],
                posted[size],
                outbox.tree_proof(items[:size], leaf),
            )
            fields = (m.caller, m.destination, m.arb_block, m.eth_block, m.timestamp)
            assert bytes(box.functions.calculateItemHash(*fields, m.callvalue, m.data).call()) == (
                send
            )
            assert bytes(box.functions.calculateMerkleRoot(proof, leaf, send).call()) == root
            if not m.data:  # the Outbox's own execution path accepts it (simulated)
                outbox.execute_call(box, m, proof).call({"from": dev_account(3).address})


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.one_of(st.integers(0, SENDS + 3), st.sampled_from([2**63, 2**64 - 1])),
    leaf=st.one_of(st.integers(0, SENDS + 4), st.sampled_from([2**63, 2**64 - 1])),
)
def test_node_interface_answers_like_nitro(
    chains: Bridge, posted: dict[int, bytes], size: int, leaf: int
) -> None:
    items = [m.item_hash for m in outbox.all_messages(chains.l2)]
    expected = nitro_answer(items, size, leaf)
    if isinstance(expected, str):
        with pytest.raises(ContractLogicError) as err:
            _call(chains, size, leaf)
        if expected == "size beyond sends":
            assert isinstance(err.value, ContractCustomError)
            assert str(err.value.data).startswith(SIZE_BEYOND)
        else:
            assert expected in str(err.value)
        return
    send, root, proof = _call(chains, size, leaf)
    assert (send, root, proof) == expected
    box = _box(chains)
    assert bytes(box.functions.calculateMerkleRoot(proof, leaf, send).call()) == root
    if leaf < size <= SENDS:
        assert root == posted[size]
        assert bytes(box.functions.roots(root).call()) != bytes(32)
    elif leaf >= size:  # Nitro's odd answers: never the root of the first `size` sends
        assert root != outbox.tree_root(items[:size])


# ---------------------------------------------------------------------- lying nodes


def _eth_call_to(address: str) -> Callable[[list[Any]], bool]:
    return lambda params: str(params[0].get("to", "")).lower() == address.lower()


def _lie(answer: Callable[[], tuple[bytes, bytes, list[bytes]]]) -> Any:
    def fn(result: Any, params: list[Any]) -> Any:
        if not _eth_call_to(NODE_INTERFACE)(params):
            return result
        send, root, proof = answer()
        return "0x" + encode(["bytes32", "bytes32", "bytes32[]"], [send, root, proof]).hex()

    return mutate("eth_call", fn)


async def _refuse(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
    if payload.get("method") == "eth_call" and _eth_call_to(NODE_INTERFACE)(payload["params"]):
        proxy.lies += 1
        error = {"code": -32000, "message": "leaf does not exist"}
        return json_response({"jsonrpc": "2.0", "id": payload.get("id"), "error": error})
    return json_response(await proxy.forward(payload))


def _confirmed_send(
    chains: Bridge, devnet: tuple[Path, dict[str, Any]]
) -> tuple[outbox.L2ToL1Message, str]:
    """A new L2->L1 send, tracked, with a root covering it posted by the relay."""
    data, info = devnet
    receipt = _send(chains.l2, 6)  # empty data: executable to an address without code
    (message,) = outbox.messages_in_receipt(chains.l2, receipt)
    tracked = chains.track_send(message)
    relay = RelayThread(info, data).make()
    try:
        assert relay.step().roots == 1
    finally:
        relay.store.close()
    assert chains.refresh_send(tracked.id) == outbox.CONFIRMED
    return message, tracked.id


def test_a_lying_node_interface_is_refused_before_any_l1_transaction(
    chains: Bridge, devnet: tuple[Path, dict[str, Any]], posted: dict[int, bytes]
) -> None:
    data, info = devnet
    message, id = _confirmed_send(chains, devnet)
    items = [m.item_hash for m in outbox.all_messages(chains.l2)]
    size, position = len(items), message.position
    assert position == size - 1
    honest = (items[position], outbox.tree_root(items), outbox.tree_proof(items, position))
    box = _box(chains)  # the honest node: NodeInterface's proof == the event-built one
    by_node = outbox.proof_for(chains.l1, chains.l2, box, message)
    assert by_node == outbox.event_proof(chains.l1, chains.l2, box, message) == honest[2]
    # a tree of its own that holds the message where it belongs: self-consistent, not posted
    forged_items = [os.urandom(32) for _ in items]
    forged_items[position] = message.item_hash
    forged = outbox.tree_proof(forged_items, position)
    other = items[position - 1]
    lies: dict[str, tuple[Any, type[Exception], str]] = {
        "another tree": (
            _lie(lambda: (message.item_hash, outbox.tree_root(forged_items), forged)),
            VerificationError,
            "not the posted send root",
        ),
        "posted root, forged siblings": (
            _lie(lambda: (honest[0], honest[1], [os.urandom(32) for _ in honest[2]])),
            VerificationError,
            "does not fold",
        ),
        "posted root, another send": (
            _lie(lambda: (other, honest[1], outbox.tree_proof(items, position - 1))),
            VerificationError,
            "not the message's item hash",
        ),
        "posted root, path too short": (
            _lie(lambda: (honest[0], honest[1], honest[2][:-1])),
            VerificationError,
            "cannot reach the leaf",
        ),
        "refusal": (_refuse, RpcError, "constructOutboxProof"),
    }
    nonce = chains.l1.eth.get_transaction_count(chains.account.address)
    proxy = LyingProxy(info["l2"]["rpc"]).start()
    try:
        lying = Bridge.from_devnet(dict(info, l2=dict(info["l2"], rpc=proxy.url)), data)
        for name, (rule, error, text) in lies.items():
            proxy.rule = rule
            lies_before = proxy.lies
            with pytest.raises(error, match=text):
                lying.execute(id)
            assert proxy.lies > lies_before, name
            assert chains.l1.eth.get_transaction_count(chains.account.address) == nonce, name
        key = f"outbox-execute:{chains.network.outbox}:{position}"
        rows = lying.store.db.execute("SELECT COUNT(*) FROM txs WHERE key = ?", (key,))
        assert rows.fetchone()[0] == 0  # not even signed
        # the same proxy answering honestly: the message executes
        proxy.rule = _lie(lambda: honest)
        assert lying.execute(id) == outbox.EXECUTED
        lying.store.close()
    finally:
        proxy.stop()
    assert chains.l1.eth.get_transaction_count(chains.account.address) == nonce + 1


def test_posted_size_from_nitro_block_fields(
    chains: Bridge, devnet: tuple[Path, dict[str, Any]], posted: dict[int, bytes]
) -> None:
    """A Nitro node's blocks carry sendCount/sendRoot: the bridge reads the posted size
    there and does not need ArbSys.sendMerkleTreeState (refused here) at an old block."""
    _, info = devnet
    box = _box(chains)
    expected = outbox.latest_root(chains.l1, chains.l2, box)
    assert expected is not None
    states: dict[str, Any] = {}

    def nitro_block(result: Any, params: list[Any]) -> Any:
        if result and result.get("hash") == "0x" + expected.l2_block_hash.hex():
            result["sendCount"] = hex(expected.size)
            result["sendRoot"] = "0x" + states.get("root", expected.root).hex()
        return result

    async def rule(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
        if payload.get("method") == "eth_call" and _eth_call_to(ARB_SYS)(payload["params"]):
            error = {"code": -32000, "message": "method can only be called by address zero"}
            return json_response({"jsonrpc": "2.0", "id": payload.get("id"), "error": error})
        return await mutate("eth_getBlockByHash", nitro_block)(proxy, request, payload)

    proxy = LyingProxy(info["l2"]["rpc"]).start()
    try:
        proxy.rule = rule
        nitro_like = Web3(Web3.HTTPProvider(proxy.url))
        assert outbox.latest_root(chains.l1, nitro_like, box) == expected
        states["root"] = os.urandom(32)
        with pytest.raises(VerificationError, match="differs from L2's tree"):
            outbox.latest_root(chains.l1, nitro_like, box)
    finally:
        proxy.stop()


def test_emulator_has_nitros_construct_outbox_proof() -> None:
    """The same function as nitro-contracts' NodeInterface: name, argument and result
    types, view (the selector the bridge calls on a real node)."""

    def entry(abi: list[dict[str, Any]]) -> tuple[Any, ...]:
        (item,) = [i for i in abi if i.get("name") == "constructOutboxProof"]
        return (
            [(i["name"], i["type"]) for i in item["inputs"]],
            [i["type"] for i in item["outputs"]],
            item["stateMutability"],
        )

    contracts.build()
    ours = entry(contracts.artifact("NodeInterfaceEmulator").abi)
    assert ours == entry(nitro_artifact("NodeInterface")["abi"])
    assert ours[0] == [("size", "uint64"), ("leaf", "uint64")]
