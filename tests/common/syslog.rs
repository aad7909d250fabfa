//! [`Syslog`]: a UDP socket playing syslog for the binary under test.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// A syslog server: one UDP socket, every line received kept in order.
pub struct Syslog {
    /// The socket.
    pub sock: UdpSocket,
    /// Every line received so far, in order.
    pub seen: Vec<String>,
}

impl Syslog {
    /// A socket on a free loopback port.
    pub fn new() -> Syslog {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Syslog {
            sock,
            seen: Vec::new(),
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// Reads whatever arrives within `d`.
    pub fn collect(&mut self, d: Duration) {
        let end = Instant::now() + d;
        let mut buf = [0u8; 65536];
        while Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.seen
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }

    /// The first line (received so far or within 5 s) that `pred` accepts.
    pub fn wait(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(l) = self.seen.iter().find(|l| pred(l)) {
                return l.clone();
            }
            assert!(
                Instant::now() < end,
                "no syslog line {what} within 5 s; received:\n{}",
                self.seen.join("")
            );
            self.collect(Duration::from_millis(50));
        }
    }

    /// Lines received so far that contain `needle`.
    pub fn with(&self, needle: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }
}
