//! Content switching end to end (`acl`, `use_backend`): the real binary with
//! several [`HttpBackend`]s; each response names the server that made it.
//! Path and Host routing, `unless`, `||`, `!`, anonymous ACLs, a `src`
//! deny-list from a pattern file, one keep-alive connection reaching several
//! backends with each backend's own forwardfor and cookie, 503 when nothing
//! matches and there is no default_backend, `mode tcp` routing on the client
//! address, and the same requests through HAProxy 2.6 on the same text.

mod common;

use common::{Haproxy, HttpBackend, HttpClient, Ringlb, TcpBackend, TestDir, free_port};
use std::io::{Read, Write};

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// Backends `api`, `web`, `admin`, `sorry` pointing at the test servers.
fn backends(
    api: &HttpBackend,
    web: &HttpBackend,
    admin: &HttpBackend,
    sorry: &HttpBackend,
) -> String {
    format!(
        "backend api\n    option forwardfor\n    server a1 127.0.0.1:{}\n\
         backend web\n    cookie SRV insert indirect nocache\n    server w1 127.0.0.1:{} cookie w1\n\
         backend admin\n    server ad1 127.0.0.1:{}\n\
         backend sorry\n    server s1 127.0.0.1:{}\n",
        api.port(),
        web.port(),
        admin.port(),
        sorry.port()
    )
}

struct Farm {
    api: HttpBackend,
    web: HttpBackend,
    admin: HttpBackend,
    sorry: HttpBackend,
}

impl Farm {
    fn start() -> Farm {
        Farm {
            api: HttpBackend::start("api"),
            web: HttpBackend::start("web"),
            admin: HttpBackend::start("admin"),
            sorry: HttpBackend::start("sorry"),
        }
    }

    fn backends(&self) -> String {
        backends(&self.api, &self.web, &self.admin, &self.sorry)
    }
}

/// The frontend of the routing tests: path, Host, `||`, `!`, `unless`, `{ }`.
fn routing_frontend(port: u16) -> String {
    format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n\
         \x20   acl is_api path_beg /api\n\
         \x20   acl admin_host hdr(host) -i admin.example admin.example:8080\n\
         \x20   acl is_get method GET\n\
         \x20   use_backend admin if admin_host || {{ path_beg /admin }}\n\
         \x20   use_backend api if is_api is_get || is_api {{ method POST }}\n\
         \x20   use_backend sorry if is_api !is_get\n\
         \x20   use_backend web unless {{ path_end .bin }}\n"
    )
}

fn get(port: u16, path: &str, host: &str) -> (u16, String) {
    let mut c = HttpClient::connect(port);
    let r = c.request(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    (r.status, r.server())
}

fn send(port: u16, method: &str, path: &str, host: &str) -> (u16, String) {
    let mut c = HttpClient::connect(port);
    let r = c.request(
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    (r.status, r.server())
}

/// Requests of the routing tests and the backend each must reach (`-`: 503).
const CASES: &[(&str, &str, &str, &str)] = &[
    ("GET", "/api/users", "x.example", "api"),
    ("POST", "/api/users", "x.example", "api"),
    ("DELETE", "/api/users", "x.example", "sorry"),
    ("GET", "/", "ADMIN.example", "admin"),
    ("GET", "/api/x", "admin.example:8080", "admin"),
    ("GET", "/admin/panel", "x.example", "admin"),
    ("GET", "/index.html", "x.example", "web"),
    ("GET", "/file.bin", "x.example", "-"),
];

fn check_cases(port: u16, who: &str) {
    for &(method, path, host, want) in CASES {
        let (status, server) = send(port, method, path, host);
        if want == "-" {
            assert_eq!(status, 503, "{who}: {method} {path} (Host {host})");
        } else {
            assert_eq!(
                (status, server.as_str()),
                (200, want),
                "{who}: {method} {path} (Host {host})"
            );
        }
    }
}

#[test]
fn path_host_or_not_unless_and_anonymous_acls_route_each_request() {
    let farm = Farm::start();
    let port = free_port();
    let cfg = format!("{DEFAULTS}{}{}", routing_frontend(port), farm.backends());
    let _lb = Ringlb::start(&cfg);
    check_cases(port, "ringlb");
}

#[test]
fn no_rule_matching_and_no_default_backend_is_503() {
    let farm = Farm::start();
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    use_backend api if {{ path_beg /api }}\n{}",
        farm.backends()
    );
    let _lb = Ringlb::start(&cfg);
    assert_eq!(get(port, "/api/x", "h"), (200, "api".to_string()));
    assert_eq!(get(port, "/other", "h").0, 503);
    assert_eq!(farm.api.request_count(), 1);
}

#[test]
fn src_deny_list_from_a_pattern_file() {
    let farm = Farm::start();
    let dir = TestDir::new("deny");
    let list = dir.write("deny.lst", "# blocked clients\n10.0.0.0/8\n127.0.0.0/8\n");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    acl blocked src -f {}\n    \
         use_backend sorry if blocked\n    default_backend web\n{}",
        list.display(),
        farm.backends()
    );
    let _lb = Ringlb::start(&cfg);
    assert_eq!(get(port, "/", "h"), (200, "sorry".to_string()));
    assert_eq!(farm.web.request_count(), 0);
}

#[test]
fn one_keep_alive_connection_reaches_several_backends_with_their_settings() {
    let farm = Farm::start();
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    use_backend api if {{ path_beg /api }}\n    \
         default_backend web\n{}",
        farm.backends()
    );
    let _lb = Ringlb::start(&cfg);
    let mut c = HttpClient::connect(port);
    let r = c.get("/api/1");
    assert_eq!((r.status, r.server().as_str()), (200, "api"));
    assert!(
        r.header("set-cookie").is_none(),
        "api has no cookie: {:?}",
        r.headers
    );
    let r = c.get("/page");
    assert_eq!((r.status, r.server().as_str()), (200, "web"));
    assert_eq!(
        r.header("set-cookie").map(|v| v.starts_with("SRV=w1")),
        Some(true)
    );
    let r = c.get("/api/2");
    assert_eq!((r.status, r.server().as_str()), (200, "api"));
    assert!(r.header("set-cookie").is_none());
    // Each backend's forwardfor: api adds X-Forwarded-For, web does not.
    let api = farm.api.requests();
    assert_eq!(api.len(), 2);
    assert!(
        api.iter()
            .all(|q| q.header("x-forwarded-for") == Some("127.0.0.1"))
    );
    let web = farm.web.last();
    assert_eq!(web.path, "/page");
    assert_eq!(web.header("x-forwarded-for"), None);
}

#[test]
fn tcp_mode_routes_on_the_client_address_at_accept() {
    let echo = TcpBackend::echo();
    let port = free_port();
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    use_backend echo if {{ src 127.0.0.0/8 }} {{ dst_port {port} }}\n\
         backend echo\n    server e 127.0.0.1:{}\n",
        echo.port
    );
    let _lb = Ringlb::start(&cfg);
    let mut s = common::connect(port);
    s.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
}

#[test]
fn haproxy_routes_the_same_requests_to_the_same_backends() {
    let farm = Farm::start();
    let port = free_port();
    let cfg = format!("{DEFAULTS}{}{}", routing_frontend(port), farm.backends());
    let Some(_h) = Haproxy::start(&cfg, port) else {
        return;
    };
    check_cases(port, "haproxy 2.6");
}
