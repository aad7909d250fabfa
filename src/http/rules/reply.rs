//! The responses rules make: `deny`/`tarpit`/`return` replies, redirects and
//! the `auth` challenge, laid out byte for byte as HAProxy 2.6 sends them
//! (lower-case header names, `content-length` first, `cache-control:
//! no-cache` on error pages and temporary redirects).

use std::io::Write;

use super::{Redirect, RedirectKind, Reply, ReplyBody};

/// What kind of answer a rule made (for counters and the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalKind {
    /// `deny` (counted as denied).
    Deny,
    /// `tarpit` (counted as denied, answered after `timeout tarpit`).
    Tarpit,
    /// `return`.
    Return,
    /// A redirect.
    Redirect,
    /// An `auth` challenge.
    Auth,
    /// A rewrite produced an invalid message (500).
    Invalid,
    /// `use-service` (counted as intercepted).
    Service,
}

/// A response made by a rule, ready to send.
#[derive(Debug, Clone)]
pub struct Local {
    /// The whole response.
    pub page: Vec<u8>,
    /// Its status.
    pub status: u16,
    /// Why it was made.
    pub kind: LocalKind,
}

/// The reason phrase HAProxy writes for a status.
pub fn status_reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        511 => "Network Authentication Required",
        _ => "Other",
    }
}

/// The sentence of HAProxy's built-in error page for a status.
fn page_text(code: u16) -> &'static str {
    match code {
        200 => "Service ready.",
        400 => "Your browser sent an invalid request.",
        401 | 407 => "You need a valid user and password to access this content.",
        403 => "Request forbidden by administrative rules.",
        404 => "The resource could not be found.",
        405 => {
            "A request was made of a resource using a request method not supported by that resource"
        }
        408 => "Your browser didn't send a complete request in time.",
        410 => "The resource is no longer available and will not be available again.",
        413 => "The request entity exceeds the maximum allowed.",
        425 => "Your browser sent early data.",
        429 => "You have sent too many requests in a given amount of time.",
        500 => "An internal server error occurred.",
        501 => "The server does not support the functionality required to fulfill the request.",
        502 => "The server returned an invalid or incomplete response.",
        503 => "No server is available to handle this request.",
        504 => "The server didn't respond in time.",
        _ => "",
    }
}

/// HAProxy's built-in error page for `code`, with `extra` header lines
/// (each ending in CRLF) before the blank line.
pub fn default_page(code: u16, extra: &[u8]) -> Vec<u8> {
    let reason = status_reason(code);
    let body = format!(
        "<html><body><h1>{code} {reason}</h1>\n{}\n</body></html>\n",
        page_text(code)
    );
    let mut out = Vec::with_capacity(160 + body.len() + extra.len());
    let _ = write!(
        out,
        "HTTP/1.1 {code} {reason}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n",
        body.len()
    );
    out.extend_from_slice(extra);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

/// A `return`/`deny`/`tarpit` response: `headers` are the rendered `hdr`
/// lines (CRLF-terminated), `body` the rendered payload for a format body.
pub fn reply(r: &Reply, headers: &[u8], formatted: Option<&[u8]>) -> Vec<u8> {
    let body: &[u8] = match &r.body {
        ReplyBody::ErrorPage => {
            // The page's own headers follow the rule's `hdr` lines.
            let page = default_page(r.status, b"");
            let line_end = page.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1);
            let mut out = page[..line_end].to_vec();
            out.extend_from_slice(headers);
            out.extend_from_slice(&page[line_end..]);
            return out;
        }
        ReplyBody::Raw(raw) => return raw.clone(),
        ReplyBody::Empty => b"",
        ReplyBody::Static(b) => b,
        ReplyBody::Format(_) => formatted.unwrap_or_default(),
    };
    let mut out = Vec::with_capacity(96 + headers.len() + body.len());
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", r.status, status_reason(r.status));
    out.extend_from_slice(headers);
    if !matches!(r.status, 204 | 304) {
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    if let Some(t) = &r.content_type {
        let _ = write!(out, "content-type: {t}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The `Location` of a redirect: `to` is the rendered location, prefix or
/// scheme; `target` the request target, `host` its `Host`.
pub fn location(r: &Redirect, to: &[u8], target: &[u8], host: Option<&[u8]>, out: &mut Vec<u8>) {
    let target = origin_form(target);
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(q) => (&target[..q], &target[q..]),
        None => (target, &b""[..]),
    };
    match r.kind {
        RedirectKind::Location => {
            out.extend_from_slice(to);
            return;
        }
        RedirectKind::Prefix => {
            // A prefix of "/" keeps the path as it is.
            if to != b"/" {
                out.extend_from_slice(to);
            }
        }
        RedirectKind::Scheme => {
            out.extend_from_slice(to);
            out.extend_from_slice(b"://");
            out.extend_from_slice(host.unwrap_or_default());
        }
    }
    out.extend_from_slice(path);
    if r.append_slash && !path.ends_with(b"/") {
        out.push(b'/');
    }
    if !r.drop_query {
        out.extend_from_slice(query);
    }
}

/// The path and query of a target in absolute form (`http://h/p?q` → `/p?q`).
pub fn origin_form(target: &[u8]) -> &[u8] {
    if target.first() == Some(&b'/') {
        return target;
    }
    let Some(p) = memchr::memmem::find(target, b"://") else {
        return target;
    };
    let rest = &target[p + 3..];
    match rest.iter().position(|&b| b == b'/' || b == b'?') {
        Some(i) if rest[i] == b'/' => &rest[i..],
        Some(_) | None => b"/",
    }
}

/// A redirect response to `loc`.
pub fn redirect(r: &Redirect, loc: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + loc.len());
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\ncontent-length: 0\r\nlocation: ",
        r.code,
        status_reason(r.code)
    );
    out.extend_from_slice(loc);
    out.extend_from_slice(b"\r\n");
    // Only temporary redirects must not be cached.
    if matches!(r.code, 302 | 303 | 307) {
        out.extend_from_slice(b"cache-control: no-cache\r\n");
    }
    if let Some(c) = &r.set_cookie {
        let _ = write!(out, "set-cookie: {c}; path=/;\r\n");
    }
    if let Some(c) = &r.clear_cookie {
        let _ = write!(
            out,
            "set-cookie: {c}; path=/; Max-Age=0; Expires=Thu, 01-Jan-1970 00:00:01 GMT;\r\n"
        );
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lf::LogFormat;

    fn redir(kind: RedirectKind, to: &str) -> Redirect {
        Redirect {
            kind,
            to: LogFormat::parse(to, None).unwrap(),
            code: 302,
            drop_query: false,
            append_slash: false,
            set_cookie: None,
            clear_cookie: None,
        }
    }

    #[test]
    fn pages_match_haproxy_bytes() {
        // As HAProxy 2.6 answers `http-request deny` (captured from its socket).
        let want = "HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n";
        assert_eq!(String::from_utf8(default_page(403, b"")).unwrap(), want);
        let r = Reply {
            status: 400,
            content_type: Some("text/plain".into()),
            body: ReplyBody::Static(b"no".to_vec()),
            headers: Vec::new(),
        };
        assert_eq!(
            reply(&r, b"", None),
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nno"
        );
        let r = Reply {
            status: 204,
            content_type: None,
            body: ReplyBody::Empty,
            headers: Vec::new(),
        };
        assert_eq!(reply(&r, b"", None), b"HTTP/1.1 204 No Content\r\n\r\n");
    }

    #[test]
    fn locations() {
        let mut out = Vec::new();
        let mut r = redir(RedirectKind::Prefix, "/p");
        r.drop_query = true;
        location(&r, b"/p", b"/pre/x?y=1", Some(b"h"), &mut out);
        assert_eq!(out, b"/p/pre/x");
        out.clear();
        let r = redir(RedirectKind::Scheme, "https");
        location(&r, b"https", b"/sch?q", Some(b"h"), &mut out);
        assert_eq!(out, b"https://h/sch?q");
        out.clear();
        let mut r = redir(RedirectKind::Prefix, "/pp");
        r.append_slash = true;
        location(&r, b"/pp", b"http://h/kwp/a?z", Some(b"h"), &mut out);
        assert_eq!(out, b"/pp/kwp/a/?z");
        let mut r = redir(RedirectKind::Location, "/x");
        r.code = 301;
        assert_eq!(
            redirect(&r, b"/new"),
            b"HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\nlocation: /new\r\n\r\n"
        );
    }
}
