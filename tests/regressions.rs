//! Regression tests for bugs found in review, HTTP mode, each the end-to-end
//! form of a reviewer's reproduction (`e1` … `e13`):
//! - a keep-alive request racing the 1 s idle wake-up is not lost (e5);
//! - a bare LF in a chunk extension is refused, nothing is smuggled (e4);
//! - `Expect: 100-continue` to a server that never sends 100 completes (e1);
//! - a redispatched connection is filed under its real server (e3);
//! - a late body after a HEAD response never reaches the next client (e12);
//! - pooled connections the server closed are not used for a POST (e8), and are
//!   reaped instead of lingering in CLOSE-WAIT (e6);
//! - request and response travel at the same time: an early 413 and a
//!   streaming echo both work (e10);
//! - `maxconn 1` with two frontends serves either one (e13);
//! - protocol details: no 100 to an HTTP/1.0 client, a response whose
//!   Transfer-Encoding does not end in chunked is close-delimited, two Host
//!   headers are refused, the status line is HTTP/1.1 (e7).

mod common;

use common::{
    HttpBackend, HttpClient, IO_TIMEOUT, ListenCfg, Response, Ringlb, TCP_CLOSE_WAIT, TcpBackend,
    assert_same_bytes, connect, exchange, find, free_port, get, parse_response, pattern,
    raw_exchange, read_response, read_until_close, sockets_to_port_in_state,
};
use common::BufStream;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A small deterministic spread in `[lo, hi]` for client `i`, round `r`.
fn spread(i: usize, r: usize, lo: i64, hi: i64) -> i64 {
    let x = (i as u64)
        .wrapping_mul(2654435761)
        .wrapping_add((r as u64).wrapping_mul(40503))
        .wrapping_add(17);
    lo + (x % ((hi - lo + 1) as u64)) as i64
}

/// Parses `Content-Length` out of a raw request head (0 when absent).
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// e5: idle keep-alive wake-up
// ---------------------------------------------------------------------------

#[test]
fn keepalive_request_racing_the_idle_wakeup_is_not_lost() {
    // Between requests the session wakes up every second to look for a soft
    // stop. Requests sent ~1.0 s after the previous response land right at that
    // wake-up: the read it cancels must not swallow them.
    const CLIENTS: usize = 40;
    const ROUNDS: usize = 3;
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .timeout_client("20s")
        .server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let port = lb.port();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || -> Result<(), String> {
                let mut c = HttpClient::connect(port);
                // A lost request shows as a read timeout; keep it short but far
                // above any real latency.
                c.conn
                    .stream
                    .set_read_timeout(Some(Duration::from_millis(2500)))
                    .unwrap();
                let req = b"GET /ka HTTP/1.1\r\nHost: test\r\n\r\n";
                for round in 0..=ROUNDS {
                    if round > 0 {
                        // 996 ms .. 1002 ms: around the 1 s idle slice.
                        let us = 1_000_000 + spread(i, round, -4000, 2000);
                        thread::sleep(Duration::from_micros(us as u64));
                    }
                    c.send(req);
                    match c.try_response() {
                        Ok(r) if r.status == 200 => {}
                        Ok(r) => return Err(format!("client {i} round {round}: {}", r.status)),
                        Err(e) => {
                            return Err(format!(
                                "client {i} round {round}: no response ({e}); partial: {:?}",
                                String::from_utf8_lossy(c.conn.buffered())
                            ));
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();
    let errors: Vec<String> = clients
        .into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect();
    assert!(
        errors.is_empty(),
        "{} of {CLIENTS} clients lost a request: {errors:?}",
        errors.len()
    );
    assert_eq!(a.request_count(), CLIENTS * (ROUNDS + 1));
}

// ---------------------------------------------------------------------------
// e4: request smuggling through lenient chunk framing
// ---------------------------------------------------------------------------

/// A backend whose lines end only at CRLF (a bare LF is data, as in parsers
/// that split on CRLF). Records each request line; answers `answer to <line>`
/// after 50 ms of "application latency".
fn crlf_only_backend(seen: Arc<Mutex<Vec<String>>>) -> TcpBackend {
    TcpBackend::start(move |s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        let mut line = || -> Option<Vec<u8>> {
            let mut b = Vec::new();
            while !b.ends_with(b"\r\n") {
                let mut one = Vec::new();
                // read_until LF, then keep going unless it was CRLF.
                if r.read_until(b'\n', &mut one).ok()? == 0 {
                    return None;
                }
                b.extend(one);
            }
            b.truncate(b.len() - 2);
            Some(b)
        };
        loop {
            let Some(reqline) = line() else { return };
            let mut chunked = false;
            let mut cl = 0usize;
            loop {
                let Some(h) = line() else { return };
                if h.is_empty() {
                    break;
                }
                let h = String::from_utf8_lossy(&h).to_ascii_lowercase();
                if let Some((n, v)) = h.split_once(':') {
                    match n.trim() {
                        "transfer-encoding" => chunked = v.trim() == "chunked",
                        "content-length" => cl = v.trim().parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
            let mut skip = |n: usize, r: &mut BufReader<TcpStream>| -> Option<()> {
                let mut b = vec![0u8; n];
                r.read_exact(&mut b).ok()
            };
            if chunked {
                loop {
                    let Some(sz) = line() else { return };
                    let sz = String::from_utf8_lossy(&sz).into_owned();
                    let Ok(n) = usize::from_str_radix(sz.split(';').next().unwrap().trim(), 16)
                    else {
                        return;
                    };
                    if n == 0 {
                        loop {
                            match line() {
                                Some(t) if t.is_empty() => break,
                                Some(_) => {}
                                None => return,
                            }
                        }
                        break;
                    }
                    // `line` borrows the reader: go through its buffer directly.
                    drop(line);
                    if skip(n + 2, &mut r).is_none() {
                        return;
                    }
                    line = || None;
                    unreachable!()
                }
            } else if cl > 0 && skip(cl, &mut r).is_none() {
                return;
            }
            let reqline = String::from_utf8_lossy(&reqline).into_owned();
            seen.lock().unwrap().push(reqline.clone());
            thread::sleep(Duration::from_millis(50));
            let body = format!("answer to {reqline}");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if w.write_all(resp.as_bytes()).is_err() {
                return;
            }
        }
    })
}
