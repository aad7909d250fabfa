//! `option http-use-proxy-header`, through the binary, next to HAProxy 2.6
//! on the same configuration.
//!
//! What the option changes in HAProxy 2.6 (measured): a proxied request (its
//! target neither `/...` nor `*`) authenticates with `Proxy-Authorization`,
//! and `http-request auth` answers it `407` with `proxy-authenticate`.
//! `Proxy-Connection` decides nothing with or without the option (HTX
//! ignores it): the connection's fate stays `Connection`'s.

mod common;

use common::{Haproxy, HttpBackend, HttpClient, Ringlb, free_port};
use std::time::Duration;

fn auth_config(port: u16, opt: &str) -> String {
    format!(
        "global\n    nbthread 1\n\nuserlist u\n    user bob insecure-password pw\n\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
         timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:{port}\n    {opt}\n    \
         http-request auth realm R unless {{ http_auth(u) }}\n    \
         http-request return status 200 content-type text/plain string ok\n    \
         default_backend b\n\nbackend b\n    server s1 127.0.0.1:{}\n",
        common::closed_port()
    )
}

/// `Ym9iOnB3` is `bob:pw`.
const REQUESTS: &[&str] = &[
    "GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET http://x/a HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic Ym9iOnB3\r\n\r\n",
    "GET http://x/a HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Ym9iOnB3\r\n\r\n",
    "GET /a HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic Ym9iOnB3\r\n\r\n",
];

/// For each request: the status and the challenge header's name, if any.
fn answers(port: u16) -> Vec<(u16, Option<&'static str>)> {
    REQUESTS
        .iter()
        .map(|r| {
            let resp = HttpClient::connect(port).request(r.as_bytes());
            let challenge = ["www-authenticate", "proxy-authenticate"]
                .into_iter()
                .find(|h| resp.header(h).is_some());
            (resp.status, challenge)
        })
        .collect()
}

#[test]
fn proxied_requests_authenticate_as_a_proxy() {
    const WWW: Option<&str> = Some("www-authenticate");
    const PROXY: Option<&str> = Some("proxy-authenticate");
    let off = vec![(401, WWW), (401, WWW), (401, WWW), (200, None), (401, WWW)];
    let on = vec![
        (407, PROXY),
        (401, WWW),
        (200, None),
        (407, PROXY),
        (401, WWW),
    ];
    for (opt, want) in [("", &off), ("option http-use-proxy-header", &on)] {
        let port = free_port();
        let _r = Ringlb::start(&auth_config(port, opt));
        assert_eq!(&answers(port), want, "ringlb, {opt:?}");
        let hport = free_port();
        if let Some(_h) = Haproxy::start(&auth_config(hport, opt), hport) {
            assert_eq!(&answers(hport), want, "haproxy, {opt:?}");
        }
    }
}

fn relay_config(port: u16, server: u16) -> String {
    format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 1s\n    \
         timeout client 5s\n    timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:{port}\n    \
         option http-use-proxy-header\n    default_backend b\n\nbackend b\n    \
         server s1 127.0.0.1:{server}\n"
    )
}

/// Whether the proxy keeps the client connection after answering `req`.
fn kept_open(port: u16, req: &str) -> bool {
    let mut c = HttpClient::connect(port);
    let r = c.request(req.as_bytes());
    assert_eq!(r.status, 200);
    std::thread::sleep(Duration::from_millis(100));
    c.request(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
}

#[test]
fn proxy_connection_decides_nothing_as_in_haproxy() {
    let backend = HttpBackend::start("b");
    let cases = [
        (
            "GET http://x/a HTTP/1.1\r\nHost: x\r\nProxy-Connection: close\r\n\r\n",
            true,
        ),
        (
            "GET http://x/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nProxy-Connection: keep-alive\r\n\r\n",
            false,
        ),
    ];
    let port = free_port();
    let _r = Ringlb::start(&relay_config(port, backend.port()));
    for (req, open) in cases {
        if open {
            assert!(kept_open(port, req), "ringlb: {req:?}");
        } else {
            let mut c = HttpClient::connect(port);
            let r = c.request(req.as_bytes());
            assert_eq!(r.header("connection"), Some("close"), "ringlb: {req:?}");
        }
    }
    let hport = free_port();
    if let Some(_h) = Haproxy::start(&relay_config(hport, backend.port()), hport) {
        for (req, open) in cases {
            if open {
                assert!(kept_open(hport, req), "haproxy: {req:?}");
            } else {
                let mut c = HttpClient::connect(hport);
                let r = c.request(req.as_bytes());
                assert_eq!(r.header("connection"), Some("close"), "haproxy: {req:?}");
            }
        }
    }
}
