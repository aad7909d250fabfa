//! Stopping loses nothing (issue #14): a soft stop (SIGUSR1) under keep-alive
//! load answers every request that reached ringlb; a connection whose last
//! response did not say `Connection: close` stays usable for one more
//! request, which is answered with `Connection: close`.

mod common;

use common::{HttpBackend, HttpClient, ListenCfg, Ringlb, free_port, read_response};
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// What a keep-alive load of `clients` threads saw.
#[derive(Default)]
pub struct Tally {
    /// Responses received.
    pub answered: AtomicUsize,
    /// Requests written whose connection then ended without a response.
    pub lost: AtomicUsize,
    /// Connections refused or reset before any request went out (not a loss:
    /// the client knows nothing was sent).
    pub refused: AtomicUsize,
}

/// Runs keep-alive clients against `port` until `stop` is set (or 20 s):
/// each sends a request, reads the response, and reconnects when told
/// `Connection: close` or refused.
fn load(
    port: u16,
    clients: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Vec<thread::JoinHandle<()>> {
    (0..clients)
        .map(|_| {
            let (stop, tally) = (stop.clone(), tally.clone());
            thread::spawn(move || {
                let end = Instant::now() + Duration::from_secs(20);
                while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
                        tally.refused.fetch_add(1, Ordering::Relaxed);
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut c = HttpClient {
                        conn: common::BufStream::new(s),
                    };
                    let mut n = 0;
                    loop {
                        n += 1;
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
                        if c.conn.stream.write_all(req).is_err() {
                            // Reset before the request went out whole.
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        match read_response(&mut c.conn, false) {
                            Ok(r) => {
                                tally.answered.fetch_add(1, Ordering::Relaxed);
                                if r.says_close() {
                                    break;
                                }
                            }
                            Err(e) => {
                                eprintln!("LOST request #{n} on its connection: {e}");
                                tally.lost.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect()
}

#[test]
fn soft_stop_under_keepalive_load_loses_no_request() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 2")
        .line("timeout http-keep-alive 30s")
        .server("a", a.port());
    let mut lb = Ringlb::start(&cfg.render());
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let threads = load(lb.port(), 16, stop.clone(), tally.clone());
    thread::sleep(Duration::from_millis(700));
    let before = tally.answered.load(Ordering::Relaxed);
    assert!(before > 100, "load too small to mean anything: {before}");
    lb.signal(libc::SIGUSR1);
    let st = lb.wait_exit(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(st.is_some(), "ringlb still running 10 s after SIGUSR1");
    let (answered, lost) = (
        tally.answered.load(Ordering::Relaxed),
        tally.lost.load(Ordering::Relaxed),
    );
    assert_eq!(lost, 0, "{lost} requests lost, {answered} answered");
}

#[test]
fn a_keepalive_response_sent_before_the_stop_leaves_the_connection_usable() {
    // The response went out without `Connection: close` (no stop yet): the
    // client may send its next request at once, and it must be answered.
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 1")
        .server("a", a.port());
    let mut lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let r = c.get("/");
    assert!(!r.says_close());
    lb.signal(libc::SIGUSR1);
    thread::sleep(Duration::from_millis(100));
    let r = c.get("/again");
    assert_eq!(r.status, 200);
    assert!(
        r.says_close(),
        "the last response must say Connection: close"
    );
    assert!(lb.wait_exit(Duration::from_secs(5)).is_some());
}
