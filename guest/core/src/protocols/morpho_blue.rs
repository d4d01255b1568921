//! Morpho Blue positions from proven storage, computed as Morpho 1.0.0 and its periphery
//! library MorphoBalancesLib compute them (interest accrued to the block's timestamp
//! through the market's IRM, MathLib / SharesMathLib rounding). Port of
//! `coprocessor/scoring/protocols/morpho_blue.py` (layout described there).
//!
//! Version check: Morpho is not upgradeable, so its proven code hash must be the one the
//! caller names (`[P004]`); the stored market parameters must hash to the market id
//! (`[P005]`); the IRM must be the supported `IrmMock`, by code hash (`[P004]`).

use super::{address_of, field, mapping_slot, overflow, pad_address, refuse, slot, Storage};
use crate::error::{Result, Rule};
use crate::hex;
use crate::keccak::keccak256;
use crate::u256::U256;
use alloc::format;

/// The build these reads support.
pub const VERSION: &str = "morpho-blue 1.0.0";
const WAD: U256 = U256::from_u64(1_000_000_000_000_000_000);
const ORACLE_PRICE_SCALE: U256 = U256::from_u128(1_000_000_000_000_000_000_000_000_000_000_000_000);
const VIRTUAL_SHARES: U256 = U256::from_u64(1_000_000);
const VIRTUAL_ASSETS: U256 = U256::from_u64(1);
const SECONDS_PER_YEAR: u64 = 365 * 24 * 3600;
const POSITION_SLOT: u64 = 2;
const MARKET_SLOT: u64 = 3;
const ID_TO_MARKET_PARAMS_SLOT: u64 = 8;
const ORACLE_PRICE_SLOT: u64 = 0;
const ZERO_ADDRESS: [u8; 20] = [0; 20];

/// MathLib.mulDivDown.
pub fn mul_div_down(x: &U256, y: &U256, d: &U256) -> Result<U256> {
    U256::mul_div(x, y, d).ok_or_else(|| overflow("mulDivDown"))
}

/// MathLib.mulDivUp: (x·y + (d − 1)) / d.
pub fn mul_div_up(x: &U256, y: &U256, d: &U256) -> Result<U256> {
    let d_minus_one = d.checked_sub(&U256::from_u64(1)).ok_or_else(|| overflow("mulDivUp by zero"))?;
    let wide = crate::u256::wide_add(&x.full_mul(y), &d_minus_one).ok_or_else(|| overflow("mulDivUp"))?;
    let (q, _) = crate::u256::wide_div_rem(&wide, d).ok_or_else(|| overflow("mulDivUp"))?;
    crate::u256::narrow(&q).ok_or_else(|| overflow("mulDivUp"))
}

/// MathLib.wMulDown.
pub fn w_mul_down(x: &U256, y: &U256) -> Result<U256> {
    mul_div_down(x, y, &WAD)
}

fn add(a: &U256, b: &U256, what: &str) -> Result<U256> {
    a.checked_add(b).ok_or_else(|| overflow(what))
}

/// MathLib.wTaylorCompounded: e^(x·n) − 1 to the third term.
pub fn w_taylor_compounded(x: &U256, n: u64) -> Result<U256> {
    let first = x.checked_mul(&U256::from_u64(n)).ok_or_else(|| overflow("wTaylorCompounded"))?;
    let two_wad = U256::from_u64(2_000_000_000_000_000_000);
    let three_wad = U256::from_u64(3_000_000_000_000_000_000);
    let second = mul_div_down(&first, &first, &two_wad)?;
    let third = mul_div_down(&second, &first, &three_wad)?;
    add(&add(&first, &second, "wTaylorCompounded")?, &third, "wTaylorCompounded")
}

/// SharesMathLib.toSharesDown.
pub fn to_shares_down(assets: &U256, total_assets: &U256, total_shares: &U256) -> Result<U256> {
    let shares = add(total_shares, &VIRTUAL_SHARES, "shares")?;
    mul_div_down(assets, &shares, &add(total_assets, &VIRTUAL_ASSETS, "assets")?)
}

/// SharesMathLib.toAssetsDown.
pub fn to_assets_down(shares: &U256, total_assets: &U256, total_shares: &U256) -> Result<U256> {
    let assets = add(total_assets, &VIRTUAL_ASSETS, "assets")?;
    mul_div_down(shares, &assets, &add(total_shares, &VIRTUAL_SHARES, "shares")?)
}

/// SharesMathLib.toAssetsUp.
pub fn to_assets_up(shares: &U256, total_assets: &U256, total_shares: &U256) -> Result<U256> {
    let assets = add(total_assets, &VIRTUAL_ASSETS, "assets")?;
    mul_div_up(shares, &assets, &add(total_shares, &VIRTUAL_SHARES, "shares")?)
}

/// IrmMock.borrowRateView: utilization (wDivDown) / 365 days, 0 without supply.
pub fn irm_mock_rate(total_supply_assets: &U256, total_borrow_assets: &U256) -> Result<U256> {
    if total_supply_assets.is_zero() {
        return Ok(U256::ZERO);
    }
    let utilization = mul_div_down(total_borrow_assets, &WAD, total_supply_assets)?;
    Ok(utilization.div_rem(&U256::from_u64(SECONDS_PER_YEAR)).map_or(U256::ZERO, |(q, _)| q))
}

/// A market's parameters as stored in `idToMarketParams`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketParams {
    /// The loan token.
    pub loan_token: [u8; 20],
    /// The collateral token.
    pub collateral_token: [u8; 20],
    /// The oracle.
    pub oracle: [u8; 20],
    /// The interest-rate model.
    pub irm: [u8; 20],
    /// Liquidation LTV (WAD).
    pub lltv: U256,
}

impl MarketParams {
    /// MarketParamsLib.id: keccak256(abi.encode(params)).
    pub fn id(&self) -> [u8; 32] {
        let mut enc = [0u8; 160];
        for (k, a) in [self.loan_token, self.collateral_token, self.oracle, self.irm].iter().enumerate() {
            enc[32 * k..32 * k + 32].copy_from_slice(&pad_address(a));
        }
        enc[128..].copy_from_slice(&self.lltv.to_word());
        keccak256(&enc)
    }
}

/// A market's totals (stored, or accrued to a timestamp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketTotals {
    /// totalSupplyAssets.
    pub total_supply_assets: U256,
    /// totalSupplyShares.
    pub total_supply_shares: U256,
    /// totalBorrowAssets.
    pub total_borrow_assets: U256,
    /// totalBorrowShares.
    pub total_borrow_shares: U256,
    /// lastUpdate.
    pub last_update: u64,
    /// fee (WAD).
    pub fee: U256,
}

impl MarketTotals {
    /// MorphoBalancesLib.expectedMarketBalances at `now` (IrmMock rate).
    pub fn accrued(&self, irm: &[u8; 20], now: u64) -> Result<MarketTotals> {
        if now < self.last_update {
            return Err(refuse(Rule::ProtocolState, format!("market updated at {}, after {now}", self.last_update)));
        }
        let elapsed = now - self.last_update;
        let (mut supply_assets, mut supply_shares) = (self.total_supply_assets, self.total_supply_shares);
        let mut borrow_assets = self.total_borrow_assets;
        if elapsed != 0 && !borrow_assets.is_zero() && *irm != ZERO_ADDRESS {
            let rate = irm_mock_rate(&self.total_supply_assets, &self.total_borrow_assets)?;
            let interest = w_mul_down(&borrow_assets, &w_taylor_compounded(&rate, elapsed)?)?;
            if !interest.bits(128, 128).is_zero() {
                return Err(overflow("accrued interest (uint128)"));
            }
            borrow_assets = add(&borrow_assets, &interest, "borrow assets")?;
            supply_assets = add(&supply_assets, &interest, "supply assets")?;
            if !self.fee.is_zero() {
                let fee_amount = w_mul_down(&interest, &self.fee)?;
                let rest = supply_assets.checked_sub(&fee_amount).ok_or_else(|| overflow("fee"))?;
                supply_shares = add(&supply_shares, &to_shares_down(&fee_amount, &rest, &supply_shares)?, "supply shares")?;
            }
        }
        Ok(MarketTotals {
            total_supply_assets: supply_assets,
            total_supply_shares: supply_shares,
            total_borrow_assets: borrow_assets,
            total_borrow_shares: self.total_borrow_shares,
            last_update: now,
            fee: self.fee,
        })
    }
}

/// A user's position in one market, with the market accrued to the block's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MorphoPosition {
    /// The market id.
    pub market_id: [u8; 32],
    /// Its parameters.
    pub params: MarketParams,
    /// supplyShares.
    pub supply_shares: U256,
    /// borrowShares.
    pub borrow_shares: U256,
    /// collateral.
    pub collateral: U256,
    /// The stored totals.
    pub stored: MarketTotals,
    /// The totals accrued to the block's time.
    pub expected: MarketTotals,
    /// The oracle's price (scaled by 1e36).
    pub oracle_price: U256,
    /// expectedBorrowAssets (shares rounded up).
    pub borrow_assets: U256,
    /// expectedSupplyAssets (rounded down).
    pub supply_assets: U256,
    /// collateral · price / 1e36 · lltv.
    pub max_borrow: U256,
    /// Morpho's `_isHealthy` after accrual.
    pub healthy: bool,
}

impl MorphoPosition {
    /// max_borrow / borrow_assets in WAD (`None` without debt).
    pub fn health_factor(&self) -> Result<Option<U256>> {
        if self.borrow_assets.is_zero() {
            return Ok(None);
        }
        mul_div_down(&self.max_borrow, &WAD, &self.borrow_assets).map(Some)
    }
}

/// The code hashes a spec names: the supported Morpho and IRM builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builds {
    /// keccak256 of Morpho's runtime code.
    pub morpho_code_hash: [u8; 32],
    /// keccak256 of the IRM's runtime code.
    pub irm_code_hash: [u8; 32],
}

/// Read and compute `user`'s position in market `market_id`; refuses another Morpho
/// build (code hash), another IRM, or params that do not hash to the id.
pub fn read_position<S: Storage>(
    s: &S,
    morpho: &[u8; 20],
    market_id: &[u8; 32],
    user: &[u8; 20],
    builds: &Builds,
) -> Result<MorphoPosition> {
    let position = mapping_slot(&mapping_slot(&slot(POSITION_SLOT), market_id), &pad_address(user));
    let market = mapping_slot(&slot(MARKET_SLOT), market_id);
    let params = mapping_slot(&slot(ID_TO_MARKET_PARAMS_SLOT), market_id);
    let code = s.code_hash(morpho)?;
    if code != builds.morpho_code_hash {
        return Err(refuse(
            Rule::ProtocolVersion,
            format!("{} is not {VERSION} (code hash {} differs)", hex::encode(morpho), hex::encode(&code)),
        ));
    }
    let mut addresses = [ZERO_ADDRESS; 4];
    for (k, a) in addresses.iter_mut().enumerate() {
        *a = address_of(&s.word(morpho, &field(&params, k as u64))?);
    }
    let [loan_token, collateral_token, oracle, irm] = addresses;
    let p = MarketParams { loan_token, collateral_token, oracle, irm, lltv: s.word(morpho, &field(&params, 4))? };
    if p.id() != *market_id {
        return Err(refuse(
            Rule::ProtocolState,
            format!(
                "market {} does not exist in {} (stored parameters do not hash to the id)",
                hex::encode(market_id),
                hex::encode(morpho)
            ),
        ));
    }
    let mut w = [U256::ZERO; 3];
    for (k, word) in w.iter_mut().enumerate() {
        *word = s.word(morpho, &field(&market, k as u64))?;
    }
    let stored = MarketTotals {
        total_supply_assets: w[0].bits(0, 128),
        total_supply_shares: w[0].bits(128, 128),
        total_borrow_assets: w[1].bits(0, 128),
        total_borrow_shares: w[1].bits(128, 128),
        last_update: w[2].bits(0, 128).to_u64().ok_or_else(|| overflow("lastUpdate"))?,
        fee: w[2].bits(128, 128),
    };
    let irm_code = s.code_hash(&p.irm)?;
    if p.irm != ZERO_ADDRESS && irm_code != builds.irm_code_hash {
        return Err(refuse(Rule::ProtocolVersion, format!("IRM {} is not the supported IrmMock", hex::encode(&p.irm))));
    }
    let expected = stored.accrued(&p.irm, s.timestamp())?;
    let supply_shares = s.word(morpho, &position)?;
    let second = s.word(morpho, &field(&position, 1))?;
    let (borrow_shares, collateral) = (second.bits(0, 128), second.bits(128, 128));
    let price = s.word(&p.oracle, &slot(ORACLE_PRICE_SLOT))?;
    let borrow = to_assets_up(&borrow_shares, &expected.total_borrow_assets, &expected.total_borrow_shares)?;
    let supply = to_assets_down(&supply_shares, &expected.total_supply_assets, &expected.total_supply_shares)?;
    let max_borrow = w_mul_down(&mul_div_down(&collateral, &price, &ORACLE_PRICE_SCALE)?, &p.lltv)?;
    let healthy = borrow_shares.is_zero() || max_borrow >= borrow;
    Ok(MorphoPosition {
        market_id: *market_id,
        params: p,
        supply_shares,
        borrow_shares,
        collateral,
        stored,
        expected,
        oracle_price: price,
        borrow_assets: borrow,
        supply_assets: supply,
        max_borrow,
        healthy,
    })
}
