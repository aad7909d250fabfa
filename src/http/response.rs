//! The response head: parse it, decide its framing and both sides' keep-alive,
//! and write the head that goes to the client.

use super::body::BodyKind;
use super::cookie::{Cacheability, CookieRt};
use super::error::HttpError;
use super::header::{
    ResponseCoding, TransferCodings, has_token, parse_content_length, write_content_length,
};
use super::request::{MAX_HEADERS, Parsed};
use std::mem::MaybeUninit;

/// What the session needs to know about a response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Length of the head in the server buffer.
    pub head_len: usize,
    /// Status code.
    pub status: u16,
    /// How the body is delimited.
    pub body: BodyKind,
    /// The server keeps its connection open after this response.
    pub server_keep_alive: bool,
    /// The client connection stays open after this response.
    pub client_keep_alive: bool,
    /// A response rule replaced the response with this one (`deny`, `return`,
    /// `redirect`): the server's is dropped.
    pub replaced: Option<crate::http::rules::Local>,
}

/// The stickiness cookie's part in a response.
#[derive(Debug, Clone, Copy)]
pub struct ResponseCookie<'a> {
    /// The backend's cookie settings.
    pub rt: &'a CookieRt,
    /// The server that answered.
    pub server: usize,
    /// Insert mode, and the client did not already name this server.
    pub insert: bool,
    /// The request was a GET or HEAD: its response may be cacheable.
    pub safe_method: bool,
}

/// What the client side asked for, to write the right `Connection` header.
#[derive(Debug, Clone, Copy)]
pub struct ClientSide<'a> {
    /// The request was `HEAD`: no body follows whatever the headers say.
    pub head_request: bool,
    /// The client spoke HTTP/1.0.
    pub http10: bool,
    /// The client may be kept alive (its wish, `option httpclose` and stopping applied).
    pub keep_alive: bool,
    /// Cookie stickiness to apply to `Set-Cookie` headers.
    pub cookie: Option<ResponseCookie<'a>>,
    /// The backend's `option accept-invalid-http-response`: header names
    /// outside the token set pass (see `lenient.rs`); framing stays strict.
    pub accept_invalid: bool,
}

/// Response rules (`http-response`, `http-after-response`), run on a final
/// response head before it is written for the client.
pub trait ResponseHook {
    /// Runs the rules on the head; `Some` replaces the response.
    fn run(
        &self,
        status: u16,
        reason: &[u8],
        headers: &mut dyn Iterator<Item = (&[u8], &[u8])>,
    ) -> Option<crate::http::rules::Local>;
    /// Lends the head as the rules left it.
    fn msg(&self, f: &mut dyn FnMut(&crate::http::rules::Msg));
}

/// Parses a response head in `buf`; on success writes the head for the client into `out`
/// (interim 1xx heads are left for the caller to forward as they are).
pub fn parse(
    buf: &[u8],
    side: &ClientSide<'_>,
    out: &mut Vec<u8>,
) -> Result<Parsed<Response>, HttpError> {
    parse_with(buf, side, out, None)
}

/// [`parse`], with response rules run on a final head when `hook` is given.
pub fn parse_with(
    buf: &[u8],
    side: &ClientSide<'_>,
    out: &mut Vec<u8>,
    hook: Option<&dyn ResponseHook>,
) -> Result<Parsed<Response>, HttpError> {
    // Left uninitialised, as in `request::parse`.
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::HeaderName) if side.accept_invalid => {
            match super::lenient::response(buf, &mut headers) {
                Ok(httparse::Status::Complete((n, r))) => {
                    resp = r;
                    n
                }
                Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
                Err(_) => return Err(HttpError::BadGateway),
            }
        }
        Err(_) => return Err(HttpError::BadGateway),
    };
    let status = resp.code.unwrap_or(0);
    let http10 = resp.version == Some(0);
    let mut content_length = None;
    let mut codings = TransferCodings::default();
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = parse_content_length(h.value).ok_or(HttpError::BadGateway)?;
            if content_length.is_some_and(|c| c != v) {
                return Err(HttpError::BadGateway);
            }
            content_length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            codings.add(h.value);
        } else if h.name.eq_ignore_ascii_case("connection") {
            conn_close |= has_token(h.value, b"close");
            conn_keep_alive |= has_token(h.value, b"keep-alive");
        }
    }
    let interim = (100..200).contains(&status);
    let coding = codings.response();
    // A list ringlb can't be sure frames the body the way the client will
    // read it is refused, bodiless status or not.
    if coding == ResponseCoding::Malformed {
        return Err(HttpError::BadGateway);
    }
    let has_te = codings.present;
    let body = if side.head_request || interim || status == 204 || status == 304 {
        BodyKind::None
    } else if coding == ResponseCoding::Chunked {
        BodyKind::Chunked
    } else if has_te {
        // A coding other than chunked last: the body ends when the server closes,
        // whatever Content-Length says (RFC 9112 §6.3).
        BodyKind::UntilClose
    } else {
        match content_length {
            Some(0) => BodyKind::None,
            Some(n) => BodyKind::Length(n),
            None => BodyKind::UntilClose,
        }
    };
    let server_keep_alive = body != BodyKind::UntilClose
        && if http10 {
            conn_keep_alive && !conn_close
        } else {
            !conn_close
        };
    let client_keep_alive = side.keep_alive && body != BodyKind::UntilClose;

    out.clear();
    let mut status = status;
    let mut replaced = None;
    if !interim {
        let mut write =
            |code: &[u8], reason: &[u8], headers: &mut dyn Iterator<Item = (&[u8], &[u8])>| {
                write_client_head(
                    code,
                    reason,
                    headers,
                    side,
                    (has_te, content_length, client_keep_alive),
                    out,
                )
            };
        match hook {
            None => {
                // Three digits, written without a formatter (httparse guarantees 100..=999).
                let code = [
                    b'0' + (status / 100 % 10) as u8,
                    b'0' + (status / 10 % 10) as u8,
                    b'0' + (status % 10) as u8,
                ];
                let reason = resp.reason.unwrap_or("").as_bytes();
                write(
                    &code,
                    reason,
                    &mut resp.headers.iter().map(|h| (h.name.as_bytes(), h.value)),
                );
            }
            Some(h) => {
                let reason = resp.reason.unwrap_or("").as_bytes();
                let mut hs = resp.headers.iter().map(|h| (h.name.as_bytes(), h.value));
                replaced = h.run(status, reason, &mut hs);
                if replaced.is_none() {
                    h.msg(&mut |m| {
                        status = std::str::from_utf8(m.line(1))
                            .ok()
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(status);
                        write(
                            m.line(1),
                            m.line(2),
                            &mut (0..m.header_count()).map(|i| m.header(i)),
                        );
                    });
                }
            }
        }
    }
    Ok(Parsed::Complete(Response {
        head_len,
        status,
        body,
        server_keep_alive,
        client_keep_alive,
        replaced,
    }))
}

/// Writes the head toward the client: ringlb's own `Connection` and
/// `Content-Length`, the stickiness cookie applied. `framing` is (has
/// Transfer-Encoding, Content-Length, client kept alive).
fn write_client_head(
    code: &[u8],
    reason: &[u8],
    headers: &mut dyn Iterator<Item = (&[u8], &[u8])>,
    side: &ClientSide<'_>,
    framing: (bool, Option<u64>, bool),
    out: &mut Vec<u8>,
) {
    let (has_te, content_length, client_keep_alive) = framing;
    // ringlb speaks HTTP/1.1 to its clients whatever the server spoke; the
    // Connection header below says what happens to the connection.
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(code);
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
    let mut cache = side
        .cookie
        // Headers are looked at only where `nocache` needs the verdict.
        .filter(|c| c.insert && c.rt.nocache())
        .map(|c| Cacheability::new(code, c.safe_method));
    for (n, v) in headers {
        if let Some(cache) = &mut cache {
            cache.header(n, v);
        }
        if n.eq_ignore_ascii_case(b"connection")
            || n.eq_ignore_ascii_case(b"keep-alive")
            || n.eq_ignore_ascii_case(b"proxy-connection")
            // Written once below, as the one value it was checked to be.
            || n.eq_ignore_ascii_case(b"content-length")
        {
            continue;
        }
        if let Some(c) = side.cookie
            && n.eq_ignore_ascii_case(b"set-cookie")
        {
            c.rt.response_header(
                std::str::from_utf8(n).unwrap_or("Set-Cookie"),
                v,
                c.server,
                out,
            );
            continue;
        }
        out.extend_from_slice(n);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if let (false, Some(n)) = (has_te, content_length) {
        write_content_length(out, n);
    }
    if let Some(c) = side.cookie
        && c.insert
    {
        let cacheable = cache.is_some_and(|c| c.cacheable());
        c.rt.insert_headers(c.server, cacheable, out);
    }
    if !client_keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if side.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: ClientSide<'static> = ClientSide {
        head_request: false,
        http10: false,
        keep_alive: true,
        cookie: None,
        accept_invalid: false,
    };

    fn ok(buf: &[u8], side: &ClientSide<'_>) -> (Response, String) {
        let mut out = Vec::new();
        match parse(buf, side, &mut out).unwrap() {
            Parsed::Complete(r) => (r, String::from_utf8(out).unwrap()),
            Parsed::Partial => panic!("partial"),
        }
    }

    #[test]
    fn keep_alive_response_passes_through() {
        let (r, out) = ok(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
            &KEEP,
        );
        assert_eq!(r.body, BodyKind::Length(5));
        assert!(r.server_keep_alive && r.client_keep_alive);
        assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    }

    #[test]
    fn close_delimited_body_closes_both_sides() {
        let (r, out) = ok(b"HTTP/1.1 200 OK\r\n\r\n", &KEEP);
        assert_eq!(r.body, BodyKind::UntilClose);
        assert!(!r.server_keep_alive && !r.client_keep_alive);
        assert!(out.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn httpclose_adds_connection_close() {
        let side = ClientSide {
            keep_alive: false,
            ..KEEP
        };
        let (r, out) = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &side);
        assert!(r.server_keep_alive && !r.client_keep_alive);
        assert!(out.contains("Connection: close"));
    }

    #[test]
    fn http10_client_gets_keep_alive_header() {
        let side = ClientSide {
            http10: true,
            ..KEEP
        };
        let (_, out) = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &side);
        assert!(out.contains("Connection: keep-alive"));
    }

    #[test]
    fn no_body_cases() {
        let side = ClientSide {
            head_request: true,
            ..KEEP
        };
        assert_eq!(
            ok(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", &side)
                .0
                .body,
            BodyKind::None
        );
        assert_eq!(
            ok(b"HTTP/1.1 304 Not Modified\r\n\r\n", &KEEP).0.body,
            BodyKind::None
        );
        assert_eq!(
            ok(b"HTTP/1.1 100 Continue\r\n\r\n", &KEEP).0.body,
            BodyKind::None
        );
    }

    #[test]
    fn garbage_is_bad_gateway() {
        let mut out = Vec::new();
        assert_eq!(
            parse(b"NOT HTTP\r\n\r\n", &KEEP, &mut out).err(),
            Some(HttpError::BadGateway)
        );
    }
}
