"""L2 → L1 messages: ``ArbSys.sendTxToL1`` on L2, ``Outbox.executeTransaction`` on L1.

Statuses (the SDK's ChildToParentMessageStatus names): ``UNCONFIRMED`` (no posted send
root covers the message yet), ``CONFIRMED`` (a root covers it, not executed),
``EXECUTED`` (``Outbox.isSpent(position)``). Executing twice is not an error: the second
attempt sees the message spent (or the Outbox's ``AlreadySpent``) and reports done.

The send tree is Nitro's: leaf = keccak256(item hash), zero siblings where the tree
is not full, depth = ceil(log2(size)). The proof comes from
``NodeInterface.constructOutboxProof(size, leaf)`` (0xc8), the ``eth_call`` a Nitro node
answers (the devnet emulates NodeInterface), at the size of the newest posted send root;
the answer is checked before use: its root is the posted one and the Outbox knows it, its
send is the message's own item hash, and the proof folds to the root. There is no
fallback: :func:`event_proof` (the same proof built from the ``L2ToL1Tx`` events) is an
independent construction for tests and diagnosis, not used to execute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.packed import encode_packed
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from bridge.chain import rpc
from bridge.nitro import ARB_SYS, NODE_INTERFACE, nitro_at
from coprocessor.errors import VerificationError

UNCONFIRMED, CONFIRMED, EXECUTED = "UNCONFIRMED", "CONFIRMED", "EXECUTED"
L2_TO_L1_TX = (
    "0x"
    + keccak(
        b"L2ToL1Tx(address,address,uint256,uint256,uint256,uint256,uint256,uint256,bytes)"
    ).hex()
)
SEND_ROOT_UPDATED = "0x" + keccak(b"SendRootUpdated(bytes32,bytes32)").hex()


@dataclass(frozen=True)
class L2ToL1Message:
    """One ``L2ToL1Tx`` event."""

    position: int
    caller: str
    destination: str
    arb_block: int
    eth_block: int
    timestamp: int
    callvalue: int
    data: bytes
    item_hash: bytes
    l2_tx_hash: str

    def send_fields(self) -> tuple[str, str, int, int, int, int, bytes]:
        """The fields the Outbox hashes and executes, in its argument order (caller,
        destination, L2 block, L1 block, timestamp, call value, data)."""
        return (
            self.caller,
            self.destination,
            self.arb_block,
            self.eth_block,
            self.timestamp,
            self.callvalue,
            self.data,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "position": self.position,
            "caller": self.caller,
            "destination": self.destination,
            "arb_block": self.arb_block,
            "eth_block": self.eth_block,
            "timestamp": self.timestamp,
            "callvalue": str(self.callvalue),
            "data": "0x" + self.data.hex(),
            "item_hash": "0x" + self.item_hash.hex(),
            "l2_tx_hash": self.l2_tx_hash,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> L2ToL1Message:
        """Inverse of :meth:`to_json`."""
        return cls(
            int(d["position"]),
            d["caller"],
            d["destination"],
            int(d["arb_block"]),
            int(d["eth_block"]),
            int(d["timestamp"]),
            int(d["callvalue"]),
            bytes(HexBytes(d["data"])),
            bytes(HexBytes(d["item_hash"])),
            d["l2_tx_hash"],
        )


def item_hash(
    caller: str, destination: str, arb_block: int, eth_block: int, ts: int, value: int, data: bytes
) -> bytes:
    """Outbox.calculateItemHash: keccak256(abi.encodePacked(l2Sender, to, l2Block,
    l1Block, l2Timestamp, value, data))."""
    packed = encode_packed(
        ["address", "address", "uint256", "uint256", "uint256", "uint256", "bytes"],
        [caller, destination, arb_block, eth_block, ts, value, data],
    )
    return bytes(keccak(packed))


def arb_sys(l2: Web3) -> Contract:
    """ArbSys (0x64) with the nitro-contracts ABI."""
    return nitro_at(l2, "ArbSys", ARB_SYS)


def _message(l2: Web3, log: Any) -> L2ToL1Message:
    event = arb_sys(l2).events.L2ToL1Tx().process_log(log)
    a = event["args"]
    message = L2ToL1Message(
        position=int(a["position"]),
        caller=Web3.to_checksum_address(a["caller"]),
        destination=Web3.to_checksum_address(a["destination"]),
        arb_block=int(a["arbBlockNum"]),
        eth_block=int(a["ethBlockNum"]),
        timestamp=int(a["timestamp"]),
        callvalue=int(a["callvalue"]),
        data=bytes(a["data"]),
        item_hash=int(a["hash"]).to_bytes(32, "big"),
        l2_tx_hash="0x" + bytes(log["transactionHash"]).hex(),
    )
    recomputed = item_hash(*message.send_fields())
    if recomputed != message.item_hash:
        raise VerificationError(f"send {message.position}: event hash does not match its fields")
    return message


def messages_in_receipt(l2: Web3, receipt: Any) -> list[L2ToL1Message]:
    """The sends an L2 transaction made."""
    return [
        _message(l2, log)
        for log in receipt["logs"]
        if log["address"] == ARB_SYS and "0x" + bytes(log["topics"][0]).hex() == L2_TO_L1_TX
    ]


def all_messages(
    l2: Web3, to_block: int | str = "latest", from_block: int = 0
) -> list[L2ToL1Message]:
    """Every send up to ``to_block``, by position."""
    params = {
        "address": ARB_SYS,
        "topics": [L2_TO_L1_TX],
        "fromBlock": from_block,
        "toBlock": to_block,
    }
    logs = rpc(lambda: l2.eth.get_logs(params), "eth_getLogs")  # type: ignore[arg-type]
    return sorted((_message(l2, log) for log in logs), key=lambda m: m.position)


# ---------------------------------------------------------------------- the tree


def _node(h: list[bytes], level: int, index: int, size: int) -> bytes:
    """Node ``index`` at ``level`` of the send tree of ``size`` leaves (zero if empty)."""
    if index << level >= size:
        return bytes(32)
    if level == 0:
        return h[index]
    return bytes(
        keccak(_node(h, level - 1, 2 * index, size) + _node(h, level - 1, 2 * index + 1, size))
    )


def depth(size: int) -> int:
    """Proof length for a tree of ``size`` leaves: ceil(log2(size))."""
    return max(size - 1, 0).bit_length()


def tree_root(items: list[bytes]) -> bytes:
    """Root of the send tree of these item hashes (Nitro's MerkleAccumulator.Root)."""
    if not items:
        return bytes(32)
    leaves = [bytes(keccak(i)) for i in items]
    return _node(leaves, depth(len(items)), 0, len(items))


def tree_proof(items: list[bytes], position: int) -> list[bytes]:
    """Siblings from leaf ``position`` up to the root (Outbox's MerkleLib order)."""
    if not 0 <= position < len(items):
        raise VerificationError(f"send {position} is not in a tree of {len(items)}")
    leaves = [bytes(keccak(i)) for i in items]
    return [
        _node(leaves, level, (position >> level) ^ 1, len(items))
        for level in range(depth(len(items)))
    ]


def root_from_proof(item: bytes, position: int, proof: list[bytes]) -> bytes:
    """What Outbox.calculateMerkleRoot computes (an independent fold)."""
    h = bytes(keccak(item))
    for level, sibling in enumerate(proof):
        h = bytes(keccak(sibling + h if (position >> level) & 1 else h + sibling))
    return h


# ---------------------------------------------------------------------- L1 side


@dataclass(frozen=True)
class PostedRoot:
    """The newest send root the Outbox knows, with the tree size it covers."""

    root: bytes
    l2_block_hash: bytes
    size: int


def _quantity(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def latest_root(l1: Web3, l2: Web3, outbox: Contract) -> PostedRoot | None:
    """The newest ``SendRootUpdated`` of the Outbox and the size of the tree at that L2
    block: a Nitro node's block carries it (``sendCount``, ``sendRoot``, as the SDK reads
    them); an anvil block does not, so the devnet asks ArbSys.sendMerkleTreeState at that
    block. Either way the tree's root there must equal the posted one."""
    params = {"address": outbox.address, "topics": [SEND_ROOT_UPDATED], "fromBlock": 0}
    logs = rpc(lambda: l1.eth.get_logs(params), "eth_getLogs")  # type: ignore[arg-type]
    if not logs:
        return None
    last = logs[-1]
    root, block_hash = bytes(last["topics"][1]), bytes(last["topics"][2])
    block: dict[str, Any] = dict(
        rpc(lambda: l2.eth.get_block(HexBytes(block_hash)), "L2 block by hash")
    )
    if "sendCount" in block and "sendRoot" in block:
        size, root_there = _quantity(block["sendCount"]), bytes(HexBytes(block["sendRoot"]))
    else:
        fn = arb_sys(l2).functions.sendMerkleTreeState()
        state = rpc(lambda: fn.call(block_identifier=block["number"]), "sendMerkleTreeState")
        size, root_there = int(state[0]), bytes(state[1])
    if root_there != root:
        raise VerificationError("posted send root differs from L2's tree at that block")
    return PostedRoot(root, block_hash, size)


def status(l1: Web3, l2: Web3, outbox: Contract, message: L2ToL1Message) -> str:
    """UNCONFIRMED / CONFIRMED / EXECUTED."""
    if rpc(lambda: outbox.functions.isSpent(message.position).call(), "isSpent"):
        return EXECUTED
    posted = latest_root(l1, l2, outbox)
    if posted is None or posted.size <= message.position:
        return UNCONFIRMED
    return CONFIRMED


def node_interface(l2: Web3) -> Contract:
    """NodeInterface (0xc8) with the nitro-contracts ABI (answered by a Nitro node's RPC;
    emulated on the devnet)."""
    return nitro_at(l2, "NodeInterface", NODE_INTERFACE)


@dataclass(frozen=True)
class OutboxProof:
    """What ``NodeInterface.constructOutboxProof(size, leaf)`` answered."""

    send: bytes
    root: bytes
    proof: list[bytes]


def construct_outbox_proof(l2: Web3, size: int, leaf: int) -> OutboxProof:
    """``eth_call`` NodeInterface.constructOutboxProof at the L2 head (Nitro answers from
    its head whatever block is asked). A node that refuses raises ``RpcError``."""
    fn = node_interface(l2).functions.constructOutboxProof(size, leaf)
    send, root, proof = rpc(
        lambda: fn.call(block_identifier="latest"), "NodeInterface.constructOutboxProof"
    )
    return OutboxProof(bytes(send), bytes(root), [bytes(p) for p in proof])


def check_proof(
    outbox: Contract, message: L2ToL1Message, posted: PostedRoot, answer: OutboxProof
) -> None:
    """Refuse an answer the Outbox would not accept for ``message`` (``VerificationError``):
    a root other than the posted one or unknown to the Outbox, a send other than the
    message's item hash, a path the Outbox calls not minimal, a proof that does not fold
    to the root."""
    where = f"NodeInterface's proof of send {message.position} at size {posted.size}"
    if answer.root != posted.root:
        raise VerificationError(f"{where}: root is not the posted send root")
    known = rpc(lambda: outbox.functions.roots(answer.root).call(), "Outbox.roots")
    if bytes(known) == bytes(32):
        raise VerificationError(f"{where}: the Outbox does not know its root")
    if answer.send != message.item_hash:
        raise VerificationError(f"{where}: send is not the message's item hash")
    if len(answer.proof) >= 256 or message.position >> len(answer.proof):
        raise VerificationError(f"{where}: {len(answer.proof)} levels cannot reach the leaf")
    if root_from_proof(message.item_hash, message.position, answer.proof) != answer.root:
        raise VerificationError(f"{where}: proof does not fold to its root")


def proof_for(l1: Web3, l2: Web3, outbox: Contract, message: L2ToL1Message) -> list[bytes]:
    """The outbox proof of ``message`` against the newest posted root: asked of
    NodeInterface at the posted size, checked by :func:`check_proof`."""
    posted = latest_root(l1, l2, outbox)
    if posted is None or posted.size <= message.position:
        raise VerificationError(f"send {message.position} is not confirmed yet")
    answer = construct_outbox_proof(l2, posted.size, message.position)
    check_proof(outbox, message, posted, answer)
    return answer.proof


def event_proof(l1: Web3, l2: Web3, outbox: Contract, message: L2ToL1Message) -> list[bytes]:
    """The same proof built from the ``L2ToL1Tx`` events up to the posted L2 block and
    checked against the posted root: an independent construction (tests, diagnosis)."""
    posted = latest_root(l1, l2, outbox)
    if posted is None or posted.size <= message.position:
        raise VerificationError(f"send {message.position} is not confirmed yet")
    block = rpc(lambda: l2.eth.get_block(HexBytes(posted.l2_block_hash)), "L2 block")
    sends = all_messages(l2, to_block=int(block["number"]))[: posted.size]
    if [m.position for m in sends] != list(range(posted.size)):
        raise VerificationError("L2ToL1Tx events are not contiguous up to the posted size")
    items = [m.item_hash for m in sends]
    if items[message.position] != message.item_hash:
        raise VerificationError(f"send {message.position} differs from the event on L2")
    proof = tree_proof(items, message.position)
    if root_from_proof(message.item_hash, message.position, proof) != posted.root:
        raise VerificationError("outbox proof does not reach the posted root")
    return proof


def execute_call(outbox: Contract, message: L2ToL1Message, proof: list[bytes]) -> Any:
    """The ``executeTransaction`` function call (for a TxSender)."""
    return outbox.functions.executeTransaction(proof, message.position, *message.send_fields())


def outbox_contract(l1: Web3, address: str) -> Contract:
    """The Outbox with the nitro-contracts ABI."""
    return nitro_at(l1, "Outbox", address)
