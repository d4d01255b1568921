"""Bundle v2 (docs/formats.md §1b) on a real anvil: reads at several blocks tied to
one anchor by header links and EIP-2935 hops, indexed by index_history, verified in
Python; every hex string covered, exact keys, and each tampered hop rejected with
the rule it breaks. v1 bundles keep verifying (the v1 suites), and v1's reader
refuses a v2 bundle by its version."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import rlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_paths import hex_strings, replaced

from coprocessor.chain.bundle import parse_bundle
from coprocessor.chain.bundle_v2 import parse_bundle_v2, verify_bundle_v2
from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.history import HISTORY_ADDRESS, HistoryRuleError
from coprocessor.dev.devnet import rpc_call
from coprocessor.errors import CoprocessorError, UserInputError


def _storage_at(chain: dict[str, Any], block: int) -> int:
    answer = rpc_call(chain["rpc"], "eth_getStorageAt", [chain["contract"], "0x0", hex(block)])
    return int(answer, 16)


def test_reads_far_back_are_proven_at_their_blocks(
    chain: dict[str, Any], v2: dict[str, Any]
) -> None:
    verified = verify_bundle_v2(v2)
    assert verified.anchor.number == chain["head"]
    values = {
        a.block: a.storage[0].value
        for a in verified.bundle.accounts
        if a.address == bytes.fromhex(chain["contract"][2:])
    }
    # independent: what the node says the slot held at each block
    assert values == {b: _storage_at(chain, b) for b in chain["blocks"]}
    assert len(set(values.values())) >= 3  # the values changed along the way
    for header in verified.headers:
        block = rpc_call(chain["rpc"], "eth_getBlockByNumber", [hex(header.number), False])
        assert hexstr(header.hash) == block["hash"]


def test_the_plan_shares_hops_and_uses_links(chain: dict[str, Any], v2: dict[str, Any]) -> None:
    head = chain["head"]
    numbers = [int(rlp.decode(bytes.fromhex(h[2:]))[8].hex() or "0", 16) for h in v2["headers"]]
    assert numbers == sorted(numbers) and numbers[-1] == head
    # head-2 by the header chain, head-31 by its child head-30, the others by hops
    assert {head - 2, head - 1, head - 30, head - 31} <= set(numbers)
    assert [h["to"] for h in v2["hops"]] == [head - 55, head - 30]
    history = [a for a in v2["accounts"] if a["address"] == hexstr(HISTORY_ADDRESS)]
    assert len(history) == 1  # both hops from one source: one history read
    assert {h["from"] for h in v2["hops"]} == {history[0]["block"]}


def _rejected(obj: Any) -> bool:
    try:
        verify_bundle_v2(obj)
    except CoprocessorError:
        return True
    return False


HEX = "0123456789abcdef"


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_single_character_change_is_rejected(v2: dict[str, Any], data: Any) -> None:
    strings = list(hex_strings(v2))
    path, text = data.draw(st.sampled_from(strings), label="string")
    pos = data.draw(st.integers(0, len(text) - 1), label="position")
    new = data.draw(st.sampled_from(HEX + "xX AG").filter(lambda c: c != text[pos]))
    assert _rejected(replaced(v2, path, text[:pos] + new + text[pos + 1 :])), (path, pos)


def test_every_short_string_digit_change_is_rejected(v2: dict[str, Any]) -> None:
    accepted = []
    for path, text in hex_strings(v2):
        if len(text) > 200:
            continue
        for pos in range(2, len(text)):
            new = HEX[(HEX.index(text[pos]) + 1) % 16]
            if not _rejected(replaced(v2, path, text[:pos] + new + text[pos + 1 :])):
                accepted.append((path, pos))
    assert accepted == []


def _rule(obj: Any, **kwargs: Any) -> str:
    with pytest.raises(HistoryRuleError) as exc:
        verify_bundle_v2(obj, **kwargs)
    return exc.value.history_rule


def _history_entry(v2: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = next(
        a for a in v2["accounts"] if a["address"] == hexstr(HISTORY_ADDRESS)
    )
    return entry


def test_changed_history_value_is_rejected(v2: dict[str, Any]) -> None:
    bad = copy.deepcopy(v2)
    slot = _history_entry(bad)["storage"][0]
    slot["value"] = hex(int(slot["value"], 16) ^ 1)
    assert _rule(bad) == "hop_value"


def test_wrong_slot_is_rejected(v2: dict[str, Any]) -> None:
    bad = copy.deepcopy(v2)
    hop = bad["hops"][0]
    hop["to"] += 1  # now names block to+1, whose slot the read at the source lacks
    assert _rule(bad) == "hop_header"
    bad = copy.deepcopy(v2)
    entry = _history_entry(bad)
    entry["storage"] = [
        s for s in entry["storage"] if int(s["slot"], 16) != bad["hops"][0]["to"] % 8191
    ]
    assert _rule(bad) == "hop_slot"


def test_header_of_another_block_is_rejected(v2: dict[str, Any]) -> None:
    target = v2["hops"][0]["to"]
    bad = copy.deepcopy(v2)
    for i, raw in enumerate(bad["headers"]):
        items = rlp.decode(bytes.fromhex(raw[2:]))
        if int.from_bytes(items[8], "big") == target:
            items[12] = b"another block"
            bad["headers"][i] = "0x" + rlp.encode(items).hex()
    assert _rule(bad) == "hop_value"


def test_a_hop_crossing_the_activation_is_rejected(v2: dict[str, Any]) -> None:
    target = v2["hops"][0]["to"]
    verify_bundle_v2(v2, first=target)  # control: at the activation
    assert _rule(v2, first=target + 1) == "hop_activation"
    assert _rule(dict(v2, chain_id=1)) == "hop_activation"  # mainnet: far above


def test_a_header_without_a_link_is_rejected(v2: dict[str, Any]) -> None:
    bad = copy.deepcopy(v2)
    bad["hops"] = bad["hops"][1:]
    assert _rule(bad) == "hop_tied"


def test_exact_keys_and_versions(v2: dict[str, Any]) -> None:
    with pytest.raises(UserInputError, match="unknown key 'extra'"):
        parse_bundle_v2(dict(v2, extra=1))
    with pytest.raises(UserInputError, match="exactly 'from' and 'to'"):
        parse_bundle_v2(dict(v2, hops=[dict(v2["hops"][0], via=1)]))
    with pytest.raises(UserInputError, match="missing field 'hops'"):
        parse_bundle_v2({k: v for k, v in v2.items() if k != "hops"})
    with pytest.raises(UserInputError, match="strictly ascending"):
        parse_bundle_v2(dict(v2, hops=list(reversed(v2["hops"]))))
    with pytest.raises(UserInputError, match="unsupported version 2"):
        parse_bundle(v2)  # the v1 reader refuses v2 by its version
    with pytest.raises(UserInputError, match="version True"):
        parse_bundle_v2(dict(v2, version=True))
