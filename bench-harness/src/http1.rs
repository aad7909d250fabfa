//! Just enough HTTP/1.1 response parsing for the harness's own clients: find
//! the end of the head, read the status and Content-Length, and say whether
//! the whole body has arrived. The backends always send a Content-Length.

use anyhow::{Context, Result, bail};

/// A response head parsed from the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Bytes of the whole response (head + body).
    pub total_len: usize,
    /// The server said `Connection: close` (or spoke HTTP/1.0 without keep-alive).
    pub close: bool,
}

/// Parses the head at the front of `buf`: `None` until the blank line that
/// ends it has arrived. Chunked bodies and missing lengths are errors.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            bail!("response head over 64 KiB");
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        bail!("not an HTTP/1 response: {status_line:?}");
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().context("Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("chunked response not supported here");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            close = v.contains("close") || (close && !v.contains("keep-alive"));
        }
    }
    let length = match length {
        Some(l) => l,
        // 1xx, 204 and 304 have no body by definition.
        None if status < 200 || status == 204 || status == 304 => 0,
        None => bail!("response without Content-Length"),
    };
    Ok(Some(Head {
        status,
        total_len: end + 4 + length,
        close,
    }))
}

/// Whether `buf` holds a complete response: `None` (need more),
/// `Some(true)` (a complete 200), `Some(false)` (another status, complete or
/// not).
pub fn response_complete(buf: &[u8]) -> Result<Option<bool>> {
    Ok(match parse_head(buf)? {
        None => None,
        Some(h) if h.status != 200 => Some(false),
        Some(h) => (buf.len() >= h.total_len).then_some(true),
    })
}

/// Position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
    fn heads() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200";
        let h = parse_head(two).unwrap().unwrap();
        assert_eq!((h.status, h.total_len, h.close), (200, 40, false));
        let c = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(c.close);
        let old = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(old.close);
        let ka =
            parse_head(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(!ka.close);
        let nc = parse_head(b"HTTP/1.1 304 Not Modified\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(nc.total_len, 29);
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }
}
