//! `coproc-host core protocol-read|protocol-math`: the core's protocol reads
//! (`coproc_core::protocols`) natively, for the bit-equality tests against the Python
//! reference (`tests/markets/test_rust_equal.py`). Integers are printed as decimal
//! strings; a refusal is `{"error": {"code", "message"}}` in the subject's place.
//!
//!   protocol-read --bundle B | --verified V --timestamp T  --protocol aave-v3|morpho-blue --address A
//!                 --subject U | --subjects U,V,..|FILE [--block N]
//!                 [--asset A]   (aave-v3: one reserve's position instead of the account)
//!                 [--market-id H --morpho-code-hash H --irm-code-hash H]   (morpho-blue)
//!   protocol-math   stdin: {"cases": [{"fn": NAME, "args": ["decimal", ..]}, ..]}
//!                   -> {"results": ["decimal" | {"error": CODE}, ..]}

use crate::output::{options, print_json, Failure, Res};
use coproc_core::protocols::{aave_math, aave_v3, morpho_blue, BundleStorage};
use coproc_core::u256::U256;
use coproc_core::{bundle, hex, json_bundle, Error};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const READ_OPTIONS: [&str; 12] =
    ["bundle", "verified", "timestamp", "asset", "protocol", "address", "subject", "subjects", "block", "market-id", "morpho-code-hash", "irm-code-hash"];

fn read_json(path: &str, what: &str) -> Res<Value> {
    let text = std::fs::read(path).map_err(|e| Failure::user(format!("{what} {path}: {e}")))?;
    crate::jsontext::parse(&text, &format!("{what} {path}"))
}

fn need<'a>(o: &'a BTreeMap<String, String>, k: &str) -> Res<&'a str> {
    o.get(k).map(String::as_str).ok_or_else(|| Failure::user(format!("--{k} is required")))
}

fn dec(v: &U256) -> Value {
    Value::String(v.to_decimal())
}

fn addr(a: &[u8; 20]) -> Value {
    Value::String(hex::encode(a))
}

fn bytes_n<const N: usize>(s: &str, what: &str) -> Res<[u8; N]> {
    hex::bytes_n::<N>(&s.to_lowercase(), what).map_err(|e| Failure::user(e.to_string()))
}

fn error_json(e: &Error) -> Value {
    json!({"error": {"code": e.rule().code(), "message": e.detail()}})
}

fn subjects(o: &BTreeMap<String, String>) -> Res<Vec<[u8; 20]>> {
    let list = match (o.get("subject"), o.get("subjects")) {
        (Some(one), None) => one.clone(),
        (None, Some(many)) if std::path::Path::new(many).is_file() => {
            std::fs::read_to_string(many).map_err(|e| Failure::user(format!("--subjects {many}: {e}")))?
        }
        (None, Some(many)) => many.clone(),
        _ => return Err(Failure::user("give exactly one of --subject and --subjects")),
    };
    list.split([',', '\n', ' ']).filter(|s| !s.is_empty()).map(|s| bytes_n::<20>(s.trim(), "subject")).collect()
}

fn reserve_json(p: &aave_v3::ReservePosition) -> Value {
    let r = &p.reserve;
    json!({
        "asset": addr(&r.asset),
        "configuration": dec(&r.configuration),
        "liquidity_index": dec(&r.liquidity_index),
        "current_liquidity_rate": dec(&r.current_liquidity_rate),
        "variable_borrow_index": dec(&r.variable_borrow_index),
        "current_variable_borrow_rate": dec(&r.current_variable_borrow_rate),
        "current_stable_borrow_rate": dec(&r.current_stable_borrow_rate),
        "last_update_timestamp": r.last_update_timestamp.to_string(),
        "id": r.id.to_string(),
        "a_token": addr(&r.a_token),
        "stable_debt_token": addr(&r.stable_debt_token),
        "variable_debt_token": addr(&r.variable_debt_token),
        "interest_rate_strategy": addr(&r.interest_rate_strategy),
        "price": dec(&p.price),
        "using_as_collateral": p.using_as_collateral,
        "borrowing": p.borrowing,
        "scaled_a_token": dec(&p.scaled_a_token),
        "a_token_balance": dec(&p.a_token_balance),
        "scaled_variable_debt": dec(&p.scaled_variable_debt),
        "variable_debt": dec(&p.variable_debt),
        "stable_debt": dec(&p.stable_debt),
        "collateral_base": dec(&p.collateral_base),
        "debt_base": dec(&p.debt_base),
    })
}

fn aave_json(a: &aave_v3::AaveAccount) -> Value {
    json!({
        "account_data": a.account_data().iter().map(dec).collect::<Vec<_>>(),
        "user_configuration": dec(&a.user_configuration),
        "emode_category": a.emode_category.to_string(),
        "reserves_count": a.reserves_count.to_string(),
        "pool": addr(&a.pool),
        "oracle": addr(&a.oracle),
        "positions": a.positions.iter().map(reserve_json).collect::<Vec<_>>(),
    })
}

fn totals_json(t: &morpho_blue::MarketTotals) -> Value {
    json!([
        dec(&t.total_supply_assets),
        dec(&t.total_supply_shares),
        dec(&t.total_borrow_assets),
        dec(&t.total_borrow_shares),
        t.last_update.to_string(),
        dec(&t.fee)
    ])
}

fn morpho_json(p: &morpho_blue::MorphoPosition) -> Result<Value, Error> {
    let m = &p.params;
    Ok(json!({
        "market_id": hex::encode(&p.market_id),
        "params": [addr(&m.loan_token), addr(&m.collateral_token), addr(&m.oracle), addr(&m.irm), dec(&m.lltv)],
        "supply_shares": dec(&p.supply_shares),
        "borrow_shares": dec(&p.borrow_shares),
        "collateral": dec(&p.collateral),
        "stored": totals_json(&p.stored),
        "expected": totals_json(&p.expected),
        "oracle_price": dec(&p.oracle_price),
        "borrow_assets": dec(&p.borrow_assets),
        "supply_assets": dec(&p.supply_assets),
        "max_borrow": dec(&p.max_borrow),
        "healthy": p.healthy,
        "health_factor": p.health_factor()?.as_ref().map(dec),
    }))
}

/// `protocol-read`: verify the bundle once, then read every subject.
pub fn read_cmd(args: &[String]) -> Res<()> {
    let o = options(args, &READ_OPTIONS)?;
    let number = |k: &str| -> Res<Option<u64>> {
        o.get(k).map(|n| n.parse::<u64>().map_err(|_| Failure::user(format!("--{k}: expected an integer")))).transpose()
    };
    let (verified, storage);
    if let Some(path) = o.get("verified") {
        // values verified elsewhere (`coproc verify-bundle` JSON), perhaps edited: reads only
        let values = read_json(path, "verified")?;
        verified = crate::core_cmds::verified_values(&values)?;
        let block = number("block")?.or(values["anchor"]["number"].as_u64()).unwrap_or(0);
        let timestamp = number("timestamp")?.ok_or_else(|| Failure::user("--verified needs --timestamp"))?;
        storage = BundleStorage::at(&verified, block, timestamp);
    } else {
        let b = json_bundle::from_value(&read_json(need(&o, "bundle")?, "bundle")?)?;
        verified = bundle::verify(&b)?;
        storage = BundleStorage::new(&verified, number("block")?.unwrap_or(b.anchor_number))?;
    }
    let storage = &storage;
    let block = storage.block();
    let address = bytes_n::<20>(need(&o, "address")?, "--address")?;
    let protocol = need(&o, "protocol")?;
    let read: Box<dyn Fn(&[u8; 20]) -> Result<Value, Error>> = match protocol {
        "aave-v3" => {
            let base = aave_v3::BaseCurrency::default();
            match o.get("asset") {
                None => Box::new(move |user| aave_v3::read_account(storage, &address, user, &base).map(|a| aave_json(&a))),
                Some(asset) => {
                    let asset = bytes_n::<20>(asset, "--asset")?;
                    Box::new(move |user| {
                        aave_v3::read_reserve(storage, &address, user, &asset, &base).map(|p| reserve_json(&p))
                    })
                }
            }
        }
        "morpho-blue" => {
            let market_id = bytes_n::<32>(need(&o, "market-id")?, "--market-id")?;
            let builds = morpho_blue::Builds {
                morpho_code_hash: bytes_n::<32>(need(&o, "morpho-code-hash")?, "--morpho-code-hash")?,
                irm_code_hash: bytes_n::<32>(need(&o, "irm-code-hash")?, "--irm-code-hash")?,
            };
            Box::new(move |user| {
                morpho_blue::read_position(storage, &address, &market_id, user, &builds)
                    .and_then(|p| morpho_json(&p))
            })
        }
        other => return Err(Failure::user(format!("--protocol: expected aave-v3 or morpho-blue, got {other:?}"))),
    };
    let mut results = Vec::new();
    for user in subjects(&o)? {
        let mut entry = Map::new();
        entry.insert("subject".into(), addr(&user));
        match read(&user) {
            Ok(v) => entry.insert("result".into(), v),
            Err(e) => entry.insert("refused".into(), error_json(&e)["error"].clone()),
        };
        results.push(Value::Object(entry));
    }
    print_json(&json!({
        "protocol": protocol,
        "block": block,
        "timestamp": coproc_core::protocols::Storage::timestamp(storage),
        "results": results,
    }))
}

fn arg(args: &[U256], i: usize) -> Res<U256> {
    args.get(i).copied().ok_or_else(|| Failure::user(format!("missing argument {i}")))
}

fn small(v: &U256) -> Res<u64> {
    v.to_u64().ok_or_else(|| Failure::user("a time argument must fit 64 bits"))
}

fn math_case(name: &str, a: &[U256]) -> Res<Result<U256, Error>> {
    Ok(match name {
        "ray_mul" => aave_math::ray_mul(&arg(a, 0)?, &arg(a, 1)?),
        "wad_div" => aave_math::wad_div(&arg(a, 0)?, &arg(a, 1)?),
        "percent_mul" => aave_math::percent_mul(&arg(a, 0)?, &arg(a, 1)?),
        "linear_interest" => aave_math::linear_interest(&arg(a, 0)?, small(&arg(a, 1)?)?, small(&arg(a, 2)?)?),
        "compounded_interest" => {
            aave_math::compounded_interest(&arg(a, 0)?, small(&arg(a, 1)?)?, small(&arg(a, 2)?)?)
        }
        "mul_div_down" => morpho_blue::mul_div_down(&arg(a, 0)?, &arg(a, 1)?, &arg(a, 2)?),
        "mul_div_up" => morpho_blue::mul_div_up(&arg(a, 0)?, &arg(a, 1)?, &arg(a, 2)?),
        "w_taylor_compounded" => morpho_blue::w_taylor_compounded(&arg(a, 0)?, small(&arg(a, 1)?)?),
        "to_assets_up" => morpho_blue::to_assets_up(&arg(a, 0)?, &arg(a, 1)?, &arg(a, 2)?),
        "to_assets_down" => morpho_blue::to_assets_down(&arg(a, 0)?, &arg(a, 1)?, &arg(a, 2)?),
        "to_shares_down" => morpho_blue::to_shares_down(&arg(a, 0)?, &arg(a, 1)?, &arg(a, 2)?),
        "irm_mock_rate" => morpho_blue::irm_mock_rate(&arg(a, 0)?, &arg(a, 1)?),
        "div_rem" => Ok(arg(a, 0)?.div_rem(&arg(a, 1)?).map_or(U256::ZERO, |(q, _)| q)),
        "rem" => Ok(arg(a, 0)?.div_rem(&arg(a, 1)?).map_or(U256::ZERO, |(_, r)| r)),
        other => return Err(Failure::user(format!("unknown function {other:?}"))),
    })
}

/// `protocol-math`: the fixed-point functions on decimal arguments.
pub fn math_cmd(input: &Value) -> Res<()> {
    let cases = input.get("cases").and_then(Value::as_array).ok_or_else(|| Failure::user("cases: expected an array"))?;
    let mut results = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let name = case.get("fn").and_then(Value::as_str).ok_or_else(|| Failure::user(format!("cases[{i}].fn")))?;
        let args: Vec<U256> = case
            .get("args")
            .and_then(Value::as_array)
            .ok_or_else(|| Failure::user(format!("cases[{i}].args")))?
            .iter()
            .map(|v| v.as_str().and_then(U256::from_decimal))
            .collect::<Option<_>>()
            .ok_or_else(|| Failure::user(format!("cases[{i}].args: expected decimal strings below 2^256")))?;
        results.push(match math_case(name, &args)? {
            Ok(v) => dec(&v),
            Err(e) => json!({"error": e.rule().code()}),
        });
    }
    print_json(&json!({"results": results}))
}
