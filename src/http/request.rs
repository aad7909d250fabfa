//! The request head: parse it with httparse, decide its framing, and write the
//! head that goes to the server.
//!
//! Two steps with routing between them: [`parse_head`] parses and checks the
//! head once (framing, smuggling defences), whatever backend it goes to; the
//! session chooses the backend (`use_backend`) reading the parsed head; then
//! [`rewrite`] writes the head for the server with the chosen backend's
//! settings ([`Rewrite`]: forwardfor, stickiness cookie, server-side close).
//! [`parse`] does both when the backend is known in advance.
//!
//! Hop-by-hop headers (`Connection`, `Keep-Alive`, `Proxy-Connection`) are the
//! proxy's business on each side, so they are dropped and ringlb writes its own
//! `Connection` header; `X-Forwarded-For` gets the client address appended
//! (`option forwardfor`). A `Content-Length` next to `Transfer-Encoding` is
//! dropped, as RFC 9112 requires, so that the two can't smuggle a request.

use std::io::Write;
use std::mem::MaybeUninit;
use std::net::IpAddr;

use super::body::BodyKind;
use super::cookie::{CookieRt, Sticky};
use super::error::HttpError;
use super::header::{
    RequestCoding, TransferCodings, absolute_authority, has_token, parse_content_length,
    same_authority, write_content_length,
};
use crate::config::model::ForwardFor;

/// Headers parsed per request; beyond this the request is refused with 431.
pub const MAX_HEADERS: usize = 128;

/// What the rest of the session needs to know about a request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Length of the head in the input buffer.
    pub head_len: usize,
    /// Byte range of the URI in the input buffer (when not `edited`).
    pub uri: (usize, usize),
    /// Rules rewrote the head: the URI is the rules' message's.
    pub edited: bool,
    /// `HEAD`: the response has no body.
    pub is_head: bool,
    /// Safe to send again on a fresh connection if a reused one fails before answering.
    pub idempotent: bool,
    /// HTTP/1.0 (else 1.1).
    pub http10: bool,
    /// How the body is delimited.
    pub body: BodyKind,
    /// The client wants the connection kept after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for an interim response.
    pub expect_continue: bool,
    /// `Connection: upgrade` with an `Upgrade` header (e.g. WebSocket).
    pub upgrade: bool,
    /// `POST` (for `cookie ... postonly`).
    pub is_post: bool,
    /// `GET` (with HEAD, a response HAProxy may call cacheable: `cookie ... nocache`).
    pub is_get: bool,
    /// The server the stickiness cookie names, if any.
    pub sticky: Sticky,
    /// What `use-server` and `force-persist`/`ignore-persist` decided
    /// (`persist/`, set once the backend is chosen).
    pub persist: crate::persist::Decision,
}

/// How the head toward the server is to be written.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite<'a> {
    /// `option forwardfor` settings, when enabled.
    pub forwardfor: Option<&'a ForwardFor>,
    /// The client's address, for `X-Forwarded-For`.
    pub client: Option<IpAddr>,
    /// `option originalto`: the header name and the address the client
    /// connected to, when it is to be added (`except` already applied).
    pub originalto: Option<(&'a str, IpAddr)>,
    /// Ask the server to close after the response (`option httpclose` /
    /// `http-server-close`).
    pub close_server: bool,
    /// `option http-pretend-keepalive`: close after the response without
    /// sending `Connection: close` to the server.
    pub pretend_keepalive: bool,
    /// The backend's stickiness cookie, read and rewritten in `Cookie` headers.
    pub cookie: Option<&'a CookieRt>,
    /// One header added after the client's (`unique-id-header`).
    pub extra: Option<(&'a str, &'a [u8])>,
    /// `http-send-name-header`: the client's copies of this header are
    /// dropped; the session adds the server's name once it is connected.
    pub server_name: Option<&'a str>,
}

/// Outcome of parsing the bytes received so far.
#[derive(Debug)]
pub enum Parsed<T> {
    /// A whole head.
    Complete(T),
    /// More bytes are needed.
    Partial,
}

/// Whether `ip` is in the network `net`/`prefix`.
pub fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// What a request's headers say about its framing and connection, read in one pass.
#[derive(Default)]
struct Scan<'b> {
    content_length: Option<u64>,
    codings: TransferCodings,
    conn_close: bool,
    conn_keep_alive: bool,
    conn_upgrade: bool,
    /// A `Connection` header names some other header as hop-by-hop.
    conn_lists_others: bool,
    has_upgrade: bool,
    host: Option<&'b [u8]>,
    expect_continue: bool,
}

/// Reads the headers that decide framing, routing and the connection's fate.
fn scan<'b>(headers: &[httparse::Header<'b>]) -> Result<Scan<'b>, HttpError> {
    let mut s = Scan::default();
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = parse_content_length(h.value).ok_or(HttpError::BadRequest)?;
            if s.content_length.is_some_and(|c| c != v) {
                return Err(HttpError::BadRequest);
            }
            s.content_length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            s.codings.add(h.value);
        } else if name.eq_ignore_ascii_case("connection") {
            s.conn_close |= has_token(h.value, b"close");
            s.conn_keep_alive |= has_token(h.value, b"keep-alive");
            s.conn_upgrade |= has_token(h.value, b"upgrade");
            s.conn_lists_others |= h.value.split(|&b| b == b',').any(|t| {
                let t = t.trim_ascii();
                !t.eq_ignore_ascii_case(b"close")
                    && !t.eq_ignore_ascii_case(b"keep-alive")
                    && !t.eq_ignore_ascii_case(b"upgrade")
            });
        } else if name.eq_ignore_ascii_case("host") {
            // Two hosts let a proxy and a server disagree on the target.
            if s.host.is_some() {
                return Err(HttpError::BadRequest);
            }
            s.host = Some(h.value);
        } else if name.eq_ignore_ascii_case("upgrade") {
            s.has_upgrade = true;
        } else if name.eq_ignore_ascii_case("expect") {
            s.expect_continue = h.value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    Ok(s)
}

/// The body's framing from the scanned headers (RFC 9112 §6.1 and §6.3).
fn framing(s: &Scan<'_>, http10: bool) -> Result<BodyKind, HttpError> {
    // HTTP/1.0 has no transfer codings: such a request is malformed (RFC 9112 §6.1).
    if s.codings.present && http10 {
        return Err(HttpError::BadRequest);
    }
    Ok(match s.codings.request() {
        RequestCoding::Malformed => return Err(HttpError::BadRequest),
        RequestCoding::Unsupported => return Err(HttpError::NotImplemented),
        RequestCoding::Chunked => BodyKind::Chunked,
        RequestCoding::Absent => match s.content_length {
            Some(0) | None => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        },
    })
}

/// The `Host` to add for an absolute-form target: its authority when the
/// client sent no `Host`, nothing when the client's names the same; a `Host`
/// naming another authority is refused, as HAProxy does, so that ringlb and
/// the server can't route the request to different places.
#[inline]
fn host_to_add<'b>(
    path: &'b str,
    s: &Scan<'_>,
    http10: bool,
) -> Result<Option<&'b [u8]>, HttpError> {
    match absolute_authority(path.as_bytes()) {
        Some(Err(())) => Err(HttpError::BadRequest),
        Some(Ok((auth, port))) => match s.host {
            Some(host) if same_authority(auth, host, port) => Ok(None),
            Some(_) => Err(HttpError::BadRequest),
            None => Ok(Some(auth)),
        },
        None if !http10 && s.host.is_none() => Err(HttpError::BadRequest),
        None => Ok(None),
    }
}

/// The request target must be in one of the forms a proxy relays (RFC 9112
/// §3.2): origin-form (`/path`), absolute-form (`http://host/path`), or `*`
/// for `OPTIONS`. Anything else (`GET foo`) is a 400, as HAProxy answers.
fn check_target(method: &str, path: &str) -> Result<(), HttpError> {
    let ok = path.starts_with('/')
        || (path == "*" && method == "OPTIONS")
        || absolute_authority(path.as_bytes()).is_some();
    if ok {
        Ok(())
    } else {
        Err(HttpError::BadRequest)
    }
}

/// The target's bytes as HAProxy 2.6 judges them: httparse already refused
/// controls, space and DEL; `#` (a fragment) and bytes above 127 are refused
/// unless `option accept-invalid-http-request`, which lets UTF-8 through
/// (httparse hands the target over as `str`, so other bytes stay refused).
#[inline]
fn check_target_bytes(path: &str, flags: ParseFlags) -> Result<(), HttpError> {
    let b = path.as_bytes();
    // One pass: targets are short, a call to memchr costs more than the scan.
    if b.iter().all(|&c| c < 0x80 && c != b'#') {
        return Ok(());
    }
    if flags.accept_invalid && std::str::from_utf8(b).is_ok() {
        return Ok(());
    }
    Err(HttpError::BadRequest)
}

/// Headers the parse step has room for: the caller's stack array.
pub type HeaderSlots<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS];

/// Empty header slots for [`parse_head`]; left uninitialised: filling 128
/// empty headers (4 KB) cost more than parsing a small head.
pub fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS]
}

/// A request head parsed and checked, before routing: borrows the input
/// buffer and the header slots.
pub struct Head<'h, 'b> {
    /// The parsed head; its slices point into the input buffer.
    pub req: httparse::Request<'h, 'b>,
    /// Length of the head in the input buffer.
    pub head_len: usize,
    /// How the body is delimited.
    pub body: BodyKind,
    method: &'b str,
    path: &'b str,
    http10: bool,
    scanned: Scan<'b>,
    upgrade: bool,
    keep_alive: bool,
    add_host: Option<&'b [u8]>,
}

impl<'b> Head<'_, 'b> {
    /// The method, target and version (`1.1`) as received.
    pub fn line(&self) -> [&'b [u8]; 3] {
        let v: &[u8] = if self.http10 { b"1.0" } else { b"1.1" };
        [self.method.as_bytes(), self.path.as_bytes(), v]
    }

    /// The declared body size (`Content-Length`), for `req.body_size`.
    pub fn body_size(&self) -> Option<u64> {
        match self.body {
            BodyKind::Length(n) => Some(n),
            BodyKind::None => Some(0),
            _ => None,
        }
    }
}

/// How leniently a frontend reads request heads, compiled from its options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseFlags {
    /// `option accept-invalid-http-request`: header names outside the token
    /// set (see `lenient.rs`), and `#` or non-ASCII UTF-8 in the target.
    pub accept_invalid: bool,
}

/// Parses and checks a request head in `buf` strictly (see [`parse_head_with`]).
#[inline]
pub fn parse_head<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut HeaderSlots<'b>,
) -> Result<Parsed<Head<'h, 'b>>, HttpError> {
    parse_head_with(buf, slots, ParseFlags::default())
}

/// Parses and checks a request head in `buf`: framing, target, `Host`, the
/// connection's fate. Nothing here depends on the backend. `flags` only
/// decide which bytes may appear in names and the target: the framing
/// checks are the same whatever they say.
#[inline]
pub fn parse_head_with<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut HeaderSlots<'b>,
    flags: ParseFlags,
) -> Result<Parsed<Head<'h, 'b>>, HttpError> {
    // The lenient parse reuses the slots after the strict one failed, which
    // the borrow checker can't see ends the first borrow on that path.
    let raw: *mut HeaderSlots<'b> = slots;
    let mut req = httparse::Request::new(&mut []);
    // SAFETY: `raw` comes from `slots`, borrowed for 'h; this is the only
    // borrow of it until the lenient branch below.
    let head_len = match req.parse_with_uninit_headers(buf, unsafe { &mut *raw }) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadersTooLarge),
        Err(httparse::Error::HeaderName) if flags.accept_invalid => {
            // SAFETY: the strict parse failed and `req` is overwritten below
            // without being read, so its borrow of the slots is dead: this is
            // the only live one.
            match super::lenient::request(buf, unsafe { &mut *raw }) {
                Ok(httparse::Status::Complete((n, r))) => {
                    req = r;
                    n
                }
                Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
                Err(super::lenient::Fail::TooMany) => return Err(HttpError::HeadersTooLarge),
                Err(super::lenient::Fail::Invalid) => return Err(HttpError::BadRequest),
            }
        }
        Err(_) => return Err(HttpError::BadRequest),
    };
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let http10 = req.version == Some(0);
    if method == "CONNECT" {
        return Err(HttpError::NotImplemented);
    }
    check_target_bytes(path, flags)?;
    check_target(method, path)?;
    let scanned = scan(req.headers)?;
    let body = framing(&scanned, http10)?;
    let add_host = host_to_add(path, &scanned, http10)?;
    let upgrade = scanned.conn_upgrade && scanned.has_upgrade && !http10;
    // A Content-Length beside chunked is dropped, and the connection is not
    // kept after such a request (RFC 9112 §6.3 rule 3): whoever sent it may
    // frame differently from us.
    let ambiguous = body == BodyKind::Chunked && scanned.content_length.is_some();
    let keep_alive = !ambiguous
        && if http10 {
            scanned.conn_keep_alive && !scanned.conn_close
        } else {
            !scanned.conn_close
        };
    Ok(Parsed::Complete(Head {
        req,
        head_len,
        body,
        method,
        path,
        http10,
        scanned,
        upgrade,
        keep_alive,
        add_host,
    }))
}

/// Writes the head for the server into `out` with the chosen backend's
/// settings, and says what the rest of the session needs. `buf` is the input
/// buffer `head` was parsed from.
#[inline]
pub fn rewrite(
    head: &Head<'_, '_>,
    buf: &[u8],
    rw: &Rewrite<'_>,
    out: &mut Vec<u8>,
) -> Result<Request, HttpError> {
    let (method, path) = (head.method, head.path);
    let mut sticky = Sticky::default();
    let h = WriteHead {
        method,
        path,
        http10: head.http10,
        headers: &head.req.headers[..],
        scanned: &head.scanned,
        chunked: head.body == BodyKind::Chunked,
        upgrade: head.upgrade,
        add_host: head.add_host,
    };
    write_head(&h, rw, &mut sticky, out)?;
    let uri_start = path.as_ptr() as usize - buf.as_ptr() as usize;
    Ok(Request {
        head_len: head.head_len,
        uri: (uri_start, uri_start + path.len()),
        edited: false,
        is_head: method == "HEAD",
        idempotent: matches!(
            method,
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        ),
        http10: head.http10,
        body: head.body,
        keep_alive: head.keep_alive,
        expect_continue: head.scanned.expect_continue,
        upgrade: head.upgrade,
        is_post: method == "POST",
        is_get: method == "GET",
        sticky,
        persist: Default::default(),
    })
}

/// Writes the head for the server from `msg`, the head as `http-request`
/// rules left it (loaded from `head`, whose framing still holds: rules may
/// not touch the framing headers). The URI is then `msg`'s, not the input
/// buffer's (`Request::edited`).
pub fn rewrite_msg(
    head: &Head<'_, '_>,
    msg: &crate::http::rules::Msg,
    rw: &Rewrite<'_>,
    out: &mut Vec<u8>,
) -> Result<Request, HttpError> {
    let mut slots = header_slots();
    let n = msg.header_count().min(MAX_HEADERS + 1);
    if n > MAX_HEADERS {
        return Err(HttpError::HeadersTooLarge);
    }
    for (i, slot) in slots.iter_mut().enumerate().take(n) {
        let value = msg.header(i).1;
        slot.write(httparse::Header {
            name: msg.name_str(i),
            value,
        });
    }
    // SAFETY: the first `n` slots were initialised just above, and
    // `MaybeUninit<T>` has the same layout as `T`.
    let headers: &[httparse::Header<'_>] =
        unsafe { std::slice::from_raw_parts(slots.as_ptr().cast(), n) };
    let method = std::str::from_utf8(msg.line(0)).map_err(|_| HttpError::BadRequest)?;
    let path = std::str::from_utf8(msg.line(1)).map_err(|_| HttpError::BadRequest)?;
    // Host and the hop-by-hop lists are read again; Content-Length and
    // Transfer-Encoding are the client's (rules can't change them).
    let mut scanned = scan(headers)?;
    scanned.content_length = head.scanned.content_length;
    let add_host = if scanned.host.is_some() {
        None
    } else {
        head.add_host
    };
    let mut sticky = Sticky::default();
    let h = WriteHead {
        method,
        path,
        http10: head.http10,
        headers,
        scanned: &scanned,
        chunked: head.body == BodyKind::Chunked,
        upgrade: head.upgrade,
        add_host,
    };
    write_head(&h, rw, &mut sticky, out)?;
    Ok(Request {
        head_len: head.head_len,
        uri: (0, 0),
        edited: true,
        is_head: method == "HEAD",
        idempotent: matches!(
            method,
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        ),
        http10: head.http10,
        body: head.body,
        keep_alive: head.keep_alive,
        expect_continue: head.scanned.expect_continue,
        upgrade: head.upgrade,
        is_post: method == "POST",
        is_get: method == "GET",
        sticky,
        persist: Default::default(),
    })
}

/// Parses a request head in `buf`; on success writes the head for the server
/// into `out` ([`parse_head`] then [`rewrite`], the backend known in advance).
pub fn parse(
    buf: &[u8],
    rw: &Rewrite<'_>,
    out: &mut Vec<u8>,
) -> Result<Parsed<Request>, HttpError> {
    let mut slots = header_slots();
    match parse_head(buf, &mut slots)? {
        Parsed::Complete(head) => rewrite(&head, buf, rw, out).map(Parsed::Complete),
        Parsed::Partial => Ok(Parsed::Partial),
    }
}

/// A parsed head and what was decided about it, for [`write_head`].
struct WriteHead<'h, 'b> {
    method: &'b str,
    path: &'b str,
    http10: bool,
    headers: &'h [httparse::Header<'b>],
    scanned: &'h Scan<'b>,
    chunked: bool,
    upgrade: bool,
    add_host: Option<&'b [u8]>,
}

/// Writes the head toward the server: hop-by-hop headers dropped, the
/// stickiness cookie read, `X-Forwarded-For` and `Connection` added. The
/// result must stay within [`MAX_HEADERS`], as the client's head had to.
fn write_head(
    h: &WriteHead<'_, '_>,
    rw: &Rewrite<'_>,
    sticky: &mut Sticky,
    out: &mut Vec<u8>,
) -> Result<(), HttpError> {
    let xff_name = rw.forwardfor.map(|f| f.header.as_str());
    // The values of the forwardfor header the client sent, read in place.
    let xff = || {
        h.headers
            .iter()
            .filter(move |hd| xff_name.is_some_and(|x| hd.name.eq_ignore_ascii_case(x)))
            .map(|hd| hd.value)
    };
    let add_xff = match (rw.forwardfor, rw.client) {
        (Some(f), Some(ip)) => {
            (!f.if_none || xff().next().is_none())
                && !f.except.is_some_and(|(net, p)| in_network(ip, net, p))
        }
        _ => false,
    };
    out.clear();
    out.extend_from_slice(h.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(h.path.as_bytes());
    out.extend_from_slice(if h.http10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    let mut count = 0;
    if let Some(host) = h.add_host {
        header_line(out, "Host", host);
        count += 1;
    }
    for hd in h.headers {
        let n = hd.name;
        if n.eq_ignore_ascii_case("connection")
            || n.eq_ignore_ascii_case("keep-alive")
            || n.eq_ignore_ascii_case("proxy-connection")
            || (!h.upgrade && n.eq_ignore_ascii_case("upgrade"))
            || (h.scanned.conn_lists_others && listed_in_connection(h.headers, n))
            // Written once below, as the one value it was checked to be.
            || n.eq_ignore_ascii_case("content-length")
            || (add_xff && xff_name.is_some_and(|x| n.eq_ignore_ascii_case(x)))
            || rw.server_name.is_some_and(|x| n.eq_ignore_ascii_case(x))
        {
            continue;
        }
        count += 1;
        if let Some(c) = rw.cookie
            && n.eq_ignore_ascii_case("cookie")
        {
            c.request_header(n, hd.value, sticky, out);
            continue;
        }
        header_line(out, n, hd.value);
    }
    if let (false, Some(n)) = (h.chunked, h.scanned.content_length) {
        count += 1;
        write_content_length(out, n);
    }
    if let Some((name, value)) = rw.extra {
        count += 1;
        header_line(out, name, value);
    }
    if let (true, Some(f), Some(ip)) = (add_xff, rw.forwardfor, rw.client) {
        count += 1;
        out.extend_from_slice(f.header.as_bytes());
        out.extend_from_slice(b": ");
        for v in xff() {
            out.extend_from_slice(v);
            out.extend_from_slice(b", ");
        }
        // Written through io::Write into the Vec: no temporary String per request.
        let _ = write!(out, "{ip}");
        out.extend_from_slice(b"\r\n");
    }
    if let Some((name, dst)) = rw.originalto {
        count += 1;
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        let _ = write!(out, "{dst}");
        out.extend_from_slice(b"\r\n");
    }
    let connection: &[u8] = if h.upgrade {
        b"Connection: upgrade\r\n"
    } else if rw.close_server && !rw.pretend_keepalive {
        b"Connection: close\r\n"
    } else if h.http10 {
        b"Connection: keep-alive\r\n"
    } else {
        b""
    };
    count += usize::from(!connection.is_empty());
    out.extend_from_slice(connection);
    out.extend_from_slice(b"\r\n");
    // ringlb's own limit holds for what it sends too: a server with the same
    // limit must not refuse (or cut) a head that ringlb accepted.
    if count > MAX_HEADERS {
        return Err(HttpError::HeadersTooLarge);
    }
    Ok(())
}

fn header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Whether a `Connection` header names this header as hop-by-hop (other than
/// the tokens ringlb handles itself), so that it must not be forwarded. The
/// headers that frame or route the request are never hop-by-hop, whatever the
/// client says: dropping `Content-Length` while forwarding the body would let
/// the body reach the server as a second request.
fn listed_in_connection(headers: &[httparse::Header<'_>], name: &str) -> bool {
    if ["content-length", "transfer-encoding", "host"]
        .iter()
        .any(|p| name.eq_ignore_ascii_case(p))
    {
        return false;
    }
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("connection")
            && h.value.split(|&b| b == b',').any(|t| {
                let t = t.trim_ascii();
                !t.eq_ignore_ascii_case(b"close")
                    && !t.eq_ignore_ascii_case(b"keep-alive")
                    && !t.eq_ignore_ascii_case(b"upgrade")
                    && t.eq_ignore_ascii_case(name.as_bytes())
            })
    })
}

/// Which error a head that fills the whole buffer deserves.
pub fn too_large(buf: &[u8]) -> HttpError {
    if memchr::memchr(b'\n', buf).is_none() {
        HttpError::UriTooLong
    } else {
        HttpError::HeadersTooLarge
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
