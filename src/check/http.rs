//! `option httpchk`: the request sent and how the answer's status line is judged.
//!
//! The request is HAProxy's: `<method> <uri> <version>\r\n`, then whatever
//! header lines the version string carries (the 1.x idiom
//! `HTTP/1.1\r\nHost:\ www`), then an empty line. HTTP/1.0, the seed's form,
//! gets nothing else. HTTP/1.1 requires a `Host`, so one naming the checked
//! address is added when the version string has none, and `Connection: close`
//! so the server does not hold the connection after answering.

use crate::config::model::HttpCheck;

use super::status::CheckStatus;

/// Longest status line worth reading; past this the answer is not HTTP.
pub const MAX_STATUS_LINE: usize = 1024;

/// The bytes of the check request. `host` is used only when a `Host` header is needed.
pub fn build_request(check: &HttpCheck, host: &str) -> Vec<u8> {
    // The version argument may carry header lines after its first CRLF.
    let (version, extra) = match check.version.split_once("\r\n") {
        Some((v, rest)) => (v, rest),
        None => (check.version.as_str(), ""),
    };
    let mut req = format!("{} {} {}\r\n", check.method, check.uri, version);
    let extra_lines: Vec<&str> = extra.split("\r\n").filter(|l| !l.is_empty()).collect();
    for line in &extra_lines {
        req.push_str(line);
        req.push_str("\r\n");
    }
    if version.eq_ignore_ascii_case("HTTP/1.1") {
        let has = |name: &str| {
            extra_lines.iter().any(|l| {
                l.split_once(':')
                    .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            })
        };
        if !has("host") {
            req.push_str(&format!("Host: {host}\r\n"));
        }
        if !has("connection") {
            req.push_str("Connection: close\r\n");
        }
    }
    req.push_str("\r\n");
    req.into_bytes()
}

/// The verdict on a response's first line: status, code and HAProxy's "info".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `L7OK`, `L7STS` or `L7RSP`.
    pub status: CheckStatus,
    /// The status code (0 for `L7RSP`).
    pub code: u16,
    /// For `L7STS`, the reason phrase; for `L7RSP`, the line received.
    pub info: String,
}

/// Judges the first line of an answer (without its CRLF): 2xx and 3xx pass,
/// other codes are `L7STS`, anything that is not `HTTP/1.x NNN` is `L7RSP`.
pub fn judge_status_line(line: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(line);
    let invalid = || Verdict {
        status: CheckStatus::L7Rsp,
        code: 0,
        info: text.trim_end().to_string(),
    };
    let Some(rest) = text.strip_prefix("HTTP/1.") else {
        return invalid();
    };
    // `HTTP/1.x NNN[ reason]`: one version digit, a space, three digits, then
    // nothing or a space.
    let bytes = rest.as_bytes();
    if bytes.len() < 5
        || !bytes[0].is_ascii_digit()
        || bytes[1] != b' '
        || !bytes[2..5].iter().all(u8::is_ascii_digit)
        || bytes.get(5).is_some_and(|&b| b != b' ')
    {
        return invalid();
    }
    let code: u16 = rest[2..5].parse().unwrap_or(0);
    let reason = rest.get(6..).unwrap_or("").trim().to_string();
    if (200..400).contains(&code) {
        Verdict {
            status: CheckStatus::L7Ok,
            code,
            // HAProxy 2.x reports no info for a passed check.
            info: String::new(),
        }
    } else {
        Verdict {
            status: CheckStatus::L7Sts,
            code,
            info: reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(method: &str, uri: &str, version: &str) -> HttpCheck {
        HttpCheck {
            method: method.into(),
            uri: uri.into(),
            version: version.into(),
        }
    }

    fn req(check: &HttpCheck) -> String {
        String::from_utf8(build_request(check, "10.0.0.1:80")).expect("ascii")
    }

    #[test]
    fn http10_request_is_the_bare_request_line() {
        assert_eq!(
            req(&hc("GET", "/l7check.html", "HTTP/1.0")),
            "GET /l7check.html HTTP/1.0\r\n\r\n"
        );
        assert_eq!(
            req(&hc("OPTIONS", "/", "HTTP/1.0")),
            "OPTIONS / HTTP/1.0\r\n\r\n"
        );
    }

    #[test]
    fn http11_request_gets_host_and_close() {
        assert_eq!(
            req(&hc("HEAD", "/h", "HTTP/1.1")),
            "HEAD /h HTTP/1.1\r\nHost: 10.0.0.1:80\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn headers_in_the_version_string_are_kept_and_not_doubled() {
        assert_eq!(
            req(&hc("GET", "/h", "HTTP/1.1\r\nHost: www")),
            "GET /h HTTP/1.1\r\nHost: www\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            req(&hc(
                "GET",
                "/h",
                "HTTP/1.1\r\nhost:www\r\nConnection: keep-alive\r\n"
            )),
            "GET /h HTTP/1.1\r\nhost:www\r\nConnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            req(&hc("GET", "/h", "HTTP/1.0\r\nX-Check: 1")),
            "GET /h HTTP/1.0\r\nX-Check: 1\r\n\r\n"
        );
    }

    #[test]
    fn two_and_three_hundreds_pass() {
        for (line, code) in [
            (&b"HTTP/1.1 200 OK"[..], 200),
            (b"HTTP/1.0 204 No Content", 204),
            (b"HTTP/1.1 302 Found", 302),
            (b"HTTP/1.1 399", 399),
        ] {
            let v = judge_status_line(line);
            assert_eq!(
                (v.status, v.code, v.info.as_str()),
                (CheckStatus::L7Ok, code, "")
            );
        }
    }

    #[test]
    fn other_codes_are_wrong_status_with_the_reason() {
        let v = judge_status_line(b"HTTP/1.1 500 Internal Server Error");
        assert_eq!(
            v,
            Verdict {
                status: CheckStatus::L7Sts,
                code: 500,
                info: "Internal Server Error".into()
            }
        );
        let v = judge_status_line(b"HTTP/1.0 404");
        assert_eq!(
            (v.status, v.code, v.info.as_str()),
            (CheckStatus::L7Sts, 404, "")
        );
        assert_eq!(
            judge_status_line(b"HTTP/1.1 199 X").status,
            CheckStatus::L7Sts
        );
        assert_eq!(
            judge_status_line(b"HTTP/1.1 400 Bad").status,
            CheckStatus::L7Sts
        );
    }

    #[test]
    fn anything_else_is_an_invalid_response() {
        for line in [
            &b"SSH-2.0-OpenSSH_9.6"[..],
            b"",
            b"HTTP/2 200",
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1  200 OK",
            b"HTTP/1.1 abc OK",
            b"\xff\xfe",
        ] {
            let v = judge_status_line(line);
            assert_eq!((v.status, v.code), (CheckStatus::L7Rsp, 0), "{line:?}");
        }
        assert_eq!(judge_status_line(b"hello").info, "hello");
    }
}
