//! `http-request`, `http-response`, `http-after-response` and `redirect`:
//! compiled by `http::rules` against the proxy's ACLs, run by the session.
//!
//! One `http-request` form is also read as a body-size limit:
//! `http-request deny [deny_status 413] if { req.body_size gt <n> }` (or
//! `req.hdr_val(content-length)`) is enforced while the body streams (a
//! chunked body included), where HAProxy would need `option
//! http-buffer-request` to see the size at all.

use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;
use crate::http::rules::{Action, Capture, Side, parse_legacy, parse_redirect_line, parse_rule};

/// The slot a `capture` action stores into: `len <n>` adds a request slot
/// to the frontend (HAProxy's "capture" in the log's `{...}` block); `id <n>`
/// names a `declare capture` slot, which must exist above in a frontend.
pub(super) fn capture_slot(
    p: &mut RawProxy,
    side: Side,
    target: Capture,
) -> Result<Capture, String> {
    use crate::config::raw::SectionKind;
    let frontend = matches!(p.kind, SectionKind::Frontend | SectionKind::Listen);
    match target {
        Capture::Len(_) if !frontend => Err(
            "'http-request capture ... len' needs a frontend's capture slots; in a backend use \
             'id <n>' with 'declare capture' in the frontend"
                .into(),
        ),
        Capture::Len(len) => {
            p.captures
                .request
                .push(crate::log::capture::Slot { header: None, len });
            Ok(Capture::Id(p.captures.request.len() - 1))
        }
        Capture::Id(id) if frontend => {
            let slots = if side == Side::Request {
                &p.captures.request
            } else {
                &p.captures.response
            };
            if id >= slots.len() {
                return Err(format!(
                    "'capture ... id {id}': no capture slot #{id} declared above ('declare \
                     capture request|response len <n>')"
                ));
            }
            Ok(target)
        }
        Capture::Id(_) => Ok(target),
    }
}

/// The 1.4-era filters, run as 1.4 ran them.
pub const LEGACY: &[&str] = &[
    "block",
    "reqadd",
    "reqrep",
    "reqirep",
    "reqdel",
    "reqidel",
    "reqdeny",
    "reqideny",
    "reqallow",
    "reqiallow",
    "reqtarpit",
    "reqitarpit",
    "rspadd",
    "rsprep",
    "rspirep",
    "rspdel",
    "rspidel",
    "rspdeny",
    "rspideny",
];

/// A 1.4-era filter (`reqrep`, `rspdel`, `block`, ...): run with a warning
/// naming the modern form, as HAProxy 2.x refuses these lines.
pub fn legacy(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let kw = args.keyword().to_string();
    let words = args.rest();
    let (mut rule, response, modern) = parse_legacy(&kw, &words, &mut p.acls, None)?;
    rule.origin = Some(cx.origin.clone());
    cx.warn(format!(
        "'{kw}' was removed in HAProxy 2.1; ringlb runs it as HAProxy 1.4 did. Use '{modern}' \
         instead"
    ));
    if kw == "block" {
        p.rules.request.insert(p.rules.blocks, rule);
        p.rules.blocks += 1;
    } else if response {
        p.rules.legacy_response.push(rule);
    } else {
        p.rules.legacy_request.push(rule);
    }
    Ok(())
}

/// `http-request <action> ...`.
pub fn http_request(cx: &Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let words = args.rest();
    if body_limit(p, &words)? {
        return Ok(());
    }
    rule(cx, p, Side::Request, &words)
}

/// `http-response <action> ...`.
pub fn http_response(cx: &Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let words = args.rest();
    rule(cx, p, Side::Response, &words)
}

/// `http-after-response <action> ...`.
pub fn http_after_response(cx: &Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let words = args.rest();
    rule(cx, p, Side::After, &words)
}

/// `redirect location|prefix|scheme ...`.
pub fn redirect(cx: &Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let words = args.rest();
    let mut r = parse_redirect_line(&words, &mut p.acls, None)?;
    r.origin = Some(cx.origin.clone());
    p.rules.redirects.push(r);
    Ok(())
}

fn rule(cx: &Ctx<'_>, p: &mut RawProxy, side: Side, words: &[String]) -> Result<(), String> {
    let mut r = parse_rule(side, words, &mut p.acls, &p.name, None)?;
    r.origin = Some(cx.origin.clone());
    if let Action::Capture(_, target) = &mut r.action {
        *target = capture_slot(p, side, *target)?;
    }
    let list = match side {
        Side::Request => &mut p.rules.request,
        Side::Response => &mut p.rules.response,
        Side::After => &mut p.rules.after,
    };
    list.push(r);
    Ok(())
}

/// The body-size form of `http-request deny`; `Ok(false)` for any other rule.
fn body_limit(p: &mut RawProxy, words: &[String]) -> Result<bool, String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let (status, rest) = match w.as_slice() {
        ["deny", "deny_status", s @ ("413" | "403"), rest @ ..] => (s.parse().unwrap_or(403), rest),
        ["deny", rest @ ..] => (403, rest),
        _ => return Ok(false),
    };
    let (op, n) = match rest {
        ["if", "{", fetch, op @ ("gt" | "ge"), n, "}"]
            if *fetch == "req.body_size"
                || fetch.eq_ignore_ascii_case("req.hdr_val(content-length)") =>
        {
            (*op, *n)
        }
        _ => return Ok(false),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'http-request deny': expected a byte count, got '{n}'"))?;
    let max = match op {
        "gt" => n,
        _ => n
            .checked_sub(1)
            .ok_or_else(|| "'http-request deny': 'ge 0' denies every request".to_string())?,
    };
    // The tighter of several limits wins, as the first matching deny would.
    p.http.max_body = Some(match p.http.max_body {
        Some((m, s)) if m <= max => (m, s),
        _ => (max, status),
    });
    Ok(true)
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
    fn fetches_of_the_other_message_as_haproxy_judges_them() {
        // A request fetch in a response rule's value: refused (HAProxy: "may
        // not be reliably used here").
        let e = load_sources(&[("t.cfg", &cfg("http-response set-header X %[path]"))]).unwrap_err();
        assert!(
            e.errors[0].starts_with("t.cfg:8: ") && e.errors[0].contains("HTTP request headers"),
            "{:?}",
            e.errors
        );
        // In a condition: a warning that it never matches, and the config loads.
        let l = load_sources(&[(
            "t.cfg",
            &cfg(
                "http-response set-header X 1 if { path /x }\n http-request deny if { status 500 }",
            ),
        )])
        .unwrap();
        let w: Vec<String> = l
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.origin, w.message))
            .collect();
        assert!(
            w.iter()
                .any(|w| w.starts_with("t.cfg:8: ") && w.contains("will never match")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|w| w.starts_with("t.cfg:9: ") && w.contains("HTTP response headers")),
            "{w:?}"
        );
    }

    #[test]
    fn rules_compile_and_errors_name_file_line() {
        let l = load_sources(&[(
            "t.cfg",
            &cfg("http-request set-header X-A b\n http-response del-header Server\n redirect scheme https if { path /x }"),
        )])
        .unwrap();
        let r = &l.config.frontends[0].rules.0;
        assert_eq!(
            (r.request.len(), r.response.len(), r.redirects.len()),
            (1, 1, 1)
        );
        // A listen's frontend and backend share one rule set.
        assert!(l.config.frontends[0].rules == l.config.backends[0].rules);
        let e = load_sources(&[("t.cfg", &cfg("http-request track-sc0 src"))]).unwrap_err();
        assert!(
            e.errors[0]
                .starts_with("t.cfg:8: 'http-request track-sc0': this action is not supported"),
            "{:?}",
            e.errors
        );
        let e = load_sources(&[("t.cfg", &cfg("http-response set-path /x"))]).unwrap_err();
        assert!(
            e.errors[0].contains("not allowed in 'http-response'"),
            "{:?}",
            e.errors
        );
    }
}
