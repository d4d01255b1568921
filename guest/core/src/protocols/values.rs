//! Protocol reads in a feature spec (docs/formats.md §3c): which protocol version, its
//! entry addresses, and the fields a feature takes from the result. Twin of
//! `coprocessor/scoring/protocol_spec.py` and `protocol_values.py`.

use super::aave_v3::{self, AaveAccount, BaseCurrency, ReservePosition};
use super::morpho_blue::{self, Builds, MorphoPosition};
use super::{BundleStorage, Storage};
use crate::bundle::Verified;
use crate::error::Result;
use crate::u256::U256;
use alloc::vec::Vec;

/// The Aave v3 version name a spec gives.
pub const AAVE: &str = "aave-v3.0";
/// The Morpho Blue version name a spec gives.
pub const MORPHO: &str = "morpho-blue-1.0.0";
/// `Pool.getUserAccountData`'s values and the user's eMode category.
pub const AAVE_ACCOUNT_FIELDS: [&str; 7] = [
    "total_collateral_base",
    "total_debt_base",
    "available_borrows_base",
    "liquidation_threshold",
    "ltv",
    "health_factor",
    "emode_category",
];
/// One reserve's values for the user (the read names the reserve by `asset`).
pub const AAVE_RESERVE_FIELDS: [&str; 4] = ["a_token_balance", "variable_debt", "stable_debt", "price"];
/// A Morpho position's values.
pub const MORPHO_FIELDS: [&str; 12] = [
    "supply_shares",
    "borrow_shares",
    "collateral",
    "supply_assets",
    "borrow_assets",
    "total_supply_assets",
    "total_borrow_assets",
    "oracle_price",
    "lltv",
    "max_borrow",
    "health_factor",
    "healthy",
];

/// What a protocol read reads (the subject is the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// `aave-v3.0` in the market of `provider`; `asset` for a reserve field.
    Aave {
        /// The PoolAddressesProvider.
        provider: [u8; 20],
        /// The reserve (reserve fields only).
        asset: Option<[u8; 20]>,
    },
    /// `morpho-blue-1.0.0`: the subject's position in `market_id`.
    Morpho {
        /// Morpho.
        morpho: [u8; 20],
        /// The code hashes of the supported Morpho and IRM builds.
        builds: Builds,
        /// The market id.
        market_id: [u8; 32],
    },
}

/// What one protocol read computes (every field of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An Aave account.
    Account(AaveAccount),
    /// One Aave reserve of the user.
    Reserve(ReservePosition),
    /// A Morpho position.
    Morpho(MorphoPosition),
}

/// Run the read for `user`.
pub fn read<S: Storage>(p: &Protocol, s: &S, user: &[u8; 20]) -> Result<Outcome> {
    let base = BaseCurrency::default();
    Ok(match p {
        Protocol::Aave { provider, asset: None } => Outcome::Account(aave_v3::read_account(s, provider, user, &base)?),
        Protocol::Aave { provider, asset: Some(a) } => {
            Outcome::Reserve(aave_v3::read_reserve(s, provider, user, a, &base)?)
        }
        Protocol::Morpho { morpho, builds, market_id } => {
            Outcome::Morpho(morpho_blue::read_position(s, morpho, market_id, user, builds)?)
        }
    })
}

/// One field of a read's outcome, as docs/formats.md §3c defines it (the field names
/// were checked when the spec was parsed: an unknown one reads 0).
pub fn field_value(field: &str, o: &Outcome) -> Result<U256> {
    let small = U256::from_u64;
    Ok(match o {
        Outcome::Account(a) => match field {
            "total_collateral_base" => a.total_collateral_base,
            "total_debt_base" => a.total_debt_base,
            "available_borrows_base" => a.available_borrows_base,
            "liquidation_threshold" => a.current_liquidation_threshold,
            "ltv" => a.ltv,
            "health_factor" => a.health_factor,
            "emode_category" => small(a.emode_category),
            _ => U256::ZERO,
        },
        Outcome::Reserve(r) => match field {
            "a_token_balance" => r.a_token_balance,
            "variable_debt" => r.variable_debt,
            "stable_debt" => r.stable_debt,
            "price" => r.price,
            _ => U256::ZERO,
        },
        Outcome::Morpho(m) => match field {
            "supply_shares" => m.supply_shares,
            "borrow_shares" => m.borrow_shares,
            "collateral" => m.collateral,
            "supply_assets" => m.supply_assets,
            "borrow_assets" => m.borrow_assets,
            "total_supply_assets" => m.expected.total_supply_assets,
            "total_borrow_assets" => m.expected.total_borrow_assets,
            "oracle_price" => m.oracle_price,
            "lltv" => m.params.lltv,
            "max_borrow" => m.max_borrow,
            "health_factor" => m.health_factor()?.unwrap_or(U256::MAX),
            "healthy" => small(u64::from(m.healthy)),
            _ => U256::ZERO,
        },
    })
}

/// Outcomes already computed for one subject: features that differ only by field share
/// one read (per protocol entry and block), as the Python reference does.
#[derive(Debug, Default)]
pub struct Reads {
    done: Vec<(Protocol, u64, Outcome)>,
}

impl Reads {
    /// `field` of `p`'s read of `user` at `block` of the verified bundle.
    pub fn value(&mut self, v: &Verified, p: &Protocol, field: &str, user: &[u8; 20], block: u64) -> Result<U256> {
        if let Some((_, _, o)) = self.done.iter().find(|(q, b, _)| q == p && *b == block) {
            return field_value(field, o);
        }
        let outcome = read(p, &BundleStorage::new(v, block)?, user)?;
        let value = field_value(field, &outcome);
        self.done.push((p.clone(), block, outcome));
        value
    }
}
