//! Header and cookie captures in httplog lines, and unique request ids, end
//! to end next to HAProxy 2.6 on the same configuration: each proxy logs to
//! its own UDP socket (the test plays syslog), and an origin that answers
//! with repeated headers and cookies echoes the head it received, so the
//! test sees the `X-Unique-ID` header each proxy added.
//!
//! Captures compare field for field (`%CC %CS %tsc {%hr} {%hs} "%r"`); unique
//! ids differ in value (ports, dates, pids), so their shape is compared and
//! their fields decoded against what the test knows (client port, proxy port,
//! the date, ringlb's pid).

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{BufStream, Haproxy, Ringlb, free_port, read_response};

/// An origin whose response carries repeated headers and two cookies, and
/// whose body is the request head it received.
fn origin() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            thread::spawn(move || serve(s));
        }
    });
    port
}

fn serve(s: TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut bs = BufStream::new(s);
    while let Ok(Some(head)) = bs.read_head() {
        let resp = format!(
            "HTTP/1.1 200 OK\r\nX-Resp: a|b{{c}}#d\r\nX-Resp: second\r\n\
             Set-Cookie: SESS=abc123; path=/\r\nSet-Cookie: SESSX=zzz; path=/\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            head.len()
        );
        if bs.stream.write_all(resp.as_bytes()).is_err() || bs.stream.write_all(&head).is_err() {
            return;
        }
    }
}

/// A syslog socket for one proxy.
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

    /// The next `n` traffic lines' messages (after `]: `), waiting at most 5 s.
    fn lines(&self, n: usize) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while got.len() < n {
            assert!(
                Instant::now() < end,
                "only {} of {n} log lines within 5 s: {got:#?}",
                got.len()
            );
            if let Ok(k) = self.0.recv(&mut buf) {
                let line = String::from_utf8_lossy(&buf[..k]).into_owned();
                // Start-up notices are not traffic lines; the probe that
                // waits for the proxy to listen logs a `<BADREQ>` line.
                if line.contains(" [") && line.contains('"') && !line.contains("\"<BADREQ>\"") {
                    let msg = line.split_once("]: ").map_or(line.as_str(), |x| x.1);
                    got.push(msg.trim_end().to_string());
                }
            }
        }
        got
    }
}

/// The fields of an httplog line both proxies must agree on:
/// `status CC CS tsc` and everything after the queues (`{hr} {hs} "request"`).
fn comparable(msg: &str) -> String {
    let f: Vec<&str> = msg.splitn(12, ' ').collect();
    assert_eq!(f.len(), 12, "not an httplog line: {msg}");
    let rest = f[11].split_once(' ').map_or("", |x| x.1);
    format!("{} {} {} {} {rest}", f[5], f[7], f[8], f[9])
}

fn config(port: u16, syslog: u16, backend: u16, front: &str) -> String {
    format!(
        "global\n    log 127.0.0.1:{syslog} local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    \
         timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n{front}    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{backend}\n"
    )
}

/// Sends `requests` on one keep-alive connection; returns the bodies (the
/// heads the origin received) and the client's port.
fn send(port: u16, requests: &[&str]) -> (Vec<String>, u16) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = s.local_addr().unwrap().port();
    let mut bs = BufStream::new(s);
    let mut bodies = Vec::new();
    for r in requests {
        bs.stream.write_all(r.as_bytes()).unwrap();
        let resp = read_response(&mut bs, false).unwrap();
        assert_eq!(resp.status, 200, "{r}");
        bodies.push(resp.text());
    }
    (bodies, local)
}

/// One run through a proxy: its log lines, per connection the heads the
/// origin received and the client's port, the proxy's port and pid.
type Run = (Vec<String>, Vec<(Vec<String>, u16)>, u16, Option<i32>);

/// Runs `requests` (each list on its own connection) through a proxy on
/// `config(front)`; `None` when HAProxy is asked for and not installed.
fn through(haproxy: bool, front: &str, requests: &[&[&str]]) -> Option<Run> {
    let backend = origin();
    let syslog = Syslog::new();
    let port = free_port();
    let cfg = config(port, syslog.port(), backend, front);
    let (_h, _r, pid);
    if haproxy {
        _h = Some(Haproxy::start(&cfg, port)?);
        pid = None;
    } else {
        let r = Ringlb::start(&cfg);
        pid = Some(r.pid());
        _r = Some(r);
    }
    let sent: Vec<_> = requests.iter().map(|r| send(port, r)).collect();
    let n = requests.iter().map(|r| r.len()).sum();
    Some((syslog.lines(n), sent, port, pid))
}

const CAPTURES: &str = "    capture request header Host len 5\n    \
    capture request header X-A len 20\n    capture request header User-Agent len 64\n    \
    declare capture request len 8\n    \
    capture response header X-Resp len 20\n    capture response header Content-Type len 4\n    \
    capture cookie SESS len 10\n";

#[test]
fn captured_headers_and_cookies_in_the_log_as_haproxy() {
    let requests: &[&[&str]] = &[
        &[
            "GET /p HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: first\r\nX-A: a|b{c}\"#é x\r\n\
             User-Agent: UA x\r\nCookie: a=1; SESSX=q; SESS=hello_world_long\r\n\r\n",
            // Keep-alive: nothing of the first request's captures is left over.
            "GET /second HTTP/1.1\r\nHost: h\r\n\r\n",
        ],
        &["GET /third?x=%22 HTTP/1.1\r\nhost: Example.COM\r\nx-a:  spaced  \r\n\r\n"],
    ];
    let (rl, ..) = through(false, CAPTURES, requests).unwrap();
    let ringlb: Vec<String> = rl.iter().map(|l| comparable(l)).collect();
    assert_eq!(
        ringlb[0],
        "200 SESSX=q SESS=abc12 ---- {127.0|a#7Cb#7Bc#7D#22#23#C3#A9 x|UA x|} {second|text} \
         \"GET /p HTTP/1.1\""
    );
    assert_eq!(
        ringlb[1],
        "200 - SESS=abc12 ---- {h|||} {second|text} \"GET /second HTTP/1.1\""
    );
    let Some((hl, ..)) = through(true, CAPTURES, requests) else {
        return;
    };
    let haproxy: Vec<String> = hl.iter().map(|l| comparable(l)).collect();
    // Lines may arrive in any order across connections: compare as sets.
    let (mut a, mut b) = (ringlb.clone(), haproxy);
    a.sort();
    b.sort();
    assert_eq!(a, b, "ringlb {rl:#?}\nhaproxy {hl:#?}");
}

#[test]
fn no_captures_leave_the_default_fields() {
    let (rl, ..) = through(false, "", &[&["GET / HTTP/1.1\r\nHost: h\r\n\r\n"]]).unwrap();
    assert_eq!(comparable(&rl[0]), "200 - - ---- \"GET / HTTP/1.1\"");
    // Response captures only: the request block is left out entirely.
    let front = "    capture response header X-Resp len 3\n";
    let (rl, ..) = through(false, front, &[&["GET / HTTP/1.1\r\nHost: h\r\n\r\n"]]).unwrap();
    assert_eq!(comparable(&rl[0]), "200 - - ---- {sec} \"GET / HTTP/1.1\"");
    if let Some((hl, ..)) = through(true, front, &[&["GET / HTTP/1.1\r\nHost: h\r\n\r\n"]]) {
        assert_eq!(comparable(&hl[0]), comparable(&rl[0]));
    }
}

/// The `X-Unique-ID` headers the origin saw, with the other header names
/// around it (to compare where the header goes).
fn ids(bodies: &[String]) -> Vec<(String, Vec<String>)> {
    bodies
        .iter()
        .map(|b| {
            let names: Vec<String> = b
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':').map(|(n, _)| n.to_ascii_lowercase()))
                .collect();
            let id = b
                .lines()
                .filter_map(|l| l.split_once(": "))
                .filter(|(n, _)| n.eq_ignore_ascii_case("x-unique-id"))
                .map(|(_, v)| v.to_string())
                .next_back()
                .unwrap_or_default();
            (id, names)
        })
        .collect()
}

const UNIQUE: &str = "    unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid\n    \
    unique-id-header X-Unique-ID\n    option forwardfor\n";

/// Checks an id against `7F000001:8296_7F00001E:1F90_4F7B0A69_0003:790A`'s
/// shape and what the test knows; returns its `%rt`.
fn check_id(id: &str, client_port: u16, proxy_port: u16, pid: Option<i32>) -> u64 {
    let hex = |s: &str, min: usize| {
        assert!(
            s.len() >= min
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
            "'{s}' in '{id}' is not {min}+ upper-case hex digits"
        );
        u64::from_str_radix(s, 16).unwrap()
    };
    let f: Vec<&str> = id.split(['_', ':']).collect();
    assert_eq!(f.len(), 7, "{id}");
    assert_eq!(hex(f[0], 8), 0x7F00_0001);
    assert_eq!((hex(f[1], 4), f[1].len()), (u64::from(client_port), 4));
    assert_eq!(hex(f[2], 8), 0x7F00_0001);
    assert_eq!((hex(f[3], 4), f[3].len()), (u64::from(proxy_port), 4));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(hex(f[4], 8).abs_diff(now) < 30, "{id}: date");
    if let Some(pid) = pid {
        assert_eq!(hex(f[6], 4), pid as u64, "{id}: pid");
    }
    hex(f[5], 4)
}

#[test]
fn unique_id_header_as_haproxy() {
    let get = "GET /u HTTP/1.1\r\nHost: h\r\nX-Unique-ID: from-client\r\n\r\n";
    let requests: &[&[&str]] = &[&[get, get], &[get]];
    let (_, rsent, rport, pid) = through(false, UNIQUE, requests).unwrap();
    let mut counters = Vec::new();
    for (bodies, cport) in &rsent {
        for (id, _) in ids(bodies) {
            counters.push(check_id(&id, *cport, rport, pid));
        }
    }
    counters.sort();
    counters.dedup();
    assert_eq!(counters.len(), 3, "each request its own %rt: {counters:?}");
    let Some((_, hsent, hport, _)) = through(true, UNIQUE, requests) else {
        return;
    };
    for (bodies, cport) in &hsent {
        for (id, _) in ids(bodies) {
            check_id(&id, *cport, hport, None);
        }
    }
    // The header goes where HAProxy puts it: after the client's headers
    // (the client's own X-Unique-ID is kept), before X-Forwarded-For.
    let names = |sent: &[(Vec<String>, u16)]| ids(&sent[0].0)[0].1.clone();
    assert_eq!(names(&rsent), names(&hsent));
}

#[test]
fn unique_id_fetch_made_while_routing_as_haproxy() {
    // Asked for by a `use_backend` condition, the id is made before the
    // backend is chosen: `%b` is still the frontend.
    let front = "    unique-id-format %f/%b/%s/%[path]\n    unique-id-header X-Unique-ID\n    \
                 use_backend be if { unique-id -m found }\n";
    let plain = "    unique-id-format %f/%b/%s/%[path]\n    unique-id-header X-Unique-ID\n";
    let get: &[&[&str]] = &[&["GET /a HTTP/1.1\r\nHost: h\r\n\r\n"]];
    for (front, want) in [(front, "fe/fe/<NOSRV>//a"), (plain, "fe/be/<NOSRV>//a")] {
        let (_, sent, ..) = through(false, front, get).unwrap();
        assert_eq!(ids(&sent[0].0)[0].0, want);
        if let Some((_, hsent, ..)) = through(true, front, get) {
            assert_eq!(ids(&hsent[0].0)[0].0, ids(&sent[0].0)[0].0, "{front}");
        }
    }
}

/// `http-request capture ... len` adds a slot after the header captures;
/// `http-response capture ... id` fills a `declare capture response` slot;
/// the values land in the log's `{...}` blocks as HAProxy writes them.
#[test]
fn capture_actions_fill_slots_as_haproxy() {
    let front = "    capture request header Host len 10\n    \
                 declare capture response len 4\n    \
                 http-request capture path len 6\n    \
                 http-request capture req.hdr(x-b),lower len 8 if { path_beg /p }\n    \
                 http-response capture res.hdr(x-resp) id 0\n";
    let requests: &[&[&str]] = &[&[
        "GET /path/long HTTP/1.1\r\nHost: h1\r\nX-B: UPPER\r\n\r\n",
        "GET /q HTTP/1.1\r\nHost: h2\r\nX-B: skipped\r\n\r\n",
    ]];
    let (rl, ..) = through(false, front, requests).unwrap();
    let ringlb: Vec<String> = rl.iter().map(|l| comparable(l)).collect();
    assert_eq!(
        ringlb[0],
        "200 - - ---- {h1|/path/|upper} {seco} \"GET /path/long HTTP/1.1\""
    );
    assert_eq!(
        ringlb[1],
        "200 - - ---- {h2|/q|} {seco} \"GET /q HTTP/1.1\""
    );
    if let Some((hl, ..)) = through(true, front, requests) {
        let haproxy: Vec<String> = hl.iter().map(|l| comparable(l)).collect();
        assert_eq!(ringlb, haproxy);
    }
}

/// `tcp-request content capture ... len` adds a request slot in line order
/// with the others and runs before the `http-request` rules; a variable a
/// content rule sets is captured by a later `http-request capture`.
#[test]
fn tcp_content_capture_fills_a_slot_as_haproxy() {
    let front = "    capture request header Host len 4\n    \
                 tcp-request content capture req.hdr(host) len 10\n    \
                 tcp-request content set-var(txn.p) path\n    \
                 http-request capture var(txn.p) len 5\n    \
                 tcp-request content capture req.hdr(x-b),upper len 3 if { path_beg /p }\n";
    let requests: &[&[&str]] = &[&[
        "GET /path/long HTTP/1.1\r\nHost: host.example\r\nX-B: abcd\r\n\r\n",
        "GET /q HTTP/1.1\r\nHost: h2\r\nX-B: skipped\r\n\r\n",
    ]];
    let (rl, ..) = through(false, front, requests).unwrap();
    let ringlb: Vec<String> = rl.iter().map(|l| comparable(l)).collect();
    assert_eq!(
        ringlb[0],
        "200 - - ---- {host|host.examp|/path|ABC} \"GET /path/long HTTP/1.1\""
    );
    assert_eq!(ringlb[1], "200 - - ---- {h2|h2|/q|} \"GET /q HTTP/1.1\"");
    if let Some((hl, ..)) = through(true, front, requests) {
        let haproxy: Vec<String> = hl.iter().map(|l| comparable(l)).collect();
        assert_eq!(ringlb, haproxy);
    }
}
