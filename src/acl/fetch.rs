//! Fetches: what a sample expression reads from the request, the connection
//! or the run-time state, compiled from its call (`hdr(host,-1)`) once.
//!
//! ACL keywords with a suffix (`path_beg`, `hdr_cnt`, `urlp_val`) are split
//! here into the base fetch, its default match method and a cast
//! ([`AclKeyword`]). A fetch may yield several values (every occurrence of a
//! header, every `Cookie` with the name): [`Fetch::for_each`] hands them out
//! one by one and stops at the first the caller accepts.

use std::net::SocketAddr;

use super::expr::Call;
use super::pattern::{Method, parse_leading_int};
use super::sample::{Sample, Val};

/// Names of other proxies and servers, resolved to indices after the whole
/// configuration is read (`nbsrv(app)`, `srv_is_up(app/s1)`).
pub trait Names {
    /// The index of backend `name`.
    fn backend(&self, name: &str) -> Option<usize>;
    /// The index of frontend `name`.
    fn frontend(&self, name: &str) -> Option<usize>;
    /// The index of server `name` in backend `backend`.
    fn server(&self, backend: usize, name: &str) -> Option<usize>;
}

/// A proxy or server named in a fetch argument; `id` is set by linking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The name as written (empty: the current proxy).
    pub name: String,
    /// The resolved index (`usize::MAX` until linked).
    pub id: usize,
}

impl Target {
    fn new(name: Option<&String>) -> Target {
        Target {
            name: name.cloned().unwrap_or_default(),
            id: usize::MAX,
        }
    }
}

/// Which header list a header fetch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The request's headers.
    Req,
    /// The response's headers.
    Res,
}

/// Which occurrence(s) of a header: all, or one counted from the first (1)
/// or from the last (-1).
pub type Occ = i64;

/// A compiled fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `src`: the client address.
    Src,
    /// `src_port`.
    SrcPort,
    /// `dst`: the local address.
    Dst,
    /// `dst_port`.
    DstPort,
    /// `method`.
    Method,
    /// `path`: the URI's path, without the query.
    Path,
    /// `url`: the request target as received.
    Url,
    /// `base`: `Host` followed by the path.
    Base,
    /// `query`: what follows the first `?`.
    Query,
    /// `url_param(<name>[,<delim>])` / `urlp`.
    UrlParam(Box<[u8]>, u8),
    /// `hdr(<name>[,<occ>])` and friends; `full` for `fhdr` (no comma split).
    Hdr {
        /// Request or response.
        side: Side,
        /// Lower-case header name (empty: every header).
        name: Box<[u8]>,
        /// 0 = every occurrence.
        occ: Occ,
        /// Whole lines (`fhdr`) rather than comma-separated values.
        full: bool,
    },
    /// `hdr_cnt([<name>])` and friends.
    HdrCnt {
        /// Request or response.
        side: Side,
        /// Lower-case header name (empty: every header).
        name: Box<[u8]>,
        /// Count lines (`fhdr_cnt`) rather than values.
        full: bool,
    },
    /// `req.cook([<name>])` / `cook`.
    Cook(Box<[u8]>),
    /// `req.cook_cnt([<name>])` / `cook_cnt`.
    CookCnt(Box<[u8]>),
    /// `req.ver`: `1.0`, `1.1`.
    ReqVer,
    /// `req.body_size`.
    BodySize,
    /// `req.len`.
    ReqLen,
    /// `req.proto_http`.
    ProtoHttp,
    /// `wait_end`: true (ringlb evaluates on a whole head).
    WaitEnd,
    /// `status`.
    Status,
    /// `nbsrv([<backend>])`.
    Nbsrv(Target),
    /// `srv_is_up(<backend>/<server>)`.
    SrvIsUp(Target, Target),
    /// `be_conn([<backend>])`.
    BeConn(Target),
    /// `fe_conn([<frontend>])`.
    FeConn(Target),
    /// `var(<name>)`.
    Var(String),
    /// `always_true`.
    AlwaysTrue,
    /// `always_false`.
    AlwaysFalse,
    /// `ssl_fc`: false until ringlb terminates TLS.
    SslFc,
    /// `ssl_fc_sni`.
    SslSni,
}

/// What an ACL keyword's suffix adds to its base fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    /// The value as fetched.
    None,
    /// `_val`: read as an integer.
    Int,
    /// `_ip`: read as an address.
    Ip,
}

/// An ACL keyword split into its fetch, default method and cast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclKeyword {
    /// The compiled fetch.
    pub fetch: Fetch,
    /// The match method used when no `-m` is given.
    pub method: Method,
    /// The cast its suffix implies.
    pub cast: Cast,
}

const STR_SUFFIXES: &[(&str, Method)] = &[
    ("beg", Method::Beg),
    ("dir", Method::Dir),
    ("dom", Method::Dom),
    ("end", Method::End),
    ("len", Method::Len),
    ("reg", Method::Reg),
    ("sub", Method::Sub),
];
const STR_SUFFIXED: &[&str] = &["path", "url", "base", "hdr", "shdr", "urlp", "cook"];
const CNT_SUFFIXED: &[&str] = &[
    "hdr", "req.hdr", "req.fhdr", "shdr", "res.hdr", "res.fhdr", "cook", "req.cook",
];
const VAL_SUFFIXED: &[&str] = &[
    "hdr", "req.hdr", "shdr", "res.hdr", "urlp", "cook", "req.cook",
];
const IP_SUFFIXED: &[&str] = &["hdr", "req.hdr", "shdr", "res.hdr"];

/// Every fetch name ringlb knows, for "unknown fetch" messages.
pub const NAMES: &[&str] = &[
    "src",
    "src_port",
    "dst",
    "dst_port",
    "method",
    "path",
    "url",
    "base",
    "query",
    "url_param",
    "urlp",
    "hdr",
    "req.hdr",
    "req.fhdr",
    "hdr_cnt",
    "req.hdr_cnt",
    "cook",
    "req.cook",
    "req.ver",
    "req.body_size",
    "req.len",
    "req.proto_http",
    "wait_end",
    "status",
    "res.hdr",
    "shdr",
    "nbsrv",
    "srv_is_up",
    "be_conn",
    "fe_conn",
    "var",
    "always_true",
    "always_false",
    "ssl_fc",
    "ssl_fc_sni",
];

/// Compiles an ACL keyword call (suffix forms allowed).
pub fn acl_keyword(c: &Call) -> Result<AclKeyword, String> {
    if let Some(k) = suffixed(c)? {
        return Ok(k);
    }
    let fetch = compile(&c.name, &c.args)?;
    let method = default_method(&fetch);
    Ok(AclKeyword {
        fetch,
        method,
        cast: Cast::None,
    })
}

/// Splits `<base>_<suffix>` when `base` defines that suffix.
fn suffixed(c: &Call) -> Result<Option<AclKeyword>, String> {
    let Some((base, suffix)) = c.name.rsplit_once('_') else {
        return Ok(None);
    };
    let (method, cast) = if let Some((_, m)) = STR_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        // HAProxy defines only `ssl_fc_sni_end` and `ssl_fc_sni_reg`.
        let sni_ok = base == "ssl_fc_sni" && (suffix == "end" || suffix == "reg");
        if !STR_SUFFIXED.contains(&base) && !sni_ok {
            return Ok(None);
        }
        (*m, Cast::None)
    } else if suffix == "cnt" && CNT_SUFFIXED.contains(&base) {
        let full = base.ends_with("fhdr");
        let fetch = match base {
            "cook" | "req.cook" => Fetch::CookCnt(name_arg(&c.args)),
            _ => Fetch::HdrCnt {
                side: side_of(base),
                name: name_arg(&c.args),
                full,
            },
        };
        check_args(&c.name, &c.args, 0, 1)?;
        return Ok(Some(AclKeyword {
            fetch,
            method: Method::Int,
            cast: Cast::None,
        }));
    } else if suffix == "val" && VAL_SUFFIXED.contains(&base) {
        (Method::Int, Cast::Int)
    } else if suffix == "ip" && IP_SUFFIXED.contains(&base) {
        (Method::Ip, Cast::Ip)
    } else {
        return Ok(None);
    };
    let fetch = compile(base, &c.args).map_err(|e| e.replace(base, &c.name))?;
    Ok(Some(AclKeyword {
        fetch,
        method,
        cast,
    }))
}

fn side_of(base: &str) -> Side {
    if base.starts_with("res.") || base == "shdr" {
        Side::Res
    } else {
        Side::Req
    }
}

fn name_arg(args: &[String]) -> Box<[u8]> {
    args.first()
        .map(|a| a.to_ascii_lowercase().into_bytes().into())
        .unwrap_or_default()
}

fn check_args(name: &str, args: &[String], min: usize, max: usize) -> Result<(), String> {
    if args.len() < min || args.len() > max {
        return Err(format!(
            "fetch method '{name}' takes {min} to {max} arguments, got {}",
            args.len()
        ));
    }
    Ok(())
}

/// Compiles a plain fetch call (`hdr(host)`), no ACL suffix.
pub fn compile(name: &str, args: &[String]) -> Result<Fetch, String> {
    let none = |f: Fetch| check_args(name, args, 0, 0).map(|_| f);
    match name {
        "src" => none(Fetch::Src),
        "src_port" => none(Fetch::SrcPort),
        "dst" => none(Fetch::Dst),
        "dst_port" => none(Fetch::DstPort),
        "method" => none(Fetch::Method),
        "path" => none(Fetch::Path),
        "url" => none(Fetch::Url),
        "base" => none(Fetch::Base),
        "query" => none(Fetch::Query),
        "req.ver" | "req_ver" => none(Fetch::ReqVer),
        "req.body_size" => none(Fetch::BodySize),
        "req.len" | "req_len" => none(Fetch::ReqLen),
        "req.proto_http" | "req_proto_http" => none(Fetch::ProtoHttp),
        "wait_end" => none(Fetch::WaitEnd),
        "status" => none(Fetch::Status),
        "always_true" => none(Fetch::AlwaysTrue),
        "always_false" => none(Fetch::AlwaysFalse),
        "ssl_fc" => none(Fetch::SslFc),
        "ssl_fc_sni" => none(Fetch::SslSni),
        "url_param" | "urlp" => url_param(name, args),
        "hdr" | "req.hdr" | "req.fhdr" | "res.hdr" | "shdr" | "res.fhdr" => hdr(name, args),
        "hdr_cnt" | "req.hdr_cnt" | "req.fhdr_cnt" | "res.hdr_cnt" | "shdr_cnt" => {
            check_args(name, args, 0, 1)?;
            let base = name.trim_end_matches("_cnt");
            Ok(Fetch::HdrCnt {
                side: side_of(base),
                name: name_arg(args),
                full: base.ends_with("fhdr"),
            })
        }
        "cook" | "req.cook" => check_args(name, args, 0, 1).map(|_| Fetch::Cook(cook_name(args))),
        "cook_cnt" | "req.cook_cnt" => {
            check_args(name, args, 0, 1).map(|_| Fetch::CookCnt(cook_name(args)))
        }
        "nbsrv" | "be_conn" | "fe_conn" => {
            check_args(name, args, 0, 1)?;
            let t = Target::new(args.first());
            Ok(match name {
                "nbsrv" => Fetch::Nbsrv(t),
                "be_conn" => Fetch::BeConn(t),
                _ => Fetch::FeConn(t),
            })
        }
        "srv_is_up" => srv_is_up(args),
        "var" => {
            check_args(name, args, 1, 2)?;
            Ok(Fetch::Var(args[0].clone()))
        }
        _ => Err(format!(
            "unknown fetch method '{name}' (ringlb supports {} and their ACL suffix forms)",
            NAMES.join(", ")
        )),
    }
}

fn cook_name(args: &[String]) -> Box<[u8]> {
    args.first()
        .map(|a| a.as_bytes().into())
        .unwrap_or_default()
}

fn url_param(name: &str, args: &[String]) -> Result<Fetch, String> {
    check_args(name, args, 0, 2)?;
    let delim = match args.get(1).map(String::as_bytes) {
        None | Some(b"") => b'&',
        Some([d]) => *d,
        Some(_) => {
            return Err(format!(
                "fetch method '{name}': delimiter must be one character"
            ));
        }
    };
    Ok(Fetch::UrlParam(cook_name(args), delim))
}

fn hdr(name: &str, args: &[String]) -> Result<Fetch, String> {
    check_args(name, args, 0, 2)?;
    let occ = match args.get(1) {
        None => 0,
        Some(o) => o.trim().parse::<i64>().map_err(|_| {
            format!("fetch method '{name}': occurrence must be an integer, got '{o}'")
        })?,
    };
    Ok(Fetch::Hdr {
        side: side_of(name),
        name: name_arg(args),
        occ,
        full: name.ends_with("fhdr"),
    })
}

fn srv_is_up(args: &[String]) -> Result<Fetch, String> {
    check_args("srv_is_up", args, 1, 1)?;
    let (b, s) = match args[0].split_once('/') {
        Some((b, s)) => (b.to_string(), s.to_string()),
        None => (String::new(), args[0].clone()),
    };
    Ok(Fetch::SrvIsUp(Target::new(Some(&b)), Target::new(Some(&s))))
}

/// The match method an ACL uses on this fetch when none is given.
pub fn default_method(f: &Fetch) -> Method {
    match f {
        Fetch::Src | Fetch::Dst => Method::Ip,
        Fetch::SrcPort
        | Fetch::DstPort
        | Fetch::HdrCnt { .. }
        | Fetch::CookCnt(_)
        | Fetch::BodySize
        | Fetch::ReqLen
        | Fetch::Status
        | Fetch::Nbsrv(_)
        | Fetch::BeConn(_)
        | Fetch::FeConn(_) => Method::Int,
        Fetch::AlwaysTrue
        | Fetch::AlwaysFalse
        | Fetch::SslFc
        | Fetch::SrvIsUp(..)
        | Fetch::ProtoHttp
        | Fetch::WaitEnd => Method::Bool,
        _ => Method::Str,
    }
}

impl Fetch {
    /// Whether the fetch reads the HTTP message (a layer-7 fetch); the others
    /// (addresses, ports, counters, constants) work on a bare TCP connection.
    pub fn needs_http(&self) -> bool {
        !matches!(
            self,
            Fetch::Src
                | Fetch::SrcPort
                | Fetch::Dst
                | Fetch::DstPort
                | Fetch::Nbsrv(_)
                | Fetch::SrvIsUp(..)
                | Fetch::BeConn(_)
                | Fetch::FeConn(_)
                | Fetch::AlwaysTrue
                | Fetch::AlwaysFalse
                | Fetch::SslFc
                | Fetch::SslSni
        )
    }

    /// Resolves proxy and server names to indices.
    pub fn link(&mut self, n: &dyn Names) -> Result<(), String> {
        let backend = |t: &mut Target| -> Result<(), String> {
            if t.name.is_empty() {
                return Ok(());
            }
            t.id = n
                .backend(&t.name)
                .ok_or_else(|| format!("no such backend '{}'", t.name))?;
            Ok(())
        };
        match self {
            Fetch::Nbsrv(t) | Fetch::BeConn(t) => backend(t),
            Fetch::FeConn(t) if !t.name.is_empty() => {
                t.id = n
                    .frontend(&t.name)
                    .ok_or_else(|| format!("no such frontend '{}'", t.name))?;
                Ok(())
            }
            Fetch::SrvIsUp(b, s) => {
                backend(b)?;
                if b.name.is_empty() {
                    return Err(format!(
                        "srv_is_up: '{}' must be <backend>/<server>",
                        s.name
                    ));
                }
                s.id = n.server(b.id, &s.name).ok_or_else(|| {
                    format!("no such server '{}' in backend '{}'", s.name, b.name)
                })?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Calls `f` with each value until it answers true; answers whether one did.
    ///
    /// `buf` holds values that must be built (`base`).
    pub fn for_each<S, F>(&self, s: &S, buf: &mut Vec<u8>, mut f: F) -> bool
    where
        S: Sample + ?Sized,
        F: FnMut(Val<'_>) -> bool,
    {
        match self {
            Fetch::Hdr {
                side,
                name,
                occ,
                full,
            } => hdr_each(s, *side, name, *occ, *full, f),
            Fetch::Cook(name) => cookies(s, name).any(|v| f(Val::Str(v))),
            Fetch::Base => {
                let Some(v) = base(s, buf) else { return false };
                f(Val::Str(v))
            }
            _ => match self.one(s) {
                Some(v) => f(v),
                None => false,
            },
        }
    }

    /// The single value of a single-valued fetch.
    fn one<'s, S: Sample + ?Sized>(&self, s: &'s S) -> Option<Val<'s>> {
        let port = |a: Option<SocketAddr>| a.map(|a| Val::Int(a.port() as i64));
        Some(match self {
            Fetch::Src => Val::Ip(s.src()?.ip()),
            Fetch::SrcPort => return port(s.src()),
            Fetch::Dst => Val::Ip(s.dst()?.ip()),
            Fetch::DstPort => return port(s.dst()),
            Fetch::Method => Val::Str(s.method()),
            Fetch::Path => Val::Str(path(s.uri())),
            Fetch::Url => Val::Str(s.uri()),
            Fetch::Query => Val::Str(query(s.uri())?),
            Fetch::UrlParam(name, d) => Val::Str(url_param_value(s.uri(), name, *d)?),
            Fetch::HdrCnt { side, name, full } => {
                Val::Int(HdrVals::new(s, *side, name, *full).count() as i64)
            }
            Fetch::CookCnt(name) => Val::Int(cookies(s, name).count() as i64),
            Fetch::ReqVer => Val::Str(s.version()),
            // HAProxy answers 0 for a request without a body (found, not absent).
            Fetch::BodySize => Val::Int(s.body_size().unwrap_or(0) as i64),
            Fetch::ReqLen => Val::Int(s.req_len() as i64),
            Fetch::ProtoHttp => Val::Bool(s.is_http()),
            Fetch::WaitEnd | Fetch::AlwaysTrue => Val::Bool(true),
            Fetch::AlwaysFalse => Val::Bool(false),
            Fetch::Status => Val::Int(s.status()? as i64),
            Fetch::Nbsrv(t) => {
                Val::Int(s.backend_up_servers(proxy(t, s.current_backend())?) as i64)
            }
            Fetch::BeConn(t) => Val::Int(s.backend_conns(proxy(t, s.current_backend())?) as i64),
            Fetch::FeConn(t) => Val::Int(s.frontend_conns(proxy(t, s.current_frontend())?) as i64),
            Fetch::SrvIsUp(b, sv) => Val::Bool(sv.id != usize::MAX && s.server_is_up(b.id, sv.id)),
            Fetch::Var(name) => s.var(name)?,
            Fetch::SslFc => Val::Bool(s.ssl_fc()),
            Fetch::SslSni => Val::Str(s.ssl_sni()?),
            Fetch::Hdr { .. } | Fetch::Cook(_) | Fetch::Base => return None,
        })
    }
}

/// The target's index, or the current proxy's when the name was empty.
fn proxy(t: &Target, current: Option<usize>) -> Option<usize> {
    if t.name.is_empty() {
        current
    } else {
        (t.id != usize::MAX).then_some(t.id)
    }
}

fn hdr_each<S, F>(s: &S, side: Side, name: &[u8], occ: Occ, full: bool, mut f: F) -> bool
where
    S: Sample + ?Sized,
    F: FnMut(Val<'_>) -> bool,
{
    let mut it = HdrVals::new(s, side, name, full);
    let pick = match occ {
        0 => return it.any(|v| f(Val::Str(v))),
        n if n > 0 => it.nth((n - 1) as usize),
        n => {
            let total = HdrVals::new(s, side, name, full).count() as i64;
            let i = total + n;
            if i < 0 {
                return false;
            }
            it.nth(i as usize)
        }
    };
    pick.is_some_and(|v| f(Val::Str(v)))
}

/// The values of one header (or of every header when `name` is empty), in order.
pub struct HdrVals<'a, S: ?Sized> {
    s: &'a S,
    side: Side,
    name: &'a [u8],
    full: bool,
    line: usize,
    rest: Option<&'a [u8]>,
}

impl<'a, S: Sample + ?Sized> HdrVals<'a, S> {
    /// Values of `name` (lower-case) on `side`; `full`: whole lines.
    pub fn new(s: &'a S, side: Side, name: &'a [u8], full: bool) -> Self {
        HdrVals {
            s,
            side,
            name,
            full,
            line: 0,
            rest: None,
        }
    }

    fn next_line(&mut self) -> Option<&'a [u8]> {
        let count = match self.side {
            Side::Req => self.s.req_header_count(),
            Side::Res => self.s.res_header_count(),
        };
        while self.line < count {
            let (n, v) = match self.side {
                Side::Req => self.s.req_header(self.line),
                Side::Res => self.s.res_header(self.line),
            };
            self.line += 1;
            if self.name.is_empty() || n.eq_ignore_ascii_case(self.name) {
                return Some(v);
            }
        }
        None
    }
}

impl<'a, S: Sample + ?Sized> Iterator for HdrVals<'a, S> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.full {
            return self.next_line().map(<[u8]>::trim_ascii);
        }
        loop {
            if let Some(rest) = self.rest {
                let (v, after) = match memchr::memchr(b',', rest) {
                    Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                    None => (rest, None),
                };
                self.rest = after;
                return Some(v.trim_ascii());
            }
            self.rest = Some(self.next_line()?);
        }
    }
}

/// The values of the cookies called `name` (the first cookie's when empty).
fn cookies<'a, S: Sample + ?Sized>(s: &'a S, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut first = name.is_empty();
    HdrVals::new(s, Side::Req, b"cookie", true)
        .flat_map(|line| line.split(|b| *b == b';'))
        .filter_map(move |pair| {
            let pair = pair.trim_ascii();
            let (n, v) = match memchr::memchr(b'=', pair) {
                Some(i) => (pair[..i].trim_ascii(), pair[i + 1..].trim_ascii()),
                None => return None,
            };
            if first {
                first = false;
                return Some(v);
            }
            (!name.is_empty() && n == name).then_some(v)
        })
}

/// The path of a request target (origin or absolute form), without the query.
pub fn path(uri: &[u8]) -> &[u8] {
    let mut p = uri;
    if p.first() != Some(&b'/')
        && let Some(i) = memchr::memmem::find(p, b"://")
    {
        let after = &p[i + 3..];
        p = match memchr::memchr(b'/', after) {
            Some(j) => &after[j..],
            None => b"",
        };
    }
    match memchr::memchr(b'?', p) {
        Some(i) => &p[..i],
        None => p,
    }
}

fn query(uri: &[u8]) -> Option<&[u8]> {
    memchr::memchr(b'?', uri).map(|i| &uri[i + 1..])
}

fn url_param_value<'a>(uri: &'a [u8], name: &[u8], d: u8) -> Option<&'a [u8]> {
    query(uri)?.split(|b| *b == d).find_map(|pair| {
        let (n, v) = match memchr::memchr(b'=', pair) {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (name.is_empty() || n == name).then_some(v)
    })
}

/// `base`: the first `Host` value followed by the path, built into `buf`.
fn base<'b, S: Sample + ?Sized>(s: &S, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    buf.clear();
    if let Some(h) = HdrVals::new(s, Side::Req, b"host", true).next() {
        buf.extend_from_slice(h);
    }
    buf.extend_from_slice(path(s.uri()));
    Some(buf)
}

/// Reads a string value as an integer (`_val` suffix) or address (`_ip`).
pub fn cast(v: Val<'_>, c: Cast) -> Option<Val<'_>> {
    match (c, v) {
        (Cast::None, v) => Some(v),
        (Cast::Int, Val::Str(s)) => parse_leading_int(s).map(Val::Int),
        (Cast::Ip, Val::Str(s)) => std::str::from_utf8(s)
            .ok()?
            .trim()
            .parse()
            .ok()
            .map(Val::Ip),
        (_, v) => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::super::sample::TestSample;
    use super::*;

    fn all(f: &Fetch, s: &TestSample) -> Vec<String> {
        let mut out = Vec::new();
        f.for_each(s, &mut Vec::new(), |v| {
            out.push(match v {
                Val::Str(b) => String::from_utf8_lossy(b).into_owned(),
                Val::Int(n) => n.to_string(),
                Val::Bool(b) => b.to_string(),
                Val::Ip(a) => a.to_string(),
            });
            false
        });
        out
    }

    fn kw(name: &str, args: &[&str]) -> AclKeyword {
        let c = Call {
            name: name.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        acl_keyword(&c).unwrap()
    }

    #[test]
    fn uri_parts() {
        assert_eq!(path(b"/a/b?x=1"), b"/a/b");
        assert_eq!(path(b"http://h:80/a?q"), b"/a");
        assert_eq!(path(b"http://h"), b"");
        let s = TestSample::get("/p?a=1&b=2&a=3").header("Host", "ex.com");
        assert_eq!(all(&Fetch::Query, &s), ["a=1&b=2&a=3"]);
        assert_eq!(all(&Fetch::Base, &s), ["ex.com/p"]);
        assert_eq!(all(&kw("urlp", &["b"]).fetch, &s), ["2"]);
        assert_eq!(
            all(&kw("url_param", &["zz"]).fetch, &s),
            Vec::<String>::new()
        );
        assert_eq!(
            all(&Fetch::Query, &TestSample::get("/")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn headers_and_occurrences() {
        let s = TestSample::get("/")
            .header("X-A", "1, 2")
            .header("x-a", "3")
            .header("Other", "z");
        assert_eq!(all(&kw("hdr", &["x-a"]).fetch, &s), ["1", "2", "3"]);
        assert_eq!(all(&kw("hdr", &["x-a", "2"]).fetch, &s), ["2"]);
        assert_eq!(all(&kw("hdr", &["x-a", "-1"]).fetch, &s), ["3"]);
        assert_eq!(
            all(&kw("hdr", &["x-a", "-9"]).fetch, &s),
            Vec::<String>::new()
        );
        assert_eq!(all(&kw("req.fhdr", &["x-a"]).fetch, &s), ["1, 2", "3"]);
        assert_eq!(all(&kw("hdr_cnt", &["X-A"]).fetch, &s), ["3"]);
        assert_eq!(all(&kw("req.fhdr_cnt", &["x-a"]).fetch, &s), ["2"]);
        assert_eq!(all(&kw("hdr_cnt", &[]).fetch, &s), ["4"]);
        let k = kw("hdr_val", &["x-a"]);
        assert_eq!((k.method, k.cast), (Method::Int, Cast::Int));
        let k = kw("hdr_beg", &["host"]);
        assert_eq!(k.method, Method::Beg);
    }

    #[test]
    fn cookies_and_counts() {
        let s = TestSample::get("/")
            .header("Cookie", "a=1; SRV=s1")
            .header("Cookie", "a=2");
        assert_eq!(all(&kw("req.cook", &["a"]).fetch, &s), ["1", "2"]);
        assert_eq!(all(&kw("cook", &["SRV"]).fetch, &s), ["s1"]);
        assert_eq!(all(&kw("cook", &[]).fetch, &s), ["1"]);
        assert_eq!(all(&kw("cook_cnt", &["a"]).fetch, &s), ["2"]);
    }

    #[test]
    fn connection_and_state() {
        let mut s = TestSample::get("/").src("[2001:db8::1]:5000");
        s.up_servers = vec![0, 3];
        s.be_conns = vec![7];
        assert_eq!(all(&Fetch::Src, &s), ["2001:db8::1"]);
        assert_eq!(all(&Fetch::SrcPort, &s), ["5000"]);
        assert_eq!(all(&Fetch::DstPort, &s), ["80"]);
        assert_eq!(all(&kw("be_conn", &[]).fetch, &s), ["7"]);
        let mut f = kw("nbsrv", &["app"]).fetch;
        assert_eq!(all(&f, &s), Vec::<String>::new());
        struct N;
        impl Names for N {
            fn backend(&self, n: &str) -> Option<usize> {
                (n == "app").then_some(1)
            }
            fn frontend(&self, _: &str) -> Option<usize> {
                None
            }
            fn server(&self, b: usize, n: &str) -> Option<usize> {
                (b == 1 && n == "s2").then_some(1)
            }
        }
        f.link(&N).unwrap();
        assert_eq!(all(&f, &s), ["3"]);
        let mut up = kw("srv_is_up", &["app/s2"]).fetch;
        up.link(&N).unwrap();
        assert_eq!(all(&up, &s), ["false"]);
        s.servers_up.push((1, 1));
        assert_eq!(all(&up, &s), ["true"]);
        assert!(kw("srv_is_up", &["app/s9"]).fetch.link(&N).is_err());
        assert!(kw("nbsrv", &["nope"]).fetch.link(&N).is_err());
        assert_eq!(all(&Fetch::SslFc, &s), ["false"]);
        assert_eq!(all(&Fetch::SslSni, &s), Vec::<String>::new());
    }

    #[test]
    fn unknown_fetches_are_named() {
        let e = |n: &str| {
            acl_keyword(&Call {
                name: n.into(),
                args: vec![],
            })
            .unwrap_err()
        };
        assert!(e("req.ssl_sni").contains("unknown fetch method 'req.ssl_sni'"));
        assert!(e("src_beg").contains("'src_beg'"));
        assert!(e("query_beg").contains("'query_beg'"));
        assert!(e("path_cnt").contains("'path_cnt'"));
        assert!(e("ssl_fc_sni_beg").contains("'ssl_fc_sni_beg'"));
        assert_eq!(kw("ssl_fc_sni_end", &[]).method, Method::End);
    }
}
