//! Client side: [`connect`], [`HttpClient`], [`Response`] and its reader,
//! one-shot exchanges ([`get`], [`raw_exchange`], [`exchange`]), byte pattern
//! helpers, and socket observations ([`read_until_close`],
//! [`sockets_to_port_in_state`]).

use std::collections::HashMap;
use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::*;

/// Read timeout of every client socket: far above any expected latency, far below a hang.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One HTTP response as the client received it.
#[derive(Debug, Clone)]
pub struct Response {
    /// `HTTP/1.x`, as `1.0` → 0, `1.1` → 1.
    pub minor: u8,
    /// Status code.
    pub status: u16,
    /// Headers in order, as received.
    pub headers: Vec<(String, String)>,
    /// Decoded body (chunked framing removed).
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
}

impl Response {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// Body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Connection` header contains `close`.
    pub fn says_close(&self) -> bool {
        has_token(self.header("connection"), "close")
    }

    /// The backend's name from the `X-Server` header of [`HttpBackend`] replies.
    pub fn server(&self) -> String {
        self.header("x-server").unwrap_or("<none>").to_string()
    }
}

/// Reads one response from `s` (`head_request`: the request was HEAD, no body).
pub fn read_response<S: Read>(s: &mut BufStream<S>, head_request: bool) -> io::Result<Response> {
    let head = s.read_head()?.ok_or_else(|| {
        io::Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed before any response byte",
        )
    })?;
    let mut hbuf = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut hbuf);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        other => {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "unparsable response head ({other:?}): {:?}",
                    String::from_utf8_lossy(&head)
                ),
            ));
        }
    }
    let status = resp.code.unwrap();
    let minor = resp.version.unwrap();
    let headers = header_pairs(resp.headers);
    let chunked = has_token(header_in(&headers, "transfer-encoding"), "chunked");
    let body = if head_request || status / 100 == 1 || status == 204 || status == 304 {
        Vec::new()
    } else if chunked {
        s.read_chunked()?
    } else if let Some(cl) = header_in(&headers, "content-length") {
        let n: usize = cl
            .trim()
            .parse()
            .map_err(|_| io::Error::new(ErrorKind::InvalidData, "bad Content-Length"))?;
        s.read_n(n)?
    } else {
        s.read_to_eof()?
    };
    Ok(Response {
        minor,
        status,
        headers,
        body,
        chunked,
    })
}

/// Connects to 127.0.0.1:`port` with [`IO_TIMEOUT`] on reads and writes.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A client connection for several exchanges, reading responses with exact framing.
pub struct HttpClient {
    /// The buffered connection.
    pub conn: BufStream,
}

impl HttpClient {
    /// Connects to the proxy.
    pub fn connect(port: u16) -> HttpClient {
        HttpClient {
            conn: BufStream::new(connect(port)),
        }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.conn.stream.write_all(bytes).expect("write request");
    }

    /// Sends `req` and reads one response; panics with the reason on failure.
    pub fn request(&mut self, req: &[u8]) -> Response {
        self.send(req);
        self.response()
    }

    /// `GET path HTTP/1.1` with a Host header, keep-alive.
    pub fn get(&mut self, path: &str) -> Response {
        self.request(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
    }

    /// Reads one final response (interim 1xx responses are skipped); panics
    /// with the reason on failure.
    pub fn response(&mut self) -> Response {
        loop {
            let r = read_response(&mut self.conn, false)
                .unwrap_or_else(|e| panic!("reading response: {e}"));
            if r.status / 100 != 1 {
                return r;
            }
        }
    }

    /// `HEAD path HTTP/1.1`, keep-alive: the response has no body whatever its headers say.
    pub fn head(&mut self, path: &str) -> Response {
        self.send(format!("HEAD {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        read_response(&mut self.conn, true).unwrap_or_else(|e| panic!("reading HEAD response: {e}"))
    }

    /// Reads one response, returning the error instead of panicking.
    pub fn try_response(&mut self) -> io::Result<Response> {
        read_response(&mut self.conn, false)
    }

    /// True when the peer closes (EOF or reset) within `within` without sending
    /// anything more; false if the connection stays open that long.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        assert!(
            self.conn.buffered().is_empty(),
            "unexpected extra bytes: {:?}",
            String::from_utf8_lossy(self.conn.buffered())
        );
        self.conn.stream.set_read_timeout(Some(within)).unwrap();
        let r = self.conn.fill();
        self.conn.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        match r {
            Ok(0) => true,
            Ok(_) => panic!(
                "unexpected extra bytes: {:?}",
                String::from_utf8_lossy(self.conn.buffered())
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => true,
        }
    }
}

/// A fresh connection, one `GET path` with `Connection: close`, one response.
pub fn get(port: u16, path: &str) -> Response {
    HttpClient::connect(port).request(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Sends `bytes` on a fresh connection (write errors ignored: the proxy may
/// answer and close before reading everything), then reads until the peer closes
/// or `timeout` passes. Returns what arrived and how long the read took.
pub fn raw_exchange(port: u16, bytes: &[u8], timeout: Duration) -> (Vec<u8>, Duration) {
    let s = connect(port);
    raw_exchange_on(s, bytes, timeout)
}

/// As [`raw_exchange`] on an already connected stream.
pub fn raw_exchange_on(mut s: TcpStream, bytes: &[u8], timeout: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let _ = s.write_all(bytes);
    let deadline = start + timeout;
    let mut out = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (out, start.elapsed())
}

/// Sends `bytes` on a fresh connection (write errors ignored, as in
/// [`raw_exchange`]) and reads exactly one response, within `timeout`. Returns
/// it and the time until its last byte: the connection may stay open after it
/// (keep-alive), so this never waits for the close. Panics, showing what
/// arrived, when no complete response came.
pub fn exchange(port: u16, bytes: &[u8], timeout: Duration) -> (Response, Duration) {
    let mut s = connect(port);
    let start = Instant::now();
    let _ = s.write_all(bytes);
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut bs = BufStream::new(s);
    match read_response(&mut bs, false) {
        Ok(r) => (r, start.elapsed()),
        Err(e) => panic!(
            "no complete response after {:?} ({e}); received: {:?}",
            start.elapsed(),
            String::from_utf8_lossy(&bs.buffered()[..bs.buffered().len().min(2000)])
        ),
    }
}

/// Parses a complete response from bytes (as returned by [`raw_exchange`]);
/// panics, showing the bytes, when they are not one.
pub fn parse_response(bytes: &[u8]) -> Response {
    let mut bs = BufStream::new(io::Cursor::new(bytes));
    read_response(&mut bs, false).unwrap_or_else(|e| {
        panic!(
            "cannot parse response ({e}): {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(2000)])
        )
    })
}

/// Deterministic pseudo-random bytes (xorshift), so reordering or loss shows.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Compares two byte buffers; on mismatch, panics naming the first differing offset
/// (never dumping megabytes).
pub fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: got {} bytes, want {}; first difference at offset {first}",
        got.len(),
        want.len()
    );
}

/// TCP sockets of this network namespace in `state` (the hex code of
/// `/proc/net/tcp`, e.g. `0x08` for CLOSE-WAIT) whose remote port is `port`:
/// with `port` a backend's, these are the proxy's connections to it.
pub fn sockets_to_port_in_state(port: u16, state: u8) -> usize {
    let mut n = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let rem_port = f[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let st = u8::from_str_radix(f[3], 16).ok();
            if rem_port == Some(port) && st == Some(state) {
                n += 1;
            }
        }
    }
    n
}

/// `/proc/net/tcp` state code of CLOSE-WAIT.
pub const TCP_CLOSE_WAIT: u8 = 0x08;

/// Reads from `s` until the peer closes (EOF or reset) or `timeout` passes.
/// Returns the bytes and whether the peer closed (false: still open at the deadline).
pub fn read_until_close(s: &mut TcpStream, timeout: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut tmp) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (out, false);
            }
            Err(_) => return (out, true),
        }
    }
}

/// Requests per server name (`X-Server`) for `GET /r/<i>`, `i` in
/// `0..requests`, each on a fresh connection; every answer must be a 200.
pub fn spread(port: u16, requests: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for i in 0..requests {
        let r = get(port, &format!("/r/{i}"));
        assert_eq!(r.status, 200, "{}", r.text());
        *seen.entry(r.server()).or_insert(0) += 1;
    }
    seen
}
