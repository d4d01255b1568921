"""The devnet history (coprocessor/dev/history.py, >= 60,000 blocks, built once per
machine and cached): anvil reloaded from the cache answers eth_getProof at old
blocks, and a read 60,000 blocks behind the anchor is indexed into a bundle v2
with 8 hops and verified."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from coprocessor.chain.bundle_v2 import verify_bundle_v2
from coprocessor.chain.headers import header_from_json
from coprocessor.chain.history import HistoryRuleError
from coprocessor.chain.proofs import verify_proof_response
from coprocessor.dev.devnet import AnvilNode, rpc_call
from coprocessor.dev.history import VALUE_CONTRACT, History

DEEP = 60_000


def test_the_history_is_long_and_its_values_change(history: History) -> None:
    assert history.head >= DEEP
    values = {v for _, v in history.manifest["writes"]}
    assert len(values) >= 200


def test_old_states_prove_after_reload(history: History, history_node: AnvilNode) -> None:
    """eth_getProof at every checkpoint verifies against that block's header and
    gives the value the builder wrote (the manifest records the writes)."""
    slot = "0x" + "00" * 32
    for block in (*history.checkpoints[::7], history.checkpoints[-1], history.head):
        header = header_from_json(
            rpc_call(history_node.rpc, "eth_getBlockByNumber", [hex(block), False])
        )
        proof = rpc_call(
            history_node.rpc, "eth_getProof", ["0x" + VALUE_CONTRACT.hex(), [slot], hex(block)]
        )
        proven = verify_proof_response(proof, header.state_root)
        assert proven.storage[bytes(32)] == history.value_at(block), block


def test_a_read_60000_blocks_back_is_proven(history: History, deep: dict[str, Any]) -> None:
    verified = verify_bundle_v2(deep["json"])
    assert verified.anchor.number == history.head
    assert len(deep["plan"].hops) == 8  # 60,000 blocks in hops of at most 8,191
    (read,) = [a for a in verified.bundle.accounts if a.address == VALUE_CONTRACT]
    assert read.block == deep["target"]
    assert read.storage[0].value == history.value_at(deep["target"])


def test_a_hop_longer_than_the_window_is_rejected(deep: dict[str, Any]) -> None:
    bad = copy.deepcopy(deep["json"])
    hops = bad["hops"]
    # the second-newest hop now starts at the first one's source: > 8,191 blocks
    hops[-2]["from"] = hops[-1]["from"]
    with pytest.raises(HistoryRuleError) as exc:
        verify_bundle_v2(bad)
    assert exc.value.history_rule == "hop_range"
