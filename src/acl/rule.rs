//! One `acl` line compiled: a sample expression ([`Expr`]: fetch, cast,
//! converters) and its patterns, with the flags and operators applied.
//!
//! `acl <name> <fetch>[,<conv>]... [flags] [operator] <value>...`
//!
//! Flags: `-i` (case-insensitive), `-f <file>` (several allowed), `-m <method>`,
//! `-n` (no DNS resolution: ringlb never resolves patterns, so a no-op), `--`
//! (end of flags). `-M` and `-u` are refused. Operators `eq ge gt le lt` apply
//! to integer methods (`int`, `len`) only, as in HAProxy; for other methods the
//! word is a pattern. `method` ignores `-i` (HAProxy compares known methods
//! by their code, so `method -i get` does not match `GET`).

use std::path::Path;

use super::cond::Tri;
use super::conv::{self, Conv, Out};
use super::expr::split_expr;
use super::fetch::{self, Cast, Fetch, Names};
use super::map::{MapValue, OutType, add_file, resolve};
use super::pattern::{Builder, Method, Patterns, parse_range};
use super::sample::{Sample, Scratch, Val};

/// A sample expression: a fetch, the cast its ACL suffix implies, converters.
#[derive(Debug, Clone)]
pub struct Expr {
    /// What is read.
    pub fetch: Fetch,
    /// `_val`/`_ip` cast.
    pub cast: Cast,
    /// Converters, applied in order.
    pub convs: Vec<Conv>,
}

/// One compiled `acl` line (or anonymous `{ ... }` block).
#[derive(Debug, Clone)]
pub struct Acl {
    /// The sample expression.
    pub expr: Expr,
    /// The patterns, compiled for the match method.
    pub patterns: Patterns,
}

/// Parses the words of an `acl` line after `acl <name>`: the expression,
/// flags, operator and values. Pattern files resolve under `base`.
pub fn parse_acl(words: &[String], base: Option<&Path>) -> Result<Acl, String> {
    let Some(first) = words.first() else {
        return Err("missing fetch method in ACL".to_string());
    };
    let (mut expr, default) = parse_expr(first, base)?;
    let mut rest = &words[1..];
    let mut icase = false;
    let mut method = None;
    let mut files = Vec::new();
    while let Some(w) = rest.first().filter(|w| w.starts_with('-')) {
        rest = &rest[1..];
        match w.as_str() {
            "-i" => icase = true,
            "-n" => {}
            "--" => break,
            "-m" | "-f" => {
                let Some(arg) = rest.first() else {
                    return Err(format!("missing argument after '{w}'"));
                };
                rest = &rest[1..];
                if w == "-f" {
                    files.push(resolve(arg, base));
                } else {
                    method = Some(
                        Method::from_name(arg)
                            .ok_or_else(|| format!("unknown match method '{arg}' after '-m'"))?,
                    );
                }
            }
            "-M" | "-u" => return Err(format!("ACL flag '{w}' is not supported by ringlb")),
            _ => return Err(format!("unknown ACL flag '{w}'")),
        }
    }
    if method.is_none()
        && expr.convs.is_empty()
        && matches!(expr.fetch, Fetch::Var(..) | Fetch::ProcVar(..))
    {
        return Err(
            "matching method must be specified first (using '-m') when using a sample fetch \
             of this type ('var')"
                .to_string(),
        );
    }
    // `http_auth_group(L) <groups>`: group names, matched exactly (HAProxy ignores `-i`).
    if fetch::acl_form(
        &mut expr.fetch,
        !expr.convs.is_empty(),
        method.is_some(),
        !files.is_empty(),
        rest,
    )? {
        icase = false;
    }
    let method = method.unwrap_or(default);
    // HAProxy compares known methods by their code: `-i` never makes `get` match GET.
    if matches!(expr.fetch, Fetch::Method) && expr.convs.is_empty() {
        icase = false;
    }
    let mut b = Builder::new(method, icase);
    // HAProxy writes SSL versions as `major.minor` (`req.ssl_ver 3.1`).
    let dotted: Vec<String>;
    let rest = if matches!(expr.fetch, Fetch::SslVer) && expr.convs.is_empty() {
        dotted = rest.iter().map(|w| dotted_version(w)).collect();
        &dotted[..]
    } else {
        rest
    };
    add_values(&mut b, method, rest)?;
    for f in &files {
        add_file(&mut b, f)?;
    }
    Ok(Acl {
        expr,
        patterns: b.finish()?,
    })
}

/// `3.1` → `196609` (`0x030001`), in each bound of a range; other words unchanged.
fn dotted_version(w: &str) -> String {
    let one = |p: &str| match p.split_once('.') {
        Some((a, b)) => match (a.parse::<i64>(), b.parse::<i64>()) {
            (Ok(a), Ok(b)) if (0..=0xffff).contains(&b) => ((a << 16) + b).to_string(),
            _ => p.to_string(),
        },
        None => p.to_string(),
    };
    match w.split_once(':') {
        Some((lo, hi)) => format!("{}:{}", one(lo), one(hi)),
        None => one(w),
    }
}

/// Adds the values after the flags, applying an integer operator if any.
fn add_values(b: &mut Builder, method: Method, words: &[String]) -> Result<(), String> {
    let op = match words.first().map(String::as_str) {
        Some(o @ ("eq" | "ge" | "gt" | "le" | "lt")) if method.is_numeric() => Some(o),
        _ => None,
    };
    let values = if op.is_some() { &words[1..] } else { words };
    for (i, v) in values.iter().enumerate() {
        match op {
            None | Some("eq") => b.add(v, i as u32)?,
            Some(o) => {
                let (n, _) = parse_range(v)?;
                let range = match o {
                    "ge" => format!("{n}:"),
                    "gt" => format!("{}:", n.saturating_add(1)),
                    "le" => format!(":{n}"),
                    _ => format!(":{}", n.saturating_sub(1)),
                };
                b.add(&range, i as u32)?;
            }
        }
    }
    Ok(())
}

/// Compiles `fetch[,conv]...`; answers the expression and its default method.
pub fn parse_expr(word: &str, base: Option<&Path>) -> Result<(Expr, Method), String> {
    let calls = split_expr(word)?;
    let kw = fetch::acl_keyword(&calls[0])?;
    let mut method = kw.method;
    let mut convs = Vec::new();
    for c in &calls[1..] {
        let cv = conv::compile(c, base)?;
        method = conv_method(&cv, method);
        convs.push(cv);
    }
    let expr = Expr {
        fetch: kw.fetch,
        cast: kw.cast,
        convs,
    };
    Ok((expr, method))
}

/// The default match method after converter `c` (from its output type).
fn conv_method(c: &Conv, before: Method) -> Method {
    match c {
        Conv::Length => Method::Int,
        Conv::Ipmask(..) => Method::Ip,
        Conv::Map(_, d) => match d {
            Some(MapValue::Int(_)) => Method::Int,
            Some(MapValue::Ip(_)) => Method::Ip,
            _ => map_out_method(c),
        },
        _ if before.is_numeric() || matches!(before, Method::Ip | Method::Bool | Method::Bin) => {
            Method::Str
        }
        _ => before,
    }
}

fn map_out_method(c: &Conv) -> Method {
    match c {
        Conv::Map(t, _) => match t.out_type() {
            OutType::Int => Method::Int,
            OutType::Ip => Method::Ip,
            OutType::Str => Method::Str,
        },
        _ => Method::Str,
    }
}

/// The current value while converters run: the fetched one, or a converter's output.
fn view(o: Out, buf: &[u8]) -> Val<'_> {
    match o {
        Out::Str => Val::Str(buf),
        Out::Int(n) => Val::Int(n),
        Out::Bool(b) => Val::Bool(b),
        Out::Ip(a) => Val::Ip(a),
    }
}

impl Expr {
    /// Calls `f` on each final value (after cast and converters) until it answers true.
    pub fn for_each<S, F>(&self, s: &S, sc: &mut Scratch, mut f: F) -> bool
    where
        S: Sample + ?Sized,
        F: FnMut(Val<'_>, &mut Vec<u8>) -> bool,
    {
        let Scratch {
            fetch, x, y, low, ..
        } = sc;
        self.fetch.for_each(s, fetch, |v| {
            let Some(v) = fetch::cast(v, self.cast) else {
                return false;
            };
            let mut cur = None;
            for c in &self.convs {
                let input = cur.map_or(v, |o| view(o, x));
                let Some(o) = c.apply(input, y, low) else {
                    return false;
                };
                std::mem::swap(x, y);
                cur = Some(o);
            }
            f(cur.map_or(v, |o| view(o, x)), low)
        })
    }

    /// Resolves proxy and server names in the fetch.
    pub fn link(&mut self, n: &dyn Names) -> Result<(), String> {
        self.fetch.link(n)
    }
}

impl Acl {
    /// Whether any value of the sample matches any pattern.
    #[inline]
    pub fn matches<S: Sample + ?Sized>(&self, s: &S, sc: &mut Scratch) -> bool {
        self.expr
            .for_each(s, sc, |v, low| self.patterns.find(v, low).is_some())
    }

    /// [`Acl::matches`], three-valued: no match yet on contents that may
    /// still grow is a [`Tri::Miss`].
    pub fn test<S: Sample + ?Sized>(&self, s: &S, sc: &mut Scratch) -> Tri {
        if self.matches(s, sc) {
            Tri::Pass
        } else if self.expr.fetch.may_change(s) {
            Tri::Miss
        } else {
            Tri::Fail
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::map::TempFile;
    use super::super::sample::TestSample;
    use super::*;

    fn acl(line: &str) -> Acl {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse_acl(&words, None).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn err(line: &str) -> String {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse_acl(&words, None).unwrap_err()
    }

    fn m(line: &str, s: &TestSample) -> bool {
        acl(line).matches(s, &mut Scratch::new())
    }

    #[test]
    fn flags_and_methods() {
        let s = TestSample::get("/Static/img/a.PNG?x=1").header("Host", "WWW.Example.com");
        assert!(m("path_beg /Static", &s));
        assert!(!m("path_beg /static", &s));
        assert!(m("path_beg -i /static", &s));
        assert!(m("path -m beg /Static/", &s));
        assert!(m("path_end -i .png .jpg", &s));
        assert!(m("path_dir img", &s));
        assert!(m("hdr_dom(host) -i example.com", &s));
        assert!(m("hdr(host) -m reg -i ^www\\.", &s));
        assert!(m("path_len 17", &s));
        assert!(m("path_len gt 10", &s));
        assert!(m("hdr(host) -m found", &s));
        assert!(!m("hdr(x-none) -m found", &s));
        assert!(m("hdr(host),lower www.example.com", &s));
        assert!(m("hdr(host),lower,length 15", &s));
        assert!(m("url_sub x=1", &s));
    }

    #[test]
    fn operators_and_ranges() {
        let s = TestSample::get("/").header("Content-Length", "1500");
        for (line, want) in [
            ("hdr_val(content-length) gt 1000", true),
            ("hdr_val(content-length) gt 1500", false),
            ("hdr_val(content-length) ge 1500", true),
            ("hdr_val(content-length) lt 1500", false),
            ("hdr_val(content-length) le 1500", true),
            ("hdr_val(content-length) eq 1500", true),
            ("hdr_val(content-length) 1000:2000", true),
            ("hdr_val(content-length) 2000:", false),
            ("hdr_val(content-length) :1500", true),
            ("hdr_cnt(content-length) 1", true),
            ("dst_port 80 443", true),
            ("dst_port 8000:8999", false),
        ] {
            assert_eq!(m(line, &s), want, "{line}");
        }
        // HAProxy accepts an operator without a value: the ACL never matches.
        assert!(!m("hdr_val(content-length) gt", &s));
        assert!(err("hdr_val(x) gt abc").contains("abc"));
        // For string methods an operator word is a pattern.
        assert!(m("path_beg eq", &TestSample::get("eq/x")));
    }

    #[test]
    fn cidr_v4_v6_and_files() {
        let s = TestSample::get("/").src("10.1.2.3:1000");
        assert!(m("src 10.0.0.0/8", &s));
        assert!(!m("src 192.168.0.0/16 ::1", &s));
        assert!(m("src 192.168.0.0/16 10.1.2.3", &s));
        let s6 = TestSample::get("/").src("[2001:db8::5]:1000");
        assert!(m("src 2001:db8::/32", &s6));
        assert!(!m("src 2001:db9::/32 10.0.0.0/8", &s6));
        let f = TempFile::new("cidrs", "# nets\n192.168.0.0/16\n10.0.0.0/8\n");
        let line = format!("src -f {}", f.0.display());
        assert!(m(&line, &s));
        let g = TempFile::new("more", "2001:db8::/32\n");
        let two = format!("src -f {} -f {}", f.0.display(), g.0.display());
        assert!(m(&two, &s6));
        assert!(err("src -f /nonexistent/x").contains("/nonexistent/x"));
        assert!(err("src 10.0.0.0/40").contains("10.0.0.0/40"));
    }

    #[test]
    fn bool_found_and_errors() {
        let s = TestSample::get("/");
        assert!(m("always_true", &s));
        assert!(!m("always_false", &s));
        assert!(!m("ssl_fc", &s));
        assert!(m("wait_end", &s));
        assert!(m("req.proto_http", &s));
        assert!(m("always_true 1", &s));
        assert!(err("var(txn.x) foo").contains("'-m'"));
        assert!(!m("var(txn.x) -m str foo", &s));
        assert!(err("path -m nope x").contains("unknown match method 'nope'"));
        assert!(err("path -x").contains("unknown ACL flag '-x'"));
        assert!(err("path -u 3 x").contains("not supported"));
        assert!(err("path -f").contains("missing argument"));
        assert!(err("req.ssl_frob foo").contains("req.ssl_frob"));
        assert!(err("path,frob").contains("frob"));
    }

    #[test]
    fn map_converter_in_acl() {
        let f = TempFile::new("hosts.map", "example.com app\nstatic.example.com static\n");
        let s = TestSample::get("/").header("host", "Static.Example.com");
        let line = format!("hdr(host),lower,map({},none) static", f.0.display());
        assert!(m(&line, &s));
        let line = format!("hdr(host),map({}) -m found", f.0.display());
        assert!(!m(&line, &s));
    }
}
