//! [`Recorder`]: a backend that keeps the raw bytes of every connection and
//! counts the requests in them with a strict framing reader of its own, so a
//! test sees exactly what a server would: one request, or two smuggled ones.
//!
//! Each request is answered `200` with its target as the body (so a client
//! that gets another's response notices), except `/switch`, answered with an
//! unsolicited `101 Switching Protocols`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// One request as the recorder framed it.
#[derive(Debug, Clone)]
pub struct Framed {
    /// Request target.
    pub target: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Raw body bytes as framed (chunked framing kept).
    pub body: Vec<u8>,
}

impl Framed {
    /// First header of that name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

#[derive(Default)]
struct Log {
    /// Raw bytes received, one entry per connection in accept order.
    raw: Vec<Vec<u8>>,
    requests: Vec<Framed>,
}

/// A raw recording HTTP/1.1 backend (see the module doc).
pub struct Recorder {
    backend: TcpBackend,
    log: Arc<Mutex<Log>>,
}

impl Recorder {
    /// Starts one on 127.0.0.1.
    pub fn start() -> Recorder {
        let log = Arc::new(Mutex::new(Log::default()));
        let l = log.clone();
        let backend = TcpBackend::start(move |s| serve(s, &l));
        Recorder { backend, log }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.backend.port
    }

    /// Every request framed so far, across connections.
    pub fn requests(&self) -> Vec<Framed> {
        self.log.lock().unwrap().requests.clone()
    }

    /// All raw bytes received, connections joined, lossily as text.
    pub fn raw_text(&self) -> String {
        let log = self.log.lock().unwrap();
        log.raw
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>()
            .join("\n----\n")
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        let mut log = self.log.lock().unwrap();
        // Connections still open keep their slot: only their bytes go.
        log.raw.iter_mut().for_each(Vec::clear);
        log.requests.clear();
    }
}

fn serve(mut s: TcpStream, log: &Arc<Mutex<Log>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let conn = {
        let mut l = log.lock().unwrap();
        l.raw.push(Vec::new());
        l.raw.len() - 1
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        buf.extend_from_slice(&chunk[..n]);
        log.lock().unwrap().raw[conn].extend_from_slice(&chunk[..n]);
        while let Some((framed, used)) = frame(&buf) {
            buf.drain(..used);
            let reply = if framed.target == "/switch" {
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
                    .to_vec()
            } else {
                let body = framed.target.as_bytes();
                let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                    .into_bytes();
                r.extend_from_slice(body);
                r
            };
            log.lock().unwrap().requests.push(framed);
            if s.write_all(&reply).is_err() {
                return;
            }
        }
    }
}

/// Frames one request at the start of `buf` as a strict server would;
/// `None` until it is complete.
fn frame(buf: &[u8]) -> Option<(Framed, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 256];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    let pairs = header_pairs(req.headers);
    let target = req.path.unwrap_or("").to_string();
    let te = header_in(&pairs, "transfer-encoding").map(|v| v.to_ascii_lowercase());
    let end = if te.is_some_and(|t| t.trim().ends_with("chunked")) {
        head + chunked_len(&buf[head..])?
    } else {
        let cl: usize = header_in(&pairs, "content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        (buf.len() >= head + cl).then_some(head + cl)?
    };
    let framed = Framed {
        target,
        headers: pairs,
        body: buf[head..end].to_vec(),
    };
    Some((framed, end))
}

/// Length of a complete chunked body (trailers included) at the start of `b`.
fn chunked_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let line_end = i + find(&b[i..], b"\r\n")?;
        let size_text = String::from_utf8_lossy(&b[i..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        i = line_end + 2;
        if size == 0 {
            // Trailer lines up to the empty one.
            loop {
                let e = i + find(&b[i..], b"\r\n")?;
                let empty = e == i;
                i = e + 2;
                if empty {
                    return Some(i);
                }
            }
        }
        if b.len() < i + size + 2 {
            return None;
        }
        i += size + 2;
    }
}
