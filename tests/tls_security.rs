//! TLS security of `bind ... ssl crt <pem>` with no TLS option (the
//! defaults), checked cheaply: what testssl.sh reports (docs/tls-security.md)
//! asserted with `openssl s_client` and hand-made ClientHellos, compared with
//! HAProxy 2.6 on the same configuration and PEM; garbage and malformed
//! ClientHellos cost a log line, never a worker; headless Chromium fetches a
//! page over TLS.
//!
//! Certificates are made at run time (`TlsCerts`); without `openssl` every
//! test says so and skips.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// The minimal configuration the scan used: one bind, the PEM, no TLS option.
fn cfg(port: u16, pem: &Path, be: u16, syslog: u16) -> String {
    format!(
        "global\n    log 127.0.0.1:{syslog} local0\n    nbthread 2\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    \
         timeout client 3s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port} ssl crt {pem}\n    default_backend b\n\
         backend b\n    server a 127.0.0.1:{be}\n",
        pem = pem.display()
    )
}

/// Runs `check` against ringlb, then HAProxy (when installed), on `cfg(port)`.
fn both(cfg: impl Fn(u16) -> String, mut check: impl FnMut(&str, u16)) {
    let lb = Ringlb::start(&cfg(free_port()));
    check("ringlb", lb.port());
    drop(lb);
    let port = free_port();
    if let Some(_h) = Haproxy::start(&cfg(port), port) {
        check("haproxy", port);
    }
}

/// A TLS extension: type and body.
fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A list with a 2-byte length prefix.
fn vec16(items: &[u8]) -> Vec<u8> {
    let mut v = (items.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(items);
    v
}

/// A hand-made ClientHello record: `version` in the hello (no
/// supported_versions: it is the highest the client offers), `suites`
/// offered, the extensions a TLS 1.2 ECDHE client sends, then `extra`.
fn client_hello(version: u16, suites: &[u16], extra: &[Vec<u8>]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // no session id
    let s: Vec<u8> = suites.iter().flat_map(|c| c.to_be_bytes()).collect();
    body.extend_from_slice(&vec16(&s));
    body.extend_from_slice(&[1, 0]); // compression: null only
    let mut sni = vec![0u8];
    sni.extend_from_slice(&vec16(b"localhost"));
    let mut exts = vec![
        ext(0, &vec16(&sni)),
        ext(10, &vec16(&[0, 0x1d, 0, 0x17, 0, 0x18])), // x25519, P-256, P-384
        ext(11, &[1, 0]),                              // ec_point_formats
        // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256, rsa_pkcs1_sha1
        ext(13, &vec16(&[4, 3, 8, 4, 4, 1, 2, 1])),
        ext(0xff01, &[0]), // renegotiation_info (empty: initial handshake)
    ];
    exts.extend_from_slice(extra);
    body.extend_from_slice(&vec16(&exts.concat()));
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Sends `hello` and reads the first record back: `Some(suite)` when the
/// server answered with a ServerHello (the suite it chose), `None` when it
/// refused (alert or close).
fn server_hello(port: u16, hello: &[u8]) -> Option<u16> {
    let mut s = connect(port);
    s.write_all(hello).unwrap();
    let mut head = [0u8; 5];
    s.read_exact(&mut head).ok()?;
    let len = u16::from_be_bytes([head[3], head[4]]) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    // Handshake record, ServerHello: type(1) len(3) version(2) random(32) sid.
    if head[0] != 0x16 || body.first() != Some(&2) {
        return None;
    }
    let sid = body[38] as usize;
    Some(u16::from_be_bytes([body[39 + sid], body[40 + sid]]))
}

/// Cipher-suite families that must never be negotiated, by IANA code (most
/// of them are gone from OpenSSL 3, so `s_client -cipher` cannot offer them).
const WEAK_FAMILIES: &[(&str, &[u16])] = &[
    // ECDHE-*-AES*-SHA, AES*-SHA, *-SHA256/SHA384 CBC
    (
        "CBC",
        &[
            0xc009, 0xc00a, 0xc013, 0xc014, 0xc023, 0xc024, 0xc027, 0xc028, 0x002f, 0x0035, 0x003c,
            0x003d, 0x0033, 0x0039, 0x0067, 0x006b,
        ],
    ),
    ("RC4", &[0xc007, 0xc011, 0x0005, 0x0004, 0x0018]),
    ("3DES", &[0xc008, 0xc012, 0x000a, 0x0016, 0x0013]),
    ("NULL", &[0xc006, 0xc010, 0x0001, 0x0002, 0x003b, 0x0000]),
    ("EXPORT", &[0x0003, 0x0006, 0x0008, 0x0011, 0x0014, 0x0017]),
    ("aNULL", &[0xc018, 0xc019, 0x0034, 0x003a, 0x006c, 0x00a6]),
    // AES-GCM without ECDHE: no forward secrecy.
    ("static RSA GCM", &[0x009c, 0x009d]),
];

#[test]
fn defaults_refuse_old_protocols_and_weak_suites_compared_with_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = HttpBackend::start("a");
    for pem in [&certs.ec, &certs.rsa] {
        both(
            |p| cfg(p, pem, be.port(), 9),
            |who, port| {
                let good = [0xc02b, 0xc02f, 0xcca9, 0xcca8];
                // SSLv3, TLS 1.0, TLS 1.1 as the highest version: refused by both.
                for (name, v) in [("SSLv3", 0x0300), ("TLS1.0", 0x0301), ("TLS1.1", 0x0302)] {
                    let r = server_hello(port, &client_hello(v, &good, &[]));
                    assert_eq!(r, None, "{who} {pem:?}: {name} was accepted");
                }
                // The same hello as TLS 1.2 is served (the probe is sound).
                assert!(
                    server_hello(port, &client_hello(0x0303, &good, &[])).is_some(),
                    "{who}: TLS 1.2 with ECDHE-GCM refused"
                );
                for (family, suites) in WEAK_FAMILIES {
                    let r = server_hello(port, &client_hello(0x0303, suites, &[]));
                    // HAProxy 2.6 without `ciphers` takes OpenSSL's DEFAULT,
                    // which still holds CBC suites (SHA1 and SHA256/384 HMAC)
                    // and static-RSA GCM; ringlb has none (rustls lacks them).
                    // (static RSA needs an RSA certificate.)
                    let haproxy_differs =
                        *family == "CBC" || (*family == "static RSA GCM" && pem == &certs.rsa);
                    if who == "haproxy" && haproxy_differs {
                        assert!(r.is_some(), "haproxy now refuses {family}: update the note");
                    } else {
                        assert_eq!(r, None, "{who} {pem:?}: {family} suite {r:x?} chosen");
                    }
                }
            },
        );
    }
}

/// `openssl s_client` to `port` with `args`, `input` on stdin (then EOF
/// after a pause, so a renegotiation has time to happen): its stdout+stderr.
fn s_client_all(certs: &TlsCerts, port: u16, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-CAfile"])
        .arg(&certs.ca)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = stdin.write_all(input);
    std::thread::sleep(Duration::from_millis(700));
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn s_client_sees_tls12_and_13_secure_renegotiation_ems_no_compression() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let be = HttpBackend::start("a");
    for pem in [&certs.ec, &certs.rsa] {
        both(
            |p| cfg(p, pem, be.port(), 9),
            |who, port| {
                let o = s_client_all(&certs, port, &["-tls1_3"], b"");
                assert!(o.contains("New, TLSv1.3, Cipher is TLS_AES"), "{who}: {o}");
                assert!(o.contains("Verify return code: 0 (ok)"), "{who}: {o}");
                let o = s_client_all(&certs, port, &["-tls1_2"], b"");
                assert!(o.contains("New, TLSv1.2, Cipher is ECDHE-"), "{who}: {o}");
                assert!(o.contains("-GCM-") || o.contains("CHACHA20"), "{who}: {o}");
                assert!(
                    o.contains("Secure Renegotiation IS supported"),
                    "{who}: {o}"
                );
                assert!(o.contains("Extended master secret: yes"), "{who}: {o}");
                assert!(o.contains("Compression: NONE"), "{who}: {o}");
                // s_client offers TLS 1.0/1.1 only at SECLEVEL 0: still refused.
                for v in ["-tls1", "-tls1_1"] {
                    let o = s_client_all(&certs, port, &[v, "-cipher", "DEFAULT@SECLEVEL=0"], b"");
                    assert!(!o.contains("Cipher is ECDHE"), "{who} {v}: {o}");
                    assert!(o.contains("Cipher is (NONE)"), "{who} {v}: {o}");
                }
                // CBC suites OpenSSL 3 can still offer: ringlb refuses them all,
                // HAProxy's default list (OpenSSL DEFAULT) takes them.
                let cbc = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:\
                           ECDHE-RSA-AES256-SHA384:AES128-SHA:AES256-SHA256";
                let o = s_client_all(&certs, port, &["-tls1_2", "-cipher", cbc], b"");
                if who == "ringlb" {
                    assert!(o.contains("Cipher is (NONE)"), "{who}: {o}");
                } else {
                    assert!(o.contains("New, TLSv1.2, Cipher is ECDHE-"), "{who}: {o}");
                }
            },
        );
    }
}

#[test]
fn renegotiation_is_refused_and_the_next_client_served() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    both(
        |p| cfg(p, &certs.rsa, be.port(), 9),
        |who, port| {
            // `R` asks s_client for a renegotiation (TLS 1.2); then a request.
            let o = s_client_all(
                &certs,
                port,
                &["-tls1_2"],
                b"R\nGET /after-reneg HTTP/1.1\r\nHost: t\r\n\r\n",
            );
            assert!(o.contains("RENEGOTIATING"), "{who}: {o}");
            // Refused: no second handshake (the chain is verified once), the
            // request is not served.
            assert_eq!(o.matches("depth=0").count(), 1, "{who}: {o}");
            assert!(!o.contains("request=GET /after-reneg"), "{who}: {o}");
            // Both answer at once with the no_renegotiation alert, which
            // OpenSSL's client reports and closes on (ringlb: the read side
            // sends what it made rustls queue, src/tls/stream.rs).
            assert!(o.contains("no renegotiation"), "{who}: {o}");
            let mut c = TlsClient::connect(port, &cfg_tls);
            assert_eq!(c.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
        },
    );
}

/// A deterministic generator (xorshift64*), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The ClientHello `openssl s_client` sends (TLS 1.3 capable, with key
/// shares), captured on a listener of the test's own.
fn captured_hello() -> Vec<u8> {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 5];
    s.read_exact(&mut head).unwrap();
    let mut hello = head.to_vec();
    let len = u16::from_be_bytes([head[3], head[4]]) as usize;
    hello.resize(5 + len, 0);
    s.read_exact(&mut hello[5..]).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(hello[5], 1, "a ClientHello");
    hello
}

/// A few hundred malformed inputs, deterministic.
fn malformed_inputs(hello: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(0x5eed_0f71_57aa);
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..100 {
        let n = 1 + rng.below(3000);
        v.push((format!("random {i}"), rng.bytes(n)));
    }
    for i in 0..80 {
        let n = 1 + rng.below(hello.len() - 1);
        v.push((format!("truncated {i} at {n}"), hello[..n].to_vec()));
    }
    for i in 0..120 {
        let mut h = hello.to_vec();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(h.len());
            h[at] ^= 1 << rng.below(8);
        }
        v.push((format!("bit-flipped {i}"), h));
    }
    let mut huge = vec![0x16, 0x03, 0x01, 0xff, 0xff];
    huge.extend_from_slice(&hello[5..]);
    v.push(("record length 65535".into(), huge));
    let mut big_hs = hello.to_vec();
    big_hs[6..9].copy_from_slice(&[0xff, 0xff, 0xff]); // handshake length 16 MB
    v.push(("handshake length 2^24-1".into(), big_hs));
    // SSLv2 CLIENT-HELLO (2-byte header, msg 1, version 3.1, 3-byte suites).
    let mut v2 = vec![
        0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
    ];
    v2.extend_from_slice(&[0x07, 0x00, 0xc0, 0x05, 0x00, 0x80, 0x03, 0x00, 0x80]);
    v2.extend_from_slice(&[0x01, 0x00, 0x80, 0x06, 0x00, 0x40, 0x04, 0x00, 0x80]);
    v2.extend_from_slice(&[0x02, 0x00, 0x80]);
    v2.extend_from_slice(&rng.bytes(16));
    v.push(("SSLv2 hello".into(), v2));
    v.push((
        "HTTP request".into(),
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
    ));
    v.push((
        "zero-length handshake record".into(),
        vec![0x16, 3, 1, 0, 0],
    ));
    v.push(("zero-length alert record".into(), vec![0x15, 3, 3, 0, 0]));
    v.push((
        "application data first".into(),
        vec![0x17, 3, 3, 0, 4, 1, 2, 3, 4],
    ));
    v.push(("alert first".into(), vec![0x15, 3, 3, 0, 2, 2, 40]));
    v.push(("CCS first".into(), vec![0x14, 3, 3, 0, 1, 1]));
    v.push(("unknown record type".into(), vec![0x42, 3, 3, 0, 1, 1]));
    let many: Vec<Vec<u8>> = (0..1000u16).map(|i| ext(0x1000 + i, &[])).collect();
    v.push((
        "1000 extensions".into(),
        client_hello(0x0303, &[0xc02b, 0xc02f], &many),
    ));
    let dup = vec![ext(0, &[0, 0]), ext(0, &[0, 0])];
    v.push((
        "duplicate extension".into(),
        client_hello(0x0303, &[0xc02b], &dup),
    ));
    v.push(("no suites".into(), client_hello(0x0303, &[], &[])));
    // A hello split over many records of one byte each.
    let mut split = Vec::new();
    for b in &hello[5..] {
        split.extend_from_slice(&[0x16, 3, 1, 0, 1, *b]);
    }
    split.truncate(split.len() - 6);
    v.push(("hello in 1-byte records, cut".into(), split));
    v
}

/// The syslog lines received while `f` runs (a thread reads the socket so
/// that none is dropped).
fn collecting<T>(syslog: Syslog, f: impl FnOnce() -> T) -> (T, Syslog) {
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(syslog));
    let reader = {
        let (stop, shared) = (stop.clone(), shared.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                shared.lock().unwrap().collect(Duration::from_millis(20));
            }
        })
    };
    let out = f();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let syslog = Arc::try_unwrap(shared).ok().unwrap().into_inner().unwrap();
    (out, syslog)
}

#[test]
fn malformed_hellos_and_garbage_cost_a_log_line_each_never_a_worker() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    let inputs = malformed_inputs(&captured_hello());
    assert!(inputs.len() > 300, "{}", inputs.len());
    let syslog = Syslog::new();
    let lb_cfg = cfg(free_port(), &certs.ec, be.port(), syslog.port());
    let mut lb = Ringlb::start(&lb_cfg);
    let (port, pid) = (lb.port(), lb.pid());
    // The start-up probe (a connect and close) has its own line: not counted.
    let mut syslog = syslog;
    syslog.collect(Duration::from_millis(300));
    syslog.seen.clear();
    let started = Instant::now();
    let (ports, mut syslog) = collecting(syslog, || {
        // Four senders at once, so both workers take some.
        let chunks: Vec<Vec<(String, Vec<u8>)>> = inputs
            .chunks(inputs.len() / 4 + 1)
            .map(<[_]>::to_vec)
            .collect();
        let threads: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                std::thread::spawn(move || {
                    let mut ports = Vec::new();
                    for (what, bytes) in chunk {
                        let mut s = connect(port);
                        ports.push((s.local_addr().unwrap().port(), what.clone()));
                        // The server may close before all is written: fine.
                        let _ = s.write_all(&bytes);
                        let _ = s.shutdown(Shutdown::Write);
                        let mut out = Vec::new();
                        let r = s.read_to_end(&mut out);
                        // Closed by the server (EOF or reset), never left open:
                        // a read timeout (IO_TIMEOUT) is a failure.
                        if let Err(e) = &r {
                            assert!(
                                e.kind() == std::io::ErrorKind::ConnectionReset,
                                "{what}: {e}"
                            );
                        }
                        // Nothing but TLS records came back (no HTTP).
                        assert!(!out.starts_with(b"HTTP/"), "{what}: {out:?}");
                    }
                    ports
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "{} inputs took {took:?}",
        ports.len()
    );
    // One log line per failed handshake, for each connection.
    let lines: Vec<&String> = syslog
        .seen
        .iter()
        .filter(|l| l.contains("] fe/1: "))
        .collect();
    let mut missing = Vec::new();
    for (p, what) in &ports {
        let me = format!("127.0.0.1:{p} [");
        let n = lines.iter().filter(|l| l.contains(&me)).count();
        if n != 1 {
            missing.push(format!("{what} (port {p}): {n} lines"));
        }
    }
    assert!(missing.is_empty(), "log lines: {missing:#?}");
    let stray: Vec<&&String> = lines
        .iter()
        .filter(|l| {
            !ports
                .iter()
                .any(|(p, _)| l.contains(&format!("127.0.0.1:{p} [")))
        })
        .collect();
    assert!(
        stray.is_empty(),
        "lines for no connection of ours: {stray:#?}"
    );
    let failures = lines
        .iter()
        .filter(|l| l.contains("SSL handshake failure"))
        .count();
    let closed = lines
        .iter()
        .filter(|l| l.contains("Connection closed during SSL handshake"))
        .count();
    eprintln!(
        "{} malformed inputs in {took:?}: {failures} 'SSL handshake failure', \
         {closed} 'Connection closed during SSL handshake'",
        ports.len()
    );
    assert_eq!(failures + closed, ports.len(), "{lines:#?}");
    assert_eq!(be.request_count(), 0, "a request reached the server");
    syslog.seen.clear();
    // Both workers still serve: a dozen clients, each on a new connection.
    for i in 0..12 {
        let mut c = TlsClient::connect(port, &cfg_tls);
        let r = c.request(format!("GET /after/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200);
    }
    assert!(lb.is_running(), "ringlb exited: {}", lb.stderr());
    assert_eq!(lb.pid(), pid);
    let err = lb.stderr();
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn alert_mid_session_and_data_after_close_notify_end_only_that_connection() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cfg_tls = certs.client_config();
    let be = HttpBackend::start("a");
    let mut lb = Ringlb::start(&cfg(free_port(), &certs.ec, be.port(), 9));
    let port = lb.port();
    let tls12 = Arc::new(
        rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS12])
            .with_root_certificates(cfg_tls_roots(&certs))
            .with_no_client_auth(),
    );
    for cfg in [&cfg_tls, &tls12] {
        // A plaintext fatal alert record in the middle of an encrypted session.
        let mut c = TlsClient::connect(port, cfg);
        assert_eq!(c.request(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
        c.conn
            .stream
            .sock
            .write_all(&[0x15, 3, 3, 0, 2, 2, 40])
            .unwrap();
        let _ = c.read_to_close();
        // close_notify, then more: a request (encrypted, if the client lets
        // us) and garbage. Nothing after close_notify is served.
        let mut c = TlsClient::connect(port, cfg);
        assert_eq!(c.request(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
        let before = be.request_count();
        c.conn.stream.conn.send_close_notify();
        let _ = c
            .conn
            .stream
            .conn
            .writer()
            .write_all(b"GET /after-close HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut out = Vec::new();
        while c.conn.stream.conn.wants_write() {
            c.conn.stream.conn.write_tls(&mut out).unwrap();
        }
        let _ = c.conn.stream.sock.write_all(&out);
        let _ = c.conn.stream.sock.write_all(&Rng(7).bytes(3000));
        let _ = c.read_to_close();
        assert_eq!(be.request_count(), before, "served after close_notify");
    }
    let mut c = TlsClient::connect(port, &cfg_tls);
    assert_eq!(c.request(b"GET /z HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    assert!(lb.is_running(), "ringlb exited: {}", lb.stderr());
    assert!(!lb.stderr().contains("panicked"), "{}", lb.stderr());
}

/// The test CA as a rustls root store.
fn cfg_tls_roots(certs: &TlsCerts) -> rustls::RootCertStore {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&certs.ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    roots
}

/// base64(sha256(SPKI)) of the leaf in `pem`, as Chromium's
/// `--ignore-certificate-errors-spki-list` wants it, computed with openssl.
fn spki_hash(pem: &Path) -> String {
    let sh = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | openssl base64 -A",
        pem.display()
    );
    let out = Command::new("sh").args(["-c", &sh]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn chromium_fetches_a_page_over_tls() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let Some(chromium) = chromium() else {
        eprintln!(
            "NOTE: chromium is not installed (apt-get install chromium): \
             the browser check over TLS is skipped"
        );
        return;
    };
    let be = HttpBackend::start("a");
    let dir = TestDir::new("tls-browser");
    for (i, pem) in [&certs.ec, &certs.rsa].into_iter().enumerate() {
        let lb = Ringlb::start(&cfg(free_port(), pem, be.port(), 9));
        let url = format!("https://test.example:{}/tls-browser/{i}", lb.port());
        let dom = chromium_run(
            &chromium,
            &dir.path().join(format!("profile-{i}")),
            &[
                "--dump-dom",
                &format!("--ignore-certificate-errors-spki-list={}", spki_hash(pem)),
                "--host-resolver-rules=MAP test.example 127.0.0.1",
            ],
            &url,
        );
        assert!(dom.contains("server=a"), "{pem:?}: {dom}");
        assert!(
            dom.contains(&format!("request=GET /tls-browser/{i} HTTP/1.1")),
            "{pem:?}: {dom}"
        );
        // Chromium's own headers reached the backend through the TLS bind.
        let last = be.last();
        assert!(
            last.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("user-agent") && v.contains("HeadlessChrome")),
            "{:?}",
            last.headers
        );
    }
}
