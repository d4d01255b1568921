"""The guest's Rust core (through coproc_native) and the Python reference agree on
bundle v2 (accepts, the values, and the rule of each tampered hop) and on the spec v2
series aggregates (hypothesis)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import rlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_paths import hex_strings, replaced
from series_oracle import INT32_MAX, INT32_MIN

from coprocessor.chain.bundle_v2 import verify_bundle_v2
from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.history import HISTORY_ADDRESS
from coprocessor.chain.native_v2 import series_aggregate_native, verify_bundle_v2_native
from coprocessor.errors import CoprocessorError
from coprocessor.scoring.series import OPS, aggregate


def _encode(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _native_rule(obj: Any) -> str | None:
    with pytest.raises(CoprocessorError) as exc:
        verify_bundle_v2_native(_encode(obj))
    return exc.value.rule


def _python_rule(obj: Any) -> str | None:
    with pytest.raises(CoprocessorError) as exc:
        verify_bundle_v2(obj)
    return exc.value.rule


def test_native_verifies_the_same_values(v2: dict[str, Any]) -> None:
    native = verify_bundle_v2_native(_encode(v2))
    python = verify_bundle_v2(v2)
    assert native.pop("hops") == [list(h) for h in python.hops]
    assert native == python.to_json()


def _tampered(v2: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    bad = copy.deepcopy(v2)
    entry = next(a for a in bad["accounts"] if a["address"] == hexstr(HISTORY_ADDRESS))
    entry["storage"][0]["value"] = hex(int(entry["storage"][0]["value"], 16) ^ 1)
    out["hop_value"] = bad
    bad = copy.deepcopy(v2)
    entry = next(a for a in bad["accounts"] if a["address"] == hexstr(HISTORY_ADDRESS))
    lost = bad["hops"][0]["to"] % 8191
    entry["storage"] = [s for s in entry["storage"] if int(s["slot"], 16) != lost]
    out["hop_slot"] = bad
    bad = copy.deepcopy(v2)
    target = bad["hops"][0]["to"]
    for i, raw in enumerate(bad["headers"]):
        items = rlp.decode(bytes.fromhex(raw[2:]))
        if int.from_bytes(items[8], "big") == target:
            items[12] = b"another block"
            bad["headers"][i] = "0x" + rlp.encode(items).hex()
    out["hop_value (another header)"] = bad
    out["hop_activation"] = dict(v2, chain_id=1)
    out["hop_activation (unknown chain)"] = dict(v2, chain_id=5)
    bad = copy.deepcopy(v2)
    bad["hops"] = bad["hops"][1:]
    out["hop_tied"] = bad
    bad = copy.deepcopy(v2)
    bad["hops"][0]["to"] += 1
    out["hop_header"] = bad
    bad = copy.deepcopy(v2)
    bad["hops"][-1]["from"] = bad["hops"][-1]["to"]
    out["hop_range"] = bad
    return out


def test_each_tampered_hop_breaks_the_same_rule_in_rust(v2: dict[str, Any]) -> None:
    for name, bad in _tampered(v2).items():
        expected = name.split(" ")[0]
        assert _python_rule(bad) == expected, name
        assert _native_rule(bad) == expected, name


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_single_character_change_is_rejected_by_both(v2: dict[str, Any], data: Any) -> None:
    strings = list(hex_strings(v2))
    path, text = data.draw(st.sampled_from(strings), label="string")
    pos = data.draw(st.integers(2, len(text) - 1), label="position")
    new = data.draw(st.sampled_from("0123456789abcdef").filter(lambda c: c != text[pos]))
    bad = replaced(v2, path, text[:pos] + new + text[pos + 1 :])
    with pytest.raises(CoprocessorError):
        verify_bundle_v2(bad)
    with pytest.raises(CoprocessorError):
        verify_bundle_v2_native(_encode(bad))


@settings(max_examples=300, deadline=None)
@given(
    xs=st.lists(st.integers(INT32_MIN, INT32_MAX), min_size=1, max_size=40),
    op=st.sampled_from(OPS),
    threshold=st.integers(INT32_MIN, INT32_MAX),
)
def test_series_aggregates_are_bit_equal(xs: list[int], op: str, threshold: int) -> None:
    assert series_aggregate_native(op, xs, threshold) == aggregate(op, xs, threshold)


def test_the_rust_core_verifies_the_deep_read(deep: dict[str, Any]) -> None:
    """The guest's verifier (coproc_native) accepts it, with the same values, and
    rejects the over-long hop by the same rule."""
    values = verify_bundle_v2_native(json.dumps(deep["json"]).encode())
    assert len(values.pop("hops")) == 8
    assert values == verify_bundle_v2(deep["json"]).to_json()
    bad = copy.deepcopy(deep["json"])
    bad["hops"][-2]["from"] = bad["hops"][-1]["from"]
    with pytest.raises(CoprocessorError) as exc:
        verify_bundle_v2_native(json.dumps(bad).encode())
    assert exc.value.rule == "hop_range"
