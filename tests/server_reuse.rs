//! Pooled server connections reused without a peek (server::pool's trust
//! window): whatever a server does to a connection just put back in the pool,
//! a resendable request still gets the right answer.
//! - stray bytes after a complete response are not taken for the next answer;
//! - a connection the server closed right after answering is replaced;
//! - a POST (not resendable) never rides on a connection the server closed.

mod common;

use common::{BufStream, ListenCfg, Ringlb, TcpBackend, parse_response, raw_exchange};
use std::io::Write;
use std::thread;
use std::time::Duration;

/// One worker, so that the second client meets the first one's pooled connection.
fn one_worker(port: u16) -> Ringlb {
    let cfg = ListenCfg::http(common::free_port())
        .global("nbthread 1")
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
    for round in 0..3 {
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
        let post =
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
        let (raw, _) = raw_exchange(lb.port(), post, Duration::from_secs(3));
        let r = parse_response(&raw);
        assert_eq!((r.status, r.text()), (200, "ok".to_string()), "POST {i}");
    }
}
