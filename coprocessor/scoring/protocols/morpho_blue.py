"""Morpho Blue positions from proven storage, computed as Morpho 1.0.0 and its
periphery library MorphoBalancesLib compute them (interest accrued to the block's
timestamp through the market's IRM, Morpho's MathLib / SharesMathLib rounding).

Storage layout (Morpho.sol; the package's MorphoStorageLib names the same slots):
``position`` mapping at 2 (Position: +0 supplyShares, +1 borrowShares (low 128) |
collateral (high 128)), ``market`` at 3 (+0 totalSupplyAssets | totalSupplyShares,
+1 totalBorrowAssets | totalBorrowShares, +2 lastUpdate | fee), ``idToMarketParams``
at 8 (+0 loanToken, +1 collateralToken, +2 oracle, +3 irm, +4 lltv).

Version check: Morpho is not upgradeable, so the account's proven code hash must be
the one the spec names; and the stored market parameters must hash to the market id.
IRM: only the package's ``IrmMock`` (rate = utilization / 365 days, no state), also
checked by code hash; the oracle's price is read from its slot 0 (``OracleMock``).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode

from coprocessor.chain.keccak import keccak256
from coprocessor.chain.slots import mapping_slot, nested_mapping_slot
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.scoring.protocols.storage import StorageSource

VERSION = "morpho-blue 1.0.0"
WAD = 10**18
ORACLE_PRICE_SCALE = 10**36
VIRTUAL_SHARES = 10**6
VIRTUAL_ASSETS = 1
SECONDS_PER_YEAR = 365 * 24 * 3600
POSITION_SLOT = 2
MARKET_SLOT = 3
ID_TO_MARKET_PARAMS_SLOT = 8
ORACLE_PRICE_SLOT = 0
U128 = (1 << 128) - 1
UINT256_MAX = (1 << 256) - 1
#: timestamps are below 2^64 (the Rust core's u64; the header's time is capped there)
TIMESTAMP_LIMIT = 1 << 64


def _uint256(value: int, what: str) -> int:
    """``value`` if it is a uint256, else refused as ``what`` overflowing (``protocol_state``:
    the checked arithmetic of Morpho and its libraries would revert)."""
    if not 0 <= value <= UINT256_MAX:
        raise VerificationError(
            f"{what} overflows uint256 (Morpho would revert)", rule="protocol_state"
        )
    return value


def _code_hash(storage: StorageSource, address: bytes) -> bytes:
    """EXTCODEHASH of a proven account: 0 for an account proven absent."""
    account = storage.account(address)
    return bytes(32) if account is None else account.code_hash


def _last_update(word: int) -> int:
    """A market's stored ``lastUpdate`` (uint128), refused at 2^64 or more: it is after
    any block's time."""
    if word >= TIMESTAMP_LIMIT:
        raise VerificationError(
            f"market updated at {word}, after any block's time (2^64 or more)",
            rule="protocol_state",
        )
    return word


def mul_div_down(x: int, y: int, d: int) -> int:
    """MathLib.mulDivDown (a quotient past uint256 is refused)."""
    return _uint256((x * y) // d, "mulDivDown")


def mul_div_up(x: int, y: int, d: int) -> int:
    """MathLib.mulDivUp (a quotient past uint256 is refused)."""
    return _uint256((x * y + (d - 1)) // d, "mulDivUp")


def w_mul_down(x: int, y: int) -> int:
    """MathLib.wMulDown."""
    return mul_div_down(x, y, WAD)


def w_taylor_compounded(x: int, n: int) -> int:
    """MathLib.wTaylorCompounded: e^(x n) - 1 to the third term."""
    first = _uint256(x * n, "wTaylorCompounded")
    second = mul_div_down(first, first, 2 * WAD)
    third = mul_div_down(second, first, 3 * WAD)
    return _uint256(first + second + third, "wTaylorCompounded")


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toSharesDown."""
    return mul_div_down(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toAssetsDown."""
    return mul_div_down(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toAssetsUp."""
    return mul_div_up(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def irm_mock_rate(total_supply_assets: int, total_borrow_assets: int) -> int:
    """IrmMock.borrowRateView: utilization (wDivDown) / 365 days, 0 without supply."""
    if total_supply_assets == 0:
        return 0
    return mul_div_down(total_borrow_assets, WAD, total_supply_assets) // SECONDS_PER_YEAR


@dataclass(frozen=True)
class MarketParams:
    """A market's parameters as stored in ``idToMarketParams``."""

    loan_token: bytes
    collateral_token: bytes
    oracle: bytes
    irm: bytes
    lltv: int

    def id(self) -> bytes:
        """MarketParamsLib.id: keccak256(abi.encode(params))."""
        return keccak256(
            encode(
                ["address", "address", "address", "address", "uint256"],
                [self.loan_token, self.collateral_token, self.oracle, self.irm, self.lltv],
            )
        )


@dataclass(frozen=True)
class MarketTotals:
    """A market's totals (stored, or accrued to a timestamp)."""

    total_supply_assets: int
    total_supply_shares: int
    total_borrow_assets: int
    total_borrow_shares: int
    last_update: int
    fee: int

    def accrued(self, irm: bytes, now: int) -> MarketTotals:
        """MorphoBalancesLib.expectedMarketBalances at ``now`` (IrmMock rate)."""
        elapsed = now - self.last_update
        if elapsed < 0:
            raise VerificationError(
                f"market updated at {self.last_update}, after {now}", rule="protocol_state"
            )
        supply_assets, supply_shares = self.total_supply_assets, self.total_supply_shares
        borrow_assets = self.total_borrow_assets
        if elapsed != 0 and borrow_assets != 0 and irm != bytes(20):
            rate = irm_mock_rate(self.total_supply_assets, self.total_borrow_assets)
            interest = w_mul_down(borrow_assets, w_taylor_compounded(rate, elapsed))
            if interest > U128:
                raise VerificationError(
                    "accrued interest overflows uint128 (Morpho would revert)",
                    rule="protocol_state",
                )
            borrow_assets = _uint256(borrow_assets + interest, "borrow assets")
            supply_assets = _uint256(supply_assets + interest, "supply assets")
            if self.fee != 0:
                fee_amount = w_mul_down(interest, self.fee)
                rest = _uint256(supply_assets - fee_amount, "fee")
                supply_shares = _uint256(
                    supply_shares + to_shares_down(fee_amount, rest, supply_shares),
                    "supply shares",
                )
        return MarketTotals(
            supply_assets, supply_shares, borrow_assets, self.total_borrow_shares, now, self.fee
        )


@dataclass(frozen=True)
class MorphoPosition:
    """A user's position in one market, with the market accrued to the block's time."""

    market_id: bytes
    params: MarketParams
    supply_shares: int
    borrow_shares: int
    collateral: int
    stored: MarketTotals
    expected: MarketTotals
    oracle_price: int
    borrow_assets: int  # expectedBorrowAssets (shares rounded up)
    supply_assets: int  # expectedSupplyAssets (rounded down)
    max_borrow: int  # collateral * price / 1e36 * lltv
    healthy: bool  # Morpho's _isHealthy after accrual

    @property
    def health_factor(self) -> int | None:
        """max_borrow / borrow_assets in WAD (``None`` without debt)."""
        if self.borrow_assets == 0:
            return None
        return mul_div_down(self.max_borrow, WAD, self.borrow_assets)


async def read_position(
    storage: StorageSource,
    morpho: bytes,
    market_id: bytes,
    user: bytes,
    *,
    morpho_code_hash: bytes,
    irm_code_hash: bytes,
) -> MorphoPosition:
    """Read and compute ``user``'s position in market ``market_id``; refuses another
    Morpho build (code hash), another IRM, or params that do not hash to the id."""
    position = nested_mapping_slot(POSITION_SLOT, market_id, user)
    market = mapping_slot(MARKET_SLOT, market_id)
    params = mapping_slot(ID_TO_MARKET_PARAMS_SLOT, market_id)
    await storage.load(
        [(morpho, position), (morpho, position + 1)]
        + [(morpho, market + k) for k in range(3)]
        + [(morpho, params + k) for k in range(5)]
    )
    code = _code_hash(storage, morpho)
    if code != morpho_code_hash:
        raise UserInputError(
            f"0x{morpho.hex()} is not {VERSION} (code hash {code.hex()} differs)",
            rule="protocol_version",
        )
    loan_token, collateral_token, oracle, irm_address = (
        (storage.value(morpho, params + k) & ((1 << 160) - 1)).to_bytes(20, "big") for k in range(4)
    )
    p = MarketParams(
        loan_token, collateral_token, oracle, irm_address, storage.value(morpho, params + 4)
    )
    if p.id() != market_id:
        raise UserInputError(
            f"market 0x{market_id.hex()} does not exist in 0x{morpho.hex()} "
            "(stored parameters do not hash to the id)",
            rule="protocol_state",
        )
    words = [storage.value(morpho, market + k) for k in range(3)]
    stored = MarketTotals(
        words[0] & U128,
        words[0] >> 128,
        words[1] & U128,
        words[1] >> 128,
        _last_update(words[2] & U128),
        words[2] >> 128,
    )
    await storage.load([(p.oracle, ORACLE_PRICE_SLOT), (p.irm, 0)])
    irm_code = _code_hash(storage, p.irm)
    if p.irm != bytes(20) and irm_code != irm_code_hash:
        raise UserInputError(
            f"IRM 0x{p.irm.hex()} is not the supported IrmMock (code hash differs)",
            rule="protocol_version",
        )
    expected = stored.accrued(p.irm, storage.timestamp)
    supply_shares = storage.value(morpho, position)
    second = storage.value(morpho, position + 1)
    borrow_shares, collateral = second & U128, second >> 128
    price = storage.value(p.oracle, ORACLE_PRICE_SLOT)
    borrow = to_assets_up(borrow_shares, expected.total_borrow_assets, expected.total_borrow_shares)
    supply = to_assets_down(
        supply_shares, expected.total_supply_assets, expected.total_supply_shares
    )
    max_borrow = w_mul_down(mul_div_down(collateral, price, ORACLE_PRICE_SCALE), p.lltv)
    healthy = borrow_shares == 0 or max_borrow >= borrow
    return MorphoPosition(
        market_id,
        p,
        supply_shares,
        borrow_shares,
        collateral,
        stored,
        expected,
        price,
        borrow,
        supply,
        max_borrow,
        healthy,
    )
