//! [`CheckedBackend`]: an HTTP backend whose health-check answer the test
//! switches at run time, recording check requests byte for byte.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self};
use std::time::{Duration, Instant};

use super::*;

/// An HTTP backend for health-check tests: its check path answers a status
/// the test switches at run time ([`CheckedBackend::set_check_status`], 200 at
/// start), every other path answers 200 naming the server (`X-Server: <name>`).
/// Check requests are recorded byte for byte; other requests are only counted.
pub struct CheckedBackend {
    /// The name it answers with.
    pub name: String,
    /// The underlying listener.
    pub tcp: TcpBackend,
    status: Arc<std::sync::atomic::AtomicU16>,
    checks: Arc<Mutex<Vec<Vec<u8>>>>,
    served: Arc<AtomicUsize>,
}

impl CheckedBackend {
    /// Starts a backend answering as `name`, with `check_path` as its check URI.
    pub fn start(name: &str, check_path: &str) -> CheckedBackend {
        let status = Arc::new(std::sync::atomic::AtomicU16::new(200));
        let checks: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::new(AtomicUsize::new(0));
        let (n, path) = (name.to_string(), check_path.to_string());
        let (st, ch, sv) = (status.clone(), checks.clone(), served.clone());
        let tcp = TcpBackend::start(move |s| serve_checked(&n, &path, s, &st, &ch, &sv));
        CheckedBackend {
            name: name.to_string(),
            tcp,
            status,
            checks,
            served,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.tcp.port
    }

    /// Sets the status the check path answers from now on.
    pub fn set_check_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Check requests received so far.
    pub fn checks(&self) -> usize {
        self.checks.lock().unwrap().len()
    }

    /// Every check request head received, byte for byte.
    pub fn check_requests(&self) -> Vec<Vec<u8>> {
        self.checks.lock().unwrap().clone()
    }

    /// Requests other than checks served so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// Waits (at most 5 s) until at least `n` check requests have arrived.
    pub fn wait_checks(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.checks() < n {
            assert!(
                Instant::now() < deadline,
                "{}: {} of {n} checks after 5 s",
                self.name,
                self.checks()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Serves one connection of a [`CheckedBackend`] until close.
fn serve_checked(
    name: &str,
    check_path: &str,
    s: TcpStream,
    status: &std::sync::atomic::AtomicU16,
    checks: &Mutex<Vec<Vec<u8>>>,
    served: &AtomicUsize,
) {
    let mut bs = BufStream::new(s);
    loop {
        let Ok(Some(head)) = bs.read_head() else {
            return;
        };
        let mut hbuf = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut hbuf);
        if !matches!(req.parse(&head), Ok(httparse::Status::Complete(_))) {
            let _ = bs.stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        if req.path == Some(check_path) {
            checks.lock().unwrap().push(head.clone());
            let code = status.load(Ordering::SeqCst);
            let reason = match code {
                200 => "OK",
                404 => "Not Found",
                500 => "Internal Server Error",
                503 => "Service Unavailable",
                _ => "Other",
            };
            let _ = bs.stream.write_all(
                format!(
                    "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            return;
        }
        served.fetch_add(1, Ordering::SeqCst);
        let minor = req.version.unwrap_or(1);
        let conn = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("connection"))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase());
        let keep = match (minor, conn.as_deref()) {
            (0, Some(c)) => c.contains("keep-alive"),
            (0, None) => false,
            (_, Some(c)) => !c.contains("close"),
            (_, None) => true,
        };
        let body = format!("server={name}\n");
        let head = format!(
            "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\n{}\r\n",
            body.len(),
            match (keep, minor) {
                (false, _) => "Connection: close\r\n",
                (true, 0) => "Connection: keep-alive\r\n",
                (true, _) => "",
            }
        );
        if bs
            .stream
            .write_all(&[head.as_bytes(), body.as_bytes()].concat())
            .is_err()
            || !keep
        {
            return;
        }
    }
}
