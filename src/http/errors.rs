//! Custom error pages (`errorfile`, `errorloc*`, `errorfiles`, `http-error`)
//! compiled once at load, and the choice of page when ringlb answers itself.
//!
//! Pages are written out as HAProxy 2.6 writes them: its H1 encoder lowercases
//! header names, drops the file's `Connection` headers and adds
//! `connection: close` to an HTTP/1.1 response when it closes after it. Each
//! page keeps both forms ready, so the hot path only picks bytes.
//!
//! The page for a status is the backend's when the error happens after the
//! backend was chosen, else the frontend's, else HAProxy's built-in one
//! (`http_error_message()` in HAProxy: `s->be` first, then the frontend).

use std::sync::{Arc, LazyLock};

use crate::bufpool::BUF_SIZE;
use crate::runtime::{BackendRt, FrontendRt};

/// The statuses HAProxy 2.6 has error pages for (`errorfile` accepts only these).
pub const CODES: [u16; 19] = [
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// The index of `status` in [`CODES`], if HAProxy handles it.
pub fn code_index(status: u16) -> Option<usize> {
    CODES.iter().position(|&c| c == status)
}

/// HAProxy's reason phrase for a status it makes a reply for (`http_get_reason`).
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Request Entity Too Large",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway or Proxy Error",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => "Other",
    }
}

/// A whole response ringlb sends instead of relaying one, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    /// The status the client gets (302 for `errorloc`, the file's for `errorfile`).
    pub status: u16,
    /// Sent when the connection closes after it (empty: close without answering).
    close: Box<[u8]>,
    /// Sent when the connection stays open; `None` when the page is not
    /// delimited (HTTP/1.0 or no `content-length`): it must close.
    keep: Option<Box<[u8]>>,
}

impl ErrorPage {
    /// The bytes to send before closing the connection.
    pub fn closing(&self) -> &[u8] {
        &self.close
    }

    /// The bytes to send when the connection is kept open, if the page allows it.
    pub fn keep_alive(&self) -> Option<&[u8]> {
        self.keep.as_deref()
    }

    /// An `errorfile` as read from disk: a whole HTTP response, checked as
    /// HAProxy checks it; `code` is the status it stands for. A file larger
    /// than a buffer is cut there, as HAProxy does (with its warning in the
    /// second value). An empty file means "close without answering".
    pub fn from_file(bytes: &[u8], code: u16) -> Result<(ErrorPage, Option<String>), String> {
        let mut warning = None;
        let bytes = if bytes.len() > BUF_SIZE {
            warning = Some(format!("larger than {BUF_SIZE} bytes. Truncating."));
            &bytes[..BUF_SIZE]
        } else {
            bytes
        };
        if bytes.is_empty() {
            let page = ErrorPage {
                status: code,
                close: Box::default(),
                keep: None,
            };
            return Ok((page, warning));
        }
        Ok((ErrorPage::parse_raw(bytes)?, warning))
    }

    /// Parses and re-encodes a raw response.
    fn parse_raw(bytes: &[u8]) -> Result<ErrorPage, String> {
        let mut slots = [httparse::EMPTY_HEADER; crate::http::request::MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut slots);
        let head_len = match resp.parse(bytes) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return Err("unable to parse headers (incomplete)".into());
            }
            Err(e) => return Err(format!("unable to parse headers ({e})")),
        };
        let status = resp.code.unwrap_or(0);
        let body = &bytes[head_len..];
        let mut head = format!(
            "HTTP/1.{} {status} {}\r\n",
            resp.version.unwrap_or(1),
            resp.reason.unwrap_or("")
        )
        .into_bytes();
        let mut length = None;
        for h in resp.headers.iter() {
            let name = h.name.to_ascii_lowercase();
            match name.as_str() {
                "connection" => continue,
                "transfer-encoding" => {
                    return Err("'transfer-encoding' is not supported in an error file by \
                                ringlb; give a 'content-length'"
                        .into());
                }
                "content-length" => {
                    let n = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .ok_or("invalid 'content-length'")?;
                    if n != body.len() {
                        return Err(format!(
                            "payload size does not match the announced content-length ({} != {n})",
                            body.len()
                        ));
                    }
                    length = Some(n);
                }
                _ => {}
            }
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(h.value);
            head.extend_from_slice(b"\r\n");
        }
        let http11 = resp.version == Some(1);
        let bodiless = status < 200 || status == 204 || status == 304;
        Ok(ErrorPage::assemble(
            status,
            &head,
            body,
            http11,
            length.is_some() || bodiless,
        ))
    }

    /// `errorloc`/`errorloc302` (302) and `errorloc303` (303): a redirection
    /// to `url`, with HAProxy's headers.
    pub fn redirect(status: u16, url: &str) -> ErrorPage {
        let head = format!(
            "HTTP/1.1 {status} {}\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: {url}\r\n",
            reason(status)
        );
        ErrorPage::assemble(status, head.as_bytes(), b"", true, true)
    }

    /// An `http-error` reply: `hdrs` first, then the length and type, as HAProxy
    /// writes them.
    pub fn reply(
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
        hdrs: &[(String, String)],
    ) -> ErrorPage {
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
        for (name, value) in hdrs {
            head.extend_from_slice(
                format!("{}: {value}\r\n", name.to_ascii_lowercase()).as_bytes(),
            );
        }
        head.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        if let Some(ct) = content_type {
            head.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
        }
        ErrorPage::assemble(status, &head, body, true, true)
    }

    /// Both forms of a page from its head (status line and header lines,
    /// without the blank line) and body.
    fn assemble(status: u16, head: &[u8], body: &[u8], http11: bool, framed: bool) -> ErrorPage {
        let join = |extra: &[u8]| -> Box<[u8]> {
            [head, extra, b"\r\n", body].concat().into_boxed_slice()
        };
        ErrorPage {
            status,
            close: join(if http11 {
                b"connection: close\r\n"
            } else {
                b""
            }),
            keep: (http11 && framed).then(|| join(b"")),
        }
    }
}

/// HAProxy 2.6's built-in pages (`http_err_msgs`), for every status in [`CODES`].
static BUILTIN: LazyLock<Vec<ErrorPage>> = LazyLock::new(|| {
    CODES
        .iter()
        .map(|&c| {
            let (title, text) = builtin_text(c);
            let body = format!("<html><body><h1>{c} {title}</h1>\n{text}\n</body></html>\n");
            let head = format!(
                "HTTP/1.1 {c} {title}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n",
                body.len()
            );
            ErrorPage::assemble(c, head.as_bytes(), body.as_bytes(), true, true)
        })
        .collect()
});

/// The title and sentence of HAProxy's built-in page for `code` (its typos kept).
fn builtin_text(code: u16) -> (&'static str, &'static str) {
    match code {
        200 => ("OK", "Service ready."),
        400 => ("Bad request", "Your browser sent an invalid request."),
        401 | 407 => (
            "Unauthorized",
            "You need a valid user and password to access this content.",
        ),
        403 => ("Forbidden", "Request forbidden by administrative rules."),
        404 => ("Not Found", "The resource could not be found."),
        405 => (
            "Method Not Allowed",
            "A request was made of a resource using a request method not supported by that resource",
        ),
        408 => (
            "Request Time-out",
            "Your browser didn't send a complete request in time.",
        ),
        410 => (
            "Gone",
            "The resource is no longer available and will not be available again.",
        ),
        413 => (
            "Payload Too Large",
            "The request entity exceeds the maximum allowed.",
        ),
        421 => (
            "Misdirected Request",
            "Request sent to a non-authoritative server.",
        ),
        422 => (
            "Unprocessable Content",
            "The server cannot process the contained instructions.",
        ),
        425 => ("Too Early", "Your browser sent early data."),
        429 => (
            "Too Many Requests",
            "You have sent too many requests in a given amount of time.",
        ),
        500 => (
            "Internal Server Error",
            "An internal server error occurred.",
        ),
        501 => (
            "Not Implemented",
            ".The server does not support the functionality required to fulfill the request.",
        ),
        502 => (
            "Bad Gateway",
            "The server returned an invalid or incomplete response.",
        ),
        503 => (
            "Service Unavailable",
            "No server is available to handle this request.",
        ),
        _ => ("Gateway Time-out", "The server didn't respond in time."),
    }
}

/// HAProxy's built-in page for `status`; a status it has none for gets its
/// 500 page, as HAProxy does.
pub fn builtin(status: u16) -> &'static ErrorPage {
    &BUILTIN[code_index(status).unwrap_or_else(|| code_index(500).unwrap_or(0))]
}

/// One proxy's custom pages by status, built from its lines and the
/// `defaults` before it (later lines win).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorPages {
    pages: [Option<Arc<ErrorPage>>; CODES.len()],
}

impl ErrorPages {
    /// The custom page for `status`, if one is set.
    pub fn get(&self, status: u16) -> Option<&ErrorPage> {
        self.pages[code_index(status)?].as_deref()
    }

    /// Sets (or with `None`, clears back to the built-in) the page for `status`,
    /// one of [`CODES`].
    pub fn set(&mut self, status: u16, page: Option<Arc<ErrorPage>>) {
        if let Some(i) = code_index(status) {
            self.pages[i] = page;
        }
    }

    /// The page shared with another table (an `http-errors` section).
    pub fn shared(&self, status: u16) -> Option<Arc<ErrorPage>> {
        self.pages[code_index(status)?].clone()
    }

    /// Whether no custom page is set.
    pub fn is_empty(&self) -> bool {
        self.pages.iter().all(Option::is_none)
    }
}

/// The custom page for an error ringlb answers itself: the backend's (when
/// the request reached one), else the frontend's; `None`: the built-in page.
pub fn custom<'a>(
    fe: &'a FrontendRt,
    be: Option<&'a BackendRt>,
    status: u16,
) -> Option<&'a ErrorPage> {
    be.and_then(|b| b.model.errors.get(status))
        .or_else(|| fe.model.errors.get(status))
}

/// The page HAProxy sends for a status it answers with, custom or built-in:
/// what `http-request deny [deny_status <s>]` (403 by default) and `monitor`
/// answer. `be` is the request's backend once it was chosen.
pub fn page<'a>(fe: &'a FrontendRt, be: Option<&'a BackendRt>, status: u16) -> &'a ErrorPage {
    custom(fe, be, status).unwrap_or_else(|| builtin(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_is_reencoded_as_haproxy_writes_it() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nConnection: keep-alive\r\nX-Custom: Yes\r\nContent-Length: 12\r\n\r\nmaintenance\n";
        let (p, w) = ErrorPage::from_file(raw, 503).unwrap();
        assert!(w.is_none());
        assert_eq!(p.status, 503);
        assert_eq!(
            p.closing(),
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\nx-custom: Yes\r\ncontent-length: 12\r\nconnection: close\r\n\r\nmaintenance\n"
        );
        assert_eq!(
            p.keep_alive().unwrap(),
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\nx-custom: Yes\r\ncontent-length: 12\r\n\r\nmaintenance\n"
        );
    }

    #[test]
    fn http10_file_without_length_closes_without_header() {
        let raw = b"HTTP/1.0 403 Forbidden\nCache-Control: no-cache\nConnection: close\n\n<h1>nope</h1>\n";
        let (p, _) = ErrorPage::from_file(raw, 403).unwrap();
        assert_eq!(
            p.closing(),
            b"HTTP/1.0 403 Forbidden\r\ncache-control: no-cache\r\n\r\n<h1>nope</h1>\n"
        );
        assert!(p.keep_alive().is_none());
    }

    #[test]
    fn bad_files_are_refused_with_haproxys_reasons() {
        let e = ErrorPage::from_file(b"HTTP/1.1 503 X\r\nContent-Length: 50\r\n\r\nshort\n", 503)
            .unwrap_err();
        assert_eq!(
            e,
            "payload size does not match the announced content-length (6 != 50)"
        );
        assert!(
            ErrorPage::from_file(b"garbage\n", 503)
                .unwrap_err()
                .starts_with("unable to parse headers")
        );
        assert!(
            ErrorPage::from_file(b"HTTP/1.1 503 X\r\nContent-Len", 503)
                .unwrap_err()
                .starts_with("unable to parse headers")
        );
    }

    #[test]
    fn oversized_file_is_cut_at_a_buffer() {
        let body = vec![b'x'; 17000];
        let mut raw =
            format!("HTTP/1.1 503 S\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        raw.extend_from_slice(&body);
        let e = ErrorPage::from_file(&raw, 503).unwrap_err();
        assert!(e.contains("content-length"), "{e}");
        let mut raw = b"HTTP/1.0 503 S\r\n\r\n".to_vec();
        raw.extend_from_slice(&body);
        let (p, w) = ErrorPage::from_file(&raw, 503).unwrap();
        assert_eq!(p.closing().len(), BUF_SIZE);
        assert!(w.unwrap().contains("Truncating"));
    }

    #[test]
    fn empty_file_closes_silently() {
        let (p, _) = ErrorPage::from_file(b"", 503).unwrap();
        assert!(p.closing().is_empty());
        assert!(p.keep_alive().is_none());
    }

    #[test]
    fn redirect_and_reply_match_haproxy() {
        assert_eq!(
            ErrorPage::redirect(302, "http://example.com/x").closing(),
            b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: http://example.com/x\r\nconnection: close\r\n\r\n"
        );
        let hdrs = [("X-One".to_string(), "1".to_string())];
        assert_eq!(
            ErrorPage::reply(401, Some("text/plain"), b"hello\n", &hdrs).closing(),
            b"HTTP/1.1 401 Unauthorized\r\nx-one: 1\r\ncontent-length: 6\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nhello\n"
        );
        assert_eq!(
            ErrorPage::reply(504, None, b"", &[]).keep_alive().unwrap(),
            b"HTTP/1.1 504 Gateway Time-out\r\ncontent-length: 0\r\n\r\n"
        );
    }

    #[test]
    fn builtin_pages_are_haprox_ones() {
        assert_eq!(
            builtin(200).keep_alive().unwrap(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 58\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"
        );
        assert_eq!(
            builtin(503).closing(),
            crate::http::error::HttpError::ServiceUnavailable.response()
        );
        assert_eq!(builtin(418).status, 500);
        for c in CODES {
            assert_eq!(builtin(c).status, c);
        }
    }

    #[test]
    fn table_lookup() {
        let mut t = ErrorPages::default();
        assert!(t.is_empty());
        t.set(503, Some(Arc::new(ErrorPage::redirect(302, "/x"))));
        t.set(999, Some(Arc::new(ErrorPage::redirect(302, "/y"))));
        assert_eq!(t.get(503).unwrap().status, 302);
        assert!(t.get(502).is_none());
        assert!(t.get(999).is_none());
        t.set(503, None);
        assert!(t.is_empty());
    }
}
