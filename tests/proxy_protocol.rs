//! The receiving side of the PROXY protocol end to end (`bind ...
//! accept-proxy`, `tcp-request connection expect-proxy layer4`), each case
//! run on ringlb and on HAProxy 2.6 with the same configuration text: a v1
//! and a v2 header claiming 198.51.100.7:4242 become the client address in
//! X-Forwarded-For and the httplog line, and the header's destination in
//! X-Original-To; `mode tcp` relays the bytes after the header unchanged;
//! `balance source` hashes the header's address; a garbage header closes the
//! connection with HAProxy's log line and nothing reaches the server;
//! `expect-proxy` applies only where its condition holds.

mod common;

use common::{Haproxy, HttpBackend, Syslog, TcpBackend, free_port};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::Ringlb;
use ringlb::proxy_protocol::{Header, write_v1, write_v2};

/// The address every header claims.
fn claimed() -> Header {
    Header::Proxied {
        src: "198.51.100.7:4242".parse().unwrap(),
        dst: "203.0.113.9:8443".parse().unwrap(),
    }
}

/// Runs `check` against ringlb, then HAProxy, on the config `cfg(port)`.
fn both(cfg: impl Fn(u16) -> String, check: impl Fn(&str, u16)) {
    let port = free_port();
    let lb = Ringlb::start(&cfg(port));
    check("ringlb", lb.port());
    drop(lb);
    let port = free_port();
    if let Some(_h) = Haproxy::start(&cfg(port), port) {
        check("haproxy", port);
    }
}

/// `bytes` on a fresh connection, then everything until the peer closes.
fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn http_cfg(port: u16, syslog: u16, be: u16, bind_extra: &str, rules: &str) -> String {
    format!(
        "global\n    log 127.0.0.1:{syslog} local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    \
         timeout client 2s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}{bind_extra}\n{rules}    option forwardfor\n    \
         option originalto\n    default_backend b\n\
         backend b\n    server a 127.0.0.1:{be}\n"
    )
}

const REQ: &[u8] = b"GET /pp HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

#[test]
fn v1_and_v2_headers_become_the_client_address() {
    let be = HttpBackend::start("a");
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sp = syslog.borrow().port();
    both(
        |p| http_cfg(p, sp, be.port(), " accept-proxy", ""),
        |who, port| {
            for (v, header) in [("v1", write_v1(&claimed())), ("v2", write_v2(&claimed()))] {
                let before = be.request_count();
                // The header and the request in one segment: the session must
                // find the request intact after the header.
                let resp = exchange(port, &[header, REQ.to_vec()].concat());
                assert!(resp.starts_with(b"HTTP/1.1 200"), "{who} {v}: {resp:?}");
                assert_eq!(be.request_count(), before + 1, "{who} {v}");
                let got = be.last();
                assert_eq!(
                    got.header("x-forwarded-for"),
                    Some("198.51.100.7"),
                    "{who} {v}"
                );
                assert_eq!(
                    got.header("x-original-to"),
                    Some("203.0.113.9"),
                    "{who} {v}"
                );
                let mut sl = syslog.borrow_mut();
                sl.wait("for the httplog line", |l| {
                    l.contains("198.51.100.7:4242 [")
                });
                sl.seen.clear();
            }
            // UNKNOWN keeps the real address.
            let resp = exchange(port, &[b"PROXY UNKNOWN\r\n".as_slice(), REQ].concat());
            assert!(resp.starts_with(b"HTTP/1.1 200"), "{who}: {resp:?}");
            assert_eq!(
                be.last().header("x-forwarded-for"),
                Some("127.0.0.1"),
                "{who}"
            );
        },
    );
}

#[test]
fn garbage_or_missing_header_closes_and_logs() {
    let be = HttpBackend::start("a");
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sp = syslog.borrow().port();
    both(
        |p| http_cfg(p, sp, be.port(), " accept-proxy", ""),
        |who, port| {
            let resp = exchange(port, REQ);
            assert!(resp.is_empty(), "{who}: {resp:?}");
            // A field missing. (HAProxy takes a port above 65535 modulo 2^16;
            // ringlb refuses it, as the spec allows 0 to 65535 only.)
            let resp = exchange(
                port,
                b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\nGET / HTTP/1.0\r\n\r\n",
            );
            assert!(resp.is_empty(), "{who}: {resp:?}");
            assert_eq!(be.request_count(), 0, "{who}: a request reached the server");
            let mut sl = syslog.borrow_mut();
            let l = sl.wait("for the connection error", |l| {
                l.contains(
                    "] fe/1: Received something which does not look like a PROXY protocol header",
                )
            });
            assert!(l.contains("127.0.0.1:"), "{who}: {l}");
            sl.wait("for the invalid header", |l| {
                l.contains("] fe/1: Received an invalid PROXY protocol header")
            });
            sl.seen.clear();
        },
    );
}

#[test]
fn tcp_mode_relays_the_bytes_after_the_header() {
    let be = TcpBackend::echo();
    let cfg = |p: u16| {
        format!(
            "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 2s\n    \
             timeout server 5s\n\
             listen t\n    bind 127.0.0.1:{p} accept-proxy\n    server a 127.0.0.1:{}\n",
            be.port
        )
    };
    both(cfg, |who, port| {
        for header in [write_v1(&claimed()), write_v2(&claimed())] {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let payload = b"PROXY TCP4 not-a-header\r\n\0\x01binary";
            s.write_all(&[header, payload.to_vec()].concat()).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut back = Vec::new();
            s.read_to_end(&mut back).unwrap();
            assert_eq!(back, payload, "{who}");
        }
    });
}

#[test]
fn balance_source_hashes_the_header_address() {
    let (a, b) = (HttpBackend::start("a"), HttpBackend::start("b"));
    let cfg = |p: u16| {
        format!(
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 2s\n    \
             timeout server 5s\n\
             listen l\n    bind 127.0.0.1:{p} accept-proxy\n    balance source\n    \
             server a 127.0.0.1:{}\n    server b 127.0.0.1:{}\n",
            a.port(),
            b.port()
        )
    };
    let picks = std::cell::RefCell::new(Vec::new());
    both(cfg, |who, port| {
        let mut got = Vec::new();
        for i in 1..=12u8 {
            let h = Header::Proxied {
                src: format!("198.51.100.{i}:4242").parse().unwrap(),
                dst: "203.0.113.9:80".parse().unwrap(),
            };
            let resp = exchange(port, &[write_v1(&h), REQ.to_vec()].concat());
            let text = String::from_utf8_lossy(&resp).to_lowercase();
            let server = if text.contains("x-server: a") {
                'a'
            } else {
                'b'
            };
            // The same header address, again: the same server.
            let again = exchange(port, &[write_v2(&h), REQ.to_vec()].concat());
            let again = String::from_utf8_lossy(&again).to_lowercase();
            assert!(again.contains(&format!("x-server: {server}")), "{who} {i}");
            got.push(server);
        }
        assert!(got.contains(&'a') && got.contains(&'b'), "{who}: {got:?}");
        picks.borrow_mut().push((who.to_string(), got));
    });
    let p = picks.borrow();
    if p.len() == 2 {
        assert_eq!(p[0].1, p[1].1, "ringlb and HAProxy pick differently");
    }
}

#[test]
fn expect_proxy_applies_where_its_condition_holds() {
    let be = HttpBackend::start("a");
    let syslog = Syslog::new();
    let sp = syslog.port();
    let rule =
        |src: &str| format!("    tcp-request connection expect-proxy layer4 if {{ src {src} }}\n");
    // The client (127.0.0.1) matches: the header is required and used.
    both(
        |p| http_cfg(p, sp, be.port(), "", &rule("127.0.0.1")),
        |who, port| {
            let resp = exchange(port, &[write_v2(&claimed()), REQ.to_vec()].concat());
            assert!(resp.starts_with(b"HTTP/1.1 200"), "{who}: {resp:?}");
            assert_eq!(
                be.last().header("x-forwarded-for"),
                Some("198.51.100.7"),
                "{who}"
            );
            let before = be.request_count();
            assert!(exchange(port, REQ).is_empty(), "{who}");
            assert_eq!(be.request_count(), before, "{who}");
        },
    );
    // It does not: a plain request passes, a header is no HTTP.
    both(
        |p| http_cfg(p, sp, be.port(), "", &rule("10.0.0.0/8")),
        |who, port| {
            let resp = exchange(port, REQ);
            assert!(resp.starts_with(b"HTTP/1.1 200"), "{who}: {resp:?}");
            assert_eq!(
                be.last().header("x-forwarded-for"),
                Some("127.0.0.1"),
                "{who}"
            );
            let resp = exchange(port, &[write_v1(&claimed()), REQ.to_vec()].concat());
            assert!(resp.starts_with(b"HTTP/1.1 400"), "{who}: {resp:?}");
        },
    );
}

#[test]
fn a_silent_client_times_out_with_timeout_client() {
    let be = HttpBackend::start("a");
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sp = syslog.borrow().port();
    both(
        |p| http_cfg(p, sp, be.port(), " accept-proxy", ""),
        |who, port| {
            let start = std::time::Instant::now();
            let resp = exchange(port, b"");
            let took = start.elapsed();
            assert!(resp.is_empty(), "{who}: {resp:?}");
            assert!(
                took >= Duration::from_millis(1500),
                "{who}: closed after {took:?}"
            );
            assert!(
                took < Duration::from_secs(4),
                "{who}: closed after {took:?}"
            );
            let mut sl = syslog.borrow_mut();
            sl.wait("for the timeout", |l| {
                l.contains("] fe/1: Timeout while waiting for PROXY protocol header")
            });
            sl.seen.clear();
            assert_eq!(be.request_count(), 0, "{who}");
        },
    );
}

/// A header split across two segments. HAProxy 2.6 peeks once and judges
/// what it finds (here: an unhandled protocol; a cut further on: "Truncated
/// PROXY protocol header received");
/// ringlb waits for the rest within `timeout client`, as the spec allows,
/// so that a header cut by the network still works: an intended difference.
#[test]
fn a_header_in_two_segments() {
    let be = HttpBackend::start("a");
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sp = syslog.borrow().port();
    both(
        |p| http_cfg(p, sp, be.port(), " accept-proxy", ""),
        |who, port| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let h = write_v1(&claimed());
            s.write_all(&h[..10]).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let _ = s.write_all(&[&h[10..], REQ].concat());
            let mut resp = Vec::new();
            let _ = s.read_to_end(&mut resp);
            if who == "ringlb" {
                assert!(resp.starts_with(b"HTTP/1.1 200"), "{who}: {resp:?}");
                assert_eq!(be.last().header("x-forwarded-for"), Some("198.51.100.7"));
            } else {
                // HAProxy judges the 10 bytes it peeked ("PROXY TCP4" without
                // its space is no protocol it knows).
                assert!(resp.is_empty(), "{who}: {resp:?}");
                let mut sl = syslog.borrow_mut();
                sl.wait("for HAProxy's refusal", |l| {
                    l.contains(
                        "] fe/1: Received an unhandled protocol in the PROXY protocol header",
                    )
                });
            }
        },
    );
}

/// A v2 header for [`claimed`] with the TLVs `proxy-v2-options
/// crc32c,authority,unique-id` writes (the sending side's code, whose bytes
/// tests/send_proxy.rs holds to HAProxy's); `bad_crc` flips a checksum bit.
fn with_tlvs(authority: &[u8], unique_id: &[u8], bad_crc: bool) -> Vec<u8> {
    use ringlb::server::proxy_header::{Endpoints, ProxyOpts, write};
    let Header::Proxied { src, dst } = claimed() else {
        unreachable!()
    };
    let opts = ProxyOpts {
        v2: true,
        crc32c: true,
        authority: true,
        unique_id: true,
        ..ProxyOpts::default()
    };
    let e = Endpoints {
        src: Some(src),
        dst: Some(dst),
        authority: Some(authority),
        unique_id: Some(unique_id),
        local: false,
        tls: None,
    };
    let mut out = Vec::new();
    write(&opts, &e, &mut out);
    // The CRC32C TLV follows the 12 address bytes: type, length, value.
    assert_eq!(out[16 + 12], 0x03);
    if bad_crc {
        out[16 + 12 + 3] ^= 1;
    }
    out
}

/// `fc_pp_authority`, `fc_pp_unique_id` and `fc_rcvd_proxy` read what the
/// header carried, in set-header values and ACLs; a header whose CRC32C is
/// wrong closes the connection with HAProxy's log line, a right one passes.
#[test]
fn v2_tlvs_reach_the_fetches_and_crc32c_is_checked() {
    let be = HttpBackend::start("a");
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sp = syslog.borrow().port();
    let rules = "    http-request deny if { fc_pp_authority -m str denied.example }\n    \
                 http-request set-header X-Auth %[fc_pp_authority]\n    \
                 http-request set-header X-Uid %[fc_pp_unique_id]\n    \
                 http-request set-header X-Rcvd %[fc_rcvd_proxy]\n    \
                 unique-id-format %[fc_pp_unique_id]\n    unique-id-header X-Req-Id\n";
    both(
        |p| http_cfg(p, sp, be.port(), " accept-proxy", rules),
        |who, port| {
            let h = with_tlvs(b"example.com", b"uid-17", false);
            let resp = exchange(port, &[h, REQ.to_vec()].concat());
            assert!(resp.starts_with(b"HTTP/1.1 200"), "{who}: {resp:?}");
            let got = be.last();
            assert_eq!(got.header("x-auth"), Some("example.com"), "{who}");
            assert_eq!(got.header("x-uid"), Some("uid-17"), "{who}");
            assert_eq!(got.header("x-rcvd"), Some("1"), "{who}");
            assert_eq!(got.header("x-req-id"), Some("uid-17"), "{who}");
            assert_eq!(got.header("x-forwarded-for"), Some("198.51.100.7"), "{who}");

            // A v1 header: no TLV, the fetches find nothing.
            let resp = exchange(port, &[write_v1(&claimed()), REQ.to_vec()].concat());
            assert!(resp.starts_with(b"HTTP/1.1 200"), "{who}: {resp:?}");
            let got = be.last();
            assert_eq!(got.header("x-auth"), Some(""), "{who}");
            assert_eq!(got.header("x-uid"), Some(""), "{who}");
            assert_eq!(got.header("x-req-id"), Some(""), "{who}");
            assert_eq!(got.header("x-rcvd"), Some("1"), "{who}");

            let h = with_tlvs(b"denied.example", b"u", false);
            let resp = exchange(port, &[h, REQ.to_vec()].concat());
            assert!(resp.starts_with(b"HTTP/1.1 403"), "{who}: {resp:?}");

            let before = be.request_count();
            let h = with_tlvs(b"example.com", b"uid-17", true);
            let resp = exchange(port, &[h, REQ.to_vec()].concat());
            assert!(resp.is_empty(), "{who}: {resp:?}");
            assert_eq!(be.request_count(), before, "{who}: a request passed");
            let mut sl = syslog.borrow_mut();
            sl.wait("for the CRC32C refusal", |l| {
                l.contains("] fe/1: Received an invalid PROXY protocol header")
            });
            sl.seen.clear();
        },
    );
}

/// An AUTHORITY longer than HAProxy's 255 bytes is an invalid header.
#[test]
fn an_authority_over_255_bytes_is_refused() {
    let be = HttpBackend::start("a");
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sp = syslog.borrow().port();
    both(
        |p| http_cfg(p, sp, be.port(), " accept-proxy", ""),
        |who, port| {
            for (n, ok) in [(255, true), (256, false)] {
                let h = with_tlvs(&vec![b'a'; n], b"u", false);
                let resp = exchange(port, &[h, REQ.to_vec()].concat());
                assert_eq!(resp.starts_with(b"HTTP/1.1 200"), ok, "{who} {n}: {resp:?}");
            }
            let mut sl = syslog.borrow_mut();
            sl.wait("for the refusal", |l| {
                l.contains("] fe/1: Received an invalid PROXY protocol header")
            });
            sl.seen.clear();
        },
    );
}

/// A backend that sends back the PROXY v2 header its connection started with.
fn header_echo() -> TcpBackend {
    TcpBackend::start(|mut s| {
        let mut h = vec![0u8; 16];
        if s.read_exact(&mut h).is_err() {
            return;
        }
        let len = u16::from_be_bytes([h[14], h[15]]) as usize;
        h.resize(16 + len, 0);
        if s.read_exact(&mut h[16..]).is_ok() {
            let _ = s.write_all(&h);
        }
    })
}

/// In `mode tcp`, the fetches work in `tcp-request content` rules, and
/// `proxy-v2-options authority` passes the received authority on (HAProxy
/// sends it in preference to a TLS SNI): the server gets the same header
/// bytes from both.
#[test]
fn tcp_mode_fetches_and_the_authority_passed_on() {
    let be = header_echo();
    let cfg = |p: u16| {
        format!(
            "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 2s\n    \
             timeout server 5s\n\
             listen t\n    bind 127.0.0.1:{p} accept-proxy\n    \
             tcp-request content reject if {{ fc_pp_unique_id -m str nope }}\n    \
             server a 127.0.0.1:{} send-proxy-v2 proxy-v2-options authority,crc32c\n",
            be.port
        )
    };
    let seen = std::cell::RefCell::new(Vec::new());
    both(cfg, |who, port| {
        let back = exchange(port, &with_tlvs(b"example.com", b"uid-17", false));
        let text = String::from_utf8_lossy(&back);
        assert!(text.contains("example.com"), "{who}: {back:?}");
        assert!(
            back.starts_with(b"\r\n\r\n\0\r\nQUIT\n\x21\x11"),
            "{who}: {back:?}"
        );
        // The header's own addresses, not the connection's.
        assert_eq!(&back[16..20], &[198, 51, 100, 7], "{who}");
        seen.borrow_mut().push(back);
        let back = exchange(port, &with_tlvs(b"example.com", b"nope", false));
        assert!(back.is_empty(), "{who}: {back:?}");
    });
    let seen = seen.borrow();
    if seen.len() == 2 {
        assert_eq!(
            seen[0], seen[1],
            "ringlb and HAProxy send different headers"
        );
    }
}
