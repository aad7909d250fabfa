//! `http-request`, `http-response`, `http-after-response` and `redirect`
//! lines → [`Rule`]s. Every action is checked for the side it stands on, and
//! anything ringlb does not do is refused with the action's name, never
//! ignored.

use std::path::Path;

use regex::bytes::Regex;

use super::vars::VarName;
use super::{Action, Line, NameMatch, Redirect, RedirectKind, Reply, ReplyBody, Rule};
use crate::acl::{AclSet, Condition, parse_expr};
use crate::lf::LogFormat;

/// Which rule list a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `http-request`.
    Request,
    /// `http-response`.
    Response,
    /// `http-after-response`.
    After,
}

impl Side {
    fn keyword(self) -> &'static str {
        match self {
            Side::Request => "http-request",
            Side::Response => "http-response",
            Side::After => "http-after-response",
        }
    }
}

/// Splits a rule's words into the action's and the condition's (from `if`/`unless`).
fn split_cond(words: &[String]) -> (&[String], &[String]) {
    let at = words
        .iter()
        .position(|w| w == "if" || w == "unless")
        .unwrap_or(words.len());
    words.split_at(at)
}

fn cond(
    words: &[String],
    acls: &mut AclSet,
    base: Option<&Path>,
) -> Result<Option<Condition>, String> {
    if words.is_empty() {
        return Ok(None);
    }
    Condition::parse(words, acls, base).map(Some)
}

/// Parses one rule line: `words` follow the keyword (`deny if { src ... }`).
/// `proxy` names the proxy (the default `auth` realm).
pub fn parse_rule(
    side: Side,
    words: &[String],
    acls: &mut AclSet,
    proxy: &str,
    base: Option<&Path>,
) -> Result<Rule, String> {
    let (act, cw) = split_cond(words);
    let Some(name) = act.first() else {
        return Err(format!("'{}' expects an action", side.keyword()));
    };
    let label = format!("'{} {name}'", side.keyword());
    let action = action(side, name, &act[1..], proxy, base).map_err(|e| format!("{label}: {e}"))?;
    let cond = cond(cw, acls, base).map_err(|e| format!("{label}: {e}"))?;
    Ok(Rule {
        action,
        cond,
        origin: None,
    })
}

/// Parses a `redirect` line (the words after `redirect`).
pub fn parse_redirect_line(
    words: &[String],
    acls: &mut AclSet,
    base: Option<&Path>,
) -> Result<Rule, String> {
    let (act, cw) = split_cond(words);
    let r = redirect(act, base).map_err(|e| format!("'redirect': {e}"))?;
    let cond = cond(cw, acls, base).map_err(|e| format!("'redirect': {e}"))?;
    Ok(Rule {
        action: Action::Redirect(r),
        cond,
        origin: None,
    })
}

/// A 1.4-era filter (`reqrep`, `reqadd`, `rspdel`, `block`, ...): `kw` is
/// the keyword, `words` what follows it. Answers the rule, whether it is a
/// response filter, and the modern form to name in the warning.
pub fn parse_legacy(
    kw: &str,
    words: &[String],
    acls: &mut AclSet,
    base: Option<&Path>,
) -> Result<(Rule, bool, &'static str), String> {
    let (act, cw) = split_cond(words);
    let response = kw.starts_with("rsp");
    let icase = kw.len() > 3 && kw.as_bytes()[3] == b'i';
    let re = |w: Option<&String>| -> Result<Regex, String> {
        let w = w.ok_or_else(|| format!("'{kw}' expects a regular expression"))?;
        let pat = if icase { format!("(?i){w}") } else { w.clone() };
        Regex::new(&pat).map_err(|e| format!("'{kw}': invalid regex '{w}': {e}"))
    };
    let arity = |n: usize| -> Result<(), String> {
        if act.len() == n {
            Ok(())
        } else {
            Err(format!(
                "'{kw}' expects {n} argument(s) before an optional condition"
            ))
        }
    };
    let deny = |status| Reply {
        status,
        content_type: None,
        body: ReplyBody::ErrorPage,
        headers: Vec::new(),
    };
    let (action, modern) = match kw {
        "block" => {
            arity(0)?;
            if cw.is_empty() {
                return Err("'block' expects 'if' or 'unless' and a condition".into());
            }
            (Action::Deny(deny(403)), "http-request deny")
        }
        "reqadd" | "rspadd" => {
            arity(1)?;
            let (name, value) = act[0]
                .split_once(':')
                .ok_or_else(|| format!("'{kw}' expects a header line 'Name: value'"))?;
            let name = header_name(Some(&name.trim().to_string()))?;
            let value = LogFormat::literal_text(value.trim_start());
            let modern = if response {
                "http-response add-header"
            } else {
                "http-request add-header"
            };
            (
                Action::SetHeader {
                    name,
                    value,
                    add: true,
                },
                modern,
            )
        }
        "reqrep" | "reqirep" | "rsprep" | "rspirep" => {
            arity(2)?;
            let modern = if response {
                "http-response replace-header"
            } else {
                "http-request replace-header/replace-path"
            };
            (
                Action::LineReplace(re(act.first())?, act[1].as_bytes().to_vec()),
                modern,
            )
        }
        "reqdel" | "reqidel" | "rspdel" | "rspidel" => {
            arity(1)?;
            let modern = if response {
                "http-response del-header"
            } else {
                "http-request del-header"
            };
            (Action::LineDelete(re(act.first())?), modern)
        }
        "reqdeny" | "reqideny" | "rspdeny" | "rspideny" => {
            arity(1)?;
            let (status, modern) = if response {
                (502, "http-response deny")
            } else {
                (403, "http-request deny")
            };
            (
                Action::LineMatch(re(act.first())?, Box::new(Action::Deny(deny(status)))),
                modern,
            )
        }
        "reqallow" | "reqiallow" => {
            arity(1)?;
            (
                Action::LineMatch(re(act.first())?, Box::new(Action::Allow)),
                "http-request allow",
            )
        }
        "reqtarpit" | "reqitarpit" => {
            arity(1)?;
            (
                Action::LineMatch(re(act.first())?, Box::new(Action::Tarpit(deny(500)))),
                "http-request tarpit",
            )
        }
        _ => return Err(format!("'{kw}' is not supported by ringlb")),
    };
    let cond = cond(cw, acls, base).map_err(|e| format!("'{kw}': {e}"))?;
    Ok((
        Rule {
            action,
            cond,
            origin: None,
        },
        response,
        modern,
    ))
}

/// Actions allowed on each side.
fn allowed(side: Side, name: &str) -> bool {
    const BOTH: &[&str] = &[
        "allow",
        "set-header",
        "add-header",
        "del-header",
        "replace-header",
        "replace-value",
        "set-var",
        "set-var-fmt",
        "unset-var",
        "set-log-level",
        "strict-mode",
        "capture",
    ];
    const REQ: &[&str] = &[
        "deny",
        "tarpit",
        "auth",
        "redirect",
        "return",
        "use-service",
        "set-path",
        "set-pathq",
        "set-query",
        "set-uri",
        "replace-path",
        "replace-pathq",
        "replace-uri",
        "set-method",
    ];
    const RES: &[&str] = &["deny", "redirect", "return", "set-status"];
    const AFTER: &[&str] = &["set-status"];
    BOTH.contains(&name)
        || match side {
            Side::Request => REQ.contains(&name),
            Side::Response => RES.contains(&name),
            Side::After => AFTER.contains(&name),
        }
}

fn action(
    side: Side,
    name: &str,
    args: &[String],
    proxy: &str,
    base: Option<&Path>,
) -> Result<Action, String> {
    let (kw, var) = match name.split_once('(') {
        Some((k, rest)) => (k, Some(rest.strip_suffix(')').ok_or("missing ')'")?)),
        None => (name, None),
    };
    if !allowed(side, kw) {
        return Err(if known_elsewhere(kw) {
            format!("action not allowed in '{}' rules", side.keyword())
        } else {
            "this action is not supported by ringlb yet".to_string()
        });
    }
    let fmt = |i: usize| -> Result<LogFormat, String> {
        let t = args.get(i).ok_or_else(|| "missing argument".to_string())?;
        LogFormat::parse(t, base)
    };
    let no_more = |n: usize| -> Result<(), String> {
        match args.get(n) {
            Some(w) => Err(format!("unexpected argument '{w}'")),
            None => Ok(()),
        }
    };
    Ok(match kw {
        "allow" => {
            no_more(0)?;
            Action::Allow
        }
        "deny" => Action::Deny(reply(
            args,
            if side == Side::Request { 403 } else { 502 },
            true,
            base,
        )?),
        "tarpit" => Action::Tarpit(reply(args, 500, true, base)?),
        "return" => Action::Return(reply(args, 200, false, base)?),
        "use-service" => service(args)?,
        "auth" => Action::Auth {
            realm: match args {
                [] => proxy.to_string(),
                [r, realm] if r == "realm" => realm.clone(),
                _ => return Err("expects 'realm <realm>' or nothing".into()),
            },
        },
        "redirect" => Action::Redirect(redirect(args, base)?),
        "set-header" | "add-header" => {
            let name = header_name(args.first())?;
            no_more(2)?;
            Action::SetHeader {
                value: fmt(1)?,
                name,
                add: kw == "add-header",
            }
        }
        "del-header" => del_header(args)?,
        "replace-header" | "replace-value" => {
            let name = header_name(args.first())?;
            no_more(3)?;
            Action::Replace {
                name,
                re: regex(args.get(1))?,
                with: fmt(2)?,
                each_value: kw == "replace-value",
            }
        }
        "set-method" | "set-path" | "set-pathq" | "set-query" | "set-uri" => {
            no_more(1)?;
            let line = match kw {
                "set-method" => Line::Method,
                "set-path" => Line::Path,
                "set-pathq" => Line::PathQ,
                "set-query" => Line::Query,
                _ => Line::Uri,
            };
            Action::SetLine(line, fmt(0)?)
        }
        "replace-path" | "replace-pathq" | "replace-uri" => {
            no_more(2)?;
            let line = match kw {
                "replace-path" => Line::Path,
                "replace-pathq" => Line::PathQ,
                _ => Line::Uri,
            };
            Action::ReplaceLine(line, regex(args.first())?, fmt(1)?)
        }
        "set-var" | "set-var-fmt" | "unset-var" => {
            let var = var.ok_or("expects a variable name in parentheses")?;
            // `set-var(name,ifexists,...)` conditions are 2.6 additions ringlb lacks.
            if var.contains(',') {
                return Err("variable set conditions are not supported by ringlb yet".into());
            }
            let var = VarName::parse(var)?;
            match kw {
                "unset-var" => {
                    no_more(0)?;
                    Action::UnsetVar(var)
                }
                "set-var-fmt" => {
                    no_more(1)?;
                    Action::SetVarFmt(var, fmt(0)?)
                }
                _ => {
                    no_more(1)?;
                    let e = args.first().ok_or("expects a sample expression")?;
                    let (expr, _) = parse_expr(e, base)?;
                    Action::SetVar(var, Box::new(expr))
                }
            }
        }
        "capture" => {
            let e = args.first().ok_or("expects a sample expression")?;
            let (expr, _) = parse_expr(e, base)?;
            let n = |w: Option<&String>| -> Result<usize, String> {
                w.and_then(|w| w.parse().ok())
                    .ok_or_else(|| "expects a number after 'len' or 'id'".to_string())
            };
            let target = match args.get(1).map(String::as_str) {
                Some("len") if side == Side::Request => super::Capture::Len(n(args.get(2))?),
                Some("id") => super::Capture::Id(n(args.get(2))?),
                _ if side == Side::Request => return Err("expects 'len <n>' or 'id <n>'".into()),
                _ => return Err("expects 'id <n>' (a 'declare capture response' slot)".into()),
            };
            no_more(3)?;
            Action::Capture(Box::new(expr), target)
        }
        "set-status" => {
            let code = status(args.first())?;
            let reason = match &args[1.min(args.len())..] {
                [] => None,
                [r, text] if r == "reason" => Some(text.clone()),
                _ => return Err("expects '<code> [reason <text>]'".into()),
            };
            Action::SetStatus(code, reason)
        }
        "set-log-level" => {
            no_more(1)?;
            let l = args.first().ok_or("expects a level")?;
            Action::SetLogLevel(match l.as_str() {
                "silent" => None,
                "emerg" | "alert" | "crit" | "err" | "warning" | "notice" | "info" | "debug" => {
                    return Err(format!(
                        "level '{l}': only 'silent' is supported by ringlb yet (each traffic \
                         line is sent at 'info')"
                    ));
                }
                _ => return Err(format!("unknown log level '{l}'")),
            })
        }
        // ringlb never fails a rewrite halfway (an invalid value answers
        // 500 as strict mode does), so only `on` keeps its meaning.
        "strict-mode" => match args {
            [on] if on == "on" => Action::Nothing,
            _ => return Err("only 'strict-mode on' is supported by ringlb".into()),
        },
        _ => return Err("this action is not supported by ringlb yet".into()),
    })
}

/// `use-service <name>`: only HAProxy's Prometheus exporter is built in.
fn service(args: &[String]) -> Result<Action, String> {
    match args {
        [name] if name == "prometheus-exporter" => Ok(Action::PrometheusExporter),
        [name] => Err(format!(
            "unknown service '{name}': ringlb provides only 'prometheus-exporter'"
        )),
        [] => Err("expects a service name ('prometheus-exporter')".into()),
        [_, extra, ..] => Err(format!("unexpected argument '{extra}'")),
    }
}

/// Actions HAProxy has on another side (to tell "wrong side" from "unknown").
fn known_elsewhere(kw: &str) -> bool {
    [
        "allow",
        "deny",
        "tarpit",
        "auth",
        "redirect",
        "return",
        "use-service",
        "set-status",
        "set-path",
        "set-pathq",
        "set-query",
        "set-uri",
        "replace-path",
        "replace-pathq",
        "replace-uri",
        "set-method",
    ]
    .contains(&kw)
}

fn status(w: Option<&String>) -> Result<u16, String> {
    let w = w.ok_or("expects a status code")?;
    w.parse::<u16>()
        .ok()
        .filter(|c| (100..=999).contains(c))
        .ok_or_else(|| format!("invalid status code '{w}'"))
}

/// A header name: a token; never one that frames the message or the
/// connection, which ringlb writes itself (changing them could make the
/// server frame the request differently from ringlb).
fn header_name(w: Option<&String>) -> Result<String, String> {
    let n = w.ok_or("expects a header name")?;
    if n.is_empty() || !n.bytes().all(is_tchar) {
        return Err(format!("invalid header name '{n}'"));
    }
    if is_framing(n.as_bytes()) {
        return Err(format!(
            "header '{n}' frames the message or the connection; ringlb writes it itself and \
             refuses rules that change it (they would let the server frame the message \
             differently)"
        ));
    }
    Ok(n.clone())
}

/// The headers rules may not touch.
pub(super) fn is_framing(n: &[u8]) -> bool {
    [
        &b"content-length"[..],
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"upgrade",
        b"te",
        b"trailer",
    ]
    .iter()
    .any(|f| n.eq_ignore_ascii_case(f))
}

/// RFC 9110 token characters.
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn regex(w: Option<&String>) -> Result<Regex, String> {
    let w = w.ok_or("expects a regular expression")?;
    Regex::new(w).map_err(|e| format!("invalid regex '{w}': {e}"))
}

fn del_header(args: &[String]) -> Result<Action, String> {
    let name = args.first().ok_or("expects a header name")?;
    let m = match &args[1..] {
        [] => NameMatch::Str(name.as_bytes().to_vec()),
        [m, method] if m == "-m" => {
            let low = name.to_ascii_lowercase().into_bytes();
            match method.as_str() {
                "str" => NameMatch::Str(low),
                "beg" => NameMatch::Beg(low),
                "end" => NameMatch::End(low),
                "sub" => NameMatch::Sub(low),
                "reg" => NameMatch::Reg(
                    Regex::new(&format!("(?i){name}"))
                        .map_err(|e| format!("invalid regex '{name}': {e}"))?,
                ),
                _ => return Err(format!("unknown match method '{method}'")),
            }
        }
        _ => return Err("expects '<name> [-m str|beg|end|sub|reg]'".into()),
    };
    if let NameMatch::Str(n) = &m {
        header_name(Some(&String::from_utf8_lossy(n).into_owned()))?;
    }
    Ok(Action::DelHeader(m))
}

/// `[status|deny_status <code>] [content-type <t>] [<payload>] [hdr <n> <fmt>]*`.
fn reply(
    args: &[String],
    default: u16,
    error_page: bool,
    base: Option<&Path>,
) -> Result<Reply, String> {
    let mut r = Reply {
        status: default,
        content_type: None,
        body: if error_page {
            ReplyBody::ErrorPage
        } else {
            ReplyBody::Empty
        },
        headers: Vec::new(),
    };
    let mut i = 0;
    let arg = |i: usize| -> Result<&String, String> {
        args.get(i + 1)
            .ok_or_else(|| format!("'{}' expects an argument", args[i]))
    };
    while i < args.len() {
        let w = args[i].as_str();
        match w {
            "status" | "deny_status" => {
                r.status = status(Some(arg(i)?))?;
                if !(200..=599).contains(&r.status) {
                    return Err(format!("status {} is not a final status", r.status));
                }
            }
            "content-type" => r.content_type = Some(arg(i)?.clone()),
            "default-errorfiles" => {
                r.body = ReplyBody::ErrorPage;
                i += 1;
                continue;
            }
            "string" => r.body = ReplyBody::Static(arg(i)?.as_bytes().to_vec()),
            "lf-string" => r.body = ReplyBody::Format(LogFormat::parse(arg(i)?, base)?),
            "file" | "lf-file" | "errorfile" => {
                let path = crate::acl::resolve_path(arg(i)?, base);
                let data = std::fs::read(&path)
                    .map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
                r.body = match w {
                    "file" => ReplyBody::Static(data),
                    "errorfile" => ReplyBody::Raw(data),
                    _ => {
                        ReplyBody::Format(LogFormat::parse(&String::from_utf8_lossy(&data), base)?)
                    }
                };
            }
            "errorfiles" => {
                return Err("'errorfiles' in a rule is not supported by ringlb yet".into());
            }
            "hdr" => {
                let n = header_name(Some(arg(i)?))?;
                let v = args.get(i + 2).ok_or("'hdr' expects a name and a value")?;
                r.headers.push((n, LogFormat::parse(v, base)?));
                i += 3;
                continue;
            }
            _ => return Err(format!("unexpected argument '{w}'")),
        }
        i += 2;
    }
    if r.content_type.is_none() && matches!(r.body, ReplyBody::Static(_) | ReplyBody::Format(_)) {
        return Err("a 'content-type' is required with a payload".into());
    }
    Ok(r)
}

/// `location|prefix|scheme <to> [code <c>] [drop-query] [append-slash]
/// [set-cookie N[=v]] [clear-cookie N[=]]`, in any order as HAProxy takes
/// them (`redirect code 301 location /x`); a second destination replaces
/// the first, as there.
fn redirect(args: &[String], base: Option<&Path>) -> Result<Redirect, String> {
    let mut to: Option<(RedirectKind, &String)> = None;
    let mut r = Redirect {
        kind: RedirectKind::Location,
        to: LogFormat::default(),
        code: 302,
        drop_query: false,
        append_slash: false,
        set_cookie: None,
        clear_cookie: None,
    };
    let mut i = 0;
    while i < args.len() {
        let kind = match args[i].as_str() {
            "location" => Some(RedirectKind::Location),
            "prefix" => Some(RedirectKind::Prefix),
            "scheme" => Some(RedirectKind::Scheme),
            _ => None,
        };
        if let Some(kind) = kind {
            let dest = args.get(i + 1).ok_or("expects a destination")?;
            to = Some((kind, dest));
            i += 2;
            continue;
        }
        let w = args[i].as_str();
        let mut val = || -> Result<String, String> {
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("'{w}' expects an argument"))
        };
        match w {
            "code" => {
                let c = val()?;
                r.code = match c.parse() {
                    Ok(c @ (301 | 302 | 303 | 307 | 308)) => c,
                    _ => {
                        return Err(format!(
                            "'code' expects 301, 302, 303, 307 or 308, got '{c}'"
                        ));
                    }
                }
            }
            "drop-query" => r.drop_query = true,
            "append-slash" => r.append_slash = true,
            "set-cookie" => r.set_cookie = Some(val()?),
            "clear-cookie" => r.clear_cookie = Some(val()?),
            "ignore-empty" => {
                return Err("'ignore-empty' is not supported by ringlb yet".into());
            }
            _ if to.is_none() => return Err("expects 'location', 'prefix' or 'scheme'".into()),
            _ => return Err(format!("unexpected argument '{w}'")),
        }
        i += 1;
    }
    let (kind, dest) = to.ok_or("expects 'location', 'prefix' or 'scheme'")?;
    (r.kind, r.to) = (kind, LogFormat::parse(dest, base)?);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn rule(side: Side, s: &str) -> Result<Rule, String> {
        parse_rule(side, &words(s), &mut AclSet::new(), "fe", None)
    }

    #[test]
    fn actions_parse_with_conditions() {
        let r = rule(Side::Request, "set-header X-Y %[src] if { path /a }").unwrap();
        assert!(matches!(r.action, Action::SetHeader { add: false, .. }));
        assert!(r.cond.is_some());
        assert!(matches!(
            rule(Side::Request, "deny deny_status 429").unwrap().action,
            Action::Deny(Reply { status: 429, .. })
        ));
        assert!(matches!(
            rule(Side::Response, "deny").unwrap().action,
            Action::Deny(Reply { status: 502, .. })
        ));
        assert!(matches!(
            rule(Side::Request, "auth").unwrap().action,
            Action::Auth { ref realm } if realm == "fe"
        ));
        let r = rule(
            Side::Request,
            "redirect scheme https code 301 unless { ssl_fc }",
        )
        .unwrap();
        assert!(matches!(
            r.action,
            Action::Redirect(Redirect { code: 301, .. })
        ));
        // Options before the destination, as HAProxy takes them.
        let r = rule(
            Side::Request,
            "redirect code 301 drop-query location https://www.example.com%[capture.req.uri]",
        )
        .unwrap();
        assert!(matches!(
            r.action,
            Action::Redirect(Redirect {
                code: 301,
                drop_query: true,
                kind: RedirectKind::Location,
                ..
            })
        ));
        let r = rule(
            Side::Request,
            "redirect code 308 drop-query prefix https://x",
        )
        .unwrap();
        assert!(matches!(
            r.action,
            Action::Redirect(Redirect {
                code: 308,
                drop_query: true,
                kind: RedirectKind::Prefix,
                ..
            })
        ));
        assert_eq!(
            rule(Side::Request, "redirect code 301").unwrap_err(),
            "'http-request redirect': expects 'location', 'prefix' or 'scheme'"
        );
        assert!(rule(Side::Request, "set-var(txn.x) req.hdr(host),lower").is_ok());
        assert!(rule(Side::Request, "del-header x-forwarded -m beg").is_ok());
        assert!(rule(Side::Response, "set-status 503 reason Busy").is_ok());
        assert!(
            rule(
                Side::Request,
                "return status 200 content-type text/plain string ok hdr X-A b"
            )
            .is_ok()
        );
    }

    #[test]
    fn refusals_name_the_action() {
        for (side, line, want) in [
            (
                Side::Request,
                "set-status 200",
                "not allowed in 'http-request'",
            ),
            (Side::After, "deny", "not allowed"),
            (Side::Request, "track-sc0 src", "not supported"),
            (
                Side::Request,
                "set-header Content-Length 5",
                "frames the message",
            ),
            (
                Side::Request,
                "del-header Transfer-Encoding",
                "frames the message",
            ),
            (Side::Request, "set-header", "header name"),
            (Side::Request, "set-var(x) src", "scope"),
            (Side::Request, "redirect location /x code 305", "301, 302"),
            (Side::Request, "return status 200 string x", "content-type"),
            (Side::Request, "replace-path ( /x", "invalid regex"),
            (Side::Request, "deny if nosuchacl", "nosuchacl"),
            (Side::Request, "set-log-level loud", "loud"),
            (Side::Request, "set-log-level err", "only 'silent'"),
        ] {
            let e = rule(side, line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }
}
