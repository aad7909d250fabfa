//! TLS termination on `bind ... ssl crt <pem>`: the connection layer
//! (PROXY header → TLS handshake → HTTP or TCP session) through the binary,
//! driven by rustls, curl, `openssl s_client` and Python's ssl module, and
//! compared with HAProxy 2.6 on the same configuration and PEM files.
//!
//! Certificates are made at run time (`TlsCerts`); without `openssl` every
//! test says so and skips.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// Runs `check` against ringlb, then HAProxy (when installed), on `cfg(port)`.
fn both(cfg: impl Fn(u16) -> String, mut check: impl FnMut(&str, u16)) {
    let port = free_port();
    let lb = Ringlb::start(&cfg(port));
    check("ringlb", lb.port());
    drop(lb);
    let port = free_port();
    if let Some(_h) = Haproxy::start(&cfg(port), port) {
        check("haproxy", port);
    }
}

/// An HTTP frontend terminating TLS with `pem`, logging to `syslog`.
fn http_cfg(port: u16, pem: &std::path::Path, be: u16, syslog: u16, extra: &str) -> String {
    format!(
        "global\n    log 127.0.0.1:{syslog} local0\n    nbthread 2\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    \
         timeout client 2s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port} ssl crt {pem}{extra}\n    option forwardfor\n    \
         default_backend b\n\
         backend b\n    server a 127.0.0.1:{be}\n",
        pem = pem.display()
    )
}

/// A `mode tcp` frontend terminating TLS, relaying plaintext to `be`.
fn tcp_cfg(port: u16, pem: &std::path::Path, be: u16) -> String {
    format!(
        "global\n    nbthread 2\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    \
         timeout server 5s\n\
         listen t\n    bind 127.0.0.1:{port} ssl crt {pem}\n    server e 127.0.0.1:{be}\n",
        pem = pem.display()
    )
}

/// The response as a client compares it: status, body, and the headers a
/// proxy does not invent (those of the backend).
fn seen(r: &Response) -> (u16, Vec<u8>, Option<String>, Option<String>) {
    (
        r.status,
        r.body.clone(),
        r.header("x-server").map(str::to_owned),
        r.header("content-length").map(str::to_owned),
    )
}

#[test]
fn keep_alive_requests_on_one_tls_connection_match_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let rec = Recorder::start();
    let syslog = Syslog::new();
    let mut views: Vec<(Vec<_>, Vec<Framed>)> = Vec::new();
    for pem in [&certs.ec, &certs.rsa] {
        both(
            |p| http_cfg(p, pem, rec.port(), syslog.port(), ""),
            |who, port| {
                rec.clear();
                let before = rec.requests().len();
                let mut c = TlsClient::connect(port, &cfg_tls);
                let mut got = Vec::new();
                for i in 0..40 {
                    let r = if i % 2 == 0 {
                        c.request(format!("GET /get/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                    } else {
                        let body = format!("post body {i}");
                        c.request(
                            format!(
                                "POST /post/{i} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        )
                    };
                    assert_eq!(r.status, 200, "{who} request {i}: {r:?}");
                    got.push(seen(&r));
                }
                let reqs = rec.requests()[before..].to_vec();
                assert_eq!(reqs.len(), 40, "{who}");
                assert_eq!(
                    reqs[7].header("x-forwarded-for"),
                    Some("127.0.0.1"),
                    "{who}"
                );
                views.push((got, reqs));
            },
        );
    }
    // Every run against every other: same responses, same requests at the server.
    for (got, reqs) in &views[1..] {
        assert_eq!(got, &views[0].0);
        for (a, b) in reqs.iter().zip(&views[0].1) {
            assert_eq!(a.target, b.target);
            // HAProxy 2.6 sends header names lowercased (HTX), ringlb as
            // received: compared without case (not a TLS matter).
            let lower = |h: &[(String, String)]| {
                h.iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(lower(&a.headers), lower(&b.headers));
            assert_eq!(a.body, b.body);
        }
    }
}

#[test]
fn large_and_chunked_bodies_both_ways() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    let lb = Ringlb::start(&http_cfg(free_port(), &certs.ec, be.port(), 9, ""));
    let mut c = TlsClient::connect(lb.port(), &cfg_tls);
    // 1 MB down.
    let r = c.request(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, big_body());
    // Chunked down.
    let r = c.request(b"GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(r.chunked);
    assert_eq!(r.body, chunked_body());
    // 1 MB up, with Content-Length.
    let up = vec![b'u'; 1 << 20];
    c.send(
        format!(
            "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            up.len()
        )
        .as_bytes(),
    );
    c.send(&up);
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.text().contains(&format!("{}", up.len())), "{}", r.text());
    assert_eq!(be.last().body.len(), up.len());
    // Chunked up.
    c.send(b"POST /upc HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..64 {
        c.send(format!("{:x}\r\n{}\r\n", 4096, "c".repeat(4096)).as_bytes());
    }
    c.send(b"0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(be.last().body.len(), 64 * 4096);
    // The connection is still good.
    let r = c.request(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
}

/// A TLS client connected to ringlb in front of a recorder (None without openssl).
fn client_of_ringlb() -> Option<(TlsCerts, Recorder, Ringlb, TlsClient)> {
    let certs = TlsCerts::generate()?;
    let rec = Recorder::start();
    let lb = Ringlb::start(&http_cfg(free_port(), &certs.ec, rec.port(), 9, ""));
    let c = TlsClient::connect(lb.port(), &certs.client_config());
    Some((certs, rec, lb, c))
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let Some((_certs, _rec, _lb, mut c)) = client_of_ringlb() else {
        return;
    };
    let mut all = Vec::new();
    for i in 0..10 {
        all.extend_from_slice(format!("GET /p{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    c.send(&all);
    for i in 0..10 {
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("/p{i}"));
    }
}

#[test]
fn a_keep_alive_client_quiet_for_more_than_a_second_is_answered() {
    // A second into a keep-alive wait the session lets its response timer
    // go (session/read.rs): the next answer must still go out, on a timer
    // made anew (timeout client 2s: the wait of 1.5 s does not end it).
    let Some((_certs, _rec, _lb, mut c)) = client_of_ringlb() else {
        return;
    };
    for i in 0..3 {
        let r = c.request(format!("GET /q{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!((r.status, r.text()), (200, format!("/q{i}")));
        std::thread::sleep(Duration::from_millis(1500));
    }
}

/// A backend answering `101` to any request, then echoing raw bytes until
/// the client half-closes.
fn upgrade_backend() -> TcpBackend {
    TcpBackend::start(|s| {
        let _ = s.set_read_timeout(Some(IO_TIMEOUT));
        let mut bs = BufStream::new(s);
        let Ok(Some(_)) = bs.read_head() else {
            return;
        };
        let reply = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello\n";
        if bs.stream.write_all(reply).is_err() {
            return;
        }
        let early = bs.buffered().to_vec();
        if !early.is_empty() && bs.stream.write_all(&early).is_err() {
            return;
        }
        echo_until_eof(bs.stream);
    })
}

#[test]
fn upgrade_tunnel_over_tls() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = upgrade_backend();
    let lb = Ringlb::start(&http_cfg(free_port(), &certs.ec, be.port, 9, ""));
    let mut c = TlsClient::connect(lb.port(), &cfg_tls);
    c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    let r = read_response(&mut c.conn, false).unwrap();
    assert_eq!(r.status, 101);
    // Each frame's echo is read before the next is sent: a client that only
    // wrote would stall once the socket buffers fill, and time out.
    let mut want = b"hello\n".to_vec();
    let mut got = c.conn.buffered().to_vec();
    let mut buf = [0u8; 16384];
    for i in 0..50 {
        let msg = format!("frame {i} {}\n", "x".repeat(i * 100));
        c.send(msg.as_bytes());
        want.extend_from_slice(msg.as_bytes());
        while got.len() < want.len() {
            let n = c.conn.stream.read(&mut buf).expect("tunnel read");
            assert!(n > 0, "tunnel closed early");
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(got, want);
    // The client's close (close_notify, FIN) ends the tunnel both ways.
    c.conn.stream.conn.send_close_notify();
    c.conn.stream.flush().unwrap();
    c.conn.stream.sock.shutdown(Shutdown::Write).unwrap();
    let t = Instant::now();
    let _ = c.read_to_close();
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "the tunnel did not close"
    );
}

#[test]
fn tcp_mode_termination_relays_plaintext_with_half_close() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let echo = TcpBackend::echo();
    let lb = Ringlb::start(&tcp_cfg(free_port(), &certs.rsa, echo.port));
    let s = tls_connect(lb.port(), &cfg_tls).unwrap();
    let s = Arc::new(Mutex::new(s));
    // 2 MB up while reading what comes back: both directions at once, in
    // records of every size (rustls's plaintext buffer must never overflow
    // when records straddle the proxy's reads).
    let data: Vec<u8> = (0..2u32 << 20).map(|i| (i % 251) as u8).collect();
    let sock = s.lock().unwrap().sock.try_clone().unwrap();
    sock.set_nonblocking(false).unwrap();
    let total = data.len();
    let mut got = Vec::with_capacity(total);
    let mut sent = 0;
    let mut buf = vec![0u8; 65536];
    // One thread, interleaved: rustls's StreamOwned is not split-safe.
    {
        let mut g = s.lock().unwrap();
        g.sock
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let mut k = 0usize;
        while got.len() < total {
            if sent < total {
                k += 1;
                let end = (sent + 1 + (k * 7919) % 20000).min(total);
                g.write_all(&data[sent..end]).unwrap();
                sent = end;
                if sent == total {
                    // Half-close: close_notify, then FIN.
                    g.conn.send_close_notify();
                    g.flush().unwrap();
                    g.sock.shutdown(Shutdown::Write).unwrap();
                    g.sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                }
            }
            match g.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        // After the echo's own half-close: a clean TLS close (close_notify).
        let n = g.read(&mut buf).expect("clean close");
        assert_eq!(n, 0);
    }
    drop(sock);
    assert_eq!(got.len(), total);
    assert!(got == data, "the echoed bytes differ");
}

#[test]
fn accept_proxy_then_tls() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    both(
        |p| http_cfg(p, &certs.ec, be.port(), 9, " accept-proxy"),
        |who, port| {
            let mut sock = connect(port);
            sock.write_all(b"PROXY TCP4 198.51.100.7 203.0.113.9 4242 443\r\n")
                .unwrap();
            let s = tls_over(sock, &cfg_tls).unwrap_or_else(|e| panic!("{who}: {e}"));
            let mut c = TlsClient {
                conn: BufStream::new(s),
            };
            let r = c.request(b"GET /pp HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(r.status, 200, "{who}");
            assert_eq!(
                be.last().header("x-forwarded-for"),
                Some("198.51.100.7"),
                "{who}"
            );
        },
    );
}

/// A TLS 1.2 ClientHello's first bytes (record header and the start of the
/// handshake message), cut short.
const TRUNCATED_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03, 0x11, 0x22,
];

#[test]
fn garbage_and_truncated_hellos_are_logged_and_closed_like_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sp = syslog.borrow().port();
    both(
        |p| http_cfg(p, &certs.ec, be.port(), sp, ""),
        |who, port| {
            let before = be.request_count();
            // Plain HTTP on the TLS port.
            let mut s = connect(port);
            let me = format!("127.0.0.1:{} [", s.local_addr().unwrap().port());
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            assert!(!out.starts_with(b"HTTP/"), "{who}: {out:?}");
            let mut sl = syslog.borrow_mut();
            let l = sl.wait("for the handshake failure", |l| l.contains(&me));
            assert!(l.contains("] fe/1: SSL handshake failure"), "{who}: {l}");
            sl.seen.clear();
            // A ClientHello cut short, then the close.
            let mut s = connect(port);
            let me = format!("127.0.0.1:{} [", s.local_addr().unwrap().port());
            s.write_all(TRUNCATED_HELLO).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let _ = s.read_to_end(&mut Vec::new());
            let l = sl.wait("for the truncated hello's line", |l| l.contains(&me));
            // HAProxy 2.6 (OpenSSL) says this too: the peer closed mid-hello.
            assert!(
                l.contains("] fe/1: Connection closed during SSL handshake"),
                "{who}: {l}"
            );
            sl.seen.clear();
            drop(sl);
            assert_eq!(
                be.request_count(),
                before,
                "{who}: a request reached the server"
            );
            // The worker is alive: the next client is served.
            let mut c = TlsClient::connect(port, &cfg_tls);
            let r = c.request(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(r.status, 200, "{who}");
        },
    );
}

#[test]
fn truncated_hello_log_line_is_haproxys() {
    // The exact words for a client that closes mid-hello, against HAProxy's.
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = HttpBackend::start("a");
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sp = syslog.borrow().port();
    let mut lines = Vec::new();
    both(
        |p| http_cfg(p, &certs.ec, be.port(), sp, ""),
        |_, port| {
            let mut s = connect(port);
            let me = format!("127.0.0.1:{} [", s.local_addr().unwrap().port());
            s.write_all(TRUNCATED_HELLO).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let _ = s.read_to_end(&mut Vec::new());
            let mut sl = syslog.borrow_mut();
            let l = sl.wait("for the line", |l| l.contains(&me));
            lines.push(l.split("] fe/1: ").nth(1).unwrap().trim().to_string());
            sl.seen.clear();
        },
    );
    if lines.len() == 2 {
        assert_eq!(lines[0], lines[1]);
    }
}

#[test]
fn handshake_is_bounded_by_timeout_client() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sp = syslog.borrow().port();
    both(
        |p| {
            http_cfg(p, &certs.ec, be.port(), sp, "")
                .replace("timeout client 2s", "timeout client 1s")
        },
        |who, port| {
            // Half a hello, then silence.
            let mut s = connect(port);
            let me = format!("127.0.0.1:{} [", s.local_addr().unwrap().port());
            s.write_all(TRUNCATED_HELLO).unwrap();
            let t = Instant::now();
            let _ = s.read_to_end(&mut Vec::new());
            let took = t.elapsed();
            assert!(
                took >= Duration::from_millis(900) && took < Duration::from_secs(4),
                "{who}: closed after {took:?}"
            );
            let mut sl = syslog.borrow_mut();
            let l = sl.wait("for the timeout line", |l| l.contains(&me));
            assert!(
                l.contains("] fe/1: Timeout during SSL handshake"),
                "{who}: {l}"
            );
            sl.seen.clear();
            drop(sl);
            let mut c = TlsClient::connect(port, &cfg_tls);
            assert_eq!(c.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
        },
    );
}

#[test]
fn a_slow_client_completes() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    let lb = Ringlb::start(&http_cfg(free_port(), &certs.ec, be.port(), 9, ""));
    let mut sock = connect(lb.port());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(cfg_tls.clone(), name).unwrap();
    // Every flight trickled 7 bytes at a time.
    let trickle = |conn: &mut rustls::ClientConnection, sock: &mut TcpStream| {
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        for piece in out.chunks(7) {
            sock.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
    };
    while conn.is_handshaking() {
        trickle(&mut conn, &mut sock);
        if conn.is_handshaking() && conn.wants_read() {
            conn.read_tls(&mut sock).unwrap();
            conn.process_new_packets().unwrap();
        }
    }
    conn.writer()
        .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    trickle(&mut conn, &mut sock);
    let mut s = BufStream::new(rustls::StreamOwned::new(conn, sock));
    let r = read_response(&mut s, false).unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn many_concurrent_tls_clients_across_two_workers() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    let lb = Ringlb::start(&http_cfg(free_port(), &certs.ec, be.port(), 9, ""));
    let port = lb.port();
    let threads: Vec<_> = (0..24)
        .map(|t| {
            let cfg = cfg_tls.clone();
            std::thread::spawn(move || {
                for round in 0..3 {
                    let mut c = TlsClient::connect(port, &cfg);
                    for i in 0..5 {
                        let r = c.request(
                            format!("GET /c/{t}/{round}/{i} HTTP/1.1\r\nHost: t\r\n\r\n")
                                .as_bytes(),
                        );
                        assert_eq!(r.status, 200);
                        assert!(r.text().contains(&format!("/c/{t}/{round}/{i}")));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(be.request_count(), 24 * 3 * 5);
}

#[test]
fn curl_s_client_and_python_interoperate() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = HttpBackend::start("a");
    both(
        |p| http_cfg(p, &certs.rsa, be.port(), 9, ""),
        |who, port| {
            let out = curl_tls(&certs, port, "/curl", &["-i"]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{who}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.starts_with("HTTP/1.1 200"), "{who}: {text}");
            assert!(text.contains("GET /curl HTTP/1.1"), "{who}: {text}");
            // TLS 1.2 with curl: the RSA certificate's ECDHE-RSA suites.
            let out = curl_tls(&certs, port, "/tls12", &["--tlsv1.2", "--tls-max", "1.2"]);
            assert!(
                out.status.success(),
                "{who}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // s_client: a request typed in, the protocol and cipher it reports.
            let text = s_client(
                &certs,
                port,
                &[],
                b"GET /s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            );
            assert!(text.contains("HTTP/1.1 200"), "{who}: {text}");
            assert!(text.contains("TLSv1.3"), "{who}: {text}");
            assert!(text.contains("Verify return code: 0 (ok)"), "{who}: {text}");
            // Python's ssl module, TLS 1.2 and 1.3.
            let script = r#"
import socket, ssl, sys
ca, port, ver = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
v = ssl.TLSVersion.TLSv1_2 if ver == "1.2" else ssl.TLSVersion.TLSv1_3
ctx.minimum_version = v
ctx.maximum_version = v
with socket.create_connection(("127.0.0.1", port)) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"GET /py HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        print(s.version(), s.cipher()[0])
        print(data.split(b"\r\n")[0].decode())
"#;
            for ver in ["1.2", "1.3"] {
                let out = python_tls(&certs, script, &[&port.to_string(), ver]);
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success(),
                    "{who}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(text.contains(&format!("TLSv{ver}")), "{who}: {text}");
                assert!(text.contains("HTTP/1.1 200"), "{who}: {text}");
            }
        },
    );
}

/// The connecting side's glue (`ringlb::tls::connect`), used from a monoio
/// runtime against a ringlb TLS bind, the stream split into halves used at
/// the same time.
#[test]
fn the_client_glue_connects_and_splits() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    let lb = Ringlb::start(&http_cfg(free_port(), &certs.ec, be.port(), 9, ""));
    let port = lb.port();
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    let body = rt.block_on(async move {
        use monoio::io::{AsyncReadRent, AsyncWriteRentExt, Splitable};
        let tcp = monoio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let s = ::ringlb::tls::connect(::ringlb::stream::Stream::Tcp(tcp), cfg_tls, name)
            .await
            .unwrap();
        let info = s.tls_info().unwrap().clone();
        assert_eq!(info.version, "TLSv1.3");
        assert!(info.cipher.starts_with("TLS_"), "{info:?}");
        let (mut r, mut w) = s.into_split();
        let writer = async move {
            for i in 0..20 {
                let req = format!("GET /g{i} HTTP/1.1\r\nHost: t\r\n\r\n");
                w.write_all(req.into_bytes()).await.0.unwrap();
            }
            w.write_all(b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec())
                .await
                .0
                .unwrap();
            w
        };
        let reader = async move {
            let mut all = Vec::new();
            let mut buf = Vec::with_capacity(1000);
            loop {
                let (n, b) = r.read(buf).await;
                buf = b;
                match n.unwrap() {
                    0 => return all,
                    n => all.extend_from_slice(&buf[..n]),
                }
            }
        };
        let (_w, all) = monoio::join!(writer, reader);
        all
    });
    let text = String::from_utf8_lossy(&body);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 21, "{text}");
    assert!(text.contains("GET /last"), "{text}");
}
