//! HTTP mode end to end with 2 workers: weighted round robin, X-Forwarded-For,
//! keep-alive by default (and server connection reuse), `option httpclose`,
//! HTTP/1.0 clients, request bodies (Content-Length and chunked) and response
//! bodies (1 MB, chunked, close-delimited) relayed intact, framing kept across
//! pipelined requests and HEAD, many headers passed through, idle keep-alive
//! connections closed by `timeout client`, response bodies streamed (not
//! buffered whole), and a real client (curl).

mod common;

use common::{
    BIG_LEN, HttpBackend, HttpClient, ListenCfg, Ringlb, TRICKLE_PAUSE, assert_same_bytes,
    big_body, chunked_body, eof_body, find, free_port, get, pattern,
};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

/// Counts responses per `X-Server`.
fn tally(servers: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for s in servers {
        *m.entry(s.clone()).or_insert(0) += 1;
    }
    m
}

#[test]
fn roundrobin_alternates_on_one_connection() {
    // One client connection is served by one worker, whose rotation is its own:
    // per-request balancing (as HAProxy in keep-alive) must alternate strictly.
    let (a, b) = (HttpBackend::start("a"), HttpBackend::start("b"));
    let cfg = ListenCfg::http(free_port())
        .weighted("a", a.port(), 1)
        .weighted("b", b.port(), 1);
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let seq: Vec<String> = (0..10)
        .map(|_| {
            let r = c.get("/");
            assert_eq!(r.status, 200);
            r.server()
        })
        .collect();
    for w in seq.windows(2) {
        assert_ne!(w[0], w[1], "not alternating: {seq:?}");
    }
    assert!(seq.iter().all(|s| s == "a" || s == "b"), "{seq:?}");
}

#[test]
fn roundrobin_balances_new_connections_across_workers() {
    // New connections land on either worker (SO_REUSEPORT); each worker rotates
    // on its own, so the split is even within one request per worker.
    let (a, b) = (HttpBackend::start("a"), HttpBackend::start("b"));
    let cfg = ListenCfg::http(free_port())
        .weighted("a", a.port(), 1)
        .weighted("b", b.port(), 1);
    let lb = Ringlb::start(&cfg.render());
    let seq: Vec<String> = (0..20)
        .map(|_| {
            let r = get(lb.port(), "/");
            assert_eq!(r.status, 200);
            r.server()
        })
        .collect();
    let t = tally(&seq);
    let (na, nb) = (
        t.get("a").copied().unwrap_or(0),
        t.get("b").copied().unwrap_or(0),
    );
    assert_eq!(na + nb, 20, "{seq:?}");
    assert!(na.abs_diff(nb) <= 2, "uneven split a={na} b={nb}: {seq:?}");
}

#[test]
fn roundrobin_weights_3_to_1_on_one_connection() {
    let (a, b) = (HttpBackend::start("a"), HttpBackend::start("b"));
    let cfg = ListenCfg::http(free_port())
        .weighted("a", a.port(), 3)
        .weighted("b", b.port(), 1);
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let seq: Vec<String> = (0..40).map(|_| c.get("/").server()).collect();
    let t = tally(&seq);
    let na = t.get("a").copied().unwrap_or(0);
    let nb = t.get("b").copied().unwrap_or(0);
    assert_eq!(na + nb, 40, "{seq:?}");
    assert!(
        na.abs_diff(30) <= 1,
        "a={na} b={nb}, want 30:10 ±1: {seq:?}"
    );
    // Spread within each cycle of 4: never 4 b's in a row, and a cycle holds 2..=4 a's.
    for cycle in seq.chunks(4) {
        let ca = cycle.iter().filter(|s| *s == "a").count();
        assert!((2..=4).contains(&ca), "cycle {cycle:?} in {seq:?}");
    }
}

#[test]
fn roundrobin_weights_3_to_1_on_new_connections() {
    let (a, b) = (HttpBackend::start("a"), HttpBackend::start("b"));
    let cfg = ListenCfg::http(free_port())
        .weighted("a", a.port(), 3)
        .weighted("b", b.port(), 1);
    let lb = Ringlb::start(&cfg.render());
    let seq: Vec<String> = (0..40).map(|_| get(lb.port(), "/").server()).collect();
    let t = tally(&seq);
    let na = t.get("a").copied().unwrap_or(0);
    let nb = t.get("b").copied().unwrap_or(0);
    assert_eq!(na + nb, 40, "{seq:?}");
    // ±1 per worker cycle, two workers.
    assert!(na.abs_diff(30) <= 2, "a={na} b={nb}, want 30:10: {seq:?}");
}

#[test]
fn forwardfor_adds_client_address() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .line("option forwardfor");
    let lb = Ringlb::start(&cfg.render());
    let r = get(lb.port(), "/xff");
    assert_eq!(r.status, 200);
    let got = a.last();
    assert_eq!(got.path, "/xff");
    assert_eq!(
        got.joined("x-forwarded-for").as_deref(),
        Some("127.0.0.1"),
        "headers at backend: {:?}",
        got.headers
    );
}

#[test]
fn forwardfor_appends_to_existing_header() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .line("option forwardfor");
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let r = c.request(
        b"GET / HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    // A second header line or a comma-joined value are equivalent (RFC 9110 §5.3).
    let got = a.last();
    assert_eq!(
        got.joined("x-forwarded-for").as_deref(),
        Some("10.1.2.3, 127.0.0.1"),
        "headers at backend: {:?}",
        got.headers
    );
}

#[test]
fn no_forwardfor_without_option() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    assert_eq!(get(lb.port(), "/").status, 200);
    assert_eq!(a.last().header("x-forwarded-for"), None);
}

#[test]
fn keepalive_by_default_and_server_connections_reused() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    for i in 0..10 {
        let r = c.get(&format!("/ka/{i}"));
        assert_eq!(r.status, 200, "request {i}");
        assert!(
            !r.says_close(),
            "request {i} answered with Connection: close"
        );
        assert_eq!(r.minor, 1);
    }
    // The client connection is still open.
    assert!(!c.closed_within(Duration::from_millis(300)));
    assert_eq!(a.request_count(), 10);
    assert!(
        a.connections() < 10,
        "backend saw {} connections for 10 requests: no reuse",
        a.connections()
    );
}

#[test]
fn httpclose_closes_both_sides_after_response() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .line("option httpclose");
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert!(r.says_close(), "headers: {:?}", r.headers);
    assert!(
        c.closed_within(Duration::from_secs(2)),
        "client connection still open after httpclose response"
    );
    // HAProxy 1.9+ semantics (SPEC §3a): the server side is closed too.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while a.tcp.active() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(a.tcp.active(), 0, "server connection left open");
}

#[test]
fn http10_client_without_keepalive_is_closed() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let r = c.request(b"GET /old HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.server(), "a");
    assert!(
        c.closed_within(Duration::from_secs(2)),
        "HTTP/1.0 client connection left open"
    );
}

#[test]
fn http10_client_with_keepalive_stays_open() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    for _ in 0..2 {
        let r = c.request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(r.status, 200);
        assert!(
            r.header("content-length").is_some(),
            "an HTTP/1.0 keep-alive response needs a length"
        );
    }
    assert!(!c.closed_within(Duration::from_millis(300)));
}

#[test]
fn post_content_length_body_arrives_intact() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let body = pattern(300_000, 1);
    let mut c = HttpClient::connect(lb.port());
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend(&body);
    let r = c.request(&req);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = a.last();
    assert_eq!(got.method, "POST");
    assert_same_bytes(&got.body, &body, "POST body at backend");
    // The connection is still usable after a body.
    assert_eq!(c.get("/after").status, 200);
    assert_eq!(a.last().path, "/after");
}

#[test]
fn post_chunked_body_arrives_intact() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let body = pattern(200_000, 2);
    let mut req =
        b"POST /chunks HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut off = 0;
    for size in [1usize, 17, 4096, 16384, 20000, 159502] {
        req.extend(format!("{size:x}\r\n").as_bytes());
        req.extend(&body[off..off + size]);
        req.extend(b"\r\n");
        off += size;
    }
    assert_eq!(off, body.len());
    req.extend(b"0\r\n\r\n");
    let mut c = HttpClient::connect(lb.port());
    let r = c.request(&req);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_same_bytes(&a.last().body, &body, "chunked POST body at backend");
    assert_eq!(c.get("/after").status, 200);
}

#[test]
fn large_response_arrives_intact() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let r = c.get("/big");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), BIG_LEN);
    assert_same_bytes(&r.body, &big_body(), "1 MB response");
    // Framing kept: the next response on the same connection is intact too.
    let r = c.get("/big");
    assert_same_bytes(&r.body, &big_body(), "second 1 MB response");
}

#[test]
fn chunked_response_relayed() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let r = c.get("/chunked");
    assert_eq!(r.status, 200);
    assert!(
        r.chunked || r.header("content-length").is_some(),
        "no framing: {:?}",
        r.headers
    );
    assert_same_bytes(&r.body, &chunked_body(), "chunked response");
    // The chunked framing ended where it should: the connection carries on.
    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(a.last().path, "/");
}

#[test]
fn curl_reuses_the_client_connection() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let url = format!("http://127.0.0.1:{}/", lb.port());
    let out = Command::new("curl")
        .args(["-sv", "--max-time", "5", &url, &url])
        .output()
        .expect("run curl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "curl failed: {stderr}");
    assert_eq!(stdout.matches("server=a").count(), 2, "stdout: {stdout}");
    assert!(
        stderr.contains("Re-using existing connection"),
        "curl did not reuse the connection: {stderr}"
    );
}

#[test]
fn curl_sees_close_with_httpclose() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .line("option httpclose");
    let lb = Ringlb::start(&cfg.render());
    let url = format!("http://127.0.0.1:{}/", lb.port());
    let out = Command::new("curl")
        .args(["-sv", "--max-time", "5", &url, &url])
        .output()
        .expect("run curl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {stderr}");
    assert!(
        !stderr.contains("Re-using existing connection"),
        "curl reused a connection the proxy should have closed: {stderr}"
    );
    assert_eq!(a.request_count(), 2);
}

#[test]
fn pipelined_requests_answered_in_order() {
    let (a, b) = (HttpBackend::start("a"), HttpBackend::start("b"));
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .server("b", b.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    // Three requests in one write: responses must come back in request order.
    c.send(
        b"GET /p1 HTTP/1.1\r\nHost: test\r\n\r\n\
          GET /p2 HTTP/1.1\r\nHost: test\r\n\r\n\
          GET /p3 HTTP/1.1\r\nHost: test\r\n\r\n",
    );
    for p in ["/p1", "/p2", "/p3"] {
        let r = c.response();
        assert_eq!(r.status, 200);
        assert!(
            r.text().contains(&format!("request=GET {p} HTTP/1.1")),
            "expected the answer to {p}, got {:?}",
            r.text()
        );
    }
}

#[test]
fn requests_pipelined_after_a_large_body_are_kept() {
    // The large body streams through a 64 KB buffer; the requests written with
    // it (more than a 16 KB buffer holds) must all be answered, in order.
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let body = pattern(200_000, 3);
    let mut req = format!(
        "POST /big-upload HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend(&body);
    let filler = "x".repeat(400);
    for i in 0..60 {
        req.extend(
            format!("GET /after/{i} HTTP/1.1\r\nHost: test\r\nX-Pad: {filler}\r\n\r\n").bytes(),
        );
    }
    let mut c = HttpClient::connect(lb.port());
    c.send(&req);
    let r = c.response();
    assert_eq!(r.status, 200, "{}", r.text());
    for i in 0..60 {
        let r = c.response();
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert!(
            r.text()
                .contains(&format!("request=GET /after/{i} HTTP/1.1")),
            "expected the answer to /after/{i}, got {:?}",
            r.text()
        );
    }
    assert_same_bytes(&a.requests()[0].body, &body, "POST body at backend");
}

#[test]
fn head_response_has_no_body_and_keeps_framing() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let r = c.head("/h");
    assert_eq!(r.status, 200);
    assert!(r.header("content-length").is_some());
    // Had the proxy waited for (or sent) a body, this response would be wrong or late.
    let r = c.get("/after-head");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("request=GET /after-head"), "{}", r.text());
}

#[test]
fn close_delimited_response_relayed_intact() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    c.send(b"GET /eof HTTP/1.1\r\nHost: test\r\n\r\n");
    // The proxy may relay it close-delimited or re-frame it as chunked.
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_same_bytes(&r.body, &eof_body(), "close-delimited response");
}

#[test]
fn many_request_headers_pass_through() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut req = b"GET /many HTTP/1.1\r\nHost: test\r\n".to_vec();
    // 60 headers, 6 KB: well inside a 16 KB buffer and HAProxy's 101-header limit.
    for i in 0..60 {
        req.extend(format!("X-H{i:02}: {}\r\n", "z".repeat(90)).as_bytes());
    }
    req.extend(b"\r\n");
    let r = HttpClient::connect(lb.port()).request(&req);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = a.last();
    for i in 0..60 {
        assert_eq!(
            got.header(&format!("x-h{i:02}")),
            Some("z".repeat(90).as_str()),
            "header {i} lost"
        );
    }
}

#[test]
fn idle_keepalive_client_closed_after_timeout_client() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .timeout_client("1s");
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    assert_eq!(c.get("/").status, 200);
    let start = std::time::Instant::now();
    assert!(
        c.closed_within(Duration::from_secs(4)),
        "idle keep-alive connection still open 4 s after the response"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "closed after {:?}, before timeout client",
        start.elapsed()
    );
}

#[test]
fn curl_post_with_expect_100_continue() {
    // With `Expect: 100-continue` curl waits up to 1 s for the interim response
    // before sending the body: the proxy must relay it (or answer it). curl 7.88
    // only adds the header itself for bodies over 1 MB, so ask for it.
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let dir = common::TestDir::new("curl-post");
    let body = pattern(100_000, 11);
    let file = dir.path().join("body.bin");
    std::fs::write(&file, &body).unwrap();
    let url = format!("http://127.0.0.1:{}/upload", lb.port());
    let start = std::time::Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-H", "Expect: 100-continue"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(&url)
        .output()
        .expect("run curl");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = a.last();
    assert!(got.header("expect").is_some(), "curl did not send Expect");
    assert_same_bytes(&got.body, &body, "curl POST body at backend");
    assert!(
        took < Duration::from_millis(900),
        "took {took:?}: the 100 Continue did not reach curl"
    );
}

#[test]
fn response_body_is_streamed_not_buffered() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let start = std::time::Instant::now();
    c.send(b"GET /trickle HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = c.conn.read_head().unwrap().expect("response head");
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    // The first chunk must arrive long before the server sends the rest.
    while find(c.conn.buffered(), b"first\n").is_none() {
        assert!(c.conn.fill().unwrap() > 0, "closed before the first chunk");
    }
    let t_first = start.elapsed();
    assert!(
        t_first < TRICKLE_PAUSE / 2,
        "first chunk after {t_first:?}: the body was buffered, not streamed"
    );
}

#[test]
fn a_closing_response_is_not_held_back() {
    // The last response of a connection is held back (MSG_MORE) so that it
    // leaves with the FIN; the close must release it at once, not a timer.
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let mut took = Vec::new();
    for i in 0..9 {
        let started = std::time::Instant::now();
        let (raw, _) = common::raw_exchange(
            lb.port(),
            format!("GET /c/{i} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(3),
        );
        took.push(started.elapsed());
        let r = common::parse_response(&raw);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    took.sort();
    assert!(
        took[4] < Duration::from_millis(150),
        "median {:?} per closing exchange: the held-back response waited for a timer",
        took[4]
    );
}
