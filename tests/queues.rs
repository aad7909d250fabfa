//! Server `maxconn` and the queues end to end: a slow backend that counts
//! the requests it serves at once, ringlb with 2 workers (the limit is the
//! whole process's), and HAProxy 2.6 on the same configuration: the same
//! statuses and the same concurrency seen by the backend. Also `timeout
//! queue` (503 `sQ` with `Tw` in the log line), the stats CSV's `qmax`, and
//! a TCP session waiting for its slot.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Haproxy, Ringlb, exchange, free_port, get_with, parse_stats_csv, stats_num, stats_row,
};

/// A backend that holds each request `hold` before answering, counting
/// the requests in flight and the most seen at once.
struct SlowBackend {
    port: u16,
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
}

impl SlowBackend {
    fn start(hold: Duration) -> SlowBackend {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (now, max, served) = Default::default();
        let b = SlowBackend {
            port,
            now,
            max,
            served,
        };
        let (now, max, served) = (b.now.clone(), b.max.clone(), b.served.clone());
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (now, max, served) = (now.clone(), max.clone(), served.clone());
                thread::spawn(move || serve(s, hold, &now, &max, &served));
            }
        });
        b
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// Forgets the maximum (between the ringlb and the HAProxy runs).
    fn reset(&self) {
        self.max.store(0, Ordering::SeqCst);
        self.served.store(0, Ordering::SeqCst);
    }
}

/// Serves keep-alive requests without bodies on one connection.
fn serve(mut s: TcpStream, hold: Duration, now: &AtomicUsize, max: &AtomicUsize, n: &AtomicUsize) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        buf.drain(..end);
        let cur = now.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(cur, Ordering::SeqCst);
        thread::sleep(hold);
        // Out of flight before answering: the proxy frees the slot after.
        now.fetch_sub(1, Ordering::SeqCst);
        n.fetch_add(1, Ordering::SeqCst);
        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

/// An HTTP configuration: one server with `maxconn 1`, `timeout queue`,
/// 2 threads, httplog to `syslog`, the stats page at /stats.
fn http_config(port: u16, backend: u16, queue: &str, syslog: u16) -> String {
    format!(
        "global\n    nbthread 2\n    log 127.0.0.1:{syslog} local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    \
         timeout client 10s\n    timeout server 10s\n    timeout queue {queue}\n\
         listen web\n    bind 127.0.0.1:{port}\n    stats enable\n    stats uri /stats\n    \
         server s1 127.0.0.1:{backend} maxconn 1\n"
    )
}

/// `n` clients at once, each one GET on its own connection; their statuses.
fn concurrent_gets(port: u16, n: usize) -> Vec<u16> {
    let clients: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn(move || {
                let req = format!("GET /{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                exchange(port, req.as_bytes(), Duration::from_secs(10))
                    .0
                    .status
            })
        })
        .collect();
    clients.into_iter().map(|c| c.join().unwrap()).collect()
}

/// Ten clients at once through a `maxconn 1` server: all served, one at a time.
fn ten_clients_one_at_a_time(port: u16, be: &SlowBackend, who: &str) {
    let start = Instant::now();
    let statuses = concurrent_gets(port, 10);
    assert_eq!(statuses, vec![200; 10], "{who}");
    assert_eq!(be.max(), 1, "{who}: never more than maxconn at the backend");
    assert_eq!(be.served(), 10, "{who}");
    assert!(
        start.elapsed() >= Duration::from_millis(10 * 200 - 50),
        "{who}: served in turn, took {:?}",
        start.elapsed()
    );
}

#[test]
fn maxconn_1_serves_ten_clients_in_turn_across_two_workers_as_haproxy() {
    let be = SlowBackend::start(Duration::from_millis(200));
    let syslog = UdpSocket::bind("127.0.0.1:0").unwrap();
    let lp = syslog.local_addr().unwrap().port();
    let port = free_port();
    let cfg = http_config(port, be.port, "10s", lp);
    {
        let rl = Ringlb::start(&cfg);
        ten_clients_one_at_a_time(rl.port(), &be, "ringlb");
        // The stats CSV saw the queue: the backend's (nothing was sticky).
        let r = get_with(rl.port(), "/stats;csv", None, None);
        let rows = parse_stats_csv(&r.text());
        let backend = stats_row(&rows, "web", "BACKEND");
        assert!(stats_num(backend, "qmax") >= 5, "qmax {}", r.text());
        assert_eq!(stats_num(backend, "qcur"), 0);
        let s1 = stats_row(&rows, "web", "s1");
        assert_eq!(stats_num(s1, "slim"), 1);
        assert_eq!(stats_num(s1, "qcur"), 0);
    }
    be.reset();
    // A port of its own: ringlb's listener may linger a moment (SO_REUSEPORT).
    let port = free_port();
    let Some(_h) = Haproxy::start(&http_config(port, be.port, "10s", lp), port) else {
        return;
    };
    ten_clients_one_at_a_time(port, &be, "haproxy 2.6");
}

/// Reads syslog lines for `d`.
fn lines(sock: &UdpSocket, d: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let end = Instant::now() + d;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

/// Two clients, one slot held 1 s, `timeout queue 300ms`: the second gets
/// 503 after ~300 ms and its log line says `sQ` with `Tw` ~300.
fn queue_expires(port: u16, syslog: &UdpSocket, who: &str) {
    let first = thread::spawn(move || concurrent_gets(port, 1));
    thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let req = b"GET /late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (resp, _) = exchange(port, req, Duration::from_secs(5));
    let waited = start.elapsed();
    assert_eq!(resp.status, 503, "{who}");
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_millis(900),
        "{who}: answered after {waited:?}"
    );
    assert_eq!(first.join().unwrap(), vec![200], "{who}");
    let seen = lines(syslog, Duration::from_millis(300));
    let line = seen
        .iter()
        .find(|l| l.contains("GET /late"))
        .unwrap_or_else(|| panic!("{who}: no log line for /late in {seen:?}"));
    // `%TR/%Tw/%Tc/%Tr/%Ta 503 ... sQ-- ... %sq/%bq`: Tc and Tr are -1.
    let timers = line
        .split_whitespace()
        .find(|f| f.matches('/').count() == 4 && f.contains("/-1/-1/"))
        .unwrap_or_else(|| panic!("{who}: no timers in {line}"));
    let tw: i64 = timers.split('/').nth(1).unwrap().parse().unwrap();
    assert!((280..900).contains(&tw), "{who}: Tw {tw} in {line}");
    assert!(line.contains(" sQ-- "), "{who}: {line}");
    // HAProxy counts the grants made while it waited, plus itself: 1.
    assert!(
        line.contains(" 0/1 \"GET /late"),
        "{who}: %sq/%bq in {line}"
    );
}

#[test]
fn timeout_queue_answers_503_sq_with_tw_as_haproxy() {
    let be = SlowBackend::start(Duration::from_millis(1000));
    let syslog = UdpSocket::bind("127.0.0.1:0").unwrap();
    let lp = syslog.local_addr().unwrap().port();
    let port = free_port();
    let cfg = http_config(port, be.port, "300ms", lp);
    {
        let rl = Ringlb::start(&cfg);
        queue_expires(rl.port(), &syslog, "ringlb");
        assert_eq!(be.max(), 1);
    }
    let port = free_port();
    let cfg = http_config(port, be.port, "300ms", lp);
    let Some(_h) = Haproxy::start(&cfg, port) else {
        return;
    };
    lines(&syslog, Duration::from_millis(100));
    queue_expires(port, &syslog, "haproxy 2.6");
}

/// An echo server counting its sessions at once; (port, most at once).
fn echo_server() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let bport = l.local_addr().unwrap().port();
    let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let m = max.clone();
    thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let (now, max) = (now.clone(), m.clone());
            thread::spawn(move || {
                let c = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(c, Ordering::SeqCst);
                let mut b = [0u8; 64];
                while let Ok(k) = s.read(&mut b) {
                    if k == 0 || s.write_all(&b[..k]).is_err() {
                        break;
                    }
                }
                now.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (bport, max)
}

fn tcp_config(port: u16, backend: u16) -> String {
    format!(
        "global\n    nbthread 2\ndefaults\n    mode tcp\n    timeout connect 1s\n    \
         timeout client 5s\n    timeout server 5s\n    timeout queue 3s\n\
         listen echo\n    bind 127.0.0.1:{port}\n    server s1 127.0.0.1:{backend} maxconn 1\n"
    )
}

/// Sends `what` and reads its echo.
fn talk(s: &mut TcpStream, what: &[u8]) -> std::io::Result<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    s.write_all(what)?;
    let mut b = vec![0u8; what.len()];
    s.read_exact(&mut b).map(|_| b)
}

/// A second session waits until the first one ends, then is relayed.
fn second_session_waits(port: u16, max: &AtomicUsize, who: &str) {
    max.store(0, Ordering::SeqCst);
    let mut a = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(talk(&mut a, b"one").unwrap(), b"one", "{who}");
    let waiter = thread::spawn(move || {
        let start = Instant::now();
        let mut b = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let r = talk(&mut b, b"two");
        (r.unwrap(), start.elapsed())
    });
    thread::sleep(Duration::from_millis(400));
    drop(a);
    let (echo, waited) = waiter.join().unwrap();
    assert_eq!(echo, b"two", "{who}");
    assert!(
        waited >= Duration::from_millis(350),
        "{who}: waited {waited:?}"
    );
    assert_eq!(max.load(Ordering::SeqCst), 1, "{who}");
}

#[test]
fn a_tcp_session_waits_for_the_servers_slot_as_haproxy() {
    let (bport, max) = echo_server();
    let port = free_port();
    {
        let rl = Ringlb::start(&tcp_config(port, bport));
        second_session_waits(rl.port(), &max, "ringlb");
    }
    let port = free_port();
    let Some(_h) = Haproxy::start(&tcp_config(port, bport), port) else {
        return;
    };
    second_session_waits(port, &max, "haproxy 2.6");
}

/// A backend of two `maxconn 1` servers, `s2` starting in maintenance,
/// `option redispatch`, an insert cookie, and an admin stats socket.
fn state_config(port: u16, s1: u16, s2: u16, sock: &std::path::Path) -> String {
    format!(
        "global\n    nbthread 2\n    stats socket {} level admin\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    \
         timeout server 10s\n    timeout queue 5s\n\
         listen web\n    bind 127.0.0.1:{port}\n    option redispatch\n    \
         cookie SRV insert indirect nocache\n    \
         server s1 127.0.0.1:{s1} maxconn 1 cookie a\n    \
         server s2 127.0.0.1:{s2} maxconn 1 cookie b disabled\n",
        sock.display()
    )
}

/// One GET with an optional cookie, on its own connection: status and time.
fn timed_get(port: u16, cookie: Option<&str>) -> (u16, Duration) {
    let c = cookie.map_or(String::new(), |c| format!("Cookie: SRV={c}\r\n"));
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\n{c}Connection: close\r\n\r\n");
    let start = Instant::now();
    let status = exchange(port, req.as_bytes(), Duration::from_secs(10))
        .0
        .status;
    (status, start.elapsed())
}

/// While `s1` holds its one slot for 1.5 s: a queued request goes to `s2`
/// as soon as the operator enables it (HAProxy's grab from the backend's
/// queue), and, with `option redispatch`, a request queued for `s1` by its
/// cookie leaves that queue for `s2` when `s1` is put in maintenance.
fn queues_follow_server_state(port: u16, sock: &std::path::Path, s2: &SlowBackend, who: &str) {
    let hold = thread::spawn(move || timed_get(port, None));
    thread::sleep(Duration::from_millis(150));
    let waiting = thread::spawn(move || timed_get(port, None));
    thread::sleep(Duration::from_millis(200));
    common::stats_command(sock, "enable server web/s2");
    let (st, took) = waiting.join().unwrap();
    assert_eq!(st, 200, "{who}");
    assert!(
        took < Duration::from_millis(1100),
        "{who}: waited {took:?} for s1"
    );
    assert_eq!(s2.served(), 1, "{who}: the queued request went to s2");
    assert_eq!(hold.join().unwrap().0, 200, "{who}");

    let hold = thread::spawn(move || timed_get(port, Some("a")));
    thread::sleep(Duration::from_millis(150));
    let sticky = thread::spawn(move || timed_get(port, Some("a")));
    thread::sleep(Duration::from_millis(200));
    common::stats_command(sock, "disable server web/s1");
    let (st, took) = sticky.join().unwrap();
    assert_eq!(st, 200, "{who}");
    assert!(
        took < Duration::from_millis(1100),
        "{who}: waited {took:?} for s1"
    );
    assert_eq!(
        s2.served(),
        2,
        "{who}: the sticky request was redispatched to s2"
    );
    assert_eq!(hold.join().unwrap().0, 200, "{who}");
}

#[test]
fn queued_requests_follow_server_state_changes_as_haproxy() {
    let s1 = SlowBackend::start(Duration::from_millis(1500));
    let s2 = SlowBackend::start(Duration::from_millis(10));
    let dir = common::TestDir::new("queue-state");
    let sock = dir.path().join("admin.sock");
    let port = free_port();
    {
        let _rl = Ringlb::start(&state_config(port, s1.port, s2.port, &sock));
        queues_follow_server_state(port, &sock, &s2, "ringlb");
    }
    s2.reset();
    let port = free_port();
    let sock = dir.path().join("haproxy.sock");
    let cfg = state_config(port, s1.port, s2.port, &sock);
    let Some(_h) = Haproxy::start(&cfg, port) else {
        return;
    };
    queues_follow_server_state(port, &sock, &s2, "haproxy 2.6");
}
