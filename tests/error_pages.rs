//! Custom error pages and monitoring end to end, through the real binary:
//! `errorfile` (frontend, backend, inherited from `defaults`), `errorloc302`
//! and `errorloc303`, `http-errors` sections with `errorfiles`, `http-error`
//! replies, on real errors: 503 (no server can take the request), 502 (the
//! server closes without answering), 504 (`timeout server`), 403 (body-size
//! deny), 400 and 408; `monitor-uri` (200, 503 with `monitor fail`, not
//! logged, kept alive as HAProxy keeps it); 1.4's `monitor-net` in both
//! modes (HAProxy 2.6 refuses it). The same configuration runs in
//! HAProxy 2.6 and every client gets the same bytes (status line, headers,
//! body) from both, except where the test says why ringlb differs. Config
//! errors (missing file, bad code, unknown section) name file:line.

mod common;

use common::{
    Haproxy, HttpBackend, HttpClient, Ringlb, SilentBackend, TcpBackend, TestDir, closed_port,
    free_port, haproxy_binary, raw_exchange, run_cli, stats_command,
};
use std::io::Read;
use std::time::{Duration, Instant};

/// The error files the tests use, as operators write them (CRLF or LF, mixed case).
fn write_pages(dir: &TestDir) {
    dir.write(
        "fe503.http",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Length: 21\r\n\r\n<h1>frontend 503</h1>",
    );
    dir.write(
        "own503.http",
        "HTTP/1.0 503 Service Unavailable\nContent-Type: text/plain\nX-Page: own\n\nbackend maintenance\n",
    );
    dir.write(
        "site503.http",
        "HTTP/1.1 503 Down For Maintenance\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nsite 503\n",
    );
    dir.write(
        "site502.http",
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nsite 502\n",
    );
    dir.write(
        "504.http",
        "HTTP/1.1 504 Gateway Time-out\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\ndefaults 504",
    );
    dir.write(
        "403.http",
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ndenied\n",
    );
    // Never sent: the deny rule is the frontend's, which runs before the
    // backend is chosen, so the frontend's page wins (HAProxy).
    dir.write(
        "be403.http",
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 11\r\n\r\nbackend 403",
    );
    dir.write(
        "400.http",
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbad\n",
    );
    dir.write(
        "408.http",
        "HTTP/1.1 408 Request Time-out\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nslow\n",
    );
}

/// The servers behind the proxy: one that answers, one that hangs up on
/// each request (502), one that never answers (504).
struct Servers {
    ok: HttpBackend,
    closer: TcpBackend,
    silent: SilentBackend,
}

impl Servers {
    fn start() -> Servers {
        Servers {
            ok: HttpBackend::start("ok"),
            closer: TcpBackend::start(|mut s| {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
            }),
            silent: SilentBackend::start(),
        }
    }
}

/// One configuration for ringlb and HAProxy alike.
fn config(dir: &TestDir, port: u16, srv: &Servers) -> String {
    let d = dir.path().display();
    let down = closed_port();
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 1s\n\
         \x20   timeout http-request 1s\n    retries 0\n    errorfile 504 {d}/504.http\n\
         http-errors site\n    errorfile 503 {d}/site503.http\n    errorfile 502 {d}/site502.http\n\
         frontend fe\n    bind 127.0.0.1:{port}\n\
         \x20   errorfile 503 {d}/fe503.http\n    errorfile 403 {d}/403.http\n\
         \x20   errorfile 400 {d}/400.http\n    errorfile 408 {d}/408.http\n\
         \x20   monitor-uri /health\n    monitor fail if {{ req.hdr(x-fail) yes }}\n\
         \x20   http-request deny if {{ req.body_size gt 10 }}\n\
         \x20   use_backend own if {{ path_beg /own }}\n\
         \x20   use_backend plain if {{ path_beg /plain }}\n\
         \x20   use_backend loc302 if {{ path_beg /loc302 }}\n\
         \x20   use_backend loc303 if {{ path_beg /loc303 }}\n\
         \x20   use_backend sect if {{ path_beg /sect }}\n\
         \x20   use_backend closer if {{ path_beg /closer }}\n\
         \x20   use_backend silent if {{ path_beg /silent }}\n\
         \x20   use_backend reply if {{ path_beg /reply }}\n\
         \x20   use_backend nothing if {{ path_beg /nothing }}\n\
         \x20   default_backend ok\n\
         backend ok\n    errorfile 403 {d}/be403.http\n    server s 127.0.0.1:{ok}\n\
         backend own\n    errorfile 503 {d}/own503.http\n    server s 127.0.0.1:{down}\n\
         backend plain\n    server s 127.0.0.1:{down}\n\
         backend loc302\n    errorloc302 503 http://sorry.example/down\n    server s 127.0.0.1:{down}\n\
         backend loc303\n    errorloc303 503 /busy?retry=1\n    server s 127.0.0.1:{down}\n\
         backend sect\n    errorfiles site\n    server s 127.0.0.1:{down}\n\
         backend closer\n    errorfiles site 502\n    server s 127.0.0.1:{closer}\n\
         backend silent\n    server s 127.0.0.1:{silent}\n\
         backend reply\n    http-error status 503 content-type text/plain string \"reply body\" hdr X-Reply yes\n\
         \x20   server s 127.0.0.1:{down}\n\
         backend nothing\n    server s 127.0.0.1:{down} disabled\n",
        ok = srv.ok.port(),
        closer = srv.closer.port,
        silent = srv.silent.port(),
    )
}

/// Requests answered the same by both proxies, each with `Connection: close`
/// so that the whole exchange (and HAProxy's added `connection: close`) is compared.
const SAME: &[(&str, &str)] = &[
    (
        "own backend page (HTTP/1.0 file)",
        "GET /own HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "frontend page for a backend without one",
        "GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "errorloc302",
        "GET /loc302 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "errorloc303",
        "GET /loc303 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "errorfiles section 503",
        "GET /sect HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "errorfiles section 502",
        "GET /closer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "504 inherited from defaults",
        "GET /silent HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "http-error reply",
        "GET /reply HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "all servers in maintenance",
        "GET /nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "body-size deny 403",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\nConnection: close\r\n\r\n01234567890123456789",
    ),
    (
        "monitor 200",
        "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "monitor fail 503 (frontend page)",
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Fail: yes\r\nConnection: close\r\n\r\n",
    ),
    (
        "not the monitor URI",
        "GET /health?x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
    (
        "monitor HEAD",
        "HEAD /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ),
];

/// What each request of [`SAME`] gets, as raw bytes up to the close.
fn answers(port: u16) -> Vec<Vec<u8>> {
    SAME.iter()
        .map(|(_, req)| raw_exchange(port, req.as_bytes(), Duration::from_secs(4)).0)
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn custom_pages_reach_clients_where_haproxy_sends_them() {
    let dir = TestDir::new("errpages");
    write_pages(&dir);
    let srv = Servers::start();
    let port = free_port();
    let lb = Ringlb::start(&config(&dir, port, &srv));
    let got = answers(lb.port());
    let want: &[&str] = &[
        "HTTP/1.0 503 Service Unavailable\r\ncontent-type: text/plain\r\nx-page: own\r\n\r\nbackend maintenance\n",
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncache-control: no-cache\r\ncontent-length: 21\r\nconnection: close\r\n\r\n<h1>frontend 503</h1>",
        "HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: http://sorry.example/down\r\nconnection: close\r\n\r\n",
        "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: /busy?retry=1\r\nconnection: close\r\n\r\n",
        "HTTP/1.1 503 Down For Maintenance\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nconnection: close\r\n\r\nsite 503\n",
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nconnection: close\r\n\r\nsite 502\n",
        "HTTP/1.1 504 Gateway Time-out\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\ndefaults 504",
        "HTTP/1.1 503 Service Unavailable\r\nx-reply: yes\r\ncontent-length: 10\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nreply body",
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncache-control: no-cache\r\ncontent-length: 21\r\nconnection: close\r\n\r\n<h1>frontend 503</h1>",
        "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 7\r\nconnection: close\r\n\r\ndenied\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 58\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n",
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncache-control: no-cache\r\ncontent-length: 21\r\nconnection: close\r\n\r\n<h1>frontend 503</h1>",
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(text(&got[i]), *w, "{}", SAME[i].0);
    }
    assert_eq!(
        text(&got[13]),
        "HTTP/1.1 200 OK\r\ncontent-length: 58\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n"
    );
    // `/health?x` is not the monitor URI: the request goes to the server.
    assert!(
        text(&got[12]).starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        text(&got[12])
    );
    assert_eq!(
        srv.ok.requests().len(),
        1,
        "only /health?x reached a server"
    );
}

#[test]
fn haproxy_sends_the_same_bytes_on_the_same_config() {
    let dir = TestDir::new("errpages-hap");
    write_pages(&dir);
    let srv = Servers::start();
    let (ours, ours_kept_alive) = {
        let lb = Ringlb::start(&config(&dir, free_port(), &srv));
        let keep = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
        let (ka, _) = raw_exchange(lb.port(), keep, Duration::from_millis(500));
        assert!(text(&ka).starts_with("HTTP/1.1 200 OK\r\ncontent-length: 58\r\n"));
        assert!(!text(&ka).contains("connection"), "{}", text(&ka));
        (answers(lb.port()), ka)
    };
    // The same text but for the port, so that the two never share a socket.
    let port = free_port();
    let Some(_h) = Haproxy::start(&config(&dir, port, &srv), port) else {
        return;
    };
    let theirs = answers(port);
    // Kept alive, the monitor's page is the same too (no `connection` header).
    let keep = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    let (ka, _) = raw_exchange(port, keep, Duration::from_millis(500));
    assert_eq!(text(&ka), text(&ours_kept_alive), "monitor kept alive");
    for (i, (name, _)) in SAME.iter().enumerate() {
        if i == 12 {
            // A relayed response: the backend names its connection, which differs.
            assert_eq!(ours[i][..15], theirs[i][..15], "{name}");
            continue;
        }
        assert_eq!(text(&ours[i]), text(&theirs[i]), "{name}");
    }
}

/// `monitor-uri` on a keep-alive connection: HAProxy answers and keeps the
/// connection, and so does ringlb; the requests leave no log line.
#[test]
fn monitor_keeps_alive_and_is_not_logged() {
    let dir = TestDir::new("errpages-mon");
    write_pages(&dir);
    let srv = Servers::start();
    let port = free_port();
    let cfg = config(&dir, port, &srv).replacen(
        "defaults\n",
        "global\n    log stdout format raw local0\ndefaults\n    log global\n    option httplog\n",
        1,
    );
    let lb = Ringlb::start(&cfg);
    let mut c = HttpClient::connect(lb.port());
    let r = c.get("/health");
    assert_eq!(r.status, 200);
    assert!(!r.says_close());
    let r = c.request(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Fail: yes\r\n\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (503, "<h1>frontend 503</h1>")
    );
    // The page is delimited (a content-length): HAProxy keeps the connection too.
    assert!(!r.says_close());
    assert_eq!(c.get("/health").status, 200);
    let mut c = HttpClient::connect(lb.port());
    assert_eq!(c.get("/logged").status, 200);
    let stdout = lb.dir().join("stdout.log");
    let end = Instant::now() + Duration::from_secs(5);
    let mut out = String::new();
    while !out.contains("/logged") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        out = std::fs::read_to_string(&stdout).unwrap_or_default();
    }
    assert!(out.contains("/logged"), "stdout: {out:?}");
    assert!(
        !out.contains("/health"),
        "a monitor request was logged: {out:?}"
    );
}

/// 400 and 408 get the frontend's `errorfile`, as configuration.txt documents.
/// HAProxy 2.6 differs here on purpose of its own design: its HTTP/1
/// multiplexer answers head parse errors and request timeouts with the
/// built-in page before a stream exists, so the errorfile is not used; the
/// test checks both.
#[test]
fn bad_and_slow_requests_get_the_frontend_page() {
    let dir = TestDir::new("errpages-400");
    write_pages(&dir);
    let srv = Servers::start();
    let bad = b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n";
    let slow = b"GET / HTTP/1.1\r\nHost: t\r\n";
    {
        let lb = Ringlb::start(&config(&dir, free_port(), &srv));
        let (r, _) = raw_exchange(lb.port(), bad, Duration::from_secs(3));
        assert_eq!(
            text(&r),
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbad\n"
        );
        let (r, took) = raw_exchange(lb.port(), slow, Duration::from_secs(4));
        assert_eq!(
            text(&r),
            "HTTP/1.1 408 Request Time-out\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nconnection: close\r\n\r\nslow\n"
        );
        assert!(took >= Duration::from_millis(800), "408 after {took:?}");
    }
    let port = free_port();
    let Some(_h) = Haproxy::start(&config(&dir, port, &srv), port) else {
        return;
    };
    let (r, _) = raw_exchange(port, bad, Duration::from_secs(3));
    assert!(
        text(&r).starts_with("HTTP/1.1 400 Bad request\r\n"),
        "{}",
        text(&r)
    );
    let (r, _) = raw_exchange(port, slow, Duration::from_secs(4));
    assert!(
        text(&r).starts_with("HTTP/1.1 408 Request Time-out\r\nContent-length: 110"),
        "{}",
        text(&r)
    );
}

/// `ringlb -c`: each mistake is an error naming the file, the line and the keyword.
#[test]
fn config_errors_name_file_line_and_keyword() {
    let dir = TestDir::new("errpages-cfg");
    write_pages(&dir);
    let d = dir.path().display();
    let cases: &[(&str, &str)] = &[
        (
            "    errorfile 503 /nonexistent/503.http",
            "t.cfg:8: 'errorfile': error opening file '/nonexistent/503.http'",
        ),
        (
            "    errorfile 414 FILE",
            "t.cfg:8: 'errorfile': status code '414' not handled",
        ),
        (
            "    errorloc 5o3 /x",
            "t.cfg:8: 'errorloc': status code '5o3' not handled",
        ),
        (
            "    errorfiles nosuch",
            "t.cfg:8: proxy 'l': unknown http-errors section 'nosuch'",
        ),
        (
            "    http-error status 503 string oops",
            "t.cfg:8: 'http-error': a content type must be defined when non-empty payload is configured",
        ),
        (
            "    monitor-net 10.0.0.0/33",
            "t.cfg:8: 'monitor-net': '10.0.0.0/33': invalid prefix length",
        ),
        (
            "    monitor fail",
            "t.cfg:8: 'monitor fail' requires either 'if' or 'unless'",
        ),
    ];
    for (line, want) in cases {
        let line = line.replace("FILE", &format!("{d}/fe503.http"));
        let text = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
             listen l\n    bind 127.0.0.1:{}\n{line}\n    server s 127.0.0.1:80\n",
            free_port()
        );
        dir.write("t.cfg", &text);
        let out = run_cli(dir.path(), &["-c", "-f", "t.cfg"]);
        assert_ne!(out.code, Some(0), "{line}: accepted");
        assert!(
            out.stderr.contains(want),
            "{line}: want {want:?} in {}",
            out.stderr
        );
    }
}

/// `monitor-net` as HAProxy 1.4 ran it (2.6 refuses the keyword, so there
/// is no oracle): a probe from the network gets `HTTP/1.0 200 OK` in mode
/// http and an immediate close in mode tcp; other clients are served.
#[test]
fn monitor_net_answers_probes_as_1_4_did() {
    let srv = HttpBackend::start("ok");
    let cfg = |mode: &str, net: &str, port: u16| {
        format!(
            "defaults\n    mode {mode}\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             listen l\n    bind 127.0.0.1:{port}\n    monitor-net {net}\n    server s 127.0.0.1:{}\n",
            srv.port()
        )
    };
    let req = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let lb = Ringlb::start(&cfg("http", "127.0.0.0/8", free_port()));
    let (got, took) = raw_exchange(lb.port(), req, Duration::from_secs(3));
    assert_eq!(text(&got), "HTTP/1.0 200 OK\r\n\r\n");
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    assert!(
        lb.stderr()
            .contains("'monitor-net' was removed in HAProxy 2.0"),
        "{}",
        lb.stderr()
    );
    let lb = Ringlb::start(&cfg("tcp", "127.0.0.1", free_port()));
    let (got, took) = raw_exchange(lb.port(), req, Duration::from_secs(3));
    assert_eq!(text(&got), "");
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    let lb = Ringlb::start(&cfg("http", "10.0.0.0/8", free_port()));
    let (got, _) = raw_exchange(lb.port(), req, Duration::from_secs(3));
    assert!(
        text(&got).starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        text(&got)
    );
    assert_eq!(
        srv.requests().len(),
        1,
        "only the client outside the network was relayed"
    );
}

/// `monitor fail if { nbsrv(web) lt 1 }` beside `use_backend other if {
/// nbsrv(web) lt 1 }` (a site that sends late clients elsewhere while the
/// GSLB moves them): once `web` has no server, the monitor answers 503 and
/// requests reach `other`, in ringlb as in HAProxy. (Reported once from the
/// GSLB lab as "the monitor keeps answering 200"; not reproduced: kept as a
/// guard.)
#[test]
fn monitor_fail_on_nbsrv_beside_a_use_backend_on_it() {
    let (web, other) = (HttpBackend::start("web"), HttpBackend::start("other"));
    let run = |start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>| -> Vec<String> {
        let dir = TestDir::new("monitor-nbsrv");
        let sock = dir.path().join("s.sock");
        let port = free_port();
        let cfg = format!(
            "global\n    stats socket {} level admin\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\n\
             frontend www\n    bind 127.0.0.1:{port}\n    monitor-uri /site-health\n    \
             monitor fail if {{ nbsrv(web) lt 1 }}\n    \
             use_backend other if {{ nbsrv(web) lt 1 }}\n    default_backend web\n\
             backend web\n    server a-web1 127.0.0.1:{}\n\
             backend other\n    server site-b 127.0.0.1:{}\n",
            sock.display(),
            web.port(),
            other.port()
        );
        let _p = start(&cfg, port);
        let status = |path: &str| {
            let mut c = HttpClient::connect(port);
            let r = c.get(path);
            format!("{path} {} {}", r.status, r.text())
        };
        let mut out = vec![status("/site-health"), status("/")];
        stats_command(&sock, "disable server web/a-web1");
        out.push(status("/site-health"));
        out.push(status("/"));
        out
    };
    let ringlb = |t: &str, _| -> Box<dyn std::any::Any> { Box::new(Ringlb::start(t)) };
    let ours = run(&ringlb);
    assert!(ours[2].starts_with("/site-health 503"), "{ours:?}");
    assert!(ours[3].contains("other"), "{ours:?}");
    if haproxy_binary().is_none() {
        return;
    }
    let haproxy =
        |t: &str, p| -> Box<dyn std::any::Any> { Box::new(Haproxy::start(t, p).expect("haproxy")) };
    let theirs = run(&haproxy);
    let statuses = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|s| s.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(statuses(&ours), statuses(&theirs), "ringlb, then HAProxy");
}
