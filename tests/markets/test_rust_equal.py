"""The Rust core's protocol reads (``guest/core/src/protocols/``, run natively through
``coproc-host core protocol-read``) equal the Python reference field by field: every
Aave v3 borrower and every Morpho Blue position of the simulated markets, at blocks
right before and after liquidations, around the rate-strategy change and at the end,
each computed by both from the same verified bundle. The fixed-point arithmetic is
compared on random inputs (hypothesis), and the refusals (another Pool revision,
another Morpho build, a slot missing from the bundle) are the same in both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markets.markets_support import Markets
from markets.proven import addr, read_all
from markets.test_bundle import one_bundle

from coprocessor.chain.bundle import verify_bundle
from coprocessor.chain.slots import mapping_slot
from coprocessor.cli.main import main as cli
from coprocessor.errors import CoprocessorError, UserInputError
from coprocessor.scoring import features, pipeline
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.protocol_spec import (
    AAVE_ACCOUNT_FIELDS,
    AAVE_RESERVE_FIELDS,
    MORPHO_FIELDS,
)
from coprocessor.scoring.protocol_values import BundleStorage, run_sync
from coprocessor.scoring.protocols import aave_math, aave_v3, morpho_blue
from coprocessor.scoring.protocols.storage import Pair, StaticStorage, StorageSource
from coprocessor.zk import prover

UINT256_MAX = 2**256 - 1
#: where both must refuse: the rule codes of spec/rule_codes.json the Rust core prints
VERSION_CODE, STATE_CODE, MISSING_CODE = "P004", "P005", "F018"
BLOCK_REASONS = (
    "liquidation-before epoch 2",
    "liquidation-after epoch 2",
    "liquidation-before epoch 31",
    "liquidation-after epoch 31",
    "rate-change-before",
    "rate-change-after",
    "end",
)


def host(args: list[str], stdin: Any = None) -> dict[str, Any]:
    data = None if stdin is None else json.dumps(stdin).encode()
    return prover.run_host(["core", *args], stdin=data, timeout=300)


def hexa(b: bytes) -> str:
    return "0x" + b.hex()


def aave_expected(a: aave_v3.AaveAccount) -> dict[str, Any]:
    """The Python account in the host's JSON shape (integers as decimal strings)."""
    return {
        "account_data": [str(v) for v in a.account_data()],
        "user_configuration": str(a.user_configuration),
        "emode_category": str(a.emode_category),
        "reserves_count": str(a.reserves_count),
        "pool": hexa(a.pool),
        "oracle": hexa(a.oracle),
        "positions": [position_expected(p) for p in a.positions],
    }


def position_expected(p: aave_v3.ReservePosition) -> dict[str, Any]:
    """One reserve position in the host's JSON shape."""
    return {
        "asset": hexa(p.reserve.asset),
        "configuration": str(p.reserve.configuration),
        "liquidity_index": str(p.reserve.liquidity_index),
        "current_liquidity_rate": str(p.reserve.current_liquidity_rate),
        "variable_borrow_index": str(p.reserve.variable_borrow_index),
        "current_variable_borrow_rate": str(p.reserve.current_variable_borrow_rate),
        "current_stable_borrow_rate": str(p.reserve.current_stable_borrow_rate),
        "last_update_timestamp": str(p.reserve.last_update_timestamp),
        "id": str(p.reserve.id),
        "a_token": hexa(p.reserve.a_token),
        "stable_debt_token": hexa(p.reserve.stable_debt_token),
        "variable_debt_token": hexa(p.reserve.variable_debt_token),
        "interest_rate_strategy": hexa(p.reserve.interest_rate_strategy),
        "price": str(p.price),
        "using_as_collateral": p.using_as_collateral,
        "borrowing": p.borrowing,
        "scaled_a_token": str(p.scaled_a_token),
        "a_token_balance": str(p.a_token_balance),
        "scaled_variable_debt": str(p.scaled_variable_debt),
        "variable_debt": str(p.variable_debt),
        "stable_debt": str(p.stable_debt),
        "collateral_base": str(p.collateral_base),
        "debt_base": str(p.debt_base),
    }


def _totals(t: morpho_blue.MarketTotals) -> list[str]:
    return [
        str(v)
        for v in (
            t.total_supply_assets,
            t.total_supply_shares,
            t.total_borrow_assets,
            t.total_borrow_shares,
            t.last_update,
            t.fee,
        )
    ]


def morpho_expected(p: morpho_blue.MorphoPosition) -> dict[str, Any]:
    """The Python position in the host's JSON shape."""
    m = p.params
    hf = p.health_factor
    return {
        "market_id": hexa(p.market_id),
        "params": [
            *(hexa(a) for a in (m.loan_token, m.collateral_token, m.oracle, m.irm)),
            str(m.lltv),
        ],
        "supply_shares": str(p.supply_shares),
        "borrow_shares": str(p.borrow_shares),
        "collateral": str(p.collateral),
        "stored": _totals(p.stored),
        "expected": _totals(p.expected),
        "oracle_price": str(p.oracle_price),
        "borrow_assets": str(p.borrow_assets),
        "supply_assets": str(p.supply_assets),
        "max_borrow": str(p.max_borrow),
        "healthy": p.healthy,
        "health_factor": None if hf is None else str(hf),
    }


class Setup:
    """The markets' entry points and borrowers."""

    def __init__(self, markets: Markets) -> None:
        meta = markets.meta
        self.markets = markets
        self.provider = addr(meta["aave"]["provider"])
        self.morpho = addr(meta["morpho"]["morpho"])
        self.hashes = {k: bytes.fromhex(v[2:]) for k, v in meta["code_hashes"].items()}
        self.aave_users = [b["address"] for b in markets.borrowers("aave")] + [meta["liquidator"]]
        self.morpho_users = markets.borrowers("morpho")
        self.market_ids = {
            name: bytes.fromhex(m["id"][2:]) for name, m in meta["morpho"]["markets"].items()
        }

    def aave_reader(self, user: str) -> Callable[[StorageSource], Any]:
        return lambda s: aave_v3.read_account(s, self.provider, addr(user))

    def reserve_reader(self, user: str, asset: bytes) -> Callable[[StorageSource], Any]:
        return lambda s: aave_v3.read_reserve(s, self.provider, addr(user), asset)

    def morpho_reader(
        self, user: str, market: str, code_hash: bytes | None = None
    ) -> Callable[[StorageSource], Any]:
        return lambda s: morpho_blue.read_position(
            s,
            self.morpho,
            self.market_ids[market],
            addr(user),
            morpho_code_hash=code_hash or self.hashes["morpho"],
            irm_code_hash=self.hashes["irm"],
        )

    def morpho_args(self, market: str, code_hash: bytes | None = None) -> list[str]:
        return [
            "--protocol",
            "morpho-blue",
            "--address",
            hexa(self.morpho),
            "--market-id",
            hexa(self.market_ids[market]),
            "--morpho-code-hash",
            hexa(code_hash or self.hashes["morpho"]),
            "--irm-code-hash",
            hexa(self.hashes["irm"]),
        ]


def proven_pairs(
    setup: Setup, tmp: Path, block: int, extra: Sequence[Callable[[StorageSource], Any]] = ()
) -> dict[Pair, int]:
    """Every (address, slot) the Python reads of all borrowers (and ``extra``) load at
    ``block``."""
    captured: list[Any] = []

    async def keep(s: StorageSource) -> None:
        captured.append(s)

    readers: list[Callable[[StorageSource], Any]] = [keep, *extra]
    readers += [setup.aave_reader(u) for u in setup.aave_users]
    readers += [setup.morpho_reader(b["address"], b["market"]) for b in setup.morpho_users]
    read_all(setup.markets.anvil.rpc, tmp / f"rounds-{block}.sqlite", block, readers)
    return dict(captured[0].pairs())


def bundle_file(setup: Setup, tmp: Path, block: int, pairs: dict[Pair, int]) -> tuple[Path, Any]:
    """One verified bundle of ``pairs`` at ``block``, written to a file, and its values."""
    verified = one_bundle(setup.markets.anvil.rpc, tmp / f"one-{block}.sqlite", block, pairs)
    path = tmp / f"bundle-{block}-{len(pairs)}.json"
    path.write_text(json.dumps(verified.bundle.to_json()))
    return path, verified


def static_of(verified: Any, block: int) -> StaticStorage:
    """The bundle's values alone, for the Python reads."""
    values = {
        (a.address, int.from_bytes(e.slot, "big")): e.value
        for a in verified.bundle.accounts
        for e in a.storage
    }
    accounts = {a.address: a.account for a in verified.bundle.accounts}
    return StaticStorage(values, accounts, verified.header(block).timestamp)


def python_result(reader: Callable[[StorageSource], Any], storage: StaticStorage) -> Any:
    return asyncio.run(reader(storage))


def test_every_borrower_bit_equal_at_sampled_blocks(markets: Markets, tmp_path: Path) -> None:
    setup = Setup(markets)
    blocks = {s["reason"]: s["block"] for s in markets.meta["samples"]}
    assets = [addr(a) for a in markets.meta["aave"]["tokens"].values()]
    compared = with_debt = unhealthy = stable = emode = morpho_debt = reserves = 0
    for reason in BLOCK_REASONS:
        block = blocks[reason]
        every_reserve = [setup.reserve_reader(u, a) for u in setup.aave_users for a in assets]
        pairs = proven_pairs(setup, tmp_path, block, every_reserve)
        path, verified = bundle_file(setup, tmp_path, block, pairs)
        static = static_of(verified, block)
        aave_args = ["--protocol", "aave-v3", "--address", hexa(setup.provider)]
        subjects = ",".join(setup.aave_users)
        out = host(["protocol-read", "--bundle", str(path), *aave_args, "--subjects", subjects])
        assert out["block"] == block and out["timestamp"] == static.timestamp
        for user, got in zip(setup.aave_users, out["results"], strict=True):
            account = python_result(setup.aave_reader(user), static)
            assert got == {"subject": user, "result": aave_expected(account)}, f"{user} @ {reason}"
            compared += 1
            with_debt += account.total_debt_base > 0
            unhealthy += account.total_debt_base > 0 and account.health_factor < 10**18
            stable += any(p.stable_debt > 0 for p in account.positions)
            emode += account.emode_category != 0
        for asset in assets:  # one reserve, whatever the user's configuration says
            args = [*aave_args, "--asset", hexa(asset), "--subjects", subjects]
            out = host(["protocol-read", "--bundle", str(path), *args])
            for user, got in zip(setup.aave_users, out["results"], strict=True):
                position = python_result(setup.reserve_reader(user, asset), static)
                want = {"subject": user, "result": position_expected(position)}
                assert got == want, f"{user} reserve {hexa(asset)} @ {reason}"
                reserves += position.a_token_balance > 0
        for market in setup.market_ids:
            users = [b["address"] for b in setup.morpho_users if b["market"] == market]
            args = [*setup.morpho_args(market), "--subjects", ",".join(users)]
            out = host(["protocol-read", "--bundle", str(path), *args])
            for user, got in zip(users, out["results"], strict=True):
                position = python_result(setup.morpho_reader(user, market), static)
                want = {"subject": user, "result": morpho_expected(position)}
                assert got == want, f"{user} in {market} @ {reason}"
                compared += 1
                morpho_debt += position.borrow_assets > 0
    assert compared == len(BLOCK_REASONS) * (len(setup.aave_users) + len(setup.morpho_users))
    # the comparison covered the interesting cases, not only empty accounts
    assert with_debt > 500 and unhealthy > 0 and stable > 0 and emode > 0 and morpho_debt > 100
    assert reserves > 1000


def _refusal(out: dict[str, Any]) -> str:
    (entry,) = out["results"]
    assert "result" not in entry, entry
    return str(entry["refused"]["code"])


def _verified_json(static: StaticStorage, block: int) -> dict[str, Any]:
    """Values in the `coproc verify-bundle` shape (reads without proofs)."""
    by_address: dict[bytes, dict[str, str]] = {}
    for (address, slot), value in static.values.items():
        by_address.setdefault(address, {})["0x" + slot.to_bytes(32, "big").hex()] = hex(value)
    accounts = []
    for address, account in static.accounts.items():
        accounts.append(
            {
                "block": block,
                "address": hexa(address),
                "account": None
                if account is None
                else {
                    "nonce": hex(account.nonce),
                    "balance": hex(account.balance),
                    "storage_root": hexa(account.storage_root),
                    "code_hash": hexa(account.code_hash),
                },
                "storage": by_address.get(address, {}),
            }
        )
    return {"anchor": {"number": block}, "accounts": accounts}


def test_refusals_are_the_same(markets: Markets, tmp_path: Path) -> None:
    setup = Setup(markets)
    block = markets.sample_blocks()[-1]
    user = next(b for b in markets.borrowers("aave") if b["rate_mode"] == 2)["address"]
    m_user = setup.morpho_users[0]
    pairs = proven_pairs(setup, tmp_path, block)
    path, verified = bundle_file(setup, tmp_path, block, pairs)
    static = static_of(verified, block)
    aave_args = ["--protocol", "aave-v3", "--address", hexa(setup.provider)]

    # another Pool revision (a v3.1 Pool stores 3): both refuse the layout
    pool = addr(markets.meta["aave"]["pool"])
    edited = StaticStorage({**static.values, (pool, 0): 3}, static.accounts, static.timestamp)
    with pytest.raises(UserInputError, match=r"revision 3.*support") as refused:
        python_result(setup.aave_reader(user), edited)
    assert refused.value.code == VERSION_CODE
    values = tmp_path / "edited.json"
    values.write_text(json.dumps(_verified_json(edited, block)))
    edited_args = ["--verified", str(values), "--timestamp", str(static.timestamp)]
    assert _refusal(host(["protocol-read", *edited_args, *aave_args, "--subject", user])) == (
        VERSION_CODE
    )
    # the same values unedited are read alike (the edit is what is refused)
    values.write_text(json.dumps(_verified_json(static, block)))
    out = host(["protocol-read", *edited_args, *aave_args, "--subject", user])
    assert out["results"][0]["result"] == aave_expected(
        python_result(setup.aave_reader(user), static)
    )

    # another Morpho build (a wrong code hash): both refuse
    wrong = bytes(32)
    with pytest.raises(UserInputError, match="is not morpho-blue") as refused:
        python_result(setup.morpho_reader(m_user["address"], m_user["market"], wrong), static)
    assert refused.value.code == VERSION_CODE
    args = setup.morpho_args(m_user["market"], wrong)
    out = host(["protocol-read", "--bundle", str(path), *args, "--subject", m_user["address"]])
    assert _refusal(out) == VERSION_CODE

    # a slot the read needs missing from a (valid) bundle: both refuse, never read as zero
    account = python_result(setup.aave_reader(user), static)
    reserve = account.positions[0].reserve
    gone = (reserve.variable_debt_token, mapping_slot(aave_v3.DEBT_USER_STATE_SLOT, addr(user)))
    assert gone in pairs
    short_path, short = bundle_file(
        setup, tmp_path, block, {p: v for p, v in pairs.items() if p != gone}
    )
    reads = {(a.block, a.address): a for a in short.bundle.accounts}
    only_bundle = BundleStorage(reads, {}, block, static.timestamp)
    with pytest.raises(UserInputError, match="has no slot") as refused:
        run_sync(aave_v3.read_account(only_bundle, setup.provider, addr(user)))
    assert refused.value.code == MISSING_CODE
    out = host(["protocol-read", "--bundle", str(short_path), *aave_args, "--subject", user])
    assert _refusal(out) == MISSING_CODE
    (entry,) = out["results"]
    assert hexa(gone[0]) in entry["refused"]["message"]


def _spec(setup: Setup) -> dict[str, Any]:
    """Every protocol field as a feature (docs/formats.md §3c), raw and scaled."""
    meta = setup.markets.meta
    aave = {"kind": "protocol", "protocol": "aave-v3.0", "provider": hexa(setup.provider)}
    feats: list[dict[str, Any]] = []
    for f in AAVE_ACCOUNT_FIELDS:
        feats.append({"name": f, "read": {**aave, "field": f}, "decimals": 4})
    for symbol, asset in sorted(meta["aave"]["tokens"].items()):
        for f in AAVE_RESERVE_FIELDS:
            read = {**aave, "field": f, "asset": asset.upper().replace("0X", "0x")}
            feats.append({"name": f"{f}_{symbol}", "read": read, "decimals": 6})
    for k, market in enumerate(sorted(setup.market_ids)):
        morpho = {
            "kind": "protocol",
            "protocol": "morpho-blue-1.0.0",
            "morpho": hexa(setup.morpho),
            "morpho_code_hash": hexa(setup.hashes["morpho"]),
            "market_id": hexa(setup.market_ids[market]),
            "irm_code_hash": hexa(setup.hashes["irm"]),
        }
        for f in MORPHO_FIELDS:
            feats.append({"name": f"{f}_{k}", "read": {**morpho, "field": f}, "decimals": 2})
    feats.append({"name": "debt_ratio", "combine": {"op": "ratio", "args": ["ltv", "price_WETH"]}})
    return {"format": "coproc-features", "version": 1, "name": "protocols", "features": feats}


def test_protocol_spec_features_equal_python(markets: Markets, tmp_path: Path) -> None:
    """A spec of every protocol field: the Rust core's canonical bytes and features
    (``coproc-host core spec-hash|features``, the guest's code) equal Python's."""
    setup = Setup(markets)
    block = next(s["block"] for s in markets.meta["samples"] if s["reason"] == BLOCK_REASONS[0])
    spec_obj = _spec(setup)
    spec = features.normalize(spec_obj)
    rust_spec = host(["spec-hash"], spec_obj)
    assert rust_spec["canonical"].encode() == features.canonical_bytes(spec)
    assert rust_spec["spec_hash"] == hexa(features.spec_hash(spec))
    assets = [addr(a) for a in markets.meta["aave"]["tokens"].values()]
    users = setup.aave_users[:12] + [b["address"] for b in setup.morpho_users[:8]]
    extra = [setup.reserve_reader(u, a) for u in users for a in assets]
    extra += [setup.morpho_reader(u, m) for u in users for m in setup.market_ids]
    extra += [setup.aave_reader(u) for u in users]
    _, verified = bundle_file(setup, tmp_path, block, proven_pairs(setup, tmp_path, block, extra))
    bundle_obj = verified.bundle.to_json()
    checked = verify_bundle(bundle_obj)
    nonzero = 0
    for user in users:
        want = features.compute_bundle(spec, checked, user, block)
        got = host(["features"], {"spec": spec_obj, "bundle": bundle_obj, "subject": user})
        assert got["features"] == list(want.values), user
        nonzero += sum(v != 0 for v in want.values)
    assert nonzero > len(users) * 10  # real positions, not zeros


def test_the_guest_scores_protocol_reads_as_python(markets: Markets, tmp_path: Path) -> None:
    """A spec of Aave and Morpho protocol reads, indexed by ``coproc index --spec``, run
    by the real guest in the zkVM executor: the journal's score and spec hash are the
    Python pipeline's (the features feed a model that weighs each of them)."""
    setup = Setup(markets)
    block = next(s["block"] for s in markets.meta["samples"] if s["reason"] == "rate-change-after")
    m_user = setup.morpho_users[1]
    full = _spec(setup)["features"]
    decimals = {"health_factor": 18, "total_debt_base": 12, "a_token_balance_WETH": 18}
    decimals |= {"variable_debt_USDC": 9, "borrow_assets_0": 9, "borrow_assets_1": 9}
    decimals |= {"health_factor_1": 18, "collateral_1": 8}
    feats = [  # at most 10: a health factor without debt (2^256 - 1) would swamp the rest
        {**f, "decimals": decimals[f["name"]], "max": 10 << 16}
        for f in full
        if f["name"] in decimals
    ]
    spec_obj = {**_spec(setup), "features": feats}
    n = len(spec_obj["features"])
    model_obj = {
        "format": "coproc-model",
        "version": 1,
        "name": "protocols",
        "scale_bits": 16,
        "input_dim": n,
        "layers": [
            {
                "op": "dense",
                "in": n,
                "out": 1,
                "weights": [[(-1) ** k * 9000 for k in range(n)]],
                "bias": [0],
            },
            {"op": "sigmoid"},
            {"op": "to_bps"},
        ],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec_obj))
    (tmp_path / "model.json").write_text(json.dumps(model_obj))
    spec = features.normalize(spec_obj)
    borrower = next(b for b in markets.borrowers("aave") if b["debt"] == "USDC")["address"]
    scores = set()
    for subject in (borrower, m_user["address"]):
        out_path = tmp_path / f"bundle-{subject}.json"
        argv = ["--data-dir", str(tmp_path / "data"), "index", "--rpc", markets.anvil.rpc]
        argv += ["--spec", str(tmp_path / "spec.json"), "--subject", subject]
        assert cli([*argv, "--block", str(block), "--out", str(out_path)]) == 0
        verified = verify_bundle(json.loads(out_path.read_text()))
        vector = features.compute_bundle(spec, verified, subject, block)
        assert sum(v != 0 for v in vector.values) >= 3  # a real position
        scored = pipeline.run(verified, spec, fmt.from_json(model_obj), subject, block)
        request = prover.ProveRequest(
            out_path, tmp_path / "model.json", tmp_path / "spec.json", subject
        )
        journal = prover.execute(request)["journal"]
        assert journal["score"] == scored.score
        assert journal["featureSpecHash"] == hexa(features.spec_hash(spec))
        assert journal["anchorNumber"] == block
        scores.add(scored.score)
    assert len(scores) == 2 and not scores & {0, 10_000}  # the features move the score


AAVE_READ = {
    "kind": "protocol",
    "protocol": "aave-v3.0",
    "provider": "0x" + "11" * 20,
    "field": "health_factor",
}
MORPHO_READ = {
    "kind": "protocol",
    "protocol": "morpho-blue-1.0.0",
    "morpho": "0x" + "22" * 20,
    "morpho_code_hash": "0x" + "33" * 32,
    "market_id": "0x" + "44" * 32,
    "irm_code_hash": "0x" + "55" * 32,
    "field": "borrow_assets",
}


@pytest.mark.parametrize(
    ("read", "extra", "rule"),
    [
        ({**AAVE_READ, "protocol": "aave-v3.1"}, {}, "protocol_name"),
        ({**AAVE_READ, "protocol": 3}, {}, "protocol_name"),
        ({**AAVE_READ, "address": "$subject"}, {}, "spec_keys"),
        ({**MORPHO_READ, "asset": "0x" + "11" * 20}, {}, "spec_keys"),
        ({**AAVE_READ, "field": "borrow_assets"}, {}, "protocol_field"),
        ({**AAVE_READ, "asset": "0x" + "11" * 20}, {}, "protocol_field"),
        ({**AAVE_READ, "field": "price"}, {}, "protocol_field"),
        ({**MORPHO_READ, "field": 7}, {}, "protocol_field"),
        ({**AAVE_READ, "provider": "0x1234"}, {}, "protocol_param"),
        ({**MORPHO_READ, "market_id": "0x" + "44" * 20}, {}, "protocol_param"),
        ({**AAVE_READ, "field": "price", "asset": "$subject"}, {}, "protocol_param"),
        ({**AAVE_READ, "block_offset": -1}, {}, "spec_integer"),
        (AAVE_READ, {"signed": True}, "feature_storage_only"),
        (AAVE_READ, {"signed": 1}, "feature_signed"),
        (AAVE_READ, {"decimals": 78}, "spec_integer"),
        (AAVE_READ, {"series": {"samples": 2, "every": 1, "op": "mean"}}, "series_version"),
    ],
)
def test_bad_protocol_reads_break_the_same_rule(
    read: dict[str, Any], extra: dict[str, Any], rule: str
) -> None:
    feature = {"name": "x", "read": read, **extra}
    spec_obj = {"format": "coproc-features", "version": 1, "name": "bad", "features": [feature]}
    with pytest.raises(UserInputError) as python:
        features.normalize(spec_obj)
    with pytest.raises(UserInputError) as rust:
        host(["spec-hash"], spec_obj)
    assert (python.value.rule, rust.value.rule) == (rule, rule), (python.value, rust.value)


# ---- the arithmetic on random inputs ------------------------------------------------

WORDS = st.one_of(
    st.integers(0, UINT256_MAX),
    st.integers(0, 2**128),
    st.integers(0, 10**30),
    st.sampled_from([0, 1, 2, 2**32 - 1, 2**32, 2**128 - 1, 2**255, UINT256_MAX, 10**18, 10**27]),
    # limbs of 0 and 0xffffffff: the rare steps of long division
    st.lists(st.sampled_from([0, 1, 0x80000000, 0xFFFFFFFF]), min_size=8, max_size=8).map(
        lambda limbs: sum(v << (32 * i) for i, v in enumerate(limbs))
    ),
)
TIMES = st.integers(0, 2**40)
RATES = st.one_of(st.integers(0, 10**28), st.integers(0, UINT256_MAX))
TOTALS = st.integers(0, 2**129)


#: name -> (Python function, argument strategies)
FUNCTIONS: dict[str, tuple[Callable[..., int], tuple[st.SearchStrategy[int], ...]]] = {
    "ray_mul": (aave_math.ray_mul, (WORDS, WORDS)),
    "wad_div": (aave_math.wad_div, (WORDS, WORDS)),
    "percent_mul": (aave_math.percent_mul, (WORDS, WORDS)),
    "linear_interest": (aave_math.linear_interest, (RATES, TIMES, TIMES)),
    "compounded_interest": (aave_math.compounded_interest, (RATES, TIMES, TIMES)),
    "mul_div_down": (morpho_blue.mul_div_down, (WORDS, WORDS, WORDS.filter(bool))),
    "mul_div_up": (morpho_blue.mul_div_up, (WORDS, WORDS, WORDS.filter(bool))),
    "w_taylor_compounded": (morpho_blue.w_taylor_compounded, (RATES, TIMES)),
    "to_assets_up": (morpho_blue.to_assets_up, (TOTALS, TOTALS, TOTALS)),
    "to_assets_down": (morpho_blue.to_assets_down, (TOTALS, TOTALS, TOTALS)),
    "to_shares_down": (morpho_blue.to_shares_down, (TOTALS, TOTALS, TOTALS)),
    "irm_mock_rate": (morpho_blue.irm_mock_rate, (TOTALS, TOTALS)),
    "div_rem": (lambda a, b: a // b, (WORDS, WORDS.filter(bool))),
    "rem": (lambda a, b: a % b, (WORDS, WORDS.filter(bool))),
}


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, list[int]]:
    name = draw(st.sampled_from(sorted(FUNCTIONS)))
    args = [draw(s) for s in FUNCTIONS[name][1]]
    if name.endswith("_interest"):  # (rate, last update, now): never back in time
        args = [args[0], min(args[1:]), max(args[1:])]
    return name, args


def python_value(name: str, args: list[int]) -> str | dict[str, str]:
    """The Python value as the host prints it: decimal, or the refusal a value past
    uint256 (or Python's own overflow refusal) must be."""
    fn = FUNCTIONS[name][0]
    try:
        value = fn(*args)
    except CoprocessorError:
        return {"error": STATE_CODE}
    return str(value) if 0 <= value <= UINT256_MAX else {"error": STATE_CODE}


@settings(max_examples=60, deadline=None)
@given(st.lists(cases(), min_size=1, max_size=60))
def test_math_equals_python(batch: list[tuple[str, list[int]]]) -> None:
    out = host(
        ["protocol-math"],
        {"cases": [{"fn": name, "args": [str(a) for a in args]} for name, args in batch]},
    )
    for (name, args), got in zip(batch, out["results"], strict=True):
        assert got == python_value(name, args), f"{name}{tuple(args)}"


def test_math_known_values() -> None:
    """Values worked by hand (independent of both implementations)."""
    ray = 10**27
    cases_ = [
        ("ray_mul", [3 * ray // 2, 2 * ray], str(3 * ray)),
        ("ray_mul", [1, ray // 2], "1"),  # half up
        ("ray_mul", [1, ray // 2 - 1], "0"),
        ("wad_div", [1, 3], "333333333333333333"),
        ("wad_div", [2, 3], "666666666666666667"),  # half up
        ("percent_mul", [10_001, 5_000], "5001"),  # 5000.5 rounds up
        ("compounded_interest", [ray, 0, 0], str(ray)),
        # one year at 100%: 1 + 1 + 1/2 + 1/6 (truncated per term, in ray)
        ("compounded_interest", [ray, 0, 365 * 86400], None),
        ("mul_div_up", [7, 3, 2], "11"),
        ("mul_div_down", [7, 3, 2], "10"),
        ("div_rem", [UINT256_MAX, 2**128 + 1], str(2**128 - 1)),
        ("ray_mul", [UINT256_MAX, 2], {"error": STATE_CODE}),
    ]
    out = host(
        ["protocol-math"],
        {"cases": [{"fn": f, "args": [str(a) for a in args]} for f, args, _ in cases_]},
    )
    year = out["results"][7]
    assert 2 * 10**27 + 66 * 10**25 < int(year) < 2 * 10**27 + 67 * 10**25  # e^1 - ~0.05
    for (name, args, want), got in zip(cases_, out["results"], strict=True):
        if want is not None:
            assert got == want, f"{name}{tuple(args)}"
