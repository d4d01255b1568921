"""Protocol-read specs over the simulated markets, indexed by the CLI
(``coproc index --spec --subjects``), verified, and judged against the protocols'
views through ``eth_call``; the Q16 conversion the judge expects is written here
from docs/formats.md §3, apart from the code under test."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from markets.markets_support import Markets

from coprocessor.chain.bundle import VerifiedBundle, verify_bundle
from coprocessor.chain.bundle_v2 import BundleV2, load_any_bundle, verify_bundle_v2
from coprocessor.chain.keccak import keccak256
from coprocessor.cli.main import main
from coprocessor.scoring.protocol_spec import (
    AAVE_ACCOUNT_FIELDS,
    AAVE_RESERVE_FIELDS,
    MORPHO_FIELDS,
)
from coprocessor.scoring.protocol_values import ProtocolValues

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)
PARAMS = "(address,address,address,address,uint256)"
POSITION = ["uint256", "uint128", "uint128"]


def spec(name: str, feats: list[dict[str, Any]], version: int = 1) -> dict[str, Any]:
    return {"format": "coproc-features", "version": version, "name": name, "features": feats}


def feature(name: str, read: dict[str, Any], decimals: int = 0) -> dict[str, Any]:
    return {"name": name, "read": read, "decimals": decimals, "min": 0, "max": INT32_MAX}


def aave_read(markets: Markets, field: str, asset: str | None = None) -> dict[str, Any]:
    read = {
        "kind": "protocol",
        "protocol": "aave-v3.0",
        "provider": markets.meta["aave"]["provider"],
        "field": field,
    }
    return read if asset is None else {**read, "asset": asset}


def code_hash(markets: Markets, address: str, block: int) -> str:
    """keccak256 of the code the node serves at ``block`` (what a spec names)."""
    code = markets.node.call("eth_getCode", address, hex(block))
    return "0x" + keccak256(bytes.fromhex(code[2:])).hex()


def morpho_read(markets: Markets, market: str, field: str, block: int) -> dict[str, Any]:
    meta = markets.meta["morpho"]
    return {
        "kind": "protocol",
        "protocol": "morpho-blue-1.0.0",
        "morpho": meta["morpho"],
        "morpho_code_hash": code_hash(markets, meta["morpho"], block),
        "market_id": meta["markets"][market]["id"],
        "irm_code_hash": code_hash(markets, meta["irm"], block),
        "field": field,
    }


def aave_spec(markets: Markets) -> dict[str, Any]:
    """Every Aave field: the account's, and each reserve's (decimals 0: raw values)."""
    feats = [feature(f, aave_read(markets, f)) for f in AAVE_ACCOUNT_FIELDS]
    for symbol, asset in sorted(markets.meta["aave"]["tokens"].items()):
        feats += [
            feature(f"{f}_{symbol}", aave_read(markets, f, asset)) for f in AAVE_RESERVE_FIELDS
        ]
    return spec("aave-all", feats)


def morpho_spec(markets: Markets, block: int) -> dict[str, Any]:
    """Every Morpho field in each market."""
    feats = []
    for k, market in enumerate(sorted(markets.meta["morpho"]["markets"])):
        feats += [
            feature(f"{f}_{k}", morpho_read(markets, market, f, block)) for f in MORPHO_FIELDS
        ]
    return spec("morpho-all", feats)


def index(
    markets: Markets,
    capsys: pytest.CaptureFixture[str],
    tmp: Path,
    spec_obj: dict[str, Any],
    subjects: Sequence[str],
    block: int,
    extra: Sequence[str] = (),
) -> tuple[VerifiedBundle, dict[str, Any]]:
    """``coproc index --spec --subjects --block [extra]`` into a file; the bundle (v1, or
    v2 with ``--anchor``) verified again from the file, and the command's summary."""
    spec_path, subjects_path, out = tmp / "spec.json", tmp / "subjects.txt", tmp / "bundle.json"
    spec_path.write_text(json.dumps(spec_obj))
    subjects_path.write_text("\n".join(subjects) + "\n")
    capsys.readouterr()
    argv = ["--data-dir", str(tmp / "data"), "index", "--rpc", markets.anvil.rpc]
    argv += ["--spec", str(spec_path), "--subjects", str(subjects_path), "--block", str(block)]
    code = main([*argv, *extra, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    bundle = load_any_bundle(out)
    if isinstance(bundle, BundleV2):
        return verify_bundle_v2(bundle), json.loads(captured.out)
    return verify_bundle(bundle), json.loads(captured.out)


def raw_values(
    verified: VerifiedBundle, spec_obj: dict[str, Any], subject: str, block: int
) -> dict[str, int]:
    """Each protocol feature's raw 256-bit value for ``subject`` from the bundle alone."""
    from coprocessor.scoring import features

    parsed = features.normalize(spec_obj)
    reads = {(a.block, a.address): a for a in verified.bundle.accounts}
    values = ProtocolValues(verified, reads, {})
    out = {}
    for feat in parsed.features:
        assert isinstance(feat, features.ReadFeature)
        assert not isinstance(feat.read, features.Source)
        (number,) = feat.blocks(block)  # the read's own block (block_offset)
        out[feat.name] = values.value(feat.read, number, subject, feat.name)
    return out


def q16(value: int, decimals: int, lo: int = 0, hi: int = INT32_MAX) -> int:
    """A non-negative raw value as a feature: trunc(v·2^16/10^d), saturated, clamped."""
    q: int = (value << 16) // 10**decimals
    return max(lo, min(hi, min(q, INT32_MAX)))


def ratio(a: int, b: int, lo: int, hi: int) -> int:
    """The ``ratio`` combine on non-negative Q16 values (b = 0 gives max)."""
    return hi if b == 0 else max(lo, min(hi, min((a << 16) // b, INT32_MAX)))


def aave_views(markets: Markets, users: Sequence[str], block: int) -> dict[str, dict[str, int]]:
    """Every Aave field of each user by the protocol's own view functions."""
    meta = markets.meta["aave"]
    tokens = sorted(meta["tokens"].items())
    addresses = markets.node.views(
        [
            (
                meta["data_provider"],
                "getReserveTokensAddresses(address)",
                ["address"] * 3,
                (asset,),
            )
            for _, asset in tokens
        ],
        block,
    )
    requests: list[tuple[str, str, list[str], tuple[Any, ...]]] = []
    for user in users:
        requests.append((meta["pool"], "getUserAccountData(address)", ["uint256"] * 6, (user,)))
        requests.append((meta["pool"], "getUserEMode(address)", ["uint256"], (user,)))
        for (_, asset), row in zip(tokens, addresses, strict=True):
            assert row is not None
            a_token, stable, variable = row
            requests += [
                (a_token, "balanceOf(address)", ["uint256"], (user,)),
                (variable, "balanceOf(address)", ["uint256"], (user,)),
                (stable, "balanceOf(address)", ["uint256"], (user,)),
                (meta["oracle"], "getAssetPrice(address)", ["uint256"], (asset,)),
            ]
    answers = iter(markets.node.views(requests, block))
    out = {}
    for user in users:
        account, emode = next(answers), next(answers)
        assert account is not None and emode is not None
        values = dict(zip(AAVE_ACCOUNT_FIELDS, [*account, emode[0]], strict=True))
        for symbol, _ in tokens:
            for field in AAVE_RESERVE_FIELDS:
                row = next(answers)
                assert row is not None
                values[f"{field}_{symbol}"] = row[0]
        out[user] = values
    return out


def morpho_views(markets: Markets, users: Sequence[str], block: int) -> dict[str, dict[str, int]]:
    """Every Morpho field of each user in each market: Morpho's views, MorphoBalancesLib
    (through MorphoLens), the oracle, and Morpho's health arithmetic on those."""
    meta = markets.meta["morpho"]
    morpho, lens = meta["morpho"], meta["lens"]
    names = sorted(meta["markets"])
    requests: list[tuple[str, str, list[str], tuple[Any, ...]]] = []
    for user in users:
        for name in names:
            m = meta["markets"][name]
            params = tuple(
                m[k] for k in ("loan_token", "collateral_token", "oracle", "irm", "lltv")
            )
            market_id = bytes.fromhex(m["id"][2:])
            mine, both = (morpho, params, user), (morpho, params)
            requests += [
                (morpho, "position(bytes32,address)", POSITION, (market_id, user)),
                (lens, f"expectedMarketBalances(address,{PARAMS})", ["uint256"] * 4, both),
                (lens, f"expectedBorrowAssets(address,{PARAMS},address)", ["uint256"], mine),
                (lens, f"expectedSupplyAssets(address,{PARAMS},address)", ["uint256"], mine),
                (m["oracle"], "price()", ["uint256"], ()),
                (morpho, "idToMarketParams(bytes32)", ["address"] * 4 + ["uint256"], (market_id,)),
            ]
    answers = iter(markets.node.views(requests, block))
    out = {}
    for user in users:
        values = {}
        for k, _ in enumerate(names):
            rows = [next(answers) for _ in range(6)]
            assert all(row is not None for row in rows)
            position, totals, borrow, supply, price, params = (tuple(r or ()) for r in rows)
            lltv = params[4]
            max_borrow = (position[2] * price[0] // 10**36) * lltv // 10**18
            health = 2**256 - 1 if borrow[0] == 0 else max_borrow * 10**18 // borrow[0]
            got = {
                "supply_shares": position[0],
                "borrow_shares": position[1],
                "collateral": position[2],
                "supply_assets": supply[0],
                "borrow_assets": borrow[0],
                "total_supply_assets": totals[0],
                "total_borrow_assets": totals[2],
                "oracle_price": price[0],
                "lltv": lltv,
                "max_borrow": max_borrow,
                "health_factor": health,
                "healthy": int(position[1] == 0 or max_borrow >= borrow[0]),
            }
            values.update({f"{f}_{k}": v for f, v in got.items()})
        out[user] = values
    return out
