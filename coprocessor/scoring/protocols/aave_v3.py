"""Aave v3 account data from proven storage, computed as ``Pool.getUserAccountData``
computes it (``@aave/core-v3`` 1.19.3: GenericLogic.calculateUserAccountData,
ReserveLogic.getNormalizedIncome/Debt, StableDebtToken.balanceOf, AaveOracle.getAssetPrice).

Storage layout (from the package's sources; build-info storageLayout agrees), see
docs/markets.md:
- PoolAddressesProvider: ``_addresses`` mapping at slot 2 (keys ``bytes32("POOL")``,
  ``bytes32("PRICE_ORACLE")``).
- Pool (behind its proxy): slot 0 ``lastInitializedRevision`` (= POOL_REVISION, 1 in
  this version: the version check), ``_reserves`` 52, ``_usersConfig`` 53,
  ``_reservesList`` 54, ``_usersEModeCategory`` 56, slot 59 packs
  ``_maxStableRateBorrowSizePercent`` (uint64) and ``_reservesCount`` (uint16, byte 8).
- ReserveData (10 slots): +0 configuration, +1 liquidityIndex | currentLiquidityRate,
  +2 variableBorrowIndex | currentVariableBorrowRate, +3 currentStableBorrowRate |
  lastUpdateTimestamp (uint40, byte 16) | id (uint16, byte 21), +4 aToken, +5 stable
  debt token, +6 variable debt token, +7 interest-rate strategy.
- AToken: ``_userState`` at 52; Stable/VariableDebtToken: ``_userState`` at 56
  (balance = low 128 bits, additionalData = high 128: the user's stable rate);
  StableDebtToken ``_timestamps`` at 62. Slot 0 of each token = its revision (1).
- AaveOracle: ``assetsSources`` mapping at slot 0; the aggregator's answer at its slot 0
  (the devnet's DevAggregator and Aave's MockAggregator; Chainlink's proxies are not
  read from storage here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coprocessor.chain.slots import mapping_slot
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.scoring.protocols.aave_math import (
    UINT256_MAX,
    compounded_interest,
    linear_interest,
    percent_mul,
    ray_mul,
    uint256,
    wad_div,
)
from coprocessor.scoring.protocols.storage import Pair, StorageSource

#: the layout this module reads, by name (what a spec names)
VERSION = "aave-v3.0 (@aave/core-v3 1.19.3, Pool revision 1)"
POOL_REVISION = 1
TOKEN_REVISION = 1

PROVIDER_ADDRESSES_SLOT = 2
POOL_RESERVES_SLOT = 52
POOL_USERS_CONFIG_SLOT = 53
POOL_RESERVES_LIST_SLOT = 54
POOL_EMODE_CATEGORIES_SLOT = 55
POOL_USERS_EMODE_SLOT = 56
POOL_RESERVES_COUNT_SLOT = 59
RESERVE_DATA_SLOTS = 8  # of 10: the last two (treasury, unbacked, isolation debt) unused
ATOKEN_USER_STATE_SLOT = 52
DEBT_USER_STATE_SLOT = 56
STABLE_TIMESTAMPS_SLOT = 62
ORACLE_SOURCES_SLOT = 0
AGGREGATOR_ANSWER_SLOT = 0
#: the largest reserve decimals whose unit (10^decimals) is a uint256
MAX_DECIMALS = 77
#: EIP-1967 implementation slot (Aave's proxies are OpenZeppelin-style)
IMPLEMENTATION_SLOT = 0x360894A13BA1A3210667C828492DB98DCA3E2076CC3735A920A3CA505D382BBC

U128 = (1 << 128) - 1


def _key(name: str) -> bytes:
    return name.encode().ljust(32, b"\0")


def _address(word: int) -> bytes:
    return (word & ((1 << 160) - 1)).to_bytes(20, "big")


def _bits(word: int, offset: int, size: int) -> int:
    return (word >> offset) & ((1 << size) - 1)


@dataclass(frozen=True)
class ReserveConfig:
    """The fields of ReserveConfigurationMap the account data uses."""

    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    decimals: int
    emode_category: int

    @classmethod
    def decode(cls, word: int) -> ReserveConfig:
        """ReserveConfiguration.getParams: bits 0-15, 16-31, 32-47, 48-55, 168-175."""
        return cls(
            _bits(word, 0, 16),
            _bits(word, 16, 16),
            _bits(word, 32, 16),
            _bits(word, 48, 8),
            _bits(word, 168, 8),
        )


@dataclass(frozen=True)
class ReserveData:
    """One reserve's stored data (the fields read)."""

    asset: bytes
    configuration: int
    liquidity_index: int
    current_liquidity_rate: int
    variable_borrow_index: int
    current_variable_borrow_rate: int
    current_stable_borrow_rate: int
    last_update_timestamp: int
    id: int
    a_token: bytes
    stable_debt_token: bytes
    variable_debt_token: bytes
    interest_rate_strategy: bytes

    @property
    def config(self) -> ReserveConfig:
        """The decoded configuration bitmap."""
        return ReserveConfig.decode(self.configuration)

    def normalized_income(self, now: int) -> int:
        """ReserveLogic.getNormalizedIncome at ``now``."""
        if self.last_update_timestamp == now:
            return self.liquidity_index
        _check_time("reserve updated", self.last_update_timestamp, now)
        return ray_mul(
            linear_interest(self.current_liquidity_rate, self.last_update_timestamp, now),
            self.liquidity_index,
        )

    def normalized_debt(self, now: int) -> int:
        """ReserveLogic.getNormalizedDebt at ``now``."""
        if self.last_update_timestamp == now:
            return self.variable_borrow_index
        _check_time("reserve updated", self.last_update_timestamp, now)
        return ray_mul(
            compounded_interest(self.current_variable_borrow_rate, self.last_update_timestamp, now),
            self.variable_borrow_index,
        )


def _check_time(what: str, last: int, now: int) -> None:
    """Time never runs back: ``what`` at ``last`` after the block's time is refused."""
    if now < last:
        raise VerificationError(
            f"{what} at {last}, after the block's time {now}", rule="protocol_state"
        )


def _unit(decimals: int) -> int:
    """10^decimals, refused past a uint256 (Aave's ``10**decimals`` would revert)."""
    if decimals > MAX_DECIMALS:
        raise VerificationError(
            f"10^{decimals} overflows uint256 (Aave would revert)", rule="protocol_state"
        )
    unit: int = 10**decimals
    return unit


@dataclass(frozen=True)
class EModeCategory:
    """An eMode category (``_eModeCategories[id]``: ltv, threshold, bonus and price
    source packed in its first slot; the label in the second is not read)."""

    id: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    price_source: bytes

    @classmethod
    def decode(cls, category: int, word: int) -> EModeCategory:
        """Bits 0-15, 16-31, 32-47, then the price source's 160 bits from bit 48."""
        return cls(
            category,
            _bits(word, 0, 16),
            _bits(word, 16, 16),
            _bits(word, 32, 16),
            _bits(word, 48, 160).to_bytes(20, "big"),
        )


@dataclass(frozen=True)
class ReservePosition:
    """The user's balances in one reserve (raw units of the asset unless scaled)."""

    reserve: ReserveData
    price: int
    using_as_collateral: bool
    borrowing: bool
    scaled_a_token: int
    a_token_balance: int
    scaled_variable_debt: int
    variable_debt: int
    stable_debt: int
    collateral_base: int
    debt_base: int


@dataclass(frozen=True)
class AaveAccount:
    """``getUserAccountData``'s six values and what they were computed from."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int
    user_configuration: int
    emode_category: int
    reserves_count: int
    pool: bytes
    oracle: bytes
    positions: tuple[ReservePosition, ...] = field(default=())

    def account_data(self) -> tuple[int, int, int, int, int, int]:
        """In ``Pool.getUserAccountData``'s order."""
        return (
            self.total_collateral_base,
            self.total_debt_base,
            self.available_borrows_base,
            self.current_liquidation_threshold,
            self.ltv,
            self.health_factor,
        )


async def read_account(
    storage: StorageSource,
    provider: bytes,
    user: bytes,
    base_currency: bytes = bytes(20),
    base_currency_unit: int = 10**8,
) -> AaveAccount:
    """Read and compute ``user``'s account data in the market of ``provider``.

    ``base_currency``/``base_currency_unit`` are AaveOracle's immutables (not in
    storage): USD with 8 decimals (address 0, 1e8) on the devnet and on Ethereum.
    Refuses a Pool whose revision is not ``POOL_REVISION``."""
    pool, oracle = await _pool_and_oracle(storage, provider)
    config_slot = mapping_slot(POOL_USERS_CONFIG_SLOT, user)
    emode_slot = mapping_slot(POOL_USERS_EMODE_SLOT, user)
    await storage.load(
        [(pool, 0), (pool, POOL_RESERVES_COUNT_SLOT), (pool, config_slot), (pool, emode_slot)]
    )
    _check_pool_revision(storage, pool)
    user_config = storage.value(pool, config_slot)
    emode = storage.value(pool, emode_slot) & 0xFF
    count = _bits(storage.value(pool, POOL_RESERVES_COUNT_SLOT), 64, 16)
    category = None
    if emode != 0:
        category_slot = mapping_slot(POOL_EMODE_CATEGORIES_SLOT, emode)
        await storage.load([(pool, category_slot)])
        category = EModeCategory.decode(emode, storage.value(pool, category_slot))
    active = [i for i in range(count) if _bits(user_config, 2 * i, 2)]
    list_slots = [mapping_slot(POOL_RESERVES_LIST_SLOT, i) for i in active]
    await storage.load([(pool, s) for s in list_slots])
    assets = [_address(storage.value(pool, s)) for s in list_slots]
    reserves = await _read_reserves(storage, pool, [a for a in assets if a != bytes(20)])
    positions = await _read_positions(
        storage,
        oracle,
        user,
        user_config,
        active,
        assets,
        reserves,
        category,
        (base_currency, base_currency_unit),
    )
    return _account(positions, user_config, category, count, pool, oracle)


async def read_reserve(
    storage: StorageSource,
    provider: bytes,
    user: bytes,
    asset: bytes,
    base_currency: bytes = bytes(20),
    base_currency_unit: int = 10**8,
) -> ReservePosition:
    """``user``'s balances in the reserve of ``asset`` (the tokens' ``balanceOf``) and
    AaveOracle's price of it, whatever the user's configuration bitmap says (its
    ``using_as_collateral``/``borrowing`` flags are not read: both True)."""
    pool, oracle = await _pool_and_oracle(storage, provider)
    await storage.load([(pool, 0)])
    _check_pool_revision(storage, pool)
    reserves = await _read_reserves(storage, pool, [asset])
    if reserves[asset].a_token == bytes(20):
        raise UserInputError(
            f"0x{asset.hex()} is not a reserve of Aave Pool 0x{pool.hex()}", rule="protocol_state"
        )
    (position,) = await _read_positions(
        storage,
        oracle,
        user,
        0b11,
        [0],
        [asset],
        reserves,
        None,
        (base_currency, base_currency_unit),
    )
    return position


async def _pool_and_oracle(storage: StorageSource, provider: bytes) -> tuple[bytes, bytes]:
    """The provider's POOL and PRICE_ORACLE (a provider without a POOL is refused)."""
    pool_key = mapping_slot(PROVIDER_ADDRESSES_SLOT, _key("POOL"))
    oracle_key = mapping_slot(PROVIDER_ADDRESSES_SLOT, _key("PRICE_ORACLE"))
    await storage.load([(provider, pool_key), (provider, oracle_key)])
    pool = _address(storage.value(provider, pool_key))
    oracle = _address(storage.value(provider, oracle_key))
    if pool == bytes(20):
        raise UserInputError(
            f"0x{provider.hex()} has no POOL: not an Aave v3 addresses provider",
            rule="protocol_state",
        )
    return pool, oracle


def _check_pool_revision(storage: StorageSource, pool: bytes) -> None:
    """The version check: the Pool's slot 0 (lastInitializedRevision) is POOL_REVISION."""
    revision = storage.value(pool, 0)
    if revision != POOL_REVISION:
        raise UserInputError(
            f"Aave Pool 0x{pool.hex()} is at revision {revision}; these reads support "
            f"{VERSION} only (its storage layout differs)",
            rule="protocol_version",
        )


async def _read_reserves(
    storage: StorageSource, pool: bytes, assets: list[bytes]
) -> dict[bytes, ReserveData]:
    bases = {a: mapping_slot(POOL_RESERVES_SLOT, a) for a in assets}
    await storage.load([(pool, b + k) for b in bases.values() for k in range(RESERVE_DATA_SLOTS)])
    out = {}
    for asset, base in bases.items():
        w = [storage.value(pool, base + k) for k in range(RESERVE_DATA_SLOTS)]
        out[asset] = ReserveData(
            asset=asset,
            configuration=w[0],
            liquidity_index=w[1] & U128,
            current_liquidity_rate=w[1] >> 128,
            variable_borrow_index=w[2] & U128,
            current_variable_borrow_rate=w[2] >> 128,
            current_stable_borrow_rate=w[3] & U128,
            last_update_timestamp=_bits(w[3], 128, 40),
            id=_bits(w[3], 168, 16),
            a_token=_address(w[4]),
            stable_debt_token=_address(w[5]),
            variable_debt_token=_address(w[6]),
            interest_rate_strategy=_address(w[7]),
        )
    return out


async def _read_positions(
    storage: StorageSource,
    oracle: bytes,
    user: bytes,
    user_config: int,
    active: list[int],
    assets: list[bytes],
    reserves: dict[bytes, ReserveData],
    category: EModeCategory | None,
    base: tuple[bytes, int],
) -> list[ReservePosition]:
    a_slot = mapping_slot(ATOKEN_USER_STATE_SLOT, user)
    d_slot = mapping_slot(DEBT_USER_STATE_SLOT, user)
    t_slot = mapping_slot(STABLE_TIMESTAMPS_SLOT, user)
    priced = list(reserves)
    if category is not None and category.price_source != bytes(20):
        priced.append(category.price_source)
    pairs: list[Pair] = [(oracle, mapping_slot(ORACLE_SOURCES_SLOT, a)) for a in priced]
    for r in reserves.values():
        pairs += [
            (r.a_token, 0),
            (r.a_token, a_slot),
            (r.variable_debt_token, 0),
            (r.variable_debt_token, d_slot),
            (r.stable_debt_token, 0),
            (r.stable_debt_token, d_slot),
            (r.stable_debt_token, t_slot),
        ]
    await storage.load(pairs)
    for r in reserves.values():
        for token in (r.a_token, r.variable_debt_token, r.stable_debt_token):
            if storage.value(token, 0) != TOKEN_REVISION:
                raise UserInputError(
                    f"Aave token 0x{token.hex()} is at revision "
                    f"{storage.value(token, 0)}; {VERSION} expects 1",
                    rule="protocol_version",
                )
    sources = {
        a: _address(storage.value(oracle, mapping_slot(ORACLE_SOURCES_SLOT, a))) for a in priced
    }
    for asset, source in sources.items():
        if source == bytes(20) and asset != base[0]:
            raise UserInputError(
                f"no price source for 0x{asset.hex()}: fallback oracle not supported",
                rule="protocol_state",
            )
    await storage.load([(s, AGGREGATOR_ANSWER_SLOT) for s in sources.values() if s != bytes(20)])
    now = storage.timestamp
    # EModeLogic.getEModeConfiguration: the category's price source, if it has one
    emode_price = 0
    if category is not None and category.price_source != bytes(20):
        emode_price = _price(storage, category.price_source, sources[category.price_source], base)
    out = []
    for i, asset in zip(active, assets, strict=True):
        if asset == bytes(20):
            continue
        r = reserves[asset]
        in_category = category is not None and category.id == r.config.emode_category
        price = (
            emode_price
            if emode_price != 0 and in_category
            else _price(storage, asset, sources[asset], base)
        )
        unit = _unit(r.config.decimals)
        collateral = bool(_bits(user_config, 2 * i + 1, 1))
        borrowing = bool(_bits(user_config, 2 * i, 1))
        scaled_a = storage.value(r.a_token, a_slot) & U128
        a_balance = ray_mul(scaled_a, r.normalized_income(now))
        scaled_v = storage.value(r.variable_debt_token, d_slot) & U128
        v_debt = ray_mul(scaled_v, r.normalized_debt(now)) if scaled_v else 0
        stable = _stable_balance(
            storage.value(r.stable_debt_token, d_slot),
            storage.value(r.stable_debt_token, t_slot),
            now,
        )
        collateral_base = uint256((a_balance * price) // unit, "collateral in base")
        debt = uint256(v_debt + stable, "debt")
        debt_base = uint256((price * debt) // unit, "debt in base")
        out.append(
            ReservePosition(
                r,
                price,
                collateral,
                borrowing,
                scaled_a,
                a_balance,
                scaled_v,
                v_debt,
                stable,
                collateral_base,
                debt_base,
            )
        )
    return out


def _price(storage: StorageSource, asset: bytes, source: bytes, base: tuple[bytes, int]) -> int:
    """AaveOracle.getAssetPrice: the base currency is worth its unit; else the
    aggregator's latestAnswer (a non-positive answer would go to the fallback oracle)."""
    if asset == base[0]:
        return base[1]
    answer = storage.value(source, AGGREGATOR_ANSWER_SLOT)
    if answer >= 1 << 255 or answer == 0:
        raise UserInputError(
            f"price of 0x{asset.hex()} is not positive: fallback not supported",
            rule="protocol_state",
        )
    return answer


def _stable_balance(user_state: int, timestamp_word: int, now: int) -> int:
    """StableDebtToken.balanceOf: principal * compounded(stable rate, since timestamp)."""
    principal = user_state & U128
    if principal == 0:
        return 0
    rate = user_state >> 128
    since = timestamp_word & ((1 << 40) - 1)
    _check_time("stable debt taken", since, now)
    return ray_mul(principal, compounded_interest(rate, since, now))


def _sum(a: int, b: int) -> int:
    """One step of the account's sums, refused past a uint256 (Aave's checked ``+=``)."""
    return uint256(a + b, "account sum")


def _account(
    positions: list[ReservePosition],
    user_config: int,
    category: EModeCategory | None,
    count: int,
    pool: bytes,
    oracle: bytes,
) -> AaveAccount:
    """GenericLogic.calculateUserAccountData + calculateAvailableBorrows (in eMode,
    collateral of the user's category counts at the category's LTV and threshold)."""
    emode = 0 if category is None else category.id
    if user_config == 0:
        return AaveAccount(0, 0, 0, 0, 0, UINT256_MAX, user_config, emode, count, pool, oracle)
    total_collateral = total_debt = avg_ltv = avg_lt = 0
    for p in positions:
        config = p.reserve.config
        if config.liquidation_threshold != 0 and p.using_as_collateral:
            in_category = category is not None and config.emode_category == category.id
            ltv, threshold = config.ltv, config.liquidation_threshold
            if category is not None and in_category:
                ltv, threshold = category.ltv, category.liquidation_threshold
            total_collateral = _sum(total_collateral, p.collateral_base)
            if config.ltv != 0:  # a zero-LTV asset adds nothing to the average LTV
                avg_ltv = _sum(avg_ltv, uint256(p.collateral_base * ltv, "account sum"))
            avg_lt = _sum(avg_lt, uint256(p.collateral_base * threshold, "account sum"))
        if p.borrowing:
            total_debt = _sum(total_debt, p.debt_base)
    avg_ltv = avg_ltv // total_collateral if total_collateral else 0
    avg_lt = avg_lt // total_collateral if total_collateral else 0
    health = (
        UINT256_MAX
        if total_debt == 0
        else wad_div(percent_mul(total_collateral, avg_lt), total_debt)
    )
    borrowable = percent_mul(total_collateral, avg_ltv)
    available = 0 if borrowable < total_debt else borrowable - total_debt
    return AaveAccount(
        total_collateral,
        total_debt,
        available,
        avg_lt,
        avg_ltv,
        health,
        user_config,
        emode,
        count,
        pool,
        oracle,
        tuple(positions),
    )
