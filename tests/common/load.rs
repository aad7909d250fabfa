//! [`Load`]: HTTP clients on threads, keep-alive and one-request-per-connection,
//! that count what a reload or a stop must not lose: every request written
//! whose connection then ended without its response, every refused or reset
//! connect, and the slowest answer (a SYN dropped and sent again shows as a
//! second or more). Bounded: each client stops when told or after 30 s.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::*;

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Responses received.
    pub answered: AtomicUsize,
    /// Requests written whose connection ended without a response.
    pub lost: AtomicUsize,
    /// Connects refused, or resets before the request went out whole.
    pub refused: AtomicUsize,
    /// The slowest request, connect included.
    pub slowest: Mutex<Duration>,
    /// One line per failure, for the assertion message.
    pub failures: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, counter: &AtomicUsize, what: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut f = self.failures.lock().unwrap();
        if f.len() < 20 {
            f.push(what);
        }
    }

    fn took(&self, d: Duration) {
        let mut s = self.slowest.lock().unwrap();
        *s = (*s).max(d);
    }
}

/// Running clients; [`Load::finish`] stops them.
pub struct Load {
    stop: Arc<AtomicBool>,
    /// What they saw so far.
    pub tally: Arc<Tally>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// `keepalive` clients that keep their connection until told to close,
    /// and `close` clients that send `Connection: close` each time.
    pub fn start(port: u16, keepalive: usize, close: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let threads = (0..keepalive + close)
            .map(|i| {
                let (stop, tally) = (stop.clone(), tally.clone());
                let keep = i < keepalive;
                thread::spawn(move || client(port, keep, &stop, &tally))
            })
            .collect();
        Load {
            stop,
            tally,
            threads,
        }
    }

    /// Responses so far.
    pub fn answered(&self) -> usize {
        self.tally.answered.load(Ordering::Relaxed)
    }

    /// Stops the clients and returns what they saw.
    pub fn finish(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        self.tally
    }
}

fn client(port: u16, keepalive: bool, stop: &AtomicBool, tally: &Tally) {
    let end = Instant::now() + Duration::from_secs(30);
    let req: &[u8] = if keepalive {
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    } else {
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    };
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        let t = Instant::now();
        let s = match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => s,
            Err(e) => {
                tally.fail(&tally.refused, format!("connect: {e}"));
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut conn = BufStream::new(s);
        let mut n = 0;
        let mut t = t;
        loop {
            n += 1;
            if conn.stream.write_all(req).is_err() {
                tally.fail(&tally.refused, format!("request #{n}: write failed"));
                break;
            }
            match read_response(&mut conn, false) {
                Ok(r) => {
                    tally.answered.fetch_add(1, Ordering::Relaxed);
                    tally.took(t.elapsed());
                    if r.says_close() || !keepalive || stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                Err(e) => {
                    tally.fail(&tally.lost, format!("request #{n} on its connection: {e}"));
                    break;
                }
            }
            t = Instant::now();
        }
    }
}
