//! `balance rdp-cookie(<name>)`: hash of the cookie in an RDP client's first
//! packet (`mode tcp`).
//!
//! An RDP client opens with an X.224 Connection Request inside a TPKT: 4 bytes
//! of TPKT header (version 3, reserved, length), 7 bytes of X.224 header, then
//! optionally `Cookie: <name>=<value>\r\n` (Microsoft clients send
//! `mstshash=<user>`). As HAProxy's `req.rdp_cookie`, the cookie line must
//! start at byte 11, `Cookie:` and the name are matched without regard to
//! case, and the value runs to `\r\n`. No cookie, or an empty value: round
//! robin. The TCP relay reads the first packet before choosing a server and
//! sends it to the server first ([`scan`] tells it when it has read enough).

use super::PickInput;
use super::hash::{Key, key_hash};
use crate::config::model::HashFunction;

/// Offset of the cookie line: TPKT header (4) + X.224 Connection Request header (7).
const COOKIE_AT: usize = 11;

/// What the first bytes say about the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan<'a> {
    /// The cookie's value.
    Found(&'a [u8]),
    /// There is no such cookie (more bytes would not change that).
    Absent,
    /// Too few bytes yet to tell.
    Incomplete,
}

/// Looks for cookie `name` (any name when empty) in an RDP connection request.
pub fn scan<'a>(data: &'a [u8], name: &[u8]) -> Scan<'a> {
    let Some(mut d) = data.get(COOKIE_AT..) else {
        return Scan::Incomplete;
    };
    if d.len() <= 7 {
        return Scan::Incomplete;
    }
    if !d[..7].eq_ignore_ascii_case(b"Cookie:") {
        return Scan::Absent;
    }
    d = &d[7..];
    while let [b' ', rest @ ..] = d {
        d = rest;
    }
    if name.is_empty() {
        let Some(eq) = d.iter().position(|&c| matches!(c, b'=' | b'\r' | b'\n')) else {
            return Scan::Incomplete;
        };
        if d[eq] != b'=' {
            return Scan::Absent;
        }
        d = &d[eq + 1..];
    } else {
        if d.len() <= name.len() {
            return Scan::Incomplete;
        }
        if d[name.len()] != b'=' || !d[..name.len()].eq_ignore_ascii_case(name) {
            return Scan::Absent;
        }
        d = &d[name.len() + 1..];
    }
    let Some(cr) = d.iter().position(|&c| c == b'\r') else {
        return Scan::Incomplete;
    };
    match d.get(cr + 1) {
        None => Scan::Incomplete,
        Some(b'\n') => Scan::Found(&d[..cr]),
        Some(_) => Scan::Absent,
    }
}

/// The key of `balance rdp-cookie(<name>)`.
#[derive(Debug, Clone)]
pub struct RdpCookie {
    name: Box<[u8]>,
}

impl RdpCookie {
    /// `balance rdp-cookie(<name>)`.
    pub fn new(name: &str) -> RdpCookie {
        RdpCookie {
            name: name.as_bytes().into(),
        }
    }

    /// The cookie name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }
}

impl Key for RdpCookie {
    fn hash(&self, input: &PickInput<'_>, f: HashFunction) -> Option<u32> {
        match scan(input.payload?, &self.name) {
            Scan::Found(v) if !v.is_empty() => Some(key_hash(f, v)),
            _ => None,
        }
    }
}

/// An X.224 Connection Request as an RDP client sends it, with `cookie` as
/// its cookie line (e.g. `Cookie: mstshash=alice`) when given. For tests and
/// benchmarks.
pub fn connection_request(cookie: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(c) = cookie {
        body.extend_from_slice(c.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    // RDP Negotiation Request: TLS | CredSSP.
    body.extend_from_slice(&[0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]);
    let total = 4 + 7 + body.len();
    let mut p = vec![0x03, 0x00, (total >> 8) as u8, total as u8];
    // LI, CR CDT (0xE0), DST-REF, SRC-REF, class 0.
    p.extend_from_slice(&[(total - 5) as u8, 0xe0, 0, 0, 0, 0, 0]);
    p.extend_from_slice(&body);
    p
}

#[cfg(test)]
mod tests {
    use super::super::Balancer;
    use super::super::hash::{Hashed, Table};
    use super::super::testutil::*;
    use super::*;
    use crate::config::model::HashType;

    #[test]
    fn parses_the_connection_request() {
        let p = connection_request(Some("Cookie: mstshash=alice"));
        assert_eq!(scan(&p, b"mstshash"), Scan::Found(b"alice"));
        assert_eq!(scan(&p, b"MSTSHASH"), Scan::Found(b"alice"));
        assert_eq!(scan(&p, b""), Scan::Found(b"alice"));
        assert_eq!(scan(&p, b"user"), Scan::Absent);
        let lower = connection_request(Some("cookie:   mstshash=bob"));
        assert_eq!(scan(&lower, b"mstshash"), Scan::Found(b"bob"));
        assert_eq!(scan(&connection_request(None), b"mstshash"), Scan::Absent);
        // Every prefix that ends before the line's CRLF asks for more.
        for cut in 0..p.len() {
            let want = if cut >= 11 + "Cookie: mstshash=alice\r\n".len() {
                Scan::Found(b"alice")
            } else {
                Scan::Incomplete
            };
            assert_eq!(scan(&p[..cut], b"mstshash"), want, "cut at {cut}");
        }
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"mstshash"),
            Scan::Absent
        );
    }

    #[test]
    fn same_user_same_server_absent_is_round_robin() {
        let s = farm(&[1, 1, 1]);
        let mut b = Hashed::new(
            RdpCookie::new("mstshash"),
            Table::new(HashType::MapBased, &s),
        );
        let mut seen = std::collections::HashSet::new();
        for u in 0..300 {
            let p = connection_request(Some(&format!("Cookie: mstshash=user{u}")));
            let input = PickInput {
                payload: Some(&p),
                ..PickInput::default()
            };
            let first = b.pick(&s, &input, None).unwrap();
            assert_eq!(b.pick(&s, &input, None), Some(first));
            seen.insert(first);
        }
        assert_eq!(seen.len(), 3);
        let empty = connection_request(Some("Cookie: mstshash="));
        let input = PickInput {
            payload: Some(&empty),
            ..PickInput::default()
        };
        assert_eq!(counts(&mut b, &s, &input, 30), vec![10, 10, 10]);
    }
}
