//! Compiling a fetch call (`hdr(host,-1)`) or a suffixed ACL keyword
//! (`path_beg`, `hdr_cnt`) into a [`Fetch`], once, at configuration load.

use super::*;
use crate::acl::payload::LvStart;

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

pub(super) const STR_SUFFIXES: &[(&str, Method)] = &[
    ("beg", Method::Beg),
    ("dir", Method::Dir),
    ("dom", Method::Dom),
    ("end", Method::End),
    ("len", Method::Len),
    ("reg", Method::Reg),
    ("sub", Method::Sub),
];
pub(super) const STR_SUFFIXED: &[&str] = &["path", "url", "base", "hdr", "shdr", "urlp", "cook"];
pub(super) const CNT_SUFFIXED: &[&str] = &[
    "hdr", "req.hdr", "req.fhdr", "shdr", "res.hdr", "res.fhdr", "cook", "req.cook",
];
pub(super) const VAL_SUFFIXED: &[&str] = &[
    "hdr", "req.hdr", "shdr", "res.hdr", "urlp", "cook", "req.cook",
];
pub(super) const IP_SUFFIXED: &[&str] = &["hdr", "req.hdr", "shdr", "res.hdr"];

/// The fetch names this file compiles itself, listed before
/// [`super::ssl::NAMES`] and [`super::auth::NAMES`].
const EARLIER_NAMES: &[&str] = &[
    "src",
    "src_port",
    "dst",
    "dst_port",
    "method",
    "path",
    "url",
    "pathq",
    "capture.req.uri",
    "capture.req.method",
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
    "res.cook",
    "scook",
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
    "str",
    "int",
    "bool",
    "env",
    "always_true",
    "always_false",
    "ssl_fc",
    "ssl_fc_sni",
];

/// The fetch names listed after [`super::ssl::NAMES`] and [`super::auth::NAMES`].
const LATER_NAMES: &[&str] = &[
    "unique-id",
    "fc_rcvd_proxy",
    "fc_pp_authority",
    "fc_pp_unique_id",
    "req.payload",
    "req.payload_lv",
    "req.ssl_sni",
    "req.ssl_hello_type",
    "req.ssl_ver",
    "req.rdp_cookie",
    "req.rdp_cookie_cnt",
    "res.len",
    "res.payload",
    "res.payload_lv",
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
pub(super) fn suffixed(c: &Call) -> Result<Option<AclKeyword>, String> {
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

pub(super) fn side_of(base: &str) -> Side {
    if base.starts_with("res.") || base == "shdr" {
        Side::Res
    } else {
        Side::Req
    }
}

pub(super) fn name_arg(args: &[String]) -> Box<[u8]> {
    args.first()
        .map(|a| a.to_ascii_lowercase().into_bytes().into())
        .unwrap_or_default()
}

pub(super) fn check_args(
    name: &str,
    args: &[String],
    min: usize,
    max: usize,
) -> Result<(), String> {
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
        "pathq" | "capture.req.uri" => none(Fetch::PathQ),
        "capture.req.method" => none(Fetch::Method),
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
        "unique-id" => none(Fetch::UniqueId),
        "fc_rcvd_proxy" => none(Fetch::RcvdProxy),
        "fc_pp_authority" => none(Fetch::PpAuthority),
        "fc_pp_unique_id" => none(Fetch::PpUniqueId),
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
        "res.cook" | "scook" => {
            check_args(name, args, 0, 1).map(|_| Fetch::ResCook(cook_name(args)))
        }
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
        n if super::auth::NAMES.contains(&n) => super::auth::compile(n, args),
        n if super::ssl::NAMES.contains(&n) => super::ssl::compile(n, args),
        n if super::ssl::refused(n).is_some() => Err(super::ssl::refused(n).unwrap_or_default()),
        "req.ssl_sni" | "req_ssl_sni" => none(Fetch::ReqSslSni),
        "req.ssl_hello_type" | "req_ssl_hello_type" => none(Fetch::SslHelloType),
        "req.ssl_ver" | "req_ssl_ver" => none(Fetch::SslVer),
        "res.len" => none(Fetch::ResLen),
        "req.rdp_cookie" | "rdp_cookie" => {
            check_args(name, args, 0, 1).map(|_| Fetch::RdpCookie(cook_name(args)))
        }
        "req.rdp_cookie_cnt" | "rdp_cookie_cnt" => {
            check_args(name, args, 0, 1).map(|_| Fetch::RdpCookieCnt(cook_name(args)))
        }
        "req.payload" | "payload" | "res.payload" => {
            check_args(name, args, 2, 2)?;
            Ok(Fetch::Payload {
                side: side_of(name),
                off: offset(name, &args[0])?,
                len: offset(name, &args[1])?,
            })
        }
        "req.payload_lv" | "payload_lv" | "res.payload_lv" => payload_lv(name, args),
        "var" => var(name, args),
        "str" | "int" | "bool" | "env" => constant(name, args),
        _ => Err(format!(
            "unknown fetch method '{name}' (ringlb supports {} and their ACL suffix forms)",
            names().collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Every fetch name ringlb knows, for "unknown fetch" messages.
fn names() -> impl Iterator<Item = &'static str> {
    EARLIER_NAMES
        .iter()
        .chain(super::ssl::NAMES)
        .chain(super::auth::NAMES)
        .chain(LATER_NAMES)
        .copied()
}

/// `var(<name>[,<default>])`: a connection variable by name, or a `proc` slot.
fn var(name: &str, args: &[String]) -> Result<Fetch, String> {
    check_args(name, args, 1, 2)?;
    let v = &args[0];
    crate::http::rules::vars::check_name(v)
        .map_err(|e| format!("invalid args in fetch method 'var' : {e}"))?;
    let default = args.get(1).map(|d| d.as_bytes().into());
    Ok(match v.strip_prefix("proc.") {
        Some(_) => Fetch::ProcVar(crate::http::rules::vars::ProcVar::resolve(v), default),
        None => Fetch::Var(v.clone(), default),
    })
}

/// The constants `str(<s>)`, `int(<n>)`, `bool(<b>)` and `env(<name>)`.
fn constant(name: &str, args: &[String]) -> Result<Fetch, String> {
    check_args(name, args, 1, 1)?;
    let a = &args[0];
    Ok(match name {
        "str" => Fetch::Str(a.as_bytes().into()),
        "int" => Fetch::Int(a.trim().parse().map_err(|_| {
            format!("fetch method 'int' : failed to parse '{a}' as type 'integer'")
        })?),
        "bool" => Fetch::Bool(match a.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(
                    "invalid args in fetch method 'bool' : Expects 'true', 'false', '0' or '1'"
                        .into(),
                );
            }
        }),
        _ => Fetch::Env(
            a.as_str().into(),
            std::env::var_os(a).map(|v| std::os::unix::ffi::OsStrExt::as_bytes(&*v).into()),
        ),
    })
}

/// A non-negative offset or length argument.
fn offset(name: &str, a: &str) -> Result<usize, String> {
    a.trim()
        .parse::<usize>()
        .map_err(|_| format!("fetch method '{name}': expects a non-negative integer, got '{a}'"))
}

/// `payload_lv(<off1>,<len1>[,<off2>])`: `<off2>` absolute, or relative to
/// the end of the length field when signed (`+n`, `-n`).
fn payload_lv(name: &str, args: &[String]) -> Result<Fetch, String> {
    check_args(name, args, 2, 3)?;
    let len = offset(name, &args[1])?;
    if !(1..=8).contains(&len) {
        return Err(format!(
            "fetch method '{name}': the length field must be 1 to 8 bytes, got {len}"
        ));
    }
    let start =
        match args.get(2).map(|a| a.trim()) {
            None => LvStart::After,
            Some(a) if a.starts_with(['+', '-']) => LvStart::Relative(a.parse().map_err(|_| {
                format!("fetch method '{name}': expects a signed offset, got '{a}'")
            })?),
            Some(a) => LvStart::At(offset(name, a)?),
        };
    Ok(Fetch::PayloadLv {
        side: side_of(name),
        off: offset(name, &args[0])?,
        len,
        start,
    })
}

pub(super) fn cook_name(args: &[String]) -> Box<[u8]> {
    args.first()
        .map(|a| a.as_bytes().into())
        .unwrap_or_default()
}

pub(super) fn url_param(name: &str, args: &[String]) -> Result<Fetch, String> {
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

pub(super) fn hdr(name: &str, args: &[String]) -> Result<Fetch, String> {
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

pub(super) fn srv_is_up(args: &[String]) -> Result<Fetch, String> {
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
        | Fetch::FeConn(_)
        | Fetch::ResLen
        | Fetch::SslHelloType
        | Fetch::SslVer
        | Fetch::RdpCookieCnt(_)
        | Fetch::Int(_) => Method::Int,
        Fetch::Payload { .. } | Fetch::PayloadLv { .. } => Method::Bin,
        Fetch::AlwaysTrue
        | Fetch::AlwaysFalse
        | Fetch::SslFc
        | Fetch::RcvdProxy
        | Fetch::SrvIsUp(..)
        | Fetch::ProtoHttp
        | Fetch::WaitEnd
        | Fetch::HttpAuth(_)
        | Fetch::Bool(_) => Method::Bool,
        Fetch::Ssl(f) => f.default_method(),
        _ => Method::Str,
    }
}
