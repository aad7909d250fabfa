//! The error responses ringlb itself sends, with HAProxy's statuses and bodies.

/// A status ringlb answers on its own, without a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Malformed request.
    BadRequest,
    /// Denied by an `http-request deny` rule.
    Forbidden,
    /// The client did not send a complete request in time.
    RequestTimeout,
    /// The request body exceeds what is allowed.
    PayloadTooLarge,
    /// The request line does not fit in a buffer.
    UriTooLong,
    /// The request head does not fit in a buffer.
    HeadersTooLarge,
    /// A transfer coding or method ringlb cannot relay.
    NotImplemented,
    /// The server's answer was invalid or incomplete.
    BadGateway,
    /// No server could take the request.
    ServiceUnavailable,
    /// The server did not answer in time.
    GatewayTimeout,
}

impl HttpError {
    /// The error answered for a denied request body (`deny_status`).
    pub fn for_body_limit(status: u16) -> Self {
        if status == 413 {
            HttpError::PayloadTooLarge
        } else {
            HttpError::Forbidden
        }
    }

    /// The numeric status.
    pub fn status(self) -> u16 {
        match self {
            HttpError::BadRequest => 400,
            HttpError::Forbidden => 403,
            HttpError::RequestTimeout => 408,
            HttpError::PayloadTooLarge => 413,
            HttpError::UriTooLong => 414,
            HttpError::HeadersTooLarge => 431,
            HttpError::NotImplemented => 501,
            HttpError::BadGateway => 502,
            HttpError::ServiceUnavailable => 503,
            HttpError::GatewayTimeout => 504,
        }
    }

    fn reason_and_text(self) -> (&'static str, &'static str) {
        match self {
            HttpError::BadRequest => ("Bad Request", "Your browser sent an invalid request."),
            HttpError::Forbidden => ("Forbidden", "Request forbidden by administrative rules."),
            HttpError::RequestTimeout => (
                "Request Time-out",
                "Your browser didn't send a complete request in time.",
            ),
            HttpError::PayloadTooLarge => (
                "Payload Too Large",
                "The request entity exceeds the maximum allowed.",
            ),
            HttpError::UriTooLong => ("URI Too Long", "The requested URI is too long."),
            HttpError::HeadersTooLarge => (
                "Request Header Fields Too Large",
                "The request header fields are too large.",
            ),
            HttpError::NotImplemented => (
                "Not Implemented",
                "The server does not support the functionality required to fulfill the request.",
            ),
            HttpError::BadGateway => (
                "Bad Gateway",
                "The server returned an invalid or incomplete response.",
            ),
            HttpError::ServiceUnavailable => (
                "Service Unavailable",
                "No server is available to handle this request.",
            ),
            HttpError::GatewayTimeout => ("Gateway Time-out", "The server didn't respond in time."),
        }
    }

    /// The whole response: status line, headers and a short HTML body. The
    /// connection is always closed after an error, as HAProxy does.
    pub fn response(self) -> Vec<u8> {
        let (reason, text) = self.reason_and_text();
        let status = self.status();
        let body = format!("<html><body><h1>{status} {reason}</h1>\n{text}\n</body></html>\n");
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_complete_http() {
        for e in [
            HttpError::BadRequest,
            HttpError::Forbidden,
            HttpError::RequestTimeout,
            HttpError::PayloadTooLarge,
            HttpError::UriTooLong,
            HttpError::HeadersTooLarge,
            HttpError::NotImplemented,
            HttpError::BadGateway,
            HttpError::ServiceUnavailable,
            HttpError::GatewayTimeout,
        ] {
            let r = e.response();
            let mut h = [httparse::EMPTY_HEADER; 8];
            let mut resp = httparse::Response::new(&mut h);
            let n = match resp.parse(&r).unwrap() {
                httparse::Status::Complete(n) => n,
                httparse::Status::Partial => panic!("partial"),
            };
            assert_eq!(resp.code, Some(e.status()));
            let cl: usize = std::str::from_utf8(
                resp.headers
                    .iter()
                    .find(|h| h.name == "content-length")
                    .unwrap()
                    .value,
            )
            .unwrap()
            .parse()
            .unwrap();
            assert_eq!(cl, r.len() - n);
            assert!(String::from_utf8_lossy(&r[n..]).contains(&e.status().to_string()));
        }
    }
}
