//! Patterns: the values an ACL (or a map's keys) compare a sample against,
//! compiled per match method into the structure that answers fastest.
//!
//! | method | structure | lookup |
//! |---|---|---|
//! | `str` | hash map | one probe |
//! | `beg` | byte trie | walk the sample once, longest prefix wins |
//! | `end` | byte trie of reversed patterns | walk the sample backwards |
//! | `ip` | [`IpTable`] (hash map per prefix length) | longest prefix |
//! | `reg` | `regex::bytes::RegexSet` | one pass, lowest index wins |
//! | `sub`, `dir`, `dom` | list of `memmem` finders, built once | scan |
//! | `int`, `len` | list of inclusive ranges | scan |
//! | `found`, `bool` | nothing | the sample itself |
//!
//! A lookup answers the index of the pattern that matched (for maps: the index
//! of its value), so ACLs and maps share every structure.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write as _;
use std::net::IpAddr;

use memchr::memmem::Finder;
use regex::bytes::{RegexSet, RegexSetBuilder};

use super::iptable::{IpTable, parse_cidr};
use super::sample::Val;

/// How a sample is compared with the patterns (`-m <method>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `-m found`: the sample exists.
    Found,
    /// `-m bool`: the sample is true (non-zero).
    Bool,
    /// `-m int`: integer ranges.
    Int,
    /// `-m ip`: addresses and networks.
    Ip,
    /// `-m len`: the string's length in integer ranges.
    Len,
    /// `-m str`: the exact string.
    Str,
    /// `-m beg`: a pattern is a prefix.
    Beg,
    /// `-m end`: a pattern is a suffix.
    End,
    /// `-m sub`: a pattern is a substring.
    Sub,
    /// `-m reg`: a regular expression matches.
    Reg,
    /// `-m dir`: a pattern is a `/`-delimited part.
    Dir,
    /// `-m dom`: a pattern is a `.`-delimited part (a domain label run).
    Dom,
    /// `-m bin`: the exact bytes, patterns written in hexadecimal.
    Bin,
}

impl Method {
    /// The method named after `-m` (or a fetch suffix), if any.
    pub fn from_name(s: &str) -> Option<Method> {
        Some(match s {
            "found" => Method::Found,
            "bool" => Method::Bool,
            "int" => Method::Int,
            "ip" => Method::Ip,
            "len" => Method::Len,
            "str" => Method::Str,
            "beg" => Method::Beg,
            "end" => Method::End,
            "sub" => Method::Sub,
            "reg" => Method::Reg,
            "dir" => Method::Dir,
            "dom" => Method::Dom,
            "bin" => Method::Bin,
            _ => return None,
        })
    }

    /// Whether the method takes no pattern at all.
    pub fn takes_no_pattern(self) -> bool {
        matches!(self, Method::Found | Method::Bool)
    }

    /// Whether the method compares integers (operators allowed).
    pub fn is_numeric(self) -> bool {
        matches!(self, Method::Int | Method::Len)
    }
}

/// A byte trie: each node's children sorted by byte, `NONE` where no pattern ends.
#[derive(Debug, Clone)]
struct Trie {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
struct Node {
    children: Vec<(u8, u32)>,
    value: u32,
}

const NONE: u32 = u32::MAX;

impl Trie {
    fn new() -> Trie {
        Trie {
            nodes: vec![Node {
                children: Vec::new(),
                value: NONE,
            }],
        }
    }

    fn insert(&mut self, key: impl Iterator<Item = u8>, value: u32) {
        let mut at = 0usize;
        for b in key {
            at = match self.nodes[at].children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => self.nodes[at].children[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len() as u32;
                    self.nodes.push(Node {
                        children: Vec::new(),
                        value: NONE,
                    });
                    self.nodes[at].children.insert(i, (b, id));
                    id as usize
                }
            };
        }
        if self.nodes[at].value == NONE {
            self.nodes[at].value = value;
        }
    }

    /// The value of the longest key that prefixes `bytes`.
    fn longest(&self, bytes: impl Iterator<Item = u8>) -> Option<u32> {
        let mut at = 0usize;
        let mut best = self.nodes[0].value;
        for b in bytes {
            let ch = &self.nodes[at].children;
            match ch.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => at = ch[i].1 as usize,
                Err(_) => break,
            }
            if self.nodes[at].value != NONE {
                best = self.nodes[at].value;
            }
        }
        (best != NONE).then_some(best)
    }
}

/// A multiply-fold hash for the exact-match table: its keys come from the
/// configuration (patterns, map files), not from clients, so SipHash's flood
/// resistance buys nothing; this costs a fraction of it per lookup.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl KeyHasher {
    fn mix(&mut self, n: u64) {
        let m = u128::from(self.0 ^ n) * 0x9e37_79b9_7f4a_7c15;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.mix(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The compiled patterns of one method.
#[derive(Debug, Clone)]
enum Store {
    None,
    Ranges(Vec<(i64, i64, u32)>),
    Ip(IpTable),
    Exact(HashMap<Box<[u8]>, u32, BuildHasherDefault<KeyHasher>>),
    Beg(Trie),
    End(Trie),
    /// `sub`, `dir`, `dom`: each pattern's searcher, built at load time.
    List(Vec<(Finder<'static>, u32)>),
    Reg(Option<RegexSet>, Vec<u32>),
}

/// A compiled set of patterns for one match method.
#[derive(Debug, Clone)]
pub struct Patterns {
    method: Method,
    icase: bool,
    store: Store,
    count: usize,
}

/// Collects patterns before [`Patterns`] is compiled (regexes compile once, at the end).
#[derive(Debug)]
pub struct Builder {
    method: Method,
    icase: bool,
    store: Store,
    regs: Vec<String>,
    count: usize,
}

impl Builder {
    /// A builder for `method`, case-insensitive when `icase` (`-i`).
    pub fn new(method: Method, icase: bool) -> Builder {
        let store = match method {
            Method::Found | Method::Bool => Store::None,
            Method::Int | Method::Len => Store::Ranges(Vec::new()),
            Method::Ip => Store::Ip(IpTable::new()),
            Method::Str | Method::Bin => Store::Exact(HashMap::default()),
            Method::Beg => Store::Beg(Trie::new()),
            Method::End => Store::End(Trie::new()),
            Method::Sub | Method::Dir | Method::Dom => Store::List(Vec::new()),
            Method::Reg => Store::Reg(None, Vec::new()),
        };
        Builder {
            method,
            icase,
            store,
            regs: Vec::new(),
            count: 0,
        }
    }

    /// Adds one pattern whose match answers `value`.
    pub fn add(&mut self, pat: &str, value: u32) -> Result<(), String> {
        let key: Box<[u8]> = if self.method == Method::Bin {
            unhex(pat).ok_or_else(|| format!("'{pat}' is not a hexadecimal string"))?
        } else if self.icase {
            pat.to_ascii_lowercase().into_bytes().into()
        } else {
            pat.as_bytes().into()
        };
        match &mut self.store {
            // HAProxy accepts and ignores patterns for `found` and `bool`.
            Store::None => return Ok(()),
            Store::Ranges(r) => {
                let (lo, hi) = parse_range(pat)?;
                r.push((lo, hi, value));
            }
            Store::Ip(t) => {
                let (a, l) = parse_cidr(pat)?;
                t.insert(a, l, value);
            }
            Store::Exact(m) => {
                m.entry(key).or_insert(value);
            }
            Store::Beg(t) => t.insert(key.iter().copied(), value),
            Store::End(t) => t.insert(key.iter().rev().copied(), value),
            Store::List(l) => {
                let key = match self.method {
                    Method::Dir => trim_delims(&key, DIR_DELIMS),
                    Method::Dom => trim_delims(&key, DOM_DELIMS),
                    _ => key,
                };
                l.push((Finder::new(&key).into_owned(), value));
            }
            Store::Reg(_, vals) => {
                regex::bytes::Regex::new(pat).map_err(|e| format!("invalid regex '{pat}': {e}"))?;
                self.regs.push(pat.to_string());
                vals.push(value);
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Compiles the patterns.
    pub fn finish(mut self) -> Result<Patterns, String> {
        if let Store::Reg(set, _) = &mut self.store {
            let built = RegexSetBuilder::new(&self.regs)
                .case_insensitive(self.icase)
                .build()
                .map_err(|e| format!("invalid regex set: {e}"))?;
            *set = Some(built);
        }
        Ok(Patterns {
            method: self.method,
            icase: self.icase,
            store: self.store,
            count: self.count,
        })
    }
}

/// Hexadecimal `474554` → `GET` (`-m bin` patterns).
fn unhex(s: &str) -> Option<Box<[u8]>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    b.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

const DIR_DELIMS: &[u8] = b"/?";
const DOM_DELIMS: &[u8] = b"/?.:";

fn trim_delims(key: &[u8], delims: &[u8]) -> Box<[u8]> {
    let start = key.iter().position(|b| !delims.contains(b));
    let end = key.iter().rposition(|b| !delims.contains(b));
    match (start, end) {
        (Some(s), Some(e)) => key[s..=e].into(),
        _ => Box::new([]),
    }
}

/// Parses `n`, `a:b`, `a:` or `:b` into an inclusive range.
pub fn parse_range(s: &str) -> Result<(i64, i64), String> {
    let num = |t: &str| {
        t.parse::<i64>()
            .map_err(|_| format!("'{s}' is not an integer or an integer range (a:b)"))
    };
    match s.split_once(':') {
        None => num(s).map(|n| (n, n)),
        Some((a, b)) => {
            let lo = if a.is_empty() { i64::MIN } else { num(a)? };
            let hi = if b.is_empty() { i64::MAX } else { num(b)? };
            if lo > hi {
                return Err(format!("range '{s}': lower bound above upper bound"));
            }
            Ok((lo, hi))
        }
    }
}

impl Patterns {
    /// The match method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// How many patterns were added.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no pattern was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The index of the pattern `v` matches, if any (`c` is scratch space).
    pub fn find(&self, v: Val<'_>, c: &mut Vec<u8>) -> Option<u32> {
        match self.method {
            Method::Found => Some(0),
            Method::Bool => truthy(v).then_some(0),
            Method::Int => self.ranges(as_int(v)?),
            Method::Len => self.ranges(len_of(v, c)? as i64),
            Method::Ip => match &self.store {
                Store::Ip(t) => t.lookup(as_ip(v)?),
                _ => None,
            },
            _ => {
                let s = as_bytes(v, c);
                if self.icase && !matches!(self.store, Store::Reg(..)) && self.method != Method::Bin
                {
                    let lowered = lower_into(s, c);
                    self.find_str(lowered)
                } else {
                    self.find_str(s.get(c))
                }
            }
        }
    }

    fn ranges(&self, n: i64) -> Option<u32> {
        match &self.store {
            Store::Ranges(r) => r
                .iter()
                .find(|(lo, hi, _)| (*lo..=*hi).contains(&n))
                .map(|r| r.2),
            _ => None,
        }
    }

    fn find_str(&self, s: &[u8]) -> Option<u32> {
        match &self.store {
            Store::Exact(m) => m.get(s).copied(),
            Store::Beg(t) => t.longest(s.iter().copied()),
            Store::End(t) => t.longest(s.iter().rev().copied()),
            Store::List(l) => l
                .iter()
                .find(|(p, _)| match self.method {
                    Method::Sub => p.find(s).is_some(),
                    Method::Dir => match_word(s, p, DIR_DELIMS),
                    _ => match_word(s, p, DOM_DELIMS),
                })
                .map(|(_, v)| *v),
            Store::Reg(Some(set), vals) => set.matches(s).iter().next().map(|i| vals[i]),
            _ => None,
        }
    }
}

/// Whether `pat` occurs in `s` with a delimiter (or the edge) on each side.
fn match_word(s: &[u8], pat: &Finder<'_>, delims: &[u8]) -> bool {
    let len = pat.needle().len();
    if len == 0 {
        return false;
    }
    let mut from = 0;
    while let Some(i) = pat.find(&s[from..]) {
        let start = from + i;
        let end = start + len;
        let before = start == 0 || delims.contains(&s[start - 1]);
        let after = end == s.len() || delims.contains(&s[end]);
        if before && after {
            return true;
        }
        from = start + 1;
    }
    false
}

/// A string view of a sample: borrowed, or formatted into the scratch buffer.
enum Bytes<'a> {
    Borrowed(&'a [u8]),
    InScratch,
}

impl<'a> Bytes<'a> {
    fn get<'s>(&self, c: &'s [u8]) -> &'s [u8]
    where
        'a: 's,
    {
        match self {
            Bytes::Borrowed(b) => b,
            Bytes::InScratch => c,
        }
    }
}

fn as_bytes<'a>(v: Val<'a>, c: &mut Vec<u8>) -> Bytes<'a> {
    match v {
        Val::Str(s) => Bytes::Borrowed(s),
        Val::Int(n) => {
            c.clear();
            let _ = write!(c, "{n}");
            Bytes::InScratch
        }
        Val::Bool(b) => Bytes::Borrowed(if b { b"1" } else { b"0" }),
        Val::Ip(a) => {
            c.clear();
            let _ = write!(c, "{a}");
            Bytes::InScratch
        }
    }
}

/// Lowers `s` (or the scratch content) into the scratch buffer.
fn lower_into<'c>(s: Bytes<'_>, c: &'c mut Vec<u8>) -> &'c [u8] {
    match s {
        Bytes::Borrowed(b) => {
            c.clear();
            c.extend(b.iter().map(u8::to_ascii_lowercase));
        }
        Bytes::InScratch => c.make_ascii_lowercase(),
    }
    c
}

/// A sample as a boolean (HAProxy's casts).
pub fn truthy(v: Val<'_>) -> bool {
    match v {
        Val::Bool(b) => b,
        Val::Int(n) => n != 0,
        Val::Str(s) => !s.is_empty(),
        Val::Ip(_) => true,
    }
}

/// A sample as an integer: strings are read as a leading decimal number.
pub fn as_int(v: Val<'_>) -> Option<i64> {
    match v {
        Val::Int(n) => Some(n),
        Val::Bool(b) => Some(b as i64),
        Val::Str(s) => parse_leading_int(s),
        Val::Ip(_) => None,
    }
}

/// Reads an optionally signed decimal number at the start of `s` (after blanks).
pub fn parse_leading_int(s: &[u8]) -> Option<i64> {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut v: i64 = 0;
    for d in &digits[..n] {
        v = v.checked_mul(10)?.checked_add((d - b'0') as i64)?;
    }
    Some(if neg { -v } else { v })
}

fn as_ip(v: Val<'_>) -> Option<IpAddr> {
    match v {
        Val::Ip(a) => Some(a),
        Val::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn len_of(v: Val<'_>, c: &mut Vec<u8>) -> Option<usize> {
    match v {
        Val::Str(s) => Some(s.len()),
        other => Some(as_bytes(other, c).get(c).len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(m: Method, icase: bool, p: &[&str]) -> Patterns {
        let mut b = Builder::new(m, icase);
        for (i, s) in p.iter().enumerate() {
            b.add(s, i as u32).unwrap();
        }
        b.finish().unwrap()
    }

    fn hit(p: &Patterns, s: &str) -> Option<u32> {
        p.find(Val::Str(s.as_bytes()), &mut Vec::new())
    }

    #[test]
    fn str_beg_end_sub() {
        let p = pats(Method::Str, false, &["/a", "/b"]);
        assert_eq!(hit(&p, "/b"), Some(1));
        assert_eq!(hit(&p, "/B"), None);
        let p = pats(Method::Str, true, &["WWW.Example.com"]);
        assert_eq!(hit(&p, "www.EXAMPLE.com"), Some(0));
        let p = pats(Method::Beg, false, &["/api", "/api/v2", "/static"]);
        assert_eq!(hit(&p, "/api/v2/x"), Some(1));
        assert_eq!(hit(&p, "/api/v1"), Some(0));
        assert_eq!(hit(&p, "/ap"), None);
        let p = pats(Method::End, true, &[".JPG", ".png"]);
        assert_eq!(hit(&p, "/x/y.jpg"), Some(0));
        assert_eq!(hit(&p, "/x/y.gif"), None);
        let p = pats(Method::Sub, false, &["admin"]);
        assert_eq!(hit(&p, "/x/admin/y"), Some(0));
        assert_eq!(hit(&p, "/x/adm/y"), None);
    }

    #[test]
    fn dir_dom_reg() {
        let p = pats(Method::Dir, false, &["/img/"]);
        assert_eq!(hit(&p, "/static/img/a.png"), Some(0));
        assert_eq!(hit(&p, "/static/images/a.png"), None);
        assert_eq!(hit(&p, "/img?x"), Some(0));
        let p = pats(Method::Dom, false, &["example.com"]);
        assert_eq!(hit(&p, "www.example.com"), Some(0));
        assert_eq!(hit(&p, "example.com:8080"), Some(0));
        assert_eq!(hit(&p, "badexample.com"), None);
        let p = pats(Method::Reg, true, &["^/API/v[0-9]+", "\\.php$"]);
        assert_eq!(hit(&p, "/api/v12/x"), Some(0));
        assert_eq!(hit(&p, "/index.php"), Some(1));
        assert_eq!(hit(&p, "/index.html"), None);
        assert!(Builder::new(Method::Reg, false).add("(", 0).is_err());
    }

    #[test]
    fn ints_len_bool_found() {
        let p = pats(Method::Int, false, &["80", "1000:2000", ":10", "60000:"]);
        let f = |n| p.find(Val::Int(n), &mut Vec::new());
        assert_eq!(f(80), Some(0));
        assert_eq!(f(1500), Some(1));
        assert_eq!(f(-3), Some(2));
        assert_eq!(f(65000), Some(3));
        assert_eq!(f(81), None);
        assert_eq!(p.find(Val::Str(b"1999"), &mut Vec::new()), Some(1));
        let p = pats(Method::Len, false, &["3"]);
        assert_eq!(hit(&p, "abc"), Some(0));
        assert_eq!(p.find(Val::Int(123), &mut Vec::new()), Some(0));
        let p = pats(Method::Bool, false, &[]);
        assert_eq!(p.find(Val::Int(0), &mut Vec::new()), None);
        assert_eq!(p.find(Val::Bool(true), &mut Vec::new()), Some(0));
        assert!(Builder::new(Method::Found, false).add("x", 0).is_ok());
        assert!(parse_range("5:1").is_err());
        assert!(parse_range("x").is_err());
    }

    #[test]
    fn ints_are_formatted_for_string_methods() {
        let p = pats(Method::Beg, false, &["80"]);
        assert_eq!(p.find(Val::Int(8080), &mut Vec::new()), Some(0));
        let p = pats(Method::Str, true, &["10.0.0.1"]);
        assert_eq!(
            p.find(Val::Ip("10.0.0.1".parse().unwrap()), &mut Vec::new()),
            Some(0)
        );
    }

    #[test]
    fn leading_ints() {
        assert_eq!(parse_leading_int(b" 42abc"), Some(42));
        assert_eq!(parse_leading_int(b"-7"), Some(-7));
        assert_eq!(parse_leading_int(b"x"), None);
        assert_eq!(parse_leading_int(b"99999999999999999999"), None);
    }
}
