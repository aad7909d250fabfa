//! Logging end to end: a UDP socket in the test plays syslog, ringlb (2
//! workers) sends to it, and each line is taken apart field by field as an
//! HAProxy log parser would: the RFC 3164 header (PRI, date, host name with
//! `log-send-hostname`, `ringlb[pid]:`), then httplog or tcplog fields. Also:
//! `option dontlognull`, ringlb's own errors (503 `SC`, 408 `cR`), health-check
//! lines on the same socket with each target's level filter, the default
//! "Connect from" line, `log stdout`/`log stderr`, and traffic that keeps its
//! pace when syslog is absent or full.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    CheckedBackend, HttpBackend, HttpClient, ListenCfg, Ringlb, Syslog, TcpBackend, closed_port,
    connect, free_port, raw_exchange_on,
};

/// An RFC 3164 line taken apart.
#[derive(Debug)]
struct Line {
    pri: u32,
    stamp: String,
    host: Option<String>,
    pid: u32,
    msg: String,
}

/// `<PRI>Mmm dd hh:mm:ss [host ]ringlb[pid]: msg\n`.
fn parse_syslog(line: &str) -> Line {
    let line = line
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no newline at the end: {line:?}"));
    let rest = line.strip_prefix('<').expect("starts with <PRI>");
    let (pri, rest) = rest.split_once('>').expect("PRI closes with >");
    let (stamp, rest) = rest.split_at(15);
    let rest = rest.strip_prefix(' ').expect("space after the date");
    let (host, rest) = if rest.starts_with("ringlb[") {
        (None, rest)
    } else {
        let (h, r) = rest.split_once(' ').unwrap();
        (Some(h.to_string()), r)
    };
    let rest = rest.strip_prefix("ringlb[").expect("tag ringlb[");
    let (pid, msg) = rest.split_once("]: ").expect("]: after the pid");
    Line {
        pri: pri.parse().unwrap(),
        stamp: stamp.to_string(),
        host,
        pid: pid.parse().unwrap(),
        msg: msg.to_string(),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mmm dd hh:mm:ss`, the day padded with a space.
fn check_stamp(s: &str) {
    let b = s.as_bytes();
    assert!(MONTHS.contains(&&s[..3]), "month in {s:?}");
    assert_eq!(b[3], b' ', "{s:?}");
    let day: u32 = s[4..6].trim_start().parse().unwrap();
    assert!((1..=31).contains(&day), "{s:?}");
    if day < 10 {
        assert_eq!(b[4], b' ', "single-digit days are space-padded: {s:?}");
    }
    assert_eq!((b[6], b[9], b[12]), (b' ', b':', b':'), "{s:?}");
}

/// `[25/Nov/2026:01:35:12.345]` → checks the shape, returns (day, month).
fn check_accept_date(s: &str) -> (u32, String) {
    let d = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or_else(|| panic!("date in brackets: {s:?}"));
    assert_eq!(d.len(), 24, "{d:?}");
    let b = d.as_bytes();
    assert_eq!((b[2], b[6], b[11]), (b'/', b'/', b':'), "{d:?}");
    assert_eq!((b[14], b[17], b[20]), (b':', b':', b'.'), "{d:?}");
    assert!(MONTHS.contains(&&d[3..6]), "{d:?}");
    for (from, to) in [(0, 2), (7, 11), (12, 14), (15, 17), (18, 20), (21, 24)] {
        assert!(d[from..to].bytes().all(|c| c.is_ascii_digit()), "{d:?}");
    }
    (d[..2].parse().unwrap(), d[3..6].to_string())
}

/// An httplog message taken apart.
#[derive(Debug)]
struct HttpLog {
    client: String,
    date: String,
    frontend: String,
    backend_server: String,
    timers: Vec<i64>,
    status: i32,
    bytes: u64,
    cookies: (String, String),
    term: String,
    conns: Vec<String>,
    queues: String,
    request: String,
}

fn parse_httplog(msg: &str) -> HttpLog {
    let q = msg
        .find('"')
        .unwrap_or_else(|| panic!("quoted request: {msg:?}"));
    let request = msg[q..]
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or_else(|| panic!("request line in quotes at the end: {msg:?}"));
    let f: Vec<&str> = msg[..q].split(' ').filter(|s| !s.is_empty()).collect();
    assert_eq!(
        f.len(),
        12,
        "httplog has 12 fields before the request: {msg:?}"
    );
    HttpLog {
        client: f[0].into(),
        date: f[1].into(),
        frontend: f[2].into(),
        backend_server: f[3].into(),
        timers: f[4].split('/').map(|t| t.parse().unwrap()).collect(),
        status: f[5].parse().unwrap(),
        bytes: f[6].parse().unwrap(),
        cookies: (f[7].into(), f[8].into()),
        term: f[9].into(),
        conns: f[10].split('/').map(str::to_string).collect(),
        queues: f[11].into(),
        request: request.into(),
    }
}

/// A tcplog message taken apart.
#[derive(Debug)]
struct TcpLog {
    client: String,
    date: String,
    frontend: String,
    backend_server: String,
    timers: Vec<i64>,
    bytes: u64,
    term: String,
    conns: Vec<String>,
    queues: String,
}

fn parse_tcplog(msg: &str) -> TcpLog {
    let f: Vec<&str> = msg.split(' ').collect();
    assert_eq!(f.len(), 9, "tcplog has 9 fields: {msg:?}");
    TcpLog {
        client: f[0].into(),
        date: f[1].into(),
        frontend: f[2].into(),
        backend_server: f[3].into(),
        timers: f[4].split('/').map(|t| t.parse().unwrap()).collect(),
        bytes: f[5].parse().unwrap(),
        term: f[6].into(),
        conns: f[7].split('/').map(str::to_string).collect(),
        queues: f[8].into(),
    }
}

/// `global` lines sending to `syslog` as local0 (all levels).
fn to_syslog(cfg: ListenCfg, syslog: &Syslog) -> ListenCfg {
    cfg.global(&format!("log 127.0.0.1:{} local0", syslog.port()))
        .line("log global")
}

#[test]
fn httplog_line_field_by_field() {
    let mut syslog = Syslog::new();
    let be = HttpBackend::start("a");
    let cfg = to_syslog(ListenCfg::http(free_port()), &syslog)
        .global("log-send-hostname lb-test-host")
        .line("option httplog")
        .server("a", be.port());
    let lb = Ringlb::start(&cfg.render());

    let s = connect(lb.port());
    let client = s.local_addr().unwrap();
    let req = b"GET /hello?x=1 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    let (resp, _) = raw_exchange_on(s, req, Duration::from_secs(5));
    assert!(resp.starts_with(b"HTTP/1.1 200"), "{resp:?}");

    let raw = syslog.wait("for the request", |l| l.contains("/hello?x=1"));
    let line = parse_syslog(&raw);
    assert_eq!(line.pri, 134, "local0.info: {raw}");
    check_stamp(&line.stamp);
    assert_eq!(line.host.as_deref(), Some("lb-test-host"), "{raw}");
    assert_eq!(line.pid, lb.pid() as u32, "{raw}");

    let h = parse_httplog(&line.msg);
    assert_eq!(h.client, format!("127.0.0.1:{}", client.port()));
    let (day, month) = check_accept_date(&h.date);
    assert_eq!(
        (day, month.as_str()),
        (
            line.stamp[4..6].trim_start().parse().unwrap(),
            &line.stamp[..3]
        ),
        "accept date and header date agree: {raw}"
    );
    assert_eq!(h.frontend, "test");
    assert_eq!(h.backend_server, "test/a");
    assert_eq!(h.timers.len(), 5, "TR/Tw/Tc/Tr/Ta: {raw}");
    assert!(
        h.timers.iter().all(|&t| t >= 0),
        "every stage reached: {raw}"
    );
    let (tr, tw, tc, trr, ta) = (
        h.timers[0],
        h.timers[1],
        h.timers[2],
        h.timers[3],
        h.timers[4],
    );
    assert!(tr + tw + tc + trr <= ta + 1, "stages fit in Ta: {raw}");
    assert!(ta < 2000, "{raw}");
    assert_eq!(h.status, 200);
    // On purpose unlike HAProxy 2.6, which logs its HTX message size (52
    // for a 41-byte answer, more than it sends): the bytes the client got,
    // as HAProxy's configuration.txt defines "bytes_read".
    assert_eq!(
        h.bytes,
        resp.len() as u64,
        "bytes read = the response's length"
    );
    assert_eq!(h.cookies, ("-".into(), "-".into()), "no captures");
    assert_eq!(h.term, "----", "normal termination, no cookie: {raw}");
    assert_eq!(h.conns.len(), 5, "{raw}");
    let n: Vec<u64> = h.conns[..4].iter().map(|c| c.parse().unwrap()).collect();
    assert!(
        n.iter().all(|&c| c >= 1),
        "the exchange itself is counted: {raw}"
    );
    assert_eq!(h.conns[4], "0", "no retries: {raw}");
    assert_eq!(h.queues, "0/0");
    assert_eq!(h.request, "GET /hello?x=1 HTTP/1.1");
    println!("sample httplog line: {}", raw.trim_end());

    // Each exchange of a kept-alive connection has its own line.
    let mut c = HttpClient::connect(lb.port());
    for i in 0..3 {
        assert_eq!(c.get(&format!("/ka/{i}")).status, 200);
    }
    for i in 0..3 {
        let raw = syslog.wait("for a kept-alive exchange", |l| {
            l.contains(&format!("\"GET /ka/{i} HTTP/1.1\""))
        });
        let h = parse_httplog(&parse_syslog(&raw).msg);
        assert_eq!((h.status, h.term.as_str()), (200, "----"), "{raw}");
    }

    // At start, HAProxy's notice for each proxy.
    let raw = syslog.wait("saying the proxy started", |l| {
        l.contains("Proxy test started.")
    });
    let line = parse_syslog(&raw);
    assert_eq!((line.pri, line.msg.as_str()), (133, "Proxy test started."));
}

#[test]
fn tcplog_line_for_a_tcp_proxy() {
    let mut syslog = Syslog::new();
    let be = TcpBackend::echo();
    let cfg = to_syslog(ListenCfg::tcp(free_port()), &syslog)
        .line("option tcplog")
        .server("a", be.port);
    let lb = Ringlb::start(&cfg.render());

    let mut s = connect(lb.port());
    let client = s.local_addr().unwrap();
    s.write_all(b"ping-pong").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"ping-pong");

    let port = format!("127.0.0.1:{} ", client.port());
    let raw = syslog.wait("for the session", |l| l.contains(&port));
    let line = parse_syslog(&raw);
    assert_eq!(line.pri, 134, "{raw}");
    assert_eq!(line.host, None, "no log-send-hostname: {raw}");
    let t = parse_tcplog(&line.msg);
    assert_eq!(t.client, format!("127.0.0.1:{}", client.port()));
    check_accept_date(&t.date);
    assert_eq!(
        (t.frontend.as_str(), t.backend_server.as_str()),
        ("test", "test/a")
    );
    assert_eq!(t.timers.len(), 3, "Tw/Tc/Tt: {raw}");
    assert!(t.timers.iter().all(|&v| v >= 0), "{raw}");
    assert!(t.timers[0] + t.timers[1] <= t.timers[2] + 1, "{raw}");
    assert_eq!(t.bytes, 9, "bytes sent to the client: {raw}");
    assert_eq!(t.term, "--", "both sides closed normally: {raw}");
    assert_eq!(t.conns.len(), 5);
    assert_eq!(t.conns[4], "0");
    assert_eq!(t.queues, "0/0");
    println!("sample tcplog line: {}", raw.trim_end());
}

#[test]
fn dontlognull_skips_sessions_that_sent_nothing() {
    let mut syslog = Syslog::new();
    let be = TcpBackend::echo();
    let cfg = to_syslog(ListenCfg::tcp(free_port()), &syslog)
        .line("option tcplog")
        .line("option dontlognull")
        .server("a", be.port);
    let lb = Ringlb::start(&cfg.render());

    // A probe: connect and close without a byte.
    let probe = connect(lb.port());
    let probe_port = probe.local_addr().unwrap().port();
    drop(probe);
    // A real session.
    let mut s = connect(lb.port());
    let real_port = s.local_addr().unwrap().port();
    s.write_all(b"data").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();

    syslog.wait("for the session with data", |l| {
        l.contains(&format!("127.0.0.1:{real_port} "))
    });
    syslog.collect(Duration::from_millis(300));
    assert!(
        syslog.with(&format!("127.0.0.1:{probe_port} ")).is_empty(),
        "the empty session is not logged: {:?}",
        syslog.seen
    );
}

#[test]
fn dead_server_gives_503_with_sc_and_its_retries() {
    let mut syslog = Syslog::new();
    let cfg = to_syslog(ListenCfg::http(free_port()), &syslog)
        .line("option httplog")
        .line("retries 2")
        .server("gone", closed_port());
    let lb = Ringlb::start(&cfg.render());

    let s = connect(lb.port());
    let (resp, _) = raw_exchange_on(
        s,
        b"GET /dead HTTP/1.1\r\nHost: test\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(resp.starts_with(b"HTTP/1.1 503"), "{resp:?}");
    let raw = syslog.wait("for the 503", |l| l.contains("/dead"));
    let h = parse_httplog(&parse_syslog(&raw).msg);
    assert_eq!(h.backend_server, "test/gone", "{raw}");
    assert_eq!(h.status, 503);
    assert_eq!(h.term, "SC--", "the server refused the connection: {raw}");
    assert_eq!(
        &h.timers[2..4],
        &[-1, -1],
        "never connected, no response: {raw}"
    );
    assert_eq!(h.bytes, resp.len() as u64, "the error page was sent: {raw}");
    assert_eq!(h.conns[4], "2", "both retries counted: {raw}");
    assert_eq!(h.request, "GET /dead HTTP/1.1");
    println!("sample 503 line: {}", raw.trim_end());
}

#[test]
fn request_timeout_gives_408_with_cr() {
    let mut syslog = Syslog::new();
    let be = HttpBackend::start("a");
    let cfg = to_syslog(ListenCfg::http(free_port()), &syslog)
        .line("option httplog")
        .line("timeout http-request 300ms")
        .server("a", be.port());
    let lb = Ringlb::start(&cfg.render());

    // Half a request head, then silence.
    let s = connect(lb.port());
    let port = s.local_addr().unwrap().port();
    let (resp, _) = raw_exchange_on(s, b"GET /slow HTTP/1.1\r\nHo", Duration::from_secs(5));
    assert!(resp.starts_with(b"HTTP/1.1 408"), "{resp:?}");
    let raw = syslog.wait("for the 408", |l| l.contains(&format!("127.0.0.1:{port} ")));
    let h = parse_httplog(&parse_syslog(&raw).msg);
    assert_eq!(h.status, 408, "{raw}");
    assert_eq!(
        h.term, "cR--",
        "client timeout while sending its request: {raw}"
    );
    assert_eq!(h.backend_server, "test/<NOSRV>", "{raw}");
    assert_eq!(h.timers[..4], [-1, -1, -1, -1], "{raw}");
    assert!(h.timers[4] >= 250, "Ta covers the wait: {raw}");
    assert_eq!(h.request, "<BADREQ>", "{raw}");
    println!("sample 408 line: {}", raw.trim_end());
}

#[test]
fn an_empty_connection_timing_out_is_logged_unless_dontlognull() {
    for dontlognull in [false, true] {
        let mut syslog = Syslog::new();
        let be = HttpBackend::start("a");
        let mut cfg = to_syslog(ListenCfg::http(free_port()), &syslog)
            .line("option httplog")
            .line("timeout http-request 200ms")
            .server("a", be.port());
        if dontlognull {
            cfg = cfg.line("option dontlognull");
        }
        let lb = Ringlb::start(&cfg.render());
        let s = connect(lb.port());
        let port = s.local_addr().unwrap().port();
        let (resp, _) = raw_exchange_on(s, b"", Duration::from_secs(5));
        assert!(resp.starts_with(b"HTTP/1.1 408"), "{resp:?}");
        let needle = format!("127.0.0.1:{port} ");
        if dontlognull {
            syslog.collect(Duration::from_millis(400));
            assert!(syslog.with(&needle).is_empty(), "{:?}", syslog.seen);
        } else {
            let raw = syslog.wait("for the 408", |l| l.contains(&needle));
            let h = parse_httplog(&parse_syslog(&raw).msg);
            assert_eq!((h.status, h.term.as_str()), (408, "cR--"), "{raw}");
        }
    }
}

#[test]
fn health_check_lines_reach_the_same_syslog_with_each_targets_level() {
    let mut syslog = Syslog::new();
    let a = CheckedBackend::start("a", "/check");
    let b = CheckedBackend::start("b", "/check");
    // The seed's pair of targets: everything on local0, notice and above on local1.
    let cfg = to_syslog(ListenCfg::http(free_port()), &syslog)
        .global(&format!("log 127.0.0.1:{} local1 notice", syslog.port()))
        .line("option httplog")
        .line("option httpchk GET /check")
        .line(&format!(
            "server a 127.0.0.1:{} check inter 100 rise 1 fall 1",
            a.port()
        ))
        .line(&format!(
            "server b 127.0.0.1:{} check inter 100 rise 1 fall 1",
            b.port()
        ));
    let lb = Ringlb::start(&cfg.render());
    a.wait_checks(1);
    // Some traffic: an info line, for local0 only.
    assert_eq!(HttpClient::connect(lb.port()).get("/traffic").status, 200);
    a.set_check_status(500);

    let down = "Server test/a is DOWN, reason: Layer7 wrong status, code: 500";
    let raw = syslog.wait("saying a is DOWN", |l| l.contains(down));
    let line = parse_syslog(&raw);
    assert!(line.msg.ends_with(
        ". 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    ), "{raw}");
    // Alert: local0 (16*8+1) and local1 (17*8+1) both take it.
    syslog.collect(Duration::from_millis(300));
    let mut pris: Vec<u32> = syslog
        .with(down)
        .iter()
        .map(|l| parse_syslog(l).pri)
        .collect();
    pris.sort_unstable();
    assert_eq!(pris, vec![129, 137], "{:?}", syslog.seen);
    // Info: local0 only.
    let pris: Vec<u32> = syslog
        .with("/traffic")
        .iter()
        .map(|l| parse_syslog(l).pri)
        .collect();
    assert_eq!(pris, vec![134], "{:?}", syslog.seen);
    // With a log target, the state lines go there rather than to stderr.
    assert!(!lb.stderr().contains("is DOWN"), "{}", lb.stderr());

    a.set_check_status(200);
    let raw = syslog.wait("saying a is UP", |l| l.contains("Server test/a is UP"));
    assert_eq!(parse_syslog(&raw).pri, 133, "local0.notice: {raw}");
}

#[test]
fn default_format_is_one_connect_line_per_connection() {
    let mut syslog = Syslog::new();
    let be = HttpBackend::start("a");
    let cfg = to_syslog(ListenCfg::http(free_port()), &syslog).server("a", be.port());
    let lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let client = c.conn.stream.local_addr().unwrap();
    assert_eq!(c.get("/one").status, 200);
    assert_eq!(c.get("/two").status, 200);
    let want = format!(
        "Connect from 127.0.0.1:{} to 127.0.0.1:{} (test/HTTP)",
        client.port(),
        lb.port()
    );
    let raw = syslog.wait("connect line", |l| l.contains(&want));
    assert_eq!(parse_syslog(&raw).msg, want);
    syslog.collect(Duration::from_millis(200));
    assert_eq!(syslog.with(&want).len(), 1, "once per connection");
    assert!(syslog.with("/one").is_empty(), "no httplog line");
}

#[test]
fn log_stdout_raw_and_stderr_rfc3164() {
    let be = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global("log stdout format raw local0")
        .global("log stderr local0")
        .line("log global")
        .line("option httplog")
        .server("a", be.port());
    let lb = Ringlb::start(&cfg.render());
    assert_eq!(HttpClient::connect(lb.port()).get("/container").status, 200);
    let stdout = lb.dir().join("stdout.log");
    let mut out = String::new();
    let end = Instant::now() + Duration::from_secs(5);
    while !out.contains("/container") && Instant::now() < end {
        thread::sleep(Duration::from_millis(20));
        out = std::fs::read_to_string(&stdout).unwrap_or_default();
    }
    let line = out
        .lines()
        .find(|l| l.contains("/container"))
        .unwrap_or_else(|| panic!("stdout: {out:?}"));
    // Raw: the httplog message alone, one line.
    let h = parse_httplog(line);
    assert_eq!((h.status, h.term.as_str()), (200, "----"), "{line}");
    assert!(line.starts_with("127.0.0.1:"), "{line}");
    // stderr: the same message under an RFC 3164 header.
    let err = lb.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("/container"))
        .unwrap_or_else(|| panic!("stderr: {err:?}"));
    let parsed = parse_syslog(&format!("{line}\n"));
    assert_eq!((parsed.pri, parsed.pid), (134, lb.pid() as u32));
    assert_eq!(
        parse_httplog(&parsed.msg).request,
        "GET /container HTTP/1.1"
    );
}

/// Runs `n` keep-alive requests; returns how long they took.
fn requests(port: u16, n: usize) -> Duration {
    let start = Instant::now();
    let mut c = HttpClient::connect(port);
    for i in 0..n {
        assert_eq!(c.get(&format!("/r/{i}")).status, 200);
    }
    start.elapsed()
}

#[test]
fn traffic_keeps_its_pace_when_syslog_is_absent_or_full() {
    const N: usize = 1500;
    let be = HttpBackend::start("a");
    let base = ListenCfg::http(free_port())
        .line("log global")
        .line("option httplog")
        .server("a", be.port());

    // Nobody listens on the UDP port.
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let lb = Ringlb::start(
        &base
            .clone()
            .global(&format!("log 127.0.0.1:{closed_port} local0"))
            .render(),
    );
    let t_closed = requests(lb.port(), N);
    drop(lb);

    // A local syslog socket that never reads: its queue fills, then every
    // send would block; ringlb drops instead.
    let dir = std::env::temp_dir().join(format!("ringlb-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("full.sock");
    let _ = std::fs::remove_file(&path);
    let full = UnixDatagram::bind(&path).unwrap();
    let lb = Ringlb::start(
        &ListenCfg::http(free_port())
            .global(&format!("log {} local0", path.display()))
            .line("log global")
            .line("option httplog")
            .server("a", be.port())
            .render(),
    );
    let t_full = requests(lb.port(), N);
    // The socket did receive lines until it was full.
    let mut buf = [0u8; 2048];
    full.set_nonblocking(true).unwrap();
    let mut queued = Vec::new();
    while let Ok(n) = full.recv(&mut buf) {
        queued.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        queued.iter().any(|l| l.contains("\"GET /r/0 HTTP/1.1\"")),
        "{queued:?}"
    );
    assert!(queued.len() < N, "the queue filled: {} lines", queued.len());
    drop(lb);

    // The same traffic without logging, for the pace.
    let lb = Ringlb::start(&ListenCfg::http(free_port()).server("a", be.port()).render());
    let t_none = requests(lb.port(), N);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{N} requests: {t_none:?} without logs, {t_closed:?} to a closed port, {t_full:?} to a full socket"
    );
    let bound = t_none * 3 + Duration::from_secs(2);
    assert!(
        t_closed < bound && t_full < bound,
        "{N} requests: {t_none:?} without logs, {t_closed:?} to a closed port, {t_full:?} to a full socket"
    );
}

/// A request rule's own answer (here a redirect) logs `<NOSRV>`, as HAProxy
/// 2.6 does (`fe fe/<NOSRV> ... 302 ... LR--`); only the stats page is
/// `<STATS>`. ringlb logged `<STATS>` for every answer it made itself.
#[test]
fn a_rule_answer_logs_nosrv_and_the_stats_page_stats() {
    let mut syslog = Syslog::new();
    let be = HttpBackend::start("a");
    let cfg = to_syslog(ListenCfg::http(free_port()), &syslog)
        .line("option httplog")
        .line("stats enable")
        .line("stats uri /st")
        .line("http-request redirect location /elsewhere if { path /old }")
        .server("a", be.port());
    let lb = Ringlb::start(&cfg.render());
    for (path, want_status, want_server) in
        [("/old", 302, "test/<NOSRV>"), ("/st", 200, "test/<STATS>")]
    {
        let s = connect(lb.port());
        let port = s.local_addr().unwrap().port();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let _ = raw_exchange_on(s, req.as_bytes(), Duration::from_secs(5));
        let raw = syslog.wait(path, |l| l.contains(&format!("127.0.0.1:{port} ")));
        let h = parse_httplog(&parse_syslog(&raw).msg);
        assert_eq!(h.status, want_status, "{raw}");
        assert_eq!(h.backend_server, want_server, "{raw}");
    }
}
