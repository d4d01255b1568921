"""Protocol reads in the feature spec (docs/formats.md §3c): exact key sets, one-line
errors naming the feature and the rule, one canonical spelling, and the sample spec
models/aave-v3-health.features.json (which must stay valid and score with its model)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from locations import REPO

from coprocessor.cli.main import main
from coprocessor.errors import UserInputError
from coprocessor.scoring import features
from coprocessor.scoring.models import model as models
from coprocessor.scoring.protocol_spec import AaveRead, MorphoRead

PROVIDER = "0x" + "ab" * 20
ASSET = "0x" + "cd" * 20
MORPHO = "0x" + "11" * 20
HASH = "0x" + "22" * 32
MARKET = "0x" + "33" * 32

AAVE_READ: dict[str, Any] = {
    "kind": "protocol",
    "protocol": "aave-v3.0",
    "provider": PROVIDER,
    "field": "health_factor",
}
RESERVE_READ: dict[str, Any] = {**AAVE_READ, "field": "variable_debt", "asset": ASSET}
MORPHO_READ: dict[str, Any] = {
    "kind": "protocol",
    "protocol": "morpho-blue-1.0.0",
    "morpho": MORPHO,
    "morpho_code_hash": HASH,
    "market_id": MARKET,
    "irm_code_hash": HASH,
    "field": "borrow_assets",
}


def spec_of(*reads: dict[str, Any], version: int = 1, **extra: Any) -> dict[str, Any]:
    feats = [{"name": f"f{i}", "read": r, **extra} for i, r in enumerate(reads)]
    return {"format": "coproc-features", "version": version, "name": "p", "features": feats}


def test_the_three_shapes_parse_and_fill_their_defaults() -> None:
    spec = features.normalize(spec_of(AAVE_READ, RESERVE_READ, MORPHO_READ))
    reads = [f.read for f in spec.features if isinstance(f, features.ReadFeature)]
    assert reads == [
        AaveRead(PROVIDER, "health_factor"),
        AaveRead(PROVIDER, "variable_debt", ASSET),
        MorphoRead(MORPHO, HASH, MARKET, HASH, "borrow_assets"),
    ]
    canonical = json.loads(features.canonical_bytes(spec))
    assert canonical["features"][0] == {
        "name": "f0",
        "read": {**AAVE_READ, "block_offset": 0},
        "decimals": 0,
        "signed": False,
        "min": -(2**31),
        "max": 2**31 - 1,
    }
    assert canonical["features"][1]["read"] == {**RESERVE_READ, "block_offset": 0}
    assert canonical["features"][2]["read"] == {**MORPHO_READ, "block_offset": 0}
    # the canonical form parses to itself (one spelling, one hash)
    assert features.normalize(canonical) == spec


def test_hex_has_one_spelling() -> None:
    upper = {**RESERVE_READ, "provider": "0x" + "AB" * 20, "asset": "0x" + "Cd" * 20}
    assert features.spec_hash(features.normalize(spec_of(upper))) == features.spec_hash(
        features.normalize(spec_of(RESERVE_READ))
    )
    assert features.spec_hash(features.normalize(spec_of(AAVE_READ))) != features.spec_hash(
        features.normalize(spec_of({**AAVE_READ, "field": "ltv"}))
    )


def test_a_version_2_spec_samples_a_protocol_read() -> None:
    series = {"samples": 3, "every": 10, "op": "min"}
    spec = features.normalize(spec_of(AAVE_READ, version=2, series=series))
    feat = spec.features[0]
    assert isinstance(feat, features.ReadFeature) and feat.blocks(100) == [80, 90, 100]


def without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("another Aave version", {**AAVE_READ, "protocol": "aave-v3.1"}, "P001", "aave-v3.0"),
    ("another Morpho version", {**MORPHO_READ, "protocol": "morpho-blue-1.1.0"}, "P001", "got"),
    ("no protocol", without(AAVE_READ, "protocol"), "P001", "None"),
    ("no provider", without(AAVE_READ, "provider"), "F003", "missing key(s) provider"),
    ("no field", without(MORPHO_READ, "field"), "F003", "missing key(s) field"),
    ("an address", {**AAVE_READ, "address": "$subject"}, "F003", "unknown key(s) address"),
    ("a slot", {**MORPHO_READ, "slot": {"base": 1}}, "F003", "unknown key(s) slot"),
    ("asset on Morpho", {**MORPHO_READ, "asset": ASSET}, "F003", "unknown key(s) asset"),
    ("unknown field", {**AAVE_READ, "field": "healthFactor"}, "P002", "health_factor"),
    ("Morpho field on Aave", {**AAVE_READ, "field": "borrow_assets"}, "P002", "aave-v3.0"),
    ("reserve field, no asset", without(RESERVE_READ, "asset"), "P002", "needs read.asset"),
    ("account field, asset", {**AAVE_READ, "asset": ASSET}, "P002", "takes no read.asset"),
    ("short provider", {**AAVE_READ, "provider": "0x" + "ab" * 19}, "P003", "read.provider"),
    ("subject provider", {**AAVE_READ, "provider": "$subject"}, "P003", "20-byte hex"),
    ("not hex asset", {**RESERVE_READ, "asset": "0x" + "zz" * 20}, "P003", "read.asset"),
    ("20-byte market id", {**MORPHO_READ, "market_id": MORPHO}, "P003", "read.market_id"),
    ("short code hash", {**MORPHO_READ, "irm_code_hash": "0x22"}, "P003", "irm_code_hash"),
    ("negative offset", {**AAVE_READ, "block_offset": -1}, "F004", "block_offset"),
    ("offset as text", {**MORPHO_READ, "block_offset": "1"}, "F004", "block_offset"),
]


@pytest.mark.parametrize(("what", "read", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_protocol_read_is_one_line_naming_feature_and_rule(
    what: str, read: dict[str, Any], code: str, words: str
) -> None:
    with pytest.raises(UserInputError) as caught:
        features.normalize(spec_of(AAVE_READ, read))
    text = str(caught.value)
    assert text.startswith(f"[{code}] feature spec: feature 'f1'"), text
    assert words in text and "\n" not in text, text


def test_feature_keys_of_a_protocol_read() -> None:
    cases = [
        (spec_of(AAVE_READ, signed=True), "F012", "cannot be signed"),
        (spec_of(AAVE_READ, signed="no"), "F013", "signed"),
        (spec_of(AAVE_READ, decimals=78), "F004", "decimals"),
        (spec_of(AAVE_READ, min=5, max=4), "F014", "min 5 > max 4"),
        (spec_of(AAVE_READ, series={"samples": 2, "every": 1, "op": "last"}), "S003", "version 2"),
        (spec_of(AAVE_READ, bits={"offset": 0}), "F003", "unknown key(s) bits"),
    ]
    for spec, code, words in cases:
        with pytest.raises(UserInputError) as caught:
            features.normalize(spec)
        assert str(caught.value).startswith(f"[{code}] feature spec: feature 'f0'"), caught.value
        assert words in str(caught.value)


def test_a_protocol_spec_is_refused_by_the_cli_in_one_line(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec_of({**AAVE_READ, "protocol": "aave-v3.2"})))
    assert main(["features", "--spec", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "[P001]" in err and "aave-v3.2" in err, err


def test_protocol_reads_are_not_static_reads() -> None:
    """``required_reads`` lists no slot for a protocol read (the indexer finds them by
    running it); a spec's plain reads are still listed beside it."""
    plain = {"kind": "balance", "address": "$subject"}
    spec = features.normalize(spec_of(AAVE_READ, plain))
    reads = features.required_reads(spec, "0x" + "01" * 20, 7)
    assert [(r.block, r.address, r.slot) for r in reads] == [(7, "0x" + "01" * 20, None)]


SAMPLE_SPEC = REPO / "models" / "aave-v3-health.features.json"
SAMPLE_MODEL = REPO / "models" / "aave-v3-health.json"


def test_the_sample_spec_and_model_fit() -> None:
    spec = features.load(SAMPLE_SPEC)
    model = models.load(SAMPLE_MODEL)
    assert len(spec.features) == model.input_dim
    assert all(
        isinstance(f.read, AaveRead) for f in spec.features if isinstance(f, features.ReadFeature)
    )
    # the file is written in its canonical form (every default explicit)
    assert json.loads(SAMPLE_SPEC.read_text()) == spec.to_json()
    edited = copy.deepcopy(spec.to_json())
    edited["features"][0]["read"]["protocol"] = "aave-v3.1"
    with pytest.raises(UserInputError, match=r"^\[P001\]"):
        features.normalize(edited)


def test_verify_bundle_values_cannot_serve_a_protocol_read() -> None:
    """``features.compute`` takes verify-bundle's JSON, which has no header timestamps:
    a protocol read there is refused (it is computed from a verified bundle)."""
    spec = features.normalize(spec_of(AAVE_READ))
    values = {"anchor": {"number": 5}, "accounts": []}
    with pytest.raises(UserInputError, match=r"feature 'f0': a protocol read is computed from"):
        features.compute(spec, values, "0x" + "01" * 20)
