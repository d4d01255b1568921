//! Aave v3 account data from proven storage, computed as `Pool.getUserAccountData`
//! computes it (`@aave/core-v3` 1.19.3). Port of `coprocessor/scoring/protocols/aave_v3.py`
//! (the layout is described there and in docs/markets.md): the same slots read, the same
//! refusals, the same values.

use super::aave_math::{compounded_interest, linear_interest, percent_mul, ray_mul, wad_div};
use super::{address_of, field, mapping_slot, overflow, pad_address, refuse, slot, small, Storage};
use crate::error::{Result, Rule};
use crate::hex;
use crate::u256::{self, Word, U256};
use alloc::format;
use alloc::vec::Vec;

/// The layout these reads support, by name (what a spec names).
pub const VERSION: &str = "aave-v3.0 (@aave/core-v3 1.19.3, Pool revision 1)";
/// `lastInitializedRevision` of the supported Pool.
pub const POOL_REVISION: u64 = 1;
/// Revision of the supported aToken and debt tokens.
pub const TOKEN_REVISION: u64 = 1;

const PROVIDER_ADDRESSES_SLOT: u64 = 2;
const POOL_RESERVES_SLOT: u64 = 52;
const POOL_USERS_CONFIG_SLOT: u64 = 53;
const POOL_RESERVES_LIST_SLOT: u64 = 54;
const POOL_EMODE_CATEGORIES_SLOT: u64 = 55;
const POOL_USERS_EMODE_SLOT: u64 = 56;
const POOL_RESERVES_COUNT_SLOT: u64 = 59;
const RESERVE_DATA_SLOTS: usize = 8;
const ATOKEN_USER_STATE_SLOT: u64 = 52;
const DEBT_USER_STATE_SLOT: u64 = 56;
const STABLE_TIMESTAMPS_SLOT: u64 = 62;
const ORACLE_SOURCES_SLOT: u64 = 0;
const AGGREGATOR_ANSWER_SLOT: u64 = 0;
/// Largest reserve decimals whose unit (10^decimals) is a uint256.
const MAX_DECIMALS: u64 = 77;

const ZERO_ADDRESS: [u8; 20] = [0; 20];

fn name_key(name: &str) -> Word {
    let mut w = [0u8; 32];
    w[..name.len()].copy_from_slice(name.as_bytes());
    w
}

fn low128(v: &U256) -> U256 {
    v.bits(0, 128)
}

fn high128(v: &U256) -> U256 {
    v.bits(128, 128)
}

/// The fields of ReserveConfigurationMap the account data uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveConfig {
    /// Bits 0-15.
    pub ltv: u64,
    /// Bits 16-31.
    pub liquidation_threshold: u64,
    /// Bits 32-47.
    pub liquidation_bonus: u64,
    /// Bits 48-55.
    pub decimals: u64,
    /// Bits 168-175.
    pub emode_category: u64,
}

impl ReserveConfig {
    /// ReserveConfiguration.getParams.
    pub fn decode(word: &U256) -> ReserveConfig {
        ReserveConfig {
            ltv: small(word, 0, 16),
            liquidation_threshold: small(word, 16, 16),
            liquidation_bonus: small(word, 32, 16),
            decimals: small(word, 48, 8),
            emode_category: small(word, 168, 8),
        }
    }
}

/// One reserve's stored data (the fields read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveData {
    /// The underlying asset.
    pub asset: [u8; 20],
    /// The configuration bitmap.
    pub configuration: U256,
    /// Ray.
    pub liquidity_index: U256,
    /// Ray.
    pub current_liquidity_rate: U256,
    /// Ray.
    pub variable_borrow_index: U256,
    /// Ray.
    pub current_variable_borrow_rate: U256,
    /// Ray.
    pub current_stable_borrow_rate: U256,
    /// uint40.
    pub last_update_timestamp: u64,
    /// uint16.
    pub id: u64,
    /// The aToken.
    pub a_token: [u8; 20],
    /// The stable debt token.
    pub stable_debt_token: [u8; 20],
    /// The variable debt token.
    pub variable_debt_token: [u8; 20],
    /// The interest-rate strategy.
    pub interest_rate_strategy: [u8; 20],
}

fn check_time(last: u64, now: u64) -> Result<()> {
    if now < last {
        return Err(refuse(Rule::ProtocolState, format!("reserve updated at {last}, after the block's time {now}")));
    }
    Ok(())
}

impl ReserveData {
    /// The decoded configuration bitmap.
    pub fn config(&self) -> ReserveConfig {
        ReserveConfig::decode(&self.configuration)
    }

    /// ReserveLogic.getNormalizedIncome at `now`.
    pub fn normalized_income(&self, now: u64) -> Result<U256> {
        if self.last_update_timestamp == now {
            return Ok(self.liquidity_index);
        }
        check_time(self.last_update_timestamp, now)?;
        ray_mul(&linear_interest(&self.current_liquidity_rate, self.last_update_timestamp, now)?, &self.liquidity_index)
    }

    /// ReserveLogic.getNormalizedDebt at `now`.
    pub fn normalized_debt(&self, now: u64) -> Result<U256> {
        if self.last_update_timestamp == now {
            return Ok(self.variable_borrow_index);
        }
        check_time(self.last_update_timestamp, now)?;
        ray_mul(
            &compounded_interest(&self.current_variable_borrow_rate, self.last_update_timestamp, now)?,
            &self.variable_borrow_index,
        )
    }
}

/// An eMode category (`_eModeCategories[id]`, its first slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EModeCategory {
    /// The category id.
    pub id: u64,
    /// Bits 0-15.
    pub ltv: u64,
    /// Bits 16-31.
    pub liquidation_threshold: u64,
    /// Bits 32-47.
    pub liquidation_bonus: u64,
    /// Bits 48-207.
    pub price_source: [u8; 20],
}

impl EModeCategory {
    fn decode(id: u64, word: &U256) -> EModeCategory {
        EModeCategory {
            id,
            ltv: small(word, 0, 16),
            liquidation_threshold: small(word, 16, 16),
            liquidation_bonus: small(word, 32, 16),
            price_source: address_of(&word.bits(48, 160)),
        }
    }
}

/// The user's balances in one reserve (raw units of the asset unless scaled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservePosition {
    /// The reserve.
    pub reserve: ReserveData,
    /// Oracle price in the base currency.
    pub price: U256,
    /// Collateral bit of the user's configuration.
    pub using_as_collateral: bool,
    /// Borrowing bit of the user's configuration.
    pub borrowing: bool,
    /// Scaled aToken balance.
    pub scaled_a_token: U256,
    /// aToken balance at the block's time.
    pub a_token_balance: U256,
    /// Scaled variable debt.
    pub scaled_variable_debt: U256,
    /// Variable debt at the block's time.
    pub variable_debt: U256,
    /// Stable debt at the block's time.
    pub stable_debt: U256,
    /// aToken balance in the base currency.
    pub collateral_base: U256,
    /// Debt in the base currency.
    pub debt_base: U256,
}

/// `getUserAccountData`'s six values and what they were computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AaveAccount {
    /// totalCollateralBase.
    pub total_collateral_base: U256,
    /// totalDebtBase.
    pub total_debt_base: U256,
    /// availableBorrowsBase.
    pub available_borrows_base: U256,
    /// currentLiquidationThreshold.
    pub current_liquidation_threshold: U256,
    /// ltv.
    pub ltv: U256,
    /// healthFactor.
    pub health_factor: U256,
    /// The user's configuration bitmap.
    pub user_configuration: U256,
    /// The user's eMode category (0: none).
    pub emode_category: u64,
    /// `_reservesCount`.
    pub reserves_count: u64,
    /// The Pool (proxy).
    pub pool: [u8; 20],
    /// The AaveOracle.
    pub oracle: [u8; 20],
    /// One per active reserve of the user.
    pub positions: Vec<ReservePosition>,
}

impl AaveAccount {
    /// In `Pool.getUserAccountData`'s order.
    pub fn account_data(&self) -> [U256; 6] {
        [
            self.total_collateral_base,
            self.total_debt_base,
            self.available_borrows_base,
            self.current_liquidation_threshold,
            self.ltv,
            self.health_factor,
        ]
    }
}

/// AaveOracle's immutables (not in storage): the base currency and its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseCurrency {
    /// The base currency's address (0: USD).
    pub address: [u8; 20],
    /// Its unit (1e8 for USD with 8 decimals).
    pub unit: U256,
}

impl Default for BaseCurrency {
    /// USD with 8 decimals (the devnet and Ethereum).
    fn default() -> Self {
        BaseCurrency { address: ZERO_ADDRESS, unit: U256::from_u64(100_000_000) }
    }
}

/// The provider's POOL and PRICE_ORACLE (a provider without a POOL is refused).
fn pool_and_oracle<S: Storage>(s: &S, provider: &[u8; 20]) -> Result<([u8; 20], [u8; 20])> {
    let addresses = slot(PROVIDER_ADDRESSES_SLOT);
    let pool = address_of(&s.word(provider, &mapping_slot(&addresses, &name_key("POOL")))?);
    let oracle = address_of(&s.word(provider, &mapping_slot(&addresses, &name_key("PRICE_ORACLE")))?);
    if pool == ZERO_ADDRESS {
        return Err(refuse(
            Rule::ProtocolState,
            format!("{} has no POOL: not an Aave v3 addresses provider", hex::encode(provider)),
        ));
    }
    Ok((pool, oracle))
}

/// The version check: the Pool's slot 0 (lastInitializedRevision) is POOL_REVISION.
fn check_pool_revision<S: Storage>(s: &S, pool: &[u8; 20]) -> Result<()> {
    let revision = s.word(pool, &slot(0))?;
    if revision != U256::from_u64(POOL_REVISION) {
        return Err(refuse(
            Rule::ProtocolVersion,
            format!(
                "Aave Pool {} is at revision {}; these reads support {VERSION} only (its storage layout differs)",
                hex::encode(pool),
                revision.to_decimal()
            ),
        ));
    }
    Ok(())
}

/// `user`'s balances in the reserve of `asset` (the tokens' `balanceOf`) and
/// AaveOracle's price of it, whatever the user's configuration bitmap says (its
/// collateral and borrowing flags are not read: both true).
pub fn read_reserve<S: Storage>(
    s: &S,
    provider: &[u8; 20],
    user: &[u8; 20],
    asset: &[u8; 20],
    base: &BaseCurrency,
) -> Result<ReservePosition> {
    let (pool, oracle) = pool_and_oracle(s, provider)?;
    check_pool_revision(s, &pool)?;
    let reserves = read_reserves(s, &pool, &[*asset])?;
    if reserves[0].a_token == ZERO_ADDRESS {
        return Err(refuse(
            Rule::ProtocolState,
            format!("{} is not a reserve of Aave Pool {}", hex::encode(asset), hex::encode(&pool)),
        ));
    }
    let ctx = Context { oracle, user_key: pad_address(user), user_config: U256::from_u64(0b11), category: None, base: *base };
    let mut positions = read_positions(s, &ctx, &[0], &[*asset], &reserves)?;
    positions.pop().ok_or_else(|| refuse(Rule::ProtocolState, "no position".into()))
}

/// Read and compute `user`'s account data in the market of `provider`.
pub fn read_account<S: Storage>(s: &S, provider: &[u8; 20], user: &[u8; 20], base: &BaseCurrency) -> Result<AaveAccount> {
    let (pool, oracle) = pool_and_oracle(s, provider)?;
    let user_key = pad_address(user);
    check_pool_revision(s, &pool)?;
    let user_config = s.word(&pool, &mapping_slot(&slot(POOL_USERS_CONFIG_SLOT), &user_key))?;
    let emode = small(&s.word(&pool, &mapping_slot(&slot(POOL_USERS_EMODE_SLOT), &user_key))?, 0, 8);
    let count = small(&s.word(&pool, &slot(POOL_RESERVES_COUNT_SLOT))?, 64, 16);
    let category = if emode != 0 {
        let word = s.word(&pool, &mapping_slot(&slot(POOL_EMODE_CATEGORIES_SLOT), &slot(emode)))?;
        Some(EModeCategory::decode(emode, &word))
    } else {
        None
    };
    let active: Vec<u64> = (0..count)
        .filter(|&i| i < 128 && !user_config.bits(2 * i as u32, 2).is_zero())
        .collect();
    let mut assets = Vec::with_capacity(active.len());
    for &i in &active {
        assets.push(address_of(&s.word(&pool, &mapping_slot(&slot(POOL_RESERVES_LIST_SLOT), &slot(i)))?));
    }
    let mut distinct: Vec<[u8; 20]> = Vec::new();
    for a in &assets {
        if *a != ZERO_ADDRESS && !distinct.contains(a) {
            distinct.push(*a);
        }
    }
    let reserves = read_reserves(s, &pool, &distinct)?;
    let ctx = Context { oracle, user_key, user_config, category, base: *base };
    let positions = read_positions(s, &ctx, &active, &assets, &reserves)?;
    account(positions, &ctx, count, pool)
}

fn read_reserves<S: Storage>(s: &S, pool: &[u8; 20], assets: &[[u8; 20]]) -> Result<Vec<ReserveData>> {
    let mut out = Vec::with_capacity(assets.len());
    for asset in assets {
        let base = mapping_slot(&slot(POOL_RESERVES_SLOT), &pad_address(asset));
        let mut w = [U256::ZERO; RESERVE_DATA_SLOTS];
        for (k, word) in w.iter_mut().enumerate() {
            *word = s.word(pool, &field(&base, k as u64))?;
        }
        out.push(ReserveData {
            asset: *asset,
            configuration: w[0],
            liquidity_index: low128(&w[1]),
            current_liquidity_rate: high128(&w[1]),
            variable_borrow_index: low128(&w[2]),
            current_variable_borrow_rate: high128(&w[2]),
            current_stable_borrow_rate: low128(&w[3]),
            last_update_timestamp: small(&w[3], 128, 40),
            id: small(&w[3], 168, 16),
            a_token: address_of(&w[4]),
            stable_debt_token: address_of(&w[5]),
            variable_debt_token: address_of(&w[6]),
            interest_rate_strategy: address_of(&w[7]),
        });
    }
    Ok(out)
}

/// What the positions share.
struct Context {
    oracle: [u8; 20],
    user_key: Word,
    user_config: U256,
    category: Option<EModeCategory>,
    base: BaseCurrency,
}

fn read_positions<S: Storage>(
    s: &S,
    ctx: &Context,
    active: &[u64],
    assets: &[[u8; 20]],
    reserves: &[ReserveData],
) -> Result<Vec<ReservePosition>> {
    let a_slot = mapping_slot(&slot(ATOKEN_USER_STATE_SLOT), &ctx.user_key);
    let d_slot = mapping_slot(&slot(DEBT_USER_STATE_SLOT), &ctx.user_key);
    let t_slot = mapping_slot(&slot(STABLE_TIMESTAMPS_SLOT), &ctx.user_key);
    let emode_source = ctx.category.as_ref().map(|c| c.price_source).filter(|p| *p != ZERO_ADDRESS);
    for r in reserves {
        for token in [r.a_token, r.variable_debt_token, r.stable_debt_token] {
            let revision = s.word(&token, &slot(0))?;
            if revision != U256::from_u64(TOKEN_REVISION) {
                return Err(refuse(
                    Rule::ProtocolVersion,
                    format!("Aave token {} is at revision {}; {VERSION} expects 1", hex::encode(&token), revision.to_decimal()),
                ));
            }
        }
    }
    // the price sources of every reserve, then of the eMode category's asset
    let mut sources: Vec<([u8; 20], [u8; 20])> = Vec::new();
    for asset in reserves.iter().map(|r| r.asset).chain(emode_source) {
        if sources.iter().any(|(a, _)| *a == asset) {
            continue;
        }
        let source = address_of(&s.word(&ctx.oracle, &mapping_slot(&slot(ORACLE_SOURCES_SLOT), &pad_address(&asset)))?);
        sources.push((asset, source));
    }
    for (asset, source) in &sources {
        if *source == ZERO_ADDRESS && *asset != ctx.base.address {
            return Err(refuse(
                Rule::ProtocolState,
                format!("no price source for {}: fallback oracle not supported", hex::encode(asset)),
            ));
        }
    }
    let source_of = |asset: &[u8; 20]| sources.iter().find(|(a, _)| a == asset).map_or(ZERO_ADDRESS, |(_, src)| *src);
    let now = s.timestamp();
    let emode_price = match emode_source {
        Some(asset) => price(s, &asset, &source_of(&asset), &ctx.base)?,
        None => U256::ZERO,
    };
    let mut out = Vec::with_capacity(active.len());
    for (&i, asset) in active.iter().zip(assets) {
        if *asset == ZERO_ADDRESS {
            continue;
        }
        let Some(r) = reserves.iter().find(|r| r.asset == *asset) else { continue };
        let config = r.config();
        let in_category = ctx.category.as_ref().is_some_and(|c| c.id == config.emode_category);
        let price = if !emode_price.is_zero() && in_category {
            emode_price
        } else {
            price(s, asset, &source_of(asset), &ctx.base)?
        };
        if config.decimals > MAX_DECIMALS {
            return Err(overflow("10^decimals"));
        }
        let unit = U256::from_word(&pow10(config.decimals));
        let bit = |b: u64| !ctx.user_config.bits(b as u32, 1).is_zero();
        let collateral = bit(2 * i + 1);
        let borrowing = bit(2 * i);
        let scaled_a = low128(&s.word(&r.a_token, &a_slot)?);
        let a_balance = ray_mul(&scaled_a, &r.normalized_income(now)?)?;
        let scaled_v = low128(&s.word(&r.variable_debt_token, &d_slot)?);
        let v_debt = if scaled_v.is_zero() { U256::ZERO } else { ray_mul(&scaled_v, &r.normalized_debt(now)?)? };
        let stable_state = s.word(&r.stable_debt_token, &d_slot)?;
        let stable_since = s.word(&r.stable_debt_token, &t_slot)?;
        let stable = stable_balance(&stable_state, &stable_since, now)?;
        let collateral_base = U256::mul_div(&a_balance, &price, &unit).ok_or_else(|| overflow("collateral in base"))?;
        let debt = v_debt.checked_add(&stable).ok_or_else(|| overflow("debt"))?;
        let debt_base = U256::mul_div(&price, &debt, &unit).ok_or_else(|| overflow("debt in base"))?;
        out.push(ReservePosition {
            reserve: r.clone(),
            price,
            using_as_collateral: collateral,
            borrowing,
            scaled_a_token: scaled_a,
            a_token_balance: a_balance,
            scaled_variable_debt: scaled_v,
            variable_debt: v_debt,
            stable_debt: stable,
            collateral_base,
            debt_base,
        });
    }
    Ok(out)
}

fn pow10(n: u64) -> Word {
    let mut w = u256::from_u128(1);
    for _ in 0..n {
        w = u256::mul(&w, &u256::from_u128(10));
    }
    w
}

/// AaveOracle.getAssetPrice: the base currency is worth its unit; else the aggregator's
/// answer, which must be positive (a non-positive one would go to the fallback oracle).
fn price<S: Storage>(s: &S, asset: &[u8; 20], source: &[u8; 20], base: &BaseCurrency) -> Result<U256> {
    if *asset == base.address {
        return Ok(base.unit);
    }
    let answer = s.word(source, &slot(AGGREGATOR_ANSWER_SLOT))?;
    if answer.bits(255, 1) != U256::ZERO || answer.is_zero() {
        return Err(refuse(
            Rule::ProtocolState,
            format!("price of {} is not positive: fallback not supported", hex::encode(asset)),
        ));
    }
    Ok(answer)
}

/// StableDebtToken.balanceOf: principal · compounded(stable rate, since timestamp).
fn stable_balance(user_state: &U256, timestamp_word: &U256, now: u64) -> Result<U256> {
    let principal = low128(user_state);
    if principal.is_zero() {
        return Ok(U256::ZERO);
    }
    let rate = high128(user_state);
    let since = small(timestamp_word, 0, 40);
    if since > now {
        return Err(refuse(Rule::ProtocolState, format!("stable debt taken at {since}, after the block's time {now}")));
    }
    ray_mul(&principal, &compounded_interest(&rate, since, now)?)
}

fn add(a: &U256, b: &U256) -> Result<U256> {
    a.checked_add(b).ok_or_else(|| overflow("account sum"))
}

fn mul(a: &U256, b: u64) -> Result<U256> {
    a.checked_mul(&U256::from_u64(b)).ok_or_else(|| overflow("account sum"))
}

/// GenericLogic.calculateUserAccountData + calculateAvailableBorrows (in eMode,
/// collateral of the user's category counts at the category's LTV and threshold).
fn account(positions: Vec<ReservePosition>, ctx: &Context, count: u64, pool: [u8; 20]) -> Result<AaveAccount> {
    let emode = ctx.category.as_ref().map_or(0, |c| c.id);
    let mut out = AaveAccount {
        total_collateral_base: U256::ZERO,
        total_debt_base: U256::ZERO,
        available_borrows_base: U256::ZERO,
        current_liquidation_threshold: U256::ZERO,
        ltv: U256::ZERO,
        health_factor: U256::MAX,
        user_configuration: ctx.user_config,
        emode_category: emode,
        reserves_count: count,
        pool,
        oracle: ctx.oracle,
        positions: Vec::new(),
    };
    if ctx.user_config.is_zero() {
        return Ok(out);
    }
    let (mut total_collateral, mut total_debt, mut avg_ltv, mut avg_lt) = (U256::ZERO, U256::ZERO, U256::ZERO, U256::ZERO);
    for p in &positions {
        let config = p.reserve.config();
        if config.liquidation_threshold != 0 && p.using_as_collateral {
            let (mut ltv, mut threshold) = (config.ltv, config.liquidation_threshold);
            if let Some(c) = ctx.category.as_ref().filter(|c| c.id == config.emode_category) {
                (ltv, threshold) = (c.ltv, c.liquidation_threshold);
            }
            total_collateral = add(&total_collateral, &p.collateral_base)?;
            if config.ltv != 0 {
                // a zero-LTV asset adds nothing to the average LTV
                avg_ltv = add(&avg_ltv, &mul(&p.collateral_base, ltv)?)?;
            }
            avg_lt = add(&avg_lt, &mul(&p.collateral_base, threshold)?)?;
        }
        if p.borrowing {
            total_debt = add(&total_debt, &p.debt_base)?;
        }
    }
    let average = |sum: &U256| sum.div_rem(&total_collateral).map_or(U256::ZERO, |(q, _)| q);
    let (avg_ltv, avg_lt) = (average(&avg_ltv), average(&avg_lt));
    let health =
        if total_debt.is_zero() { U256::MAX } else { wad_div(&percent_mul(&total_collateral, &avg_lt)?, &total_debt)? };
    let borrowable = percent_mul(&total_collateral, &avg_ltv)?;
    out.total_collateral_base = total_collateral;
    out.total_debt_base = total_debt;
    out.available_borrows_base = borrowable.checked_sub(&total_debt).unwrap_or(U256::ZERO);
    out.current_liquidation_threshold = avg_lt;
    out.ltv = avg_ltv;
    out.health_factor = health;
    out.positions = positions;
    Ok(out)
}
