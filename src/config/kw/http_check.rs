//! `http-check connect|send|expect|comment|send-state|disable-on-404`: the
//! HTTP health-check program (HAProxy 2.2+ forms and the 1.x `expect` form),
//! compiled here into `check::http_rules` types; regexes are built now.
//!
//! Log-format arguments (`uri-lf`, `body-lf`, `string-lf`, `hdr` values,
//! `on-success`, `on-error`) are compiled here; a check has no session, so
//! they may use fetches that need no traffic (`str`, `env`, `date`, ...) and
//! the variables `%b`, `%s`, `%H`, `%pid`; anything else is refused.
//! `set-var`/`unset-var`, `min-recv`, `status-code` and `connect`'s
//! `proto`/`via-socks4` are refused too; `connect ssl|sni|alpn` builds TLS
//! from the server line as `tcp-check connect` does.

use crate::check::http_rules::{
    CHECK_VARS, Connect, Expect, Fmt, HttpCheckRules, Matcher, Pattern, Re, Send, Step,
};
use crate::check::status::CheckStatus;
use crate::config::parse::Args;
use crate::config::raw::RawProxy;

/// `http-check <action> ...`.
pub fn http_check(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    if !p.http_check_here {
        // The first line of a section replaces what `defaults` gave.
        p.http_check = HttpCheckRules::default();
        p.http_check_here = true;
    }
    let action = args.next_string("an action (connect, send, expect, comment, ...)")?;
    let rules = &mut p.http_check;
    let words = args.rest();
    match action.as_str() {
        "send-state" | "disable-on-404" => {
            if let Some(w) = words.first() {
                return Err(format!(
                    "'http-check {action}' takes no argument, got '{w}'"
                ));
            }
            if action == "send-state" {
                rules.send_state = true;
            } else {
                rules.disable_on_404 = true;
            }
            Ok(())
        }
        "comment" => match words.as_slice() {
            [msg] => {
                rules.steps.push(Step::Comment(msg.clone()));
                Ok(())
            }
            _ => Err("'http-check comment' expects a message as its only argument".into()),
        },
        "connect" => {
            let c = connect(&words)?;
            let step = rules.steps.len() + 1;
            // HAProxy: a connect after the first rules needs an expect before it.
            let mut before = rules
                .steps
                .iter()
                .filter(|s| !matches!(s, Step::Comment(_)));
            if before
                .clone()
                .next()
                .is_some_and(|s| !matches!(s, Step::Connect(_)))
            {
                return Err(
                    "'http-check connect' : first step MUST also be a 'connect', \
                            optionally preceded by a 'set-var', an 'unset-var' or a 'comment', \
                            when there is a 'connect' step in the tcp-check ruleset."
                        .into(),
                );
            }
            if before.clone().next().is_some()
                && !matches!(before.next_back(), Some(Step::Expect(_)))
            {
                return Err(format!(
                    "'http-check connect' : unable to add http-check connect rule at step {step} \
                     (missing expect rule)."
                ));
            }
            rules.steps.push(Step::Connect(c));
            Ok(())
        }
        "send" => {
            let s = send(&words)?;
            let step = rules.steps.len() + 1;
            let mut since_connect = rules
                .steps
                .iter()
                .rev()
                .take_while(|s| !matches!(s, Step::Connect(_)));
            if since_connect.any(|s| matches!(s, Step::Send(_))) {
                return Err(format!(
                    "'http-check send' : unable to add http-check send rule at step {step} \
                     (missing connect rule)."
                ));
            }
            rules.steps.push(Step::Send(s));
            Ok(())
        }
        "expect" => {
            let e = expect(&words)?;
            let step = rules.steps.len() + 1;
            // After a connect, an expect needs a send to answer.
            let since: Vec<&Step> = rules
                .steps
                .iter()
                .rev()
                .take_while(|s| !matches!(s, Step::Connect(_)))
                .collect();
            let connected = since.len() < rules.steps.len();
            if connected && !since.iter().any(|s| matches!(s, Step::Send(_))) {
                return Err(format!(
                    "'http-check expect' : unable to add http-check expect rule at step {step} \
                     (missing send rule)."
                ));
            }
            rules.steps.push(Step::Expect(e));
            Ok(())
        }
        "set-var" | "unset-var" => Err(format!(
            "'http-check {action}' is not supported by ringlb yet"
        )),
        a if a.starts_with("set-var(") || a.starts_with("unset-var(") => Err(format!(
            "'http-check {a}' is not supported by ringlb yet (check variables)"
        )),
        _ => Err(format!(
            "'http-check' expects 'comment', 'connect', 'disable-on-404', 'expect', 'send', \
             'send-state', 'set-var' or 'unset-var', got '{action}'"
        )),
    }
}

/// Takes the value after option `opt`.
fn value<'a>(
    it: &mut std::slice::Iter<'a, String>,
    opt: &str,
    what: &str,
) -> Result<&'a String, String> {
    it.next().ok_or_else(|| format!("'{opt}' expects {what}"))
}

/// A log-format argument, compiled now: its fetches must need no traffic
/// and its `%` variables be ones a check has (`%b`, `%s`, `%H`, `%pid`).
fn text(kw: &str, s: &str) -> Result<Fmt, String> {
    let lf = crate::lf::LogFormat::parse(s, None).map_err(|e| format!("'{kw}': {e}"))?;
    if lf.find_fetch(|f| !f.needs_no_traffic()).is_some() {
        return Err(format!(
            "'{kw} {s}': a health check has no request or connection for its fetches"
        ));
    }
    if let Some(v) = lf.var_outside(CHECK_VARS) {
        return Err(format!(
            "'{kw} {s}': the variable {v:?} needs a session, which a health check has not \
             (it takes %b, %s, %H and %pid)"
        ));
    }
    Ok(Fmt(lf))
}

fn connect(words: &[String]) -> Result<Connect, String> {
    let mut c = Connect::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "default" => c.default = true,
            "linger" => {}
            "port" => {
                let v = value(&mut it, "http-check connect port", "a port")?;
                c.port = Some(v.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| {
                    format!("'http-check connect port' expects a port (1-65535), got '{v}'")
                })?);
            }
            "addr" => {
                let v = value(&mut it, "http-check connect addr", "an IP address")?;
                c.addr = Some(v.parse().map_err(|_| {
                    format!("'http-check connect addr' expects an IP address, got '{v}'")
                })?);
            }
            "send-proxy" => c.send_proxy = true,
            "comment" => {
                c.comment = Some(value(&mut it, "http-check connect comment", "a message")?.clone())
            }
            "ssl" => c.ssl = true,
            "sni" => c.sni = Some(value(&mut it, "http-check connect sni", "a string")?.clone()),
            "alpn" => {
                let v = value(&mut it, "http-check connect alpn", "a protocol list")?;
                c.alpn = v.split(',').map(|p| p.as_bytes().to_vec()).collect();
                if c.alpn.iter().any(|p| p.is_empty() || p.len() > 255) {
                    return Err(format!(
                        "'http-check connect alpn' : invalid protocol list '{v}'"
                    ));
                }
            }
            "proto" | "via-socks4" => {
                return Err(format!(
                    "'http-check connect {w}' is not supported by ringlb yet"
                ));
            }
            _ => {
                return Err(format!(
                    "'http-check connect' expects 'comment', 'port', 'addr', 'send-proxy', \
                     'ssl', 'sni', 'alpn', 'proto', 'linger', 'via-socks4' or 'default', got '{w}'"
                ));
            }
        }
    }
    Ok(c)
}

fn send(words: &[String]) -> Result<Send, String> {
    let mut s = Send::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let kw = format!("http-check send {w}");
        match w.as_str() {
            "meth" => s.method = Some(value(&mut it, &kw, "a method")?.clone()),
            "uri" => s.uri = Some(Fmt::plain(value(&mut it, &kw, "a URI")?)),
            "uri-lf" => s.uri = Some(text(&kw, value(&mut it, &kw, "a log-format string")?)?),
            "ver" => s.version = Some(value(&mut it, &kw, "a version")?.clone()),
            "hdr" => {
                let name = value(&mut it, &kw, "a header name and value")?.clone();
                let v = value(&mut it, &kw, "a header name and value")?;
                s.headers.push((name, text(&kw, v)?));
            }
            "body" => s.body = Some(Fmt::plain(value(&mut it, &kw, "a string")?)),
            "body-lf" => s.body = Some(text(&kw, value(&mut it, &kw, "a log-format string")?)?),
            "comment" => {
                value(&mut it, &kw, "a message")?;
            }
            _ => {
                return Err(format!(
                    "'http-check send' expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', \
                     'body' or 'body-lf', got '{w}'"
                ));
            }
        }
    }
    Ok(s)
}

/// A status name `ok-status`/`error-status` accepts.
fn status(kw: &str, v: &str, allowed: &[CheckStatus]) -> Result<CheckStatus, String> {
    allowed
        .iter()
        .copied()
        .find(|s| s.short() == v)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|s| s.short()).collect();
            format!("'{kw}' expects one of {}, got '{v}'", names.join(", "))
        })
}

fn expect(words: &[String]) -> Result<Expect, String> {
    let mut e = Expect {
        negate: false,
        matcher: Matcher::Status(Vec::new()),
        comment: None,
        ok_status: None,
        error_status: None,
        tout_status: None,
        on_success: None,
        on_error: None,
    };
    let mut it = words.iter();
    // Options may stand before or after the match, and `!` may be glued to
    // it (`!string`), as HAProxy reads them.
    let mut found = None;
    while let Some(word) = it.next() {
        let w = match word.strip_prefix('!') {
            Some(rest) if !rest.is_empty() => {
                e.negate = true;
                rest
            }
            _ => word.as_str(),
        };
        let kw = format!("http-check expect {w}");
        match w {
            "!" => e.negate = true,
            "comment" => e.comment = Some(value(&mut it, &kw, "a message")?.clone()),
            "ok-status" => {
                let ok = [
                    CheckStatus::L7Ok,
                    CheckStatus::L7OkC,
                    CheckStatus::L6Ok,
                    CheckStatus::L4Ok,
                ];
                e.ok_status = Some(status(&kw, value(&mut it, &kw, "a status")?, &ok)?);
            }
            "error-status" => {
                let err = [
                    CheckStatus::L7Rsp,
                    CheckStatus::L7Sts,
                    CheckStatus::L6Rsp,
                    CheckStatus::L4Con,
                ];
                e.error_status = Some(status(&kw, value(&mut it, &kw, "a status")?, &err)?);
            }
            "on-success" => {
                e.on_success = Some(text(&kw, value(&mut it, &kw, "a log-format string")?)?)
            }
            "on-error" => {
                e.on_error = Some(text(&kw, value(&mut it, &kw, "a log-format string")?)?)
            }
            "tout-status" => {
                let tout = [
                    CheckStatus::L7Timeout,
                    CheckStatus::L6Timeout,
                    CheckStatus::L4Timeout,
                ];
                e.tout_status = Some(status(&kw, value(&mut it, &kw, "a status")?, &tout)?);
            }
            "min-recv" | "status-code" => {
                return Err(format!("'{kw}' is not supported by ringlb yet"));
            }
            "status" | "rstatus" | "string" | "rstring" | "string-lf" | "hdr" | "fhdr"
                if found.is_none() =>
            {
                found = Some(matcher(w, &mut it)?);
            }
            _ if found.is_some() => {
                return Err(format!(
                    "'http-check expect' has an unexpected argument '{word}'"
                ));
            }
            _ => {
                return Err(format!(
                    "'http-check expect' expects 'min-recv', 'comment', 'ok-status', \
                     'error-status', 'tout-status', 'on-success', 'on-error', 'status-code', \
                     '!' or a match, got '{w}'"
                ));
            }
        }
    }
    e.matcher = found.ok_or(
        "'http-check expect' expects a match ('status', 'rstatus', 'hdr', 'fhdr', 'string' \
         or 'rstring') and a pattern",
    )?;
    Ok(e)
}

fn regex(kw: &str, s: &str) -> Result<Re, String> {
    regex::bytes::Regex::new(s)
        .map(Re)
        .map_err(|err| format!("'{kw}': invalid regex '{s}': {err}"))
}

fn matcher(m: &str, it: &mut std::slice::Iter<'_, String>) -> Result<Matcher, String> {
    let kw = format!("http-check expect {m}");
    if m == "hdr" || m == "fhdr" {
        return header(m == "fhdr", it);
    }
    let pat = value(it, &kw, "a pattern")?;
    Ok(match m {
        "status" => Matcher::Status(codes(&kw, pat)?),
        "rstatus" => Matcher::RStatus(regex(&kw, pat)?),
        "string" => Matcher::String(pat.as_bytes().to_vec()),
        "string-lf" => Matcher::StringLf(text(&kw, pat)?),
        _ => Matcher::RString(regex(&kw, pat)?),
    })
}

/// `200`, `200-399`, `200-299,500`.
fn codes(kw: &str, s: &str) -> Result<Vec<(u16, u16)>, String> {
    let bad = || format!("'{kw}' expects status codes or ranges (200-399,500), got '{s}'");
    s.split(',')
        .map(|part| {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
            let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
            if lo > hi {
                return Err(bad());
            }
            Ok((lo, hi))
        })
        .collect()
}

/// `name [-m <meth>] <name> [value [-m <meth>] <value>]`.
fn header(full: bool, it: &mut std::slice::Iter<'_, String>) -> Result<Matcher, String> {
    let kw = if full {
        "http-check expect fhdr"
    } else {
        "http-check expect hdr"
    };
    let Some(n) = it.next().filter(|w| *w == "name") else {
        return Err(format!("'{kw}' expects 'name' followed by a header name"));
    };
    let name = pattern(kw, n, it)?;
    let value = match it.as_slice().first().map(String::as_str) {
        Some("value") => {
            it.next();
            Some(pattern(kw, "value", it)?)
        }
        _ => None,
    };
    Ok(Matcher::Header { full, name, value })
}

fn pattern(kw: &str, what: &str, it: &mut std::slice::Iter<'_, String>) -> Result<Pattern, String> {
    let mut method = "str";
    let mut w = value(it, &format!("{kw} {what}"), "a pattern")?;
    if w == "-m" {
        method = value(
            it,
            &format!("{kw} {what} -m"),
            "'str', 'beg', 'end', 'sub' or 'reg'",
        )?;
        w = value(it, &format!("{kw} {what}"), "a pattern")?;
    }
    Ok(match method {
        "str" => Pattern::Str(w.clone()),
        "beg" => Pattern::Beg(w.clone()),
        "end" => Pattern::End(w.clone()),
        "sub" => Pattern::Sub(w.clone()),
        "reg" => Pattern::Reg(regex(kw, w)?),
        m => {
            return Err(format!(
                "'{kw} {what} -m' expects 'str', 'beg', 'end', 'sub' or 'reg', got '{m}'"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Result<HttpCheckRules, String> {
        let mut p = RawProxy::new_defaults("d".into(), Default::default());
        for l in lines {
            let mut words: Vec<String> = vec!["http-check".into()];
            words.extend(l.split(' ').map(String::from));
            http_check(&mut p, &mut Args::new(words))?;
        }
        Ok(p.http_check)
    }

    #[test]
    fn the_forms_compile() {
        let r = parse(&[
            "send-state",
            "disable-on-404",
            "connect port 81 addr 127.0.0.2 send-proxy",
            "send meth GET uri /h ver HTTP/1.1 hdr Host x body b",
            "expect ! status 200-299,500",
            "expect comment c on-error e ok-status L7OKC hdr name -m beg x- value -m reg ^a",
            "expect rstring ^o.",
        ])
        .expect("parses");
        assert!(r.send_state && r.disable_on_404);
        assert_eq!(r.steps.len(), 5);
        match &r.steps[2] {
            Step::Expect(e) => {
                assert!(e.negate);
                assert_eq!(e.matcher, Matcher::Status(vec![(200, 299), (500, 500)]));
            }
            s => panic!("{s:?}"),
        }
        // HAProxy's other orders: options after the match, `!` glued to it.
        let r = parse(&["expect status 200 comment ok", "expect !string error"]).expect("parses");
        match (&r.steps[0], &r.steps[1]) {
            (Step::Expect(a), Step::Expect(b)) => {
                assert_eq!(a.comment.as_deref(), Some("ok"));
                assert!(!a.negate && b.negate);
                assert!(matches!(b.matcher, Matcher::String(_)), "{:?}", b.matcher);
            }
            s => panic!("{s:?}"),
        }
        assert_eq!(
            parse(&["expect status 200 string x"]).unwrap_err(),
            "'http-check expect' has an unexpected argument 'string'"
        );
    }

    fn line(p: &mut RawProxy, l: &str) {
        let mut words: Vec<String> = vec!["http-check".into()];
        words.extend(l.split(' ').map(String::from));
        http_check(p, &mut Args::new(words)).expect(l);
    }

    #[test]
    fn a_section_with_rules_replaces_the_defaults_ones() {
        use crate::config::raw::SectionKind;
        let mut d = RawProxy::new_defaults("d".into(), Default::default());
        line(&mut d, "expect status 201");
        let kid = |d: &RawProxy| {
            RawProxy::from_defaults(d, SectionKind::Backend, "b".into(), Default::default())
        };
        let inherits = kid(&d);
        assert_eq!(inherits.http_check, d.http_check);
        let mut own = kid(&d);
        line(&mut own, "send uri /x");
        line(&mut own, "expect status 200");
        assert_eq!(own.http_check.steps.len(), 2);
        assert!(matches!(&own.http_check.steps[0], Step::Send(_)));
    }

    #[test]
    fn errors_name_the_keyword() {
        for (line, want) in [
            (
                "expect status 2xx",
                "'http-check expect status' expects status codes",
            ),
            (
                "expect rstatus (",
                "'http-check expect rstatus': invalid regex",
            ),
            ("expect", "'http-check expect' expects a match"),
            (
                "expect status",
                "'http-check expect status' expects a pattern",
            ),
            ("expect hdr value x", "expects 'name'"),
            ("expect hdr name -m zz x", "expects 'str', 'beg'"),
            ("expect min-recv 10 string x", "not supported"),
            (
                "expect ok-status L4CON status 200",
                "'http-check expect ok-status' expects one of",
            ),
            ("send meth", "'http-check send meth' expects a method"),
            ("send bogus", "'http-check send' expects"),
            ("send uri-lf /%[src]", "no request or connection"),
            ("expect on-error %ci status 200", "needs a session"),
            (
                "connect via-socks4",
                "'http-check connect via-socks4' is not supported",
            ),
            ("connect alpn ,", "invalid protocol list"),
            ("connect sni", "'http-check connect sni' expects a string"),
            ("connect port 0", "expects a port"),
            ("set-var(txn.x) int(1)", "not supported"),
            ("frobnicate", "'http-check' expects"),
            ("send-state x", "takes no argument"),
        ] {
            let e = parse(&[line]).expect_err(line);
            assert!(e.contains(want), "{line}: {e}");
        }
        let e = parse(&["send uri /a", "expect status 200", "send uri /b"]).expect_err("two sends");
        assert!(e.contains("missing connect rule"), "{e}");
        let e = parse(&["connect", "expect status 200"]).expect_err("no send");
        assert!(e.contains("rule at step 2 (missing send rule)"), "{e}");
        let e = parse(&["connect", "comment x", "connect"]).expect_err("no expect");
        assert!(e.contains("rule at step 3 (missing expect rule)"), "{e}");
        assert!(
            parse(&[
                "comment x",
                "connect",
                "send",
                "expect status 200",
                "connect"
            ])
            .is_ok()
        );
        assert!(parse(&["expect status 200", "expect string x"]).is_ok());
        let e = parse(&["send uri /a", "expect status 200", "connect port 81"]).expect_err("first");
        assert!(e.contains("first step MUST also be a 'connect'"), "{e}");
    }
}
