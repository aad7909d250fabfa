//! Frontends without any backend, as HAProxy accepts them: the port-80
//! frontend that only redirects to https, the `stats` frontend, the
//! `monitor-uri` frontend; what they do not answer themselves gets 503, and a
//! `mode tcp` one closes every connection. Each case runs through ringlb and
//! through HAProxy 2.6 on the same text; clients must see the same.

mod common;

use common::{Haproxy, Ringlb, free_port, same_as_haproxy};
use std::io::{Read, Write};
use std::time::Duration;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// What a client sees of one GET: status, `Location`, content type's first
/// token, and whether the body names `needle`.
fn seen(port: u16, path: &str, needle: &str) -> Seen {
    let req = format!("GET {path} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    let (r, _) = common::exchange(port, req.as_bytes(), Duration::from_secs(5));
    let ctype = r
        .header("content-type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string());
    (
        r.status,
        r.header("location").map(str::to_string),
        ctype,
        r.text().contains(needle),
    )
}

/// What clients see of `paths` through ringlb, checked the same through
/// HAProxy (when installed) on `cfg(port)`.
type Seen = (u16, Option<String>, Option<String>, bool);
fn through_both(cfg: impl Fn(u16) -> String, paths: &[(&str, &str)]) -> Vec<Seen> {
    let look = |port| paths.iter().map(|(p, n)| seen(port, p, n)).collect();
    same_as_haproxy(&format!("{paths:?}"), cfg, look)
}

#[test]
fn a_frontend_that_only_redirects_to_https_needs_no_backend() {
    let got = through_both(
        |port| {
            format!(
                "{DEFAULTS}frontend http\n    bind 127.0.0.1:{port}\n    \
                 http-request redirect scheme https unless {{ ssl_fc }}\n"
            )
        },
        &[("/a/b?c=d", "")],
    );
    assert_eq!(got[0].0, 302);
    assert_eq!(got[0].1.as_deref(), Some("https://example.com/a/b?c=d"));
    // The 1.4-era form, with a code.
    let got = through_both(
        |port| {
            format!(
                "{DEFAULTS}frontend http\n    bind 127.0.0.1:{port}\n    \
                 redirect scheme https code 301\n"
            )
        },
        &[("/x", "")],
    );
    assert_eq!(
        (got[0].0, got[0].1.as_deref()),
        (301, Some("https://example.com/x"))
    );
}

#[test]
fn a_stats_frontend_serves_the_page_and_503_elsewhere() {
    let got = through_both(
        |port| {
            format!(
                "{DEFAULTS}frontend stats\n    bind 127.0.0.1:{port}\n    stats enable\n    \
                 stats uri /stats\n    stats refresh 10s\n\
                 backend app\n    server a1 127.0.0.1:9\n"
            )
        },
        &[("/stats", "app"), ("/other", "")],
    );
    assert_eq!(
        (got[0].0, got[0].2.as_deref(), got[0].3),
        (200, Some("text/html"), true)
    );
    assert_eq!(got[1].0, 503);
    // The same frontend alone in its file: no backend anywhere.
    let got = through_both(
        |port| {
            format!(
                "{DEFAULTS}frontend stats\n    bind 127.0.0.1:{port}\n    stats enable\n    \
                 stats uri /stats\n"
            )
        },
        &[("/stats", "stats"), ("/other", "")],
    );
    assert_eq!((got[0].0, got[0].3, got[1].0), (200, true, 503));
}

#[test]
fn a_monitor_frontend_answers_its_uri_and_503_elsewhere() {
    let got = through_both(
        |port| {
            format!(
                "{DEFAULTS}frontend health\n    bind 127.0.0.1:{port}\n    monitor-uri /health\n"
            )
        },
        &[("/health", ""), ("/", "")],
    );
    assert_eq!((got[0].0, got[1].0), (200, 503));
}

/// Connects, sends a line, and reads until the proxy closes: the bytes.
fn closed_with(port: u16) -> Vec<u8> {
    let mut s = common::connect(port);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"hello\n");
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("closed within 5 s");
    got
}

#[test]
fn a_tcp_frontend_without_backend_closes_connections() {
    let cfg = |port| {
        format!(
            "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\nfrontend t\n    bind 127.0.0.1:{port}\n"
        )
    };
    let port = free_port();
    {
        let _lb = Ringlb::start(&cfg(port));
        assert_eq!(closed_with(port), b"");
    }
    let port = free_port();
    if let Some(_h) = Haproxy::start(&cfg(port), port) {
        assert_eq!(closed_with(port), b"", "HAProxy 2.6");
    }
}
