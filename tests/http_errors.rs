//! HTTP errors with real bad input: 400 (malformed request line), 414 (20 KB
//! URI), 431 (40 KB of headers), 501 (`Transfer-Encoding: gzip`), 408 (request
//! head stalled past `timeout http-request`), 503/502 (server port closed),
//! 504 (server silent past `timeout server`), 502/503 after the backend is
//! killed. Each error carries an HTML body, comes quickly, and the proxy keeps
//! serving good requests afterwards (nothing crashed).
//!
//! 413 comes from HAProxy's body-limit idiom, `http-request deny deny_status 413
//! if { req.body_size gt N }`, for a Content-Length and for a chunked body.

mod common;

use common::{
    HttpBackend, HttpClient, ListenCfg, Response, Ringlb, SilentBackend, closed_port, exchange,
    free_port, get,
};
use std::time::Duration;

/// Asserts the response has a status among `want` and an HTML body naming it.
fn assert_error(r: &Response, want: &[u16]) {
    assert!(
        want.contains(&r.status),
        "status {} (want {want:?}); headers {:?}, body {:?}",
        r.status,
        r.headers,
        r.text()
    );
    let body = r.text().to_ascii_lowercase();
    assert!(
        body.contains("<html") && body.contains(&r.status.to_string()),
        "error body is not an HTML page naming the status: {:?}",
        r.text()
    );
    if let Some(ct) = r.header("content-type") {
        assert!(ct.contains("text/html"), "Content-Type: {ct}");
    }
}

/// A proxy in front of one healthy backend, with `timeout http-request 1s`.
fn proxy_with_backend() -> (HttpBackend, Ringlb) {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .line("timeout http-request 1s");
    let lb = Ringlb::start(&cfg.render());
    (a, lb)
}

/// The proxy still answers a good request (it neither crashed nor wedged).
fn still_serves(lb: &Ringlb) {
    let r = get(lb.port(), "/ok");
    assert_eq!(r.status, 200, "proxy stopped serving after the error");
}

#[test]
fn malformed_request_line_gets_400() {
    let (a, lb) = proxy_with_backend();
    let (r, took) = exchange(
        lb.port(),
        b"THIS IS NOT HTTP AT ALL\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_error(&r, &[400]);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(
        a.request_count(),
        0,
        "a malformed request reached the backend"
    );
    still_serves(&lb);
}

#[test]
fn bad_header_line_gets_400() {
    let (a, lb) = proxy_with_backend();
    let (r, _) = exchange(
        lb.port(),
        b"GET / HTTP/1.1\r\nHost: test\r\nno colon here\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_error(&r, &[400]);
    assert_eq!(a.request_count(), 0);
    still_serves(&lb);
}

#[test]
fn uri_too_long_gets_414() {
    let (a, lb) = proxy_with_backend();
    let mut req = b"GET /".to_vec();
    req.extend(std::iter::repeat_n(b'a', 20 * 1024));
    req.extend(b" HTTP/1.1\r\nHost: test\r\n\r\n");
    let (r, took) = exchange(lb.port(), &req, Duration::from_secs(3));
    assert_error(&r, &[414]);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(a.request_count(), 0);
    still_serves(&lb);
}

#[test]
fn headers_too_large_get_431() {
    let (a, lb) = proxy_with_backend();
    let mut req = b"GET / HTTP/1.1\r\nHost: test\r\n".to_vec();
    // 400 headers of ~100 bytes: 40 KB, each one well-formed.
    for i in 0..400 {
        req.extend(format!("X-Fill-{i:03}: {}\r\n", "v".repeat(88)).as_bytes());
    }
    req.extend(b"\r\n");
    assert!(req.len() > 40_000);
    let (r, took) = exchange(lb.port(), &req, Duration::from_secs(3));
    assert_error(&r, &[431]);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(a.request_count(), 0);
    still_serves(&lb);
}

#[test]
fn unsupported_transfer_encoding_gets_501() {
    let (a, lb) = proxy_with_backend();
    let (r, _) = exchange(
        lb.port(),
        b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip\r\n\r\nxxxx",
        Duration::from_secs(3),
    );
    assert_error(&r, &[501]);
    assert_eq!(a.request_count(), 0);
    still_serves(&lb);
}

#[test]
fn stalled_request_head_gets_408() {
    let (a, lb) = proxy_with_backend();
    // Half a head, then silence: `timeout http-request 1s` must fire.
    let (r, took) = exchange(
        lb.port(),
        b"GET /slow HTTP/1.1\r\nHost: te",
        Duration::from_secs(5),
    );
    assert_error(&r, &[408]);
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "408 after {took:?}, want about 1 s"
    );
    assert_eq!(a.request_count(), 0);
    still_serves(&lb);
}

#[test]
fn closed_server_port_gets_503_quickly() {
    let cfg = ListenCfg::http(free_port())
        .server("gone", closed_port())
        .timeout_connect("1s");
    let lb = Ringlb::start(&cfg.render());
    let (r, took) = exchange(
        lb.port(),
        b"GET / HTTP/1.1\r\nHost: test\r\n\r\n",
        Duration::from_secs(8),
    );
    assert_error(&r, &[503, 502]);
    // Refused connects fail at once; even with retries this is far below a hang.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn silent_server_gets_504_after_timeout_server() {
    let s = SilentBackend::start();
    let cfg = ListenCfg::http(free_port())
        .server("mute", s.port())
        .timeout_server("1s");
    let lb = Ringlb::start(&cfg.render());
    let (r, took) = exchange(
        lb.port(),
        b"GET / HTTP/1.1\r\nHost: test\r\n\r\n",
        Duration::from_secs(6),
    );
    assert_error(&r, &[504]);
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "504 after {took:?}, want about 1 s"
    );
    assert!(
        s.tcp.accepted() >= 1,
        "the request never reached the server"
    );
}

#[test]
fn killed_backend_gives_502_or_503_without_hang() {
    let mut a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .timeout_connect("1s");
    let lb = Ringlb::start(&cfg.render());
    // Warm up: a kept-alive server connection now sits in the proxy's pool.
    let mut c = HttpClient::connect(lb.port());
    assert_eq!(c.get("/").status, 200);
    assert_eq!(get(lb.port(), "/").status, 200);
    a.kill();
    // New client connections: each must get an error page, not hang.
    for i in 0..3 {
        let start = std::time::Instant::now();
        let (r, _) = exchange(
            lb.port(),
            b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
            Duration::from_secs(8),
        );
        let took = start.elapsed();
        assert_error(&r, &[502, 503]);
        assert!(took < Duration::from_secs(5), "request {i} took {took:?}");
    }
    // The kept-alive client connection: an error page or a clean close, never a hang.
    c.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    match c.try_response() {
        Ok(r) => assert!(
            [502, 503].contains(&r.status),
            "status {} on the old connection",
            r.status
        ),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "old client connection hung: {e}"
        ),
    }
}

/// A proxy limiting request bodies to 1000 bytes.
fn proxy_with_body_limit() -> (HttpBackend, Ringlb) {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .line("http-request deny deny_status 413 if { req.body_size gt 1000 }");
    let lb = Ringlb::start(&cfg.render());
    (a, lb)
}

#[test]
fn body_over_the_limit_gets_413() {
    let (a, lb) = proxy_with_body_limit();
    let mut req = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'x'; 5000]);
    let (r, _) = exchange(lb.port(), &req, Duration::from_secs(3));
    assert_error(&r, &[413]);
    assert_eq!(
        a.request_count(),
        0,
        "an oversized body reached the backend"
    );

    // Within the limit, the same request goes through.
    let mut ok = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n".to_vec();
    ok.extend_from_slice(&[b'y'; 1000]);
    let (r, _) = exchange(lb.port(), &ok, Duration::from_secs(3));
    assert_eq!(r.status, 200);
    still_serves(&lb);
}

#[test]
fn chunked_body_over_the_limit_gets_413() {
    let (_a, lb) = proxy_with_body_limit();
    let mut req = b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        req.extend_from_slice(b"258\r\n");
        req.extend_from_slice(&[b'z'; 600]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (r, _) = exchange(lb.port(), &req, Duration::from_secs(3));
    assert_error(&r, &[413]);
    still_serves(&lb);
}
