//! `use-server`, `force-persist`, `ignore-persist`, `http-send-name-header`
//! and `persist rdp-cookie` end to end: the real binary, then HAProxy 2.6
//! on the same configuration text, the same requests, and the same server
//! (or the same header at the server) expected from both.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Haproxy, HttpBackend, HttpClient, Ringlb, TcpBackend, free_port};
use ringlb::balance::rdp_cookie::connection_request;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// Runs `check` against ringlb, then against HAProxy 2.6 (when installed),
/// each started on `config(port)`.
fn both(config: impl Fn(u16) -> String, check: impl Fn(u16, &str)) {
    let port = free_port();
    {
        let _lb = Ringlb::start(&config(port));
        check(port, "ringlb");
    }
    let port = free_port();
    if let Some(_h) = Haproxy::start(&config(port), port) {
        check(port, "haproxy 2.6");
    }
}

/// One request on a fresh connection: (status, responder, Set-Cookie).
fn get(port: u16, path: &str, headers: &str) -> (u16, String, Option<String>) {
    let mut c = HttpClient::connect(port);
    let r = c.request(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n").as_bytes(),
    );
    let set = r.header("set-cookie").map(str::to_string);
    (r.status, r.server(), set)
}

#[test]
fn use_server_rules_pick_the_server_before_cookies_and_skip_unusable_ones() {
    let s: Vec<HttpBackend> = ["s1", "s2", "s3", "s4"]
        .iter()
        .map(|n| HttpBackend::start(n))
        .collect();
    let config = |port: u16| {
        format!(
            "{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    balance roundrobin\n\
             \x20   cookie SRV insert indirect nocache\n\
             \x20   use-server s4 if {{ path_beg /four }}\n\
             \x20   use-server s3 if {{ path_beg /three }} || {{ path_beg /four }}\n\
             \x20   use-server s2 if {{ req.hdr(x-pick) -m str two }}\n\
             \x20   use-server %[req.hdr(x-srv)] if {{ req.hdr(x-srv) -m found }}\n\
             \x20   force-persist if {{ req.hdr(x-force) -m found }}\n\
             \x20   server s1 127.0.0.1:{} cookie s1\n\
             \x20   server s2 127.0.0.1:{} cookie s2\n\
             \x20   server s3 127.0.0.1:{} cookie s3\n\
             \x20   server s4 127.0.0.1:{} cookie s4 disabled\n",
            s[0].port(),
            s[1].port(),
            s[2].port(),
            s[3].port()
        )
    };
    both(config, |port, who| {
        // The rule wins over the cookie, and no cookie is inserted for it.
        for cookie in ["", "Cookie: SRV=s1\r\n"] {
            let (st, srv, set) = get(port, "/three", cookie);
            assert_eq!(
                (st, srv.as_str(), set),
                (200, "s3", None),
                "{who}: {cookie:?}"
            );
        }
        assert_eq!(get(port, "/x", "X-Pick: two\r\n").1, "s2", "{who}");
        assert_eq!(get(port, "/x", "X-Srv: s1\r\n").1, "s1", "{who}");
        assert_eq!(get(port, "/x", "X-Srv: s3\r\n").1, "s3", "{who}");
        // A server in maintenance is skipped: the next rule matches.
        assert_eq!(get(port, "/four", "").1, "s3", "{who}");
        // ... unless force-persist matched.
        assert_eq!(get(port, "/four", "X-Force: 1\r\n").1, "s4", "{who}");
        // A dynamic name that names no server: balancing (never s4).
        let (st, srv, _) = get(port, "/x", "X-Srv: nope\r\n");
        assert_eq!(st, 200, "{who}");
        assert!(["s1", "s2", "s3"].contains(&srv.as_str()), "{who}: {srv}");
        // No rule: the cookie.
        assert_eq!(get(port, "/x", "Cookie: SRV=s2\r\n").1, "s2", "{who}");
    });
}

#[test]
fn force_persist_follows_a_cookie_to_a_maintained_server_and_ignore_persist_balances() {
    let s: Vec<HttpBackend> = ["s1", "s2", "s3"]
        .iter()
        .map(|n| HttpBackend::start(n))
        .collect();
    let config = |port: u16| {
        format!(
            "{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    balance roundrobin\n\
             \x20   cookie SRV insert indirect nocache\n\
             \x20   ignore-persist if {{ path_beg /static }}\n\
             \x20   force-persist if {{ req.hdr(x-force) -m found }}\n\
             \x20   server s1 127.0.0.1:{} cookie s1\n\
             \x20   server s2 127.0.0.1:{} cookie s2 disabled\n\
             \x20   server s3 127.0.0.1:{} cookie s3\n",
            s[0].port(),
            s[1].port(),
            s[2].port()
        )
    };
    both(config, |port, who| {
        // A cookie for the maintained server is not honoured...
        let (_, srv, set) = get(port, "/app", "Cookie: SRV=s2\r\n");
        assert_ne!(srv, "s2", "{who}");
        assert!(
            set.is_some_and(|c| c.starts_with(&format!("SRV={srv}"))),
            "{who}"
        );
        // ... unless force-persist matched.
        let (st, srv, set) = get(port, "/app", "Cookie: SRV=s2\r\nX-Force: 1\r\n");
        assert_eq!((st, srv.as_str(), set), (200, "s2", None), "{who}");
        let seen = s[1].last();
        assert_eq!(seen.header("cookie"), None, "{who}: indirect cookie kept");
        // ignore-persist: the cookie picks no server (and no cookie is
        // inserted), but an indirect one is still removed (HAProxy 2.6).
        let mut servers = std::collections::HashSet::new();
        for i in 0..4 {
            let (st, srv, set) = get(port, &format!("/static/{i}"), "Cookie: SRV=s1\r\n");
            assert_eq!((st, set), (200, None), "{who}");
            servers.insert(srv);
        }
        assert_eq!(servers.len(), 2, "{who}: {servers:?}");
        let last = s.iter().map(|b| b.last()).find(|r| r.path == "/static/3");
        assert_eq!(
            last.map(|r| r.header("cookie").is_none()),
            Some(true),
            "{who}"
        );
        // The cookie still sticks elsewhere.
        assert_eq!(get(port, "/app", "Cookie: SRV=s3\r\n").1, "s3", "{who}");
    });
}

#[test]
fn http_send_name_header_names_the_server_even_after_a_redispatch() {
    let s: Vec<HttpBackend> = ["s1", "s2"].iter().map(|n| HttpBackend::start(n)).collect();
    let dead = free_port();
    let config = |port: u16| {
        format!(
            "{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    balance roundrobin\n\
             \x20   retries 1\n    option redispatch\n\
             \x20   http-send-name-header X-Target\n\
             \x20   use-server dead if {{ path_beg /dead }}\n\
             \x20   use-server s2 if {{ path_beg /two }}\n\
             \x20   server s1 127.0.0.1:{}\n\
             \x20   server s2 127.0.0.1:{}\n\
             \x20   server dead 127.0.0.1:{dead}\n",
            s[0].port(),
            s[1].port()
        )
    };
    let seen_by = |srv: &str, path: &str| {
        let b = if srv == "s1" { &s[0] } else { &s[1] };
        b.requests().into_iter().find(|r| r.path == path).unwrap()
    };
    both(config, |port, who| {
        let tag = who.replace(' ', "-");
        let path = format!("/two/{tag}");
        let (st, srv, _) = get(port, &path, "X-Target: forged\r\nX-Target: again\r\n");
        assert_eq!((st, srv.as_str()), (200, "s2"), "{who}");
        let r = seen_by("s2", &path);
        assert_eq!(r.joined("x-target").as_deref(), Some("s2"), "{who}");
        for i in 0..2 {
            let path = format!("/any/{tag}/{i}");
            let (_, srv, _) = get(port, &path, "");
            assert_eq!(seen_by(&srv, &path).joined("x-target"), Some(srv), "{who}");
        }
        // The connect to `dead` fails; the retry goes to another server,
        // and the header names that one.
        let path = format!("/dead/{tag}");
        let (st, srv, _) = get(port, &path, "X-Target: forged\r\n");
        assert_eq!(st, 200, "{who}");
        assert_ne!(srv, "dead");
        assert_eq!(seen_by(&srv, &path).joined("x-target"), Some(srv), "{who}");
    });
}

/// A TCP server that answers its name and closes.
fn named(name: &'static str) -> TcpBackend {
    TcpBackend::start(move |mut c: TcpStream| {
        let mut buf = [0u8; 512];
        let _ = c.read(&mut buf);
        let _ = c.write_all(name.as_bytes());
    })
}

/// The name the TCP server answers to `bytes` sent through `port`.
fn tcp_ask(port: u16, bytes: &[u8]) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(bytes).unwrap();
    let mut got = String::new();
    let _ = c.read_to_string(&mut got);
    got
}

#[test]
fn tcp_use_server_and_persist_rdp_cookie_choose_the_server() {
    let s = [named("t1"), named("t2"), named("t3")];
    let config = |port: u16| {
        format!(
            "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\n\
             listen l\n    bind 127.0.0.1:{port}\n    balance roundrobin\n\
             \x20   tcp-request inspect-delay 2s\n\
             \x20   tcp-request content accept if {{ req.len gt 0 }}\n\
             \x20   use-server t3 if {{ req.payload(0,5) -m str HELLO }}\n\
             \x20   persist rdp-cookie\n\
             \x20   server t1 127.0.0.1:{}\n\
             \x20   server t2 127.0.0.1:{}\n\
             \x20   server t3 127.0.0.1:{}\n",
            s[0].port, s[1].port, s[2].port
        )
    };
    both(config, |port, who| {
        for _ in 0..3 {
            assert_eq!(tcp_ask(port, b"HELLO there"), "t3", "{who}");
        }
        for (i, b) in s.iter().enumerate() {
            let addr = format!("127.0.0.1:{}", b.port).parse().unwrap();
            let value = ringlb::persist::rdp::encode(addr).unwrap();
            let req = connection_request(Some(&format!("Cookie: msts={value}")));
            for _ in 0..3 {
                assert_eq!(tcp_ask(port, &req), format!("t{}", i + 1), "{who}");
            }
        }
        // No cookie: round robin over the three.
        let req = connection_request(Some("Cookie: mstshash=alice"));
        let seen: std::collections::HashSet<String> = (0..6).map(|_| tcp_ask(port, &req)).collect();
        assert_eq!(seen.len(), 3, "{who}: {seen:?}");
    });
}

#[test]
fn force_persist_turns_the_final_redispatch_off() {
    let s1 = HttpBackend::start("s1");
    let dead = free_port();
    let config = |port: u16| {
        format!(
            "{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    retries 1\n    option redispatch\n\
             \x20   cookie SRV insert indirect nocache\n\
             \x20   force-persist if {{ req.hdr(x-force) -m found }}\n\
             \x20   server s1 127.0.0.1:{} cookie s1\n\
             \x20   server dead 127.0.0.1:{dead} cookie dead\n",
            s1.port()
        )
    };
    both(config, |port, who| {
        // The cookie's server refuses: redispatched to s1.
        let (st, srv, _) = get(port, "/", "Cookie: SRV=dead\r\n");
        assert_eq!((st, srv.as_str()), (200, "s1"), "{who}");
        // Forced: no redispatch, 503 once the retry failed too.
        let (st, _, _) = get(port, "/", "Cookie: SRV=dead\r\nX-Force: 1\r\n");
        assert_eq!(st, 503, "{who}");
    });
}
