"""Shared feature-spec vectors (tests/vectors/features/*.json) with hand-derived
expected values, and the Python implementation run on them.

Slots are derived here with pycryptodome's keccak and byte concatenation, not with
coprocessor.chain.slots; every expected Q16 value is worked out in a comment. Run this
file as a script to rewrite the vector files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from Crypto.Hash import keccak as _keccak
from locations import VECTORS

from coprocessor.errors import UserInputError
from coprocessor.scoring import features

VECTORS = VECTORS / "features"
SUBJECT = "0x" + "11" * 20
POOL = "0x" + "22" * 20
ORACLE = "0x" + "44" * 20
ABSENT = "0x" + "33" * 20
EMPTY_CODE = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
E18 = 10**18
MAX = 2**31 - 1


def keccak(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


def word(v: int) -> bytes:
    return v.to_bytes(32, "big")


def key(slot: int) -> str:
    return "0x" + word(slot).hex()


def q(v: int) -> str:
    return hex(v)


# positions[subject] lives at keccak(pad32(subject) ‖ pad32(3)); struct field 0 packs
# uint128 collateral (low 16 bytes) and uint128 debt (high 16 bytes)
POSITION = int.from_bytes(keccak(bytes(12) + bytes.fromhex(SUBJECT[2:]) + word(3)), "big")
# a dynamic array at slot 7, element 2 of 2-slot structs, member 1: keccak(pad32(7)) + 2*2 + 1
ARRAY_ELEM = (int.from_bytes(keccak(word(7)), "big") + 5) % 2**256


def lending_vector() -> dict[str, Any]:
    spec: dict[str, Any] = {
        "format": "coproc-features",
        "version": 1,
        "name": "lending-test",
        "features": [
            {
                "name": "eth_balance",
                "read": {"kind": "balance", "address": "$subject"},
                "decimals": 18,
                "min": 0,
            },
            {"name": "nonce", "read": {"kind": "nonce", "address": "$subject"}},
            {"name": "is_contract", "read": {"kind": "code_present", "address": "$subject"}},
            {
                "name": "collateral",
                "read": {
                    "kind": "storage",
                    "address": POOL.upper().replace("0X", "0x"),
                    "slot": {"base": 3, "path": [{"mapping": "$subject"}, {"field": 0}]},
                    "bits": {"offset": 0, "size": 16},
                },
                "decimals": 18,
            },
            {
                "name": "debt",
                "read": {
                    "kind": "storage",
                    "address": POOL,
                    "slot": {"base": 3, "path": [{"mapping": "$subject"}]},
                    "bits": {"offset": 16, "size": 16},
                },
                "decimals": 18,
            },
            {
                "name": "debt_8",
                "read": {
                    "kind": "storage",
                    "address": POOL,
                    "slot": {"base": 3, "path": [{"mapping": "$subject"}]},
                    "bits": {"offset": 16},
                    "block_offset": 8,
                },
                "decimals": 18,
            },
            {
                "name": "price",
                "read": {"kind": "storage", "address": ORACLE, "slot": {"base": 0}},
                "decimals": 8,
            },
            {
                "name": "skew",
                "read": {
                    "kind": "storage",
                    "address": POOL,
                    "slot": {"base": 5},
                    "bits": {"offset": 8, "size": 8},
                },
                "signed": True,
                "decimals": 1,
            },
            {
                "name": "elem",
                "read": {
                    "kind": "storage",
                    "address": POOL,
                    "slot": {"base": 7, "path": [{"index": 2, "elem_slots": 2}, {"field": 1}]},
                },
            },
            {
                "name": "pool_eth",
                "read": {"kind": "balance", "address": POOL},
                "decimals": 18,
                "max": 100_000_000,
            },
            {"name": "absent_bal", "read": {"kind": "balance", "address": ABSENT}},
            {
                "name": "absent_slot",
                "read": {"kind": "storage", "address": ABSENT, "slot": {"base": 1}},
            },
            {"name": "coll_value", "combine": {"op": "mul", "args": ["collateral", "price"]}},
            {
                "name": "ltv",
                "combine": {"op": "ratio", "args": ["debt", "coll_value"]},
                "min": 0,
                "max": 65536,
            },
            {"name": "debt_trend", "combine": {"op": "sub", "args": ["debt", "debt_8"]}},
            {"name": "debt_sum", "combine": {"op": "add", "args": ["debt", "debt_8"]}},
            {
                "name": "div_zero",
                "combine": {"op": "ratio", "args": ["debt", "absent_slot"]},
                "max": 1000,
            },
            {"name": "neg_ratio", "combine": {"op": "ratio", "args": ["skew", "nonce"]}},
        ],
    }
    pool_word_100 = (4 * E18 << 128) | (10 * E18 + E18 // 2)  # debt 4, collateral 10.5
    pool_word_92 = (3 * E18 << 128) | (10 * E18)
    skew = ((2**64 - 3) << 64) | 0xFFFF  # int64 -3 at byte offset 8, junk below
    verified = {
        "chain_id": 31337,
        "anchor": {"number": 100, "hash": "0x" + "ab" * 32},
        "blocks": [],
        "accounts": [
            {
                "block": 100,
                "address": SUBJECT,
                "account": {
                    "nonce": q(7),
                    "balance": q(5 * E18 // 2),
                    "storage_root": "0x" + "00" * 32,
                    "code_hash": EMPTY_CODE,
                },
                "storage": {},
            },
            {
                "block": 100,
                "address": POOL,
                "account": {
                    "nonce": q(1),
                    "balance": q(10**30),
                    "storage_root": "0x" + "01" * 32,
                    "code_hash": "0x" + "cc" * 32,
                },
                "storage": {
                    key(POSITION): q(pool_word_100),
                    key(5): q(skew),
                    key(ARRAY_ELEM): q(3),
                },
            },
            {
                "block": 92,
                "address": POOL,
                "account": {
                    "nonce": q(1),
                    "balance": q(0),
                    "storage_root": "0x" + "02" * 32,
                    "code_hash": "0x" + "cc" * 32,
                },
                "storage": {key(POSITION): q(pool_word_92)},
            },
            {
                "block": 100,
                "address": ORACLE,
                "account": {
                    "nonce": q(1),
                    "balance": q(0),
                    "storage_root": "0x" + "03" * 32,
                    "code_hash": "0x" + "dd" * 32,
                },
                "storage": {key(0): q(2000 * 10**8)},
            },
            {"block": 100, "address": ABSENT, "account": None, "storage": {}},
        ],
    }
    expected = [
        ("eth_balance", 163840),  # 2.5 * 65536
        ("nonce", 458752),  # 7 * 65536 (decimals 0)
        ("is_contract", 0),  # empty code hash
        ("collateral", 688128),  # 10.5 * 65536
        ("debt", 262144),  # 4 * 65536
        ("debt_8", 196608),  # 3 * 65536 at block 92 (bits offset 16, size defaults to 16)
        ("price", 131072000),  # 2000 * 65536
        ("skew", -19660),  # int64 -3, /10 -> trunc(-19660.8) towards zero
        ("elem", 196608),  # 3 * 65536
        ("pool_eth", 100_000_000),  # 1e12 * 65536 saturates to 2^31-1, clamped to max
        ("absent_bal", 0),
        ("absent_slot", 0),  # an absent account has empty storage
        ("coll_value", 1376256000),  # 688128 * 131072000 / 65536 = 688128 * 2000
        ("ltv", 12),  # 4 / 21000: trunc(262144 * 65536 / 1376256000) = trunc(12.48)
        ("debt_trend", 65536),
        ("debt_sum", 458752),
        ("div_zero", 1000),  # b == 0 -> max
        ("neg_ratio", -2808),  # trunc(-19660 * 65536 / 458752) = trunc(-2808.57) -> -2808
    ]
    canonical_features = []
    for feat in spec["features"]:
        full = json.loads(json.dumps(feat))
        full.setdefault("min", -(2**31))
        full.setdefault("max", MAX)
        if "read" in full:
            full.setdefault("decimals", 0)
            full.setdefault("signed", False)
            full["read"]["address"] = full["read"]["address"].lower()
            full["read"].setdefault("block_offset", 0)
            if full["read"]["kind"] == "storage":
                full["read"]["slot"].setdefault("path", [])
                bits = full["read"].setdefault("bits", {})
                bits.setdefault("offset", 0)
                bits.setdefault("size", 32 - bits["offset"])
        canonical_features.append(full)
    canonical = json.dumps(
        {**spec, "features": canonical_features}, sort_keys=True, separators=(",", ":")
    )
    return {
        "_doc": "feature spec v1: every read kind, packed/signed fields, mapping/array/field "
        "slots, block offsets, saturation, clamps and every combine op; expected values "
        "derived by hand (tests/test_features_vectors.py)",
        "spec": spec,
        "canonical": canonical,
        "spec_hash": "0x" + keccak(canonical.encode()).hex(),
        "subject": SUBJECT,
        "block": 100,
        "verified": verified,
        "expected": [{"name": n, "q16": v} for n, v in expected],
    }


def build() -> dict[str, dict[str, Any]]:
    return {"lending": lending_vector()}


def test_vector_files_are_current() -> None:
    built = build()
    # lending_bundle.json comes from anvil (tests/test_features_bundle.py checks it);
    # series_v2.json and spec_v2.json are tests/history/test_series.py's and
    # tests/scoring/test_features_series.py's
    others = {"lending_bundle", "series_v2", "spec_v2"}
    assert sorted(p.stem for p in VECTORS.glob("*.json") if p.stem not in others) == sorted(built)
    for name, vec in built.items():
        assert json.loads((VECTORS / f"{name}.json").read_text()) == vec


@pytest.mark.parametrize(
    "path", [VECTORS / f"{name}.json" for name in build()], ids=lambda p: p.stem
)
def test_features_on_vectors(path: Path) -> None:
    vec = json.loads(path.read_text())
    spec = features.normalize(vec["spec"])
    assert features.canonical_bytes(spec).decode() == vec["canonical"]
    assert "0x" + features.spec_hash(spec).hex() == vec["spec_hash"]
    fv = features.compute(spec, vec["verified"], vec["subject"], vec["block"])
    assert list(fv.names) == [e["name"] for e in vec["expected"]]
    assert dict(zip(fv.names, fv.values, strict=True)) == {
        e["name"]: e["q16"] for e in vec["expected"]
    }
    # the default block is the anchor
    assert features.compute(spec, vec["verified"], vec["subject"]).values == fv.values


def test_required_reads_cover_the_vector() -> None:
    vec = lending_vector()
    reads = features.required_reads(features.normalize(vec["spec"]), SUBJECT, 100)
    got = {(r.block, r.address, r.slot) for r in reads}
    assert (100, POOL, POSITION) in got and (92, POOL, POSITION) in got
    assert (100, POOL, ARRAY_ELEM) in got and (100, SUBJECT, None) in got
    assert len(reads) == len(got)  # no duplicates
    # every read is present in the verified values
    have = {(a["block"], a["address"]) for a in vec["verified"]["accounts"]}
    assert {(b, a) for b, a, _ in got} <= have


def test_missing_values_are_errors() -> None:
    vec = lending_vector()
    spec = features.normalize(vec["spec"])
    verified = json.loads(json.dumps(vec["verified"]))
    del verified["accounts"][1]["storage"][key(5)]
    with pytest.raises(UserInputError, match="no slot"):
        features.compute(spec, verified, SUBJECT, 100)
    with pytest.raises(UserInputError, match="no read"):
        features.compute(spec, vec["verified"], SUBJECT, 101)
    with pytest.raises(UserInputError, match="no read"):
        features.compute(spec, vec["verified"], "0x" + "55" * 20, 100)


if __name__ == "__main__":
    VECTORS.mkdir(parents=True, exist_ok=True)
    for name, vec in build().items():
        (VECTORS / f"{name}.json").write_text(json.dumps(vec, indent=1) + "\n")
    print(f"wrote {VECTORS}", file=sys.stderr)
