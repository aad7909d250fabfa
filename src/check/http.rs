//! `option httpchk`: the request sent and how the answer's status line is judged.
//!
//! The request is HAProxy 2.6's (its HTX written as HTTP/1):
//! `<method> <uri> <version>\r\n`, then the header lines the version string
//! carries (the 1.x idiom `HTTP/1.1\r\nHost:\ www`), names lower-cased, then
//! `connection: close` on HTTP/1.1, then an empty line. No `Host` is added:
//! HAProxy sends none.

use crate::config::model::HttpCheck;

use super::status::CheckStatus;

/// Longest status line worth reading; past this the answer is not HTTP.
pub const MAX_STATUS_LINE: usize = 1024;

/// The bytes of the check request, as HAProxy 2.6 builds `option httpchk`
/// alone: the same as an `http-check send` with nothing of its own.
pub fn build_request(check: &HttpCheck) -> Vec<u8> {
    let bare = super::http_rules::Send::default();
    super::http_rules::build_request(&bare, Some(check), None, &Default::default())
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
        String::from_utf8(build_request(check)).expect("ascii")
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
    fn http11_request_gets_close_and_no_host() {
        assert_eq!(
            req(&hc("HEAD", "/h", "HTTP/1.1")),
            "HEAD /h HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn headers_in_the_version_string_are_kept_lower_cased() {
        assert_eq!(
            req(&hc("GET", "/h", "HTTP/1.1\r\nHost: www")),
            "GET /h HTTP/1.1\r\nhost: www\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            req(&hc("GET", "/h", "HTTP/1.0\r\nX-Check: 1")),
            "GET /h HTTP/1.0\r\nx-check: 1\r\n\r\n"
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
