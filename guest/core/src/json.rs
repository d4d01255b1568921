//! A small strict JSON reader/writer for feature specs: integers of any size up to
//! 256 bits (Solidity slots), no floats, no duplicate keys; the writer produces the
//! canonical form (sorted keys, no whitespace, ASCII with `\uXXXX` escapes), which is
//! what Python's `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True)`
//! writes. Used in the guest instead of serde_json.

use crate::error::{Error, Result, Rule};
use crate::u256::Word;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A JSON value. Integers are sign + 256-bit magnitude; floats are not representable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    /// null
    Null,
    /// true / false
    Bool(bool),
    /// An integer: (negative, magnitude). Zero is never negative.
    Int(bool, Word),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys unique, in input order.
    Obj(Vec<(String, Json)>),
}

fn err(m: &str) -> Error {
    Error::Spec(Rule::SpecJson, format!("JSON: {m}"))
}

/// A number that is not an integer of at most 256 bits (rule `spec_integer`).
fn number_err(m: &str) -> Error {
    Error::Spec(Rule::SpecInteger, format!("JSON: {m}"))
}

impl Json {
    /// Member of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A non-negative integer that fits in u64.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Int(false, w) if w[..24].iter().all(|&b| b == 0) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&w[24..]);
                Some(u64::from_be_bytes(a))
            }
            _ => None,
        }
    }

    /// An integer in the i64 range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Int(neg, w) if w[..24].iter().all(|&b| b == 0) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&w[24..]);
                let m = u64::from_be_bytes(a);
                if *neg {
                    if m <= 1u64 << 63 {
                        Some((m as i64).wrapping_neg())
                    } else {
                        None
                    }
                } else {
                    i64::try_from(m).ok()
                }
            }
            _ => None,
        }
    }

    /// A string's contents.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A small integer value.
    pub fn int(v: i64) -> Json {
        let mut w = [0u8; 32];
        w[24..].copy_from_slice(&v.unsigned_abs().to_be_bytes());
        Json::Int(v < 0, w)
    }

    /// Object from pairs.
    pub fn obj(pairs: Vec<(&str, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (String::from(k), v)).collect())
    }
}

/// Parse JSON text (whitespace allowed around tokens).
pub fn parse(text: &[u8]) -> Result<Json> {
    let mut p = Parser { s: text, i: 0, depth: 0 };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != text.len() {
        return Err(err("trailing characters"));
    }
    Ok(v)
}

/// The deepest nesting of arrays and objects accepted, here and by every Python
/// reader (coprocessor/jsonfile.py `MAX_DEPTH`).
pub const MAX_DEPTH: u32 = 64;

/// What serde_json lets through and the file formats refuse: a key twice in one
/// object (serde_json keeps the last; formats.md: one spelling) or nesting deeper
/// than [`MAX_DEPTH`]. The host-side readers of bundle, model and receipt files
/// call this before serde_json. It scans without recursion and says nothing about
/// other faults (the reader that follows reports those): `Some(problem)` or `None`.
pub fn structure_problem(text: &[u8]) -> Option<String> {
    let mut p = Parser { s: text, i: 0, depth: 0 };
    // one entry per open container: the keys of an object so far, None for an array
    let mut open: Vec<Option<BTreeSet<String>>> = Vec::new();
    while let Some(c) = p.peek() {
        match c {
            b'{' | b'[' => {
                open.push(if c == b'{' { Some(BTreeSet::new()) } else { None });
                if open.len() > MAX_DEPTH as usize {
                    return Some(format!("nested deeper than {MAX_DEPTH} levels"));
                }
                p.i += 1;
            }
            b'}' | b']' => {
                open.pop();
                p.i += 1;
            }
            b'"' => {
                let Ok(text) = p.string() else { return None };
                p.ws();
                if p.peek() == Some(b':') {
                    if let Some(Some(keys)) = open.last_mut() {
                        if keys.contains(&text) {
                            return Some(format!("duplicate key {text:?}"));
                        }
                        keys.insert(text);
                    }
                }
            }
            _ => p.i += 1,
        }
    }
    None
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: u32,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn lit(&mut self, word: &[u8], v: Json) -> Result<Json> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(err("unexpected token"))
        }
    }
    fn value(&mut self) -> Result<Json> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.lit(b"true", Json::Bool(true)),
            Some(b'f') => self.lit(b"false", Json::Bool(false)),
            Some(b'n') => self.lit(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(err("unexpected character")),
        }
    }
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err("nesting too deep"));
        }
        self.i += 1;
        self.ws();
        Ok(())
    }
    fn object(&mut self) -> Result<Json> {
        self.enter()?;
        let mut out: Vec<(String, Json)> = Vec::new();
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Json::Obj(out));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(err("expected a key"));
            }
            let k = self.string()?;
            if out.iter().any(|(o, _)| *o == k) {
                return Err(err("duplicate key"));
            }
            self.ws();
            if self.peek() != Some(b':') {
                return Err(err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            out.push((k, v));
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Json::Obj(out));
                }
                _ => return Err(err("expected ',' or '}'")),
            }
        }
    }
    fn array(&mut self) -> Result<Json> {
        self.enter()?;
        let mut out = Vec::new();
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Json::Arr(out));
        }
        loop {
            out.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Json::Arr(out));
                }
                _ => return Err(err("expected ',' or ']'")),
            }
        }
    }
    fn hex4(&mut self) -> Result<u32> {
        let h = self.s.get(self.i..self.i + 4).ok_or_else(|| err("truncated \\u escape"))?;
        let mut v = 0u32;
        for c in h {
            let d = (*c as char).to_digit(16).ok_or_else(|| err("bad \\u escape"))?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }
    fn string(&mut self) -> Result<String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            let chunk = core::str::from_utf8(&self.s[start..self.i]).map_err(|_| err("invalid UTF-8"))?;
            out.push_str(chunk);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = self.peek().ok_or_else(|| err("truncated escape"))?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let a = self.hex4()?;
                            let cp = if (0xd800..0xdc00).contains(&a) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(err("lone surrogate"));
                                }
                                self.i += 2;
                                let b = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&b) {
                                    return Err(err("lone surrogate"));
                                }
                                0x10000 + ((a - 0xd800) << 10) + (b - 0xdc00)
                            } else {
                                a
                            };
                            out.push(char::from_u32(cp).ok_or_else(|| err("lone surrogate"))?);
                        }
                        _ => return Err(err("bad escape")),
                    }
                }
                _ => return Err(err("unterminated string or control character")),
            }
        }
    }
    fn number(&mut self) -> Result<Json> {
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        let digits = &self.s[start..self.i];
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            return Err(err("bad number"));
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return Err(number_err("only integers are allowed"));
        }
        // Nine digits at a time into 32-bit limbs (division and long loops are costly
        // in the zkVM: this runs for every spec the guest reads).
        let mut limbs = [0u32; 8]; // little-endian
        for chunk in digits.chunks(9) {
            let mut mul: u64 = 1;
            let mut add: u64 = 0;
            for d in chunk {
                mul *= 10;
                add = add * 10 + u64::from(d - b'0');
            }
            let mut carry = add;
            for l in limbs.iter_mut() {
                let v = u64::from(*l) * mul + carry;
                *l = v as u32;
                carry = v >> 32;
            }
            if carry != 0 {
                return Err(number_err("integer wider than 256 bits"));
            }
        }
        let mut w: Word = [0u8; 32];
        for (i, l) in limbs.iter().enumerate() {
            w[28 - 4 * i..32 - 4 * i].copy_from_slice(&l.to_be_bytes());
        }
        let zero = w.iter().all(|&b| b == 0);
        Ok(Json::Int(neg && !zero, w))
    }
}

/// Appends `v` in decimal, zero-padded to `width` digits (no `format!`: in the zkVM the
/// formatting machinery costs more than the digits).
fn push_u32(out: &mut String, mut v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let start = i.min(buf.len().saturating_sub(width));
    out.extend(buf[start..].iter().map(|&b| char::from(b)));
}

fn decimal(w: &Word) -> String {
    let mut out = String::new();
    if w[..28].iter().all(|&b| b == 0) {
        // Fast path (most model numbers): one 32-bit limb, native 32-bit division.
        push_u32(&mut out, u32::from_be_bytes([w[28], w[29], w[30], w[31]]), 0);
        return out;
    }
    // Repeated division by 10^4 over 16-bit limbs: every step fits 32 bits, so each is
    // one native rv32im division. (Over 32-bit limbs by 10^9, each step divided 64 bits
    // by a software routine: ~12k cycles for one 77-digit mapping slot in a spec.)
    let mut limbs = [0u32; 16]; // big-endian order
    for (i, l) in limbs.iter_mut().enumerate() {
        *l = u32::from(u16::from_be_bytes([w[2 * i], w[2 * i + 1]]));
    }
    let mut groups: Vec<u32> = Vec::new();
    let mut first = limbs.iter().position(|&l| l != 0).unwrap_or(limbs.len());
    while first < limbs.len() {
        let mut rem: u32 = 0;
        for l in limbs[first..].iter_mut() {
            let cur = (rem << 16) | *l; // rem < 10^4 < 2^14: below 2^30
            *l = cur / 10_000;
            rem = cur % 10_000;
        }
        groups.push(rem);
        while first < limbs.len() && limbs[first] == 0 {
            first += 1;
        }
    }
    let mut rev = groups.iter().rev();
    if let Some(&top) = rev.next() {
        push_u32(&mut out, top, 0);
    }
    for &g in rev {
        push_u32(&mut out, g, 4);
    }
    out
}

fn write_str(s: &str, out: &mut String) {
    const D: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(ch),
            _ => {
                let mut buf = [0u16; 2];
                for unit in ch.encode_utf16(&mut buf) {
                    out.push_str("\\u");
                    for sh in [12u16, 8, 4, 0] {
                        out.push(char::from(D[usize::from((*unit >> sh) & 15)]));
                    }
                }
            }
        }
    }
    out.push('"');
}

/// Canonical JSON text of a value.
pub fn canonical(v: &Json) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(neg, w) => {
            if *neg {
                out.push('-');
            }
            out.push_str(&decimal(w));
        }
        Json::Str(s) => write_str(s, out),
        Json::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out);
            }
            out.push(']');
        }
        Json::Obj(m) => {
            let mut items: Vec<&(String, Json)> = m.iter().collect();
            // Python sorts str keys by code point, which is UTF-8 byte order.
            items.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, x)) in items.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write(x, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_problem_finds_duplicates_and_depth() {
        assert_eq!(structure_problem(br#"{"a":1,"b":{"a":2},"c":[{"a":3}]}"#), None);
        assert_eq!(structure_problem(br#"{"a":1,"a":1}"#).as_deref(), Some("duplicate key \"a\""));
        assert_eq!(structure_problem(br#"{"k":{"\u0061":1,"a":2}}"#).as_deref(), Some("duplicate key \"a\""));
        assert_eq!(structure_problem(br#"[{"x":1},{"x":1}]"#), None); // one key per object
        assert_eq!(structure_problem(br#"{"v":"a:b","w":"\"a\":"}"#), None); // colons inside strings
        let deep = |n: usize| [alloc::vec![b'['; n], alloc::vec![b']'; n]].concat();
        assert_eq!(structure_problem(&deep(MAX_DEPTH as usize)), None);
        assert!(structure_problem(&deep(MAX_DEPTH as usize + 1)).unwrap().contains("nested deeper"));
        assert!(structure_problem(&deep(1_000_000)).is_some());
        assert!(parse(&deep(MAX_DEPTH as usize)).is_ok());
        assert!(parse(&deep(MAX_DEPTH as usize + 1)).is_err());
    }

    #[test]
    fn roundtrip_and_strictness() {
        let v = parse(br#" {"b": [1, -2, 115792089237316195423570985008687907853269984665640564039457584007913129639935], "a": "x\u00e9\n"} "#).unwrap();
        assert_eq!(
            canonical(&v),
            r#"{"a":"x\u00e9\n","b":[1,-2,115792089237316195423570985008687907853269984665640564039457584007913129639935]}"#
        );
        assert!(parse(b"1.0").is_err());
        assert!(parse(b"1e3").is_err());
        assert!(parse(b"01").is_err());
        assert!(parse(b"NaN").is_err());
        assert!(parse(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse(b"115792089237316195423570985008687907853269984665640564039457584007913129639936").is_err());
        assert_eq!(parse(b"-0").unwrap(), Json::int(0));
        assert_eq!(parse(b"-9223372036854775808").unwrap().as_i64(), Some(i64::MIN));
        for text in ["0", "7", "1000000000", "999999999", "18446744073709551616", "100000000000000000000000000000000000001",
            "115792089237316195423570985008687907853269984665640564039457584007913129639935",
            "1000000000000000000000000000000000000000000000000000000000000000000000000000"] {
            assert_eq!(canonical(&parse(text.as_bytes()).unwrap()), text);
        }
    }

    #[test]
    fn decimal_matches_core_formatting() {
        // Both paths (one 32-bit limb, several limbs) against core's u128 formatting.
        let mut vals: Vec<u128> = vec![0, 1, 9, 10, 99, 100, 999_999_999, 1_000_000_000, 4_294_967_295];
        vals.extend([4_294_967_296, 1_000_000_000_000_000_000, u128::from(u64::MAX), u128::MAX]);
        let mut x: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            vals.push(x >> (x % 128));
        }
        for v in vals {
            let mut w: Word = [0u8; 32];
            w[16..].copy_from_slice(&v.to_be_bytes());
            assert_eq!(decimal(&w), format!("{v}"), "{v}");
        }
    }
}
