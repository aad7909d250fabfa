//! The `idle` scenario's client: many keep-alive connections, each sending one
//! request and reading its full answer, then held open doing nothing.

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connections held open, and why the others failed (first error, count).
pub struct Held {
    /// The open, idle connections.
    pub streams: Vec<TcpStream>,
    /// How many could not be opened or did not get a full 200 answer.
    pub failed: usize,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// Opens `n` connections to 127.0.0.1:`port` from `threads` threads; each
/// sends `GET /` (keep-alive) and reads the whole answer before it is kept.
pub fn open(port: u16, n: usize, threads: usize) -> Held {
    let threads = threads.clamp(1, n.max(1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let share = n / threads + usize::from(t < n % threads);
            std::thread::spawn(move || {
                let mut held = Held {
                    streams: Vec::with_capacity(share),
                    failed: 0,
                    first_error: None,
                };
                for _ in 0..share {
                    match one(port) {
                        Ok(s) => held.streams.push(s),
                        Err(e) => {
                            held.failed += 1;
                            held.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                held
            })
        })
        .collect();
    let mut all = Held {
        streams: Vec::with_capacity(n),
        failed: 0,
        first_error: None,
    };
    for h in handles {
        match h.join() {
            Ok(mut part) => {
                all.streams.append(&mut part.streams);
                all.failed += part.failed;
                if all.first_error.is_none() {
                    all.first_error = part.first_error;
                }
            }
            Err(_) => {
                all.first_error
                    .get_or_insert_with(|| "a client thread panicked".into());
            }
        }
    }
    all
}

/// One connection: connect, one request, read the full answer.
fn one(port: u16) -> Result<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).context("connect")?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .context("write")?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                bail!("no answer within 10 s")
            }
            Err(e) => return Err(e).context("read"),
        };
        if n == 0 {
            bail!("closed before a full answer");
        }
        buf.extend_from_slice(&chunk[..n]);
        match response_complete(&buf)? {
            Some(true) => return Ok(s),
            Some(false) => bail!("answer was not 200: {}", first_line(&buf)),
            None => {}
        }
        if buf.len() > 1 << 20 {
            bail!("answer too large");
        }
    }
}

fn first_line(buf: &[u8]) -> String {
    String::from_utf8_lossy(buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Whether `buf` holds a complete HTTP/1.1 answer with a Content-Length:
/// `None` (need more), `Some(true)` (a complete 200), `Some(false)` (another
/// status, complete or not). Chunked answers are an error (the backend sends
/// a Content-Length).
pub fn response_complete(buf: &[u8]) -> Result<Option<bool>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Ok(Some(false));
    }
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().context("Content-Length")?);
            } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked answer not supported here");
            }
        }
    }
    let Some(length) = length else {
        bail!("answer without Content-Length");
    };
    Ok((buf.len() >= end + 4 + length).then_some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completeness() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
        assert_eq!(response_complete(full).unwrap(), Some(true));
        assert_eq!(response_complete(&full[..full.len() - 1]).unwrap(), None);
        assert_eq!(
            response_complete(b"HTTP/1.1 200 OK\r\nConte").unwrap(),
            None
        );
        let other = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(response_complete(other).unwrap(), Some(false));
        assert!(response_complete(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(
            response_complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err()
        );
    }

    #[test]
    fn open_against_a_tiny_server() {
        // A local listener answering 3 connections once each, then holding them.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut kept = Vec::new();
            for _ in 0..3 {
                let (mut s, _) = l.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).unwrap();
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                    .unwrap();
                kept.push(s);
            }
            kept
        });
        let held = open(port, 3, 2);
        assert_eq!(held.streams.len(), 3, "{:?}", held.first_error);
        assert_eq!(held.failed, 0);
        assert_eq!(server.join().unwrap().len(), 3);
    }
}
