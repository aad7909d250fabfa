//! `http-request`: the one rule ringlb acts on so far, a body-size limit.
//!
//! Parsed here, enforced in `http/session/` (before connecting for a
//! `Content-Length`, while streaming for a chunked body).
//!
//! HAProxy has no dedicated keyword for the largest request body; operators
//! write `http-request deny deny_status 413 if { req.body_size gt <n> }` (or
//! test `req.hdr_val(content-length)`). That exact rule is understood; any
//! other `http-request` rule is refused rather than silently ignored.

use crate::config::parse::Args;
use crate::config::raw::RawProxy;

/// `http-request deny [deny_status 413] if { req.body_size|req.hdr_val(content-length) gt|ge <n> }`.
pub fn http_request(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let words = args.rest();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let unsupported = || {
        format!(
            "'http-request {}' is not supported by ringlb yet; the only rule understood is \
             'http-request deny deny_status 413 if {{ req.body_size gt <bytes> }}'",
            w.join(" ")
        )
    };
    let (status, rest) = match w.as_slice() {
        ["deny", "deny_status", "413", rest @ ..] => (413, rest),
        ["deny", "deny_status", "403", rest @ ..] => (403, rest),
        ["deny", "deny_status", s, ..] => {
            return Err(format!(
                "'http-request deny': deny_status '{s}' is not supported (403 or 413)"
            ));
        }
        // HAProxy's default status for deny.
        ["deny", rest @ ..] => (403, rest),
        _ => return Err(unsupported()),
    };
    let (op, n) = match rest {
        ["if", "{", fetch, op, n, "}"]
            if *fetch == "req.body_size"
                || fetch.eq_ignore_ascii_case("req.hdr_val(content-length)") =>
        {
            (*op, *n)
        }
        _ => return Err(unsupported()),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'http-request deny': expected a byte count, got '{n}'"))?;
    let max = match op {
        "gt" => n,
        "ge" => n
            .checked_sub(1)
            .ok_or_else(|| "'http-request deny': 'ge 0' denies every request".to_string())?,
        _ => return Err(unsupported()),
    };
    // The tighter of several limits wins, as the first matching deny would.
    p.http.max_body = Some(match p.http.max_body {
        Some((m, s)) if m <= max => (m, s),
        _ => (max, status),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::load_sources;

    fn cfg(rule: &str) -> String {
        format!(
            "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             listen l\n bind 127.0.0.1:1\n {rule}\n server s 127.0.0.1:2\n"
        )
    }

    #[test]
    fn body_limit_rules() {
        let l = load_sources(&[(
            "t.cfg",
            &cfg("http-request deny deny_status 413 if { req.body_size gt 1000 }"),
        )])
        .unwrap();
        assert_eq!(l.config.frontends[0].http.max_body, Some((1000, 413)));
        let l = load_sources(&[(
            "t.cfg",
            &cfg("http-request deny if { req.hdr_val(content-length) ge 10 }"),
        )])
        .unwrap();
        assert_eq!(l.config.backends[0].http.max_body, Some((9, 403)));
    }

    #[test]
    fn other_rules_are_refused_with_file_line() {
        let e = load_sources(&[("t.cfg", &cfg("http-request set-header X-A b"))]).unwrap_err();
        assert!(
            e.errors[0].starts_with("t.cfg:8: 'http-request set-header X-A b' is not supported"),
            "{:?}",
            e.errors
        );
        let e = load_sources(&[(
            "t.cfg",
            &cfg("http-request deny deny_status 500 if { req.body_size gt 1 }"),
        )])
        .unwrap_err();
        assert!(e.errors[0].contains("deny_status '500'"), "{:?}", e.errors);
    }
}
