//! Small helpers over header values shared by requests and responses.

/// Whether a comma-separated header value holds `token` (case-insensitive).
// Inlined into the response parser, where it runs twice per `Connection`
// header: left to LLVM, the call stayed out of line once the crate grew.
#[inline]
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Parses a `Content-Length` value: digits only, no sign, no overflow; a
/// list of one value repeated (`5, 5`) is that value (RFC 9110 §8.6), and is
/// forwarded as a single one.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    let mut found = None;
    for v in value.split(|&b| b == b',') {
        let v = v.trim_ascii();
        if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: u64 = std::str::from_utf8(v).ok()?.parse().ok()?;
        if found.is_some_and(|f| f != n) {
            return None;
        }
        found = Some(n);
    }
    found
}

/// Writes `Content-Length: n` and its line end.
pub fn write_content_length(out: &mut Vec<u8>, mut n: u64) {
    // Digits by hand: every response with a length passes here, and the
    // formatter costs more than the rest of the header.
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The transfer codings of a message, gathered over all its
/// `Transfer-Encoding` headers (RFC 9112 §6.1): ringlb relays only `chunked`,
/// so the list is checked as a whole rather than by its last word.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransferCodings {
    /// At least one `Transfer-Encoding` header was seen.
    pub present: bool,
    /// `chunked` appeared (once or more).
    chunked: bool,
    /// The last coding seen was `chunked`.
    last_chunked: bool,
    /// A coding other than `chunked` appeared.
    other: bool,
    /// An empty element, a coding that is not a token, or `chunked` twice.
    malformed: bool,
}

/// What a request's transfer codings mean for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestCoding {
    /// No `Transfer-Encoding`.
    Absent,
    /// Exactly `chunked`.
    Chunked,
    /// A list that can't be trusted to frame the body (400).
    Malformed,
    /// A coding ringlb does not relay (501).
    Unsupported,
}

/// What a response's transfer codings mean for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseCoding {
    /// No `Transfer-Encoding`.
    Absent,
    /// `chunked` last: chunked framing (other codings before it pass through).
    Chunked,
    /// Codings without a final `chunked`: the body runs until the server closes.
    UntilClose,
    /// A malformed list (502).
    Malformed,
}

impl TransferCodings {
    /// Adds one `Transfer-Encoding` header's value.
    pub fn add(&mut self, value: &[u8]) {
        self.present = true;
        for t in value.split(|&b| b == b',') {
            let t = t.trim_ascii();
            if t.is_empty() || !t.iter().all(|&b| is_tchar(b)) {
                self.malformed = true;
            } else if t.eq_ignore_ascii_case(b"chunked") {
                self.malformed |= self.chunked;
                self.chunked = true;
                self.last_chunked = true;
            } else {
                self.other = true;
                self.last_chunked = false;
            }
        }
    }

    /// The request's framing: only a lone `chunked` is relayed (RFC 9112 §6.3:
    /// `chunked` not last is a 400; other codings, 501 as §6.1 advises).
    pub fn request(&self) -> RequestCoding {
        if !self.present {
            RequestCoding::Absent
        } else if self.malformed || (self.chunked && !self.last_chunked) {
            RequestCoding::Malformed
        } else if self.other {
            RequestCoding::Unsupported
        } else {
            RequestCoding::Chunked
        }
    }

    /// The response's framing (RFC 9112 §6.3 rules 3 and 4).
    pub fn response(&self) -> ResponseCoding {
        if !self.present {
            ResponseCoding::Absent
        } else if self.malformed {
            ResponseCoding::Malformed
        } else if self.last_chunked {
            ResponseCoding::Chunked
        } else {
            ResponseCoding::UntilClose
        }
    }
}

/// A `tchar` of RFC 9110 §5.6.2 (the characters of a token).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The authority of an absolute-form request target (`http://host:port/...`),
/// or `None` for any other form. `Some(Err(()))` when it is empty or carries
/// userinfo, which a request must not (RFC 9110 §4.2.4).
pub fn absolute_authority(target: &[u8]) -> Option<Result<(&[u8], u16), ()>> {
    let (rest, port) = if starts_with_ci(target, b"http://") {
        (&target[7..], 80)
    } else if starts_with_ci(target, b"https://") {
        (&target[8..], 443)
    } else {
        return None;
    };
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let auth = &rest[..end];
    if auth.is_empty() || auth.contains(&b'@') {
        return Some(Err(()));
    }
    Some(Ok((auth, port)))
}

/// Whether a `Host` value names the same authority as a request target's,
/// the scheme's default port being the same as none (`a:80` is `a`).
pub fn same_authority(auth: &[u8], host: &[u8], default_port: u16) -> bool {
    let suffix: &[u8] = if default_port == 443 { b":443" } else { b":80" };
    let a = auth.trim_ascii();
    let h = host.trim_ascii();
    let a = a.strip_suffix(suffix).unwrap_or(a);
    let h = h.strip_suffix(suffix).unwrap_or(h);
    a.eq_ignore_ascii_case(h)
}

pub(crate) fn starts_with_ci(v: &[u8], prefix: &[u8]) -> bool {
    v.len() >= prefix.len() && v[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codings(values: &[&str]) -> TransferCodings {
        let mut t = TransferCodings::default();
        for v in values {
            t.add(v.as_bytes());
        }
        t
    }

    #[test]
    fn request_codings() {
        use RequestCoding::*;
        let r = |v: &[&str]| codings(v).request();
        assert_eq!(r(&[]), Absent);
        assert_eq!(r(&["chunked"]), Chunked);
        assert_eq!(r(&[" Chunked "]), Chunked);
        assert_eq!(r(&["identity, chunked"]), Unsupported);
        assert_eq!(r(&["gzip, chunked"]), Unsupported);
        assert_eq!(r(&["gzip"]), Unsupported);
        assert_eq!(r(&["xchunked", "chunked"]), Unsupported);
        assert_eq!(r(&[",chunked"]), Malformed);
        assert_eq!(r(&["chunked,"]), Malformed);
        assert_eq!(r(&["chunked", "chunked"]), Malformed);
        assert_eq!(r(&["chunked, chunked"]), Malformed);
        assert_eq!(r(&["chunked, gzip"]), Malformed);
        assert_eq!(r(&["chunked", "gzip"]), Malformed);
        assert_eq!(r(&["chunked;q=1"]), Malformed);
        assert_eq!(r(&[""]), Malformed);
    }

    #[test]
    fn response_codings() {
        use ResponseCoding::*;
        let r = |v: &[&str]| codings(v).response();
        assert_eq!(r(&["gzip, chunked"]), Chunked);
        assert_eq!(r(&["chunked, gzip"]), UntilClose);
        assert_eq!(r(&["gzip"]), UntilClose);
        assert_eq!(r(&["chunked", "chunked"]), Malformed);
        assert_eq!(r(&[",chunked"]), Malformed);
    }

    #[test]
    fn authorities() {
        assert_eq!(absolute_authority(b"/x"), None);
        assert_eq!(
            absolute_authority(b"HTTP://a.b/x"),
            Some(Ok((&b"a.b"[..], 80)))
        );
        assert_eq!(
            absolute_authority(b"https://a.b:8443?q"),
            Some(Ok((&b"a.b:8443"[..], 443)))
        );
        assert_eq!(absolute_authority(b"http://u@a.b/"), Some(Err(())));
        assert_eq!(absolute_authority(b"http:///x"), Some(Err(())));
        assert!(same_authority(b"a.example:80", b"A.Example", 80));
        assert!(!same_authority(b"a.example:8080", b"a.example", 80));
        assert!(!same_authority(b"a.example", b"b.example", 80));
    }

    #[test]
    fn tokens() {
        assert!(has_token(b"Keep-Alive, Upgrade", b"upgrade"));
        assert!(!has_token(b"closed", b"close"));
    }

    #[test]
    fn content_length() {
        assert_eq!(parse_content_length(b" 42 "), Some(42));
        assert_eq!(parse_content_length(b"+1"), None);
        assert_eq!(parse_content_length(b"99999999999999999999"), None);
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"5, 5"), Some(5));
        assert_eq!(parse_content_length(b"5, 6"), None);
        assert_eq!(parse_content_length(b"5,"), None);
        for n in [0, 7, 10, 1234567890, u64::MAX] {
            let mut out = Vec::new();
            write_content_length(&mut out, n);
            assert_eq!(out, format!("Content-Length: {n}\r\n").into_bytes());
        }
    }
}
