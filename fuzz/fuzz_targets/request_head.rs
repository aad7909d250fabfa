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
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use ringlb::config::model::ForwardFor;
use ringlb::http::body::BodyKind;
use ringlb::http::request::{self, MAX_HEADERS, Parsed, Rewrite};
use ringlb_fuzz::{
    COOKIE_SERVERS, codings, cookie_configs, known_bug, reference_request_framing, split_request,
};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
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
