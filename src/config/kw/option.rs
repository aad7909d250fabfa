//! `option <name> ...`, `no option <name>` (cancels an option inherited from
//! `defaults`), `no log`, and 1.4's bare `redispatch` keyword.

use std::net::IpAddr;

use super::{ALL, BE, FE, Misplaced, check_caps};
use crate::config::model::{ForwardFor, HttpCheck};
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;

/// Options ringlb acts on (or stores for a pending feature), with their sections.
const OPTIONS: &[(&str, u8)] = &[
    ("redispatch", BE),
    ("allbackups", BE),
    ("httpclose", ALL),
    ("forceclose", ALL),
    ("http-server-close", ALL),
    ("http-keep-alive", ALL),
    ("forwardfor", ALL),
    ("originalto", ALL),
    ("clitcpka", FE),
    ("srvtcpka", BE),
    ("tcpka", ALL),
    ("http-pretend-keepalive", ALL),
    ("httpchk", BE),
    ("external-check", BE),
    ("log-health-checks", BE),
    ("httplog", FE),
    ("httpslog", FE),
    ("tcplog", FE),
    ("dontlognull", FE),
    ("dontlog-normal", FE),
    ("log-separate-errors", FE),
    ("nolinger", ALL),
    ("persist", BE),
    ("prefer-last-server", BE),
    ("abortonclose", BE),
    ("http-buffer-request", ALL),
    ("independent-streams", ALL),
    ("accept-invalid-http-request", FE),
    ("accept-invalid-http-response", BE),
    ("http-use-proxy-header", FE),
    ("splice-auto", ALL),
    ("splice-request", ALL),
    ("splice-response", ALL),
];

/// HAProxy options accepted, warned about and ignored: they tune speed,
/// statistics or logging (or name something ringlb has no use for: HTX, h2
/// upgrades), never where traffic goes, what it carries, who passes or a limit.
const IGNORED: &[&str] = &[
    "logasap",
    "contstats",
    "socket-stats",
    "http-no-delay",
    "tcp-smart-accept",
    "tcp-smart-connect",
    "http-use-htx",
    "disable-h2-upgrade",
    "http-ignore-probes",
];

/// HAProxy options refused until built: ignoring them would change where traffic goes.
const REFUSED: &[&str] = &["http_proxy", "transparent", "spop-check", "checkcache"];

/// Why a refused option can't be ignored: what it would change.
fn refusal_reason(name: &str) -> &'static str {
    match name {
        "checkcache" => "it blocks responses HAProxy would judge uncacheable",
        n if n.ends_with("-check") || n.ends_with("chk") => {
            "it chooses the health check that decides which servers get traffic; a TCP \
             check in its place would not test what it tests"
        }
        _ => "it would change where traffic goes",
    }
}

/// Options that `no option` may not cancel (as HAProxy).
const NOT_NEGATABLE: &[&str] = &[
    "forwardfor",
    "originalto",
    "httpchk",
    "tcp-check",
    "ssl-hello-chk",
    "mysql-check",
    "pgsql-check",
    "redis-check",
    "smtpchk",
    "ldap-check",
];

/// `option <name> [args]`.
pub fn option(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let name = args.next_string("an option name")?;
    let label = format!("option {name}");
    args.set_label(label.as_str());
    let caps = match OPTIONS.iter().find(|(n, _)| *n == name) {
        Some(&(_, caps)) => caps,
        // The tcp-check rulesets (`kw/tcp_check.rs`), backend-side as `httpchk`.
        None if super::tcp_check::OPTIONS.contains(&name.as_str()) => {
            if check_caps(cx, p, &label, BE, Misplaced::Warn)? {
                super::tcp_check::option(p, &name, args)?;
            }
            return Ok(());
        }
        None => return other(cx, &name, args),
    };
    if !check_caps(cx, p, &label, caps, Misplaced::Warn)? {
        return Ok(());
    }
    if name == "independent-streams" && p.mode == crate::config::model::Mode::Tcp {
        cx.warn(
            "'option independent-streams' acts on HTTP exchanges only: ringlb's TCP relay \
             keeps one idle timeout for both directions",
        );
    }
    match name.as_str() {
        "redispatch" => {
            // `option redispatch <interval>` (0 turns it off, as HAProxy).
            let after = match args.next_opt() {
                Some(n) => n.parse::<i32>().map_err(|_| {
                    format!("'option redispatch' expects an integer interval, got '{n}'")
                })?,
                None => -1,
            };
            args.finish()?;
            p.redispatch = after != 0;
            p.redispatch_after = after;
        }
        "forwardfor" => p.http.forwardfor = Some(forwardfor(args)?),
        "originalto" => p.http.originalto = Some(originalto(args)?),
        "httpchk" => {
            p.httpchk = Some(httpchk(args)?);
            // One check kind per proxy: the last option wins, as in HAProxy.
            p.external.enabled = false;
            p.tcp_check.choice = None;
        }
        "httplog" => {
            // `clf` selects the Common Log Format variant (a custom format).
            let clf = args.peek() == Some("clf");
            if clf {
                args.next_opt();
            }
            args.finish()?;
            p.log.format = clf.then(|| crate::log::custom::CLF.to_string());
            p.log.httplog = true;
            p.log.httpslog = false;
            p.log.tcplog = false;
        }
        "httpslog" => {
            args.finish()?;
            p.log.format = None;
            p.log.httplog = true;
            p.log.httpslog = true;
            p.log.tcplog = false;
        }
        _ => {
            args.finish()?;
            set_flag(cx, p, &name, true);
        }
    }
    Ok(())
}

/// `no option <name>` and `no log`.
pub fn no(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    match args.next_opt().as_deref() {
        Some("log") => {
            args.set_label("no log");
            super::log::no_log(p, args)
        }
        Some("option") => {
            let name = args.next_string("an option name")?;
            let label = format!("no option {name}");
            args.set_label(label.as_str());
            args.finish()?;
            if NOT_NEGATABLE.contains(&name.as_str()) {
                return Err(format!(
                    "negation is not supported for option '{name}' (as HAProxy)"
                ));
            }
            if let Some(&(_, caps)) = OPTIONS.iter().find(|(n, _)| *n == name) {
                if check_caps(cx, p, &label, caps, Misplaced::Warn)? {
                    set_flag(cx, p, &name, false);
                }
                return Ok(());
            }
            if IGNORED.contains(&name.as_str()) || REFUSED.contains(&name.as_str()) {
                // Cancelling something ringlb never does: nothing to change.
                return Ok(());
            }
            Err(unknown_option(&name))
        }
        other => Err(format!(
            "'no' expects 'option <name>' or 'log', got '{}'",
            other.unwrap_or("")
        )),
    }
}

/// `redispatch` (HAProxy 1.4), same as `option redispatch`.
pub fn legacy_redispatch(
    cx: &mut Ctx<'_>,
    p: &mut RawProxy,
    args: &mut Args,
) -> Result<(), String> {
    args.finish()?;
    cx.warn(
        "'redispatch' is deprecated since HAProxy 1.5 and refused by 2.1; use 'option redispatch'",
    );
    p.redispatch = true;
    Ok(())
}

/// Sets or clears a flag option; the HTTP connection modes exclude each other.
fn set_flag(cx: &mut Ctx<'_>, p: &mut RawProxy, name: &str, on: bool) {
    let http = &mut p.http;
    match name {
        "redispatch" => p.redispatch = on,
        "splice-auto" => p.splice.auto = on,
        "splice-request" => p.splice.request = on,
        "splice-response" => p.splice.response = on,
        "allbackups" => p.allbackups = on,
        "httpclose" | "forceclose" => {
            if name == "forceclose" && on {
                cx.warn("'option forceclose' is refused since HAProxy 2.5; use 'option httpclose' (ringlb treats it as 'option httpclose')");
            }
            http.httpclose = on;
            if on {
                http.http_server_close = false;
            }
        }
        "http-server-close" => {
            http.http_server_close = on;
            if on {
                http.httpclose = false;
            }
        }
        // Keep-alive is the default mode: choosing it clears the closing modes.
        "http-keep-alive" if on => {
            http.httpclose = false;
            http.http_server_close = false;
        }
        "log-health-checks" => p.log.log_health_checks = on,
        "external-check" => super::ext_checks::option(p, on),
        "httplog" => p.log.httplog = on,
        "httpslog" => {
            p.log.httplog = on;
            p.log.httpslog = on;
        }
        "tcplog" => {
            p.log.tcplog = on;
            if on {
                // The log formats exclude each other; the last one wins.
                p.log.format = None;
                p.log.httplog = false;
                p.log.httpslog = false;
            }
        }
        "dontlognull" => p.log.dontlognull = on,
        "dontlog-normal" => p.log.dontlog_normal = on,
        "log-separate-errors" => p.log.log_separate_errors = on,
        "nolinger" => p.nolinger = on,
        "persist" => p.persist = on,
        "clitcpka" => p.cli_keepalive = on,
        "srvtcpka" => p.srv_keepalive = on,
        // Both sides, each where the section has that side.
        "tcpka" => {
            p.cli_keepalive = on;
            p.srv_keepalive = on;
        }
        "http-pretend-keepalive" => p.http.pretend_keepalive = on,
        "prefer-last-server" => p.http.prefer_last_server = on,
        "abortonclose" => p.http.abortonclose = on,
        "http-buffer-request" => p.http.buffer_request = on,
        "independent-streams" => p.http.independent_streams = on,
        "accept-invalid-http-request" => p.http.accept_invalid_request = on,
        "accept-invalid-http-response" => p.http.accept_invalid_response = on,
        "http-use-proxy-header" => p.http.use_proxy_header = on,
        _ => {}
    }
}

/// An option outside [`OPTIONS`]: ignored with a warning, refused, or unknown.
fn other(cx: &mut Ctx<'_>, name: &str, args: &mut Args) -> Result<(), String> {
    if IGNORED.contains(&name) {
        args.rest();
        cx.warn(format!(
            "'option {name}' is not supported by ringlb and is ignored"
        ));
        return Ok(());
    }
    if name == "http_proxy" {
        // HAProxy 2.6 refuses it too, with this reason.
        return Err(
            "'option http_proxy' is not supported any more since HAProxy 2.5 (as HAProxy \
                    2.6 says); use 'http-request set-dst' and 'http-request set-uri'"
                .to_string(),
        );
    }
    if REFUSED.contains(&name) {
        return Err(format!(
            "'option {name}' is not supported by ringlb yet: {}",
            refusal_reason(name)
        ));
    }
    Err(unknown_option(name))
}

/// "unknown option 'x'; did you mean 'y'?".
fn unknown_option(name: &str) -> String {
    let all: Vec<&str> = OPTIONS
        .iter()
        .map(|(n, _)| *n)
        .chain(IGNORED.iter().copied())
        .chain(REFUSED.iter().copied())
        .collect();
    format!("unknown option '{name}'{}", super::did_you_mean(name, &all))
}

/// `option forwardfor [except <net>] [header <name>] [if-none]`.
fn forwardfor(args: &mut Args) -> Result<ForwardFor, String> {
    let mut ff = ForwardFor {
        header: "X-Forwarded-For".into(),
        except: None,
        if_none: false,
    };
    while let Some(word) = args.next_opt() {
        match word.as_str() {
            "except" => {
                let net = args.next_string("'except' followed by a network (<ip>[/<prefix>])")?;
                ff.except = Some(parse_network(&net)?);
            }
            "header" => {
                let h = args.next_string("'header' followed by a header name")?;
                if h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                    return Err(format!(
                        "'option forwardfor' expects a header name, got '{h}'"
                    ));
                }
                ff.header = h;
            }
            "if-none" => ff.if_none = true,
            _ => {
                return Err(format!(
                    "'option forwardfor' expects 'except <net>', 'header <name>' or 'if-none', got '{word}'"
                ));
            }
        }
    }
    Ok(ff)
}

/// `option originalto [except <net>] [header <name>]`: the address the
/// client connected to, in `X-Original-To` (unless it is in `<net>`).
fn originalto(args: &mut Args) -> Result<ForwardFor, String> {
    let mut o = ForwardFor {
        header: "X-Original-To".into(),
        except: None,
        if_none: false,
    };
    while let Some(word) = args.next_opt() {
        match word.as_str() {
            "except" => {
                let net = args.next_string("'except' followed by a network (<ip>[/<prefix>])")?;
                o.except =
                    Some(parse_network(&net).map_err(|e| e.replace("forwardfor", "originalto"))?);
            }
            "header" => {
                let h = args.next_string("'header' followed by a header name")?;
                if h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                    return Err(format!(
                        "'option originalto' expects a header name, got '{h}'"
                    ));
                }
                o.header = h;
            }
            _ => {
                return Err(format!(
                    "'option originalto' expects 'except <net>' or 'header <name>', got '{word}'"
                ));
            }
        }
    }
    Ok(o)
}

/// `<ip>`, `<ip>/<prefix>` or `<ip>/<dotted mask>`.
fn parse_network(s: &str) -> Result<(IpAddr, u8), String> {
    let bad = || {
        format!("'option forwardfor' expects a network (<ip>[/<prefix>]) after 'except', got '{s}'")
    };
    let (ip, mask) = match s.split_once('/') {
        Some((ip, mask)) => (ip, Some(mask)),
        None => (s, None),
    };
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match mask {
        None => max,
        Some(m) => match (m.parse::<u8>(), m.parse::<std::net::Ipv4Addr>()) {
            (Ok(n), _) if n <= max => n,
            (_, Ok(dotted)) if ip.is_ipv4() => {
                let bits = u32::from(dotted);
                // Only contiguous masks describe a network.
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(bad());
                }
                bits.leading_ones() as u8
            }
            _ => return Err(bad()),
        },
    };
    Ok((ip, prefix))
}

/// `option httpchk [<method>] [<uri>] [<version>]`: one argument is the URI.
fn httpchk(args: &mut Args) -> Result<HttpCheck, String> {
    let given = args.rest();
    let mut check = HttpCheck {
        method: "OPTIONS".into(),
        uri: "/".into(),
        version: "HTTP/1.0".into(),
    };
    match given.as_slice() {
        [] => {}
        [uri] => check.uri = uri.clone(),
        [method, uri] => (check.method, check.uri) = (method.clone(), uri.clone()),
        [method, uri, version] => {
            (check.method, check.uri, check.version) =
                (method.clone(), uri.clone(), version.clone());
        }
        [_, _, _, extra, ..] => {
            return Err(format!(
                "'option httpchk' has an unexpected argument '{extra}'"
            ));
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let v4 = |s: &str| s.parse::<IpAddr>().expect("test ip");
        assert_eq!(parse_network("10.0.0.0/8"), Ok((v4("10.0.0.0"), 8)));
        assert_eq!(parse_network("10.1.2.3"), Ok((v4("10.1.2.3"), 32)));
        assert_eq!(
            parse_network("10.0.0.0/255.255.0.0"),
            Ok((v4("10.0.0.0"), 16))
        );
        assert_eq!(parse_network("::1"), Ok((v4("::1"), 128)));
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("10.0.0.0/255.0.255.0").is_err());
        assert!(parse_network("nope").is_err());
    }
}
