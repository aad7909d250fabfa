//! `tcp-check <rule>` lines and the `option` lines that choose a tcp-check
//! ruleset (`option tcp-check`, `redis-check`, `ssl-hello-chk`, `smtpchk`,
//! `pgsql-check`, `mysql-check`, `ldap-check`), compiled at load into the
//! [`Program`] the checker runs (`check/tcp_run.rs`).
//!
//! As in HAProxy 2.6: a `tcp-check` rule's step number counts every
//! `tcp-check` line of the proxy (comments too); a ruleset not starting
//! with `connect` gets an implicit one (step 0); a `tcp-check comment`
//! describes the rules that follow it up to the next change of action; a
//! proxy's own `tcp-check` lines replace those of `defaults`.

use std::sync::Arc;

use regex::bytes::{Regex, RegexBuilder};

use crate::check::status::CheckStatus;
use crate::check::tcp_proto;
use crate::check::tcp_rules::{Code, Connect, Expect, Kind, Msg, Op, Pattern, Program, Rule, Send};
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;
use crate::lf::LogFormat;

/// A proxy's tcp-check settings as parsed.
#[derive(Debug, Clone, Default)]
pub struct RawTcpCheck {
    /// The check an `option` line chose, if it is a tcp-check one.
    pub choice: Option<Choice>,
    /// The `tcp-check` lines in order.
    pub lines: Vec<Line>,
    /// Their text, for comparing configurations.
    pub text: String,
    /// The lines came from `defaults`: the proxy's first own line replaces them.
    pub from_defaults: bool,
}

/// Which tcp-check ruleset runs.
#[derive(Debug, Clone)]
pub enum Choice {
    /// `option tcp-check`: the `tcp-check` lines.
    Tcp,
    /// A protocol check's fixed ruleset.
    Proto(Arc<Program>),
}

/// One `tcp-check` line.
#[derive(Debug, Clone)]
pub enum Line {
    /// `tcp-check comment <text>`.
    Comment(String),
    /// Any other rule.
    Rule(Rule),
}

impl RawTcpCheck {
    /// The copy a proxy inherits from `defaults`.
    pub fn inherited(&self) -> RawTcpCheck {
        RawTcpCheck {
            from_defaults: true,
            ..self.clone()
        }
    }

    /// The program the checker runs, when a tcp-check option was chosen.
    pub fn program(&self) -> Option<Arc<Program>> {
        match self.choice.as_ref()? {
            Choice::Proto(p) => Some(p.clone()),
            Choice::Tcp => Some(Arc::new(assemble(&self.lines, &self.text))),
        }
    }
}

/// HAProxy's `check_proxy_tcpcheck`: the implicit connect, comments folded
/// into the rules they describe, each expect's head.
fn assemble(lines: &[Line], text: &str) -> Program {
    let first = lines.iter().find_map(|l| match l {
        Line::Rule(r) if !matches!(r.op, Op::SetVar(..) | Op::UnsetVar(_)) => Some(r),
        _ => None,
    });
    let mut rules = Vec::new();
    if !first.is_some_and(|r| matches!(r.op, Op::Connect(_))) {
        let c = Connect {
            default: true,
            implicit: true,
            ..Connect::default()
        };
        rules.push(Rule {
            index: 0,
            comment: None,
            op: Op::Connect(c),
        });
    }
    let mut comment: Option<String> = None;
    let mut prev: Option<u8> = None;
    for l in lines {
        let action = match l {
            Line::Comment(_) => 0,
            Line::Rule(r) => match r.op {
                Op::Connect(_) => 1,
                Op::Send(_) => 2,
                Op::Expect(_) => 3,
                Op::SetVar(..) | Op::UnsetVar(_) => 4,
            },
        };
        if prev.is_some_and(|p| p != action && p != 0) {
            comment = None;
        }
        prev = Some(action);
        match l {
            Line::Comment(c) => comment = Some(c.clone()),
            Line::Rule(r) => {
                let mut r = r.clone();
                if matches!(action, 1..=3) && r.comment.is_none() {
                    r.comment = comment.clone();
                }
                if matches!(action, 1 | 4) {
                    comment = None;
                }
                rules.push(r);
            }
        }
    }
    set_heads(&mut rules);
    Program {
        kind: Kind::Tcp,
        rules,
        text: text.into(),
    }
}

/// Each expect resumes at the first inverted expect of the run of expects
/// it ends (set-var rules between them do not break the run).
fn set_heads(rules: &mut [Rule]) {
    for i in 0..rules.len() {
        let mut head = i;
        for j in (0..i).rev() {
            match &rules[j].op {
                Op::Expect(e) if e.inverse => head = j,
                Op::Expect(_) | Op::SetVar(..) | Op::UnsetVar(_) => {}
                _ => break,
            }
        }
        if let Op::Expect(e) = &mut rules[i].op {
            e.head = head;
        }
    }
}

/// `tcp-check <action> ...`.
pub fn rule(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let action = args.next_string("an action")?;
    let label = format!("tcp-check {action}");
    args.set_label(label.as_str());
    let tc = &mut p.tcp_check;
    if tc.from_defaults {
        tc.lines.clear();
        tc.text.clear();
        tc.from_defaults = false;
    }
    let index = tc.lines.len() as u32;
    let line = match action.as_str() {
        "comment" => {
            let text = args.next_string("a string")?;
            args.finish()?;
            Line::Comment(text)
        }
        "connect" => {
            let first = tc.lines.iter().find_map(|l| match l {
                Line::Rule(r) if !matches!(r.op, Op::SetVar(..) | Op::UnsetVar(_)) => Some(r),
                _ => None,
            });
            if first.is_some_and(|r| !matches!(r.op, Op::Connect(_))) {
                return Err(
                    "first step MUST also be a 'connect', optionally preceded by a \
                            'set-var', an 'unset-var' or a 'comment', when there is a 'connect' \
                            step in the tcp-check ruleset"
                        .into(),
                );
            }
            connect(index, args)?
        }
        "send" | "send-lf" | "send-binary" | "send-binary-lf" => send(index, &action, args)?,
        "expect" => expect(index, args)?,
        a if a.starts_with("set-var(") => set_var(index, a, args)?,
        a if a.starts_with("unset-var(") => {
            let name = var_name(a, "unset-var(")?;
            args.finish()?;
            Line::Rule(Rule {
                index,
                comment: None,
                op: Op::UnsetVar(name),
            })
        }
        a => {
            return Err(format!(
                "'tcp-check' expects 'comment', 'connect', 'send', 'send-lf', 'send-binary', \
                 'send-binary-lf', 'expect', 'set-var' or 'unset-var', got '{a}'"
            ));
        }
    };
    let _ = cx;
    let tc = &mut p.tcp_check;
    tc.text.push_str(&label);
    tc.text.push('\n');
    tc.lines.push(line);
    Ok(())
}

fn with_comment(index: u32, comment: Option<String>, op: Op) -> Line {
    Line::Rule(Rule { index, comment, op })
}

/// `connect [default] [port <n>] [addr <ip>] [send-proxy] [linger] [comment <msg>]`.
fn connect(index: u32, args: &mut Args) -> Result<Line, String> {
    let mut c = Connect::default();
    let mut comment = None;
    while let Some(w) = args.next_opt() {
        match w.as_str() {
            "default" => c.default = true,
            "send-proxy" => c.send_proxy = true,
            // The check closes its connection either way; ringlb's close is always clean.
            "linger" => {}
            "comment" => comment = Some(args.next_string("a string")?),
            "port" => {
                let v = args.next_string("a port number")?;
                let port: u16 = v.parse().ok().filter(|&p| p > 0).ok_or_else(|| {
                    format!(
                        "'port' expects a valid TCP port (from range 1 to 65535), got '{v}' \
                         (ringlb takes no sample expression here yet)"
                    )
                })?;
                c.port = Some(port);
            }
            "addr" => {
                let v = args.next_string("<ipv4|ipv6>")?;
                let (ip, port) = parse_addr(&v)?;
                c.addr = Some(ip);
                if c.port.is_none() {
                    c.port = port;
                }
            }
            "ssl" => c.ssl = true,
            "sni" => c.sni = Some(args.next_string("a string")?),
            "alpn" => {
                let v = args.next_string("a comma-separated protocol list")?;
                c.alpn = v.split(',').map(|p| p.as_bytes().to_vec()).collect();
                if c.alpn.iter().any(|p| p.is_empty() || p.len() > 255) {
                    return Err(format!("'alpn' : invalid protocol list '{v}'"));
                }
            }
            "via-socks4" | "proto" => {
                return Err(format!("'{w}' is not supported by ringlb yet"));
            }
            _ => {
                return Err(format!(
                    "expects 'comment', 'port', 'addr', 'send-proxy', 'ssl', 'sni', 'alpn' or \
                     'via-socks4', 'linger', 'default' but got '{w}' as argument."
                ));
            }
        }
    }
    Ok(with_comment(index, comment, Op::Connect(c)))
}

/// `<ip>` or `<ip>:<port>` (IPv6 in brackets with a port).
fn parse_addr(v: &str) -> Result<(std::net::IpAddr, Option<u16>), String> {
    if let Ok(ip) = v.parse() {
        return Ok((ip, None));
    }
    match v.parse::<std::net::SocketAddr>() {
        Ok(sa) => Ok((sa.ip(), Some(sa.port()).filter(|&p| p > 0))),
        Err(_) => Err(format!("'addr' : invalid address '{v}'")),
    }
}

/// `send <data>`, `send-lf <fmt>`, `send-binary <hex>`, `send-binary-lf <hexfmt>`, with `[comment <msg>]`.
fn send(index: u32, action: &str, args: &mut Args) -> Result<Line, String> {
    let data = args.next_string(if action == "send-binary" {
        "a binary string"
    } else {
        "a string"
    })?;
    let comment = comment_tail(args)?;
    let s = match action {
        "send" => Send::Bytes(data.into_bytes()),
        "send-binary" => Send::Bytes(
            crate::check::tcp_rules::unhex(data.as_bytes())
                .ok_or_else(|| format!("'{data}' invalid binary string"))?,
        ),
        "send-lf" => Send::Lf(check_format(&data)?),
        _ => Send::BinaryLf(check_format(&data)?),
    };
    Ok(with_comment(index, comment, Op::Send(s)))
}

/// Only `comment <msg>` may follow.
fn comment_tail(args: &mut Args) -> Result<Option<String>, String> {
    let mut comment = None;
    while let Some(w) = args.next_opt() {
        if w != "comment" {
            return Err(format!("expects 'comment' but got '{w}' as argument."));
        }
        comment = Some(args.next_string("a string")?);
    }
    Ok(comment)
}

/// A log-format string of a check: what it fetches must exist in a check.
fn check_format(text: &str) -> Result<LogFormat, String> {
    let f = LogFormat::parse(text, None)
        .map_err(|e| format!("'{text}' invalid log-format string ({e})"))?;
    if f.needs_http() {
        return Err(format!(
            "'{text}': a health check has no HTTP request or response to fetch from"
        ));
    }
    Ok(f)
}

/// `expect [min-recv <n>] [comment <msg>] [ok-status <st>] [error-status <st>]
/// [tout-status <st>] [on-success <fmt>] [on-error <fmt>] [status-code <expr>]
/// [!] <match> <pattern>`.
fn expect(index: u32, args: &mut Args) -> Result<Line, String> {
    let mut e = Expect {
        pattern: Pattern::String(Vec::new()),
        inverse: false,
        min_recv: None,
        ok: None,
        err: None,
        tout: None,
        on_success: None,
        on_error: None,
        status_code: None,
        head: 0,
    };
    let mut comment = None;
    let mut pattern = None;
    while let Some(w) = args.next_opt() {
        match w.as_str() {
            "min-recv" => {
                let v = args.next_string("an integer")?;
                let n: i64 = v
                    .parse()
                    .map_err(|_| format!("'min-recv' expects an integer, got '{v}'"))?;
                e.min_recv = usize::try_from(n).ok();
            }
            "comment" => comment = Some(args.next_string("a string")?),
            "ok-status" => e.ok = Some(status(&w, &args.next_string("a status")?)?),
            "error-status" => e.err = Some(status(&w, &args.next_string("a status")?)?),
            "tout-status" => e.tout = Some(status(&w, &args.next_string("a status")?)?),
            "on-success" => {
                e.on_success = Some(Msg::Lf(check_format(&args.next_string("a string")?)?))
            }
            "on-error" => e.on_error = Some(Msg::Lf(check_format(&args.next_string("a string")?)?)),
            "status-code" => {
                let v = args.next_string("an expression")?;
                let (x, _) = crate::acl::parse_expr(&v, None).map_err(|m| {
                    format!("error detected while parsing status-code expression : {m}")
                })?;
                e.status_code = Some(Code::Expr(Box::new(x)));
            }
            "!" => e.inverse = true,
            m => {
                let (inv, kind) = match m.strip_prefix('!') {
                    Some(k) => (true, k),
                    None => (false, m),
                };
                if !matches!(
                    kind,
                    "string" | "rstring" | "binary" | "rbinary" | "string-lf" | "binary-lf"
                ) {
                    return Err(format!(
                        "'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', \
                         '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got '{m}' \
                         as argument."
                    ));
                }
                if pattern.is_some() {
                    return Err("only one pattern expected".into());
                }
                e.inverse |= inv;
                let text = args.next_string("a pattern")?;
                pattern = Some(compile_pattern(kind, &text)?);
            }
        }
    }
    e.pattern = pattern.ok_or("pattern not found")?;
    Ok(with_comment(index, comment, Op::Expect(Box::new(e))))
}

fn compile_pattern(kind: &str, text: &str) -> Result<Pattern, String> {
    Ok(match kind {
        "string" => Pattern::String(text.as_bytes().to_vec()),
        "binary" => Pattern::Binary(
            crate::check::tcp_rules::unhex(text.as_bytes())
                .ok_or_else(|| format!("invalid binary string '{text}'"))?,
        ),
        "rstring" => Pattern::Rstring(regex(text)?),
        "rbinary" => Pattern::Rbinary(regex(text)?),
        "string-lf" => Pattern::StringLf(check_format(text)?),
        _ => Pattern::BinaryLf(check_format(text)?),
    })
}

fn regex(text: &str) -> Result<Regex, String> {
    RegexBuilder::new(text)
        .unicode(false)
        .build()
        .map_err(|e| format!("invalid regex '{text}': {e}"))
}

/// A status name of `ok-status`, `error-status` or `tout-status`.
fn status(kw: &str, v: &str) -> Result<CheckStatus, String> {
    let s = match (kw, v) {
        ("ok-status", "L7OK") => CheckStatus::L7Ok,
        ("ok-status", "L6OK") => CheckStatus::L6Ok,
        ("ok-status", "L4OK") => CheckStatus::L4Ok,
        ("error-status", "L7RSP") => CheckStatus::L7Rsp,
        ("error-status", "L7STS") => CheckStatus::L7Sts,
        ("error-status", "L6RSP") => CheckStatus::L6Rsp,
        ("error-status", "L4CON") => CheckStatus::L4Con,
        ("tout-status", "L7TOUT") => CheckStatus::L7Timeout,
        ("tout-status", "L6TOUT") => CheckStatus::L6Timeout,
        ("tout-status", "L4TOUT") => CheckStatus::L4Timeout,
        ("ok-status", "L7OKC") => {
            return Err("'ok-status L7OKC' is not supported by ringlb yet".into());
        }
        _ => {
            let allowed = match kw {
                "ok-status" => "L7OK, L7OKC, L6OK or L4OK",
                "error-status" => "L7RSP, L7STS, L6RSP or L4CON",
                _ => "L7TOUT, L6TOUT or L4TOUT",
            };
            return Err(format!("'{kw}' only supports {allowed} status (got '{v}')"));
        }
    };
    Ok(s)
}

/// `set-var(<name>) <expr>`.
fn set_var(index: u32, word: &str, args: &mut Args) -> Result<Line, String> {
    let name = var_name(word, "set-var(")?;
    let text = args.next_string("a sample expression")?;
    args.finish()?;
    let (x, _) = crate::acl::parse_expr(&text, None)?;
    Ok(with_comment(index, None, Op::SetVar(name, Box::new(x))))
}

/// The variable of `set-var(<name>)`: a check's own (`check.`) scope.
fn var_name(word: &str, prefix: &str) -> Result<String, String> {
    let name = word
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("'{word}': missing closing parenthesis"))?;
    match name.split_once('.') {
        Some(("check", rest)) if !rest.is_empty() => Ok(name.to_string()),
        _ => Err(format!(
            "variable '{name}': ringlb's health checks keep variables in the 'check.' scope only"
        )),
    }
}

/// The tcp-check options, sections as `option httpchk`'s.
pub const OPTIONS: &[&str] = &[
    "tcp-check",
    "ssl-hello-chk",
    "mysql-check",
    "pgsql-check",
    "redis-check",
    "smtpchk",
    "ldap-check",
];

/// `option <name> ...` for a name in [`OPTIONS`]: the check it chooses
/// replaces `option httpchk` and any other, as in HAProxy.
pub fn option(p: &mut RawProxy, name: &str, args: &mut Args) -> Result<(), String> {
    let choice = match name {
        "tcp-check" => {
            args.finish()?;
            Choice::Tcp
        }
        "redis-check" => proto(args, tcp_proto::redis())?,
        "ssl-hello-chk" => proto(args, tcp_proto::ssl_hello())?,
        "ldap-check" => proto(args, tcp_proto::ldap())?,
        "smtpchk" => {
            let a = args.rest();
            if a.len() > 2 {
                return Err(format!(
                    "'option smtpchk' cannot handle unexpected argument '{}'",
                    a[2]
                ));
            }
            let hello = match a.as_slice() {
                [h, d] if h == "EHLO" || h == "HELO" => format!("{h} {d}"),
                _ => "HELO localhost".to_string(),
            };
            Choice::Proto(Arc::new(tcp_proto::smtp(&hello)))
        }
        "pgsql-check" => {
            let a = args.rest();
            match a.as_slice() {
                [u, name] if u == "user" => Choice::Proto(Arc::new(tcp_proto::pgsql(name))),
                [u] | [u, _, ..] if u != "user" => {
                    return Err(
                        "'option pgsql-check' only supports optional values: 'user'.".into(),
                    );
                }
                [_, _, extra, ..] => {
                    return Err(format!(
                        "'option pgsql-check' cannot handle unexpected argument '{extra}'"
                    ));
                }
                _ => {
                    return Err(
                        "'option pgsql-check' expects 'user <username>' as argument.".into(),
                    );
                }
            }
        }
        _ => mysql(args)?,
    };
    p.tcp_check.choice = Some(choice);
    // One check kind per proxy: the last option wins, as in HAProxy.
    p.httpchk = None;
    p.external.enabled = false;
    Ok(())
}

fn proto(args: &mut Args, prog: Program) -> Result<Choice, String> {
    args.finish()?;
    Ok(Choice::Proto(Arc::new(prog)))
}

/// `option mysql-check [user <name> [post-41|pre-41]]`.
fn mysql(args: &mut Args) -> Result<Choice, String> {
    let a = args.rest();
    let user = match a.as_slice() {
        [] => None,
        [u, ..] if u != "user" => {
            return Err(format!(
                "'option mysql-check' only supports optional values: 'user' (got '{u}')."
            ));
        }
        [_] => return Err("'option mysql-check user' expects <username> as argument.".into()),
        [_, name] => Some((name.as_str(), true)),
        [_, name, v] if v == "post-41" || v == "pre-41" => Some((name.as_str(), v == "post-41")),
        [_, _, v] => {
            return Err(format!(
                "keyword 'user' only supports 'post-41' and 'pre-41' (got '{v}')."
            ));
        }
        [_, _, _, extra, ..] => {
            return Err(format!(
                "'option mysql-check' cannot handle unexpected argument '{extra}'"
            ));
        }
    };
    Ok(Choice::Proto(Arc::new(tcp_proto::mysql(user))))
}
