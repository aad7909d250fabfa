//! TLS towards the servers (`server ... ssl`): the handshake after the
//! connect (and after a PROXY header), `verify`, `ca-file`, `verifyhost`,
//! `sni`, a client certificate (`crt`), SNI-keyed connection reuse,
//! `check-ssl` and `mode tcp`, through the binary against a rustls backend
//! the test runs, which records what it saw (SNI, client certificate,
//! PROXY header, request bytes). Each case runs on ringlb, then on HAProxy
//! 2.6 with the same configuration, and both must agree.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What the backend saw on one connection.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The connection's number, from 1.
    conn: usize,
    /// The SNI the client sent.
    sni: Option<String>,
    /// Whether the client showed a certificate.
    client_cert: bool,
    /// The protocol version and cipher suite negotiated (rustls' names).
    version: String,
    cipher: String,
    /// The PROXY v2 header read before the handshake, if any.
    proxy: Vec<u8>,
    /// The request heads (HTTP) or bytes (echo) it read, in order.
    requests: Vec<Vec<u8>>,
}

/// How the backend behaves.
#[derive(Clone, Copy, Default)]
struct Opts<'a> {
    /// Ask for (and require) a client certificate signed by this CA.
    client_ca: Option<&'a Path>,
    /// Read a PROXY v2 header before the handshake.
    proxy_v2: bool,
    /// Echo bytes back instead of answering HTTP.
    echo: bool,
}

/// A TLS server: certificate `pem`, one thread per connection.
struct TlsBackend {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TlsBackend {
    fn start(pem: &Path, o: Opts<'_>) -> TlsBackend {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pem)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(pem).unwrap();
        let b = rustls::ServerConfig::builder();
        let b = match o.client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_file_iter(ca).unwrap() {
                    roots.add(c.unwrap()).unwrap();
                }
                let v = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .unwrap();
                b.with_client_cert_verifier(v)
            }
            None => b.with_no_client_auth(),
        };
        let cfg = Arc::new(b.with_single_cert(certs, key).unwrap());
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (seen2, count) = (seen.clone(), Arc::new(AtomicUsize::new(0)));
        let (proxy_v2, echo) = (o.proxy_v2, o.echo);
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (cfg, seen, count) = (cfg.clone(), seen2.clone(), count.clone());
                std::thread::spawn(move || {
                    serve(
                        s,
                        cfg,
                        &seen,
                        count.fetch_add(1, Ordering::SeqCst) + 1,
                        proxy_v2,
                        echo,
                    )
                });
            }
        });
        TlsBackend { port, seen }
    }

    /// Connections that carried at least one request (checks carry none).
    fn used(&self) -> Vec<Seen> {
        let v = self.seen.lock().unwrap();
        v.iter()
            .filter(|s| !s.requests.is_empty())
            .cloned()
            .collect()
    }

    /// Every connection whose handshake completed.
    fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

/// One backend connection: PROXY header, handshake, then HTTP or echo.
fn serve(
    mut s: TcpStream,
    cfg: Arc<rustls::ServerConfig>,
    seen: &Mutex<Vec<Seen>>,
    conn: usize,
    proxy_v2: bool,
    echo: bool,
) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut proxy = Vec::new();
    if proxy_v2 {
        let mut head = [0u8; 16];
        if s.read_exact(&mut head).is_err() {
            return;
        }
        let mut rest = vec![0u8; u16::from_be_bytes([head[14], head[15]]) as usize];
        if s.read_exact(&mut rest).is_err() {
            return;
        }
        proxy = [&head[..], &rest].concat();
    }
    let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(cfg).unwrap(), s);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            return;
        }
    }
    let idx = {
        let mut v = seen.lock().unwrap();
        v.push(Seen {
            conn,
            sni: tls.conn.server_name().map(str::to_owned),
            client_cert: tls.conn.peer_certificates().is_some(),
            version: format!("{:?}", tls.conn.protocol_version().unwrap()),
            cipher: format!("{:?}", tls.conn.negotiated_cipher_suite().unwrap().suite()),
            proxy,
            requests: Vec::new(),
        });
        v.len() - 1
    };
    let sni = tls.conn.server_name().unwrap_or("-").to_owned();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match tls.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if echo {
            seen.lock().unwrap()[idx].requests.push(chunk[..n].to_vec());
            if tls.write_all(&chunk[..n]).is_err() {
                return;
            }
            continue;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..end + 4).collect();
            seen.lock().unwrap()[idx].requests.push(head);
            let body = format!("sni={sni}\n");
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-conn: {conn}\r\n\r\n{body}",
                body.len()
            );
            if tls.write_all(resp.as_bytes()).is_err() {
                return;
            }
        }
    }
}

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

/// An HTTP proxy on `port` to one server line `server`, logging to `syslog`.
fn http_cfg(port: u16, syslog: u16, backend_lines: &str) -> String {
    format!(
        "global\n    log 127.0.0.1:{syslog} local0\n    nbthread 1\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    \
         timeout client 5s\n    timeout server 5s\n    retries 1\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend b\n\
         backend b\n{backend_lines}"
    )
}

/// One request with `host` on a new connection: status and body.
fn get_host(port: u16, host: &str) -> (u16, String) {
    let mut c = HttpClient::connect(port);
    let r = c.request(format!("GET /p HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes());
    (r.status, r.text())
}

/// The request line a server received.
fn first_line(req: &[u8]) -> String {
    let s = String::from_utf8_lossy(req);
    s.lines().next().unwrap_or("").to_owned()
}

#[test]
fn verify_none_and_sni_from_the_request_reach_the_server_as_with_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(&certs.ec, Opts::default());
    let syslog = Syslog::new();
    let mut views = Vec::new();
    for (sni, host, want) in [
        ("req.hdr(host)", "test.example", Some("test.example")),
        ("str(localhost)", "other.example", Some("localhost")),
        // An address is never sent as SNI (RFC 6066), by either.
        ("str(127.0.0.1)", "x", None),
    ] {
        let lines = format!(
            "    server a 127.0.0.1:{} ssl verify none sni {sni}\n",
            be.port
        );
        both(
            |p| http_cfg(p, syslog.port(), &lines),
            |who, port| {
                be.clear();
                let (status, body) = get_host(port, host);
                assert_eq!(status, 200, "{who} {sni}");
                let used = be.used();
                assert_eq!(used.len(), 1, "{who} {sni}: {used:?}");
                assert_eq!(used[0].sni.as_deref(), want, "{who} {sni}");
                assert_eq!(first_line(&used[0].requests[0]), "GET /p HTTP/1.1");
                views.push((who.to_owned(), sni, status, body, used[0].sni.clone()));
            },
        );
    }
    assert_eq!(views.iter().filter(|v| v.0 == "ringlb").count(), 3);
    for w in views.chunks(2).filter(|c| c.len() == 2) {
        assert_eq!(
            (w[0].2, &w[0].3, &w[0].4),
            (w[1].2, &w[1].3, &w[1].4),
            "{w:?}"
        );
    }
}

#[test]
fn verification_failures_are_503_with_sc_and_send_nothing_as_with_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let Some(other) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(&certs.ec, Opts::default());
    let (ca, wrong_ca) = (certs.ca.display(), other.ca.display());
    let cases = [
        (
            format!("ssl verify required ca-file {ca} sni str(localhost)"),
            200,
        ),
        (
            format!("ssl verify required ca-file {ca} verifyhost test.example"),
            200,
        ),
        (
            format!("ssl verify required ca-file {wrong_ca} sni str(localhost)"),
            503,
        ),
        (
            format!("ssl verify required ca-file {ca} sni str(wrong.example)"),
            503,
        ),
        (
            format!("ssl verify required ca-file {ca} verifyhost wrong.example"),
            503,
        ),
    ];
    for (opts, want) in cases {
        let mut syslog = Syslog::new();
        let sp = syslog.port();
        let lines = format!("    server a 127.0.0.1:{} {opts}\n", be.port);
        let mut states = Vec::new();
        both(
            |p| http_cfg(p, sp, &lines),
            |who, port| {
                be.clear();
                let (status, _) = get_host(port, "localhost");
                assert_eq!(status, want, "{who}: {opts}");
                let line = syslog.wait("with a status", |l| l.contains("\"GET /p"));
                syslog.seen.clear();
                // The termination state follows the status and byte counts.
                let state = line
                    .split_whitespace()
                    .find(|w| {
                        w.len() == 4 && w.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
                    })
                    .unwrap_or("")
                    .to_owned();
                if want == 503 {
                    assert!(be.used().is_empty(), "{who}: a request went out: {opts}");
                    assert!(line.contains("b/a"), "{who}: {line}");
                }
                states.push((who.to_owned(), state));
            },
        );
        if let [(_, a), (_, b)] = &states[..] {
            assert_eq!(a, b, "termination state differs for {opts}");
        }
        if want == 503 {
            assert_eq!(states[0].1, "SC--", "{opts}");
        }
    }
}

#[test]
fn client_certificate_is_presented_with_crt() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(
        &certs.ec,
        Opts {
            client_ca: Some(&certs.ca),
            ..Opts::default()
        },
    );
    let syslog = Syslog::new();
    for crt in [format!(" crt {}", certs.rsa.display()), String::new()] {
        let lines = format!("    server a 127.0.0.1:{} ssl verify none{crt}\n", be.port);
        let mut statuses = Vec::new();
        both(
            |p| http_cfg(p, syslog.port(), &lines),
            |who, port| {
                be.clear();
                let status = get_host(port, "localhost").0;
                if crt.is_empty() {
                    // The server refuses the handshake: nothing reaches it.
                    assert_ne!(status, 200, "{who}");
                    assert!(be.used().is_empty(), "{who}");
                } else {
                    assert_eq!(status, 200, "{who}");
                    assert!(be.used()[0].client_cert, "{who}");
                }
                statuses.push((who.to_owned(), status));
            },
        );
        // Without a certificate, TLS 1.3 lets the client finish its side
        // of the handshake before the server refuses it: the refusal then
        // meets the request (502) or the connection (503) by timing, for
        // HAProxy as for ringlb; only the success must be identical.
        for (who, st) in &statuses {
            assert!(
                *st == 200 || (crt.is_empty() && [502, 503].contains(st)),
                "{who}: {st}"
            );
        }
    }
}

#[test]
fn pooled_connections_are_reused_only_for_the_same_sni() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(&certs.ec, Opts::default());
    let syslog = Syslog::new();
    let lines = format!(
        "    http-reuse always\n    server a 127.0.0.1:{} ssl verify none sni req.hdr(host)\n",
        be.port
    );
    both(
        |p| http_cfg(p, syslog.port(), &lines),
        |who, port| {
            be.clear();
            // Two clients, each keeping its connection, alternating hosts.
            let mut a = HttpClient::connect(port);
            let mut b = HttpClient::connect(port);
            let mut conns: Vec<(String, String)> = Vec::new();
            for round in 0..3 {
                for (c, host) in [(&mut a, "localhost"), (&mut b, "test.example")] {
                    let r = c.request(
                        format!("GET /{round} HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes(),
                    );
                    assert_eq!(r.status, 200, "{who}");
                    assert_eq!(r.text(), format!("sni={host}\n"), "{who}");
                    conns.push((host.to_owned(), r.header("x-conn").unwrap().to_owned()));
                    // Let the connection go back to the pool.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            // Each server connection carried one SNI only, and was reused.
            for s in be.used() {
                let hosts: std::collections::BTreeSet<_> = conns
                    .iter()
                    .filter(|(_, c)| *c == s.conn.to_string())
                    .map(|(h, _)| h.as_str())
                    .collect();
                assert_eq!(hosts.len(), 1, "{who}: conn {} carried {hosts:?}", s.conn);
                assert_eq!(hosts.first().copied(), s.sni.as_deref(), "{who}");
            }
            assert!(be.used().len() < conns.len(), "{who}: no reuse: {conns:?}");
        },
    );
}

#[test]
fn send_proxy_v2_header_goes_in_clear_before_the_handshake() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(
        &certs.ec,
        Opts {
            proxy_v2: true,
            ..Opts::default()
        },
    );
    let syslog = Syslog::new();
    let lines = format!(
        "    server a 127.0.0.1:{} send-proxy-v2 ssl verify none\n",
        be.port
    );
    let mut seen = Vec::new();
    both(
        |p| http_cfg(p, syslog.port(), &lines),
        |who, port| {
            be.clear();
            assert_eq!(get_host(port, "localhost").0, 200, "{who}");
            let used = be.used();
            assert_eq!(used.len(), 1, "{who}");
            let pp = &used[0].proxy;
            assert_eq!(&pp[..12], b"\r\n\r\n\0\r\nQUIT\n", "{who}");
            // PROXY command, TCP over IPv4: the client's addresses.
            assert_eq!(pp[12..14], [0x21, 0x11], "{who}");
            assert_eq!(&pp[16..20], &[127, 0, 0, 1], "{who}");
            seen.push(first_line(&used[0].requests[0]));
        },
    );
    seen.dedup();
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[test]
fn tcp_mode_originates_tls_to_an_echo_server() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(
        &certs.ec,
        Opts {
            echo: true,
            ..Opts::default()
        },
    );
    let cfg = |port: u16| {
        format!(
            "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\n\
             listen t\n    bind 127.0.0.1:{port}\n    \
             server e 127.0.0.1:{} ssl verify required ca-file {} sni str(test.example)\n",
            be.port,
            certs.ca.display()
        )
    };
    both(cfg, |who, port| {
        be.clear();
        let mut c = connect(port);
        c.write_all(b"hello over tls").unwrap();
        let mut got = [0u8; 14];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello over tls", "{who}");
        let all = be.all();
        assert_eq!(all[0].sni.as_deref(), Some("test.example"), "{who}");
    });
    // A failed verification closes the client, by both.
    let bad = |port: u16| cfg(port).replace("test.example", "wrong.example");
    both(bad, |who, port| {
        let mut c = connect(port);
        let _ = c.write_all(b"x");
        let mut buf = [0u8; 8];
        assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)), "{who}");
    });
}

#[test]
fn check_ssl_marks_servers_up_and_down_as_haproxy_words_it() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let Some(other) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(&certs.ec, Opts::default());
    let ca = certs.ca.display().to_string();
    let wrong = other.ca.display().to_string();
    for (ca_file, up) in [(ca, true), (wrong, false)] {
        let mut syslog = Syslog::new();
        let lines = format!(
            "    option log-health-checks\n    \
             server a 127.0.0.1:{} check inter 200 rise 1 fall 1 ssl verify required \
             ca-file {ca_file} check-sni localhost sni str(localhost)\n",
            be.port
        );
        let mut reasons = Vec::new();
        let sp = syslog.port();
        both(
            |p| http_cfg(p, sp, &lines),
            |who, port| {
                std::thread::sleep(Duration::from_millis(600));
                let want = if up { 200 } else { 503 };
                assert_eq!(get_host(port, "localhost").0, want, "{who}");
                if !up {
                    let l = syslog.wait("check failed", |l| {
                        l.contains("Health check for server b/a failed")
                    });
                    let reason = l
                        .split("reason: ")
                        .nth(1)
                        .and_then(|r| r.split(", check duration").next())
                        .unwrap_or("")
                        .to_owned();
                    reasons.push((who.to_owned(), reason));
                    syslog.seen.clear();
                } else {
                    // Checks connected with the check SNI.
                    assert!(be.all().iter().any(|s| s.requests.is_empty() && s.sni.as_deref() == Some("localhost")), "{who}");
                }
            },
        );
        eprintln!("check reasons: {reasons:?}");
        if !up {
            assert!(
                reasons[0].1.starts_with("Layer6 invalid response"),
                "{reasons:?}"
            );
            // HAProxy adds the socket's errno when the server's close raced
            // its alert ("... failure (Transport endpoint is not connected)"),
            // a timing of the run: compared without it.
            let bare = |r: &str| r.replace(" (Transport endpoint is not connected)", "");
            if let [(_, a), (_, b)] = &reasons[..] {
                assert_eq!(bare(a), bare(b));
            }
        }
    }
}

#[test]
fn protocol_options_negotiate_what_was_asked_as_with_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(&certs.ec, Opts::default());
    let syslog = Syslog::new();
    let dir = certs.dir().display().to_string();
    for (global, opts, version, cipher) in [
        (
            "",
            "ssl-max-ver TLSv1.2 ciphers ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLSv1_2",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ),
        (
            "",
            "force-tlsv12 ciphers ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLSv1_2",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
        (
            "",
            "no-tlsv12 ciphersuites TLS_CHACHA20_POLY1305_SHA256",
            "TLSv1_3",
            "TLS13_CHACHA20_POLY1305_SHA256",
        ),
        (
            "    ssl-default-server-options ssl-max-ver TLSv1.2\n    \
             ssl-default-server-ciphers ECDHE-ECDSA-AES128-GCM-SHA256\n",
            "",
            "TLSv1_2",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ),
        // `ca-base`: a relative `ca-file` is under it, as HAProxy reads it.
        (
            &format!("    ca-base {dir}\n    crt-base {dir}\n"),
            "verify required ca-file ca.crt crt rsa.pem sni str(localhost) force-tlsv13 \
             ciphersuites TLS_AES_128_GCM_SHA256",
            "TLSv1_3",
            "TLS13_AES_128_GCM_SHA256",
        ),
    ] {
        let lines = format!(
            "    server a 127.0.0.1:{} ssl verify none {opts}\n",
            be.port
        );
        both(
            |p| {
                http_cfg(p, syslog.port(), &lines).replacen(
                    "global\n",
                    &format!("global\n{global}"),
                    1,
                )
            },
            |who, port| {
                be.clear();
                assert_eq!(get_host(port, "localhost").0, 200, "{who}: {global}{opts}");
                let used = be.used();
                assert_eq!(
                    (used[0].version.as_str(), used[0].cipher.as_str()),
                    (version, cipher),
                    "{who}: {global}{opts}"
                );
            },
        );
    }
}

#[test]
fn check_status_over_tls_reads_as_haproxys() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let Some(other) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(&certs.ec, Opts::default());
    let dir = TestDir::new("tls-check-status");
    let (ca, wrong) = (certs.ca.display(), other.ca.display());
    for (extra, opts, want) in [
        (
            "",
            format!("verify required ca-file {ca} check-sni localhost"),
            "L6OK",
        ),
        (
            "    option httpchk GET /chk\n",
            format!("verify required ca-file {ca} check-sni localhost"),
            "L7OK",
        ),
        ("", format!("verify required ca-file {wrong}"), "L6RSP"),
        // `check-ssl` alone: the traffic stays plain, the checks are TLS.
        ("", "verify none".to_owned(), "L6OK"),
    ] {
        let ssl = if opts == "verify none" {
            "check-ssl"
        } else {
            "ssl"
        };
        let mut seen = Vec::new();
        both(
            |p| {
                let sock = dir.path().join(format!("s{p}.sock"));
                let lines = format!(
                    "{extra}    server a 127.0.0.1:{} check inter 100 rise 1 fall 1 {ssl} {opts}\n",
                    be.port
                );
                http_cfg(p, 9, &lines).replacen(
                    "global\n",
                    &format!("global\n    stats socket {} level admin\n", sock.display()),
                    1,
                )
            },
            |who, port| {
                let sock = dir.path().join(format!("s{port}.sock"));
                let mut status = String::new();
                for _ in 0..40 {
                    std::thread::sleep(Duration::from_millis(50));
                    let rows = parse_stats_csv(&stats_command(&sock, "show stat"));
                    status = stats_row(&rows, "b", "a")["check_status"]
                        .trim_start_matches("* ")
                        .to_owned();
                    if status == want {
                        break;
                    }
                }
                assert_eq!(status, want, "{who}: {ssl} {opts}");
                seen.push(status);
            },
        );
        seen.dedup();
        assert_eq!(seen.len(), 1, "{seen:?}");
    }
}

#[test]
fn a_silent_server_times_the_handshake_out_within_timeout_connect() {
    // Accepts and never answers the ClientHello.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port_be = l.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let h2 = held.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            h2.lock().unwrap().push(s);
        }
    });
    let mut syslog = Syslog::new();
    let sp = syslog.port();
    let lines =
        format!("    timeout connect 300ms\n    server a 127.0.0.1:{port_be} ssl verify none\n");
    let mut states = Vec::new();
    both(
        |p| http_cfg(p, sp, &lines),
        |who, port| {
            let t = std::time::Instant::now();
            assert_eq!(get_host(port, "localhost").0, 503, "{who}");
            // retries 1: two attempts of 300 ms each.
            assert!(
                t.elapsed() < Duration::from_secs(3),
                "{who}: {:?}",
                t.elapsed()
            );
            let line = syslog.wait("the 503", |l| l.contains("\"GET /p"));
            syslog.seen.clear();
            states.push(line.contains(" sC-- "));
            assert!(line.contains(" 503 "), "{who}: {line}");
        },
    );
    assert!(states.iter().all(|s| *s), "{states:?}");
}

#[test]
fn maxsslconn_counts_server_connections_as_haproxy_does() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = TlsBackend::start(&certs.ec, Opts::default());
    let syslog = Syslog::new();
    let lines = format!("    server a 127.0.0.1:{} ssl verify none\n", be.port);
    both(
        |p| {
            http_cfg(p, syslog.port(), &lines)
                .replace("    nbthread 1\n", "    nbthread 1\n    maxsslconn 1\n")
        },
        |who, port| {
            // The first client's server connection takes the one slot and
            // keeps it while that client keeps its connection.
            let mut a = HttpClient::connect(port);
            let r = a.request(b"GET /a1 HTTP/1.1\r\nhost: t\r\n\r\n");
            assert_eq!(r.status, 200, "{who}");
            // A second client needs a server connection of its own: none left.
            // HAProxy fails it as an internal error (500, `IC`, not retried);
            // ringlb on purpose as a connection failure (retried, then 503
            // `SC`): the limit is the servers' side being unavailable, and a
            // retry may find a slot freed.
            let mut b = HttpClient::connect(port);
            let r = b.request(b"GET /b HTTP/1.1\r\nhost: t\r\n\r\n");
            let refused = if who == "haproxy" { 500 } else { 503 };
            assert_eq!(r.status, refused, "{who}");
            // The first client's connection still carries its requests.
            let r = a.request(b"GET /a2 HTTP/1.1\r\nhost: t\r\n\r\n");
            assert_eq!(r.status, 200, "{who}");
        },
    );
}
