//! [`BufStream`]: a buffered stream with the HTTP framing operations that
//! clients and backends share, plus small byte and header helpers.

use std::io::{self, ErrorKind, Read};
use std::net::TcpStream;

/// A stream (a TcpStream, or bytes already received) with a read buffer and
/// the framing operations HTTP needs.
pub struct BufStream<S = TcpStream> {
    /// The socket.
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: Read> BufStream<S> {
    /// Wraps a stream (timeouts are the caller's business).
    pub fn new(stream: S) -> BufStream<S> {
        BufStream {
            stream,
            buf: Vec::new(),
        }
    }

    /// Bytes received but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads more bytes into the buffer; Ok(0) at end of stream.
    pub fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 65536];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Reads up to and including the blank line ending a message head.
    /// Ok(None) when the stream ends cleanly before a single byte arrives.
    pub fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                return Ok(Some(self.take(i + 4)));
            }
            if self.fill()? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "stream ended inside a message head: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("stream ended after {} of {n} body bytes", self.buf.len()),
                ));
            }
        }
        Ok(self.take(n))
    }

    /// Reads one CRLF-terminated line, without the CRLF.
    pub fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let mut line = self.take(i + 2);
                line.truncate(i);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "stream ended inside a line",
                ));
            }
        }
    }

    /// Reads and decodes a chunked body (extensions and trailers skipped).
    pub fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let line = String::from_utf8_lossy(&line);
            let size_txt = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_txt, 16).map_err(|_| {
                io::Error::new(ErrorKind::InvalidData, format!("bad chunk size {line:?}"))
            })?;
            if size == 0 {
                // Trailers, then the empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.read_n(size)?);
            if !self.read_line()?.is_empty() {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "chunk not followed by CRLF",
                ));
            }
        }
    }

    /// Reads until end of stream (a reset after some data also ends it).
    pub fn read_to_eof(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => return Err(e),
            }
        }
        Ok(std::mem::take(&mut self.buf))
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parsed headers as owned `(name, value)` pairs, in order (values lossy UTF-8).
pub fn header_pairs(headers: &[httparse::Header]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// Case-insensitive lookup in a header list.
pub(super) fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// True when a comma-separated header value (e.g. `Connection`) has `token`.
pub(super) fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}
