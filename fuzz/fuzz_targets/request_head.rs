//! `ringlb::http::request::parse` under every rewrite option.
//!
//! Input: one byte choosing the rewrite (forwardfor off / on / if-none /
//! except, its header name, the client address, close_server, the cookie
//! configuration), then the bytes the client sent.
//!
//! Properties of a head that parses (`Complete`):
//! - the rewritten head re-parses, with a plain rewrite, as `Complete`, as
//!   exactly one head (`head_len == out.len()`), with the same method, URI,
//!   version and framing;
//! - it has at most `MAX_HEADERS` headers and never Content-Length next to
//!   Transfer-Encoding;
//! - Content-Length, Transfer-Encoding and Host reach the server as the client
//!   sent them (Content-Length only dropped for a chunked body);
//! - the framing is the one RFC 9112 §6.3 gives (`reference_request_framing`);
//! - a stickiness cookie designates one of the configured servers.
//!
//! The same bytes also go through `parse_head_with` with the flags of
//! `option accept-invalid-http-request` ([`relaxed`]):
//! - nothing panics;
//! - where strict mode completes a head (or waits for more), relaxed mode
//!   gives the same answer: same length, framing, connection and the same
//!   bytes for the server;
//! - where only relaxed mode accepts, the head is one head (it ends at the
//!   first empty line, and the head written for the server is exactly one
//!   head that relaxed mode reads back with the same framing), framed as
//!   RFC 9112 §6.3 gives from its headers.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use ringlb::config::model::ForwardFor;
use ringlb::http::body::BodyKind;
use ringlb::http::request::{self, MAX_HEADERS, ParseFlags, Parsed, Rewrite};
use ringlb_fuzz::{
    COOKIE_SERVERS, codings, cookie_configs, known_bug, reference_request_framing, split_request,
};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    relaxed(buf);
    let header = if sel & 0x40 == 0 {
        "X-Forwarded-For"
    } else {
        "X-Client-IP"
    };
    let ff = ForwardFor {
        header: header.into(),
        except: (sel & 3 == 3).then(|| ("10.0.0.0".parse().unwrap(), 8)),
        if_none: sel & 3 == 2,
    };
    let client: IpAddr = match (sel >> 2) & 1 {
        0 => "10.1.2.3".parse().unwrap(),
        _ => "2001:db8::7".parse().unwrap(),
    };
    let cookies = cookie_configs();
    let cookie = match (sel >> 4) & 3 {
        0 => None,
        n => Some(&cookies[(usize::from(n) * 2 - 1 + usize::from(sel >> 7)) % cookies.len()]),
    };
    let rw = Rewrite {
        forwardfor: (sel & 3 != 0).then_some(&ff),
        client: Some(client),
        originalto: None,
        close_server: sel & 8 != 0,
        pretend_keepalive: false,
        cookie,
        extra: None,
        server_name: None,
    };
    let mut out = Vec::new();
    let Ok(Parsed::Complete(r)) = request::parse(buf, &rw, &mut out) else {
        return;
    };
    let input = split_request(buf).expect("ringlb parsed a head httparse does not");
    assert_eq!(input.len, r.head_len, "head length");

    // The framing RFC 9112 gives.
    match reference_request_framing(&input) {
        Ok(kind) => assert_eq!(r.body, kind, "framing differs from the reference"),
        Err(why) => {
            let twice = codings(&input).iter().filter(|c| *c == "chunked").count() > 1;
            if twice && known_bug("te-chunked-twice", &String::from_utf8_lossy(buf)) {
                return;
            }
            panic!(
                "ringlb accepted a head the reference refuses ({why}): {:?}",
                r.body
            );
        }
    }
    if let Some(s) = r.sticky.server {
        assert!(s < COOKIE_SERVERS, "sticky server {s} is not configured");
    }

    // The rewritten head, split independently.
    let fwd = split_request(&out).unwrap_or_else(|| {
        panic!(
            "the rewritten head is not a complete head: {:?}",
            String::from_utf8_lossy(&out)
        )
    });
    assert_eq!(
        fwd.len,
        out.len(),
        "the rewritten head is not exactly one head"
    );
    assert_eq!(fwd.method, input.method, "method");
    assert_eq!(fwd.uri, input.uri, "URI");
    assert_eq!(fwd.version, input.version, "version");
    if fwd.fields.len() > MAX_HEADERS && known_bug("too-many-forwarded-headers", &fwd.fields.len())
    {
        return;
    }
    assert!(
        fwd.fields.len() <= MAX_HEADERS,
        "{} headers",
        fwd.fields.len()
    );
    let has = |h: &ringlb_fuzz::Head, n: &str| !h.values(n).is_empty();
    assert!(
        !(has(&fwd, "content-length") && has(&fwd, "transfer-encoding")),
        "Content-Length next to Transfer-Encoding: {:?}",
        String::from_utf8_lossy(&out)
    );

    // The headers that decide framing and routing are not lost.
    for name in ["content-length", "transfer-encoding", "host"] {
        let sent = input.values(name);
        let expected: Vec<Vec<u8>> = if name == "content-length" && r.body == BodyKind::Chunked {
            Vec::new()
        } else if name == "content-length" {
            ringlb_fuzz::normalized_length(&sent)
        } else if name == "host" && sent.is_empty() {
            // An absolute-form target's authority becomes the Host a request
            // without one is sent with (RFC 9112 §3.2.2).
            let target = input.uri.as_bytes();
            match ringlb::http::header::absolute_authority(target) {
                Some(Ok((auth, _))) => vec![auth.to_vec()],
                _ => Vec::new(),
            }
        } else {
            sent.iter().map(|v| v.to_vec()).collect()
        };
        let got: Vec<Vec<u8>> = fwd.values(name).iter().map(|v| v.to_vec()).collect();
        if got != expected {
            panic!(
                "{name} changed on the way: {:?} -> {:?}",
                expected,
                fwd.values(name)
            );
        }
    }

    // And ringlb itself reads the rewritten head the same way.
    let plain = Rewrite {
        forwardfor: None,
        client: None,
        originalto: None,
        close_server: false,
        pretend_keepalive: false,
        cookie: None,
        extra: None,
        server_name: None,
    };
    let mut again = Vec::new();
    match request::parse(&out, &plain, &mut again) {
        Ok(Parsed::Complete(r2)) => {
            assert_eq!(r2.head_len, out.len(), "re-parsed head length");
            assert_eq!(r2.body, r.body, "re-parsed framing");
            assert_eq!(
                &out[r2.uri.0..r2.uri.1],
                &buf[r.uri.0..r.uri.1],
                "re-parsed URI"
            );
            assert_eq!(r2.http10, r.http10, "re-parsed version");
            assert_eq!(r2.is_head, r.is_head, "re-parsed method");
            assert_eq!(r2.upgrade, r.upgrade, "re-parsed upgrade");
            assert_eq!(
                r2.keep_alive,
                r.upgrade || !rw.close_server,
                "re-parsed Connection"
            );
        }
        other => panic!(
            "the rewritten head {:?} does not re-parse: {other:?}",
            String::from_utf8_lossy(&out)
        ),
    }
});

/// What `parse_head_with` says about `buf`, the option on or off: the head's length,
/// framing, keep-alive and the head written for a plain backend.
fn outcome(
    buf: &[u8],
    accept_invalid: bool,
) -> Result<Option<(usize, BodyKind, bool, Vec<u8>)>, String> {
    let mut slots = request::header_slots();
    let flags = ParseFlags { accept_invalid };
    match request::parse_head_with(buf, &mut slots, flags) {
        Ok(Parsed::Complete(head)) => {
            let mut out = Vec::new();
            let r =
                request::rewrite(&head, buf, &plain(), &mut out).map_err(|e| format!("{e:?}"))?;
            Ok(Some((r.head_len, r.body, r.keep_alive, out)))
        }
        Ok(Parsed::Partial) => Ok(None),
        Err(e) => Err(format!("{e:?}")),
    }
}

fn plain() -> Rewrite<'static> {
    Rewrite {
        forwardfor: None,
        client: None,
        originalto: None,
        close_server: false,
        pretend_keepalive: false,
        cookie: None,
        extra: None,
        server_name: None,
    }
}

/// The lenient mode's properties (see the module doc).
fn relaxed(buf: &[u8]) {
    let strict = outcome(buf, false);
    let lenient = outcome(buf, true);
    if strict.is_ok() {
        assert_eq!(
            lenient, strict,
            "relaxed mode reads a head strict mode reads differently"
        );
        return;
    }
    let Ok(Some((len, body, _, out))) = lenient else {
        return;
    };
    // One head: it ends at the first empty line.
    let head = &buf[..len];
    assert!(head.ends_with(b"\n"), "head does not end a line");
    // After the empty lines skipped before the request line.
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let rest = &head[start..];
    let first_empty = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| start + p + 2)
        .into_iter()
        .chain(
            rest.windows(3)
                .position(|w| w == b"\n\r\n")
                .map(|p| start + p + 3),
        )
        .min();
    assert_eq!(
        first_empty,
        Some(len),
        "the head goes past its first empty line"
    );
    // Framed as RFC 9112 gives from the headers read.
    let mut slots = request::header_slots();
    let flags = ParseFlags {
        accept_invalid: true,
    };
    let Ok(Parsed::Complete(h)) = request::parse_head_with(buf, &mut slots, flags) else {
        unreachable!("parsed above")
    };
    let fields = h
        .req
        .headers
        .iter()
        .map(|f| ringlb_fuzz::Field {
            name: f.name.to_string(),
            value: f.value.to_vec(),
        })
        .collect();
    let reference = ringlb_fuzz::Head {
        method: h.req.method.unwrap_or("").to_string(),
        uri: h.req.path.unwrap_or("").to_string(),
        version: h.req.version.unwrap_or(1),
        status: 0,
        fields,
        len,
    };
    match reference_request_framing(&reference) {
        Ok(kind) => assert_eq!(body, kind, "relaxed framing differs from the reference"),
        Err(why) => {
            let twice = codings(&reference)
                .iter()
                .filter(|c| *c == "chunked")
                .count()
                > 1;
            if !(twice && known_bug("te-chunked-twice", &String::from_utf8_lossy(buf))) {
                panic!("relaxed mode accepted a head the reference refuses ({why})");
            }
        }
    }
    // The head for the server is one head, read back the same way.
    match outcome(&out, true) {
        Ok(Some((len2, body2, _, _))) => {
            assert_eq!(len2, out.len(), "the head sent is not exactly one head");
            assert_eq!(body2, body, "the head sent is framed differently");
        }
        other => panic!("the head sent does not re-parse: {other:?}"),
    }
}
