//! `http-reuse`, `option prefer-last-server`, `option abortonclose` and
//! `option http-buffer-request`, end to end and against HAProxy 2.6 on the
//! same configuration text. The backend answers each request with its name
//! and the peer port of the connection the request came on, so a test sees
//! which server connection carried what.

mod common;

use common::{BufStream, HttpClient, Ringlb, TcpBackend, find, free_port};
use std::io::Write;
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What the backend saw: the request line, the head, when the connection
/// was accepted.
#[derive(Clone, Debug)]
struct Seen {
    line: String,
    head: String,
    accepted: Instant,
}

/// A backend that answers `<name> <peer port>` to every request (after
/// reading its Content-Length body; a path starting `/slow` waits 800 ms),
/// and records what it saw.
fn backend(name: &'static str) -> (TcpBackend, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let be = TcpBackend::start(move |s| {
        let accepted = Instant::now();
        let peer = s.peer_addr().map(|a| a.port()).unwrap_or(0);
        let mut bs = BufStream::new(s);
        while let Ok(Some(head)) = bs.read_head() {
            let text = String::from_utf8_lossy(&head).to_string();
            let line = text.lines().next().unwrap_or_default().to_string();
            let len = text
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if bs.read_n(len).is_err() {
                return;
            }
            log.lock().unwrap().push(Seen {
                line: line.clone(),
                head: text,
                accepted,
            });
            if line.contains(" /slow") {
                thread::sleep(Duration::from_millis(800));
            }
            let body = format!("{name} {peer}");
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if bs.stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    });
    (be, seen)
}

/// One worker (one HAProxy thread): every client meets the same pool.
fn config(port: u16, lines: &str, servers: &[u16]) -> String {
    let mut s = format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 1s\n    \
         timeout client 5s\n    timeout server 5s\n    timeout queue 5s\n\n\
         listen l\n    bind 127.0.0.1:{port}\n    balance roundrobin\n"
    );
    for l in lines.lines() {
        s += &format!("    {}\n", l.trim());
    }
    for (i, p) in servers.iter().enumerate() {
        s += &format!("    server s{} 127.0.0.1:{p}\n", i + 1);
    }
    s
}

/// The proxies to compare: ringlb, then HAProxy when installed.
enum Proxy {
    Ringlb(#[allow(dead_code)] Ringlb),
    Haproxy(#[allow(dead_code)] common::Haproxy),
}

/// Runs `check` against ringlb and then HAProxy, each started fresh on `cfg(port)`.
fn on_both(cfg: impl Fn(u16) -> String, check: impl Fn(u16, &str)) {
    for who in ["ringlb", "haproxy 2.6"] {
        let port = free_port();
        let text = cfg(port);
        let _proxy = if who == "ringlb" {
            Proxy::Ringlb(Ringlb::start(&text))
        } else {
            match common::Haproxy::start(&text, port) {
                Some(h) => Proxy::Haproxy(h),
                None => return,
            }
        };
        check(port, who);
    }
}

/// Clients one after the other, each sending `n` GETs on one connection
/// then closing; answers each request's `<server> <port>`.
fn clients(port: u16, counts: &[usize]) -> Vec<Vec<String>> {
    counts
        .iter()
        .map(|&n| {
            let mut c = HttpClient::connect(port);
            let got = (0..n)
                .map(|i| {
                    let r = c.get(&format!("/{i}"));
                    assert_eq!(r.status, 200);
                    r.text()
                })
                .collect();
            drop(c);
            thread::sleep(Duration::from_millis(150));
            got
        })
        .collect()
}

#[test]
fn reuse_modes_decide_which_connection_a_first_request_takes() {
    let (be, _) = backend("s1");
    // (mode, a lone first request reuses a connection used once, a first
    // request reuses one used twice)
    let table = [
        ("never", false, false),
        ("safe", false, false),
        ("aggressive", false, true),
        ("always", true, true),
    ];
    for (mode, reuses_once_used, reuses_proven) in table {
        let cfg = |port| config(port, &format!("http-reuse {mode}"), &[be.port]);
        on_both(cfg, |port, who| {
            let a = clients(port, &[1, 1]);
            assert_eq!(
                a[0][0] == a[1][0],
                reuses_once_used,
                "{who}, http-reuse {mode}: a second client's first request {a:?}"
            );
        });
        on_both(cfg, |port, who| {
            let b = clients(port, &[2, 2]);
            assert_eq!(
                b[0][0], b[0][1],
                "{who} {mode}: one client keeps its connection"
            );
            assert_eq!(
                b[1][0] == b[0][0],
                reuses_proven,
                "{who}, http-reuse {mode}: first request with a proven idle connection {b:?}"
            );
            if mode == "never" {
                assert_eq!(
                    b[1][0], b[1][1],
                    "{who}: never: the session's own connection"
                );
            } else {
                assert!(
                    b[1][1] == b[0][0] || b[1][1] == b[1][0],
                    "{who} {mode}: a later request takes an idle connection: {b:?}"
                );
            }
        });
    }
}

#[test]
fn prefer_last_server_keeps_a_session_on_the_server_it_holds() {
    let (b1, _) = backend("s1");
    let (b2, _) = backend("s2");
    let servers = |texts: &[String]| {
        texts
            .iter()
            .map(|t| t.split(' ').next().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    // HAProxy 2.6 prefers the last server only through a connection the
    // session holds, which only `http-reuse never` leaves it (measured: with
    // `safe`, the option changes nothing and roundrobin alternates).
    for (lines, stays) in [
        ("http-reuse never\noption prefer-last-server", true),
        ("http-reuse never", false),
        ("option prefer-last-server", false),
        ("http-reuse always\noption prefer-last-server", false),
    ] {
        on_both(
            |port| config(port, lines, &[b1.port, b2.port]),
            |port, who| {
                let got = servers(&clients(port, &[4])[0]);
                let same = got.iter().all(|s| *s == got[0]);
                let alternates = got.windows(2).all(|w| w[0] != w[1]);
                assert!(
                    if stays { same } else { alternates },
                    "{who}, {lines:?}: {got:?}"
                );
            },
        );
    }
}

/// A request queued behind a busy `maxconn 1` server, from a client that
/// closes its side right after sending it: answers whether the server ever
/// saw it, and whether the client got an answer.
fn queued_then_closed(port: u16, seen: &Mutex<Vec<Seen>>) -> (bool, bool) {
    let busy = thread::spawn(move || HttpClient::connect(port).get("/slow").status);
    thread::sleep(Duration::from_millis(200));
    let mut c = HttpClient::connect(port);
    c.send(b"GET /queued HTTP/1.1\r\nHost: x\r\n\r\n");
    // Queued by now: the close comes while it waits.
    thread::sleep(Duration::from_millis(200));
    c.conn.stream.shutdown(Shutdown::Write).unwrap();
    let answered = c.try_response().is_ok_and(|r| r.status == 200);
    assert_eq!(busy.join().unwrap(), 200);
    thread::sleep(Duration::from_millis(300));
    let reached = seen
        .lock()
        .unwrap()
        .iter()
        .any(|s| s.line.contains("/queued"));
    // The abandoned wait gave its place back: the server's one slot serves on.
    let started = Instant::now();
    assert_eq!(HttpClient::connect(port).get("/after").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the slot leaked"
    );
    (reached, answered)
}

/// Holds what is written until the FIN, so the request and the close
/// arrive in one segment: the close is there when the request is read.
fn cork(s: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a live socket with a pointer to an int that
    // outlives the call, and its exact size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "TCP_CORK");
}

#[test]
fn abortonclose_answers_400_to_a_request_that_came_with_its_close() {
    let (be, _) = backend("s1");
    for (opt, status) in [("option abortonclose", 400), ("", 200)] {
        on_both(
            |port| config(port, opt, &[be.port]),
            |port, who| {
                for _ in 0..3 {
                    let mut c = HttpClient::connect(port);
                    cork(&c.conn.stream);
                    c.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
                    c.conn.stream.shutdown(Shutdown::Write).unwrap();
                    let got = c.try_response().map_or(0, |r| r.status);
                    assert_eq!(got, status, "{who} {opt:?}");
                }
            },
        );
    }
}

#[test]
fn abortonclose_drops_a_queued_request_whose_client_left() {
    let (be, seen) = backend("s1");
    for (opt, sent) in [("option abortonclose", false), ("", true)] {
        on_both(
            |port| {
                let mut c = config(port, opt, &[]);
                c += &format!("    server s1 127.0.0.1:{} maxconn 1\n", be.port);
                c
            },
            |port, who| {
                seen.lock().unwrap().clear();
                let (reached, answered) = queued_then_closed(port, &seen);
                assert_eq!(
                    reached, sent,
                    "{who} {opt:?}: did the queued request reach the server"
                );
                assert_eq!(
                    answered, sent,
                    "{who} {opt:?}: did the half-closed client get the answer"
                );
            },
        );
    }
}

/// Sends a POST head, waits, then its body; answers when the body left and
/// the response. With `expect`, the body waits for `100 Continue`.
fn slow_post(port: u16, expect: bool) -> (Instant, common::Response) {
    let mut c = HttpClient::connect(port);
    let extra = if expect {
        "Expect: 100-continue\r\n"
    } else {
        ""
    };
    c.send(format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n{extra}\r\n").as_bytes());
    if expect {
        let interim = common::read_response(&mut c.conn, false).expect("an interim response");
        assert_eq!(interim.status, 100);
    }
    thread::sleep(Duration::from_millis(400));
    let body_sent = Instant::now();
    c.send(b"hello");
    (body_sent, c.response())
}

#[test]
fn http_buffer_request_connects_only_once_the_body_is_in() {
    let (be, seen) = backend("s1");
    for (opt, waits) in [("option http-buffer-request", true), ("", false)] {
        on_both(
            |port| config(port, opt, &[be.port]),
            |port, who| {
                seen.lock().unwrap().clear();
                let (body_sent, r) = slow_post(port, false);
                assert_eq!(r.status, 200, "{who}");
                let s = seen.lock().unwrap()[0].clone();
                assert_eq!(
                    s.accepted >= body_sent,
                    waits,
                    "{who} {opt:?}: server connection opened {:?} the body was sent",
                    if s.accepted >= body_sent {
                        "after"
                    } else {
                        "before"
                    }
                );
            },
        );
    }
}

#[test]
fn http_buffer_request_answers_100_continue_itself() {
    let (be, seen) = backend("s1");
    on_both(
        |port| config(port, "option http-buffer-request", &[be.port]),
        |port, who| {
            seen.lock().unwrap().clear();
            let (body_sent, r) = slow_post(port, true);
            assert_eq!(r.status, 200, "{who}");
            let s = seen.lock().unwrap()[0].clone();
            assert!(s.accepted >= body_sent, "{who}: connected before the body");
            assert!(
                find(s.head.to_ascii_lowercase().as_bytes(), b"expect:").is_none(),
                "{who}: the server was asked to continue again: {}",
                s.head
            );
        },
    );
}

/// A POST whose 6-byte body comes one byte every 300 ms, longer than
/// `timeout server` (1 s) in all: answers the status, 0 if none came.
fn slow_upload(port: u16) -> u16 {
    let mut c = HttpClient::connect(port);
    c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n");
    for _ in 0..6 {
        thread::sleep(Duration::from_millis(300));
        if c.conn.stream.write_all(b"x").is_err() {
            break;
        }
    }
    c.try_response().map_or(0, |r| r.status)
}

#[test]
fn a_write_to_the_server_refreshes_its_timeout_unless_independent_streams() {
    let (be, _) = backend("s1");
    for (opt, status) in [("", 200), ("option independent-streams", 504)] {
        on_both(
            |port| config(port, &format!("timeout server 1s\n{opt}"), &[be.port]),
            |port, who| {
                assert_eq!(slow_upload(port), status, "{who} {opt:?}");
            },
        );
    }
}
