//! The head parser of `option accept-invalid-http-request` and
//! `option accept-invalid-http-response`: httparse's rules, except that a
//! header name may hold characters outside the token set, as HAProxy 2.6
//! lets through with these options.
//!
//! It only runs after httparse refused a head for a header name and the
//! proxy has the option, so a proxy without it pays nothing. The line ends,
//! the start line, the values and the empty line are read exactly as httparse
//! reads them, so that a head both parsers accept is framed the same way.
//!
//! Unlike HAProxy, whitespace and control bytes stay refused in names:
//! forwarding `Content-Length : 5` unread, as HAProxy does, lets a server
//! that trims the name frame the body differently (a smuggling vector).
//! Names that are not UTF-8 are refused too (ringlb keeps names as `str`).

use std::mem::MaybeUninit;

use httparse::{Header, Status};

/// Why a head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// A byte no parser may accept here.
    Invalid,
    /// More headers than the slots hold.
    TooMany,
}

/// A token byte (RFC 9110 §5.6.2), as in methods.
fn token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header name byte in lenient mode: any visible byte but `:`.
fn name_byte(b: u8) -> bool {
    b > 0x20 && b != 0x7f && b != b':'
}

/// A header value byte, as httparse takes them.
fn value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// The line at `pos` without its CRLF or LF, and where the next begins;
/// `None` until the line ends.
fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let nl = memchr::memchr(b'\n', rest)?;
    let l = &rest[..nl];
    Some((l.strip_suffix(b"\r").unwrap_or(l), pos + nl + 1))
}

/// Where the start line begins, after the empty lines httparse skips;
/// `None` until a byte of it is there.
fn skip_empty_lines(buf: &[u8]) -> Result<Option<usize>, Fail> {
    let mut pos = 0;
    loop {
        match buf.get(pos..) {
            Some([b'\n', ..]) => pos += 1,
            Some([b'\r', b'\n', ..]) => pos += 2,
            Some([b'\r']) | Some([]) | None => return Ok(None),
            Some([b'\r', ..]) => return Err(Fail::Invalid),
            Some(_) => return Ok(Some(pos)),
        }
    }
}

/// `HTTP/1.0` or `HTTP/1.1`: the minor version.
fn version(v: &[u8]) -> Result<u8, Fail> {
    match v {
        b"HTTP/1.0" => Ok(0),
        b"HTTP/1.1" => Ok(1),
        _ => Err(Fail::Invalid),
    }
}

/// Reads header lines from `pos` up to the empty line into `slots`: where the
/// head ends and how many headers it has.
fn headers<'b>(
    buf: &'b [u8],
    mut pos: usize,
    slots: &mut [MaybeUninit<Header<'b>>],
) -> Result<Status<(usize, usize)>, Fail> {
    let mut n = 0;
    loop {
        let Some((l, next)) = line(buf, pos) else {
            return Ok(Status::Partial);
        };
        pos = next;
        if l.is_empty() {
            return Ok(Status::Complete((pos, n)));
        }
        let colon = memchr::memchr(b':', l).ok_or(Fail::Invalid)?;
        let (name, value) = (&l[..colon], &l[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| name_byte(b)) {
            return Err(Fail::Invalid);
        }
        if !value.iter().all(|&b| value_byte(b)) {
            return Err(Fail::Invalid);
        }
        let name = std::str::from_utf8(name).map_err(|_| Fail::Invalid)?;
        let value = value.trim_ascii();
        slots
            .get_mut(n)
            .ok_or(Fail::TooMany)?
            .write(Header { name, value });
        n += 1;
    }
}

/// The first `n` slots, initialised by [`headers`].
fn filled<'h, 'b>(slots: &'h mut [MaybeUninit<Header<'b>>], n: usize) -> &'h mut [Header<'b>] {
    assert!(n <= slots.len());
    // SAFETY: `headers` wrote the first `n` slots, and `MaybeUninit<T>` has
    // the same layout as `T`.
    unsafe { std::slice::from_raw_parts_mut(slots.as_mut_ptr().cast(), n) }
}

/// Parses a request head: its length and the parsed request.
pub fn request<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [MaybeUninit<Header<'b>>],
) -> Result<Status<(usize, httparse::Request<'h, 'b>)>, Fail> {
    let Some(start) = skip_empty_lines(buf)? else {
        return Ok(Status::Partial);
    };
    let Some((l, pos)) = line(buf, start) else {
        return Ok(Status::Partial);
    };
    let mut parts = l.split(|&b| b == b' ');
    let (Some(m), Some(p), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Fail::Invalid);
    };
    if m.is_empty() || !m.iter().all(|&b| token(b)) {
        return Err(Fail::Invalid);
    }
    if p.is_empty() || p.iter().any(|&b| b <= 0x20 || b == 0x7f) {
        return Err(Fail::Invalid);
    }
    let v = version(v)?;
    let (m, p) = (std::str::from_utf8(m), std::str::from_utf8(p));
    let (Ok(method), Ok(path)) = (m, p) else {
        return Err(Fail::Invalid);
    };
    let Status::Complete((end, n)) = headers(buf, pos, slots)? else {
        return Ok(Status::Partial);
    };
    let req = httparse::Request {
        method: Some(method),
        path: Some(path),
        version: Some(v),
        headers: filled(slots, n),
    };
    Ok(Status::Complete((end, req)))
}

/// Parses a response head: its length and the parsed response.
pub fn response<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [MaybeUninit<Header<'b>>],
) -> Result<Status<(usize, httparse::Response<'h, 'b>)>, Fail> {
    let Some(start) = skip_empty_lines(buf)? else {
        return Ok(Status::Partial);
    };
    let Some((l, pos)) = line(buf, start) else {
        return Ok(Status::Partial);
    };
    let (v, rest) = l.split_at(l.len().min(8));
    let v = version(v)?;
    let (code, reason) = match rest {
        [b' ', a, b, c] => ([*a, *b, *c], &[][..]),
        [b' ', a, b, c, b' ', reason @ ..] => ([*a, *b, *c], reason),
        _ => return Err(Fail::Invalid),
    };
    if !code.iter().all(u8::is_ascii_digit) || !reason.iter().all(|&b| value_byte(b)) {
        return Err(Fail::Invalid);
    }
    let code = code.iter().fold(0u16, |c, d| c * 10 + u16::from(d - b'0'));
    let Status::Complete((end, n)) = headers(buf, pos, slots)? else {
        return Ok(Status::Partial);
    };
    let resp = httparse::Response {
        version: Some(v),
        code: Some(code),
        // httparse gives an empty reason when it is not UTF-8.
        reason: Some(std::str::from_utf8(reason).unwrap_or("")),
        headers: filled(slots, n),
    };
    Ok(Status::Complete((end, resp)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots<'b>() -> Vec<MaybeUninit<Header<'b>>> {
        (0..8).map(|_| MaybeUninit::uninit()).collect()
    }

    #[test]
    fn names_outside_the_token_set_pass() {
        let buf = b"GET /a HTTP/1.1\r\nHost: x\r\nX[a]\"{}: 1 \r\nX\xc3\xa9: 2\r\n\r\nrest";
        let mut s = slots();
        let Status::Complete((end, req)) = request(buf, &mut s).unwrap() else {
            panic!("partial")
        };
        assert_eq!(end, buf.len() - 4);
        assert_eq!(req.headers[1].name, "X[a]\"{}");
        assert_eq!(req.headers[1].value, b"1");
        assert_eq!(req.headers[2].name, "X\u{e9}");
    }

    #[test]
    fn whitespace_control_and_bare_cr_stay_refused() {
        for bad in [
            &b"GET /a HTTP/1.1\r\nContent-Length : 5\r\n\r\n"[..],
            b"GET /a HTTP/1.1\r\nX\x01a: 1\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX\ra: 1\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n",
            b"GET /a HTTP/1.1\r\n: v\r\n\r\n",
            b"GET /a HTTP/1.1\r\n folded\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX\xff: 1\r\n\r\n",
            b"GET /a HTTP/1.12\r\nX: 1\r\n\r\n",
            b"GET  /a HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                request(bad, &mut slots()).err(),
                Some(Fail::Invalid),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn partial_and_too_many() {
        assert!(matches!(
            request(b"GET /a HTTP/1.1\r\nX[: 1\r\n", &mut slots()),
            Ok(Status::Partial)
        ));
        let many = "GET / HTTP/1.1\r\n".to_string() + &"X[: 1\r\n".repeat(9) + "\r\n";
        assert_eq!(
            request(many.as_bytes(), &mut slots()).err(),
            Some(Fail::TooMany)
        );
    }

    #[test]
    fn responses() {
        let buf = b"HTTP/1.1 200 OK\r\nX[a]: 1\r\nContent-Length: 2\r\n\r\nok";
        let mut s = slots();
        let Status::Complete((end, r)) = response(buf, &mut s).unwrap() else {
            panic!("partial")
        };
        assert_eq!(
            (end, r.code, r.reason),
            (buf.len() - 2, Some(200), Some("OK"))
        );
        assert_eq!(r.headers.len(), 2);
        assert!(response(b"HTTP/1.1 2000 OK\r\n\r\n", &mut slots()).is_err());
        assert!(response(b"HTTP/1.1 200 OK\r\nA b: 1\r\n\r\n", &mut slots()).is_err());
    }
}
