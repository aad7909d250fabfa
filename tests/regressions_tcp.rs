//! Regression tests for bugs found in review, TCP mode (reproductions `e14`,
//! `e2`/`e9`):
//! - a relay whose client direction is idle past `timeout client` while the
//!   server direction moves loses no byte when the client speaks again;
//! - a client that half-closes and stops reading, while the server keeps
//!   sending, is dropped after the write timeout, and a soft stop then ends.

mod common;

use common::{ListenCfg, Ringlb, TcpBackend, connect, free_port};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
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

#[test]
fn relay_keeps_every_message_while_the_other_direction_is_busy() {
    // Every client sends `m<k>;` once per `timeout client` (250 ms), all on one
    // schedule, while each server sends a byte every 100 ms. The client-side
    // read reaches its deadline just as the message comes; the other direction
    // moved, so the read is issued again, and what raced in must not be lost.
    const CLIENTS: usize = 100;
    const MESSAGES: usize = 12;
    const PERIOD: Duration = Duration::from_millis(250);
    let (tx, rx) = mpsc::channel::<String>();
    let be = TcpBackend::start(move |mut s| {
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        let stop = Instant::now() + Duration::from_secs(8);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < stop {
            if s.write_all(b".").is_err() {
                break;
            }
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
    });
    let cfg = ListenCfg::tcp(free_port())
        .timeout_client("250ms")
        .timeout_server("5s")
        .server("s", be.port);
    let lb = Ringlb::start(&cfg.render());
    let port = lb.port();
    let t0 = Instant::now() + Duration::from_millis(300);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || {
                let mut s = connect(port);
                let mut buf = [0u8; 4096];
                // Reads what the server sends until `end` (precisely: the send
                // that follows must land at the intended instant).
                let mut drain_until = |s: &mut std::net::TcpStream, end: Instant| {
                    loop {
                        let left = end.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        s.set_read_timeout(Some(left.min(Duration::from_millis(50))))
                            .unwrap();
                        match s.read(&mut buf) {
                            Ok(0) => return false,
                            Ok(_) => {}
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                                ) => {}
                            Err(_) => return false,
                        }
                    }
                    true
                };
                if !drain_until(&mut s, t0) {
                    return Err(format!("client {i}: relay closed before m0"));
                }
                s.write_all(b"m0;").unwrap();
                for k in 1..MESSAGES {
                    // k periods after t0, give or take 0.5 ms.
                    let at = t0 + PERIOD * k as u32;
                    let off = spread(i, k, -500, 500);
                    let at = if off < 0 {
                        at - Duration::from_micros(off.unsigned_abs())
                    } else {
                        at + Duration::from_micros(off as u64)
                    };
                    if !drain_until(&mut s, at) {
                        return Err(format!("client {i}: relay closed before m{k}"));
                    }
                    s.write_all(format!("m{k};").as_bytes())
                        .map_err(|e| format!("client {i}: writing m{k}: {e}"))?;
                }
                drain_until(&mut s, Instant::now() + Duration::from_millis(300));
                let _ = s.shutdown(Shutdown::Both);
                Ok(())
            })
        })
        .collect();
    let client_errors: Vec<String> = clients
        .into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect();
    let want: String = (0..MESSAGES).map(|k| format!("m{k};")).collect();
    let mut bad = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut ended = 0;
    while ended < CLIENTS {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            // The readiness probe of `Ringlb::start`: connected, sent nothing.
            Ok(got) if got.is_empty() => continue,
            Ok(got) if got == want => {}
            Ok(got) => bad.push(got),
            Err(_) => panic!("only {ended} of {CLIENTS} server connections ended"),
        }
        ended += 1;
    }
    assert!(client_errors.is_empty(), "{client_errors:?}");
    assert!(
        bad.is_empty(),
        "{} of {CLIENTS} relays lost or reordered bytes; the server received e.g. {:?} (want {want:?})",
        bad.len(),
        &bad[..bad.len().min(3)]
    );
}

#[test]
fn half_closed_client_that_stops_reading_times_out_and_soft_stop_ends() {
    // The client sends, half-closes and never reads; the server sends without
    // end. Once the buffers are full nothing moves: `timeout client` (1 s) must
    // end the session, and a soft stop (SIGUSR1) must then finish promptly.
    let (tx, rx) = mpsc::channel::<(Duration, String)>();
    let be = TcpBackend::start(move |mut s| {
        // Only the test's client says hello (not the readiness probe).
        let mut hello = [0u8; 5];
        if s.read_exact(&mut hello).is_err() {
            return;
        }
        let start = Instant::now();
        let chunk = vec![b'y'; 65536];
        let _ = s.set_write_timeout(Some(Duration::from_secs(8)));
        let err = loop {
            if let Err(e) = s.write_all(&chunk) {
                break e;
            }
        };
        let _ = tx.send((start.elapsed(), err.to_string()));
    });
    let cfg = ListenCfg::tcp(free_port())
        .timeout_client("1s")
        .timeout_server("1s")
        .server("s", be.port);
    let mut lb = Ringlb::start(&cfg.render());
    let mut c = connect(lb.port());
    // A small receive buffer, as in the reproduction: it fills at once.
    let small: libc::c_int = 4096;
    // SAFETY: setsockopt(2) on a socket this test owns, with a c_int option value.
    unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    c.write_all(b"hello").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let (took, err) = rx.recv_timeout(Duration::from_secs(4)).unwrap_or_else(|_| {
        panic!("the server could still send 4 s after the client stopped reading")
    });
    assert!(
        took < Duration::from_millis(3500),
        "server connection ended after {took:?} ({err})"
    );
    lb.signal(libc::SIGUSR1);
    let st = lb.wait_exit(Duration::from_secs(3));
    assert!(st.is_some(), "ringlb still running 3 s after SIGUSR1");
    drop(c);
}
