"""The bounds of the protocol reads (docs/formats.md §3c), where no real chain goes:
the Python reference and the Rust core (``coproc-host core protocol-read``) refuse the
same storage values with the same rule code, and read the values just inside each
bound alike. The storage values are built here directly (no chain): Python reads them
from a static storage, Rust from the same values (``--verified`` with ``--timestamp``);
the header-timestamp bound goes through a real bundle (an empty state whose header's
timestamp is 2^64 or more), verified by both."""

from __future__ import annotations

import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
import rlp
from markets.test_rust_equal import aave_expected, host, morpho_expected, position_expected

from coprocessor.chain.bundle import parse_bundle, verify_bundle
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.proofs import Account
from coprocessor.chain.slots import mapping_slot, nested_mapping_slot
from coprocessor.errors import CoprocessorError
from coprocessor.scoring.protocol_values import BundleStorage, run_sync
from coprocessor.scoring.protocols import aave_v3, morpho_blue
from coprocessor.scoring.protocols.storage import Pair, StaticStorage

STATE = "P005"  # protocol_state, spec/rule_codes.json
U256 = 2**256 - 1
RAY = 10**27
NOW = 1_700_000_000
BLOCK = 5
USER = bytes.fromhex("aa" * 20)
PROVIDER, POOL, ORACLE, ASSET = (bytes([n]) * 20 for n in (0x11, 0x12, 0x13, 0x14))
A_TOKEN, VARIABLE_DEBT, STABLE_DEBT, AGGREGATOR = (
    bytes([n]) * 20 for n in (0x21, 0x22, 0x23, 0x24)
)
MORPHO, IRM, PRICE_ORACLE = (bytes([n]) * 20 for n in (0x31, 0x32, 0x33))
MORPHO_CODE, IRM_CODE = bytes([0x41]) * 32, bytes([0x42]) * 32


def _key(name: str) -> bytes:
    return name.encode().ljust(32, b"\0")


def aave_state(
    *,
    decimals: int = 18,
    price: int = 2 * 10**11,
    scaled_a: int = 10**21,
    threshold: int = 8_000,
    ltv: int = 7_500,
    user_config: int = 0b11,
    stable: tuple[int, int, int] = (0, 0, 0),
) -> dict[Pair, int]:
    """One user with one reserve (id 0) of ``ASSET``, indexes at 1 ray, updated at
    ``NOW``; ``stable`` = (principal, rate, since) of the user's stable debt."""
    reserve = mapping_slot(52, ASSET)
    principal, stable_rate, since = stable
    words: dict[Pair, int] = {
        (PROVIDER, mapping_slot(2, _key("POOL"))): int.from_bytes(POOL, "big"),
        (PROVIDER, mapping_slot(2, _key("PRICE_ORACLE"))): int.from_bytes(ORACLE, "big"),
        (POOL, 0): 1,
        (POOL, 59): 1 << 64,  # _reservesCount = 1
        (POOL, mapping_slot(53, USER)): user_config,
        (POOL, mapping_slot(56, USER)): 0,
        (POOL, mapping_slot(54, 0)): int.from_bytes(ASSET, "big"),
        (POOL, reserve): ltv | threshold << 16 | 10_500 << 32 | decimals << 48,
        (POOL, reserve + 1): RAY | (10**25) << 128,
        (POOL, reserve + 2): RAY | (3 * 10**25) << 128,
        (POOL, reserve + 3): 5 * 10**25 | NOW << 128,
        (POOL, reserve + 4): int.from_bytes(A_TOKEN, "big"),
        (POOL, reserve + 5): int.from_bytes(STABLE_DEBT, "big"),
        (POOL, reserve + 6): int.from_bytes(VARIABLE_DEBT, "big"),
        (POOL, reserve + 7): 0,
        (ORACLE, mapping_slot(0, ASSET)): int.from_bytes(AGGREGATOR, "big"),
        (AGGREGATOR, 0): price,
        (A_TOKEN, mapping_slot(52, USER)): scaled_a,
        (VARIABLE_DEBT, mapping_slot(56, USER)): 10**20,
        (STABLE_DEBT, mapping_slot(56, USER)): principal | stable_rate << 128,
        (STABLE_DEBT, mapping_slot(62, USER)): since,
    }
    for token in (A_TOKEN, VARIABLE_DEBT, STABLE_DEBT):
        words[(token, 0)] = 1
    return words


def morpho_state(
    *, last_update: int, irm: bytes = IRM, supply: tuple[int, int] = (10**12, 10**18)
) -> tuple[bytes, dict[Pair, int]]:
    """A market (``supply`` = (loan assets supplied, supply shares), 5 * 10^11 borrowed,
    1% fee) and the user's position (10^17 supply shares); its id and the values."""
    params = [int.from_bytes(a, "big") for a in (ASSET, A_TOKEN, PRICE_ORACLE, irm)]
    lltv = 86 * 10**16
    market_id = keccak256(b"".join(v.to_bytes(32, "big") for v in (*params, lltv)))
    market = mapping_slot(3, market_id)
    position = nested_mapping_slot(2, market_id, USER)
    words = {(MORPHO, mapping_slot(8, market_id) + k): v for k, v in enumerate(params)}
    words[(MORPHO, mapping_slot(8, market_id) + 4)] = lltv
    words |= {
        (MORPHO, market): supply[0] | supply[1] << 128,
        (MORPHO, market + 1): 5 * 10**11 | (5 * 10**17) << 128,
        (MORPHO, market + 2): last_update | (10**16) << 128,
        (MORPHO, position): 10**17,
        (MORPHO, position + 1): 10**17 | (10**12) << 128,
        (PRICE_ORACLE, 0): 10**36,
        (irm, 0): 0,
    }
    return market_id, words


def _accounts(words: dict[Pair, int]) -> dict[bytes, Account | None]:
    codes = {MORPHO: MORPHO_CODE, IRM: IRM_CODE}
    return {a: Account(1, 0, bytes(32), codes.get(a, bytes([7]) * 32)) for a, _ in words}


def _verified(words: dict[Pair, int]) -> dict[str, Any]:
    """The values in the shape ``--verified`` reads (reads without proofs)."""
    accounts = []
    for address, account in _accounts(words).items():
        assert account is not None
        storage = {
            "0x" + s.to_bytes(32, "big").hex(): hex(v)
            for (a, s), v in words.items()
            if a == address
        }
        accounts.append(
            {
                "block": BLOCK,
                "address": "0x" + address.hex(),
                "account": account.to_json(),
                "storage": storage,
            }
        )
    return {"anchor": {"number": BLOCK}, "accounts": accounts}


def rust(tmp: Path, words: dict[Pair, int], args: list[str], now: int = NOW) -> dict[str, Any]:
    """The Rust core's read of ``words`` at ``now``: its result or its refusal."""
    path = tmp / "values.json"
    path.write_text(json.dumps(_verified(words)))
    out = host(["protocol-read", "--verified", str(path), "--timestamp", str(now), *args])
    assert out["timestamp"] == now
    (entry,) = out["results"]
    return dict(entry)


def python(read: Coroutine[Any, Any, Any]) -> Any:
    """The Python reference's result, or the code it refuses with."""
    try:
        return run_sync(read)
    except CoprocessorError as exc:
        return exc.code


def static(words: dict[Pair, int], now: int = NOW) -> StaticStorage:
    return StaticStorage(words, _accounts(words), now)


def read_args(protocol: str, address: bytes, **options: bytes) -> list[str]:
    """``protocol-read``'s arguments for the user: ``--protocol``, ``--address`` and
    each option (``market_id`` -> ``--market-id``) as 0x-hex."""
    named = {"address": address, **options, "subject": USER}
    hexed = [[f"--{k.replace('_', '-')}", "0x" + v.hex()] for k, v in named.items()]
    return ["--protocol", protocol, *(part for pair in hexed for part in pair)]


AAVE_ARGS = read_args("aave-v3", PROVIDER)
RESERVE_ARGS = [*AAVE_ARGS, "--asset", "0x" + ASSET.hex()]


def aave_both(tmp: Path, words: dict[Pair, int], now: int = NOW) -> tuple[Any, Any]:
    """(Rust, Python) for the account read and for the reserve read of ``ASSET``."""
    rs_account = rust(tmp, words, AAVE_ARGS, now)
    rs_reserve = rust(tmp, words, RESERVE_ARGS, now)
    py_account = python(aave_v3.read_account(static(words, now), PROVIDER, USER))
    py_reserve = python(aave_v3.read_reserve(static(words, now), PROVIDER, USER, ASSET))
    return (rs_account, rs_reserve), (py_account, py_reserve)


def assert_refused(rs: Any, py: Any) -> None:
    assert py == STATE
    assert "result" not in rs, rs
    assert rs["refused"]["code"] == STATE, rs


def assert_aave_equal(rs: tuple[Any, Any], py: tuple[Any, Any]) -> None:
    assert not isinstance(py[0], str) and not isinstance(py[1], str), py
    assert rs[0].get("result") == aave_expected(py[0])
    assert rs[1].get("result") == position_expected(py[1])


# ------------------------------------------------------------------------ Aave v3


def test_reserve_decimals_up_to_77() -> None:
    """10^decimals is a uint256 up to 77 decimals (10^77 < 2^256 < 10^78)."""
    assert 10**77 <= U256 < 10**78


@pytest.mark.parametrize("decimals", [0, 18, 77])
def test_decimals_inside_are_read_alike(tmp_path: Path, decimals: int) -> None:
    rs, py = aave_both(tmp_path, aave_state(decimals=decimals))
    assert_aave_equal(rs, py)
    # an independent check of the unit: 10^21 scaled at 1 ray, priced 2e11 base units
    assert py[0].total_collateral_base == 10**21 * 2 * 10**11 // 10**decimals


@pytest.mark.parametrize("decimals", [78, 255])
def test_decimals_past_77_are_refused_by_both(tmp_path: Path, decimals: int) -> None:
    (rs_account, rs_reserve), (py_account, py_reserve) = aave_both(
        tmp_path, aave_state(decimals=decimals)
    )
    assert_refused(rs_account, py_account)
    assert_refused(rs_reserve, py_reserve)


def _collateral_state(product: int) -> dict[Pair, int]:
    """Collateral only (no borrowing bit), decimals 0, threshold 100%, ltv 0 (nothing
    borrowable, so percentMul stays small): the threshold sum is collateral_base * 10^4
    with collateral_base = 2^127 * price, the largest such at most ``product``."""
    price = product // (2**127 * 10**4)
    return aave_state(
        decimals=0, price=price, scaled_a=2**127, threshold=10**4, ltv=0, user_config=0b10
    )


def test_account_sums_inside_2_256_are_read_alike(tmp_path: Path) -> None:
    # the largest collateral whose threshold sum stays a uint256
    rs, py = aave_both(tmp_path, _collateral_state(U256))
    assert_aave_equal(rs, py)
    total = py[0].total_collateral_base
    assert total == 2**127 * (U256 // (2**127 * 10**4))
    assert total * 10**4 <= U256 < (total + 2**127) * 10**4


def test_account_sums_past_2_256_are_refused_by_both(tmp_path: Path) -> None:
    # one price unit more: collateral_base * 10^4 passes 2^256 (Aave's checked sum reverts)
    words = _collateral_state(U256)
    words[(AGGREGATOR, 0)] += 1
    assert words[(AGGREGATOR, 0)] * 2**127 * 10**4 > U256
    (rs_account, rs_reserve), (py_account, py_reserve) = aave_both(tmp_path, words)
    assert_refused(rs_account, py_account)
    # the reserve read sums nothing: both read it alike
    assert rs_reserve.get("result") == position_expected(py_reserve)


@pytest.mark.parametrize("since", [NOW, NOW - 86_400])
def test_stable_debt_taken_by_the_block_is_read_alike(tmp_path: Path, since: int) -> None:
    rs, py = aave_both(tmp_path, aave_state(stable=(10**20, 10**26, since)))
    assert_aave_equal(rs, py)
    assert (py[1].stable_debt == 10**20) == (since == NOW)  # interest only after a while


@pytest.mark.parametrize("since", [NOW + 1, 2**40 - 1])
def test_stable_debt_taken_after_the_block_is_refused_by_both(tmp_path: Path, since: int) -> None:
    (rs_account, rs_reserve), (py_account, py_reserve) = aave_both(
        tmp_path, aave_state(stable=(10**20, 10**26, since))
    )
    assert_refused(rs_account, py_account)
    assert_refused(rs_reserve, py_reserve)


# ---------------------------------------------------------------------- Morpho Blue


def morpho_args(market_id: bytes, morpho_code: bytes, irm_code: bytes) -> list[str]:
    """``protocol-read``'s arguments for the user's position in ``market_id``."""
    return read_args(
        "morpho-blue",
        MORPHO,
        market_id=market_id,
        morpho_code_hash=morpho_code,
        irm_code_hash=irm_code,
    )


def morpho_words_both(
    tmp: Path, market_id: bytes, words: dict[Pair, int], now: int, irm_code: bytes = IRM_CODE
) -> tuple[Any, Any]:
    """(Rust, Python) for the user's position in ``market_id`` over ``words``."""
    read = morpho_blue.read_position(
        static(words, now),
        MORPHO,
        market_id,
        USER,
        morpho_code_hash=MORPHO_CODE,
        irm_code_hash=irm_code,
    )
    args = morpho_args(market_id, MORPHO_CODE, irm_code)
    return rust(tmp, words, args, now), python(read)


def morpho_both(
    tmp: Path, last_update: int, now: int, irm_code: bytes = IRM_CODE
) -> tuple[Any, Any]:
    market_id, words = morpho_state(last_update=last_update)
    return morpho_words_both(tmp, market_id, words, now, irm_code)


@pytest.mark.parametrize(
    ("last_update", "now"), [(NOW - 3_600, NOW), (NOW, NOW), (2**64 - 1, 2**64 - 1)]
)
def test_morpho_updates_below_2_64_are_read_alike(
    tmp_path: Path, last_update: int, now: int
) -> None:
    rs, py = morpho_both(tmp_path, last_update, now)
    assert not isinstance(py, str), py
    assert rs.get("result") == morpho_expected(py)
    assert py.expected.last_update == now
    # interest only when time passed: an independent check of the accrual's direction
    assert (py.expected.total_borrow_assets > 5 * 10**11) == (last_update < now)


@pytest.mark.parametrize("last_update", [2**64, 2**128 - 1])
def test_morpho_update_at_2_64_or_more_is_refused_by_both(tmp_path: Path, last_update: int) -> None:
    rs, py = morpho_both(tmp_path, last_update, 2**64 - 1)
    assert_refused(rs, py)
    # refused where the stored totals are read: before the IRM's check (P004)
    rs, py = morpho_both(tmp_path, last_update, 2**64 - 1, irm_code=bytes(32))
    assert_refused(rs, py)
    rs, py = morpho_both(tmp_path, 2**64 - 1, 2**64 - 1, irm_code=bytes(32))
    assert py == "P004" and rs["refused"]["code"] == "P004"


def test_morpho_assets_past_2_256_are_refused_by_both(tmp_path: Path) -> None:
    """expectedSupplyAssets = shares * (assets + 1) / (total shares + 10^6), rounded
    down (mulDivDown): refused by both when that passes a uint256."""
    market_id, words = morpho_state(last_update=NOW, supply=(2**128 - 1, 0))
    rs, py = morpho_words_both(tmp_path, market_id, words, NOW)
    assert not isinstance(py, str), py
    assert rs.get("result") == morpho_expected(py)
    assert py.supply_assets == 10**17 * 2**128 // 10**6  # the user's 10^17 shares
    words[(MORPHO, nested_mapping_slot(2, market_id, USER))] = 2**200
    assert U256 < 2**200 * 2**128 // 10**6
    assert_refused(*morpho_words_both(tmp_path, market_id, words, NOW))


# --------------------------------------------------------- the header's timestamp


def _header(timestamp: int) -> bytes:
    """A Frontier-shaped header of block ``BLOCK`` over the empty state."""
    empty_root = keccak256(rlp.encode(b""))
    fields: list[bytes] = [
        bytes(32),
        keccak256(rlp.encode([])),
        bytes(20),
        empty_root,
        empty_root,
        empty_root,
        bytes(256),
        b"",
        BLOCK.to_bytes(1, "big"),
        (30_000_000).to_bytes(4, "big"),
        b"",
        timestamp.to_bytes((timestamp.bit_length() + 7) // 8, "big"),
        b"",
        bytes(32),
        bytes(8),
    ]
    return bytes(rlp.encode(fields))


def _empty_state_bundle(timestamp: int) -> dict[str, Any]:
    """Morpho, its IRM (address 0) and the oracle (address 0), all proven absent: the
    market of all-zero parameters, no interest."""
    raw = _header(timestamp)
    reads: list[dict[str, Any]] = [
        {
            "block": BLOCK,
            "address": "0x" + a.hex(),
            "address_hash": "0x" + keccak256(a).hex(),
            "account": None,
            "storage": [],
        }
        for a in sorted({MORPHO, bytes(20)})
    ]
    return {
        "format": "coproc-bundle",
        "version": 1,
        "chain_id": 1,
        "anchor": {"number": BLOCK, "hash": "0x" + keccak256(raw).hex()},
        "headers": ["0x" + raw.hex()],
        "accounts": reads,
        "nodes": [],
    }


@pytest.mark.parametrize("timestamp", [2**64 - 1, 2**64, 2**64 + 12, 2**80])
def test_a_header_timestamp_is_capped_at_2_64_minus_1_by_both(
    tmp_path: Path, timestamp: int
) -> None:
    """docs/formats.md §3c: the reads accrue to min(timestamp, 2^64 - 1) in both."""
    bundle = _empty_state_bundle(timestamp)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    market_id = keccak256(bytes(160))  # MarketParamsLib.id of all-zero parameters
    args = ["--bundle", str(path), *morpho_args(market_id, bytes(32), IRM_CODE)]
    out = host(["protocol-read", *args])
    assert out["timestamp"] == 2**64 - 1
    verified = verify_bundle(parse_bundle(bundle))
    assert verified.header(BLOCK).timestamp == timestamp  # the header keeps its value
    reads = {(r.block, r.address): r for r in verified.bundle.accounts}
    storage = BundleStorage(reads, {}, BLOCK, verified.header(BLOCK).timestamp)
    py = python(
        morpho_blue.read_position(
            storage, MORPHO, market_id, USER, morpho_code_hash=bytes(32), irm_code_hash=IRM_CODE
        )
    )
    assert not isinstance(py, str), py
    assert py.expected.last_update == 2**64 - 1
    (entry,) = out["results"]
    assert entry.get("result") == morpho_expected(py)
