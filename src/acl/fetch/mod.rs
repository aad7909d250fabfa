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
use super::payload::{self, Got, LvStart};
use super::sample::{Sample, Val};
use crate::balance::rdp_cookie::{self, Scan};

mod auth;
mod compile;
mod read;
pub mod ssl;

pub use auth::{UserlistRef, acl_form};

pub use compile::{AclKeyword, acl_keyword};
use read::*;
pub use read::{HdrVals, path};

/// Names of other proxies and servers, resolved to indices after the whole
/// configuration is read (`nbsrv(app)`, `srv_is_up(app/s1)`).
pub trait Names {
    /// The index of backend `name`.
    fn backend(&self, name: &str) -> Option<usize>;
    /// The index of frontend `name`.
    fn frontend(&self, name: &str) -> Option<usize>;
    /// The index of server `name` in backend `backend`.
    fn server(&self, backend: usize, name: &str) -> Option<usize>;
    /// The `userlist` called `name` (`http_auth(<userlist>)`).
    fn userlist(&self, _name: &str) -> Option<std::sync::Arc<crate::auth::Userlist>> {
        None
    }
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
    /// `pathq` / `capture.req.uri`: the path and the query, without a
    /// scheme and authority the target may carry.
    PathQ,
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
    /// `res.cook([<name>])` / `scook`: a cookie the server sets (`Set-Cookie`).
    ResCook(Box<[u8]>),
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
    /// `var(<name>[,<default>])` of a connection scope (`sess`, `txn`,
    /// `req`, `res`); the default is a string, used when the variable is unset.
    Var(String, Option<Box<[u8]>>),
    /// `var(proc.<name>[,<default>])`: the process-wide slot, resolved at load.
    ProcVar(crate::http::rules::vars::ProcVar, Option<Box<[u8]>>),
    /// `str(<string>)`: a constant string.
    Str(Box<[u8]>),
    /// `int(<integer>)`: a constant integer.
    Int(i64),
    /// `bool(<bool>)`: a constant boolean.
    Bool(bool),
    /// `env(<name>)`: the environment variable's value, read at load (the
    /// environment does not change after; absent when unset).
    Env(Box<str>, Option<Box<[u8]>>),
    /// `always_true`.
    AlwaysTrue,
    /// `always_false`.
    AlwaysFalse,
    /// `ssl_fc`: false until ringlb terminates TLS.
    SslFc,
    /// `ssl_fc_sni`.
    SslSni,
    /// The other TLS fetches (`ssl_fc_protocol`, `ssl_c_s_dn`, ...).
    Ssl(ssl::SslFetch),
    /// `http_auth(<userlist>)`: whether the `Authorization` credentials are valid.
    HttpAuth(UserlistRef),
    /// `http_auth_group(<userlist>)` as a sample: the authenticated user's name.
    HttpAuthGroup(UserlistRef),
    /// `http_auth_group(<userlist>) <group>...` in an ACL: the authenticated
    /// user's groups (see [`acl_form`]).
    HttpAuthGroups {
        /// The userlist.
        list: UserlistRef,
        /// The groups the ACL names, checked to exist at link.
        groups: Box<[String]>,
    },
    /// `http_auth_type`: `Basic` or `Bearer`.
    HttpAuthType,
    /// `http_auth_user`: the Basic user, not checked.
    HttpAuthUser,
    /// `http_auth_pass`: the Basic password, not checked.
    HttpAuthPass,
    /// `unique-id`: the request's id from `unique-id-format`.
    UniqueId,
    /// `fc_rcvd_proxy`: the connection began with a PROXY header.
    RcvdProxy,
    /// `fc_pp_authority`: the PROXY v2 header's AUTHORITY TLV.
    PpAuthority,
    /// `fc_pp_unique_id`: the PROXY v2 header's UNIQUE_ID TLV.
    PpUniqueId,
    /// `req.payload(<off>,<len>)` / `res.payload`: raw buffered bytes.
    Payload {
        /// Request or response bytes.
        side: Side,
        /// Offset of the first byte.
        off: usize,
        /// Length (0: to the end of what is buffered).
        len: usize,
    },
    /// `req.payload_lv(<off1>,<len1>[,<off2>])` / `res.payload_lv`.
    PayloadLv {
        /// Request or response bytes.
        side: Side,
        /// Offset of the length field.
        off: usize,
        /// Size of the length field in bytes.
        len: usize,
        /// Where the block starts.
        start: LvStart,
    },
    /// `res.len`: response bytes buffered.
    ResLen,
    /// `req.ssl_sni`: the server name of a buffered TLS ClientHello.
    ReqSslSni,
    /// `req.ssl_hello_type`.
    SslHelloType,
    /// `req.ssl_ver`.
    SslVer,
    /// `req.rdp_cookie([<name>])`.
    RdpCookie(Box<[u8]>),
    /// `req.rdp_cookie_cnt([<name>])`.
    RdpCookieCnt(Box<[u8]>),
}

/// What a fetch needs to be there (see [`Fetch::layer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The connection and run-time state: any rule may read it.
    Connection,
    /// Bytes from the client (`req.len`, `req.payload`, `req.ssl_sni`, ...).
    ReqContent,
    /// Bytes from the server (`res.len`, `res.payload`).
    ResContent,
    /// A parsed HTTP message.
    Http,
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

impl Fetch {
    /// What the fetch needs to be there: the connection only, the bytes
    /// buffered from the client or the server, or a parsed HTTP message.
    pub fn layer(&self) -> Layer {
        match self {
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
            | Fetch::Ssl(_)
            | Fetch::RcvdProxy
            | Fetch::PpAuthority
            | Fetch::PpUniqueId
            | Fetch::WaitEnd
            | Fetch::Var(..)
            | Fetch::ProcVar(..)
            | Fetch::Str(_)
            | Fetch::Int(_)
            | Fetch::Bool(_)
            | Fetch::Env(..) => Layer::Connection,
            Fetch::ReqLen | Fetch::ProtoHttp => Layer::ReqContent,
            f => match f.reads_payload_of() {
                Some(Side::Req) => Layer::ReqContent,
                Some(Side::Res) => Layer::ResContent,
                None => Layer::Http,
            },
        }
    }

    /// Whether the fetch needs no traffic (a constant, the environment, a
    /// `proc` variable): what the global `set-var` may evaluate at startup.
    pub fn needs_no_traffic(&self) -> bool {
        matches!(
            self,
            Fetch::Str(_)
                | Fetch::Int(_)
                | Fetch::Bool(_)
                | Fetch::Env(..)
                | Fetch::ProcVar(..)
                | Fetch::AlwaysTrue
                | Fetch::AlwaysFalse
        )
    }

    /// Which HTTP message the fetch reads, if only one: the request's (its
    /// line, headers, cookies, credentials) or the response's (status,
    /// `res.hdr`). HAProxy refuses a request fetch in a response rule's
    /// value, and warns that a condition built on one never matches; and
    /// the other way round.
    pub fn message(&self) -> Option<Side> {
        match self {
            Fetch::Method
            | Fetch::Path
            | Fetch::Url
            | Fetch::PathQ
            | Fetch::Base
            | Fetch::Query
            | Fetch::UrlParam(..)
            | Fetch::Cook(_)
            | Fetch::CookCnt(_)
            | Fetch::ReqVer
            | Fetch::BodySize
            | Fetch::HttpAuth(_)
            | Fetch::HttpAuthGroup(_)
            | Fetch::HttpAuthGroups { .. }
            | Fetch::HttpAuthType
            | Fetch::HttpAuthUser
            | Fetch::HttpAuthPass => Some(Side::Req),
            Fetch::Hdr { side, .. } | Fetch::HdrCnt { side, .. } => Some(*side),
            Fetch::Status | Fetch::ResCook(_) => Some(Side::Res),
            _ => None,
        }
    }

    /// Whether the fetch reads the HTTP message (a layer-7 fetch); the others
    /// (addresses, ports, counters, constants, buffered bytes) work on a bare
    /// TCP connection.
    pub fn needs_http(&self) -> bool {
        self.layer() == Layer::Http
    }

    /// Whether the fetch reads the raw bytes buffered from the client
    /// (`Side::Req`) or the server (`Side::Res`): content inspection only.
    pub fn reads_payload_of(&self) -> Option<Side> {
        match self {
            Fetch::Payload { side, .. } | Fetch::PayloadLv { side, .. } => Some(*side),
            Fetch::ResLen => Some(Side::Res),
            Fetch::ReqSslSni
            | Fetch::SslHelloType
            | Fetch::SslVer
            | Fetch::RdpCookie(_)
            | Fetch::RdpCookieCnt(_) => Some(Side::Req),
            _ => None,
        }
    }

    /// Whether the fetch reads raw buffered bytes of either side.
    pub fn reads_payload(&self) -> bool {
        self.reads_payload_of().is_some()
    }

    /// Whether the fetch, having found no match, may still match once more
    /// bytes arrive (HAProxy's `SMP_F_MAY_CHANGE`): false once the contents
    /// are final.
    pub fn may_change<S: Sample + ?Sized>(&self, s: &S) -> bool {
        if s.contents_final() {
            return false;
        }
        let short = |g: Got<()>| g == Got::Short;
        let data = |side: &Side| match side {
            Side::Req => s.req_payload(),
            Side::Res => s.res_payload(),
        };
        match self {
            // Counts and the end of the delay change until the contents are final.
            Fetch::ReqLen | Fetch::ResLen | Fetch::WaitEnd => true,
            Fetch::ProtoHttp => s.req_payload().is_some_and(|d| http_head(d) == Got::Short),
            Fetch::Payload { side, off, len } => data(side)
                .is_some_and(|d| *len == 0 || short(payload::payload(d, *off, *len).map_unit())),
            Fetch::PayloadLv {
                side,
                off,
                len,
                start,
            } => data(side).is_some_and(|d| {
                short(payload::payload_lv(d, *off, *len, *start, MAX_PAYLOAD).map_unit())
            }),
            Fetch::ReqSslSni => s
                .req_payload()
                .is_some_and(|d| short(payload::ssl_sni(d).map_unit())),
            Fetch::SslHelloType => s
                .req_payload()
                .is_some_and(|d| short(payload::ssl_hello_type(d).map_unit())),
            Fetch::SslVer => s
                .req_payload()
                .is_some_and(|d| short(payload::ssl_ver(d).map_unit())),
            Fetch::RdpCookie(n) | Fetch::RdpCookieCnt(n) => s
                .req_payload()
                .is_some_and(|d| rdp_cookie::scan(d, n) == Scan::Incomplete),
            _ => false,
        }
    }

    /// Resolves proxy and server names to indices.
    pub fn link(&mut self, n: &dyn Names) -> Result<(), String> {
        auth::link(self, n)?;
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
            Fetch::ResCook(name) => set_cookies(s, name).any(|v| f(Val::Str(v))),
            Fetch::Base => {
                let Some(v) = base(s, buf) else { return false };
                f(Val::Str(v))
            }
            Fetch::HttpAuth(_)
            | Fetch::HttpAuthGroup(_)
            | Fetch::HttpAuthGroups { .. }
            | Fetch::HttpAuthType
            | Fetch::HttpAuthUser
            | Fetch::HttpAuthPass => auth::each(self, s, buf, f),
            // Read under the slot's guard: one atomic load, no copy.
            Fetch::ProcVar(p, d) => p.with_or(d.as_deref(), f),
            _ => match self.one(s) {
                Some(v) => f(v),
                None => false,
            },
        }
    }

    /// The single value of a single-valued fetch.
    fn one<'s, S: Sample + ?Sized>(&'s self, s: &'s S) -> Option<Val<'s>> {
        let port = |a: Option<SocketAddr>| a.map(|a| Val::Int(a.port() as i64));
        Some(match self {
            Fetch::Src => Val::Ip(s.src()?.ip()),
            Fetch::SrcPort => return port(s.src()),
            Fetch::Dst => Val::Ip(s.dst()?.ip()),
            Fetch::DstPort => return port(s.dst()),
            Fetch::Method => Val::Str(s.method()),
            Fetch::Path => Val::Str(path(s.uri())),
            Fetch::Url => Val::Str(s.uri()),
            Fetch::PathQ => Val::Str(pathq(s.uri())),
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
            Fetch::ProtoHttp => match s.req_payload() {
                // Raw bytes: whether they start with a whole HTTP/1 request head.
                Some(d) => Val::Bool(http_head(d) == Got::Found(())),
                None => Val::Bool(s.is_http()),
            },
            // HAProxy's `wait_end` is found only once the contents are final.
            Fetch::WaitEnd => Val::Bool(s.contents_final().then_some(true)?),
            Fetch::AlwaysTrue => Val::Bool(true),
            Fetch::AlwaysFalse => Val::Bool(false),
            Fetch::Status => Val::Int(s.status()? as i64),
            Fetch::Nbsrv(t) => {
                Val::Int(s.backend_up_servers(proxy(t, s.current_backend())?) as i64)
            }
            Fetch::BeConn(t) => Val::Int(s.backend_conns(proxy(t, s.current_backend())?) as i64),
            Fetch::FeConn(t) => Val::Int(s.frontend_conns(proxy(t, s.current_frontend())?) as i64),
            Fetch::SrvIsUp(b, sv) => Val::Bool(sv.id != usize::MAX && s.server_is_up(b.id, sv.id)),
            Fetch::Var(name, d) => match s.var(name) {
                Some(v) => v,
                None => Val::Str(d.as_deref()?),
            },
            // Handed out by `for_each`, under the slot's guard.
            Fetch::ProcVar(..) => return None,
            Fetch::Str(v) => Val::Str(v),
            Fetch::Int(n) => Val::Int(*n),
            Fetch::Bool(b) => Val::Bool(*b),
            Fetch::Env(_, v) => Val::Str(v.as_deref()?),
            Fetch::SslFc => Val::Bool(s.ssl_fc()),
            Fetch::SslSni => Val::Str(s.ssl_sni()?),
            Fetch::Ssl(f) => return f.one(s),
            Fetch::Payload { side, off, len } => {
                Val::Str(payload::payload(side_bytes(s, *side)?, *off, *len).found()?)
            }
            Fetch::PayloadLv {
                side,
                off,
                len,
                start,
            } => Val::Str(
                payload::payload_lv(side_bytes(s, *side)?, *off, *len, *start, MAX_PAYLOAD)
                    .found()?,
            ),
            Fetch::ResLen => Val::Int(s.res_payload()?.len() as i64),
            Fetch::ReqSslSni => Val::Str(payload::ssl_sni(s.req_payload()?).found()?),
            Fetch::SslHelloType => {
                Val::Int(payload::ssl_hello_type(s.req_payload()?).found()?.into())
            }
            Fetch::SslVer => Val::Int(payload::ssl_ver(s.req_payload()?).found()?.into()),
            Fetch::RdpCookie(n) => match rdp_cookie::scan(s.req_payload()?, n) {
                Scan::Found(v) => Val::Str(v),
                _ => return None,
            },
            Fetch::RdpCookieCnt(n) => match rdp_cookie::scan(s.req_payload()?, n) {
                Scan::Found(_) => Val::Int(1),
                Scan::Absent => Val::Int(0),
                Scan::Incomplete => return None,
            },
            Fetch::UniqueId => Val::Str(s.unique_id()?),
            Fetch::RcvdProxy => Val::Bool(s.rcvd_proxy()),
            Fetch::PpAuthority => Val::Str(s.pp_authority()?),
            Fetch::PpUniqueId => Val::Str(s.pp_unique_id()?),
            Fetch::Hdr { .. }
            | Fetch::Cook(_)
            | Fetch::ResCook(_)
            | Fetch::Base
            | Fetch::HttpAuth(_)
            | Fetch::HttpAuthGroup(_)
            | Fetch::HttpAuthGroups { .. }
            | Fetch::HttpAuthType
            | Fetch::HttpAuthUser
            | Fetch::HttpAuthPass => return None,
        })
    }
}

/// The most bytes a payload block may span (HAProxy's `tune.bufsize`).
const MAX_PAYLOAD: usize = crate::bufpool::BUF_SIZE;

/// The buffered bytes of one side.
fn side_bytes<S: Sample + ?Sized>(s: &S, side: Side) -> Option<&[u8]> {
    match side {
        Side::Req => s.req_payload(),
        Side::Res => s.res_payload(),
    }
}

/// Whether raw bytes start with a whole HTTP/1 request head (`req.proto_http`
/// on a TCP connection), may still become one, or cannot.
fn http_head(d: &[u8]) -> Got<()> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    match httparse::Request::new(&mut headers).parse(d) {
        Ok(httparse::Status::Complete(_)) => Got::Found(()),
        Ok(httparse::Status::Partial) => Got::Short,
        // Too many headers is still HTTP; anything else is not.
        Err(httparse::Error::TooManyHeaders) => Got::Found(()),
        Err(_) => Got::Absent,
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
mod tests;
