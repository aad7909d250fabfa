//! The TLS fetches (`ssl_fc*`, `ssl_c_*`), the `%sslv`/`%sslc`/`%ft`
//! log-format variables, the httplog/httpslog/tcplog lines of TLS
//! connections, the PROXY v2 SSL TLV and `maxsslconn`, through the binary
//! and next to HAProxy 2.6 on the same configuration and clients (curl:
//! TLS 1.2 and 1.3, with and without SNI, with a client certificate).
//!
//! Cipher suites are pinned on the client so both proxies settle the same
//! one (their preference orders differ, which HAProxy documents as a
//! setting, not a behaviour).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Every fetch and variable a backend sees, in one header.
const FIELDS: &str = "fc=%[ssl_fc] sni=%[ssl_fc_sni] hsni=%[ssl_fc_has_sni] \
    proto=%[ssl_fc_protocol] ciph=%[ssl_fc_cipher] alpn=%[ssl_fc_alpn] \
    alg=%[ssl_fc_alg_keysize] use=%[ssl_fc_use_keysize] res=%[ssl_fc_is_resumed] \
    crt=%[ssl_fc_has_crt] used=%[ssl_c_used] ver=%[ssl_c_verify] \
    sdn=%[ssl_c_s_dn] idn=%[ssl_c_i_dn] cn=%[ssl_c_s_dn(CN)] ser=%[ssl_c_serial,hex] \
    v=%sslv c=%sslc ft=%ft";

/// A frontend with a TLS bind (client certificates optional) and a plain
/// one, setting [`FIELDS`] on each request, redirecting plain HTTP to
/// https for `/r`, and routing by SNI.
fn cfg(ports: [u16; 2], certs: &TlsCerts, be: [u16; 2], syslog: u16, log: &str) -> String {
    format!(
        "global\n    log 127.0.0.1:{syslog} local0\n\
         defaults\n    mode http\n    log global\n    timeout connect 2s\n    \
         timeout client 3s\n    timeout server 3s\n\
         frontend fe\n    bind 127.0.0.1:{} ssl crt {} verify optional ca-file {}\n    \
         bind 127.0.0.1:{}\n    {log}\n    \
         redirect scheme https code 301 if !{{ ssl_fc }} {{ path /r }}\n    \
         http-request set-header X-Tls \"{FIELDS}\"\n    \
         http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n    \
         http-request set-var(txn.proto) ssl_fc_protocol\n    \
         http-request set-header X-Var %[var(txn.proto)]\n    \
         use_backend other if {{ ssl_fc_sni -i test.example }}\n    \
         default_backend main\n\
         backend main\n    server a 127.0.0.1:{}\n\
         backend other\n    server b 127.0.0.1:{}\n",
        ports[0],
        certs.rsa.display(),
        certs.ca.display(),
        ports[1],
        be[0],
        be[1],
    )
}

/// curl to `https://<host>:<port>/` (`host` resolved to 127.0.0.1, which
/// sends it as SNI unless it is an address) with `extra` arguments.
fn curl(certs: &TlsCerts, host: &str, port: u16, extra: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--http1.1", "--max-time", "5", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{redirect_url}", "--cacert"])
        .arg(&certs.ca)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .args(extra)
        .arg(format!("https://{host}:{port}/"))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the two recorders saw for one client, and which one saw it.
fn seen(rec: &[&Recorder; 2]) -> (usize, Option<String>, Option<String>, Option<String>) {
    for (i, r) in rec.iter().enumerate() {
        if let Some(f) = r.requests().pop() {
            return (
                i,
                f.header("x-tls").map(str::to_owned),
                f.header("x-forwarded-proto").map(str::to_owned),
                f.header("x-var").map(str::to_owned),
            );
        }
    }
    panic!("no backend got the request");
}

/// The clients: TLS 1.3 and 1.2 with SNI, without SNI, routed by SNI, with
/// a client certificate.
fn clients(certs: &TlsCerts) -> Vec<(&'static str, String, Vec<String>)> {
    let cert = certs.ec.display().to_string();
    let tls12 = [
        "--tls-max",
        "1.2",
        "--ciphers",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ];
    let tls13 = ["--tls13-ciphers", "TLS_AES_256_GCM_SHA384"];
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut with_cert = v(&tls13);
    with_cert.extend(["--cert".into(), cert.clone(), "--key".into(), cert]);
    vec![
        ("tls13-sni", "localhost".into(), v(&tls13)),
        ("tls12-sni", "localhost".into(), v(&tls12)),
        (
            "tls13-nosni",
            "127.0.0.1".into(),
            [v(&tls13), v(&["-k"])].concat(),
        ),
        ("tls12-routed", "test.example".into(), v(&tls12)),
        ("client-cert", "localhost".into(), with_cert),
    ]
}

/// Runs every client on one proxy: (name, what the backend saw).
type Views = Vec<(
    &'static str,
    (usize, Option<String>, Option<String>, Option<String>),
)>;

fn run_clients(certs: &TlsCerts, ports: [u16; 2], rec: &[&Recorder; 2]) -> Views {
    let mut out = Vec::new();
    for (name, host, extra) in clients(certs) {
        rec.iter().for_each(|r| r.clear());
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let code = curl(certs, &host, ports[0], &extra);
        assert!(code.starts_with("200"), "{name}: {code}");
        out.push((name, seen(rec)));
    }
    // Plain HTTP on the second bind: no TLS values, and the redirect.
    rec.iter().for_each(|r| r.clear());
    let mut c = HttpClient::connect(ports[1]);
    let r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    out.push(("plain", seen(rec)));
    let r = c.request(b"GET /r HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://x/r"));
    out
}

#[test]
fn fetch_values_match_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let (a, b) = (Recorder::start(), Recorder::start());
    let rec = [&a, &b];
    let syslog = Syslog::new();
    let mut views = Vec::new();
    for round in 0..2 {
        let ports = [free_port(), free_port()];
        let text = cfg(ports, &certs, [a.port(), b.port()], syslog.port(), "");
        let lb = Ringlb::start(&text);
        let got = run_clients(&certs, ports, &rec);
        drop(lb);
        if round == 0 {
            // What ringlb must say, spelled out once.
            let v = |n: &str| got.iter().find(|(k, _)| *k == n).unwrap().1.clone();
            let t13 = v("tls13-sni").1.unwrap();
            assert!(
                t13.starts_with(
                    "fc=1 sni=localhost hsni=1 proto=TLSv1.3 ciph=TLS_AES_256_GCM_SHA384 \
                     alpn= alg=256 use=256 res=0 crt=0 used=0 ver=0 sdn= idn= cn= ser= \
                     v=TLSv1.3 c=TLS_AES_256_GCM_SHA384 ft=fe~"
                ),
                "{t13}"
            );
            assert_eq!(v("tls13-sni").2.as_deref(), Some("https"));
            assert_eq!(v("tls13-sni").3.as_deref(), Some("TLSv1.3"));
            assert_eq!(v("tls12-routed").0, 1, "routed by SNI");
            assert!(
                v("client-cert")
                    .1
                    .unwrap()
                    .contains("used=1 ver=0 sdn=/O=ringlb/CN=localhost")
            );
            assert!(
                v("plain")
                    .1
                    .unwrap()
                    .starts_with("fc=0 sni= hsni=0 proto= ")
            );
            assert_eq!(v("plain").2, None);
        }
        views.push(got);
    }
    assert_eq!(views[0], views[1], "ringlb, twice");
    let ports = [free_port(), free_port()];
    let text = cfg(ports, &certs, [a.port(), b.port()], syslog.port(), "");
    let Some(_h) = Haproxy::start(&text, ports[0]) else {
        return;
    };
    let theirs = run_clients(&certs, ports, &rec);
    for (mine, theirs) in views[0].iter().zip(&theirs) {
        assert_eq!(mine, theirs, "ringlb, then HAProxy");
    }
}

/// A log line with what changes from run to run blanked: the syslog
/// header, the client port, the date, the timers and the counters.
fn mask(line: &str) -> String {
    let body = line.split_once("]: ").map_or(line, |(_, b)| b).trim_end();
    let mut out = Vec::new();
    for (i, w) in body.split(' ').enumerate() {
        let w = match i {
            0 => w.split(':').next().unwrap_or(w).to_string(),
            1 => "[date]".into(),
            // `%B` of an httplog line: the recorder's answer reaches the
            // client through each proxy's own response headers.
            6 if body.contains(" \"") => "B".into(),
            // Timers and counters; not httpslog's error fields.
            _ if w.contains('/')
                && !w.contains("0000000000000000")
                && w.split('/').all(|p| p.parse::<i64>().is_ok()) =>
            {
                "n/n".into()
            }
            _ => w.to_string(),
        };
        out.push(w);
    }
    out.join(" ")
}

/// The httplog, httpslog and tcplog lines of TLS and plain connections.
fn log_lines(
    start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>,
    certs: &TlsCerts,
    be: u16,
) -> Vec<String> {
    let mut syslog = Syslog::new();
    let mut lines = Vec::new();
    for log in ["option httplog", "option httpslog"] {
        let ports = [free_port(), free_port()];
        let text = cfg(ports, certs, [be, be], syslog.port(), log);
        let _p = start(&text, ports[0]);
        let code = curl(
            certs,
            "localhost",
            ports[0],
            &["--tls13-ciphers", "TLS_AES_128_GCM_SHA256"],
        );
        assert!(code.starts_with("200"), "{code}");
        lines.push(mask(&syslog.wait("tls", |l| l.contains("fe~"))));
        let mut c = HttpClient::connect(ports[1]);
        assert_eq!(c.request(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
        drop(c);
        lines.push(mask(&syslog.wait("plain", |l| l.contains("GET /p"))));
        syslog.seen.clear();
    }
    let port = free_port();
    let text = format!(
        "global\n    log 127.0.0.1:{} local0\n\
         defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 2s\n    \
         timeout client 3s\n    timeout server 3s\n\
         listen t\n    bind 127.0.0.1:{port} ssl crt {}\n    server e 127.0.0.1:{be}\n",
        syslog.port(),
        certs.ec.display()
    );
    let _p = start(&text, port);
    let code = curl(certs, "localhost", port, &[]);
    assert!(code.starts_with("200"), "{code}");
    lines.push(mask(&syslog.wait("tcp", |l| l.contains("t~"))));
    lines
}

/// Keeps a proxy running while the caller holds it.
struct Guard<T>(#[allow(dead_code)] T);

#[test]
fn log_lines_match_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let rec = Recorder::start();
    let ours = log_lines(
        &|t, _| Box::new(Guard(Ringlb::start(t))),
        &certs,
        rec.port(),
    );
    assert!(ours[0].contains(" fe~ main/a "), "{}", ours[0]);
    assert!(
        ours[2].ends_with(" 0/0000000000000000/0/0/0 localhost/TLSv1.3/TLS_AES_128_GCM_SHA256"),
        "{}",
        ours[2]
    );
    assert!(ours[3].ends_with(" 0/-/-/-/0 -/-/-"), "{}", ours[3]);
    assert!(ours[4].contains(" t~ t/e "), "{}", ours[4]);
    let again = log_lines(
        &|t, _| Box::new(Guard(Ringlb::start(t))),
        &certs,
        rec.port(),
    );
    assert_eq!(ours, again, "ringlb, twice");
    if haproxy_binary().is_none() {
        return;
    }
    let theirs = log_lines(
        &|t, p| Box::new(Guard(Haproxy::start(t, p).expect("haproxy"))),
        &certs,
        rec.port(),
    );
    assert_eq!(ours, theirs, "ringlb, then HAProxy");
}

/// The bytes a server gets first: the PROXY v2 header, with the ports blanked.
fn proxy_header(
    start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>,
    certs: &TlsCerts,
    opts: &str,
    cert: bool,
) -> Vec<u8> {
    let be = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free_port();
    let text = format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 3s\n    \
         timeout server 3s\n\
         listen t\n    bind 127.0.0.1:{port} ssl crt {} verify optional ca-file {}\n    \
         server e 127.0.0.1:{} {opts}\n",
        certs.rsa.display(),
        certs.ca.display(),
        be.local_addr().unwrap().port()
    );
    let _p = start(&text, port);
    let ec = certs.ec.display().to_string();
    let mut args = vec![
        "--tls-max",
        "1.2",
        "--ciphers",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ];
    if cert {
        args.extend(["--cert", &ec, "--key", &ec]);
    }
    let host = "localhost";
    let ca = certs.ca.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let client = std::thread::spawn(move || {
        let _ = Command::new("curl")
            .args(["-sS", "--max-time", "3", "-o", "/dev/null", "--cacert"])
            .arg(&ca)
            .arg("--resolve")
            .arg(format!("{host}:{port}:127.0.0.1"))
            .args(&args)
            .arg(format!("https://{host}:{port}/"))
            .output();
    });
    let (mut s, _) = be.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) if got.len() >= 16 => break,
            Err(_) => {}
        }
    }
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    drop(s);
    let _ = client.join();
    assert!(got.len() >= 16, "no header: {got:?}");
    let len = 16 + u16::from_be_bytes([got[14], got[15]]) as usize;
    let mut h = got[..len].to_vec();
    // The client's port and the frontend's (IPv4: bytes 24..28).
    h[24..28].fill(0);
    h
}

#[test]
fn proxy_v2_ssl_tlv_matches_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let cases = [
        ("send-proxy-v2-ssl", false),
        ("send-proxy-v2-ssl-cn", true),
        (
            "send-proxy-v2 proxy-v2-options ssl,cert-cn,ssl-cipher,authority",
            true,
        ),
        ("send-proxy-v2 proxy-v2-options ssl,ssl-cipher", false),
    ];
    let ringlb = |t: &str, _| -> Box<dyn std::any::Any> { Box::new(Guard(Ringlb::start(t))) };
    let ours: Vec<Vec<u8>> = cases
        .iter()
        .map(|(o, c)| proxy_header(&ringlb, &certs, o, *c))
        .collect();
    // The SSL TLV of the CN case: client SSL|CERT_CONN|CERT_SESS, verify 0,
    // VERSION, CN.
    let cn = &ours[1];
    let tlv = &cn[28..];
    assert_eq!(tlv[0], 0x20);
    assert_eq!(&tlv[3..8], &[0x07, 0, 0, 0, 0]);
    assert_eq!(&tlv[8..11], &[0x21, 0, 7]);
    assert_eq!(&tlv[11..18], b"TLSv1.2");
    assert_eq!(&tlv[18..21], &[0x22, 0, 9]);
    assert_eq!(&tlv[21..30], b"localhost");
    for (i, (o, c)) in cases.iter().enumerate() {
        assert_eq!(
            ours[i],
            proxy_header(&ringlb, &certs, o, *c),
            "ringlb twice: {o}"
        );
    }
    if haproxy_binary().is_none() {
        return;
    }
    let haproxy = |t: &str, p| -> Box<dyn std::any::Any> {
        Box::new(Guard(Haproxy::start(t, p).expect("haproxy")))
    };
    for (i, (o, c)) in cases.iter().enumerate() {
        let theirs = proxy_header(&haproxy, &certs, o, *c);
        assert_eq!(ours[i], theirs, "{o}: ringlb, then HAProxy");
    }
}

/// Whether a TLS handshake with `port` completes within `wait`.
fn handshakes(certs: &TlsCerts, port: u16, wait: Duration) -> Option<TlsConn> {
    let cfg = certs.client_config();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(tls_connect(port, &cfg).ok());
    });
    rx.recv_timeout(wait).ok().flatten()
}

#[test]
fn maxsslconn_holds_new_tls_connections_until_a_slot_frees() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let rec = Recorder::start();
    let (tls, plain) = (free_port(), free_port());
    let lb = Ringlb::start(&format!(
        "global\n    maxsslconn 1\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
         timeout server 3s\n\
         frontend fe\n    bind 127.0.0.1:{tls} ssl crt {}\n    bind 127.0.0.1:{plain}\n    \
         default_backend b\n\
         backend b\n    server a 127.0.0.1:{}\n",
        certs.ec.display(),
        rec.port()
    ));
    let first = handshakes(&certs, tls, Duration::from_secs(3)).expect("first handshake");
    // The limit is reached: the next one waits without a handshake...
    let cfg = certs.client_config();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(tls_connect(tls, &cfg).is_ok());
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(800)).is_err(),
        "second handshake ran"
    );
    // ...plain connections are not limited...
    let mut c = HttpClient::connect(plain);
    assert_eq!(c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    // ...and it goes on once the first closes.
    drop(first);
    assert_eq!(rx.recv_timeout(Duration::from_secs(3)), Ok(true));
    drop(lb);
}

/// `mode tcp`: which backend each SNI reaches through `use_backend` and
/// `tcp-request content` rules on the TLS fetches.
fn tcp_routes(
    start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>,
    certs: &TlsCerts,
) -> Vec<(String, usize)> {
    let (a, b) = (Recorder::start(), Recorder::start());
    let port = free_port();
    let text = format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 3s\n    \
         timeout server 3s\n\
         frontend t\n    bind 127.0.0.1:{port} ssl crt {}\n    \
         tcp-request content reject if {{ ssl_fc_sni -i blocked.example }}\n    \
         tcp-request content set-var(sess.p) ssl_fc_protocol\n    \
         use_backend other if {{ ssl_fc_sni -i test.example }} {{ var(sess.p) -m str TLSv1.3 }}\n    \
         default_backend main\n\
         backend main\n    server a 127.0.0.1:{}\n\
         backend other\n    server b 127.0.0.1:{}\n",
        certs.rsa.display(),
        a.port(),
        b.port()
    );
    let _p = start(&text, port);
    let mut out = Vec::new();
    for (host, extra) in [
        ("localhost", &[][..]),
        ("test.example", &[][..]),
        ("test.example", &["--tls-max", "1.2"][..]),
        ("blocked.example", &["-k"][..]),
    ] {
        a.clear();
        b.clear();
        let _ = curl(certs, host, port, extra);
        let which = match (a.requests().len(), b.requests().len()) {
            (0, 0) => 0,
            (_, 0) => 1,
            _ => 2,
        };
        out.push((format!("{host} {extra:?}"), which));
    }
    out
}

#[test]
fn tcp_mode_rules_on_tls_fetches_match_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let ringlb = |t: &str, _| -> Box<dyn std::any::Any> { Box::new(Guard(Ringlb::start(t))) };
    let ours = tcp_routes(&ringlb, &certs);
    let want: Vec<usize> = ours.iter().map(|(_, w)| *w).collect();
    assert_eq!(want, [1, 2, 1, 0], "{ours:?}");
    assert_eq!(ours, tcp_routes(&ringlb, &certs), "ringlb, twice");
    if haproxy_binary().is_none() {
        return;
    }
    let haproxy = |t: &str, p| -> Box<dyn std::any::Any> {
        Box::new(Guard(Haproxy::start(t, p).expect("haproxy")))
    };
    assert_eq!(ours, tcp_routes(&haproxy, &certs), "ringlb, then HAProxy");
}

/// `tcp-request connection` rules run before the handshake; `ssl_fc` is
/// already true there on an `ssl` bind (HAProxy attaches the TLS transport at
/// accept) and false on a plain one. Status of a request through each bind.
fn connection_rule_statuses(
    start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>,
    certs: &TlsCerts,
) -> Vec<String> {
    let be = Recorder::start();
    let (tls, plain) = (free_port(), free_port());
    let text = format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 3s\n    \
         timeout server 3s\n\
         frontend tls\n    bind 127.0.0.1:{tls} ssl crt {}\n    \
         tcp-request connection reject if !{{ ssl_fc }}\n    default_backend b\n\
         frontend plain\n    bind 127.0.0.1:{plain}\n    \
         tcp-request connection reject if {{ ssl_fc }}\n    default_backend b\n\
         backend b\n    server a 127.0.0.1:{}\n",
        certs.rsa.display(),
        be.port()
    );
    let _p = start(&text, tls);
    let mut out = vec![curl(certs, "localhost", tls, &[]).trim().to_string()];
    let mut c = HttpClient::connect(plain);
    out.push(
        c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .status
            .to_string(),
    );
    out
}

#[test]
fn ssl_fc_is_true_in_connection_rules_of_an_ssl_bind_as_in_haproxy() {
    let Some(certs) = TlsCerts::generate() else {
        return;
    };
    let ringlb = |t: &str, _| -> Box<dyn std::any::Any> { Box::new(Guard(Ringlb::start(t))) };
    let ours = connection_rule_statuses(&ringlb, &certs);
    assert_eq!(ours, ["200", "200"]);
    if haproxy_binary().is_none() {
        return;
    }
    let haproxy = |t: &str, p| -> Box<dyn std::any::Any> {
        Box::new(Guard(Haproxy::start(t, p).expect("haproxy")))
    };
    assert_eq!(
        ours,
        connection_rule_statuses(&haproxy, &certs),
        "ringlb, then HAProxy"
    );
}
