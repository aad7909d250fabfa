//! [`HttpBackend`]: a keep-alive aware HTTP/1.1 origin that records every
//! request ([`Received`]), with its fixed `/big`, `/chunked`, `/eof` and
//! `/trickle` replies.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self};
use std::time::Duration;

use super::*;

/// One request as an [`HttpBackend`] received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// HTTP minor version.
    pub minor: u8,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Decoded body.
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
    /// Index of the backend connection it came on (0-based accept order).
    pub conn: usize,
}

impl Received {
    /// First header of that name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// All values of that header, joined with ", " (equivalent per RFC 9110).
    pub fn joined(&self, name: &str) -> Option<String> {
        let v: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    }
}

/// Size of the `/big` response.
pub const BIG_LEN: usize = 1 << 20;

/// Body of the `/big` response of every [`HttpBackend`].
pub fn big_body() -> Vec<u8> {
    pattern(BIG_LEN, 42)
}

/// Pause between the two chunks of the `/trickle` response.
pub const TRICKLE_PAUSE: Duration = Duration::from_millis(1500);

/// Body of the `/eof` response (no length, ended by closing the connection).
pub fn eof_body() -> Vec<u8> {
    pattern(100_000, 3)
}

/// Chunk sizes of the `/chunked` response (odd sizes, one over 16 KB).
pub const CHUNK_SIZES: [usize; 7] = [1, 10, 100, 1000, 4095, 16385, 70000];

/// The decoded body of the `/chunked` response.
pub fn chunked_body() -> Vec<u8> {
    pattern(CHUNK_SIZES.iter().sum(), 7)
}

/// An HTTP/1.1 origin server for tests.
///
/// Keep-alive aware (closes after `Connection: close` or an HTTP/1.0 request
/// without `keep-alive`), answers `Expect: 100-continue`, decodes Content-Length
/// and chunked request bodies and records every request. Replies, by path:
/// - `/big`: 1 MB ([`big_body`]) with Content-Length;
/// - `/chunked`: [`chunked_body`] in chunks of [`CHUNK_SIZES`];
/// - `/eof`: [`eof_body`] without Content-Length, ended by closing;
/// - `/trickle`: chunked `first\n`, then after [`TRICKLE_PAUSE`] `last\n`;
/// - `HEAD`: the head of the default reply (with its Content-Length), no body;
/// - anything else: `text/plain` naming the server (`server=<name>`) and echoing
///   the request line, body length and every request header (`h: Name: value`).
///
/// Every reply carries `X-Server: <name>`.
pub struct HttpBackend {
    /// The name it answers with.
    pub name: String,
    /// The underlying listener.
    pub tcp: TcpBackend,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl HttpBackend {
    /// Starts a backend answering as `name`.
    pub fn start(name: &str) -> HttpBackend {
        Self::start_with(name, TcpBackend::start)
    }

    /// An [`HttpBackend`] named `name` on the [`TcpBackend`] that `start_tcp`
    /// starts with the connection handler.
    fn start_with(
        name: &str,
        start_tcp: impl FnOnce(Box<dyn Fn(TcpStream) + Send + Sync>) -> TcpBackend,
    ) -> HttpBackend {
        let requests: Arc<Mutex<Vec<Received>>> = Arc::new(Mutex::new(Vec::new()));
        let conn_ids = Arc::new(AtomicUsize::new(0));
        let (n, reqs) = (name.to_string(), requests.clone());
        let tcp = start_tcp(Box::new(move |s| {
            let id = conn_ids.fetch_add(1, Ordering::SeqCst);
            serve_http(&n, s, id, &reqs);
        }));
        HttpBackend {
            name: name.to_string(),
            tcp,
            requests,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.tcp.port
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.tcp.accepted()
    }

    /// Requests served.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// The last request received (panics if none).
    pub fn last(&self) -> Received {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("backend received no request")
    }

    /// See [`TcpBackend::kill`].
    pub fn kill(&mut self) {
        self.tcp.kill();
    }
}

/// Serves HTTP requests on one connection until close (see [`HttpBackend`]).
fn serve_http(name: &str, s: TcpStream, conn: usize, log: &Mutex<Vec<Received>>) {
    let mut bs = BufStream::new(s);
    loop {
        let Ok(Some(head)) = bs.read_head() else {
            return;
        };
        let mut hbuf = [httparse::EMPTY_HEADER; 256];
        let mut req = httparse::Request::new(&mut hbuf);
        if !matches!(req.parse(&head), Ok(httparse::Status::Complete(_))) {
            let _ = bs.stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        let method = req.method.unwrap().to_string();
        let path = req.path.unwrap().to_string();
        let minor = req.version.unwrap();
        let headers = header_pairs(req.headers);
        let chunked = has_token(header_in(&headers, "transfer-encoding"), "chunked");
        if has_token(header_in(&headers, "expect"), "100-continue")
            && bs
                .stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .is_err()
        {
            return;
        }
        let body = if chunked {
            bs.read_chunked()
        } else if let Some(cl) = header_in(&headers, "content-length") {
            bs.read_n(cl.trim().parse().unwrap_or(0))
        } else {
            Ok(Vec::new())
        };
        let Ok(body) = body else { return };
        let conn_hdr = header_in(&headers, "connection");
        let keep = if minor == 0 {
            has_token(conn_hdr, "keep-alive")
        } else {
            !has_token(conn_hdr, "close")
        };
        let mut echo = format!("server={name}\nrequest={method} {path} HTTP/1.{minor}\n");
        echo += &format!("body-len={}\n", body.len());
        for (n, v) in &headers {
            echo += &format!("h: {n}: {v}\n");
        }
        log.lock().unwrap().push(Received {
            method: method.clone(),
            path: path.clone(),
            minor,
            headers,
            body,
            chunked,
            conn,
        });
        let conn_line = match (keep, minor) {
            (false, _) => "Connection: close\r\n",
            (true, 0) => "Connection: keep-alive\r\n",
            (true, _) => "",
        };
        let is_head = method == "HEAD";
        let ok = if path == "/eof" {
            // No length: the body ends when this server closes the connection.
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: application/octet-stream\r\n\
                 Connection: close\r\n\r\n"
            );
            let _ = bs.stream.write_all(head.as_bytes());
            let _ = bs.stream.write_all(&eof_body());
            return;
        } else if path == "/trickle" {
            // First chunk at once, the rest after a pause: shows whether the proxy
            // streams the body or waits for all of it.
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: text/plain\r\n\
                 Transfer-Encoding: chunked\r\n{conn_line}\r\n6\r\nfirst\n\r\n"
            );
            let ok = bs.stream.write_all(head.as_bytes()).is_ok();
            thread::sleep(TRICKLE_PAUSE);
            ok && bs.stream.write_all(b"5\r\nlast\n\r\n0\r\n\r\n").is_ok()
        } else if is_head {
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\n{conn_line}\r\n",
                echo.len()
            );
            bs.stream.write_all(head.as_bytes()).is_ok()
        } else if path == "/big" {
            let body = big_body();
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\n{conn_line}\r\n",
                body.len()
            );
            bs.stream.write_all(head.as_bytes()).is_ok() && bs.stream.write_all(&body).is_ok()
        } else if path == "/chunked" {
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: application/octet-stream\r\n\
                 Transfer-Encoding: chunked\r\n{conn_line}\r\n"
            );
            let body = chunked_body();
            let mut out = head.into_bytes();
            let mut off = 0;
            for size in CHUNK_SIZES {
                out.extend(format!("{size:x}\r\n").as_bytes());
                out.extend(&body[off..off + size]);
                out.extend(b"\r\n");
                off += size;
            }
            out.extend(b"0\r\n\r\n");
            // Written in pieces with pauses, so the proxy sees chunks split across reads.
            let mut ok = true;
            for piece in out.chunks(5000) {
                ok &= bs.stream.write_all(piece).is_ok();
                thread::sleep(Duration::from_millis(1));
            }
            ok
        } else {
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\n{conn_line}\r\n",
                echo.len()
            );
            bs.stream
                .write_all(&[head.as_bytes(), echo.as_bytes()].concat())
                .is_ok()
        };
        if !ok || !keep {
            return;
        }
    }
}

impl HttpBackend {
    /// As [`HttpBackend::start`], listening on 127.0.0.1:`port` (see
    /// [`TcpBackend::start_on`]): kill it and start it again on the same port
    /// to model a server restart.
    pub fn start_on(name: &str, port: u16) -> HttpBackend {
        Self::start_with(name, |h| TcpBackend::start_on(port, h))
    }
}
