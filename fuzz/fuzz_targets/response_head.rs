//! `ringlb::http::response::parse`, for every kind of client side.
//!
//! Input: one byte choosing the client side (HEAD request, HTTP/1.0 client,
//! keep-alive wanted, the cookie configuration, the answering server and
//! whether ringlb inserts its cookie), then the bytes the server sent.
//!
//! Properties of a head that parses (`Complete`):
//! - the framing is the one RFC 9112 §6.3 gives (`reference_response_framing`);
//! - an interim (1xx) head writes nothing (the caller relays it as it is);
//! - otherwise the head written for the client is exactly one head with the
//!   same status and framing, never Content-Length next to Transfer-Encoding,
//!   `Connection: close` exactly when the client connection is not kept, and
//!   ringlb reads it back (as it would from a server) the same way.
//!
//! The same bytes also go through the parser with the backend's
//! `option accept-invalid-http-response`: where strict mode answers, the
//! answer is the same (length, status, framing, head written); where only
//! the option accepts, the head written is one head ringlb reads back with
//! the same status and framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::http::request::{MAX_HEADERS, Parsed};
use ringlb::http::response::{self, ClientSide, ResponseCookie};
use ringlb_fuzz::{COOKIE_SERVERS, cookie_configs, reference_response_framing, split_response};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    let cookies = cookie_configs();
    let cookie = (sel & 0x08 != 0).then(|| ResponseCookie {
        rt: &cookies[usize::from(sel >> 4) % cookies.len()],
        server: usize::from(sel >> 4) % COOKIE_SERVERS,
        insert: sel & 0x80 != 0,
        safe_method: sel & 0x40 != 0,
    });
    let side = ClientSide {
        head_request: sel & 1 != 0,
        http10: sel & 2 != 0,
        keep_alive: sel & 4 != 0,
        cookie,
        accept_invalid: false,
    };
    let mut out = Vec::new();
    let strict = response::parse(buf, &side, &mut out);
    lenient(buf, &side, &strict, &out);
    let Ok(Parsed::Complete(r)) = strict else {
        return;
    };
    let input = split_response(buf).expect("ringlb parsed a head httparse does not");
    assert_eq!(input.len, r.head_len, "head length");
    assert_eq!(input.status, r.status, "status");
    match reference_response_framing(&input, side.head_request) {
        Ok(kind) => assert_eq!(r.body, kind, "framing differs from the reference"),
        Err(why) => panic!("ringlb accepted a head the reference refuses ({why})"),
    }
    if (100..200).contains(&r.status) {
        assert!(out.is_empty(), "an interim head was rewritten");
        return;
    }

    let fwd = split_response(&out).unwrap_or_else(|| {
        panic!(
            "the head for the client is not a complete head: {:?}",
            String::from_utf8_lossy(&out)
        )
    });
    assert_eq!(
        fwd.len,
        out.len(),
        "the head for the client is not exactly one head"
    );
    assert_eq!(fwd.status, r.status, "status");
    assert_eq!(fwd.version, 1, "ringlb answers in HTTP/1.1");
    let has = |n: &str| !fwd.values(n).is_empty();
    assert!(
        !(has("content-length") && has("transfer-encoding")),
        "Content-Length next to Transfer-Encoding: {:?}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        input.values("transfer-encoding"),
        fwd.values("transfer-encoding"),
        "Transfer-Encoding changed"
    );
    if input.values("transfer-encoding").is_empty() {
        assert_eq!(
            ringlb_fuzz::normalized_length(&input.values("content-length")),
            fwd.values("content-length")
                .iter()
                .map(|v| v.to_vec())
                .collect::<Vec<_>>(),
            "Content-Length changed"
        );
    }
    let close = fwd
        .values("connection")
        .iter()
        .any(|v| ringlb::http::header::has_token(v, b"close"));
    assert_eq!(close, !r.client_keep_alive, "Connection: close");
    assert!(
        fwd.values("connection").len() <= 1,
        "several Connection headers"
    );
    // What the client reads agrees with what ringlb decided.
    assert_eq!(
        reference_response_framing(&fwd, side.head_request),
        Ok(r.body),
        "the client frames the body differently"
    );

    // ringlb reads its own output back (when it fits its header limit: it adds
    // at most Set-Cookie, Cache-control and Connection to the server's).
    assert!(fwd.fields.len() <= input.fields.len() + 3);
    if fwd.fields.len() > MAX_HEADERS {
        return;
    }
    let plain = ClientSide {
        head_request: side.head_request,
        http10: false,
        keep_alive: true,
        cookie: None,
        accept_invalid: false,
    };
    let mut again = Vec::new();
    match response::parse(&out, &plain, &mut again) {
        Ok(Parsed::Complete(r2)) => {
            assert_eq!(r2.head_len, out.len(), "re-parsed head length");
            assert_eq!(r2.status, r.status, "re-parsed status");
            assert_eq!(r2.body, r.body, "re-parsed framing");
            assert_eq!(
                r2.server_keep_alive, r.client_keep_alive,
                "re-parsed keep-alive"
            );
        }
        other => panic!(
            "the head for the client {:?} does not re-parse: {other:?}",
            String::from_utf8_lossy(&out)
        ),
    }
});

/// The lenient mode's properties (see the module doc).
fn lenient(
    buf: &[u8],
    side: &ClientSide<'_>,
    strict: &Result<Parsed<response::Response>, ringlb::http::error::HttpError>,
    strict_out: &[u8],
) {
    let side = ClientSide {
        accept_invalid: true,
        ..*side
    };
    let mut out = Vec::new();
    let got = response::parse(buf, &side, &mut out);
    let key = |r: &Result<Parsed<response::Response>, _>| match r {
        Ok(Parsed::Complete(r)) => Ok(Some((r.head_len, r.status, r.body))),
        Ok(Parsed::Partial) => Ok(None),
        Err(e) => Err(*e),
    };
    if strict.is_ok() {
        assert_eq!(
            key(&got),
            key(strict),
            "lenient mode reads a head differently"
        );
        assert_eq!(out, strict_out, "lenient mode writes a head differently");
        return;
    }
    let Ok(Parsed::Complete(r)) = got else {
        return;
    };
    // As in the strict checks: a written head over the header limit (the
    // stickiness cookie added one) is not read back.
    let lines = out.windows(2).filter(|w| w == b"\r\n").count();
    if out.is_empty() || lines.saturating_sub(2) > MAX_HEADERS {
        return;
    }
    let plain = ClientSide {
        head_request: side.head_request,
        http10: false,
        keep_alive: true,
        cookie: None,
        accept_invalid: true,
    };
    let mut again = Vec::new();
    match response::parse(&out, &plain, &mut again) {
        Ok(Parsed::Complete(r2)) => {
            assert_eq!(r2.head_len, out.len(), "the head written is not one head");
            assert_eq!(
                (r2.status, r2.body),
                (r.status, r.body),
                "read back differently"
            );
        }
        other => panic!("the head written does not parse back: {other:?}"),
    }
}
