//! Unit tests of `http_rules.rs`.

use super::*;

fn answer(raw: &[u8]) -> Answer {
    parse_answer(raw).expect("an answer")
}

fn expect(negate: bool, matcher: Matcher) -> Expect {
    Expect {
        negate,
        matcher,
        comment: None,
        ok_status: None,
        error_status: None,
        tout_status: None,
        on_success: None,
        on_error: None,
    }
}

fn re(s: &str) -> Re {
    Re(regex::bytes::Regex::new(s).expect("regex"))
}

const N: Names<'static> = Names {
    backend: "be",
    server: "s1",
    host: "h",
};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nX-Foo: bar, baz\r\nContent-Length: 11\r\n\r\nhello world";

#[test]
fn plan_adds_the_implied_steps() {
    assert!(HttpCheckRules::default().planned().is_empty());
    let rules = HttpCheckRules {
        steps: vec![Step::Comment("c".into())],
        ..Default::default()
    };
    let p = rules.planned().steps;
    assert!(matches!(p[0], Step::Connect(_)));
    assert!(matches!(p[1], Step::Send(_)));
    assert!(matches!(p[2], Step::Comment(_)));
    let rules = HttpCheckRules {
        steps: vec![
            Step::Connect(Connect {
                port: Some(81),
                ..Connect::default()
            }),
            Step::Send(Send::default()),
        ],
        ..Default::default()
    };
    assert_eq!(rules.planned(), rules);
}

#[test]
fn parses_answers_and_completeness() {
    let a = answer(OK);
    assert_eq!((a.code, a.reason.as_str()), (200, "OK"));
    assert_eq!(a.body, b"hello world");
    assert!(answer_complete(OK));
    assert!(!answer_complete(&OK[..OK.len() - 1]));
    assert!(!answer_complete(b"HTTP/1.1 200 OK\r\n"));
}

#[test]
fn garbage_never_panics() {
    for raw in [
        &b""[..],
        b"\r\n\r\n",
        b"HTTP/1.1",
        b"HTTP/1.1 200",
        b"HTTP/1.1 200\r\n:\r\n\r\n",
        b"\xff\xfe\r\n\r\n\xff",
        b"HTTP/1.1 200 \xff\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    ] {
        let _ = answer_complete(raw);
        if let Some(a) = parse_answer(raw) {
            for m in [
                Matcher::Status(vec![(0, 65535)]),
                Matcher::RStatus(re("^2")),
                Matcher::String(b"x".to_vec()),
                Matcher::RString(re(".")),
                Matcher::Header {
                    full: false,
                    name: Pattern::Reg(re(".*")),
                    value: Some(Pattern::Sub(String::new())),
                },
            ] {
                let _ = judge(&expect(true, m), &a, true, &Names::default());
            }
        }
    }
    assert!(parse_answer(b"SSH-2.0").is_none());
}

#[test]
fn status_ranges_and_negation() {
    let a = answer(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
    let ok = expect(false, Matcher::Status(vec![(200, 299)]));
    assert_eq!(
        judge(&ok, &a, true, &N),
        Some((CheckStatus::L7Sts, 503, "Service Unavailable".into()))
    );
    let not503 = expect(true, Matcher::Status(vec![(503, 503)]));
    assert_eq!(
        judge(&not503, &a, true, &N).map(|v| v.0),
        Some(CheckStatus::L7Sts)
    );
    let list = expect(false, Matcher::Status(vec![(200, 399), (503, 503)]));
    assert_eq!(
        judge(&list, &a, true, &N),
        Some((CheckStatus::L7Ok, 503, String::new()))
    );
    assert_eq!(
        judge(&list, &a, false, &N),
        None,
        "not the last rule: go on"
    );
    let r = expect(false, Matcher::RStatus(re("^5")));
    assert_eq!(
        judge(&r, &a, true, &N).map(|v| v.0),
        Some(CheckStatus::L7Ok)
    );
}

#[test]
fn body_matches_and_their_texts() {
    let a = answer(OK);
    let miss = expect(false, Matcher::String(b"nomatch".to_vec()));
    assert_eq!(
        judge(&miss, &a, true, &N),
        Some((
            CheckStatus::L7Rsp,
            200,
            "HTTP content check did not match".into()
        ))
    );
    let unwanted = expect(true, Matcher::String(b"hello".to_vec()));
    assert_eq!(
        judge(&unwanted, &a, true, &N).map(|v| v.2),
        Some("HTTP check matched unwanted content".into())
    );
    let r = expect(false, Matcher::RString(re("w.rld")));
    assert_eq!(
        judge(&r, &a, true, &N).map(|v| v.0),
        Some(CheckStatus::L7Ok)
    );
    let mut c = expect(false, Matcher::Status(vec![(201, 201)]));
    c.comment = Some("my test".into());
    assert_eq!(
        judge(&c, &a, true, &N).map(|v| v.2),
        Some("OK comment: my test".into())
    );
    c.on_error = Some(Fmt::plain("bad"));
    assert_eq!(
        judge(&c, &a, true, &N).map(|v| v.2),
        Some("bad comment: my test".into())
    );
}

#[test]
fn header_matches() {
    let a = answer(OK);
    let h = |name, value, full| expect(false, Matcher::Header { full, name, value });
    let pass = |e: Expect| judge(&e, &a, true, &N).map(|v| v.0) == Some(CheckStatus::L7Ok);
    assert!(pass(h(Pattern::Str("x-foo".into()), None, false)));
    assert!(!pass(h(Pattern::Str("x-bar".into()), None, false)));
    assert!(pass(h(
        Pattern::Str("X-FOO".into()),
        Some(Pattern::Str("baz".into())),
        false
    )));
    assert!(!pass(h(
        Pattern::Str("x-foo".into()),
        Some(Pattern::Str("baz".into())),
        true
    )));
    assert!(pass(h(
        Pattern::Beg("x-".into()),
        Some(Pattern::Reg(re("^bar, b.z$"))),
        true
    )));
    assert!(pass(h(
        Pattern::End("foo".into()),
        Some(Pattern::Sub("a".into())),
        false
    )));
}

#[test]
fn requests_as_haproxy_writes_them() {
    let base = crate::config::model::HttpCheck {
        method: "GET".into(),
        uri: "/health".into(),
        version: "HTTP/1.0".into(),
    };
    let s = Send {
        headers: vec![
            ("Host".into(), Fmt::plain("example.com")),
            ("X-A".into(), Fmt::plain("v1")),
        ],
        body: Some(Fmt::plain("abc")),
        ..Send::default()
    };
    assert_eq!(
        build_request(&s, Some(&base), None, &N),
        b"GET /health HTTP/1.0\r\nhost: example.com\r\nx-a: v1\r\ncontent-length: 3\r\n\r\nabc"
    );
    let s = Send {
        method: Some("POST".into()),
        uri: Some(Fmt::plain("/p")),
        version: Some("HTTP/1.1".into()),
        body: Some(Fmt::plain("x=1")),
        ..Send::default()
    };
    assert_eq!(
        build_request(&s, None, None, &N),
        b"POST /p HTTP/1.1\r\ncontent-length: 3\r\nconnection: close\r\n\r\nx=1"
    );
    let hidden = crate::config::model::HttpCheck {
        version: "HTTP/1.1\r\nHost: www".into(),
        ..base
    };
    assert_eq!(
        build_request(&Send::default(), Some(&hidden), None, &N),
        b"GET /health HTTP/1.1\r\nhost: www\r\nconnection: close\r\n\r\n"
    );
    let own = Send {
        headers: vec![("X-A".into(), Fmt::plain("b"))],
        ..Send::default()
    };
    assert_eq!(
        build_request(&own, Some(&hidden), None, &N),
        b"GET /health HTTP/1.1\r\nx-a: b\r\nconnection: close\r\n\r\n"
    );
}

#[test]
fn send_state_values() {
    let h = StateHeader {
        up: true,
        nolb: false,
        health: (2, 2, 3),
        addr: Some("127.0.0.1:9101".parse().expect("addr")),
        names: ("be", "s1"),
        node: "vm",
        weights: (1, 1),
        sessions: (0, 0, 0),
        throttle: None,
    };
    assert_eq!(
        h.render(),
        "UP 1/3; address=127.0.0.1; port=9101; name=be/s1; node=vm; weight=1/1; scur=0/0; qcur=0"
    );
    let full = StateHeader {
        health: (4, 2, 3),
        ..h
    };
    assert!(full.render().starts_with("UP; "));
    let down = StateHeader {
        up: false,
        health: (1, 2, 3),
        ..h
    };
    assert!(down.render().starts_with("DOWN 1/2; "));
    let warming = StateHeader {
        throttle: Some(25),
        ..h
    };
    assert!(warming.render().ends_with("; qcur=0; throttle=25%"));
}
