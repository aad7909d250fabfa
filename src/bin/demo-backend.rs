//! demo-backend: a tiny HTTP/1.1 origin server for trying ringlb's seed config.
//!
//! `demo-backend <ip:port> <name>` answers every request with
//! `Hello from <name>` (plus the `X-Forwarded-For` it received), `X-Server: <name>`,
//! `GET /l7check.html` with "OK" for the health check, and `?size=N` with an
//! N-byte body. One std thread per connection: no runtime, nothing to tune.
//! Keep-alive follows HTTP/1.1 rules; request bodies (Content-Length or chunked)
//! are read and discarded; malformed input gets a 400 and the connection closes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Largest request head accepted (request line plus headers).
const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size or trailer line accepted in a chunked body.
const MAX_LINE: usize = 4096;
/// Most headers parsed in one request.
const MAX_HEADERS: usize = 100;
/// An idle keep-alive connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest `?size=` honoured (1 GiB): the body is streamed, this only bounds time.
const MAX_SIZE: u64 = 1 << 30;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (addr, name) = match parse_args(&args) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("{msg}\nusage: demo-backend <ip:port> <name>");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo-backend: cannot bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("demo-backend {name} listening on {addr}");
    let name: &'static str = Box::leak(name.into_boxed_str());
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let spawned = std::thread::Builder::new()
                    .name("conn".into())
                    .spawn(move || serve(stream, name));
                if let Err(e) = spawned {
                    eprintln!("demo-backend: cannot spawn a thread: {e}");
                }
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                eprintln!("demo-backend: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Validates `<ip:port> <name>`.
fn parse_args(args: &[String]) -> Result<(SocketAddr, String), String> {
    match args {
        [_, addr, name] => {
            let addr = addr
                .parse()
                .map_err(|e| format!("demo-backend: bad address '{addr}': {e}"))?;
            Ok((addr, name.clone()))
        }
        _ => Err("demo-backend: expected two arguments".into()),
    }
}

/// Serves one connection until close, error or idle timeout.
fn serve(stream: TcpStream, name: &str) {
    // Both are best effort: a failure only costs latency or an idle thread.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let mut conn = Conn {
        stream,
        buf: Vec::with_capacity(4096),
    };
    loop {
        match conn.handle_one(name) {
            Ok(true) => continue,
            Ok(false) => return,
            Err(Failure::Bad(reason)) => {
                let _ = conn.send_error(reason);
                conn.linger();
                return;
            }
            Err(Failure::Io) => return,
        }
    }
}

/// Why a request could not be served.
enum Failure {
    /// Malformed request: answer 400 with this reason, then close.
    Bad(&'static str),
    /// The peer went away or timed out: just close.
    Io,
}

impl From<io::Error> for Failure {
    fn from(_: io::Error) -> Self {
        Failure::Io
    }
}

/// What the handler needs from a parsed request head.
struct Request {
    method: String,
    path: String,
    query: Option<String>,
    keep_alive: bool,
    body: BodyKind,
    expect_continue: bool,
    forwarded_for: Option<String>,
}

/// How the request body is framed.
enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

/// One client connection with its read buffer (which may hold pipelined data).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Reads more bytes into the buffer; `Ok(0)` on EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Serves one request; `Ok(true)` to keep the connection open.
    fn handle_one(&mut self, name: &str) -> Result<bool, Failure> {
        let req = loop {
            if !self.buf.is_empty() {
                if let Some((req, used)) = parse_head(&self.buf)? {
                    self.buf.drain(..used);
                    break req;
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(Failure::Bad("request head too large"));
                }
            }
            if self.fill()? == 0 {
                // Clean close between requests, or a truncated head.
                return Ok(false);
            }
        };
        if req.expect_continue && !matches!(req.body, BodyKind::None) {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        match req.body {
            BodyKind::None => {}
            BodyKind::Length(n) => self.discard(n)?,
            BodyKind::Chunked => self.discard_chunked()?,
        }
        self.respond(&req, name)?;
        Ok(req.keep_alive)
    }

    /// Reads and drops exactly `n` body bytes.
    fn discard(&mut self, mut n: u64) -> Result<(), Failure> {
        loop {
            let take = n.min(self.buf.len() as u64) as usize;
            self.buf.drain(..take);
            n -= take as u64;
            if n == 0 {
                return Ok(());
            }
            if self.fill()? == 0 {
                return Err(Failure::Io);
            }
        }
    }

    /// Takes one CRLF-terminated line out of the buffer (without the CRLF).
    fn line(&mut self) -> Result<Vec<u8>, Failure> {
        loop {
            if let Some(pos) = memchr_crlf(&self.buf) {
                let line = self.buf[..pos].to_vec();
                self.buf.drain(..pos + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(Failure::Bad("chunk line too long"));
            }
            if self.fill()? == 0 {
                return Err(Failure::Io);
            }
        }
    }

    /// Reads and drops a chunked body, trailers included.
    fn discard_chunked(&mut self) -> Result<(), Failure> {
        loop {
            let line = self.line()?;
            let size = parse_chunk_size(&line).ok_or(Failure::Bad("bad chunk size"))?;
            if size == 0 {
                // Trailer section: header lines up to an empty line.
                while !self.line()?.is_empty() {}
                return Ok(());
            }
            self.discard(size)?;
            if !self.line()?.is_empty() {
                return Err(Failure::Bad("chunk data not followed by CRLF"));
            }
        }
    }

    /// Writes the response for `req`.
    fn respond(&mut self, req: &Request, name: &str) -> io::Result<()> {
        let head_only = req.method == "HEAD";
        let conn_hdr = if req.keep_alive {
            "keep-alive"
        } else {
            "close"
        };
        if req.path == "/l7check.html" {
            let head = response_head(200, "OK", name, 2, conn_hdr);
            return self.send(head, if head_only { b"" } else { b"OK" });
        }
        if let Some(size) = req.query.as_deref().and_then(size_param) {
            let head = response_head(200, "OK", name, size, conn_hdr);
            self.stream.write_all(head.as_bytes())?;
            if !head_only {
                write_filler(&mut self.stream, size)?;
            }
            return Ok(());
        }
        let body = match &req.forwarded_for {
            Some(xff) => format!("Hello from {name} (X-Forwarded-For: {xff})\n"),
            None => format!("Hello from {name}\n"),
        };
        let head = response_head(200, "OK", name, body.len() as u64, conn_hdr);
        let body = if head_only { "" } else { body.as_str() };
        self.send(head, body.as_bytes())
    }

    /// Sends head and body in one write (one segment for small answers).
    fn send(&mut self, head: String, body: &[u8]) -> io::Result<()> {
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.stream.write_all(&out)
    }

    /// Half-closes, then drains what the client still sends for a moment, so
    /// closing with unread input does not reset the connection and destroy the
    /// error response before the client reads it.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(500)));
        let mut sink = [0u8; 4096];
        let mut budget = 1 << 20;
        while budget > 0 {
            match self.stream.read(&mut sink) {
                Ok(0) | Err(_) => return,
                Ok(n) => budget -= n.min(budget),
            }
        }
    }

    /// Answers 400 with a short reason; the caller closes afterwards.
    fn send_error(&mut self, reason: &str) -> io::Result<()> {
        let body = format!("400 Bad Request: {reason}\n");
        let head = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        self.send(head, body.as_bytes())
    }
}

/// Parses a request head; `Ok(None)` when more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let used = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Failure::Bad("too many headers")),
        Err(_) => return Err(Failure::Bad("malformed request head")),
    };
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(Failure::Bad("incomplete request line"));
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };

    let mut close = false;
    let mut keep_alive_token = false;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    let mut xff: Vec<String> = Vec::new();
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| Failure::Bad("non-UTF-8 header"))?;
        let value = value.trim();
        if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive_token |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            // Digits only: `u64::from_str` would also take a leading '+'.
            let n: u64 = Some(value)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse().ok())
                .ok_or(Failure::Bad("bad Content-Length"))?;
            if length.is_some_and(|prev| prev != n) {
                return Err(Failure::Bad("conflicting Content-Length"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the final coding decides the framing (RFC 9112 §6.3).
            let last = value.rsplit(',').next().unwrap_or("").trim();
            if !last.eq_ignore_ascii_case("chunked") {
                return Err(Failure::Bad("unsupported Transfer-Encoding"));
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if h.name.eq_ignore_ascii_case("x-forwarded-for") {
            xff.push(value.to_string());
        }
    }
    if chunked && length.is_some() {
        // A smuggling vector: refuse rather than guess.
        return Err(Failure::Bad("both Content-Length and Transfer-Encoding"));
    }
    let keep_alive = match version {
        1 => !close,
        _ => keep_alive_token && !close,
    };
    let body = match (chunked, length) {
        (true, _) => BodyKind::Chunked,
        (false, Some(n)) if n > 0 => BodyKind::Length(n),
        _ => BodyKind::None,
    };
    let req = Request {
        method: method.to_string(),
        path,
        query,
        keep_alive,
        body,
        expect_continue,
        forwarded_for: (!xff.is_empty()).then(|| xff.join(", ")),
    };
    Ok(Some((req, used)))
}

/// Position of the first CRLF in `buf`.
fn memchr_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Parses a chunk-size line (hex, optional `;ext`); `None` if malformed.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let hex = text.split(';').next()?.trim();
    if hex.is_empty() || hex.len() > 15 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// The `size=N` query parameter, if present and valid.
fn size_param(query: &str) -> Option<u64> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "size")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .map(|n| n.min(MAX_SIZE))
}

/// A response head with the headers every answer carries.
fn response_head(status: u16, reason: &str, name: &str, len: u64, conn: &str) -> String {
    format!(
        "HTTP/1.1 {status} {reason}\r\nX-Server: {name}\r\nContent-Type: text/plain\r\n\
         Content-Length: {len}\r\nConnection: {conn}\r\n\r\n"
    )
}

/// Streams `n` bytes of filler without holding them all in memory.
fn write_filler(w: &mut impl Write, mut n: u64) -> io::Result<()> {
    let block = [b'x'; 64 * 1024];
    while n > 0 {
        let take = n.min(block.len() as u64) as usize;
        w.write_all(&block[..take])?;
        n -= take as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Request {
        match parse_head(text.as_bytes()) {
            Ok(Some((req, used))) => {
                assert_eq!(used, text.len());
                req
            }
            _ => panic!("did not parse: {text:?}"),
        }
    }

    #[test]
    fn keep_alive_rules() {
        assert!(head("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    }

    #[test]
    fn body_framing_and_xff() {
        let r = head(
            "POST /x?size=10 HTTP/1.1\r\nContent-Length: 5\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
        );
        assert!(matches!(r.body, BodyKind::Length(5)));
        assert_eq!(r.forwarded_for.as_deref(), Some("1.2.3.4"));
        assert_eq!(r.query.as_deref().and_then(size_param), Some(10));
        let r = head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert!(matches!(r.body, BodyKind::Chunked));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "\x01\x02 garbage\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(bad.as_bytes()), Err(Failure::Bad(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\nHost"), Ok(None)));
        assert_eq!(parse_chunk_size(b"1f;ext=1"), Some(31));
        assert_eq!(parse_chunk_size(b"zz"), None);
        assert_eq!(parse_chunk_size(b""), None);
        assert_eq!(size_param("size=99999999999999999999"), None);
    }
}
