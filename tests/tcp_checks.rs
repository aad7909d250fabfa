//! `option tcp-check` rules and the protocol checks HAProxy builds on them
//! (`redis-check`, `ssl-hello-chk`, `smtpchk`, `pgsql-check`, `mysql-check`,
//! `ldap-check`), end to end and against HAProxy 2.6.
//!
//! Each differential test runs ringlb, then HAProxy, on the same config
//! against the same scripted servers, which answer as the real server does
//! and record the bytes each check sent: the bytes must be equal (the one
//! field HAProxy fills at run time, the SSLv3 hello's GMT time, is masked),
//! and so must the `log-health-checks` lines, which say whether each server
//! ended UP or DOWN (the check duration is masked). Without HAProxy the
//! ringlb half still runs and its lines are compared with HAProxy's texts,
//! recorded here from HAProxy 2.6.12.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// How a scripted server talks: what it says on connect, then one answer
/// per chunk received; it closes after 300 ms of silence (3 s when it holds).
#[derive(Clone, Default)]
struct Script {
    greeting: Vec<u8>,
    replies: Vec<Vec<u8>>,
    hold: bool,
}

impl Script {
    fn replies(replies: &[&[u8]]) -> Script {
        Script {
            greeting: Vec::new(),
            replies: replies.iter().map(|r| r.to_vec()).collect(),
            hold: false,
        }
    }
    fn greeting(mut self, g: &[u8]) -> Script {
        self.greeting = g.to_vec();
        self
    }
}

/// A server following a [`Script`] and recording each connection's bytes.
struct ScriptServer {
    port: u16,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ScriptServer {
    fn start(script: Script) -> ScriptServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rec = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let (script, rec) = (script.clone(), rec.clone());
                std::thread::spawn(move || serve(c, &script, &rec));
            }
        });
        ScriptServer { port, seen }
    }

    /// The bytes of the first connection that sent any.
    fn first(&self) -> Option<Vec<u8>> {
        let seen = self.seen.lock().unwrap();
        seen.iter().find(|b| !b.is_empty()).cloned()
    }

    fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

fn serve(mut c: std::net::TcpStream, s: &Script, rec: &Mutex<Vec<Vec<u8>>>) {
    let silence = if s.hold { 3000 } else { 300 };
    c.set_read_timeout(Some(Duration::from_millis(silence)))
        .ok();
    let mut got = Vec::new();
    if !s.greeting.is_empty() {
        let _ = c.write_all(&s.greeting);
    }
    let mut next = s.replies.iter();
    let mut b = [0u8; 4096];
    loop {
        match c.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                got.extend_from_slice(&b[..n]);
                if let Some(r) = next.next() {
                    let _ = c.write_all(r);
                }
            }
        }
    }
    rec.lock().unwrap().push(got);
}

/// The config: one `listen` with the check lines and servers `ok`, `bad`.
fn config(bind: u16, check: &str, ok: u16, bad: u16) -> String {
    format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    \
         timeout server 5s\n\nlisten p\n    bind 127.0.0.1:{bind}\n    \
         option log-health-checks\n{check}\n    \
         server ok 127.0.0.1:{ok} check inter 700 rise 1 fall 1\n    \
         server bad 127.0.0.1:{bad} check inter 700 rise 1 fall 1\n"
    )
}

/// The first `Health check for server p/<name>` line, from `[WARNING]` on,
/// with the duration masked.
fn check_line(log: &str, name: &str) -> Option<String> {
    let needle = format!("Health check for server p/{name} ");
    let line = log.lines().find(|l| l.contains(&needle))?;
    let text = &line[line.find("Health check")?..];
    let (head, tail) = text.split_once(", check duration: ")?;
    let rest = tail.split_once("ms")?.1;
    Some(format!("{head}, check duration: Nms{rest}"))
}

fn wait_lines(log: impl Fn() -> String, names: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = log();
        let lines: Vec<Option<String>> = names.iter().map(|n| check_line(&text, n)).collect();
        if lines.iter().all(Option::is_some) {
            return lines.into_iter().flatten().collect();
        }
        assert!(
            Instant::now() < deadline,
            "no check lines for {names:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What one implementation did: each server's log line and first bytes.
#[derive(Debug, PartialEq)]
struct Seen {
    lines: Vec<String>,
    bytes: Vec<Option<Vec<u8>>>,
}

fn observe(
    check: &str,
    servers: &[&ScriptServer],
    mask: fn(&mut [u8]),
    haproxy: bool,
) -> Option<Seen> {
    for s in servers {
        s.clear();
    }
    let bind = free_port();
    let cfg = config(bind, check, servers[0].port, servers[1].port);
    let lines = if haproxy {
        let h = Haproxy::start(&cfg, bind)?;
        wait_lines(|| h.stderr(), &["ok", "bad"])
    } else {
        let lb = Ringlb::start(&cfg);
        wait_lines(|| lb.stderr(), &["ok", "bad"])
    };
    // Let the first connections finish recording.
    std::thread::sleep(Duration::from_millis(400));
    let bytes = servers
        .iter()
        .map(|s| {
            s.first().map(|mut b| {
                mask(&mut b);
                b
            })
        })
        .collect();
    Some(Seen { lines, bytes })
}

fn no_mask(_: &mut [u8]) {}

/// Runs the check on ringlb, checks its lines, then compares with HAProxy.
fn differential(check: &str, ok: Script, bad: Script, mask: fn(&mut [u8]), want: [&str; 2]) {
    let (ok, bad) = (ScriptServer::start(ok), ScriptServer::start(bad));
    let ours = observe(check, &[&ok, &bad], mask, false).expect("ringlb runs");
    assert_eq!(ours.lines, want, "ringlb's lines");
    if let Some(theirs) = observe(check, &[&ok, &bad], mask, true) {
        assert_eq!(ours, theirs, "ringlb (left) and HAProxy 2.6 (right) differ");
    }
}

const OK: &str = "succeeded, reason:";

#[test]
fn redis_check_is_haproxys() {
    differential(
        "    option redis-check",
        Script::replies(&[b"+PONG\r\n"]),
        Script::replies(&[b"-NOAUTH Authentication required.\r\n"]),
        no_mask,
        [
            &format!(
                "Health check for server p/ok {OK} Layer7 check passed, code: 0, info: \"Redis server is ok\", check duration: Nms, status: 1/1 UP."
            ),
            "Health check for server p/bad failed, reason: Layer7 wrong status, code: 0, info: \"-NOAUTH Authentication required.\", check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn smtpchk_is_haproxys() {
    differential(
        "    option smtpchk EHLO me.example",
        Script::replies(&[
            b"250-mail.example hello\r\n250 8BITMIME\r\n",
            b"221 bye\r\n",
        ])
        .greeting(b"220 mail.example ESMTP\r\n"),
        Script::default().greeting(b"554 go away\r\n"),
        no_mask,
        [
            &format!(
                "Health check for server p/ok {OK} Layer7 check passed, code: 221, info: \"bye\", check duration: Nms, status: 1/1 UP."
            ),
            "Health check for server p/bad failed, reason: Layer7 wrong status, code: 554, info: \"go away\", check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn pgsql_check_is_haproxys() {
    differential(
        "    option pgsql-check user bob",
        Script::replies(&[b"R\x00\x00\x00\x08\x00\x00\x00\x00"]),
        Script::replies(&[b"E\x00\x00\x00\x40SFATAL\x00C28000\x00Mno such role bob\x00\x00"]),
        no_mask,
        [
            &format!(
                "Health check for server p/ok {OK} Layer7 check passed, code: 0, info: \"PostgreSQL server is ok\", check duration: Nms, status: 1/1 UP."
            ),
            "Health check for server p/bad failed, reason: Layer7 invalid response, info: \"FATAL\", check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

/// A MySQL 5.7 initial handshake packet (protocol 10).
fn mysql_greeting() -> Vec<u8> {
    let mut body =
        b"\x0a5.7.42\x00\x01\x00\x00\x00abcdefgh\x00\xff\xf7\x21\x02\x00\x0f\x80\x15".to_vec();
    body.extend_from_slice(&[0; 10]);
    body.extend_from_slice(b"ijklmnopqrst\x00mysql_native_password\x00");
    let mut p = vec![body.len() as u8, 0, 0, 0];
    p.extend_from_slice(&body);
    p
}

#[test]
fn mysql_check_is_haproxys() {
    let g = mysql_greeting();
    differential(
        "    option mysql-check user alice",
        Script::replies(&[b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00"]).greeting(&g),
        Script::replies(&[b"\x17\x00\x00\x02\xff\x15\x04#28000Access denied!"]).greeting(&g),
        no_mask,
        [
            &format!(
                "Health check for server p/ok {OK} Layer7 check passed, code: 0, info: \"5.7.42\", check duration: Nms, status: 1/1 UP."
            ),
            "Health check for server p/bad failed, reason: Layer7 wrong status, code: 1045, info: \"#28000Access denied!\", check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn ldap_check_is_haproxys() {
    differential(
        "    option ldap-check",
        Script::replies(&[b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00"]),
        Script::replies(&[b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x31\x04\x00\x04\x00"]),
        no_mask,
        [
            &format!(
                "Health check for server p/ok {OK} Layer7 check passed, code: 0, info: \"Success\", check duration: Nms, status: 1/1 UP."
            ),
            "Health check for server p/bad failed, reason: Layer7 wrong status, code: 49, info: \"See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9\", check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

/// The SSLv3 hello's GMT time (bytes 11..15) is the clock's: masked.
fn mask_hello_time(b: &mut [u8]) {
    if b.len() >= 15 {
        b[11..15].fill(0);
    }
}

#[test]
fn ssl_hello_chk_is_haproxys() {
    differential(
        "    option ssl-hello-chk",
        Script::replies(&[b"\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03"]),
        Script::replies(&[b"HTTP/1.0 400 Bad request\r\n\r\n"]),
        mask_hello_time,
        [
            &format!(
                "Health check for server p/ok {OK} Layer6 check passed, check duration: Nms, status: 1/1 UP."
            ),
            "Health check for server p/bad failed, reason: Layer6 invalid response, check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

/// A real TLS server (rustls, as ringlb's own `bind ... ssl`) answers the
/// SSLv3 hello with an alert record, which passes as in HAProxy.
#[test]
fn ssl_hello_chk_against_a_tls_listener() {
    let Some(certs) = tls::TlsCerts::generate() else {
        eprintln!("openssl missing: the TLS listener test is skipped");
        return;
    };
    let backend_port = free_port();
    let tls_front = Ringlb::start(&format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen t\n    bind 127.0.0.1:{backend_port} ssl crt {}\n    server s 127.0.0.1:9\n",
        certs.ec.display()
    ));
    let dead = free_port();
    let bind = free_port();
    let lb = Ringlb::start(&config(
        bind,
        "    option ssl-hello-chk",
        backend_port,
        dead,
    ));
    let lines = wait_lines(|| lb.stderr(), &["ok", "bad"]);
    assert!(
        lines[0].contains("succeeded, reason: Layer6 check passed"),
        "{lines:?}"
    );
    assert!(lines[1].contains("Layer4 connection problem, info: \"Connection refused\""));
    drop(tls_front);
}

#[test]
fn tcp_check_sequence_is_haproxys() {
    let check = "    option tcp-check\n    tcp-check comment first\n    tcp-check connect\n    \
                 tcp-check send PING\\r\\n\n    tcp-check expect string +PONG comment pong\n    \
                 tcp-check send-binary 414243\n    tcp-check expect ! rstring ^ERR min-recv 1\n    \
                 tcp-check expect binary 5858 on-error \"bad %[res.payload(0,2)]\"";
    // ok: PONG, then "XX"; bad: the wrong greeting, with the comment in the line.
    differential(
        check,
        Script::replies(&[b"+PONG\r\n", b"XX"]),
        Script::replies(&[b"NOPE\r\n"]),
        no_mask,
        [
            &format!(
                "Health check for server p/ok {OK} Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: Nms, status: 1/1 UP."
            ),
            "Health check for server p/bad failed, reason: Layer7 invalid response, info: \"TCPCHK did not match content '+PONG' at step 4 comment: pong\", check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn tcp_check_failures_are_haproxys() {
    // ok here fails on the inverted regex; bad on the on-error message.
    let check = "    option tcp-check\n    tcp-check send hi\n    \
                 tcp-check expect ! rstring ^ERR min-recv 1\n    \
                 tcp-check expect binary 5858 on-error \"bad %[res.payload(0,2)]\"";
    differential(
        check,
        Script::replies(&[b"ERR"]),
        Script::replies(&[b"YY"]),
        no_mask,
        [
            "Health check for server p/ok failed, reason: Layer7 invalid response, info: \"TCPCHK matched unwanted content (regex) at step 2\", check duration: Nms, status: 0/1 DOWN.",
            "Health check for server p/bad failed, reason: Layer7 invalid response, info: \"bad YY\", check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn tcp_check_timeout_is_haproxys() {
    let check = "    option tcp-check\n    tcp-check send hi\n    tcp-check expect string PONG";
    let hold = Script {
        hold: true,
        ..Script::default()
    };
    differential(
        check,
        Script::replies(&[b"PONG"]),
        hold,
        no_mask,
        [
            &format!(
                "Health check for server p/ok {OK} Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: Nms, status: 1/1 UP."
            ),
            "Health check for server p/bad failed, reason: Layer7 timeout, info: \" at step 2 of tcp-check (expect string 'PONG')\", check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn tcp_check_empty_response_and_connect_refused() {
    let dead = free_port();
    let silent = ScriptServer::start(Script::default());
    let check = "    option tcp-check\n    tcp-check send hi\n    tcp-check expect string PONG comment pong";
    let cfg = config(free_port(), check, silent.port, dead);
    let lb = Ringlb::start(&cfg);
    let lines = wait_lines(|| lb.stderr(), &["ok", "bad"]);
    assert_eq!(
        lines,
        [
            "Health check for server p/ok failed, reason: Layer7 invalid response, info: \"TCPCHK got an empty response at step 2 comment: 'pong'\", check duration: Nms, status: 0/1 DOWN.",
            "Health check for server p/bad failed, reason: Layer4 connection problem, info: \"Connection refused at initial connection step of tcp-check\", check duration: Nms, status: 0/1 DOWN.",
        ]
    );
}

#[test]
fn tcp_check_config_errors_name_the_keyword() {
    let dir = TestDir::new("tcpchkcfg");
    let bad = [
        (
            "    tcp-check send x\n    tcp-check connect",
            "first step MUST also be a 'connect'",
        ),
        ("    tcp-check expect foo y", "got 'foo'"),
        (
            "    tcp-check connect via-socks4",
            "'via-socks4' is not supported by ringlb yet",
        ),
        ("    tcp-check connect alpn ,", "invalid protocol list"),
        // `connect ssl` builds each checked server's TLS: verify needs a CA.
        (
            "    option tcp-check\n    tcp-check connect ssl",
            "verify is enabled by default but no CA file specified",
        ),
        ("    tcp-check expect rstring (", "invalid regex"),
        ("    option pgsql-check", "expects 'user <username>'"),
    ];
    for (body, want) in bad {
        let cfg = dir.write("bad.cfg", &config(free_port(), body, 1, 2));
        let out = run_cli(dir.path(), &["-c", "-f", cfg.to_str().unwrap()]);
        assert_eq!(out.code, Some(1), "{body} must be refused");
        assert!(out.stderr.contains(want), "{body}: {}", out.stderr);
    }
}

#[test]
fn tcp_check_timeout_on_binary_and_connect_port_are_haproxys() {
    let dead = free_port();
    let check = "    option tcp-check\n    tcp-check send hi\n    \
                 tcp-check expect binary 0aFF00 comment bin";
    let hold = Script {
        hold: true,
        ..Script::default()
    };
    let silent = ScriptServer::start(hold);
    let cfg = config(free_port(), check, silent.port, dead);
    let lb = Ringlb::start(&cfg);
    let lines = wait_lines(|| lb.stderr(), &["ok"]);
    assert_eq!(
        lines[0],
        "Health check for server p/ok failed, reason: Layer7 timeout, info: \" at step 2 of tcp-check (expect binary '<0A><FF>') comment: 'bin'\", check duration: Nms, status: 0/1 DOWN."
    );
    drop(lb);
    let check = format!("    option tcp-check\n    tcp-check connect port {dead} comment pc");
    let lb = Ringlb::start(&config(free_port(), &check, silent.port, dead));
    let lines = wait_lines(|| lb.stderr(), &["ok"]);
    assert_eq!(
        lines[0],
        format!(
            "Health check for server p/ok failed, reason: Layer4 connection problem, info: \"Connection refused at step 1 of tcp-check (connect port {dead}) comment: 'pc'\", check duration: Nms, status: 0/1 DOWN."
        )
    );
}

#[test]
fn tcp_check_variables_and_formats_are_haproxys() {
    let check = "    option tcp-check\n    tcp-check set-var(check.cmd) str(PING)\n    \
                 tcp-check send-lf \"%[var(check.cmd)]\\r\\n\"\n    \
                 tcp-check expect string-lf \"+%[var(check.cmd),lower]\"\n    \
                 tcp-check send-binary-lf \"%[var(check.cmd),hex]0D0A\"\n    \
                 tcp-check expect rstring ^\\+(OK|PONG) on-success \"got %[res.payload(1,4)]\" \
                 status-code int(250)";
    differential(
        check,
        Script::replies(&[b"+ping\r\n", b"+OK\r\n"]),
        Script::replies(&[b"-ERR\r\n"]),
        no_mask,
        [
            &format!(
                "Health check for server p/ok {OK} Layer7 check passed, code: 250, info: \"got OK<0D><0A>\", check duration: Nms, status: 1/1 UP."
            ),
            "Health check for server p/bad failed, reason: Layer7 invalid response, info: \"TCPCHK did not match content (log-format string) at step 3\", check duration: Nms, status: 0/1 DOWN.",
        ],
    );
}

/// With `timeout check`, HAProxy 2.6 ends a silent check at the later of
/// min(`timeout connect`, `inter`) and `timeout check` after the connect
/// (measured: `timeout check 300ms`, `timeout connect 1s` end it at 1 s;
/// here `inter 700` is the shorter, so 700 ms, not 300).
#[test]
fn timeout_check_bounds_as_haproxy() {
    let hold = ScriptServer::start(Script {
        hold: true,
        ..Script::default()
    });
    let check = "    timeout check 300ms\n    option tcp-check\n    tcp-check send hi\n    \
                 tcp-check expect string PONG";
    let lb = Ringlb::start(&config(free_port(), check, hold.port, free_port()));
    let log = || lb.stderr();
    wait_lines(log, &["ok"]);
    let line = lb
        .stderr()
        .lines()
        .find(|l| l.contains("Health check for server p/ok"))
        .unwrap()
        .to_string();
    let ms: u64 = line
        .split("check duration: ")
        .nth(1)
        .and_then(|t| t.split("ms").next())
        .and_then(|n| n.parse().ok())
        .expect("a duration");
    assert!((680..1000).contains(&ms), "{line}");
    assert!(line.contains("Layer7 timeout"), "{line}");
}

/// A real `redis-server` (skipped when it is not installed; CI does not
/// install it): one open, one with a password, checked by ringlb and HAProxy.
#[test]
fn redis_check_against_a_real_redis() {
    let Some(bin) = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("redis-server not installed: the real Redis check is skipped");
        return;
    };
    struct Redis(std::process::Child);
    impl Drop for Redis {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let start = |port: u16, extra: &[&str]| {
        let child = std::process::Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis(child)
    };
    let (open, locked) = (free_port(), free_port());
    let _a = start(open, &[]);
    let _b = start(locked, &["--requirepass", "secret"]);
    let want = [
        format!("Health check for server p/ok {OK} Layer7 check passed, code: 0, info: \"Redis server is ok\", check duration: Nms, status: 1/1 UP."),
        // Redis answers -NOAUTH and keeps the connection: `+PONG` never
        // comes, so the check times out (the scripted server above closes).
        "Health check for server p/bad failed, reason: Layer7 timeout, check duration: Nms, status: 0/1 DOWN.".to_string(),
    ];
    let cfg = config(free_port(), "    option redis-check", open, locked);
    let lb = Ringlb::start(&cfg);
    assert_eq!(wait_lines(|| lb.stderr(), &["ok", "bad"]), want);
    drop(lb);
    let bind = free_port();
    if let Some(h) = Haproxy::start(&config(bind, "    option redis-check", open, locked), bind) {
        assert_eq!(wait_lines(|| h.stderr(), &["ok", "bad"]), want);
    }
}

/// `connect send-proxy` starts the check with a PROXY v1 header naming the
/// check's own connection, then the rules' bytes; `connect addr` and
/// `port` redirect it (the server line's address is never used).
#[test]
fn tcp_check_connect_options_reach_the_server() {
    let srv = ScriptServer::start(Script::replies(&[b"PONG"]));
    let check = format!(
        "    option tcp-check\n    tcp-check connect addr 127.0.0.1 port {} send-proxy\n    \
         tcp-check send hi\n    tcp-check expect string PONG",
        srv.port
    );
    let lb = Ringlb::start(&config(free_port(), &check, free_port(), free_port()));
    let lines = wait_lines(|| lb.stderr(), &["ok"]);
    assert!(
        lines[0].contains("succeeded, reason: Layer7 check passed"),
        "{lines:?}"
    );
    std::thread::sleep(Duration::from_millis(400));
    let got = String::from_utf8(srv.first().expect("bytes")).unwrap();
    assert!(
        got.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 "),
        "{got:?}"
    );
    assert!(got.ends_with(&format!(" {}\r\nhi", srv.port)), "{got:?}");
}

/// `connect ssl sni <name>`: the rules run over TLS with the server line's
/// settings (`verify none` here), against ringlb's own TLS listener.
#[test]
fn tcp_check_connect_ssl_is_haproxys() {
    let Some(certs) = tls::TlsCerts::generate() else {
        eprintln!("openssl missing: the connect ssl test is skipped");
        return;
    };
    let pong = ScriptServer::start(Script::replies(&[b"PONG"]));
    let nope = ScriptServer::start(Script::replies(&[b"NOPE"]));
    let (tls_ok, tls_bad) = (free_port(), free_port());
    let _front = Ringlb::start(&format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen t\n    bind 127.0.0.1:{tls_ok} ssl crt {pem}\n    server s 127.0.0.1:{}\n\
         listen u\n    bind 127.0.0.1:{tls_bad} ssl crt {pem}\n    server s 127.0.0.1:{}\n",
        pong.port,
        nope.port,
        pem = certs.ec.display()
    ));
    let check = "    option tcp-check\n    tcp-check connect ssl sni localhost\n    \
                 tcp-check send hi\n    tcp-check expect string PONG";
    let want = [
        format!("Health check for server p/ok {OK} Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: Nms, status: 1/1 UP."),
        "Health check for server p/bad failed, reason: Layer7 invalid response, info: \"TCPCHK did not match content 'PONG' at step 3\", check duration: Nms, status: 0/1 DOWN.".to_string(),
    ];
    let cfg = |bind: u16| {
        config(bind, check, tls_ok, tls_bad).replace(" check inter", " check verify none inter")
    };
    let lb = Ringlb::start(&cfg(free_port()));
    assert_eq!(wait_lines(|| lb.stderr(), &["ok", "bad"]), want);
    drop(lb);
    let bind = free_port();
    if let Some(h) = Haproxy::start(&cfg(bind), bind) {
        assert_eq!(wait_lines(|| h.stderr(), &["ok", "bad"]), want);
    }
}
