//! Hash-based algorithms end to end with 2 workers: `source`, `uri`,
//! `url_param`, `hdr(<name>)` (HTTP) and `rdp-cookie` (TCP, with a real X.224
//! connection request). For each: the same key reaches the same server on
//! every one of many fresh connections (which the kernel spreads over both
//! workers), different keys spread over the servers, and, where HAProxy says
//! so, a request without the key is balanced by round robin.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use common::{
    BufStream, HttpBackend, HttpClient, IO_TIMEOUT, ListenCfg, Ringlb, TcpBackend, free_port,
    raw_exchange,
};

/// Four HTTP servers s0..s3 behind `balance <algo>` (plus extra lines).
fn farm(algo: &str, extra: &[&str]) -> (Vec<HttpBackend>, Ringlb) {
    let servers: Vec<HttpBackend> = (0..4)
        .map(|i| HttpBackend::start(&format!("s{i}")))
        .collect();
    let mut cfg = ListenCfg::http(free_port()).line(&format!("balance {algo}"));
    for l in extra {
        cfg = cfg.line(l);
    }
    for s in &servers {
        cfg = cfg.server(&s.name, s.port());
    }
    let lb = Ringlb::start(&cfg.render());
    (servers, lb)
}

/// Sends `request` on a fresh connection and returns the answering server.
fn server_for(port: u16, request: &str) -> String {
    let r = HttpClient::connect(port).request(request.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    r.server()
}

/// For each key, `rounds` fresh connections must all reach one server; the
/// keys together must reach at least 3 of the 4 servers. Returns key → server.
fn assert_sticky_and_spread(
    keys: usize,
    rounds: usize,
    mut ask: impl FnMut(usize, usize) -> String,
) -> HashMap<usize, String> {
    let mut owner = HashMap::new();
    for round in 0..rounds {
        for k in 0..keys {
            let s = ask(k, round);
            let first = owner.entry(k).or_insert_with(|| s.clone());
            assert_eq!(*first, s, "key {k} moved on round {round}");
        }
    }
    let used: HashSet<&String> = owner.values().collect();
    assert!(used.len() >= 3, "keys reached only {used:?}");
    owner
}

/// GET `path` with `Connection: close` and extra header lines.
fn get_req(path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n")
}

#[test]
fn uri_same_path_same_server_query_ignored() {
    let (_s, lb) = farm("uri", &[]);
    assert_sticky_and_spread(24, 4, |k, round| {
        server_for(lb.port(), &get_req(&format!("/doc/{k}?v={round}"), ""))
    });
}

#[test]
fn uri_depth_hashes_only_the_first_directories() {
    let (_s, lb) = farm("uri depth 1", &[]);
    let owner = assert_sticky_and_spread(24, 3, |k, round| {
        server_for(lb.port(), &get_req(&format!("/d{k}/page{round}/x"), ""))
    });
    assert_eq!(owner.len(), 24);
}

#[test]
fn url_param_same_value_same_server_absent_round_robin() {
    let (_s, lb) = farm("url_param user", &["hash-type consistent"]);
    assert_sticky_and_spread(24, 4, |k, round| {
        server_for(
            lb.port(),
            &get_req(&format!("/p/{round}?a={round}&user=u{k}&z=1"), ""),
        )
    });
    // No parameter: round robin over all four.
    let used: HashSet<String> = (0..16)
        .map(|i| server_for(lb.port(), &get_req(&format!("/p/{i}?other=1"), "")))
        .collect();
    assert_eq!(used.len(), 4, "{used:?}");
}

#[test]
fn hdr_same_value_same_server_absent_round_robin() {
    let (_s, lb) = farm("hdr(X-Tenant)", &[]);
    assert_sticky_and_spread(24, 4, |k, round| {
        server_for(
            lb.port(),
            &get_req(&format!("/r{round}"), &format!("x-tenant: t{k}\r\n")),
        )
    });
    let used: HashSet<String> = (0..16)
        .map(|_| server_for(lb.port(), &get_req("/", "")))
        .collect();
    assert_eq!(used.len(), 4, "{used:?}");
}

#[test]
fn hdr_keeps_the_server_for_keep_alive_requests() {
    let (_s, lb) = farm("hdr(X-Tenant)", &[]);
    let mut c = HttpClient::connect(lb.port());
    let mut first = None;
    for i in 0..10 {
        let r =
            c.request(format!("GET /{i} HTTP/1.1\r\nHost: t\r\nX-Tenant: same\r\n\r\n").as_bytes());
        let first = first.get_or_insert_with(|| r.server());
        assert_eq!(*first, r.server());
    }
}

/// A connection to the proxy from 127.0.0.`last`.
fn connect_from(last: u8, port: u16) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from = SocketAddr::from((Ipv4Addr::new(127, 0, 0, last), 0));
    sock.bind(&from.into()).unwrap();
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    sock.connect(&to.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn source_sticky(extra: &[&str]) {
    let (_s, lb) = farm("source", extra);
    assert_sticky_and_spread(30, 4, |k, _| {
        let mut c = HttpClient {
            conn: BufStream::new(connect_from(10 + k as u8, lb.port())),
        };
        let r = c.request(get_req("/", "").as_bytes());
        assert_eq!(r.status, 200);
        r.server()
    });
}

#[test]
fn source_same_client_address_same_server() {
    source_sticky(&[]);
}

#[test]
fn source_with_consistent_hashing() {
    source_sticky(&["hash-type consistent"]);
}

// ---- rdp-cookie ----

/// An X.224 Connection Request as mstsc sends it: TPKT header, X.224 CR TPDU
/// header, the optional cookie line, and an RDP Negotiation Request.
fn rdp_connection_request(cookie: Option<&str>) -> Vec<u8> {
    let mut tail = Vec::new();
    if let Some(user) = cookie {
        tail.extend_from_slice(format!("Cookie: mstshash={user}\r\n").as_bytes());
    }
    tail.extend_from_slice(&[0x01, 0x00, 0x08, 0x00, 0x0b, 0x00, 0x00, 0x00]);
    let len = 11 + tail.len();
    let mut p = vec![0x03, 0x00, (len >> 8) as u8, len as u8];
    p.extend_from_slice(&[(len - 5) as u8, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00]);
    p.extend_from_slice(&tail);
    p
}

/// A TCP server that reads one whole TPKT (its length is in bytes 2..4), then
/// answers its name, a newline and the bytes it received, and closes.
fn rdp_server(name: &'static str) -> TcpBackend {
    TcpBackend::start(move |mut s| {
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < 4 || got.len() < usize::from(u16::from_be_bytes([got[2], got[3]])) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let mut out = format!("{name}\n").into_bytes();
        out.extend_from_slice(&got);
        let _ = s.write_all(&out);
    })
}

/// Sends `packet` through the proxy; returns the server's name, checking it
/// received exactly `packet`.
fn rdp_exchange(port: u16, packet: &[u8]) -> String {
    let (out, _) = raw_exchange(port, packet, Duration::from_secs(5));
    let nl = out
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(&out)));
    assert_eq!(&out[nl + 1..], packet, "server received other bytes");
    String::from_utf8(out[..nl].to_vec()).unwrap()
}

fn rdp_proxy() -> (Vec<TcpBackend>, Ringlb) {
    let names = ["r0", "r1", "r2", "r3"];
    let servers: Vec<TcpBackend> = names.iter().map(|n| rdp_server(n)).collect();
    let mut cfg = ListenCfg::tcp(free_port()).line("balance rdp-cookie");
    for (n, s) in names.iter().zip(&servers) {
        cfg = cfg.server(n, s.port);
    }
    let lb = Ringlb::start(&cfg.render());
    (servers, lb)
}

#[test]
fn rdp_cookie_same_user_same_server() {
    let (_s, lb) = rdp_proxy();
    assert_sticky_and_spread(24, 4, |k, _| {
        rdp_exchange(
            lb.port(),
            &rdp_connection_request(Some(&format!("user{k}"))),
        )
    });
    // Without a cookie: round robin, and the packet still reaches the server.
    let used: HashSet<String> = (0..16)
        .map(|_| rdp_exchange(lb.port(), &rdp_connection_request(None)))
        .collect();
    assert_eq!(used.len(), 4, "{used:?}");
}

#[test]
fn rdp_cookie_waits_for_a_packet_sent_in_pieces() {
    let (_s, lb) = rdp_proxy();
    let packet = rdp_connection_request(Some("alice"));
    let whole = rdp_exchange(lb.port(), &packet);
    for _ in 0..4 {
        // The cookie line arrives cut before its CRLF, 200 ms apart.
        let mut s = common::connect(lb.port());
        s.write_all(&packet[..20]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        s.write_all(&packet[20..]).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let nl = out.iter().position(|&b| b == b'\n').expect("answer");
        assert_eq!(&out[..nl], whole.as_bytes());
        assert_eq!(&out[nl + 1..], &packet[..]);
    }
}
