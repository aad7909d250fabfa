//! `ringlb::http::cookie::CookieRt`: the request `Cookie` rewrite and the
//! response `Set-Cookie` handling, for every cookie mode.
//!
//! Input: one byte choosing the configuration (`COOKIE_LINES`) and the
//! answering server, then a header value (skipped unless httparse could have
//! produced it: no control bytes but HTAB).
//!
//! Properties:
//! - `Cookie`: nothing, or exactly one well-formed header line (no CR/LF or
//!   other control byte, a header httparse reads back as one `Cookie` field);
//!   its cookies are the client's, in order, minus ringlb's own where
//!   `indirect` hides it and with the `prefix` server part stripped; the
//!   sticky server is configured and is the one the first valid cookie names;
//! - `Set-Cookie`: nothing (insert mode, ringlb's own name) or one well-formed
//!   line; rewrite/prefix give the answering server's value; the inserted
//!   cookie lines are well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::http::cookie::Sticky;
use ringlb_fuzz::{
    COOKIE_LINES, COOKIE_SERVERS, COOKIE_VALUES, cookie_configs, cookie_name, field_value_ok,
    split_request,
};

/// The header lines in `out`, each checked to be one well-formed field named `name`.
fn check_lines(out: &[u8], name: &str) -> Vec<Vec<u8>> {
    if out.is_empty() {
        return Vec::new();
    }
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    head.extend_from_slice(out);
    head.extend_from_slice(b"\r\n");
    let parsed = split_request(&head)
        .unwrap_or_else(|| panic!("not header lines: {:?}", String::from_utf8_lossy(out)));
    assert_eq!(parsed.len, head.len(), "{:?}", String::from_utf8_lossy(out));
    let lines = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(
        parsed.fields.len(),
        lines,
        "a header line was split or injected"
    );
    parsed
        .fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.value.clone())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, value)) = data.split_first() else {
        return;
    };
    if !field_value_ok(value) {
        return;
    }
    let which = usize::from(sel) % COOKIE_LINES.len();
    let server = usize::from(sel >> 4) % COOKIE_SERVERS;
    let rt = &cookie_configs()[which];
    let line = COOKIE_LINES[which];
    let name = cookie_name(which).as_bytes();
    let prefix = line.contains(" prefix");
    let hidden = line.contains(" insert") && line.contains(" indirect");

    // Request.
    let mut sticky = Sticky::default();
    let mut out = Vec::new();
    rt.request_header("Cookie", value, &mut sticky, &mut out);
    let got = check_lines(&out, "Cookie");
    assert!(got.len() <= 1, "several Cookie headers");
    assert!(
        out.is_empty() || out.starts_with(b"Cookie: "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );

    // The reference: the client's cookies, trimmed, empty ones dropped.
    let split = |p: &[u8]| -> (Vec<u8>, Vec<u8>) {
        match p.iter().position(|&b| b == b'=') {
            Some(i) => (
                p[..i].trim_ascii().to_vec(),
                p[i + 1..].trim_ascii().to_vec(),
            ),
            None => (p.trim_ascii().to_vec(), Vec::new()),
        }
    };
    let designated = |v: &[u8]| -> Option<usize> {
        let key = if prefix {
            &v[..v.iter().position(|&b| b == b'~')?]
        } else {
            v
        };
        COOKIE_VALUES
            .iter()
            .position(|s| s.is_some_and(|s| s.as_bytes() == key))
    };
    let mut expect: Vec<Vec<u8>> = Vec::new();
    let mut expect_sticky = None;
    for pair in value.split(|&b| b == b';').map(<[u8]>::trim_ascii) {
        if pair.is_empty() {
            continue;
        }
        let (n, v) = split(pair);
        if n == name {
            expect_sticky = expect_sticky.or(designated(&v));
            if hidden {
                continue;
            }
            if prefix && let Some(t) = v.iter().position(|&b| b == b'~') {
                let mut p = n.clone();
                p.push(b'=');
                p.extend_from_slice(&v[t + 1..]);
                expect.push(p);
                continue;
            }
        }
        expect.push(pair.to_vec());
    }
    assert_eq!(sticky.server, expect_sticky, "sticky server");
    if let Some(s) = sticky.server {
        assert!(s < COOKIE_SERVERS && COOKIE_VALUES[s].is_some());
    }
    let sent: Vec<Vec<u8>> = got
        .first()
        .map(|v| {
            v.split(|&b| b == b';')
                .map(|p| p.trim_ascii().to_vec())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        sent.iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>(),
        expect
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>(),
        "cookies sent to the server"
    );

    // Response.
    let mut out = Vec::new();
    rt.response_header("Set-Cookie", value, server, &mut out);
    let got = check_lines(&out, "Set-Cookie");
    assert!(got.len() <= 1, "several Set-Cookie headers");
    let first = value.split(|&b| b == b';').next().unwrap_or_default();
    let (n, v) = split(first);
    let own = COOKIE_VALUES[server];
    match (n == name, own) {
        (true, Some(_)) if line.contains(" insert") => {
            assert!(
                got.is_empty(),
                "the server's own copy is kept in insert mode"
            )
        }
        (true, Some(own)) => {
            let mut want = name.to_vec();
            want.push(b'=');
            want.extend_from_slice(own.as_bytes());
            if prefix {
                want.push(b'~');
                want.extend_from_slice(&v);
            }
            let sent = got.first().expect("the cookie is dropped");
            let sent_first = sent.split(|&b| b == b';').next().unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(sent_first),
                String::from_utf8_lossy(&want),
                "rewritten Set-Cookie"
            );
        }
        _ => assert_eq!(
            got,
            vec![value.trim_ascii().to_vec()],
            "Set-Cookie passed on"
        ),
    }

    // ringlb's own cookie.
    let mut out = Vec::new();
    rt.insert_headers(server, sel & 2 != 0, &mut out);
    let _ = check_lines(&out, "Set-Cookie");
    let _ = rt.must_insert(sticky, server, sel & 1 != 0);
});
