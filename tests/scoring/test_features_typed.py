"""The typed feature spec: canonical bytes of a parsed spec equal the canonical JSON
written by hand (an independent oracle: a fully spelled-out spec in canonical form
serialised with sorted keys), whatever defaults the input leaves out; and the typed
bundle entry (``compute_bundle``) gives the vector the verified-values JSON gives."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from locations import REPO

from coprocessor.chain.bundle import verify_bundle
from coprocessor.errors import UserInputError
from coprocessor.scoring import features

I32 = (-(2**31), 2**31 - 1)
WORD = 2**256
HEX_DIGITS = "0123456789abcdef"
VECTORS = REPO / "tests" / "vectors" / "features"
SPEC_FILE = REPO / "models" / "lending-risk-v1.features.json"


def _hex(size: int) -> st.SearchStrategy[str]:
    return st.text(HEX_DIGITS, min_size=2 * size, max_size=2 * size).map(lambda s: "0x" + s)


def _step() -> st.SearchStrategy[dict[str, Any]]:
    key = st.one_of(st.just("$subject"), st.integers(-(2**255), WORD - 1), _hex(20), _hex(32))
    return st.one_of(
        key.map(lambda k: {"mapping": k}),
        st.builds(lambda i, n: {"index": i, "elem_slots": n}, st.integers(0, WORD - 1),
                  st.integers(1, WORD - 1)),
        st.integers(0, WORD - 1).map(lambda f: {"field": f}),
    )  # fmt: skip


@st.composite
def _read_feature(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(features.READ_KINDS))
    read: dict[str, Any] = {
        "kind": kind,
        "address": draw(st.one_of(st.just("$subject"), _hex(20))),
        "block_offset": draw(st.integers(0, 2**32)),
    }
    signed = False
    if kind == "storage":
        path = draw(st.lists(_step(), max_size=16))
        read["slot"] = {"base": draw(st.integers(0, WORD - 1)), "path": path}
        offset = draw(st.integers(0, 31))
        read["bits"] = {"offset": offset, "size": draw(st.integers(1, 32 - offset))}
        signed = draw(st.booleans())
    lo, hi = sorted([draw(st.integers(*I32)), draw(st.integers(*I32))])
    decimals = draw(st.integers(0, features.MAX_DECIMALS))
    return {"decimals": decimals, "max": hi, "min": lo, "name": name, "read": read,
            "signed": signed}  # fmt: skip


@st.composite
def full_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec in canonical form: every default spelled out, hex in lowercase."""
    count = draw(st.integers(1, 6))
    feats: list[dict[str, Any]] = []
    for i in range(count):
        name = f"f{i}"
        if i >= 1 and draw(st.booleans()):
            args = [f"f{draw(st.integers(0, i - 1))}", f"f{draw(st.integers(0, i - 1))}"]
            lo, hi = sorted([draw(st.integers(*I32)), draw(st.integers(*I32))])
            op = draw(st.sampled_from(features.COMBINE_OPS))
            feats.append({"combine": {"args": args, "op": op}, "max": hi, "min": lo, "name": name})
        else:
            feats.append(draw(_read_feature(name)))
    name = draw(st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=12))
    return {"features": feats, "format": "coproc-features", "name": name, "version": 1}


def oracle_bytes(full: dict[str, Any]) -> bytes:
    """docs/formats.md §3: canonical JSON is sorted keys, no whitespace, ASCII."""
    return json.dumps(full, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _upper(value: Any, upper: bool) -> Any:
    if upper and isinstance(value, str) and value.startswith("0x"):
        return "0x" + value[2:].upper()
    return value


def shorten(
    full: dict[str, Any], drop: Callable[[st.SearchStrategy[bool]], bool]
) -> dict[str, Any]:
    """The same spec with some defaults left out and some hex in upper case."""
    out: dict[str, Any] = json.loads(json.dumps(full))
    for feat in out["features"]:
        for key, default in (("min", I32[0]), ("max", I32[1]), ("decimals", 0), ("signed", False)):
            if (
                feat.get(key, None) == default
                and type(feat[key]) is type(default)
                and drop(st.booleans())
            ):
                del feat[key]
        read = feat.get("read")
        if read is None:
            continue
        read["address"] = _upper(read["address"], drop(st.booleans()))
        if read["block_offset"] == 0 and drop(st.booleans()):
            del read["block_offset"]
        if "slot" in read:
            slot = read["slot"]
            for step in slot["path"]:
                if "mapping" in step:
                    step["mapping"] = _upper(step["mapping"], drop(st.booleans()))
                if step.get("elem_slots") == 1 and drop(st.booleans()):
                    del step["elem_slots"]
            if not slot["path"] and drop(st.booleans()):
                del slot["path"]
            bits = read["bits"]
            if bits["size"] == 32 - bits["offset"] and drop(st.booleans()):
                del bits["size"]
            if bits["offset"] == 0 and drop(st.booleans()):
                del bits["offset"]
            if not bits and drop(st.booleans()):
                del read["bits"]
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(full_specs(), st.data())
def test_canonical_bytes_of_parsed_specs(full: dict[str, Any], data: st.DataObject) -> None:
    spec = features.normalize(full)
    assert features.canonical_bytes(spec) == oracle_bytes(full)
    assert features.normalize(shorten(full, data.draw)) == spec
    assert features.canonical_bytes(features.normalize(shorten(full, data.draw))) == (
        oracle_bytes(full)
    )
    # the typed tree and its JSON form carry the same spec
    assert features.normalize(spec.to_json()) == spec
    assert spec.names == tuple(f["name"] for f in full["features"])


def test_known_hashes() -> None:
    """The committed vectors' hashes (written before the spec was typed)."""
    vec = json.loads((VECTORS / "lending.json").read_text())
    assert "0x" + features.spec_hash(features.normalize(vec["spec"])).hex() == vec["spec_hash"]
    bundle_vec = json.loads((VECTORS / "lending_bundle.json").read_text())
    spec = features.load(SPEC_FILE)
    assert "0x" + features.spec_hash(spec).hex() == bundle_vec["spec_hash"]


def test_bundle_entry_equals_the_json_entry() -> None:
    """compute_bundle (values as verified) == compute (values through the JSON form)."""
    vec = json.loads((VECTORS / "lending_bundle.json").read_text())
    spec = features.load(SPEC_FILE)
    verified = verify_bundle(vec["bundle"])
    for case in vec["cases"]:
        typed = features.compute_bundle(spec, verified, case["subject"], case["block"])
        via_json = features.compute(spec, verified.to_json(), case["subject"], case["block"])
        assert typed == via_json
        assert list(typed.values) == case["vector"]
    first = vec["cases"][0]["subject"]
    assert features.compute_bundle(spec, verified, first) == features.compute(
        spec, verified.to_json(), first
    )


def test_bundle_entry_names_a_missing_value() -> None:
    """A value the bundle lacks is the same one-line error on both entries."""
    vec = json.loads((VECTORS / "lending_bundle.json").read_text())
    spec = features.load(SPEC_FILE)
    verified = verify_bundle(vec["bundle"])
    stranger = "0x" + "55" * 20
    with pytest.raises(UserInputError, match="the bundle has no slot 0x") as typed_err:
        features.compute_bundle(spec, verified, stranger, verified.anchor.number)
    with pytest.raises(UserInputError) as json_err:
        features.compute(spec, verified.to_json(), stranger, verified.anchor.number)
    assert str(typed_err.value) == str(json_err.value)
    assert typed_err.value.code == json_err.value.code == "F018"
    with pytest.raises(UserInputError, match=r"the bundle has no read of .* at block 1\b"):
        features.compute_bundle(spec, verified, stranger, 1)
