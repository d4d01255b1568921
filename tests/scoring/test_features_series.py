"""Feature spec v2 (docs/formats.md §3b): read features sampled over a window of blocks
and aggregated. Expected values come from the fractions oracle (tests/series_oracle.py)
applied to samples converted here by hand (raw / 10**decimals in Q16, truncated), not
from coprocessor/scoring/series.py. The vector file tests/vectors/features/spec_v2.json
(read by the Rust core too) is rewritten by ``python tests/scoring/test_features_series.py``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from Crypto.Hash import keccak as _keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from locations import VECTORS
from series_oracle import INT32_MAX, INT32_MIN, oracle

from coprocessor.errors import UserInputError
from coprocessor.scoring import features

VECTOR_FILE = VECTORS / "features" / "spec_v2.json"
SUBJECT = "0x" + "11" * 20
ORACLE = "0x" + "44" * 20
EMPTY_CODE = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
BLOCK = 5000
EVERY = 100
SAMPLES = 30
OPS = ("last", "mean", "min", "max", "stdev", "slope", "change", "count_above")


def _key(slot: int) -> str:
    return "0x" + slot.to_bytes(32, "big").hex()


def _price(number: int) -> int:
    """An 8-decimals price that moves up and down with the block number."""
    return (2000 + (number * 7919) % 301 - 150) * 10**8 + number


def _balance(number: int) -> int:
    return (number % 977) * 10**15


def _account(number: int, address: str, balance: int, storage: dict[str, str]) -> dict[str, Any]:
    return {
        "block": number,
        "address": address,
        "account": {
            "nonce": "0x1",
            "balance": hex(balance),
            "storage_root": "0x" + "03" * 32,
            "code_hash": EMPTY_CODE,
        },
        "storage": storage,
    }


def _spec(feats: list[dict[str, Any]], version: int = 2) -> dict[str, Any]:
    return {"format": "coproc-features", "version": version, "name": "series", "features": feats}


def _price_feature(op: str, **extra: Any) -> dict[str, Any]:
    series: dict[str, Any] = {"samples": SAMPLES, "every": EVERY, "op": op}
    if op == "count_above":
        series["threshold"] = 2000 * 65536
    return {
        "name": f"price_{op}",
        "read": {"kind": "storage", "address": ORACLE, "slot": {"base": 0}},
        "decimals": 8,
        "series": series,
        **extra,
    }


def spec_v2_vector() -> dict[str, Any]:
    """Every op over a 30-sample price series (one read 10 blocks back), a balance
    series of 7 samples, a plain v1-style read and a combine of two aggregates."""
    feats = [_price_feature(op) for op in OPS]
    feats[1]["read"]["block_offset"] = 10  # mean: the window ends 10 blocks back
    feats[4]["max"] = 65536  # stdev clamped to 1.0
    feats.append(
        {
            "name": "bal_mean",
            "read": {"kind": "balance", "address": "$subject"},
            "decimals": 18,
            "series": {"samples": 7, "every": 700, "op": "mean"},
        }
    )
    feats.append(
        {
            "name": "price_now",
            "read": {"kind": "storage", "address": ORACLE, "slot": {"base": 0}},
            "decimals": 8,
        }
    )
    feats.append({"name": "range", "combine": {"op": "sub", "args": ["price_max", "price_min"]}})
    blocks: set[tuple[int, str]] = set()
    for feat in feats:
        if "read" not in feat:
            continue
        offset = feat["read"].get("block_offset", 0)
        series = feat.get("series", {"samples": 1, "every": 1})
        address = ORACLE if feat["read"]["address"] == ORACLE else SUBJECT
        for i in range(series["samples"]):
            blocks.add((BLOCK - offset - i * series["every"], address))
    accounts = [
        _account(n, a, _balance(n), {_key(0): hex(_price(n))} if a == ORACLE else {})
        for n, a in sorted(blocks)
    ]
    verified = {
        "chain_id": 31337,
        "anchor": {"number": BLOCK, "hash": "0x" + "ab" * 32},
        "blocks": [],
        "accounts": accounts,
    }
    expected: dict[str, int] = {}
    for feat in feats:
        if "combine" in feat:
            a, b = (expected[n] for n in feat["combine"]["args"])
            expected[feat["name"]] = max(INT32_MIN, min(INT32_MAX, a - b))
            continue
        offset = feat["read"].get("block_offset", 0)
        series = feat.get("series", {"samples": 1, "every": 1, "op": "last"})
        newest = BLOCK - offset
        numbers = [
            newest - (series["samples"] - 1 - i) * series["every"] for i in range(series["samples"])
        ]
        if feat["read"]["kind"] == "balance":
            xs = [_balance(n) * 65536 // 10**18 for n in numbers]
        else:
            xs = [_price(n) * 65536 // 10**8 for n in numbers]
        value = oracle(series["op"], xs, series.get("threshold", 0))
        expected[feat["name"]] = max(
            feat.get("min", INT32_MIN), min(feat.get("max", INT32_MAX), value)
        )
    spec = _spec(feats)
    canonical = features.canonical_bytes(features.normalize(spec)).decode()
    return {
        "_doc": "feature spec v2: series of a storage read and a balance over a window, every "
        "aggregate op, a window ending block_offset back, a clamp and a combine of two "
        "aggregates; expected values by the fractions oracle (tests/scoring/"
        "test_features_series.py)",
        "spec": spec,
        "canonical": canonical,
        "spec_hash": "0x" + _keccak.new(digest_bits=256, data=canonical.encode()).hexdigest(),
        "subject": SUBJECT,
        "block": BLOCK,
        "verified": verified,
        "expected": [{"name": f["name"], "q16": expected[f["name"]]} for f in feats],
    }


def test_the_vector_file_is_current() -> None:
    assert json.loads(VECTOR_FILE.read_text()) == spec_v2_vector()


def test_features_on_the_v2_vector() -> None:
    vec = json.loads(VECTOR_FILE.read_text())
    spec = features.normalize(vec["spec"])
    assert spec.version == 2
    assert "0x" + features.spec_hash(spec).hex() == vec["spec_hash"]
    fv = features.compute(spec, vec["verified"], vec["subject"], vec["block"])
    assert [{"name": n, "q16": v} for n, v in zip(fv.names, fv.values, strict=True)] == vec[
        "expected"
    ]
    # the canonical form parses back to the same spec
    assert features.normalize(json.loads(vec["canonical"])) == spec


def test_required_reads_are_the_sampled_blocks() -> None:
    vec = spec_v2_vector()
    reads = features.required_reads(features.normalize(vec["spec"]), SUBJECT, BLOCK)
    got = {(r.block, r.address) for r in reads}
    assert len(reads) == len({(r.block, r.address, r.slot) for r in reads})
    assert got == {(a["block"], a["address"]) for a in vec["verified"]["accounts"]}
    oracle_blocks = sorted(b for b, a in got if a == ORACLE)
    assert oracle_blocks[0] == BLOCK - 10 - (SAMPLES - 1) * EVERY
    assert BLOCK in oracle_blocks and BLOCK - 10 in oracle_blocks


def test_a_missing_sample_is_an_error() -> None:
    vec = spec_v2_vector()
    spec = features.normalize(vec["spec"])
    verified = vec["verified"]
    verified["accounts"] = [a for a in verified["accounts"] if a["block"] != BLOCK - 2900]
    with pytest.raises(UserInputError, match=f"no read of {ORACLE} at block {BLOCK - 2900}"):
        features.compute(spec, verified, SUBJECT, BLOCK)


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        (_spec([_price_feature("mean")], version=1), "S003"),
        (
            _spec([{**_price_feature("mean"), "series": {"samples": 0, "every": 1, "op": "mean"}}]),
            "S001",
        ),
        (
            _spec(
                [{**_price_feature("mean"), "series": {"samples": 2, "every": 1, "op": "median"}}]
            ),
            "S001",
        ),
        (
            _spec(
                [
                    {
                        **_price_feature("mean"),
                        "series": {"samples": 2, "every": 1, "op": "mean", "threshold": 0},
                    }
                ]
            ),
            "S001",
        ),
        (
            _spec(
                [
                    {
                        **_price_feature("count_above"),
                        "series": {"samples": 2, "every": 1, "op": "count_above"},
                    }
                ]
            ),
            "S001",
        ),
        (
            _spec(
                [
                    {
                        "name": "x",
                        "combine": {"op": "sub", "args": ["a", "b"]},
                        "series": {"samples": 2, "every": 1, "op": "mean"},
                    }
                ]
            ),
            "F003",
        ),
    ],
    ids=["v1", "zero", "op", "threshold", "no_threshold", "combine"],
)
def test_invalid_series(spec: dict[str, Any], rule: str) -> None:
    with pytest.raises(UserInputError) as err:
        features.normalize(spec)
    assert err.value.code == rule


def test_a_window_below_block_0_is_refused() -> None:
    spec = features.normalize(_spec([_price_feature("mean")]))
    with pytest.raises(UserInputError) as err:
        features.required_reads(spec, SUBJECT, (SAMPLES - 1) * EVERY - 1)
    assert err.value.code == "S002"
    assert features.required_reads(spec, SUBJECT, (SAMPLES - 1) * EVERY)[0].block == 0


def test_a_v1_spec_keeps_its_canonical_form() -> None:
    v1 = _spec(
        [{"name": "p", "read": {"kind": "storage", "address": ORACLE, "slot": {"base": 0}}}],
        version=1,
    )
    canonical = features.canonical_bytes(features.normalize(v1)).decode()
    assert '"version":1' in canonical and '"series":' not in canonical
    v2 = features.canonical_bytes(features.normalize({**v1, "version": 2})).decode()
    assert v2 == canonical.replace('"version":1', '"version":2')


@settings(max_examples=60, deadline=None)
@given(
    op=st.sampled_from(OPS),
    raws=st.lists(st.integers(0, 2**70), min_size=1, max_size=40),
    every=st.integers(1, 50),
    decimals=st.integers(0, 12),
    threshold=st.integers(INT32_MIN, INT32_MAX),
)
def test_series_features_match_the_oracle(
    op: str, raws: list[int], every: int, decimals: int, threshold: int
) -> None:
    k = len(raws)
    series: dict[str, Any] = {"samples": k, "every": every, "op": op}
    if op == "count_above":
        series["threshold"] = threshold
    spec = features.normalize(
        _spec(
            [
                {
                    "name": "x",
                    "read": {"kind": "balance", "address": SUBJECT},
                    "decimals": decimals,
                    "series": series,
                }
            ]
        )
    )
    block = 10_000
    numbers = [block - (k - 1 - i) * every for i in range(k)]
    verified = {
        "anchor": {"number": block},
        "accounts": [_account(n, SUBJECT, raw, {}) for n, raw in zip(numbers, raws, strict=True)],
    }
    xs = [max(INT32_MIN, min(INT32_MAX, raw * 65536 // 10**decimals)) for raw in raws]
    got = features.compute(spec, verified, SUBJECT).values
    assert got == (oracle(op, xs, threshold),)


if __name__ == "__main__":
    VECTOR_FILE.write_text(json.dumps(spec_v2_vector(), indent=1) + "\n")
    print(f"wrote {VECTOR_FILE}", file=sys.stderr)
