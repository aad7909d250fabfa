//! `tcp-check` programs: the rules of `option tcp-check` and the rulesets
//! HAProxy builds for its protocol checks (`option redis-check`,
//! `mysql-check`, ...), compiled once at load, and how an `expect` rule
//! judges the bytes received.
//!
//! The program is run by [`super::tcp_run`]; this file holds the types and
//! the pure parts (matching, messages), so that no received byte can make
//! them panic. The texts are HAProxy 2.6's (`TCPCHK did not match content
//! 'x' at step 2`), checked against it in `tests/tcp_checks.rs`.

use std::fmt::Write as _;
use std::net::IpAddr;

use regex::bytes::Regex;

use super::status::CheckStatus;
use crate::acl::{Sample, Scratch, Val};
use crate::lf::{LogFormat, NoVars};

/// Size of HAProxy's check buffer (`tune.bufsize`): a full buffer is final.
pub const BUF_SIZE: usize = 16384;

/// Which ruleset a program is: the generic messages are only the user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `option tcp-check` with `tcp-check` rules.
    Tcp,
    /// A protocol check (`redis-check`, `smtpchk`, ...): its own messages only.
    Proto,
}

/// A compiled ruleset.
#[derive(Debug, Clone)]
pub struct Program {
    /// Whose rules these are.
    pub kind: Kind,
    /// The rules in order, comments folded into the rules they describe.
    pub rules: Vec<Rule>,
    /// The configuration text it came from (compared when configs are compared).
    pub text: String,
}

impl Program {
    /// Whether a `connect ssl` rule needs the servers' TLS settings.
    pub fn uses_ssl(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(&r.op, Op::Connect(c) if c.ssl))
    }
}

impl PartialEq for Program {
    fn eq(&self, other: &Program) -> bool {
        self.kind == other.kind && self.text == other.text
    }
}

impl Eq for Program {}

/// One rule and its place in the ruleset.
#[derive(Debug, Clone)]
pub struct Rule {
    /// HAProxy's index (0-based, counting every `tcp-check` line): the
    /// message's "step N" is `index + 1`, the implicit connect's is 0.
    pub index: u32,
    /// `comment <msg>`, or the `tcp-check comment` line before it.
    pub comment: Option<String>,
    /// What it does.
    pub op: Op,
}

/// A rule's action.
#[derive(Debug, Clone)]
pub enum Op {
    /// `connect`.
    Connect(Connect),
    /// `send`, `send-lf`, `send-binary`, `send-binary-lf`.
    Send(Send),
    /// `expect`.
    Expect(Box<Expect>),
    /// `set-var(<name>) <expr>`.
    SetVar(String, Box<crate::acl::Expr>),
    /// `unset-var(<name>)`.
    UnsetVar(String),
}

/// `connect [default] [port <n>] [addr <ip>] [send-proxy] [linger]`.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    /// `default`: the server's own check settings (`check-ssl`, `check-send-proxy`).
    pub default: bool,
    /// Added in front of a ruleset that does not start with a connect.
    pub implicit: bool,
    /// `port <n>`.
    pub port: Option<u16>,
    /// `addr <ip>`.
    pub addr: Option<IpAddr>,
    /// `send-proxy`.
    pub send_proxy: bool,
    /// `ssl`: TLS with the server's settings.
    pub ssl: bool,
    /// `sni <name>`.
    pub sni: Option<String>,
    /// `alpn <list>`, one protocol a vector.
    pub alpn: Vec<Vec<u8>>,
}

/// What a send rule writes.
#[derive(Debug, Clone)]
pub enum Send {
    /// `send` and `send-binary`: fixed bytes.
    Bytes(Vec<u8>),
    /// `send-lf <fmt>`.
    Lf(LogFormat),
    /// `send-binary-lf <hexfmt>`: the rendered text is hexadecimal.
    BinaryLf(LogFormat),
    /// `option ssl-hello-chk`'s SSLv3 CLIENT HELLO (it carries the time).
    Ssl3Hello,
}

/// An `expect` rule.
#[derive(Debug, Clone)]
pub struct Expect {
    /// What to look for.
    pub pattern: Pattern,
    /// `!`: the match is the failure.
    pub inverse: bool,
    /// `min-recv <n>` (`None`: HAProxy's -1, wait for more on a mismatch).
    pub min_recv: Option<usize>,
    /// `ok-status`.
    pub ok: Option<CheckStatus>,
    /// `error-status`.
    pub err: Option<CheckStatus>,
    /// `tout-status`.
    pub tout: Option<CheckStatus>,
    /// `on-success <fmt>`.
    pub on_success: Option<Msg>,
    /// `on-error <fmt>`.
    pub on_error: Option<Msg>,
    /// `status-code <expr>`.
    pub status_code: Option<Code>,
    /// The rule a wait for more data resumes at: the first of the run of
    /// expect rules before this one that is inverted, else this one (HAProxy's `head`).
    pub head: usize,
}

/// What an `expect` matches.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `string <s>`: the bytes appear somewhere.
    String(Vec<u8>),
    /// `binary <hex>`.
    Binary(Vec<u8>),
    /// `rstring <re>`.
    Rstring(Regex),
    /// `rbinary <re>`: the regex runs on the hexadecimal dump (upper case).
    Rbinary(Regex),
    /// `string-lf <fmt>`.
    StringLf(LogFormat),
    /// `binary-lf <fmt>`.
    BinaryLf(LogFormat),
    /// `mysql-check`: the server's initial handshake packet.
    MysqlGreeting,
    /// `mysql-check user`: the packet answering the authentication.
    MysqlOk,
    /// `ldap-check`: the bindResponse.
    LdapBind,
}

/// A message of `on-success`/`on-error`.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A user's log-format string.
    Lf(LogFormat),
    /// The protocol checks' `%[res.payload(<from>,0)[,ltrim(' ')][,cut_crlf]]`.
    Payload {
        /// First byte.
        from: usize,
        /// `ltrim(' ')`.
        ltrim: bool,
        /// `cut_crlf`.
        cut_crlf: bool,
    },
}

/// `status-code`.
#[derive(Debug, Clone)]
pub enum Code {
    /// A user's sample expression.
    Expr(Box<crate::acl::Expr>),
    /// `res.payload(<from>,<len>)` read as a number (SMTP's reply code).
    Payload(usize, usize),
}

/// Check-scoped variables (`set-var(check.x)`), per check run.
pub type Vars = Vec<(String, Vec<u8>)>;

/// What fetches see during a check: the bytes received, the variables.
pub struct CheckSample<'a> {
    /// Bytes received since the last send (`res.payload`).
    pub payload: &'a [u8],
    /// Variables set so far.
    pub vars: &'a Vars,
}

impl Sample for CheckSample<'_> {
    fn res_payload(&self) -> Option<&[u8]> {
        Some(self.payload)
    }
    fn var(&self, name: &str) -> Option<Val<'_>> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Val::Str(v))
    }
}

/// Renders a log-format string for a check.
pub fn render(f: &LogFormat, s: &CheckSample<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sc = Scratch::new();
    f.render(s, &NoVars, &mut sc, &mut out);
    out
}

/// The verdict of one expect rule on the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eval {
    /// Passed: on to the next rule.
    Continue,
    /// Not decided: read more, then resume at the rule's head.
    Wait,
    /// The check ends here: status, code, info.
    Stop(CheckStatus, u16, String),
}

/// Where an expect sits in its program, for the messages.
pub struct At<'a> {
    /// The program.
    pub prog: &'a Program,
    /// The rule's position in it.
    pub pos: usize,
}

impl At<'_> {
    fn rule(&self) -> &Rule {
        &self.prog.rules[self.pos]
    }
    /// HAProxy's step number.
    pub fn step(&self) -> u32 {
        step_id(self.rule())
    }
    fn is_last(&self) -> bool {
        !self.prog.rules[self.pos + 1..]
            .iter()
            .any(|r| matches!(r.op, Op::Connect(_) | Op::Send(_) | Op::Expect(_)))
    }
}

/// The step number HAProxy prints for a rule.
pub fn step_id(r: &Rule) -> u32 {
    match &r.op {
        Op::Connect(c) if c.implicit => 0,
        _ => r.index + 1,
    }
}

/// Judges the bytes received `buf` with expect rule `e` at `at`;
/// `last_read` says no more bytes will come.
pub fn eval_expect(at: &At<'_>, e: &Expect, buf: &[u8], last: bool, vars: &Vars) -> Eval {
    let last = last || buf.len() >= BUF_SIZE;
    let s = CheckSample { payload: buf, vars };
    if !last {
        if let Pattern::String(d) | Pattern::Binary(d) = &e.pattern
            && buf.len() < d.len()
        {
            return Eval::Wait;
        }
        if e.min_recv.is_some_and(|m| m > 0 && buf.len() < m) {
            return Eval::Wait;
        }
    }
    let matched = match &e.pattern {
        Pattern::String(d) | Pattern::Binary(d) => contains(buf, d),
        Pattern::Rstring(re) => re.is_match(buf),
        Pattern::Rbinary(re) => re.is_match(hex_upper(buf).as_bytes()),
        Pattern::StringLf(f) | Pattern::BinaryLf(f) => {
            let mut want = render(f, &s);
            if want.is_empty() {
                return fail(
                    at,
                    e,
                    0,
                    Some("log-format string evaluated to an empty string"),
                    &s,
                );
            }
            if matches!(e.pattern, Pattern::BinaryLf(_)) {
                match unhex(&want) {
                    Some(b) => want = b,
                    None => {
                        let m =
                            "Failed to parse hexastring resulting of eval of a log-format string";
                        return fail(at, e, 0, Some(m), &s);
                    }
                }
            }
            if buf.len() < want.len() && !last {
                return Eval::Wait;
            }
            contains(buf, &want)
        }
        Pattern::MysqlGreeting => return mysql_packet(at, e, buf, 0, last),
        Pattern::MysqlOk => {
            let first = packet_len(buf, 0).map_or(usize::MAX, |n| n + 4);
            return mysql_packet(at, e, buf, first, last);
        }
        Pattern::LdapBind => return ldap_bind(at, e, buf),
    };
    if !matched && !last && e.min_recv.is_none() {
        return Eval::Wait;
    }
    if matched != e.inverse {
        return Eval::Continue;
    }
    fail(at, e, u8::from(matched), None, &s)
}

/// The failure of expect `e`: HAProxy's `tcpcheck_expect_onerror_message`.
/// `matched` is 1 when an inverted pattern matched; `desc` a protocol's own text.
fn fail(at: &At<'_>, e: &Expect, matched: u8, desc: Option<&str>, s: &CheckSample<'_>) -> Eval {
    let status = e.err.unwrap_or(CheckStatus::L7Rsp);
    let mut msg = String::new();
    if let Some(d) = desc {
        msg.push_str(d);
    } else if let Some(m) = &e.on_error {
        msg = msg_text(m, s);
    } else if at.prog.kind == Kind::Tcp {
        msg.push_str(if matched == 1 {
            "TCPCHK matched unwanted content"
        } else {
            "TCPCHK did not match content"
        });
        let step = at.step();
        let _ = match &e.pattern {
            Pattern::String(d) => {
                write!(msg, " '{}' at step {step}", String::from_utf8_lossy(d))
            }
            Pattern::Binary(_) => write!(msg, " (binary) at step {step}"),
            Pattern::Rstring(_) => write!(msg, " (regex) at step {step}"),
            Pattern::Rbinary(_) => write!(msg, " (binary regex) at step {step}"),
            Pattern::StringLf(_) => write!(msg, " (log-format string) at step {step}"),
            Pattern::BinaryLf(_) => write!(msg, " (log-format binary) at step {step}"),
            _ => write!(msg, " (custom function) at step {step}"),
        };
    }
    if let Some(c) = &at.rule().comment {
        msg.push_str(" comment: ");
        msg.push_str(c);
    }
    Eval::Stop(status, code(e, s), msg)
}

/// The success of the program's last rule, expect `e`: its status and text.
pub fn success(prog: &Program, e: &Expect, buf: &[u8], vars: &Vars) -> (CheckStatus, u16, String) {
    let s = CheckSample { payload: buf, vars };
    let info = match &e.on_success {
        Some(m) => msg_text(m, &s),
        None if prog.kind == Kind::Tcp => "(tcp-check)".into(),
        None => String::new(),
    };
    (e.ok.unwrap_or(CheckStatus::L7Ok), code(e, &s), info)
}

fn msg_text(m: &Msg, s: &CheckSample<'_>) -> String {
    let bytes = match m {
        Msg::Lf(f) => render(f, s),
        Msg::Payload {
            from,
            ltrim,
            cut_crlf,
        } => {
            let mut b = s.payload.get(*from..).unwrap_or_default();
            if *ltrim {
                while let [b' ', rest @ ..] = b {
                    b = rest;
                }
            }
            if *cut_crlf {
                let end = b.iter().position(|&c| c == b'\r' || c == b'\n');
                b = &b[..end.unwrap_or(b.len())];
            }
            b.to_vec()
        }
    };
    // HAProxy 2.6 prints a message's non-printable bytes as `<XX>` (a
    // payload's CRLF reads `<0D><0A>`), up to the first NUL.
    let text = c_string(&bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            let mut b = [0u8; 4];
            for x in c.encode_utf8(&mut b).bytes() {
                let _ = write!(out, "<{x:02X}>");
            }
        }
    }
    out
}

/// HAProxy passes its texts as C strings: they end at the first NUL.
pub fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn code(e: &Expect, s: &CheckSample<'_>) -> u16 {
    let text = match &e.status_code {
        None => return 0,
        Some(Code::Payload(from, len)) => s
            .payload
            .get(*from..from.saturating_add(*len))
            .unwrap_or_default()
            .to_vec(),
        Some(Code::Expr(x)) => {
            let mut out = Vec::new();
            crate::lf::sample_into(x, s, &mut Scratch::new(), Default::default(), &mut out);
            out
        }
    };
    std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .map_or(0, |n| n.clamp(0, i64::from(u16::MAX)) as u16)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Bytes as upper-case hexadecimal (HAProxy's `dump_binary`).
pub fn hex_upper(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02X}");
    }
    s
}

/// Bytes as HAProxy prints a binary pattern in a message: up to the first
/// NUL, printable ASCII as is, others as `<XX>`.
pub fn escaped(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take_while(|&&c| c != 0) {
        if (0x20..0x7f).contains(&c) {
            s.push(c as char);
        } else {
            let _ = write!(s, "<{c:02X}>");
        }
    }
    s
}

/// Hexadecimal text to bytes (`parse_binary`): an even count of hex digits.
pub fn unhex(t: &[u8]) -> Option<Vec<u8>> {
    if !t.len().is_multiple_of(2) {
        return None;
    }
    t.chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16);
            Some((d(p[0])? * 16 + d(p[1])?) as u8)
        })
        .collect()
}

/// A MySQL packet's length, from its 3-byte header at `at`.
fn packet_len(b: &[u8], at: usize) -> Option<usize> {
    let h = b.get(at..at.checked_add(3)?)?;
    Some(usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16)
}

/// HAProxy's `tcpcheck_mysql_expect_packet`: a whole packet at `off`; an
/// error packet (0xff) fails with its code and message; the last rule
/// passes with the server's version as info.
fn mysql_packet(at: &At<'_>, e: &Expect, b: &[u8], off: usize, last: bool) -> Eval {
    let whole = packet_len(b, off)
        .and_then(|n| off.checked_add(4)?.checked_add(n))
        .is_some_and(|end| b.len() >= end);
    if !whole {
        if !last {
            return Eval::Wait;
        }
        return Eval::Stop(CheckStatus::L7Rsp, 0, comment_only(at));
    }
    if b.get(off + 4) == Some(&0xff) {
        let code = b
            .get(off + 5..off + 7)
            .map_or(0, |c| u16::from_le_bytes([c[0], c[1]]));
        let mut info = c_string(b.get(off + 7..).unwrap_or_default());
        info += &comment_only(at);
        return Eval::Stop(CheckStatus::L7Sts, code, info);
    }
    if !at.is_last() {
        return Eval::Continue;
    }
    let version = c_string(b.get(5..).unwrap_or_default());
    Eval::Stop(e.ok.unwrap_or(CheckStatus::L7Ok), 0, version)
}

/// HAProxy's `tcpcheck_ldap_expect_bindrsp`: an LDAPv3 bindResponse whose
/// resultCode is 0.
fn ldap_bind(at: &At<'_>, e: &Expect, b: &[u8]) -> Eval {
    let not_ldap = || {
        Eval::Stop(
            CheckStatus::L7Rsp,
            0,
            format!("Not LDAPv3 protocol{}", comment_only(at)),
        )
    };
    let len_of = |i: usize| match b.get(i) {
        Some(&x) if x & 0x80 != 0 => Some(usize::from(x & 0x7f)),
        Some(_) => Some(0),
        None => None,
    };
    let Some(mut n) = len_of(1) else {
        return not_ldap();
    };
    if n > 2 || b.get(2 + n..6 + n) != Some(b"\x02\x01\x01\x61") {
        return not_ldap();
    }
    match len_of(n + 6) {
        Some(m) => n += m,
        None => return not_ldap(),
    }
    if n > 4 || b.get(7 + n..9 + n) != Some(b"\x0a\x01") {
        return not_ldap();
    }
    let code = b.get(n + 9).copied().unwrap_or(0);
    if code != 0 {
        let info = format!(
            "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9{}",
            comment_only(at)
        );
        return Eval::Stop(CheckStatus::L7Sts, u16::from(code), info);
    }
    Eval::Stop(e.ok.unwrap_or(CheckStatus::L7Ok), 0, "Success".into())
}

fn comment_only(at: &At<'_>) -> String {
    at.rule()
        .comment
        .as_ref()
        .map(|c| format!(" comment: {c}"))
        .unwrap_or_default()
}

/// The text HAProxy adds to a connection error or timeout of a `tcp-check`
/// ruleset (`chk_report_conn_err`): where it happened; empty for protocol checks.
pub fn where_text(prog: &Program, current: Option<usize>) -> String {
    if prog.kind != Kind::Tcp {
        return String::new();
    }
    let Some(r) = current.map(|i| &prog.rules[i]) else {
        return " at initial connection step of tcp-check".into();
    };
    let step = step_id(r);
    if step == 0 {
        return " at initial connection step of tcp-check".into();
    }
    let mut s = format!(" at step {step} of tcp-check");
    let _ = match &r.op {
        Op::Connect(c) => match c.port {
            Some(p) => write!(s, " (connect port {p})"),
            None => write!(s, " (connect)"),
        },
        Op::Send(_) => write!(s, " (send)"),
        Op::Expect(e) => match &e.pattern {
            Pattern::String(d) => write!(s, " (expect string '{}')", String::from_utf8_lossy(d)),
            Pattern::Binary(d) => write!(s, " (expect binary '{}')", escaped(d)),
            Pattern::Rstring(_) => write!(s, " (expect regex)"),
            Pattern::Rbinary(_) => write!(s, " (expect binary regex)"),
            Pattern::StringLf(_) => write!(s, " (expect log-format string)"),
            Pattern::BinaryLf(_) => write!(s, " (expect log-format binary)"),
            _ => write!(s, " (expect custom function)"),
        },
        Op::SetVar(..) | Op::UnsetVar(_) => Ok(()),
    };
    if let Some(c) = &r.comment {
        let _ = write!(s, " comment: '{c}'");
    }
    s
}

/// HAProxy's "TCPCHK got an empty response at step N[ comment: 'c']".
pub fn empty_response(at: &At<'_>, e: &Expect) -> (CheckStatus, u16, String) {
    let mut info = format!("TCPCHK got an empty response at step {}", at.step());
    if let Some(c) = &at.rule().comment {
        let _ = write!(info, " comment: '{c}'");
    }
    (e.err.unwrap_or(CheckStatus::L7Rsp), 0, info)
}

#[cfg(test)]
#[path = "tcp_rules_tests.rs"]
mod tests;
