//! The request head: parse it with httparse, decide its framing, and write the
//! head that goes to the server.
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
use super::header::{has_token, parse_content_length};
use crate::config::model::ForwardFor;

/// Headers parsed per request; beyond this the request is refused with 431.
pub const MAX_HEADERS: usize = 128;

/// What the rest of the session needs to know about a request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Length of the head in the input buffer.
    pub head_len: usize,
    /// Byte range of the URI in the input buffer.
    pub uri: (usize, usize),
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
    /// The server the stickiness cookie names, if any.
    pub sticky: Sticky,
}

/// How the head toward the server is to be written.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite<'a> {
    /// `option forwardfor` settings, when enabled.
    pub forwardfor: Option<&'a ForwardFor>,
    /// The client's address, for `X-Forwarded-For`.
    pub client: Option<IpAddr>,
    /// Ask the server to close after the response (`option httpclose` /
    /// `http-server-close`).
    pub close_server: bool,
    /// The backend's stickiness cookie, read and rewritten in `Cookie` headers.
    pub cookie: Option<&'a CookieRt>,
}

/// Outcome of parsing the bytes received so far.
#[derive(Debug)]
pub enum Parsed<T> {
    /// A whole head.
    Complete(T),
    /// More bytes are needed.
    Partial,
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
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

/// Parses a request head in `buf`; on success writes the head for the server into `out`.
pub fn parse(
    buf: &[u8],
    rw: &Rewrite<'_>,
    out: &mut Vec<u8>,
) -> Result<Parsed<Request>, HttpError> {
    // Left uninitialised: filling 128 empty headers (4 KB) cost more than
    // parsing a small head.
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadersTooLarge),
        Err(_) => return Err(HttpError::BadRequest),
    };
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let http10 = req.version == Some(0);
    if method == "CONNECT" {
        return Err(HttpError::NotImplemented);
    }

    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut has_te = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut conn_upgrade = false;
    let mut has_upgrade = false;
    let mut has_host = false;
    let mut expect_continue = false;
    let xff_name = rw.forwardfor.map(|f| f.header.as_str());
    let mut xff_existing: Vec<&[u8]> = Vec::new();
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = parse_content_length(h.value).ok_or(HttpError::BadRequest)?;
            if content_length.is_some_and(|c| c != v) {
                return Err(HttpError::BadRequest);
            }
            content_length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            has_te = true;
            // Only chunked as the final coding can be delimited; anything else
            // (gzip alone, identity) is refused rather than guessed.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            conn_close |= has_token(h.value, b"close");
            conn_keep_alive |= has_token(h.value, b"keep-alive");
            conn_upgrade |= has_token(h.value, b"upgrade");
        } else if name.eq_ignore_ascii_case("host") {
            // Two hosts let a proxy and a server disagree on the target.
            if has_host {
                return Err(HttpError::BadRequest);
            }
            has_host = true;
        } else if name.eq_ignore_ascii_case("upgrade") {
            has_upgrade = true;
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = h.value.eq_ignore_ascii_case(b"100-continue");
        }
        if xff_name.is_some_and(|x| name.eq_ignore_ascii_case(x)) {
            xff_existing.push(h.value);
        }
    }
    // HTTP/1.0 has no transfer codings: such a request is malformed (RFC 9112 §6.1).
    if has_te && http10 {
        return Err(HttpError::BadRequest);
    }
    if has_te && !chunked {
        return Err(HttpError::NotImplemented);
    }
    if !http10 && !has_host {
        return Err(HttpError::BadRequest);
    }
    let body = if chunked {
        BodyKind::Chunked
    } else {
        match content_length {
            Some(0) | None => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        }
    };
    let upgrade = conn_upgrade && has_upgrade && !http10;
    let keep_alive = if http10 {
        conn_keep_alive && !conn_close
    } else {
        !conn_close
    };

    // The head toward the server.
    let mut sticky = Sticky::default();
    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(if http10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    let add_xff = match (rw.forwardfor, rw.client) {
        (Some(f), Some(ip)) => {
            (!f.if_none || xff_existing.is_empty())
                && !f.except.is_some_and(|(net, p)| in_network(ip, net, p))
        }
        _ => false,
    };
    for h in req.headers.iter() {
        let n = h.name;
        if n.eq_ignore_ascii_case("connection")
            || n.eq_ignore_ascii_case("keep-alive")
            || n.eq_ignore_ascii_case("proxy-connection")
            || (!upgrade && n.eq_ignore_ascii_case("upgrade"))
            || listed_in_connection(req.headers, n)
            || (chunked && n.eq_ignore_ascii_case("content-length"))
            || (add_xff && xff_name.is_some_and(|x| n.eq_ignore_ascii_case(x)))
        {
            continue;
        }
        if let Some(c) = rw.cookie
            && n.eq_ignore_ascii_case("cookie")
        {
            c.request_header(n, h.value, &mut sticky, out);
            continue;
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    if let (true, Some(f), Some(ip)) = (add_xff, rw.forwardfor, rw.client) {
        out.extend_from_slice(f.header.as_bytes());
        out.extend_from_slice(b": ");
        for v in &xff_existing {
            out.extend_from_slice(v);
            out.extend_from_slice(b", ");
        }
        // Written through io::Write into the Vec: no temporary String per request.
        let _ = write!(out, "{ip}");
        out.extend_from_slice(b"\r\n");
    }
    if upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if rw.close_server {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");

    let uri_start = path.as_ptr() as usize - buf.as_ptr() as usize;
    Ok(Parsed::Complete(Request {
        head_len,
        uri: (uri_start, uri_start + path.len()),
        is_head: method == "HEAD",
        idempotent: matches!(
            method,
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        ),
        http10,
        body,
        keep_alive,
        expect_continue,
        upgrade,
        is_post: method == "POST",
        sticky,
    }))
}

/// Whether a `Connection` header names this header as hop-by-hop (other than
/// the tokens ringlb handles itself), so that it must not be forwarded.
fn listed_in_connection(headers: &[httparse::Header<'_>], name: &str) -> bool {
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
mod tests {
    use super::*;

    fn rw() -> Rewrite<'static> {
        Rewrite {
            forwardfor: None,
            client: None,
            close_server: false,
            cookie: None,
        }
    }

    fn ok(buf: &[u8], rw: &Rewrite<'_>) -> (Request, String) {
        let mut out = Vec::new();
        match parse(buf, rw, &mut out).unwrap() {
            Parsed::Complete(r) => (r, String::from_utf8(out).unwrap()),
            Parsed::Partial => panic!("partial"),
        }
    }

    #[test]
    fn simple_get_keeps_alive_and_passes_headers() {
        let (r, out) = ok(b"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\nNEXT", &rw());
        assert!(r.keep_alive && !r.http10 && r.body == BodyKind::None);
        assert_eq!(r.head_len, 30);
        assert_eq!(out, "GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.uri, (4, 8));
    }

    #[test]
    fn partial_heads_ask_for_more() {
        let mut out = Vec::new();
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHo", &rw(), &mut out),
            Ok(Parsed::Partial)
        ));
    }

    #[test]
    fn forwardfor_appends_to_existing() {
        let ff = ForwardFor {
            header: "X-Forwarded-For".into(),
            except: None,
            if_none: false,
        };
        let rw = Rewrite {
            forwardfor: Some(&ff),
            client: Some("10.0.0.9".parse().unwrap()),
            close_server: true,
            cookie: None,
        };
        let (_, out) = ok(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: keep-alive\r\n\r\n", &rw);
        assert_eq!(
            out,
            "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.9\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn forwardfor_except_skips_network() {
        let ff = ForwardFor {
            header: "X-Forwarded-For".into(),
            except: Some(("127.0.0.0".parse().unwrap(), 8)),
            if_none: false,
        };
        let rw = Rewrite {
            forwardfor: Some(&ff),
            client: Some("127.0.0.1".parse().unwrap()),
            close_server: false,
            cookie: None,
        };
        let (_, out) = ok(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &rw);
        assert!(!out.contains("X-Forwarded-For"));
    }

    #[test]
    fn http10_semantics() {
        let (r, out) = ok(b"GET / HTTP/1.0\r\n\r\n", &rw());
        assert!(r.http10 && !r.keep_alive);
        assert!(out.ends_with("Connection: keep-alive\r\n\r\n"));
        let (r, _) = ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &rw());
        assert!(r.keep_alive);
    }

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        let (_, out) = ok(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: X-Secret, keep-alive\r\nX-Secret: 1\r\nUpgrade: h2c\r\nX-Kept: 2\r\n\r\n",
            &rw(),
        );
        assert_eq!(out, "GET / HTTP/1.1\r\nHost: x\r\nX-Kept: 2\r\n\r\n");
    }

    #[test]
    fn framing() {
        let (r, _) = ok(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n",
            &rw(),
        );
        assert_eq!(r.body, BodyKind::Length(12));
        let (r, out) = ok(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nTransfer-Encoding: chunked\r\n\r\n", &rw());
        assert_eq!(r.body, BodyKind::Chunked);
        assert!(!out.contains("Content-Length"));
    }

    #[test]
    fn errors() {
        let mut out = Vec::new();
        let e = |b: &[u8], out: &mut Vec<u8>| parse(b, &rw(), out).err();
        assert_eq!(e(b"GARBAGE\r\n\r\n", &mut out), Some(HttpError::BadRequest));
        assert_eq!(
            e(b"GET / HTTP/1.1\r\n\r\n", &mut out),
            Some(HttpError::BadRequest)
        );
        assert_eq!(
            e(
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                &mut out
            ),
            Some(HttpError::NotImplemented)
        );
        assert_eq!(
            e(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                &mut out
            ),
            Some(HttpError::BadRequest)
        );
        assert_eq!(
            e(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                &mut out
            ),
            Some(HttpError::BadRequest)
        );
        assert_eq!(
            e(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &mut out),
            Some(HttpError::BadRequest)
        );
        assert_eq!(
            e(
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                &mut out
            ),
            Some(HttpError::BadRequest)
        );
        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(e(&many, &mut out), Some(HttpError::HeadersTooLarge));
        assert_eq!(too_large(b"GET /aaaaaaaa"), HttpError::UriTooLong);
        assert_eq!(
            too_large(b"GET / HTTP/1.1\r\nX: aaaa"),
            HttpError::HeadersTooLarge
        );
    }
}
