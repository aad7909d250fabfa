//! `http-check` rules: the program a backend's HTTP health check runs, compiled
//! once at load (`config/kw/http_check.rs` parses it), and its evaluation.
//!
//! A program is a list of steps as HAProxy 2.6 runs them ([`HttpCheckRules::planned`]): `connect` opens a
//! connection (one is implied before the first step), `send` writes a request,
//! `expect` judges the answer to the last request. A `send` with no `expect`
//! after it is judged as `option httpchk` alone would be (2xx and 3xx pass).
//! The verdicts and their texts are HAProxy's (`tcpcheck_eval_expect_http`).

use std::net::IpAddr;

use super::status::CheckStatus;

/// A backend's `http-check` lines, in order, with the flag keywords.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCheckRules {
    /// `connect`, `send`, `expect` and `comment` lines in configuration order.
    pub steps: Vec<Step>,
    /// `http-check send-state`: the `X-Haproxy-Server-State` header on every request.
    pub send_state: bool,
    /// `http-check disable-on-404`: a 404 from an UP server puts it in NOLB.
    pub disable_on_404: bool,
}

impl HttpCheckRules {
    /// Whether nothing was configured (the plain `option httpchk` path applies).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && !self.send_state && !self.disable_on_404
    }

    /// Whether a `connect ssl` step needs the servers' TLS settings.
    pub fn uses_ssl(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::Connect(c) if c.ssl))
    }

    /// Whether some step sends a request (else `option httpchk`'s request is sent).
    pub fn has_send(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Send(_)))
    }

    /// The program as HAProxy runs it, made once at load: a connect first
    /// unless it starts with one, and `option httpchk`'s request after it
    /// when no step sends. Rules with nothing configured stay empty.
    pub fn planned(&self) -> HttpCheckRules {
        if self.is_empty() {
            return self.clone();
        }
        let mut steps: Vec<Step> = Vec::with_capacity(self.steps.len() + 2);
        let first = self.steps.iter().find(|s| !matches!(s, Step::Comment(_)));
        if !matches!(first, Some(Step::Connect(_))) {
            steps.push(Step::Connect(Connect {
                default: true,
                ..Connect::default()
            }));
        }
        steps.extend(self.steps.iter().cloned());
        if !self.has_send() {
            let at = steps
                .iter()
                .position(|s| matches!(s, Step::Connect(_)))
                .map_or(0, |i| i + 1);
            steps.insert(at, Step::Send(Send::default()));
        }
        HttpCheckRules {
            steps,
            ..self.clone()
        }
    }
}

/// One `http-check` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `http-check connect ...`.
    Connect(Connect),
    /// `http-check send ...`.
    Send(Send),
    /// `http-check expect ...`.
    Expect(Expect),
    /// `http-check comment <msg>`: names the steps after it in failures.
    Comment(String),
}

/// `http-check connect`: where the step's connection goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connect {
    /// `default` (and the implied first connect): the server line's
    /// `check-send-proxy` and `check-ssl` apply; other connects take only
    /// their own options, as HAProxy.
    pub default: bool,
    /// `port <n>` (else the check's port).
    pub port: Option<u16>,
    /// `addr <ip>` (else the check's address).
    pub addr: Option<IpAddr>,
    /// `send-proxy`: a PROXY v1 header first.
    pub send_proxy: bool,
    /// `comment <msg>`.
    pub comment: Option<String>,
    /// `ssl`: TLS with the server line's settings (`Server::tcpcheck_tls`).
    pub ssl: bool,
    /// `sni <name>` (with `ssl`).
    pub sni: Option<String>,
    /// `alpn <list>` (with `ssl`), one protocol a vector.
    pub alpn: Vec<Vec<u8>>,
}

/// `http-check send`: the request's parts; unset ones come from `option httpchk`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Send {
    /// `meth <method>`.
    pub method: Option<String>,
    /// `uri <uri>` or `uri-lf <fmt>`.
    pub uri: Option<Fmt>,
    /// `ver <version>`.
    pub version: Option<String>,
    /// `hdr <name> <fmt>` lines, in order (names sent lower-cased, as HAProxy's HTX does).
    pub headers: Vec<(String, Fmt)>,
    /// `body <string>` or `body-lf <fmt>`.
    pub body: Option<Fmt>,
}

/// A log-format argument, compiled at load, rendered at each check with
/// the checked server's names ([`Names`]); compared by its text.
#[derive(Debug, Clone)]
pub struct Fmt(pub crate::lf::LogFormat);

impl PartialEq for Fmt {
    fn eq(&self, other: &Fmt) -> bool {
        self.0.text == other.0.text
    }
}
impl Eq for Fmt {}

/// The `%` variables a check renders: the rest need a session.
pub const CHECK_VARS: &[crate::lf::Var] = &[
    crate::lf::Var::Backend,
    crate::lf::Var::Server,
    crate::lf::Var::Hostname,
    crate::lf::Var::Pid,
];

impl Fmt {
    /// Plain text, taken as written.
    pub fn plain(s: &str) -> Fmt {
        Fmt(crate::lf::LogFormat::literal_text(s))
    }

    /// The text for this check.
    pub fn render(&self, names: &Names<'_>) -> String {
        if let Some(l) = self.0.literal() {
            return String::from_utf8_lossy(l).into_owned();
        }
        let mut out = Vec::new();
        let mut sc = crate::acl::Scratch::new();
        self.0.render(&NoSession, names, &mut sc, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A check's sample: no request, no client connection.
struct NoSession;

impl crate::acl::Sample for NoSession {}

/// The names a check's log-format strings render (`%b`, `%s`, `%H`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Names<'a> {
    /// The backend.
    pub backend: &'a str,
    /// The server.
    pub server: &'a str,
    /// This host (`%H`).
    pub host: &'a str,
}

impl crate::lf::LfVars for Names<'_> {
    fn var(&self, v: crate::lf::Var, out: &mut Vec<u8>) -> bool {
        let text = match v {
            crate::lf::Var::Backend => self.backend,
            crate::lf::Var::Server => self.server,
            crate::lf::Var::Hostname => self.host,
            _ => return false,
        };
        out.extend_from_slice(text.as_bytes());
        true
    }
}

/// `http-check expect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// `!`: the rule passes when the pattern does not match.
    pub negate: bool,
    /// What is matched.
    pub matcher: Matcher,
    /// `comment <msg>`, appended to failure texts.
    pub comment: Option<String>,
    /// `ok-status`: the status when this rule ends the check with success.
    pub ok_status: Option<CheckStatus>,
    /// `error-status`: the status of a failure.
    pub error_status: Option<CheckStatus>,
    /// `tout-status`: the status when the answer does not come in time.
    pub tout_status: Option<CheckStatus>,
    /// `on-success <fmt>`: the info of a success.
    pub on_success: Option<Fmt>,
    /// `on-error <fmt>`: the info of a failure.
    pub on_error: Option<Fmt>,
}

/// A compiled regex (compared by its source, so models stay comparable).
#[derive(Debug, Clone)]
pub struct Re(pub regex::bytes::Regex);

impl PartialEq for Re {
    fn eq(&self, other: &Re) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}
impl Eq for Re {}

/// What an `expect` matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// `status <codes>`: inclusive ranges.
    Status(Vec<(u16, u16)>),
    /// `rstatus <regex>` on the three status digits.
    RStatus(Re),
    /// `hdr`/`fhdr name <m> <name> [value <m> <value>]`.
    Header {
        /// `fhdr`: the value is the whole line, commas included.
        full: bool,
        /// The header name pattern.
        name: Pattern,
        /// The value pattern, if any.
        value: Option<Pattern>,
    },
    /// `string <text>`: the body contains it.
    String(Vec<u8>),
    /// `string-lf <fmt>`: the body contains its rendering.
    StringLf(Fmt),
    /// `rstring <regex>` on the body.
    RString(Re),
}

/// A `hdr` match method and operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `-m str` (default): equal (names: case-insensitively).
    Str(String),
    /// `-m beg`.
    Beg(String),
    /// `-m end`.
    End(String),
    /// `-m sub`.
    Sub(String),
    /// `-m reg`.
    Reg(Re),
}

impl Pattern {
    /// Whether `s` matches; `fold` compares case-insensitively (header names).
    fn matches(&self, s: &str, fold: bool) -> bool {
        let norm = |p: &str| {
            if fold {
                p.to_ascii_lowercase()
            } else {
                p.to_string()
            }
        };
        let s = norm(s);
        match self {
            Pattern::Str(p) => s == norm(p),
            Pattern::Beg(p) => s.starts_with(&norm(p)),
            Pattern::End(p) => s.ends_with(&norm(p)),
            Pattern::Sub(p) => s.contains(&norm(p)),
            Pattern::Reg(r) => r.0.is_match(s.as_bytes()),
        }
    }
}

/// An answer as the checks read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// Header lines, name and value as received.
    pub headers: Vec<(String, String)>,
    /// The body bytes received.
    pub body: Vec<u8>,
}

/// Parses what the server sent; `None` when it is not an HTTP/1.x answer.
pub fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let head_end = find(raw, b"\r\n\r\n").map(|i| (i, i + 4));
    let (head, body) = match head_end {
        Some((h, b)) => (&raw[..h], &raw[b..]),
        None => (raw, &raw[raw.len()..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let v = super::http::judge_status_line(first.as_bytes());
    if v.status == CheckStatus::L7Rsp {
        return None;
    }
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let reason = first.get(13..).unwrap_or("").trim().to_string();
    Some(Answer {
        code: v.code,
        reason,
        headers,
        body: body.to_vec(),
    })
}

/// Whether a raw answer is complete: head read and `Content-Length` bytes of body.
pub fn answer_complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let len = head.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    len.is_some_and(|n| raw.len() - end - 4 >= n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether the pattern of `m` is found in `a` (before `!` applies).
pub fn matches(m: &Matcher, a: &Answer, names: &Names<'_>) -> bool {
    match m {
        Matcher::StringLf(f) => {
            let s = f.render(names);
            s.is_empty() || find(&a.body, s.as_bytes()).is_some()
        }
        Matcher::Status(ranges) => ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&a.code)),
        Matcher::RStatus(r) => r.0.is_match(format!("{:03}", a.code).as_bytes()),
        Matcher::String(s) => s.is_empty() || find(&a.body, s).is_some(),
        Matcher::RString(r) => r.0.is_match(&a.body),
        Matcher::Header { full, name, value } => a
            .headers
            .iter()
            .filter(|(n, _)| name.matches(n, true))
            .any(|(_, v)| match value {
                None => true,
                Some(p) if *full => p.matches(v, false),
                // `hdr` splits the value on commas, as HAProxy does.
                Some(p) => v.split(',').any(|part| p.matches(part.trim(), false)),
            }),
    }
}

/// An expect rule's verdict: `None` to go on, else the check's end.
pub fn judge(
    e: &Expect,
    a: &Answer,
    last: bool,
    names: &Names<'_>,
) -> Option<(CheckStatus, u16, String)> {
    if matches(&e.matcher, a, names) != e.negate {
        if !last {
            return None;
        }
        let status = e.ok_status.unwrap_or(CheckStatus::L7Ok);
        let info = e.on_success.as_ref().map(|f| f.render(names));
        return Some((status, a.code, info.unwrap_or_default()));
    }
    let (default, desc) = match &e.matcher {
        Matcher::String(_) | Matcher::StringLf(_) | Matcher::RString(_) => (
            CheckStatus::L7Rsp,
            if e.negate {
                "HTTP check matched unwanted content".to_string()
            } else {
                "HTTP content check did not match".to_string()
            },
        ),
        _ => (CheckStatus::L7Sts, a.reason.clone()),
    };
    let mut info = e.on_error.as_ref().map_or(desc, |f| f.render(names));
    if let Some(c) = &e.comment {
        info.push_str(" comment: ");
        info.push_str(c);
    }
    Some((e.error_status.unwrap_or(default), a.code, info))
}

/// The request of a `send` step, as HAProxy 2.6 writes it (HTX to HTTP/1):
/// the request line, the headers lower-cased in order, `content-length` for a
/// body, `connection: close` on HTTP/1.1, then the body. Unset parts come
/// from `option httpchk` (`OPTIONS / HTTP/1.0` without it); `state` is the
/// `send-state` header value.
pub fn build_request(
    s: &Send,
    base: Option<&crate::config::model::HttpCheck>,
    state: Option<&str>,
    names: &Names<'_>,
) -> Vec<u8> {
    let method = s
        .method
        .as_deref()
        .or(base.map(|b| b.method.as_str()))
        .unwrap_or("OPTIONS");
    let own_uri = s.uri.as_ref().map(|f| f.render(names));
    let uri = own_uri
        .as_deref()
        .or(base.map(|b| b.uri.as_str()))
        .unwrap_or("/");
    let base_ver = base.map(|b| b.version.split("\r\n").next().unwrap_or("HTTP/1.0"));
    let version = s.version.as_deref().or(base_ver).unwrap_or("HTTP/1.0");
    let mut req = format!("{method} {uri} {version}\r\n");
    // Header lines hidden in `option httpchk`'s version (the 1.x idiom)
    // apply only when the `send` names none, as in HAProxy 2.6.
    let hidden: Vec<(String, String)> = match base {
        Some(b) if s.headers.is_empty() => b
            .version
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect(),
        _ => Vec::new(),
    };
    let own = s.headers.iter().map(|(n, f)| (n.as_str(), f.render(names)));
    let hidden = hidden.iter().map(|(n, v)| (n.as_str(), v.clone()));
    let http11 = version.eq_ignore_ascii_case("HTTP/1.1");
    // On HTTP/1.1 HAProxy's H1 mux takes `connection` headers as the
    // connection's mode and writes only `close` (keep-alive is implied).
    let mut close = true;
    let mut named_mode = false;
    for (n, v) in own.chain(hidden) {
        let name = n.to_ascii_lowercase();
        if http11 && name == "connection" {
            close = (named_mode && close) || v.to_ascii_lowercase().contains("close");
            named_mode = true;
            continue;
        }
        req.push_str(&format!("{name}: {v}\r\n"));
    }
    let body = s.body.as_ref().map(|f| f.render(names));
    if let Some(st) = state {
        req.push_str(&format!("x-haproxy-server-state: {st}\r\n"));
    }
    if let Some(b) = &body {
        req.push_str(&format!("content-length: {}\r\n", b.len()));
    }
    if http11 && close {
        req.push_str("connection: close\r\n");
    }
    req.push_str("\r\n");
    if let Some(b) = &body {
        req.push_str(b);
    }
    req.into_bytes()
}

/// The default expect: `option httpchk`'s judgement of the status (2xx, 3xx pass).
pub fn default_verdict(a: &Answer) -> (CheckStatus, u16, String) {
    if (200..400).contains(&a.code) {
        (CheckStatus::L7Ok, a.code, String::new())
    } else {
        (CheckStatus::L7Sts, a.code, a.reason.clone())
    }
}

/// `http-check send-state`'s header value, HAProxy's
/// `httpchk_build_status_header`: the state with the counter while it
/// changes, the server's address, names, weights and sessions.
#[derive(Debug, Clone, Copy)]
pub struct StateHeader<'a> {
    /// Whether the server is UP.
    pub up: bool,
    /// Whether it is in NOLB (stopping).
    pub nolb: bool,
    /// The health counter, rise and fall.
    pub health: (u32, u32, u32),
    /// The server's address and port (`None`: not IP).
    pub addr: Option<std::net::SocketAddr>,
    /// Backend and server names.
    pub names: (&'a str, &'a str),
    /// `global node` (the host name by default).
    pub node: &'a str,
    /// The server's weight and the backend's total.
    pub weights: (u32, u32),
    /// The server's current sessions, the backend's, and the server's queue.
    pub sessions: (u64, u64, u64),
    /// During `slowstart`: the percentage of the ramp done.
    pub throttle: Option<u32>,
}

impl StateHeader<'_> {
    /// The header value.
    pub fn render(&self) -> String {
        let (h, rise, fall) = self.health;
        let state = if self.up {
            let kind = if self.nolb { "NOLB" } else { "UP" };
            if h >= rise + fall - 1 {
                kind.to_string()
            } else {
                format!("{kind} {}/{fall}", (h + 1).saturating_sub(rise))
            }
        } else if h > 0 {
            format!("DOWN {h}/{rise}")
        } else {
            "DOWN".to_string()
        };
        let (addr, port) = match self.addr {
            Some(a) => (a.ip().to_string(), a.port().to_string()),
            None => (String::new(), String::new()),
        };
        let throttle = self
            .throttle
            .map(|t| format!("; throttle={t}%"))
            .unwrap_or_default();
        format!(
            "{state}; address={addr}; port={port}; name={}/{}; node={}; weight={}/{}; scur={}/{}; qcur={}{throttle}",
            self.names.0,
            self.names.1,
            self.node,
            self.weights.0,
            self.weights.1,
            self.sessions.0,
            self.sessions.1,
            self.sessions.2,
        )
    }
}

#[cfg(test)]
#[path = "http_rules_tests.rs"]
mod tests;
