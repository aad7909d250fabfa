//! Pooled server connections: whatever a server does to a connection just put
//! back in the pool, the next client gets the right answer or a clean error.
//! - stray bytes after a complete response are not taken for the next answer;
//! - a connection the server closed right after answering is replaced;
//! - a POST (not resendable) never rides on a connection the server closed;
//! - a request the server answered with an interim 1xx is never resent.

mod common;

use common::{BufStream, ListenCfg, Ringlb, TcpBackend, parse_response, raw_exchange};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// One worker, so that the second client meets the first one's pooled
/// connection, which `http-reuse always` lets a first request take (the
/// default `safe` would give each new client its own; `tests/http_reuse.rs`).
fn one_worker(port: u16) -> Ringlb {
    let cfg = ListenCfg::http(common::free_port())
        .global("nbthread 1")
        .line("http-reuse always")
        .server("s", port);
    Ringlb::start(&cfg.render())
}

fn get_close(port: u16, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (raw, _) = raw_exchange(port, req.as_bytes(), Duration::from_secs(3));
    let r = parse_response(&raw);
    (r.status, r.text())
}

#[test]
fn stray_bytes_after_a_response_are_not_the_next_answer() {
    // A sloppy server: a complete response, then, in a later write, bytes
    // nobody asked for. They reach the pooled connection after it was put back.
    let be = TcpBackend::start(|s| {
        let mut bs = BufStream::new(s);
        while let Ok(Some(_head)) = bs.read_head() {
            let ok = bs
                .stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nworld")
                .is_ok();
            thread::sleep(Duration::from_millis(10));
            if !ok || bs.stream.write_all(b"junk!").is_err() {
                return;
            }
        }
    });
    let lb = one_worker(be.port);
    // Each request comes after the stray bytes arrived: the peek before reuse
    // sees them (bytes racing the reuse itself cannot be told apart).
    for round in 0..3 {
        thread::sleep(Duration::from_millis(50));
        assert_eq!(
            get_close(lb.port(), "/a"),
            (200, "world".to_string()),
            "round {round}, first"
        );
        thread::sleep(Duration::from_millis(50));
        assert_eq!(
            get_close(lb.port(), "/b"),
            (200, "world".to_string()),
            "round {round}: the stray bytes were taken for the answer"
        );
    }
}

#[test]
fn a_connection_closed_after_answering_is_replaced() {
    // Keep-alive by the headers, but the server closes right after each answer.
    let be = TcpBackend::start(|s| {
        let mut bs = BufStream::new(s);
        if let Ok(Some(_head)) = bs.read_head() {
            let _ = bs
                .stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let lb = one_worker(be.port);
    for i in 0..5 {
        assert_eq!(
            get_close(lb.port(), "/"),
            (200, "ok".to_string()),
            "GET {i}"
        );
        // The server's close must have arrived before the POST: a close racing
        // the reuse itself cannot be told apart (HAProxy's `always` takes the
        // same risk; the test ran into that race once in CI on 2 busy cores).
        thread::sleep(Duration::from_millis(50));
        let post =
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
        let (raw, _) = raw_exchange(lb.port(), post, Duration::from_secs(3));
        let r = parse_response(&raw);
        assert_eq!((r.status, r.text()), (200, "ok".to_string()), "POST {i}");
    }
}

#[test]
fn a_request_answered_with_an_interim_response_is_not_resent() {
    // The second request on a connection gets `103 Early Hints`, then the
    // server closes. That request was answered (in part): resending it would
    // replay it, and the head meant for the server has been overwritten.
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    let be = TcpBackend::start(move |s| {
        let mut bs = BufStream::new(s);
        let mut on_this_conn = 0;
        while let Ok(Some(_head)) = bs.read_head() {
            seen.fetch_add(1, Ordering::SeqCst);
            on_this_conn += 1;
            let reply: &[u8] = if on_this_conn == 1 {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            } else {
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
            };
            if bs.stream.write_all(reply).is_err() || on_this_conn > 1 {
                return;
            }
        }
    });
    let lb = one_worker(be.port);
    assert_eq!(get_close(lb.port(), "/first"), (200, "ok".to_string()));
    thread::sleep(Duration::from_millis(50));
    // HTTP/1.0: the 103 is dropped for this client, so nothing reached it.
    let started = Instant::now();
    let (raw, _) = raw_exchange(
        lb.port(),
        b"GET /second HTTP/1.0\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    );
    let r = parse_response(&raw);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered after {:?}: the request was resent and waited for a reply",
        started.elapsed()
    );
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        requests.load(Ordering::SeqCst),
        2,
        "the server saw a resend"
    );
}

#[test]
fn a_closing_response_survives_bytes_the_client_sends_after() {
    // The client sends a stray CRLF while the server thinks: the held-back last
    // response must still arrive whole before the connection closes.
    let be = TcpBackend::start(|s| {
        let mut bs = BufStream::new(s);
        while let Ok(Some(_head)) = bs.read_head() {
            thread::sleep(Duration::from_millis(100));
            if bs
                .stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .is_err()
            {
                return;
            }
        }
    });
    let lb = one_worker(be.port);
    for i in 0..3 {
        let mut c = common::connect(lb.port());
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        thread::sleep(Duration::from_millis(30));
        c.write_all(b"\r\n").unwrap();
        let mut got = Vec::new();
        let _ = std::io::Read::read_to_end(&mut c, &mut got);
        let r = parse_response(&got);
        assert_eq!(
            (r.status, r.text()),
            (200, "hello".to_string()),
            "round {i}"
        );
    }
}
