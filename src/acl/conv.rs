//! Converters (`,lower`, `,map_beg(file,default)`, ...): compiled from their
//! calls at load, applied to a sample on the hot path.
//!
//! A converter writes a string result into the scratch buffer it is given
//! (grown once, then reused) and answers [`Out`], which says where the result
//! is. `regsub` allocates its capture set per call (the regex crate's API);
//! every other converter allocates nothing once the buffers have grown.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use base64::Engine as _;
use regex::bytes::{Regex, RegexBuilder};

use super::expr::Call;
use super::iptable::parse_cidr;
use super::map::{MapTable, MapValue, OutType, resolve};
use super::pattern::Method;
use super::sample::Val;

/// A converter's result: a typed value, or a string left in the output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// The string is in the output buffer.
    Str,
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// An address.
    Ip(IpAddr),
}

/// One piece of a `regsub` replacement: literal bytes or a group reference.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Bytes copied as they are.
    Lit(Box<[u8]>),
    /// `\N`: the text of capture group N.
    Group(usize),
}

/// A compiled converter.
#[derive(Debug, Clone)]
pub enum Conv {
    /// `lower`.
    Lower,
    /// `upper`.
    Upper,
    /// `map*(<file>[,<default>])`.
    Map(Box<MapTable>, Option<MapValue>),
    /// `field(<index>,<delimiters>[,<count>])`.
    Field(i64, Box<[u8]>, i64),
    /// `word(<index>,<delimiters>[,<count>])`.
    Word(i64, Box<[u8]>, i64),
    /// `regsub(<regex>,<subst>[,<flags>])`.
    Regsub(Regex, Box<[Piece]>, bool),
    /// `ipmask(<mask4>[,<mask6>])`.
    Ipmask(u8, Option<u8>),
    /// `base64`.
    Base64,
    /// `hex`.
    Hex,
    /// `length`.
    Length,
    /// `json([<input-code>])`: `true` for the UTF-8 modes.
    Json(JsonMode),
}

/// How `json` treats bytes above 0x7f.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonMode {
    /// `ascii` (default): each byte as `\u00XX`.
    Ascii,
    /// `utf8`/`utf8p`: valid UTF-8 passes through, invalid fails the conversion.
    Utf8,
    /// `utf8s`/`utf8ps`: valid UTF-8 passes through, invalid bytes are skipped.
    Utf8Skip,
}

/// Every converter name ringlb knows (for "unknown converter" messages).
pub const NAMES: &[&str] = &[
    "lower", "upper", "map", "field", "word", "regsub", "ipmask", "base64", "hex", "length", "json",
];

/// Compiles one converter call; map files resolve under `base`.
pub fn compile(c: &Call, base: Option<&Path>) -> Result<Conv, String> {
    let n = c.args.len();
    let arity = |min: usize, max: usize| {
        if n < min || n > max {
            Err(format!(
                "converter '{}' takes {min} to {max} arguments, got {n}",
                c.name
            ))
        } else {
            Ok(())
        }
    };
    let conv = match c.name.as_str() {
        "lower" | "upper" | "base64" | "hex" | "length" => {
            arity(0, 0)?;
            match c.name.as_str() {
                "lower" => Conv::Lower,
                "upper" => Conv::Upper,
                "base64" => Conv::Base64,
                "hex" => Conv::Hex,
                _ => Conv::Length,
            }
        }
        "field" | "word" => {
            arity(2, 3)?;
            let idx = int_arg(c, 0)?;
            let count = if n == 3 { int_arg(c, 2)? } else { 1 };
            if idx == 0 {
                return Err(format!("converter '{}': index must not be 0", c.name));
            }
            let delims: Box<[u8]> = c.args[1].as_bytes().into();
            if c.name == "field" {
                Conv::Field(idx, delims, count)
            } else {
                Conv::Word(idx, delims, count)
            }
        }
        "regsub" => regsub(c)?,
        "ipmask" => {
            arity(1, 2)?;
            let m4 = mask_arg(&c.args[0], false)?;
            let m6 = c.args.get(1).map(|a| mask_arg(a, true)).transpose()?;
            Conv::Ipmask(m4, m6)
        }
        "json" => {
            arity(0, 1)?;
            Conv::Json(match c.args.first().map(String::as_str) {
                None | Some("") | Some("ascii") => JsonMode::Ascii,
                Some("utf8") | Some("utf8p") => JsonMode::Utf8,
                Some("utf8s") | Some("utf8ps") => JsonMode::Utf8Skip,
                Some(o) => return Err(format!("converter 'json': unknown input code '{o}'")),
            })
        }
        name if name.starts_with("map") => map(c, base)?,
        other => {
            return Err(format!(
                "unknown converter '{other}' (ringlb supports {})",
                NAMES.join(", ")
            ));
        }
    };
    Ok(conv)
}

fn int_arg(c: &Call, i: usize) -> Result<i64, String> {
    c.args[i].trim().parse().map_err(|_| {
        format!(
            "converter '{}': argument {} must be an integer, got '{}'",
            c.name,
            i + 1,
            c.args[i]
        )
    })
}

fn mask_arg(a: &str, v6: bool) -> Result<u8, String> {
    let probe = if v6 {
        format!("::/{a}")
    } else {
        format!("0.0.0.0/{a}")
    };
    parse_cidr(&probe)
        .map(|(_, l)| l)
        .map_err(|_| format!("converter 'ipmask': invalid mask '{a}'"))
}

fn regsub(c: &Call) -> Result<Conv, String> {
    if c.args.len() < 2 || c.args.len() > 3 {
        return Err("converter 'regsub' takes 2 or 3 arguments".to_string());
    }
    let flags = c.args.get(2).map(String::as_str).unwrap_or("");
    if let Some(f) = flags.chars().find(|f| *f != 'i' && *f != 'g') {
        return Err(format!("converter 'regsub': unknown flag '{f}'"));
    }
    let re = RegexBuilder::new(&c.args[0])
        .case_insensitive(flags.contains('i'))
        .build()
        .map_err(|e| format!("converter 'regsub': invalid regex '{}': {e}", c.args[0]))?;
    Ok(Conv::Regsub(re, pieces(&c.args[1]), flags.contains('g')))
}

/// Splits a replacement into literals and `\N` group references.
fn pieces(subst: &str) -> Box<[Piece]> {
    let b = subst.as_bytes();
    let mut out = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            if !lit.is_empty() {
                out.push(Piece::Lit(std::mem::take(&mut lit).into()));
            }
            out.push(Piece::Group((b[i + 1] - b'0') as usize));
            i += 2;
            continue;
        }
        lit.push(b[i]);
        i += 1;
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit.into()));
    }
    out.into()
}

/// `map`, `map_<match>` and `map_<match>_<out>`.
fn map(c: &Call, base: Option<&Path>) -> Result<Conv, String> {
    let mut parts = c.name.split('_');
    parts.next();
    let method = match parts.next() {
        None | Some("str") => Method::Str,
        Some("int") => Method::Int,
        Some(m) => match Method::from_name(m) {
            Some(m) if !m.takes_no_pattern() && m != Method::Len => m,
            _ => return Err(format!("unknown converter '{}'", c.name)),
        },
    };
    let out = match parts.next() {
        None | Some("str") => OutType::Str,
        Some("int") => OutType::Int,
        Some("ip") => OutType::Ip,
        Some(_) => return Err(format!("unknown converter '{}'", c.name)),
    };
    if parts.next().is_some() {
        return Err(format!("unknown converter '{}'", c.name));
    }
    if c.args.is_empty() || c.args.len() > 2 {
        return Err(format!(
            "converter '{}' takes a map file and an optional default value",
            c.name
        ));
    }
    let path = resolve(&c.args[0], base);
    let table = MapTable::load(&path, method, out)?;
    let default = c.args.get(1).map(|d| MapValue::parse(d, out)).transpose()?;
    Ok(Conv::Map(Box::new(table), default))
}

impl Conv {
    /// Applies the converter to `v`, writing a string result to `out`;
    /// `c` is scratch space for lookups. `None`: the conversion failed.
    pub fn apply(&self, v: Val<'_>, out: &mut Vec<u8>, c: &mut Vec<u8>) -> Option<Out> {
        out.clear();
        match self {
            Conv::Lower | Conv::Upper => {
                str_of(v, out);
                if matches!(self, Conv::Lower) {
                    out.make_ascii_lowercase();
                } else {
                    out.make_ascii_uppercase();
                }
                Some(Out::Str)
            }
            Conv::Map(t, default) => {
                let hit = t.lookup(v, c).or(default.as_ref())?;
                Some(match hit {
                    MapValue::Str(s) => {
                        out.extend_from_slice(s);
                        Out::Str
                    }
                    MapValue::Int(n) => Out::Int(*n),
                    MapValue::Ip(a) => Out::Ip(*a),
                })
            }
            Conv::Field(idx, d, count) => {
                let s = bytes(v, c);
                field(s, *idx, d, *count, false, out).then_some(Out::Str)
            }
            Conv::Word(idx, d, count) => {
                let s = bytes(v, c);
                field(s, *idx, d, *count, true, out).then_some(Out::Str)
            }
            Conv::Regsub(re, p, global) => {
                let s = bytes(v, c);
                regsub_into(re, p, *global, s, out);
                Some(Out::Str)
            }
            Conv::Ipmask(m4, m6) => ipmask(v, *m4, *m6).map(Out::Ip),
            Conv::Base64 => {
                let s = bytes(v, c);
                out.resize(s.len().div_ceil(3) * 4, 0);
                let n = base64::engine::general_purpose::STANDARD
                    .encode_slice(s, out)
                    .ok()?;
                out.truncate(n);
                Some(Out::Str)
            }
            Conv::Hex => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                for b in bytes(v, c) {
                    out.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
                }
                Some(Out::Str)
            }
            Conv::Length => Some(Out::Int(bytes(v, c).len() as i64)),
            Conv::Json(mode) => json(bytes(v, c), *mode, out).then_some(Out::Str),
        }
    }
}

/// A sample's bytes: borrowed, or formatted into `c`.
fn bytes<'a>(v: Val<'a>, c: &'a mut Vec<u8>) -> &'a [u8] {
    match v {
        Val::Str(s) => s,
        other => {
            c.clear();
            str_of(other, c);
            c
        }
    }
}

/// Appends a sample's string form to `out`.
fn str_of(v: Val<'_>, out: &mut Vec<u8>) {
    let _ = match v {
        Val::Str(s) => {
            out.extend_from_slice(s);
            Ok(())
        }
        Val::Int(n) => write!(out, "{n}"),
        Val::Bool(b) => write!(out, "{}", b as u8),
        Val::Ip(a) => write!(out, "{a}"),
    };
}

/// `field`/`word`: fields `idx..idx+count` (1-based, negative from the end).
fn field(s: &[u8], idx: i64, d: &[u8], count: i64, words: bool, out: &mut Vec<u8>) -> bool {
    let is_d = |b: &u8| d.contains(b);
    let parts = || s.split(is_d).filter(|p| !words || !p.is_empty());
    let total = parts().count() as i64;
    let first = if idx > 0 { idx - 1 } else { total + idx };
    if first < 0 || first >= total {
        return false;
    }
    let last = if count <= 0 {
        total
    } else {
        (first + count).min(total)
    };
    let (mut start, mut end) = (None, 0);
    for (i, p) in parts().enumerate() {
        let i = i as i64;
        if i >= first && i < last {
            let off = p.as_ptr() as usize - s.as_ptr() as usize;
            start.get_or_insert(off);
            end = off + p.len();
        }
    }
    out.extend_from_slice(&s[start.unwrap_or(0)..end]);
    true
}

fn regsub_into(re: &Regex, p: &[Piece], global: bool, s: &[u8], out: &mut Vec<u8>) {
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let m = caps.get(0).expect("group 0 always matches");
        out.extend_from_slice(&s[last..m.start()]);
        for piece in p {
            match piece {
                Piece::Lit(l) => out.extend_from_slice(l),
                Piece::Group(g) => {
                    if let Some(g) = caps.get(*g) {
                        out.extend_from_slice(g.as_bytes());
                    }
                }
            }
        }
        last = m.end();
        if !global {
            break;
        }
    }
    out.extend_from_slice(&s[last..]);
}

fn ipmask(v: Val<'_>, m4: u8, m6: Option<u8>) -> Option<IpAddr> {
    let ip = match v {
        Val::Ip(a) => a,
        Val::Str(s) => std::str::from_utf8(s).ok()?.parse().ok()?,
        Val::Int(_) | Val::Bool(_) => return None,
    };
    Some(match ip {
        IpAddr::V4(a) => {
            let m = if m4 == 0 { 0 } else { u32::MAX << (32 - m4) };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m6 = m6?;
            let m = if m6 == 0 { 0 } else { u128::MAX << (128 - m6) };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    })
}

/// JSON string escaping (without the surrounding quotes), as HAProxy's `json`.
fn json(s: &[u8], mode: JsonMode, out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..0x20 => {
                let _ = write!(out, "\\u{b:04x}");
            }
            0x20..0x80 => out.push(b),
            _ if mode == JsonMode::Ascii => {
                let _ = write!(out, "\\u{b:04x}");
            }
            _ => {
                let n = utf8_len(&s[i..]);
                if n == 0 {
                    if mode == JsonMode::Utf8 {
                        return false;
                    }
                    i += 1;
                    continue;
                }
                out.extend_from_slice(&s[i..i + n]);
                i += n;
                continue;
            }
        }
        i += 1;
    }
    true
}

/// Length of the valid UTF-8 sequence at the start of `s` (0 if invalid).
fn utf8_len(s: &[u8]) -> usize {
    let n = match s[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return 0,
    };
    match s.get(..n).map(std::str::from_utf8) {
        Some(Ok(_)) => n,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::expr::split_expr;
    use super::super::map::TempFile;
    use super::*;

    fn conv(expr: &str, input: &str) -> Option<String> {
        let calls = split_expr(&format!("x,{expr}")).unwrap();
        let c = compile(&calls[1], None).unwrap();
        let (mut out, mut sc) = (Vec::new(), Vec::new());
        match c.apply(Val::Str(input.as_bytes()), &mut out, &mut sc)? {
            Out::Str => Some(String::from_utf8(out).unwrap()),
            Out::Int(n) => Some(n.to_string()),
            Out::Bool(b) => Some(b.to_string()),
            Out::Ip(a) => Some(a.to_string()),
        }
    }

    #[test]
    fn case_length_hex_base64() {
        assert_eq!(conv("lower", "AbC").as_deref(), Some("abc"));
        assert_eq!(conv("upper", "AbC").as_deref(), Some("ABC"));
        assert_eq!(conv("length", "hello").as_deref(), Some("5"));
        assert_eq!(conv("hex", "Az").as_deref(), Some("417A"));
        assert_eq!(conv("base64", "hello").as_deref(), Some("aGVsbG8="));
    }

    #[test]
    fn field_and_word() {
        assert_eq!(conv("field(2,/)", "/a/b/c").as_deref(), Some("a"));
        assert_eq!(conv("field(-1,/)", "/a/b/c").as_deref(), Some("c"));
        assert_eq!(conv("field(2,/,2)", "/a/b/c").as_deref(), Some("a/b"));
        assert_eq!(conv("field(9,/)", "/a/b/c"), None);
        assert_eq!(conv("word(1,/)", "/a/b/c").as_deref(), Some("a"));
        assert_eq!(conv("word(2,/,0)", "//a//b/c").as_deref(), Some("b/c"));
        assert_eq!(
            conv("word(-2,.)", "www.example.com").as_deref(),
            Some("example")
        );
    }

    #[test]
    fn regsub_ipmask_json() {
        assert_eq!(conv("regsub(a,X)", "banana").as_deref(), Some("bXnana"));
        assert_eq!(conv("regsub(a,X,g)", "banana").as_deref(), Some("bXnXnX"));
        assert_eq!(
            conv("regsub(^/(\\w+)/(\\w+),/\\2/\\1)", "/ab/cd/e").as_deref(),
            Some("/cd/ab/e")
        );
        assert_eq!(conv("regsub(A,x,ig)", "aA").as_deref(), Some("xx"));
        assert_eq!(conv("ipmask(24)", "10.1.2.3").as_deref(), Some("10.1.2.0"));
        assert_eq!(
            conv("ipmask(255.255.0.0)", "10.1.2.3").as_deref(),
            Some("10.1.0.0")
        );
        assert_eq!(
            conv("ipmask(24,64)", "2001:db8::1").as_deref(),
            Some("2001:db8::")
        );
        assert_eq!(conv("ipmask(24)", "2001:db8::1"), None);
        assert_eq!(
            conv("json", "a\"b\\c/\n\u{1}é").as_deref(),
            Some("a\\\"b\\\\c\\/\\n\\u0001\\u00c3\\u00a9")
        );
        assert_eq!(conv("json(utf8)", "é").as_deref(), Some("é"));
    }

    #[test]
    fn maps_with_default() {
        let f = TempFile::new("conv.map", "/api api\n/img img\n");
        let p = f.0.display().to_string();
        assert_eq!(
            conv(&format!("map_beg({p})"), "/api/x").as_deref(),
            Some("api")
        );
        assert_eq!(conv(&format!("map_beg({p})"), "/z"), None);
        assert_eq!(
            conv(&format!("map_beg({p},dflt)"), "/z").as_deref(),
            Some("dflt")
        );
        assert_eq!(conv(&format!("map({p},d)"), "/api").as_deref(), Some("api"));
        assert_eq!(conv(&format!("map({p},d)"), "/api/x").as_deref(), Some("d"));
        let f = TempFile::new("conv.int.map", "10.0.0.0/8 7\n");
        let p = f.0.display().to_string();
        assert_eq!(
            conv(&format!("map_ip_int({p},0)"), "10.9.9.9").as_deref(),
            Some("7")
        );
    }

    #[test]
    fn bad_converters_are_named() {
        let e = |w: &str| compile(&split_expr(w).unwrap()[1], None).unwrap_err();
        assert!(e("x,frobnicate").contains("unknown converter 'frobnicate'"));
        assert!(e("x,map_regm(f)").contains("map_regm"));
        assert!(e("x,map_beg(/nonexistent/f)").contains("/nonexistent/f"));
        assert!(e("x,field(0,/)").contains("index"));
        assert!(e("x,lower(1)").contains("lower"));
        assert!(e("x,regsub(a,b,z)").contains("flag"));
    }
}
