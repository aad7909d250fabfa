//! Configurations written the way 1.4-era haproxy.cfg files in public
//! repositories are: `listen` lines carrying their address, `contimeout`/
//! `clitimeout`/`srvtimeout`, `reqadd`/`rspadd`/`reqidel`, `monitor-uri`,
//! `maxpipes`, `nbproc`, two servers of one name, a server without a port.
//! HAProxy 2.6 refuses every one of these files; ringlb runs them with a
//! warning per 1.4 spelling, and the traffic behaves as HAProxy 1.4
//! documented it. No differential test: the oracle refuses the input (the
//! first test shows it does).

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{
    HttpBackend, HttpClient, Ringlb, Syslog, TestDir, free_port, get_with, parse_response,
    raw_exchange_on, run_cli,
};

/// A web farm as 1.4 configurations wrote it (the `{…}` are filled in).
const WEBFARM: &str = "\
global
    log 127.0.0.1:{syslog} local0
    maxconn 4096
    ulimit-n 8250
    nbproc 1
    maxpipes 1024
    spread-checks 5
    quiet

defaults
    log     global
    mode    http
    option  httplog
    option  dontlognull
    retries 3
    option redispatch
    maxconn 2000
    contimeout      5000
    clitimeout      50000
    srvtimeout      50000

listen webfarm 127.0.0.1:{port}
    stats enable
    stats uri /haproxy?stats
    stats auth admin:secret
    balance roundrobin
    cookie SERVERID insert indirect
    option httpclose
    option forwardfor
    option httpchk HEAD /check.txt HTTP/1.0
    reqadd X-Forwarded-Proto:\\ http
    reqidel ^X-Debug:.*
    rspadd X-Via:\\ legacy
    monitor-uri /haproxy_test
    server web1 127.0.0.1:{a} cookie w1 check inter 2000 rise 2 fall 5
    server web1 127.0.0.1:{b} cookie w2 check inter 2000 rise 2 fall 5

listen sameport 127.0.0.2:{c}
    mode http
    option httpclose
    server origin 127.0.0.1
";

/// [`WEBFARM`] with its ports.
fn webfarm(syslog: u16, port: u16, a: u16, b: u16, c: u16) -> String {
    WEBFARM
        .replace("{syslog}", &syslog.to_string())
        .replace("{port}", &port.to_string())
        .replace("{a}", &a.to_string())
        .replace("{b}", &b.to_string())
        .replace("{c}", &c.to_string())
}

#[test]
fn haproxy_26_refuses_what_ringlb_checks_with_warnings() {
    let dir = TestDir::new("legacy-check");
    let cfg = webfarm(514, free_port(), free_port(), free_port(), free_port());
    dir.write("old.cfg", &cfg);
    let out = run_cli(dir.path(), &["-c", "-f", "old.cfg"]);
    assert_eq!(out.code, Some(0), "ringlb -c failed:\n{}", out.stderr);
    for (line, what) in [
        (5, "nbproc"),
        (18, "contimeout"),
        (19, "clitimeout"),
        (20, "srvtimeout"),
        (22, "deprecated since HAProxy 1.6"),
        (31, "reqadd"),
        (32, "reqidel"),
        (33, "rspadd"),
        (36, "another server named 'web1'"),
    ] {
        let at = format!("old.cfg:{line}");
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains("[WARNING]") && l.contains(&at) && l.contains(what)),
            "no warning at {at} about {what}:\n{}",
            out.stderr
        );
    }
    // The oracle: HAProxy 2.6 refuses the same file.
    if let Ok(h) = std::process::Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(dir.path().join("old.cfg"))
        .output()
    {
        assert!(
            !h.status.success(),
            "HAProxy 2.6 accepted a 1.4-era file:\n{}",
            String::from_utf8_lossy(&h.stderr)
        );
    }
}

#[test]
fn a_14_era_web_farm_serves_as_14_did() {
    let a = HttpBackend::start("web1-a");
    let b = HttpBackend::start("web1-b");
    let c = free_port();
    let origin = HttpBackend::start_on("origin", c);
    let mut syslog = Syslog::new();
    let port = free_port();
    let rl = Ringlb::start(&webfarm(syslog.port(), port, a.port(), b.port(), c));

    // Both servers named web1 take turns (roundrobin), each request carries
    // the reqadd header and X-Forwarded-For, loses X-Debug, and the answer
    // gains X-Via and the insert cookie of the server that served it.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let mut cl = HttpClient::connect(port);
        let r = cl.request(b"GET /page HTTP/1.1\r\nHost: farm\r\nX-Debug: 1\r\n\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-via"), Some("legacy"));
        let cookie = r.header("set-cookie").unwrap_or_default().to_string();
        let want = if r.server() == "web1-a" { "w1" } else { "w2" };
        assert!(cookie.starts_with(&format!("SERVERID={want}")), "{cookie}");
        seen.push(r.server());
    }
    assert_eq!(
        seen.iter().filter(|s| *s == "web1-a").count(),
        2,
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|s| *s == "web1-b").count(),
        2,
        "{seen:?}"
    );
    let got = [a.requests(), b.requests()].concat();
    let pages: Vec<_> = got.iter().filter(|r| r.path == "/page").collect();
    assert_eq!(pages.len(), 4);
    for r in pages {
        assert_eq!(r.header("x-forwarded-proto"), Some("http"));
        assert_eq!(r.header("x-forwarded-for"), Some("127.0.0.1"));
        assert_eq!(r.header("x-debug"), None);
    }

    // The cookie keeps a client on its server (indirect: not forwarded).
    let mut cl = HttpClient::connect(port);
    let r = cl.request(b"GET /sticky HTTP/1.1\r\nHost: farm\r\nCookie: SERVERID=w2\r\n\r\n");
    assert_eq!(r.server(), "web1-b");
    assert_eq!(b.last().header("cookie"), None);

    // monitor-uri answers itself; the stats page asks for its password.
    let r = get_with(port, "/haproxy_test", None, None);
    assert_eq!(r.status, 200);
    let r = get_with(port, "/haproxy?stats", None, None);
    assert_eq!(r.status, 401);
    let r = get_with(port, "/haproxy?stats", Some("Basic YWRtaW46c2VjcmV0"), None);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("webfarm"), "not the stats page");

    // A server without a port gets the port the client connected to.
    let s = TcpStream::connect(("127.0.0.2", c)).unwrap();
    let req = b"GET /same HTTP/1.1\r\nHost: farm\r\n\r\n";
    let r = parse_response(&raw_exchange_on(s, req, Duration::from_secs(5)).0);
    assert_eq!(r.server(), "origin");
    assert_eq!(origin.last().path, "/same");

    // httplog lines reach the `log global` target.
    let line = syslog.wait("for GET /page", |l| l.contains("\"GET /page HTTP/1.1\""));
    assert!(line.contains("webfarm webfarm/web1"), "{line}");
    syslog.collect(Duration::from_millis(10));
    drop(rl);
}
