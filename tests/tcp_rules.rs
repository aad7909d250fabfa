//! HAProxy's layer-4 rules end to end (`tcp-request connection`,
//! `tcp-request content` with `inspect-delay`, `tcp-response content`), in
//! `mode tcp` and `mode http`, through the real binary against TCP and HTTP
//! backends the tests start. Each scenario runs on ringlb and on HAProxy 2.6
//! with the same configuration text and must give the same observations
//! (who got the connection, what the client read, the counters, the log's
//! termination state).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Haproxy, HttpBackend, Ringlb, TcpBackend, TestDir, free_port};
use ringlb::acl::payload::{client_hello_record, sni_extension};

/// Every read in these tests is bounded.
const IO: Duration = Duration::from_secs(5);

/// A syslog receiver for the proxies' log lines.
struct Syslog(UdpSocket);

impl Syslog {
    fn new() -> Syslog {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Syslog(s)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    /// Reads and drops what arrives for `d` (the readiness probe's line:
    /// both proxies are probed by a connect and close, which may log `CC`
    /// or `--` depending on timing).
    fn drain(&self, d: Duration) {
        let end = Instant::now() + d;
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            let _ = self.0.recv(&mut buf);
        }
    }

    /// The traffic lines (with a termination state) received within `wait`
    /// (stops early after a quiet 100 ms once `want` lines came); start and
    /// stop notices are left out.
    fn lines(&self, want: usize, wait: Duration) -> Vec<String> {
        let end = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            match self.0.recv(&mut buf) {
                Ok(n) => {
                    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if !term_state(&line).is_empty() {
                        out.push(line);
                    }
                }
                Err(_) if out.len() >= want => break,
                Err(_) => {}
            }
        }
        out
    }
}

/// Which proxy a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Which {
    Ringlb,
    Haproxy,
}

/// A proxy running a scenario's configuration, with its stats socket.
struct Proxy {
    _lb: Option<Ringlb>,
    _ha: Option<Haproxy>,
    sock: PathBuf,
    _dir: TestDir,
}

impl Proxy {
    /// Starts `which` on `body` (the proxy sections); `None` when HAProxy is
    /// not installed. The global section logs to `syslog` and opens a stats
    /// socket; defaults log with `option tcplog`/`httplog` per `mode`.
    fn start(which: Which, mode: &str, body: &str, port: u16, syslog: &Syslog) -> Option<Proxy> {
        let dir = TestDir::new("tcp-rules");
        let sock = dir.path().join("stats.sock");
        let cfg = format!(
            "global\n    log 127.0.0.1:{} local0\n    stats socket {} level admin\n\
             defaults\n    mode {mode}\n    log global\n    option {mode}log\n\
             \x20   timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n{body}",
            syslog.port(),
            sock.display()
        );
        let (lb, ha) = match which {
            Which::Ringlb => (Some(Ringlb::start(&cfg)), None),
            Which::Haproxy => (None, Some(Haproxy::start(&cfg, port)?)),
        };
        syslog.drain(Duration::from_millis(300));
        Some(Proxy {
            _lb: lb,
            _ha: ha,
            sock,
            _dir: dir,
        })
    }

    /// Column `col` of row `px`/`sv` of `show stat`.
    fn stat(&self, px: &str, sv: &str, col: &str) -> u64 {
        let text = common::stats_command(&self.sock, "show stat");
        let rows = common::parse_stats_csv(&text);
        common::stats_num(common::stats_row(&rows, px, sv), col)
    }
}

/// A TCP backend that says its name on accept, then echoes until EOF.
fn named(name: &'static str) -> TcpBackend {
    TcpBackend::start(move |mut s| {
        let _ = s.write_all(name.as_bytes());
        common::echo_until_eof(s);
    })
}

/// A TCP backend that says its name on accept, then reads until EOF.
fn greeter(name: &'static str) -> TcpBackend {
    TcpBackend::start(move |mut s| {
        let _ = s.write_all(name.as_bytes());
        let _ = s.set_read_timeout(Some(IO));
        let mut sink = [0u8; 4096];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    })
}

/// Connects to `port` from source address `src`.
fn connect_from(src: &str, port: u16) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let from: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&from.into())?;
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    sock.connect_timeout(&to.into(), IO)?;
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(IO))?;
    s.set_write_timeout(Some(IO))?;
    Ok(s)
}

/// Reads until `n` bytes, EOF or an error; what came, and whether the
/// connection ended (EOF or reset) rather than timing out.
fn read_up_to(s: &mut TcpStream, n: usize) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < n {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (got, false);
            }
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

/// The termination state of a tcplog/httplog line, first two letters
/// (`PR`, `--`, `cR`): the first all-letters-or-dashes word after the timers.
fn term_state(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let timers = words.iter().position(|w| {
        w.contains('/') && w.bytes().all(|b| b.is_ascii_digit() || b"-+/".contains(&b))
    });
    let Some(t) = timers else {
        return String::new();
    };
    words[t + 1..]
        .iter()
        .find(|w| {
            (w.len() == 2 || w.len() == 4)
                && w.bytes().all(|b| b == b'-' || b.is_ascii_alphabetic())
        })
        .map(|w| w[..2].to_string())
        .unwrap_or_default()
}

/// `backend/server TERM` of a tcplog line: where it went and how it ended.
fn summary(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| {
        w.contains('/') && w.bytes().all(|b| b.is_ascii_digit() || b"-+/".contains(&b))
    });
    let route = at.and_then(|i| i.checked_sub(1)).map_or("", |i| words[i]);
    format!("{route} {}", term_state(line))
}

/// Runs `scenario` on ringlb and, when installed, on HAProxy; both must
/// observe the same. Answers ringlb's observations (each test also checks
/// them against what HAProxy documents, so it means something without HAProxy).
fn both<T: PartialEq + std::fmt::Debug>(scenario: impl Fn(Which) -> Option<T>) -> T {
    let ours = scenario(Which::Ringlb).expect("ringlb always runs");
    if let Some(theirs) = scenario(Which::Haproxy) {
        assert_eq!(ours, theirs, "ringlb (left) and HAProxy 2.6 (right) differ");
    }
    ours
}

#[test]
fn connection_rules_reject_by_source_unlogged_and_counted() {
    let (echoed, rejected, _, lines, (dcon, stot, conn_tot)) = both(|which| {
        let echo = named("echo");
        let port = free_port();
        let syslog = Syslog::new();
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   tcp-request connection reject if {{ src 10.0.0.0/8 }}\n\
             \x20   tcp-request connection accept if {{ src 127.0.0.1 }}\n\
             \x20   tcp-request connection reject if {{ src 127.0.0.2 }}\n\
             \x20   default_backend be\n\
             backend be\n    server e 127.0.0.1:{}\n",
            echo.port
        );
        let p = Proxy::start(which, "tcp", &body, port, &syslog)?;
        // Allowed: relayed both ways.
        let mut ok = connect_from("127.0.0.1", port).unwrap();
        ok.write_all(b"ping").unwrap();
        let (got, _) = read_up_to(&mut ok, 8);
        drop(ok);
        // Rejected: closed at once, nothing relayed, the server never sees it.
        let rejected = match connect_from("127.0.0.2", port) {
            Ok(mut s) => {
                let _ = s.write_all(b"ping");
                read_up_to(&mut s, 1)
            }
            Err(_) => (Vec::new(), true),
        };
        let lines = syslog.lines(1, Duration::from_millis(800));
        let stats = (
            p.stat("fe", "FRONTEND", "dcon"),
            p.stat("fe", "FRONTEND", "stot"),
            p.stat("fe", "FRONTEND", "conn_tot"),
        );
        Some((
            String::from_utf8_lossy(&got).into_owned(),
            rejected,
            echo.accepted(),
            lines.len(),
            stats,
        ))
    });
    assert_eq!(echoed, "echoping");
    assert_eq!(rejected, (Vec::new(), true), "closed without a byte");
    // One session logged (the allowed client; the readiness probe's line
    // is drained), the rejected connection neither logged nor a session,
    // but a connection.
    assert_eq!((lines, dcon, stot, conn_tot), (1, 1, 2, 3));
}

#[test]
fn sni_routing_to_two_tcp_backends() {
    let seen = both(|which| {
        let (a, b, other) = (named("bk_a"), named("bk_b"), named("othr"));
        let port = free_port();
        let syslog = Syslog::new();
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   tcp-request inspect-delay 5s\n\
             \x20   tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
             \x20   use_backend bk_a if {{ req.ssl_sni -i a.example }}\n\
             \x20   use_backend bk_b if {{ req_ssl_sni -m end .b.example }}\n\
             \x20   default_backend other\n\
             backend bk_a\n    server a 127.0.0.1:{}\n\
             backend bk_b\n    server b 127.0.0.1:{}\n\
             backend other\n    server o 127.0.0.1:{}\n",
            a.port, b.port, other.port
        );
        let _p = Proxy::start(which, "tcp", &body, port, &syslog)?;
        let mut seen = Vec::new();
        for host in ["A.example", "www.b.example", "c.example"] {
            let hello = client_hello_record(&[
                (0x000a, vec![0, 2, 0, 0x1d]),
                (0x0000, sni_extension(host)),
                (0x0010, b"\x00\x03\x02h2".to_vec()),
            ]);
            let mut s = connect_from("127.0.0.1", port).unwrap();
            // In two pieces: the rules must wait for the whole hello.
            s.write_all(&hello[..20]).unwrap();
            std::thread::sleep(Duration::from_millis(150));
            s.write_all(&hello[20..]).unwrap();
            let (got, _) = read_up_to(&mut s, 4 + hello.len());
            // The hello reaches the server whole, after its greeting.
            assert_eq!(
                &got[4..],
                &hello[..],
                "{which:?} {host}: the hello is relayed intact"
            );
            seen.push(String::from_utf8_lossy(&got[..4]).into_owned());
        }
        // A client that is not TLS is not held for the delay: its first byte
        // already says it is no TLS handshake, so the accept rule fails at
        // once and the default accept lets it pass.
        let start = Instant::now();
        let mut s = connect_from("127.0.0.1", port).unwrap();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let (got, _) = read_up_to(&mut s, 4);
        seen.push(String::from_utf8_lossy(&got[..got.len().min(4)]).into_owned());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{which:?}: not held"
        );
        Some(seen)
    });
    assert_eq!(seen, ["bk_a", "bk_b", "othr", "othr"]);
}

#[test]
fn openssl_s_client_is_routed_by_its_sni() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let (a, b) = (TcpBackend::echo(), TcpBackend::echo());
    let port = free_port();
    let syslog = Syslog::new();
    let body = format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n\
         \x20   tcp-request inspect-delay 5s\n\
         \x20   tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
         \x20   use_backend bk_a if {{ req.ssl_sni -i a.example }}\n\
         \x20   default_backend bk_b\n\
         backend bk_a\n    server a 127.0.0.1:{}\n\
         backend bk_b\n    server b 127.0.0.1:{}\n",
        a.port, b.port
    );
    let _p = Proxy::start(Which::Ringlb, "tcp", &body, port, &syslog).unwrap();
    // The readiness probe (connect, close) went to the default backend.
    let (a0, b0) = (a.accepted(), b.accepted());
    for host in ["a.example", "z.example"] {
        // The echo servers are not TLS: the handshake fails once the server
        // answers with the hello itself; the routing has happened by then.
        Command::new("timeout")
            .args(["5", "openssl", "s_client", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-servername", host])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
    }
    assert_eq!(a.accepted() - a0, 1, "a.example went to bk_a");
    // (The probe may land on either side of `b0`.)
    assert!(b.accepted() > b0, "z.example went to the default backend");
}

#[test]
fn inspect_delay_expiry_decides_on_what_is_there() {
    let (results, dreq, terms) = both(|which| {
        let srv = greeter("srv!");
        let port = free_port();
        let syslog = Syslog::new();
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   tcp-request inspect-delay 600ms\n\
             \x20   tcp-request content reject if {{ req.payload(0,4) -m bin 51554954 }}\n\
             \x20   tcp-request content accept if {{ req.len ge 8 }}\n\
             \x20   tcp-request content reject if WAIT_END {{ req.len eq 0 }}\n\
             \x20   default_backend be\n\
             backend be\n    server s 127.0.0.1:{}\n",
            srv.port
        );
        let p = Proxy::start(which, "tcp", &body, port, &syslog)?;
        let timed = |send: &[u8]| {
            let start = Instant::now();
            let mut s = connect_from("127.0.0.1", port).unwrap();
            if !send.is_empty() {
                s.write_all(send).unwrap();
            }
            let (got, closed) = read_up_to(&mut s, 4);
            let ms = start.elapsed().as_millis();
            // Held for the delay (with slack), or decided at once.
            let held = ms >= 500;
            assert!(ms < 3000, "{which:?}: {send:?} took {ms} ms");
            // The greeting only: the echo may or may not follow in the same read.
            let greeting = &got[..got.len().min(4)];
            (String::from_utf8_lossy(greeting).into_owned(), closed, held)
        };
        let results = vec![
            // Enough bytes: accepted at once.
            timed(b"12345678"),
            // A rejected prefix: refused at once.
            timed(b"QUIT"),
            // Silent client: held for the whole delay, then rejected.
            timed(b""),
            // Too few bytes for the accept rule: held, then accepted by default.
            timed(b"abc"),
        ];
        let lines = syslog.lines(4, Duration::from_millis(800));
        let mut terms: Vec<String> = lines.iter().map(|l| summary(l)).collect();
        terms.sort();
        Some((results, p.stat("fe", "FRONTEND", "dreq"), terms))
    });
    let r = |g: &str, closed, held| (g.to_string(), closed, held);
    assert_eq!(
        results,
        [
            r("srv!", false, false),
            r("", true, false),
            r("", true, true),
            r("srv!", false, true)
        ]
    );
    assert_eq!(dreq, 3, "the QUIT, the silent client and the probe");
    assert_eq!(terms.iter().filter(|t| *t == "fe/<NOSRV> PR").count(), 2);
}

#[test]
fn http_mode_content_and_connection_rules() {
    let (results, logged, stats) = both(|which| {
        let web = HttpBackend::start("web");
        let port = free_port();
        let syslog = Syslog::new();
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   tcp-request connection reject if {{ src 127.0.0.3 }}\n\
             \x20   tcp-request content reject if {{ hdr(host) -i bad.example }}\n\
             \x20   default_backend be\n\
             backend be\n    tcp-request content reject if {{ path_beg /blocked }}\n\
             \x20   server w 127.0.0.1:{}\n",
            web.port()
        );
        let p = Proxy::start(which, "http", &body, port, &syslog)?;
        let get = |src: &str, host: &str| match connect_from(src, port) {
            Ok(mut s) => {
                let path = if host == "blocked" { "/blocked/x" } else { "/" };
                let req =
                    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
                let _ = s.write_all(req.as_bytes());
                let (got, closed) = read_up_to(&mut s, 1 << 20);
                let text = String::from_utf8_lossy(&got).into_owned();
                (text.lines().next().unwrap_or("").to_string(), closed)
            }
            Err(_) => (String::new(), true),
        };
        let results = vec![
            get("127.0.0.1", "good.example"),
            get("127.0.0.1", "BAD.example"),
            get("127.0.0.3", "good.example"),
            // The backend's own content rule, after routing.
            get("127.0.0.1", "blocked"),
        ];
        let lines = syslog.lines(3, Duration::from_millis(800));
        let mut logged: Vec<(String, bool, String)> = lines
            .iter()
            .map(|l| {
                let t = term_state(l);
                // Backend/server, timers, status and bytes of a refused request.
                let fields = if t == "PR" {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    let at = w.iter().position(|x| x.starts_with("-1/")).unwrap_or(1);
                    // Ta (the last timer) varies with load: left out.
                    let timers = w[at].rsplit_once('/').map_or(w[at], |(t, _)| t);
                    format!(
                        "{} {timers} {}",
                        w[at - 1],
                        w[at + 1..(at + 3).min(w.len())].join(" ")
                    )
                } else {
                    String::new()
                };
                (t, l.contains("\"<BADREQ>\""), fields)
            })
            .collect();
        logged.sort();
        let stats = (
            p.stat("fe", "FRONTEND", "dreq"),
            p.stat("fe", "FRONTEND", "dcon"),
        );
        Some((results, logged, stats))
    });
    assert_eq!(results[0].0, "HTTP/1.1 200 OK");
    assert_eq!(results[1], (String::new(), true), "rejected unanswered");
    assert_eq!(results[2], (String::new(), true), "connection rejected");
    assert_eq!(results[3], (String::new(), true), "rejected by the backend");
    let line = |t: &str, bad, f: &str| (t.to_string(), bad, f.to_string());
    assert_eq!(
        logged,
        [
            line("--", false, ""),
            // By the backend's rule: the request line is logged.
            line("PR", false, "be/<NOSRV> -1/-1/-1/-1 -1 0"),
            // By the frontend's: not taken in yet.
            line("PR", true, "fe/<NOSRV> -1/-1/-1/-1 -1 0"),
        ]
    );
    assert_eq!(stats, (2, 1), "dreq, dcon");
}

#[test]
fn tcp_response_rules_reject_or_pass_the_first_bytes() {
    let (good, bad, closed, terms, dresp) = both(|which| {
        let bad = TcpBackend::start(|mut s| {
            let _ = s.write_all(b"BAD! secret");
            common::echo_until_eof(s);
        });
        let good = named("GOOD");
        let port = free_port();
        let syslog = Syslog::new();
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   use_backend bk_bad if {{ dst_port {port} }} {{ src 127.0.0.4 }}\n\
             \x20   default_backend bk_good\n\
             backend bk_bad\n    tcp-response inspect-delay 2s\n\
             \x20   tcp-response content reject if {{ res.payload(0,4) -m bin 42414421 }}\n\
             \x20   server b 127.0.0.1:{}\n\
             backend bk_good\n    tcp-response inspect-delay 2s\n\
             \x20   tcp-response content reject if {{ res.payload(0,4) -m bin 42414421 }}\n\
             \x20   server g 127.0.0.1:{}\n",
            bad.port, good.port
        );
        let p = Proxy::start(which, "tcp", &body, port, &syslog)?;
        let mut g = connect_from("127.0.0.1", port).unwrap();
        g.write_all(b"hi").unwrap();
        let (gg, _) = read_up_to(&mut g, 6);
        drop(g);
        let mut b = connect_from("127.0.0.4", port).unwrap();
        // The bad server speaks first, so the response rule may reject and close
        // before this write lands (EPIPE/ECONNRESET): what matters is what the
        // client reads.
        let _ = b.write_all(b"hi");
        let (bb, closed) = read_up_to(&mut b, 6);
        let lines = syslog.lines(2, Duration::from_millis(800));
        let mut terms: Vec<String> = lines.iter().map(|l| summary(l)).collect();
        terms.sort();
        Some((
            String::from_utf8_lossy(&gg).into_owned(),
            String::from_utf8_lossy(&bb).into_owned(),
            closed,
            terms,
            p.stat("bk_bad", "BACKEND", "dresp"),
        ))
    });
    assert_eq!(
        (good.as_str(), bad.as_str(), closed, dresp),
        ("GOODhi", "", true, 1)
    );
    assert!(terms.contains(&"bk_bad/b PD".to_string()), "{terms:?}");
}

#[test]
fn backend_content_rules_and_response_close() {
    let (results, bye, after, closed, dreq, terms) = both(|which| {
        let echo = TcpBackend::echo();
        let port = free_port();
        let syslog = Syslog::new();
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   tcp-request inspect-delay 2s\n\
             \x20   tcp-request content accept if {{ req.len ge 4 }}\n\
             \x20   default_backend be\n\
             backend be\n\
             \x20   tcp-request inspect-delay 500ms\n\
             \x20   tcp-request content reject if {{ req.payload(0,4) -m bin 44454e59 }}\n\
             \x20   tcp-response inspect-delay 1s\n\
             \x20   tcp-response content close if {{ res.payload(0,3),lower bye }}\n\
             \x20   server s 127.0.0.1:{}\n",
            echo.port
        );
        let p = Proxy::start(which, "tcp", &body, port, &syslog)?;
        let talk = |first: &[u8], then: &[u8]| {
            let mut s = connect_from("127.0.0.1", port).unwrap();
            s.write_all(first).unwrap();
            let (mut got, mut closed) = read_up_to(&mut s, first.len());
            if !closed && !then.is_empty() {
                let _ = s.write_all(then);
                let (more, c) = read_up_to(&mut s, then.len());
                got.extend_from_slice(&more);
                closed = c;
            }
            (String::from_utf8_lossy(&got).into_owned(), closed)
        };
        let results = vec![
            // Relayed, and the session goes on after the first response.
            talk(b"ping", b"more"),
            // Refused by the backend's own content rule.
            talk(b"DENY", b""),
            // The response rule closes the session after passing the bytes.
            talk(b"BYE!", b""),
        ];
        // After `close`, nothing more arrives: the server side is gone.
        let mut s = connect_from("127.0.0.1", port).unwrap();
        s.write_all(b"Bye!").unwrap();
        let (got, _) = read_up_to(&mut s, 4);
        let _ = s.write_all(b"again");
        let (after, closed) = read_up_to(&mut s, 1);
        let lines = syslog.lines(4, Duration::from_millis(800));
        let mut terms: Vec<String> = lines.iter().map(|l| summary(l)).collect();
        terms.sort();
        Some((
            results,
            String::from_utf8_lossy(&got).into_owned(),
            after,
            closed,
            p.stat("fe", "FRONTEND", "dreq"),
            terms,
        ))
    });
    let r = |g: &str, closed| (g.to_string(), closed);
    assert_eq!(
        results,
        [r("pingmore", false), r("", true), r("BYE!", false)]
    );
    assert_eq!(
        (bye.as_str(), after, closed, dreq),
        ("Bye!", vec![], true, 1)
    );
    assert!(terms.contains(&"be/<NOSRV> PR".to_string()), "{terms:?}");
}

#[test]
fn client_timeout_shorter_than_the_delay_ends_the_wait() {
    both(|which| {
        let srv = greeter("srv!");
        let port = free_port();
        let syslog = Syslog::new();
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    timeout client 300ms\n\
             \x20   tcp-request inspect-delay 3s\n\
             \x20   tcp-request content accept if {{ req.len ge 8 }}\n\
             \x20   default_backend be\n\
             backend be\n    server s 127.0.0.1:{}\n",
            srv.port
        );
        let _p = Proxy::start(which, "tcp", &body, port, &syslog)?;
        let start = Instant::now();
        let mut s = connect_from("127.0.0.1", port).unwrap();
        s.write_all(b"abc").unwrap();
        let (got, closed) = read_up_to(&mut s, 4);
        let ms = start.elapsed().as_millis();
        assert!((200..2500).contains(&ms), "{which:?}: closed after {ms} ms");
        let lines = syslog.lines(1, Duration::from_millis(800));
        let terms: Vec<String> = lines
            .iter()
            .map(|l| term_state(l))
            .filter(|t| t != "--")
            .collect();
        assert_eq!(
            terms,
            ["cR"],
            "{which:?}: the client timeout ended the session"
        );
        Some((got, closed, terms))
    });
}

/// `tcp-request content set-var`/`set-var-fmt`/`unset-var` in `mode tcp`:
/// the variables live as long as the connection and `use_backend` reads
/// them, in a condition and in a `%[...]` name.
#[test]
fn tcp_mode_variables_route_by_sni() {
    let seen = both(|which| {
        let (a, b, other) = (named("bk_a"), named("bk_b"), named("othr"));
        let port = free_port();
        let syslog = Syslog::new();
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   tcp-request inspect-delay 5s\n\
             \x20   tcp-request content set-var(sess.sni) req.ssl_sni,lower\n\
             \x20   tcp-request content set-var-fmt(txn.tag) x-%[var(sess.sni)]\n\
             \x20   tcp-request content unset-var(sess.sni) if {{ var(txn.tag) -m str x-drop.example }}\n\
             \x20   tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
             \x20   tcp-request connection set-var(sess.conn) src\n\
             \x20   tcp-request connection set-var(txn.gone) src\n\
             \x20   use_backend other unless {{ var(sess.conn) -m ip 127.0.0.1 }}\n\
             \x20   use_backend bk_b if {{ var(txn.gone) -m found }}\n\
             \x20   use_backend bk_a if {{ var(sess.sni) -m str a.example }}\n\
             \x20   use_backend bk_%[var(sess.sni),field(1,.)] if {{ var(sess.sni) -m end .example }}\n\
             \x20   default_backend other\n\
             backend bk_a\n    server a 127.0.0.1:{}\n\
             backend bk_b\n    server b 127.0.0.1:{}\n\
             backend other\n    server o 127.0.0.1:{}\n",
            a.port, b.port, other.port
        );
        let _p = Proxy::start(which, "tcp", &body, port, &syslog)?;
        let mut seen = Vec::new();
        for host in ["A.example", "b.example", "drop.example", "c.other"] {
            let hello = client_hello_record(&[(0x0000, sni_extension(host))]);
            let mut s = connect_from("127.0.0.1", port).unwrap();
            // In two pieces: the variable is set again once the hello is whole.
            s.write_all(&hello[..20]).unwrap();
            std::thread::sleep(Duration::from_millis(150));
            s.write_all(&hello[20..]).unwrap();
            let (got, _) = read_up_to(&mut s, 4 + hello.len());
            assert_eq!(&got[4..], &hello[..], "{which:?} {host}: relayed intact");
            seen.push(String::from_utf8_lossy(&got[..4]).into_owned());
        }
        Some(seen)
    });
    assert_eq!(seen, ["bk_a", "bk_b", "othr", "othr"]);
}

/// `tcp-request content set-var` in `mode http` runs before the
/// `http-request` rules and `use_backend`, which read the variables; `txn`
/// ones end with the request, `sess` ones stay for the connection.
#[test]
fn http_mode_variables_from_content_rules() {
    let seen = both(|which| {
        let (one, two) = (HttpBackend::start("one"), HttpBackend::start("two"));
        let port = free_port();
        let syslog = Syslog::new();
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   tcp-request content set-var(txn.src) src\n\
             \x20   tcp-request content set-var(sess.first) req.hdr(host),lower if {{ req.hdr(x-first) -m found }}\n\
             \x20   tcp-request content set-var(txn.path) path\n\
             \x20   http-request set-header X-Src %[var(txn.src)]\n\
             \x20   http-request set-header X-First %[var(sess.first)]\n\
             \x20   http-request set-header X-Path %[var(txn.path)]\n\
             \x20   tcp-request connection set-var(sess.conn) src\n\
             \x20   tcp-request connection set-var(txn.gone) src\n\
             \x20   http-request set-header X-Conn %[var(sess.conn)]\n\
             \x20   http-request set-header X-Gone yes if {{ var(txn.gone) -m found }}\n\
             \x20   http-response set-header X-Res-Path %[var(txn.path)]\n\
             \x20   tcp-request content reject if {{ path /deny }}\n\
             \x20   http-request deny if {{ path /deny }}\n\
             \x20   use_backend two if {{ var(sess.first) -m str two.example }}\n\
             \x20   default_backend one\n\
             backend one\n    server o 127.0.0.1:{}\n\
             backend two\n    tcp-request content set-var-fmt(txn.path) be-%[var(txn.path)]\n\
             \x20   http-request set-header X-Be-Path %[var(txn.path)]\n\
             \x20   server t 127.0.0.1:{}\n",
            one.port(),
            two.port()
        );
        let _p = Proxy::start(which, "http", &body, port, &syslog)?;
        let mut s = connect_from("127.0.0.1", port).unwrap();
        let mut seen = Vec::new();
        for (path, first) in [("/a", true), ("/b", false)] {
            let extra = if first { "X-First: 1\r\n" } else { "" };
            let req = format!("GET {path} HTTP/1.1\r\nHost: TWO.example\r\n{extra}\r\n");
            s.write_all(req.as_bytes()).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // One response: its head names its length.
            while !response_done(&got) {
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            // HAProxy sends header names in lower case.
            let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
            let mut lines: Vec<&str> = text
                .lines()
                .filter(|l| {
                    l.starts_with("server=") || l.starts_with("h: x-") || l.starts_with("x-res")
                })
                .collect();
            lines.sort();
            seen.push(lines.join(" | "));
        }
        // The content rule runs before the http-request rules: the request
        // is rejected unanswered, not denied with a 403.
        s.write_all(b"GET /deny HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (got, closed) = read_up_to(&mut s, 1 << 16);
        seen.push(format!("{} {closed}", String::from_utf8_lossy(&got)));
        Some(seen)
    });
    assert_eq!(
        seen,
        [
            "h: x-be-path: be-/a | h: x-conn: 127.0.0.1 | h: x-first: two.example | h: x-path: /a | h: x-src: 127.0.0.1 | server=two | x-res-path: be-/a",
            "h: x-be-path: be-/b | h: x-conn: 127.0.0.1 | h: x-first: two.example | h: x-path: /b | h: x-src: 127.0.0.1 | server=two | x-res-path: be-/b",
            " true",
        ]
    );
}

/// Whether `got` holds a whole response with a Content-Length body.
fn response_done(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let len = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= len
}
