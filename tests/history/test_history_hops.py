"""One EIP-2935 hop verified rule by rule (coprocessor/chain/history.py), on a real
anvil (prague): the history contract's storage proof at a block proves the hash of
an earlier block, and each tampering is rejected with the rule it breaks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import rlp

from coprocessor.chain.headers import encode_header_json
from coprocessor.chain.hexutil import hexstr, to_bytes
from coprocessor.chain.history import (
    HISTORY_ADDRESS,
    WINDOW,
    HistoryRuleError,
    HopProof,
    history_slot,
    verify_hop,
    verify_hops,
)
from coprocessor.dev.devnet import AnvilNode, rpc_call

DEVNET = 31337


@pytest.fixture(scope="module")
def node(anvil: AnvilNode) -> Iterator[AnvilNode]:
    rpc_call(anvil.rpc, "anvil_mine", ["0x20"], timeout=60)
    yield anvil


def _block(node: AnvilNode, number: int) -> dict[str, object]:
    block = rpc_call(node.rpc, "eth_getBlockByNumber", [hex(number), False])
    assert isinstance(block, dict)
    return block


def _header(node: AnvilNode, number: int) -> bytes:
    return encode_header_json(_block(node, number))


def _hop(node: AnvilNode, source: int, target: int, slot_of: int | None = None) -> HopProof:
    slot = history_slot(target if slot_of is None else slot_of)
    proof = rpc_call(
        node.rpc, "eth_getProof", [hexstr(HISTORY_ADDRESS), [hexstr(slot)], hex(source)]
    )
    return HopProof(
        source_header=_header(node, source),
        target_header=_header(node, target),
        account_proof=tuple(to_bytes(n, "a") for n in proof["accountProof"]),
        storage_proof=tuple(to_bytes(n, "s") for n in proof["storageProof"][0]["proof"]),
        slot=slot,
    )


def _rule(exc: pytest.ExceptionInfo[HistoryRuleError]) -> str:
    return exc.value.history_rule


def _head(node: AnvilNode) -> int:
    return int(rpc_call(node.rpc, "eth_blockNumber"), 16)


def test_a_hop_proves_the_hash_the_node_states(node: AnvilNode) -> None:
    head = _head(node)
    source_hash = to_bytes(_block(node, head)["hash"], "hash", 32)
    for target in (head - 1, head - 7, 0):
        proven = verify_hop(_hop(node, head, target), source_hash, DEVNET)
        assert proven.number == target
        # independent: the hash the node states for that block
        assert hexstr(proven.hash) == _block(node, target)["hash"]


def test_hops_chain_from_the_anchor(node: AnvilNode) -> None:
    head = _head(node)
    anchor = to_bytes(_block(node, head)["hash"], "hash", 32)
    hops = [_hop(node, head, head - 10), _hop(node, head - 10, head - 25)]
    assert verify_hops(hops, anchor, DEVNET).number == head - 25


def test_source_header_must_hash_to_the_proven_hash(node: AnvilNode) -> None:
    head = _head(node)
    other = to_bytes(_block(node, head - 1)["hash"], "hash", 32)
    with pytest.raises(HistoryRuleError) as exc:
        verify_hop(_hop(node, head, head - 3), other, DEVNET)
    assert _rule(exc) == "hop_source"


def _forged(raw: bytes) -> bytes:
    """The same block number, another header (extraData changed)."""
    items = rlp.decode(raw)
    items[12] = b"forged"
    return bytes(rlp.encode(items))


def test_header_of_another_block_is_rejected(node: AnvilNode) -> None:
    head = _head(node)
    good = _block(node, head)
    anchor = to_bytes(good["hash"], "hash", 32)
    hop = _hop(node, head, head - 4)
    forged = HopProof(**{**hop.__dict__, "target_header": _forged(hop.target_header)})
    with pytest.raises(HistoryRuleError) as exc:
        verify_hop(forged, anchor, DEVNET)
    assert _rule(exc) == "hop_value"
    # another real block's header under the slot of the first one
    swapped = HopProof(**{**hop.__dict__, "target_header": _header(node, head - 5)})
    with pytest.raises(HistoryRuleError) as exc:
        verify_hop(swapped, anchor, DEVNET)
    assert _rule(exc) == "hop_slot"


def test_wrong_slot_is_rejected(node: AnvilNode) -> None:
    head = _head(node)
    anchor = to_bytes(_block(node, head)["hash"], "hash", 32)
    hop = _hop(node, head, head - 4, slot_of=head - 6)
    with pytest.raises(HistoryRuleError) as exc:
        verify_hop(hop, anchor, DEVNET)
    assert _rule(exc) == "hop_slot"


def test_changed_storage_proof_is_rejected(node: AnvilNode) -> None:
    head = _head(node)
    anchor = to_bytes(_block(node, head)["hash"], "hash", 32)
    hop = _hop(node, head, head - 4)
    leaf = rlp.decode(hop.storage_proof[-1])
    leaf[1] = rlp.encode(b"\x01" * 32)  # another stored value
    changed = HopProof(
        **{**hop.__dict__, "storage_proof": (*hop.storage_proof[:-1], rlp.encode(leaf))}
    )
    with pytest.raises(HistoryRuleError) as exc:
        verify_hop(changed, anchor, DEVNET)
    assert _rule(exc) == "hop_storage"
    dropped = HopProof(**{**hop.__dict__, "account_proof": hop.account_proof[:-1]})
    with pytest.raises(HistoryRuleError) as exc:
        verify_hop(dropped, anchor, DEVNET)
    assert _rule(exc) == "hop_account"


def test_a_hop_may_not_cross_the_activation(node: AnvilNode) -> None:
    head = _head(node)
    anchor = to_bytes(_block(node, head)["hash"], "hash", 32)
    hop = _hop(node, head, head - 4)
    assert verify_hop(hop, anchor, DEVNET, first=head - 4).number == head - 4  # control
    with pytest.raises(HistoryRuleError) as exc:
        verify_hop(hop, anchor, DEVNET, first=head - 3)
    assert _rule(exc) == "hop_activation"
    for chain in (1, 5):  # mainnet's activation is far above; chain 5 has none
        with pytest.raises(HistoryRuleError) as exc:
            verify_hop(hop, anchor, chain)
        assert _rule(exc) == "hop_activation"


def test_a_hop_back_to_itself_or_forward_is_out_of_range(node: AnvilNode) -> None:
    head = _head(node)
    anchor_hash = to_bytes(_block(node, head - 3)["hash"], "hash", 32)
    hop = _hop(node, head - 3, head - 3)
    with pytest.raises(HistoryRuleError) as exc:
        verify_hop(hop, anchor_hash, DEVNET)
    assert _rule(exc) == "hop_range"
    assert WINDOW == 8191
