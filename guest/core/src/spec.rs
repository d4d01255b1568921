//! Feature spec v1 and v2 (formats.md §3, §3b): strict parsing, defaults, canonical JSON and hash.
//! The accept/reject rules and the defaults follow the Python reference
//! (`coprocessor/scoring/features.py`, `normalize`) exactly; cross-language tests compare them.
//!
//! Defaults filled in: `read.block_offset` 0; for storage reads `read.slot.path` `[]`,
//! `read.bits.offset` 0, `read.bits.size` `32 - offset`, `index.elem_slots` 1;
//! `decimals` 0, `signed` false, `min` -2^31, `max` 2^31-1. Non-storage reads take no
//! `slot`/`bits` and cannot be signed.

use crate::error::{Error, Result, Rule};
use crate::json::{self, Json};
use crate::keccak::keccak256;
pub use crate::protocols::values::Protocol;
use crate::protocols::morpho_blue::Builds;
use crate::protocols::values::{AAVE, AAVE_ACCOUNT_FIELDS, AAVE_RESERVE_FIELDS, MORPHO, MORPHO_FIELDS};
use crate::u256::Word;
use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// An address in a spec: a literal, or the request's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// `"$subject"`.
    Subject,
    /// A literal address.
    Literal([u8; 20]),
}

/// A mapping key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `"$subject"` (left-padded to 32 bytes).
    Subject,
    /// A bytes20 hex (left-padded).
    Address([u8; 20]),
    /// A bytes32 hex.
    Word([u8; 32]),
    /// An integer in `[-2^255, 2^256)`: (negative, magnitude); hashed as its
    /// two's-complement word.
    Int(bool, Word),
}

/// One step of a slot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `keccak256(pad32(key) ‖ pad32(p))`.
    Mapping(Key),
    /// `keccak256(pad32(p)) + index·elem_slots`.
    Index { index: Word, elem_slots: Word },
    /// `p + n`.
    Field(Word),
}

/// What a read feature reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Account balance (wei).
    Balance,
    /// Account nonce.
    Nonce,
    /// A storage word.
    Storage,
    /// 1 if the account has code, else 0.
    CodePresent,
}

/// A combine operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// a − b
    Sub,
    /// a + b
    Add,
    /// rshift_round(a·b, 16)
    Mul,
    /// trunc((a << 16) / b); `max` when b == 0
    Ratio,
}

/// A spec v2 series (formats.md §3b): `samples` reads spaced `every` blocks, the newest
/// at the read's block, aggregated by `op` (one of [`crate::series::OPS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// Number of samples, 1..=366.
    pub samples: u32,
    /// Spacing in blocks, 1..=10,000,000.
    pub every: u64,
    /// The aggregate op.
    pub op: &'static str,
    /// `count_above`'s Q16 threshold (0 for the other ops).
    pub threshold: i32,
}

/// Most samples in a series.
pub const MAX_SAMPLES: i64 = 366;
/// Largest series spacing in blocks.
pub const MAX_EVERY: i64 = 10_000_000;

/// How a feature gets its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A verified chain read.
    Read {
        kind: Kind,
        address: Addr,
        block_offset: u64,
        /// `(base, path)` for storage reads.
        slot: Option<(Word, Vec<Step>)>,
        bits_offset: u32,
        bits_size: u32,
        decimals: u32,
        signed: bool,
        /// Spec v2: sampled over a window and aggregated.
        series: Option<Series>,
    },
    /// A combination of two earlier features (indices into the feature list).
    Combine { op: Op, a: usize, b: usize },
    /// A protocol read (formats.md §3c): `field` of the protocol's view of the subject.
    Protocol {
        /// The protocol version and its entry addresses.
        protocol: Protocol,
        /// One of the protocol's fields (`protocols::values`).
        field: &'static str,
        block_offset: u64,
        decimals: u32,
        /// Spec v2: sampled over a window and aggregated.
        series: Option<Series>,
    },
}

/// One feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// Unique name.
    pub name: String,
    /// Where its value comes from.
    pub source: Source,
    /// Lower clamp (Q16).
    pub min: i32,
    /// Upper clamp (Q16).
    pub max: i32,
}

/// A parsed, validated feature spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Spec version: 1, or 2 (read features may carry a series).
    pub version: u32,
    /// Spec name.
    pub name: String,
    /// Features, in vector order.
    pub features: Vec<Feature>,
}

/// Most features in a spec.
pub const MAX_FEATURES: usize = 256;
/// Most steps in a slot path.
pub const MAX_PATH: usize = 16;

/// Where in the spec a value sits; formatted only when an error is reported (the
/// guest parses every spec, and eager strings cost cycles).
type Ctx<'a> = &'a dyn core::fmt::Display;

/// A context with a suffix, e.g. `feature 'x'` + ` bits.size`.
struct At<'a>(Ctx<'a>, &'static str);

impl core::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
}

/// `feature {i}` / `path[{i}]`, formatted lazily.
struct Indexed<'a>(Ctx<'a>, &'static str, usize);

impl core::fmt::Display for Indexed<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}{}[{}]", self.0, self.1, self.2)
    }
}

/// `feature 'name'`, formatted lazily.
struct Named<'a>(&'a str);

impl core::fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "feature '{}'", self.0)
    }
}

fn fail(where_: Ctx<'_>, rule: Rule, m: &str) -> Error {
    Error::Spec(rule, format!("{where_}: {m}"))
}

fn keys<'a>(v: &'a Json, req: &[&str], opt: &[&str], where_: Ctx<'_>) -> Result<&'a [(String, Json)]> {
    let Json::Obj(m) = v else {
        return Err(fail(where_, Rule::SpecKeys, "expected an object"));
    };
    for k in req {
        if !m.iter().any(|(x, _)| x == k) {
            return Err(fail(where_, Rule::SpecKeys, &format!("missing key {k}")));
        }
    }
    for (k, _) in m {
        if !req.contains(&k.as_str()) && !opt.contains(&k.as_str()) {
            return Err(fail(where_, Rule::SpecKeys, &format!("unknown key {k}")));
        }
    }
    Ok(m)
}

fn word_max() -> Word {
    [0xff; 32]
}

/// An integer in `[lo, hi]` given as (negative, magnitude) bounds checks on small ranges.
fn small_int(v: Option<&Json>, default: i64, lo: i64, hi: i64, where_: Ctx<'_>) -> Result<i64> {
    let Some(v) = v else { return Ok(default) };
    match v {
        Json::Int(..) => {
            let n = v.as_i64().ok_or_else(|| fail(where_, Rule::SpecInteger, "integer out of range"))?;
            if n < lo || n > hi {
                return Err(fail(where_, Rule::SpecInteger, &format!("{n} is outside {lo}..{hi}")));
            }
            Ok(n)
        }
        _ => Err(fail(where_, Rule::SpecInteger, "expected an integer")),
    }
}

/// A non-negative integer below 2^256, at least `min`.
fn big_uint(v: Option<&Json>, default: u64, min: u64, where_: Ctx<'_>) -> Result<Word> {
    let Some(v) = v else {
        return Ok(crate::u256::from_u128(u128::from(default)));
    };
    match v {
        Json::Int(false, w) if *w <= word_max() => {
            if *w < crate::u256::from_u128(u128::from(min)) {
                return Err(fail(where_, Rule::SpecInteger, &format!("must be >= {min}")));
            }
            Ok(*w)
        }
        Json::Int(..) => Err(fail(where_, Rule::SpecInteger, "out of range")),
        _ => Err(fail(where_, Rule::SpecInteger, "expected an integer")),
    }
}

/// Lenient hex as the Python reference reads it (`0x`/`0X`, either case).
fn hex_any(s: &str) -> Option<Vec<u8>> {
    let body = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if body.len() % 2 != 0 || !body.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..body.len() / 2).map(|i| u8::from_str_radix(&body[2 * i..2 * i + 2], 16).ok()).collect()
}

fn addr_of(v: &Json, where_: Ctx<'_>) -> Result<Addr> {
    match v.as_str() {
        Some("$subject") => Ok(Addr::Subject),
        Some(s) => {
            let b = hex_any(s).filter(|b| b.len() == 20);
            let b = b.ok_or_else(|| fail(where_, Rule::FeatureAddress, "expected a 20-byte hex address or '$subject'"))?;
            let mut a = [0u8; 20];
            a.copy_from_slice(&b);
            Ok(Addr::Literal(a))
        }
        None => Err(fail(where_, Rule::FeatureAddress, "expected a 20-byte hex address or '$subject'")),
    }
}

fn key_of(v: &Json, where_: Ctx<'_>) -> Result<Key> {
    let bad = || fail(where_, Rule::FeatureSlot, "mapping key must be '$subject', an integer or bytes20/bytes32 hex");
    match v {
        Json::Str(s) if s == "$subject" => Ok(Key::Subject),
        Json::Int(neg, w) => {
            // [-2^255, 2^256 - 1]
            let mut lim = [0u8; 32];
            lim[0] = 0x80;
            if *neg && *w > lim {
                return Err(fail(where_, Rule::SpecInteger, "integer key out of range"));
            }
            Ok(Key::Int(*neg, *w))
        }
        Json::Str(s) => {
            let b = hex_any(s).ok_or_else(bad)?;
            match b.len() {
                20 => {
                    let mut a = [0u8; 20];
                    a.copy_from_slice(&b);
                    Ok(Key::Address(a))
                }
                32 => {
                    let mut a = [0u8; 32];
                    a.copy_from_slice(&b);
                    Ok(Key::Word(a))
                }
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

fn slot_of(v: &Json, where_: Ctx<'_>) -> Result<(Word, Vec<Step>)> {
    keys(v, &["base"], &["path"], where_)?;
    let empty = Json::Arr(Vec::new());
    let Json::Arr(path) = v.get("path").unwrap_or(&empty) else {
        return Err(fail(where_, Rule::FeatureSlot, "path must be a list of at most 16 steps"));
    };
    if path.len() > MAX_PATH {
        return Err(fail(where_, Rule::FeatureSlot, "path must be a list of at most 16 steps"));
    }
    let mut steps = Vec::new();
    for (i, st) in path.iter().enumerate() {
        let at = Indexed(where_, " path", i);
        let step = if st.get("mapping").is_some() {
            keys(st, &["mapping"], &[], &at)?;
            Step::Mapping(key_of(st.get("mapping").unwrap_or(&Json::Null), &at)?)
        } else if st.get("index").is_some() {
            keys(st, &["index"], &["elem_slots"], &at)?;
            Step::Index {
                index: big_uint(st.get("index"), 0, 0, &at)?,
                elem_slots: big_uint(st.get("elem_slots"), 1, 1, &at)?,
            }
        } else if st.get("field").is_some() {
            keys(st, &["field"], &[], &at)?;
            Step::Field(big_uint(st.get("field"), 0, 0, &at)?)
        } else {
            return Err(fail(&at, Rule::FeatureSlot, "a step is {mapping}, {index, elem_slots} or {field}"));
        };
        steps.push(step);
    }
    Ok((big_uint(v.get("base"), 0, 0, &At(where_, " base"))?, steps))
}

fn bounds(f: &Json, where_: Ctx<'_>) -> Result<(i32, i32)> {
    let (lo32, hi32) = (i64::from(i32::MIN), i64::from(i32::MAX));
    let lo = small_int(f.get("min"), lo32, lo32, hi32, &At(where_, " min"))? as i32;
    let hi = small_int(f.get("max"), hi32, lo32, hi32, &At(where_, " max"))? as i32;
    if lo > hi {
        return Err(fail(where_, Rule::FeatureBounds, &format!("min {lo} > max {hi}")));
    }
    Ok((lo, hi))
}

fn name_ok(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn series_int(v: Option<&Json>, lo: i64, hi: i64, where_: Ctx<'_>, what: &str) -> Result<i64> {
    match v.and_then(Json::as_i64) {
        Some(n) if matches!(v, Some(Json::Int(..))) && (lo..=hi).contains(&n) => Ok(n),
        _ => Err(fail(where_, Rule::SeriesShape, &format!("{what}: expected an integer in [{lo}, {hi}]"))),
    }
}

fn series_of(f: &Json, where_: Ctx<'_>, version: u32) -> Result<Option<Series>> {
    let Some(s) = f.get("series") else { return Ok(None) };
    if version < 2 {
        return Err(fail(where_, Rule::SeriesVersion, "a series needs a version 2 spec"));
    }
    let at = At(where_, " series");
    let Json::Obj(m) = s else {
        return Err(fail(&at, Rule::SeriesShape, "expected an object"));
    };
    let op = s
        .get("op")
        .and_then(Json::as_str)
        .and_then(|o| crate::series::OPS.iter().find(|x| **x == o).copied())
        .ok_or_else(|| fail(&at, Rule::SeriesShape, "op: expected one of last, mean, min, max, stdev, slope, change, count_above"))?;
    let count_above = op == "count_above";
    for (k, _) in m {
        if !matches!(k.as_str(), "samples" | "every" | "op") && !(count_above && k == "threshold") {
            return Err(fail(&at, Rule::SeriesShape, &format!("unknown key {k:?}")));
        }
    }
    let samples = series_int(s.get("samples"), 1, MAX_SAMPLES, &at, "samples")? as u32;
    let every = series_int(s.get("every"), 1, MAX_EVERY, &at, "every")? as u64;
    let threshold = if count_above {
        series_int(s.get("threshold"), i64::from(i32::MIN), i64::from(i32::MAX), &at, "threshold")? as i32
    } else {
        0
    };
    Ok(Some(Series { samples, every, op, threshold }))
}

/// `size`-byte hex of a protocol read's parameter `key` (rule `protocol_param`).
fn param<const N: usize>(r: &Json, key: &'static str, where_: Ctx<'_>) -> Result<[u8; N]> {
    let b = r.get(key).and_then(Json::as_str).and_then(hex_any).filter(|b| b.len() == N);
    let b = b.ok_or_else(|| fail(&At(where_, key), Rule::ProtocolParam, &format!(": expected {N}-byte hex")))?;
    let mut out = [0u8; N];
    out.copy_from_slice(&b);
    Ok(out)
}

/// `read.field` of a protocol read: one of `fields` (rule `protocol_field`).
fn protocol_field(r: &Json, fields: &[&'static str], where_: Ctx<'_>) -> Result<&'static str> {
    let name = r.get("field").and_then(Json::as_str);
    fields
        .iter()
        .find(|f| Some(**f) == name)
        .copied()
        .ok_or_else(|| fail(where_, Rule::ProtocolField, "read.field is not one of the protocol's fields"))
}

/// A read of kind `protocol` (formats.md §3c), checked in the documented order:
/// protocol name, key set, field (and asset), hex parameters, then `signed`.
fn protocol_feature(f: &Json, r: &Json, where_: Ctx<'_>, version: u32) -> Result<Source> {
    let (protocol, field) = match r.get("protocol").and_then(Json::as_str) {
        Some(AAVE) => {
            keys(r, &["kind", "protocol", "provider", "field"], &["block_offset", "asset"], where_)?;
            let field = protocol_field(r, &[&AAVE_ACCOUNT_FIELDS[..], &AAVE_RESERVE_FIELDS[..]].concat(), where_)?;
            if AAVE_RESERVE_FIELDS.contains(&field) != r.get("asset").is_some() {
                return Err(fail(where_, Rule::ProtocolField, "read.asset is given exactly for a reserve field"));
            }
            let provider = param::<20>(r, "provider", &At(where_, " read."))?;
            let asset = match r.get("asset") {
                Some(_) => Some(param::<20>(r, "asset", &At(where_, " read."))?),
                None => None,
            };
            (Protocol::Aave { provider, asset }, field)
        }
        Some(MORPHO) => {
            let params = ["morpho", "morpho_code_hash", "market_id", "irm_code_hash"];
            keys(r, &["kind", "protocol", "field", params[0], params[1], params[2], params[3]], &["block_offset"], where_)?;
            let field = protocol_field(r, &MORPHO_FIELDS, where_)?;
            let at = At(where_, " read.");
            let morpho = param::<20>(r, "morpho", &at)?;
            let morpho_code_hash = param::<32>(r, "morpho_code_hash", &at)?;
            let market_id = param::<32>(r, "market_id", &at)?;
            let irm_code_hash = param::<32>(r, "irm_code_hash", &at)?;
            (Protocol::Morpho { morpho, builds: Builds { morpho_code_hash, irm_code_hash }, market_id }, field)
        }
        _ => return Err(fail(where_, Rule::ProtocolName, "read.protocol must be one of aave-v3.0, morpho-blue-1.0.0")),
    };
    let block_offset = small_int(r.get("block_offset"), 0, 0, 1 << 32, &At(where_, " block_offset"))? as u64;
    match f.get("signed") {
        None | Some(Json::Bool(false)) => {}
        Some(Json::Bool(true)) => return Err(fail(where_, Rule::FeatureStorageOnly, "a protocol read cannot be signed")),
        Some(_) => return Err(fail(where_, Rule::FeatureSigned, "signed must be true or false")),
    }
    let decimals = small_int(f.get("decimals"), 0, 0, i64::from(crate::u256::MAX_DECIMALS), &At(where_, " decimals"))?;
    let series = series_of(f, where_, version)?;
    Ok(Source::Protocol { protocol, field, block_offset, decimals: decimals as u32, series })
}

fn read_feature(f: &Json, where_: Ctx<'_>, version: u32) -> Result<Source> {
    keys(f, &["name", "read"], &["decimals", "signed", "min", "max", "series"], where_)?;
    let r = f.get("read").unwrap_or(&Json::Null);
    if matches!(r, Json::Obj(_)) && r.get("kind").and_then(Json::as_str) == Some("protocol") {
        return protocol_feature(f, r, where_, version);
    }
    keys(r, &["kind", "address"], &["block_offset", "slot", "bits"], where_)?;
    let kind = match r.get("kind").and_then(Json::as_str) {
        Some("balance") => Kind::Balance,
        Some("nonce") => Kind::Nonce,
        Some("storage") => Kind::Storage,
        Some("code_present") => Kind::CodePresent,
        _ => return Err(fail(where_, Rule::FeatureKind, "read.kind must be one of balance, nonce, storage, code_present")),
    };
    let address = addr_of(r.get("address").unwrap_or(&Json::Null), &At(where_, " read.address"))?;
    let block_offset = small_int(r.get("block_offset"), 0, 0, 1 << 32, &At(where_, " block_offset"))? as u64;
    let signed = match f.get("signed") {
        None => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => return Err(fail(where_, Rule::FeatureSigned, "signed must be true or false")),
    };
    let (slot, bits_offset, bits_size) = if kind == Kind::Storage {
        let s = r.get("slot").ok_or_else(|| fail(where_, Rule::FeatureStorageOnly, "a storage read needs a slot"))?;
        let slot = slot_of(s, &At(where_, " slot"))?;
        let empty = Json::Obj(Vec::new());
        let bits = r.get("bits").unwrap_or(&empty);
        keys(bits, &[], &["offset", "size"], &At(where_, " bits"))?;
        let off = small_int(bits.get("offset"), 0, 0, 31, &At(where_, " bits.offset"))?;
        let size = small_int(bits.get("size"), 32 - off, 1, 32 - off, &At(where_, " bits.size"))?;
        (Some(slot), off as u32, size as u32)
    } else {
        if r.get("slot").is_some() || r.get("bits").is_some() {
            return Err(fail(where_, Rule::FeatureStorageOnly, "only storage reads take a slot or bits"));
        }
        if signed {
            return Err(fail(where_, Rule::FeatureStorageOnly, "only storage reads can be signed"));
        }
        (None, 0, 32)
    };
    let decimals = small_int(f.get("decimals"), 0, 0, i64::from(crate::u256::MAX_DECIMALS), &At(where_, " decimals"))?;
    let series = series_of(f, where_, version)?;
    Ok(Source::Read { kind, address, block_offset, slot, bits_offset, bits_size, decimals: decimals as u32, signed, series })
}

fn combine_feature(f: &Json, where_: Ctx<'_>, earlier: &[Feature]) -> Result<Source> {
    keys(f, &["name", "combine"], &["min", "max"], where_)?;
    let c = f.get("combine").unwrap_or(&Json::Null);
    keys(c, &["op", "args"], &[], &At(where_, " combine"))?;
    let op = match c.get("op").and_then(Json::as_str) {
        Some("sub") => Op::Sub,
        Some("add") => Op::Add,
        Some("mul") => Op::Mul,
        Some("ratio") => Op::Ratio,
        _ => return Err(fail(where_, Rule::FeatureKind, "combine.op must be one of sub, add, mul, ratio")),
    };
    let Some(Json::Arr(args)) = c.get("args") else {
        return Err(fail(where_, Rule::FeatureCombineArgs, "combine.args must name two features"));
    };
    if args.len() != 2 {
        return Err(fail(where_, Rule::FeatureCombineArgs, "combine.args must name two features"));
    }
    let mut idx = [0usize; 2];
    for (k, a) in args.iter().enumerate() {
        idx[k] = a
            .as_str()
            .and_then(|n| earlier.iter().position(|e| e.name == n))
            .ok_or_else(|| fail(where_, Rule::FeatureCombineArgs, "combine arg is not an earlier feature"))?;
    }
    Ok(Source::Combine { op, a: idx[0], b: idx[1] })
}

/// Parse and validate a spec from JSON text.
pub fn parse(text: &[u8]) -> Result<Spec> {
    from_json(&json::parse(text)?)
}

/// Parse and validate a spec from a JSON value.
pub fn from_json(v: &Json) -> Result<Spec> {
    keys(v, &["format", "version", "name", "features"], &[], &"top")?;
    if v.get("format").and_then(Json::as_str) != Some("coproc-features") {
        return Err(fail(&"format", Rule::SpecFormat, "must be 'coproc-features'"));
    }
    let version = match v.get("version").and_then(Json::as_u64) {
        Some(n @ (1 | 2)) => n as u32,
        _ => return Err(fail(&"version", Rule::SpecVersion, "unsupported version")),
    };
    let name = match v.get("name") {
        Some(Json::Str(s)) if s.is_ascii() => s.clone(),
        _ => return Err(fail(&"name", Rule::SpecName, "must be an ASCII string")),
    };
    let list = match v.get("features") {
        Some(Json::Arr(a)) if !a.is_empty() && a.len() <= MAX_FEATURES => a,
        _ => return Err(fail(&"features", Rule::SpecFeatures, "must be a list of 1..256 features")),
    };
    let mut features: Vec<Feature> = Vec::new();
    for (i, f) in list.iter().enumerate() {
        let at = Indexed(&"feature", "", i);
        if !matches!(f, Json::Obj(_)) {
            return Err(fail(&at, Rule::SpecFeatures, "expected an object"));
        }
        let fname = match f.get("name") {
            Some(Json::Str(s)) if name_ok(s) => s.clone(),
            _ => return Err(fail(&at, Rule::FeatureName, "name must match [A-Za-z_][A-Za-z0-9_]{0,63}")),
        };
        let named = Named(&fname);
        let at: &dyn core::fmt::Display = &named;
        if features.iter().any(|o| o.name == fname) {
            return Err(fail(&at, Rule::FeatureUnique, "duplicate name"));
        }
        let source = if f.get("read").is_some() {
            read_feature(f, &at, version)?
        } else if f.get("combine").is_some() {
            combine_feature(f, &at, &features)?
        } else {
            return Err(fail(&at, Rule::FeatureKind, "needs `read` or `combine`"));
        };
        let (min, max) = bounds(f, &at)?;
        features.push(Feature { name: fname, source, min, max });
    }
    Ok(Spec { version, name, features })
}

fn word_json(w: &Word) -> Json {
    Json::Int(false, *w)
}

fn hexs(b: &[u8]) -> Json {
    Json::Str(crate::hex::encode(b))
}

fn series_json(s: &Series) -> Json {
    let mut obj = vec![
        ("samples", Json::int(i64::from(s.samples))),
        ("every", Json::int(s.every as i64)),
        ("op", Json::Str(s.op.to_owned())),
    ];
    if s.op == "count_above" {
        obj.push(("threshold", Json::int(i64::from(s.threshold))));
    }
    Json::obj(obj)
}

impl Spec {
    /// The spec with every default filled in (the canonical form), as JSON.
    pub fn to_json(&self) -> Json {
        let feats: Vec<Json> = self
            .features
            .iter()
            .map(|f| {
                let mut pairs = vec![
                    ("name", Json::Str(f.name.clone())),
                    ("min", Json::int(i64::from(f.min))),
                    ("max", Json::int(i64::from(f.max))),
                ];
                match &f.source {
                    Source::Read { kind, address, block_offset, slot, bits_offset, bits_size, decimals, signed, series } => {
                        let kind_s = match kind {
                            Kind::Balance => "balance",
                            Kind::Nonce => "nonce",
                            Kind::Storage => "storage",
                            Kind::CodePresent => "code_present",
                        };
                        let addr = match address {
                            Addr::Subject => Json::Str("$subject".to_owned()),
                            Addr::Literal(a) => hexs(a),
                        };
                        let mut read = vec![
                            ("kind", Json::Str(kind_s.to_owned())),
                            ("address", addr),
                            ("block_offset", Json::int(*block_offset as i64)),
                        ];
                        if let Some((base, path)) = slot {
                            let steps: Vec<Json> = path
                                .iter()
                                .map(|s| match s {
                                    Step::Mapping(k) => Json::obj(vec![(
                                        "mapping",
                                        match k {
                                            Key::Subject => Json::Str("$subject".to_owned()),
                                            Key::Address(a) => hexs(a),
                                            Key::Word(w) => hexs(w),
                                            Key::Int(neg, w) => Json::Int(*neg, *w),
                                        },
                                    )]),
                                    Step::Index { index, elem_slots } => {
                                        Json::obj(vec![("index", word_json(index)), ("elem_slots", word_json(elem_slots))])
                                    }
                                    Step::Field(n) => Json::obj(vec![("field", word_json(n))]),
                                })
                                .collect();
                            read.push(("slot", Json::obj(vec![("base", word_json(base)), ("path", Json::Arr(steps))])));
                            read.push((
                                "bits",
                                Json::obj(vec![
                                    ("offset", Json::int(i64::from(*bits_offset))),
                                    ("size", Json::int(i64::from(*bits_size))),
                                ]),
                            ));
                        }
                        pairs.push(("read", Json::obj(read)));
                        pairs.push(("decimals", Json::int(i64::from(*decimals))));
                        pairs.push(("signed", Json::Bool(*signed)));
                        if let Some(s) = series {
                            pairs.push(("series", series_json(s)));
                        }
                    }
                    Source::Protocol { protocol, field, block_offset, decimals, series } => {
                        let mut read = vec![("kind", Json::Str("protocol".to_owned()))];
                        match protocol {
                            Protocol::Aave { provider, asset } => {
                                read.push(("protocol", Json::Str(AAVE.to_owned())));
                                read.push(("provider", hexs(provider)));
                                if let Some(a) = asset {
                                    read.push(("asset", hexs(a)));
                                }
                            }
                            Protocol::Morpho { morpho, builds, market_id } => {
                                read.push(("protocol", Json::Str(MORPHO.to_owned())));
                                read.push(("morpho", hexs(morpho)));
                                read.push(("morpho_code_hash", hexs(&builds.morpho_code_hash)));
                                read.push(("market_id", hexs(market_id)));
                                read.push(("irm_code_hash", hexs(&builds.irm_code_hash)));
                            }
                        }
                        read.push(("field", Json::Str((*field).to_owned())));
                        read.push(("block_offset", Json::int(*block_offset as i64)));
                        pairs.push(("read", Json::obj(read)));
                        pairs.push(("decimals", Json::int(i64::from(*decimals))));
                        pairs.push(("signed", Json::Bool(false)));
                        if let Some(s) = series {
                            pairs.push(("series", series_json(s)));
                        }
                    }
                    Source::Combine { op, a, b } => {
                        let op_s = match op {
                            Op::Sub => "sub",
                            Op::Add => "add",
                            Op::Mul => "mul",
                            Op::Ratio => "ratio",
                        };
                        let args = vec![
                            Json::Str(self.features[*a].name.clone()),
                            Json::Str(self.features[*b].name.clone()),
                        ];
                        pairs.push(("combine", Json::obj(vec![("op", Json::Str(op_s.to_owned())), ("args", Json::Arr(args))])));
                    }
                }
                Json::obj(pairs)
            })
            .collect();
        Json::obj(vec![
            ("format", Json::Str("coproc-features".to_owned())),
            ("version", Json::int(i64::from(self.version))),
            ("name", Json::Str(self.name.clone())),
            ("features", Json::Arr(feats)),
        ])
    }

    /// Canonical bytes: canonical JSON of [`Spec::to_json`].
    pub fn canonical(&self) -> Vec<u8> {
        json::canonical(&self.to_json()).into_bytes()
    }

    /// keccak256 of the canonical bytes.
    pub fn hash(&self) -> [u8; 32] {
        keccak256(&self.canonical())
    }
}

/// Parse bytes and insist they are already canonical (what the guest accepts).
pub fn parse_canonical(bytes: &[u8]) -> Result<Spec> {
    let spec = parse(bytes)?;
    if spec.canonical() != bytes {
        return Err(Error::Spec(Rule::SpecCanonical, "feature spec bytes are not in canonical form".into()));
    }
    Ok(spec)
}
