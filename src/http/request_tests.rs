//! Tests of `request.rs`: parsing, framing, and the head written for the server.
use super::*;

fn rw() -> Rewrite<'static> {
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

fn xff() -> ForwardFor {
    ForwardFor {
        header: "X-Forwarded-For".into(),
        except: None,
        if_none: false,
    }
}

/// `option forwardfor` for a client at 10.0.0.9.
fn rw_xff(ff: &ForwardFor, close_server: bool) -> Rewrite<'_> {
    Rewrite {
        forwardfor: Some(ff),
        client: Some("10.0.0.9".parse().unwrap()),
        originalto: None,
        close_server,
        pretend_keepalive: false,
        cookie: None,
        extra: None,
        server_name: None,
    }
}

#[test]
fn forwardfor_appends_to_existing() {
    let ff = xff();
    let rw = rw_xff(&ff, true);
    let (_, out) = ok(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: keep-alive\r\n\r\n",
        &rw,
    );
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
        originalto: None,
        close_server: false,
        pretend_keepalive: false,
        cookie: None,
        extra: None,
        server_name: None,
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
fn framing_headers_are_never_hop_by_hop() {
    for c in [
        "Content-Length",
        "content-length, x-a",
        "Transfer-Encoding",
        "Host",
    ] {
        let req = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nConnection: {c}\r\nContent-Length: 3\r\n\r\nabc"
        );
        let (r, out) = ok(req.as_bytes(), &rw());
        assert_eq!(r.body, BodyKind::Length(3), "{c}");
        assert!(out.contains("Content-Length: 3\r\n"), "{c}: {out}");
        assert!(out.contains("Host: x\r\n"), "{c}: {out}");
    }
    let (r, out) = ok(
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n",
        &rw(),
    );
    assert_eq!(r.body, BodyKind::Chunked);
    assert!(out.contains("Transfer-Encoding: chunked\r\n"), "{out}");
}

#[test]
fn transfer_codings_other_than_a_lone_chunked_are_refused() {
    let e = |te: &str| {
        let req = format!("POST / HTTP/1.1\r\nHost: x\r\n{te}\r\n\r\n");
        parse(req.as_bytes(), &rw(), &mut Vec::new()).err()
    };
    let bad = Some(HttpError::BadRequest);
    let unsupported = Some(HttpError::NotImplemented);
    assert_eq!(e("Transfer-Encoding: identity, chunked"), unsupported);
    assert_eq!(e("Transfer-Encoding: gzip, chunked"), unsupported);
    assert_eq!(
        e("Transfer-Encoding: xchunked\r\nTransfer-Encoding: chunked"),
        unsupported
    );
    assert_eq!(e("Transfer-Encoding: ,chunked"), bad);
    assert_eq!(
        e("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
        bad
    );
    assert_eq!(e("Transfer-Encoding: chunked, gzip"), bad);
    assert_eq!(e("Transfer-Encoding: chunked"), None);
}

#[test]
fn chunked_beside_content_length_closes_after() {
    let (r, _) = ok(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        &rw(),
    );
    assert!(!r.keep_alive);
}

#[test]
fn absolute_form_must_agree_with_host() {
    let e = |req: &[u8]| parse(req, &rw(), &mut Vec::new()).err();
    assert_eq!(
        e(b"GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n"),
        Some(HttpError::BadRequest)
    );
    assert_eq!(
        e(b"GET http://user@a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n"),
        Some(HttpError::BadRequest)
    );
    let (_, out) = ok(
        b"GET http://a.example:80/x HTTP/1.1\r\nHost: A.example\r\n\r\n",
        &rw(),
    );
    assert_eq!(
        out,
        "GET http://a.example:80/x HTTP/1.1\r\nHost: A.example\r\n\r\n"
    );
    // Without a Host, the authority becomes one.
    let (_, out) = ok(b"GET http://a.example/x HTTP/1.1\r\n\r\n", &rw());
    assert_eq!(
        out,
        "GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n"
    );
}

#[test]
fn rewrites_stay_within_the_header_limit() {
    let ff = xff();
    let rw = rw_xff(&ff, false);
    let mut full = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..MAX_HEADERS {
        full.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    full.extend_from_slice(b"\r\n");
    let mut out = Vec::new();
    assert_eq!(
        parse(&full, &rw, &mut out).err(),
        Some(HttpError::HeadersTooLarge)
    );
    // Without the rewrite the same head fits exactly.
    assert!(parse(&full, &super::tests::rw(), &mut out).is_ok());
}

#[test]
fn extra_header_follows_the_clients_and_counts() {
    let ff = xff();
    let rw = Rewrite {
        extra: Some(("X-Unique-ID", b"7F000001:1F90")),
        server_name: None,
        ..rw_xff(&ff, false)
    };
    let (_, out) = ok(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Unique-ID: client\r\n\r\n",
        &rw,
    );
    // The client's own header stays, as HAProxy adds without replacing.
    assert_eq!(
        out,
        "GET / HTTP/1.1\r\nHost: x\r\nX-Unique-ID: client\r\n\
         X-Unique-ID: 7F000001:1F90\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n"
    );
    let mut full = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..MAX_HEADERS {
        full.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    full.extend_from_slice(b"\r\n");
    let rw = Rewrite {
        extra: Some(("X-Id", b"1")),
        server_name: None,
        ..super::tests::rw()
    };
    assert_eq!(
        parse(&full, &rw, &mut Vec::new()).err(),
        Some(HttpError::HeadersTooLarge)
    );
}

#[test]
fn framing() {
    let (r, _) = ok(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n",
        &rw(),
    );
    assert_eq!(r.body, BodyKind::Length(12));
    let (r, out) = ok(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nTransfer-Encoding: chunked\r\n\r\n",
        &rw(),
    );
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

/// Parses with `option accept-invalid-http-request` on or off: the status
/// (0 for a complete head) and the head written for the server.
fn with_flags(buf: &[u8], accept_invalid: bool) -> Result<String, HttpError> {
    let mut slots = header_slots();
    let flags = ParseFlags { accept_invalid };
    match parse_head_with(buf, &mut slots, flags)? {
        Parsed::Complete(head) => {
            let mut out = Vec::new();
            rewrite(&head, buf, &rw(), &mut out)?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        Parsed::Partial => panic!("partial"),
    }
}

#[test]
fn fragment_and_non_ascii_targets_need_the_option() {
    for bad in [
        &b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET /a?b=#c HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        assert_eq!(with_flags(bad, false).err(), Some(HttpError::BadRequest));
        let out = with_flags(bad, true).unwrap();
        assert!(
            out.starts_with(std::str::from_utf8(&bad[..10]).unwrap()),
            "{out}"
        );
    }
    // Not UTF-8: refused either way (httparse gives the target as `str`).
    let bad = b"GET /a\xff HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(with_flags(bad, true).err(), Some(HttpError::BadRequest));
    // What HAProxy 2.6 takes in strict mode, ringlb takes too.
    assert!(with_flags(b"GET /a{b}|\"<>\\^` HTTP/1.1\r\nHost: x\r\n\r\n", false).is_ok());
}

#[test]
fn invalid_header_names_need_the_option_and_keep_the_framing() {
    let req = b"POST /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(with_flags(req, false).err(), Some(HttpError::BadRequest));
    let mut slots = header_slots();
    let flags = ParseFlags {
        accept_invalid: true,
    };
    let Parsed::Complete(head) = parse_head_with(req, &mut slots, flags).unwrap() else {
        panic!("partial")
    };
    assert_eq!(
        (head.body, head.head_len),
        (BodyKind::Length(3), req.len() - 3)
    );
    let out = with_flags(req, true).unwrap();
    assert!(out.contains("X[a]: 1\r\n"), "{out}");
    // The framing checks still hold with the option.
    for bad in [
        &b"POST /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"[..],
        b"POST /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\nContent-Length : 3\r\n\r\nabc",
        b"POST /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\rContent-Length: 3\r\n\r\nabc",
        b"GET /a HTTP/1.1\r\nX[a]: 1\r\nHost: x\r\nHost: y\r\n\r\n",
    ] {
        assert_eq!(with_flags(bad, true).err(), Some(HttpError::BadRequest));
    }
    let conflict =
        b"POST /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n";
    let out = with_flags(conflict, true).unwrap();
    assert!(!out.contains("Content-Length"), "{out}");
}
