//! Running a rule list on a [`Msg`]: conditions read the message as it stands
//! (earlier rules' rewrites included, as in HAProxy), actions rewrite it, set
//! variables, or end the evaluation with a response.
//!
//! A rewrite that would put a byte the message cannot carry (CR, LF, NUL; a
//! space in the target; a method that is not a token) is refused with 500, as
//! HAProxy's strict mode answers a failed rewrite: nothing malformed reaches
//! a server or a client.

use std::io::Write;

use super::reply::{self, Local, LocalKind};
use super::vars::Vars;
use super::{Action, Line, Msg, NameMatch, Rule};
use crate::acl::{AclSet, Sample, Scratch, Val};
use crate::lf::{LfVars, Var};
use crate::route::{ConnAddrs, Stream};
use crate::runtime::Shared;

/// Where rules run: the connection, the proxies, and what the log needs.
pub struct Cx<'a> {
    /// The client connection's addresses.
    pub addrs: &'a ConnAddrs,
    /// The runtime (counters, names).
    pub shared: &'a Shared,
    /// The frontend.
    pub fe: usize,
    /// The backend, once chosen.
    pub be: Option<usize>,
    /// The server, once chosen.
    pub server: Option<usize>,
    /// The declared request body size.
    pub body_size: Option<u64>,
    /// The request head's length.
    pub req_len: u64,
    /// The exchange's unique id, number and date (`%ID`, `%rt`, `unique-id`).
    pub uid: Option<&'a crate::http::unique_id::IdSlot>,
    /// The exchange's capture slots, when the frontend logs and declares some.
    pub captures: Option<&'a crate::log::capture::Captured>,
}

impl LfVars for Cx<'_> {
    fn var(&self, v: Var, out: &mut Vec<u8>) -> bool {
        let s = self.shared;
        if let Some(slot) = self.uid {
            let fe = &s.frontends[self.fe].name;
            let names = crate::http::unique_id::Names {
                frontend: fe,
                backend: self.be.map_or(fe, |b| &s.backends[b].name),
                server: self
                    .be
                    .zip(self.server)
                    .map(|(b, i)| s.backends[b].servers[i].name.as_str()),
            };
            return crate::http::unique_id::ExchangeVars { names, slot }.var(v, out);
        }
        match v {
            Var::Frontend => out.extend_from_slice(s.frontends[self.fe].name.as_bytes()),
            Var::Backend => match self.be {
                Some(b) => out.extend_from_slice(s.backends[b].name.as_bytes()),
                None => out.extend_from_slice(s.frontends[self.fe].name.as_bytes()),
            },
            Var::Server => match (self.be, self.server) {
                (Some(b), Some(i)) => {
                    out.extend_from_slice(s.backends[b].servers[i].name.as_bytes())
                }
                _ => out.extend_from_slice(b"<NOSRV>"),
            },
            Var::Hostname => {
                out.extend_from_slice(crate::log::system_hostname().unwrap_or_default().as_bytes())
            }
            Var::Timestamp | Var::Millis => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let _ = if v == Var::Timestamp {
                    write!(out, "{}", now.as_secs())
                } else {
                    write!(out, "{:03}", now.subsec_millis())
                };
            }
            _ => return false,
        }
        true
    }
}

/// What running a rule list decided.
#[derive(Debug)]
pub enum Verdict {
    /// Every rule ran; go on.
    Continue,
    /// `allow`: this list stops, the message goes on.
    Stop,
    /// Answer this instead of forwarding.
    Reply(Local),
}

/// Side effects a rule list has on the log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Effects {
    /// `set-log-level silent`.
    pub silent: bool,
}

/// A sample read from a [`Msg`]: the request (line: method, target,
/// version) in request rules, the response (line: version, status, reason)
/// in response rules, where the request's parts read as absent.
pub struct ReqMsg<'m> {
    /// The head.
    pub msg: &'m Msg,
    /// The declared body size.
    pub body_size: Option<u64>,
    /// The head's length.
    pub req_len: u64,
    /// The head is a response's.
    pub response: bool,
}

impl ReqMsg<'_> {
    fn req_line(&self, i: usize) -> &[u8] {
        if self.response { b"" } else { self.msg.line(i) }
    }
}

impl Sample for ReqMsg<'_> {
    fn method(&self) -> &[u8] {
        self.req_line(0)
    }
    fn uri(&self) -> &[u8] {
        self.req_line(1)
    }
    fn version(&self) -> &[u8] {
        self.msg.line(if self.response { 0 } else { 2 })
    }
    fn req_header_count(&self) -> usize {
        if self.response {
            0
        } else {
            self.msg.header_count()
        }
    }
    fn req_header(&self, i: usize) -> (&[u8], &[u8]) {
        self.msg.header(i)
    }
    fn body_size(&self) -> Option<u64> {
        self.body_size
    }
    fn req_len(&self) -> u64 {
        self.req_len
    }
    fn status(&self) -> Option<u16> {
        if !self.response {
            return None;
        }
        std::str::from_utf8(self.msg.line(1)).ok()?.parse().ok()
    }
    fn res_header_count(&self) -> usize {
        if self.response {
            self.msg.header_count()
        } else {
            0
        }
    }
    fn res_header(&self, i: usize) -> (&[u8], &[u8]) {
        self.msg.header(i)
    }
}

fn stream<'a, R>(cx: &'a Cx<'a>, req: R, vars: &'a Vars) -> Stream<'a, R> {
    Stream {
        req,
        addrs: cx.addrs,
        shared: cx.shared,
        fe: cx.fe,
        be: cx.be,
        vars: Some(vars),
        uid: cx.uid,
    }
}

/// The buffers a rule list uses: the ACL scratch and a render buffer.
pub struct Bufs<'b> {
    /// ACL evaluation buffers.
    pub sc: &'b mut Scratch,
    /// Rendered values.
    pub tmp: &'b mut Vec<u8>,
    /// A second render buffer (replacements).
    pub tmp2: &'b mut Vec<u8>,
}

/// Runs `http-request` rules (or `redirect` rules, or 1.4 filters) on a request.
pub fn run_request(
    rules: &[Rule],
    acls: &AclSet,
    msg: &mut Msg,
    vars: &mut Vars,
    cx: &Cx<'_>,
    b: &mut Bufs<'_>,
    fx: &mut Effects,
) -> Verdict {
    run_list(rules, acls, msg, vars, cx, b, fx, false)
}

/// Runs `http-response` or `http-after-response` rules on a response.
pub fn run_response(
    rules: &[Rule],
    acls: &AclSet,
    msg: &mut Msg,
    vars: &mut Vars,
    cx: &Cx<'_>,
    b: &mut Bufs<'_>,
    fx: &mut Effects,
) -> Verdict {
    run_list(rules, acls, msg, vars, cx, b, fx, true)
}

/// Runs a rule list on the request or response in `msg`: each condition
/// reads the message as the rules before it left it.
#[allow(clippy::too_many_arguments)]
fn run_list(
    rules: &[Rule],
    acls: &AclSet,
    msg: &mut Msg,
    vars: &mut Vars,
    cx: &Cx<'_>,
    b: &mut Bufs<'_>,
    fx: &mut Effects,
    response: bool,
) -> Verdict {
    for rule in rules {
        let part = ReqMsg {
            msg,
            body_size: cx.body_size,
            req_len: cx.req_len,
            response,
        };
        let s = stream(cx, part, vars);
        if !rule.cond.as_ref().is_none_or(|c| c.eval(acls, &s, b.sc)) {
            continue;
        }
        let Some(action) = line_gate(&rule.action, msg, response, b.tmp) else {
            continue;
        };
        let step = prepare(action, &s, cx, b, fx);
        match apply(action, step, msg, vars, b, response) {
            Verdict::Continue => {}
            v => return v,
        }
    }
    Verdict::Continue
}

/// The action to run: a 1.4 `reqdeny`-style filter's inner action only when
/// one of the message's lines matches its regex.
fn line_gate<'r>(
    a: &'r Action,
    msg: &Msg,
    response: bool,
    tmp: &mut Vec<u8>,
) -> Option<&'r Action> {
    let Action::LineMatch(re, inner) = a else {
        return Some(a);
    };
    tmp.clear();
    start_line(msg, response, tmp);
    if re.is_match(tmp) {
        return Some(inner);
    }
    (0..msg.header_count())
        .any(|i| {
            tmp.clear();
            msg.header_line(i, tmp);
            re.is_match(tmp)
        })
        .then_some(&**inner)
}

/// The start line as it stands on the wire (`GET / HTTP/1.1`, `HTTP/1.1 200 OK`).
fn start_line(msg: &Msg, response: bool, out: &mut Vec<u8>) {
    if response {
        out.extend_from_slice(b"HTTP/");
        out.extend_from_slice(msg.line(0));
        out.push(b' ');
        out.extend_from_slice(msg.line(1));
        out.push(b' ');
        out.extend_from_slice(msg.line(2));
    } else {
        out.extend_from_slice(msg.line(0));
        out.push(b' ');
        out.extend_from_slice(msg.line(1));
        out.extend_from_slice(b" HTTP/");
        out.extend_from_slice(msg.line(2));
    }
}

/// 1.4 `reqrep`/`rsprep`: every matching line replaced by the expansion.
/// Framing headers are never matched, and no line may become one; a line
/// that no longer parses answers 500.
fn replace_lines(
    msg: &mut Msg,
    re: &regex::bytes::Regex,
    with: &[u8],
    response: bool,
    tmp: &mut Vec<u8>,
) -> bool {
    let mut out = Vec::new();
    tmp.clear();
    start_line(msg, response, tmp);
    if let Some(c) = re.captures(tmp) {
        expand(&c, with, &mut out);
        let parts: Vec<&[u8]> = out.splitn(3, |&b| b == b' ').collect();
        let [a, b2, c2] = parts.as_slice() else {
            return false;
        };
        if response {
            let Some(v) = a.strip_prefix(b"HTTP/") else {
                return false;
            };
            let (v, code, reason) = (v.to_vec(), b2.to_vec(), c2.to_vec());
            msg.set_line(0, &v);
            msg.set_line(1, &code);
            msg.set_line(2, &reason);
        } else {
            let Some(v) = c2.strip_prefix(b"HTTP/") else {
                return false;
            };
            if a.is_empty()
                || !a.iter().all(|&c| super::parse::is_tchar(c))
                || b2.iter().any(|&c| c <= b' ' || c == 0x7f)
                || !valid_target(a, b2)
                || (v != b"1.0" && v != b"1.1")
            {
                return false;
            }
            let (m, u, v) = (a.to_vec(), b2.to_vec(), v.to_vec());
            msg.set_line(0, &m);
            msg.set_line(1, &u);
            msg.set_line(2, &v);
        }
    }
    for i in 0..msg.header_count() {
        if super::parse::is_framing(msg.header(i).0) {
            continue;
        }
        tmp.clear();
        msg.header_line(i, tmp);
        let Some(c) = re.captures(tmp) else { continue };
        out.clear();
        expand(&c, with, &mut out);
        let Some(colon) = out.iter().position(|&b| b == b':') else {
            return false;
        };
        let (name, value) = (out[..colon].trim_ascii(), out[colon + 1..].trim_ascii());
        if name.is_empty()
            || !name.iter().all(|&c| super::parse::is_tchar(c))
            || super::parse::is_framing(name)
            || has_ctl(value)
        {
            return false;
        }
        let (name, value) = (name.to_vec(), value.to_vec());
        msg.set_header(i, &name, &value);
    }
    true
}

/// What an action computed from the message before changing it.
enum Step {
    /// Nothing to carry over (the rendered text, if any, is in `tmp`).
    Rendered,
    /// A variable's new value.
    Value(Option<super::vars::Value>),
    /// A finished verdict.
    Done(Verdict),
}

/// Evaluates what an action needs from the message while it is borrowed:
/// rendered values go to `b.tmp`, replies are built whole.
fn prepare<S: Sample>(a: &Action, s: &S, cx: &Cx<'_>, b: &mut Bufs<'_>, fx: &mut Effects) -> Step {
    b.tmp.clear();
    match a {
        Action::SetHeader { value: f, .. }
        | Action::Replace { with: f, .. }
        | Action::SetLine(_, f)
        | Action::ReplaceLine(_, _, f)
        | Action::SetVarFmt(_, f) => f.render(s, cx, b.sc, b.tmp),
        Action::SetVar(_, e) => {
            let mut last = None;
            e.for_each(s, b.sc, |v: Val<'_>, _| {
                last = Some(super::vars::Value::from_val(v));
                false
            });
            return Step::Value(last);
        }
        Action::SetLogLevel(None) => fx.silent = true,
        Action::Capture(e, target) => {
            if let (Some(c), super::Capture::Id(id)) = (cx.captures, target) {
                let side = if s.method().is_empty() {
                    crate::log::capture::Side::Response
                } else {
                    crate::log::capture::Side::Request
                };
                if crate::lf::sample_into(e, s, b.sc, Default::default(), b.tmp) {
                    c.store(side, *id, b.tmp);
                }
            }
            return Step::Done(Verdict::Continue);
        }
        Action::Allow => return Step::Done(Verdict::Stop),
        Action::Deny(r) | Action::Tarpit(r) | Action::Return(r) => {
            let kind = match a {
                Action::Deny(_) => LocalKind::Deny,
                Action::Tarpit(_) => LocalKind::Tarpit,
                _ => LocalKind::Return,
            };
            for (name, f) in &r.headers {
                b.tmp.extend(name.bytes().map(|c| c.to_ascii_lowercase()));
                b.tmp.extend_from_slice(b": ");
                let start = b.tmp.len();
                f.render(s, cx, b.sc, b.tmp);
                if has_ctl(&b.tmp[start..]) {
                    return Step::Done(invalid());
                }
                b.tmp.extend_from_slice(b"\r\n");
            }
            b.tmp2.clear();
            if let super::ReplyBody::Format(f) = &r.body {
                f.render(s, cx, b.sc, b.tmp2);
            }
            // The proxy's own page for the status (`errorfile`, `http-errors`)
            // stands in for the built-in one, as in HAProxy.
            let custom = match (&r.body, b.tmp.is_empty()) {
                (super::ReplyBody::ErrorPage, true) => {
                    let sh = cx.shared;
                    let be = cx.be.map(|i| &sh.backends[i]);
                    crate::http::errors::custom(&sh.frontends[cx.fe], be, r.status)
                        .map(|p| p.keep_alive().unwrap_or(p.closing()).to_vec())
                }
                _ => None,
            };
            let page = custom.unwrap_or_else(|| reply::reply(r, b.tmp, Some(b.tmp2)));
            return Step::Done(Verdict::Reply(Local {
                page,
                status: r.status,
                kind,
            }));
        }
        // The session renders the page (`session/rules.rs`), once the
        // scrape itself is counted, as HAProxy counts it before its applet runs.
        Action::PrometheusExporter => {
            return Step::Done(Verdict::Reply(Local {
                page: Vec::new(),
                status: 200,
                kind: LocalKind::Service,
            }));
        }
        Action::Auth { realm } => {
            // `option http-use-proxy-header` on a proxied request: 407.
            let (page, status) = if s.proxy_auth() {
                (crate::auth::proxy_challenge(realm), 407)
            } else {
                (crate::auth::challenge(realm), 401)
            };
            return Step::Done(Verdict::Reply(Local {
                page,
                status,
                kind: LocalKind::Auth,
            }));
        }
        Action::Redirect(r) => {
            r.to.render(s, cx, b.sc, b.tmp);
            b.tmp2.clear();
            let host = (0..s.req_header_count())
                .map(|i| s.req_header(i))
                .find(|(n, _)| n.eq_ignore_ascii_case(b"host"))
                .map(|(_, v)| v);
            reply::location(r, b.tmp, s.uri(), host, b.tmp2);
            if has_ctl(b.tmp2) {
                return Step::Done(invalid());
            }
            return Step::Done(Verdict::Reply(Local {
                page: reply::redirect(r, b.tmp2),
                status: r.code,
                kind: LocalKind::Redirect,
            }));
        }
        _ => {}
    }
    Step::Rendered
}

/// Whether a value holds a byte no header field value may carry (RFC 9110
/// §5.5: control characters other than HTAB, and DEL): CR or LF would split
/// the head, the others would make a strict server refuse it.
fn has_ctl(v: &[u8]) -> bool {
    v.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f)
}

/// The 500 a failed rewrite answers.
fn invalid() -> Verdict {
    Verdict::Reply(Local {
        page: reply::default_page(500, b""),
        status: 500,
        kind: LocalKind::Invalid,
    })
}

/// Changes the message as the action says, from what `prepare` computed.
fn apply(
    a: &Action,
    step: Step,
    msg: &mut Msg,
    vars: &mut Vars,
    b: &mut Bufs<'_>,
    response: bool,
) -> Verdict {
    let value = match step {
        Step::Done(v) => return v,
        Step::Value(v) => {
            if let Action::SetVar(name, _) = a {
                // HAProxy leaves a variable alone when the sample has no value.
                if let Some(v) = v {
                    name.set(vars, v.as_val());
                }
            }
            return Verdict::Continue;
        }
        Step::Rendered => &b.tmp[..],
    };
    let ok = match a {
        Action::SetHeader { name, add, .. } => {
            if !has_ctl(value) {
                if !add {
                    msg.del_header(name.as_bytes());
                }
                msg.add_header(name.as_bytes(), value);
            }
            !has_ctl(value)
        }
        Action::DelHeader(m) => {
            msg.retain_headers(|n, _| name_matches(m, n) && !super::parse::is_framing(n));
            true
        }
        Action::Replace {
            name,
            re,
            each_value,
            ..
        } => replace_headers(msg, name.as_bytes(), re, *each_value, value, b.tmp2),
        Action::SetLine(line, _) => set_line(msg, *line, value, b.tmp2),
        Action::ReplaceLine(line, re, _) => {
            let cur = line_value(msg, *line).to_vec();
            match re.captures(&cur) {
                Some(caps) => {
                    let mut out = Vec::with_capacity(value.len() + cur.len());
                    expand(&caps, value, &mut out);
                    set_line(msg, *line, &out, b.tmp2)
                }
                None => true,
            }
        }
        Action::SetVarFmt(name, _) => {
            name.set(vars, Val::Str(value));
            true
        }
        Action::LineReplace(re, with) => replace_lines(msg, re, with, response, b.tmp2),
        Action::LineDelete(re) => {
            let mut line = Vec::new();
            msg.retain_headers(|n, v| {
                line.clear();
                line.extend_from_slice(n);
                line.extend_from_slice(b": ");
                line.extend_from_slice(v);
                re.is_match(&line) && !super::parse::is_framing(n)
            });
            true
        }
        Action::UnsetVar(name) => {
            name.unset(vars);
            true
        }
        Action::SetStatus(code, reason) if response => {
            let mut digits = Vec::with_capacity(3);
            let _ = write!(digits, "{code}");
            msg.set_line(1, &digits);
            let r = reason
                .as_deref()
                .unwrap_or_else(|| reply::status_reason(*code));
            msg.set_line(2, r.as_bytes());
            true
        }
        _ => true,
    };
    if ok { Verdict::Continue } else { invalid() }
}

fn name_matches(m: &NameMatch, n: &[u8]) -> bool {
    let low = |p: &[u8]| n.len() >= p.len();
    match m {
        NameMatch::Str(p) => n.eq_ignore_ascii_case(p),
        NameMatch::Beg(p) => low(p) && n[..p.len()].eq_ignore_ascii_case(p),
        NameMatch::End(p) => low(p) && n[n.len() - p.len()..].eq_ignore_ascii_case(p),
        NameMatch::Sub(p) => n.windows(p.len().max(1)).any(|w| w.eq_ignore_ascii_case(p)),
        NameMatch::Reg(r) => r.is_match(n),
    }
}

/// Writes `with` into `out`, `\0`..`\9` replaced by the regex's groups (HAProxy's
/// back-references; the whole value is replaced by the result).
fn expand(caps: &regex::bytes::Captures<'_>, with: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < with.len() {
        if with[i] == b'\\' && i + 1 < with.len() && with[i + 1].is_ascii_digit() {
            let g = (with[i + 1] - b'0') as usize;
            if let Some(m) = caps.get(g) {
                out.extend_from_slice(m.as_bytes());
            }
            i += 2;
            continue;
        }
        out.push(with[i]);
        i += 1;
    }
}

/// `replace-header`/`replace-value` on every header named `name`.
fn replace_headers(
    msg: &mut Msg,
    name: &[u8],
    re: &regex::bytes::Regex,
    each_value: bool,
    with: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    let idx: Vec<usize> = msg.find(name).collect();
    for i in idx {
        out.clear();
        let v = msg.header(i).1;
        let mut changed = false;
        if each_value {
            for (k, part) in v.split(|&c| c == b',').enumerate() {
                if k > 0 {
                    out.extend_from_slice(b", ");
                }
                let part = part.trim_ascii();
                match re.captures(part) {
                    Some(c) => {
                        expand(&c, with, out);
                        changed = true;
                    }
                    None => out.extend_from_slice(part),
                }
            }
        } else if let Some(c) = re.captures(v) {
            expand(&c, with, out);
            changed = true;
        }
        if changed {
            if has_ctl(out) {
                return false;
            }
            let new = std::mem::take(out);
            msg.set_value(i, &new);
            *out = new;
        }
    }
    true
}

/// The part of the target a line action reads.
fn line_value(msg: &Msg, line: Line) -> &[u8] {
    let t = msg.line(1);
    let (start, path_end, _) = target_parts(t);
    match line {
        Line::Method => msg.line(0),
        Line::Path => &t[start..path_end],
        Line::PathQ => &t[start..],
        Line::Query => t.get(path_end + 1..).unwrap_or_default(),
        Line::Uri => t,
    }
}

/// (path start, path end, has query) of a target, absolute form included.
fn target_parts(t: &[u8]) -> (usize, usize, bool) {
    let start = if t.first() == Some(&b'/') {
        0
    } else {
        t.len() - reply::origin_form(t).len().min(t.len())
    };
    let q = t[start..]
        .iter()
        .position(|&c| c == b'?')
        .map(|p| p + start);
    (start, q.unwrap_or(t.len()), q.is_some())
}

/// Whether a target is one a server reads as HAProxy's parser does: origin
/// form, absolute form with a valid authority, or `*` for OPTIONS.
fn valid_target(method: &[u8], t: &[u8]) -> bool {
    t.first() == Some(&b'/')
        || (t == b"*" && method == b"OPTIONS")
        || matches!(crate::http::header::absolute_authority(t), Some(Ok(_)))
}

/// Rewrites part of the start line; false when the value can't stand there.
fn set_line(msg: &mut Msg, line: Line, v: &[u8], out: &mut Vec<u8>) -> bool {
    if line == Line::Method {
        if v.is_empty() || !v.iter().all(|&c| super::parse::is_tchar(c)) {
            return false;
        }
        msg.set_line(0, v);
        return true;
    }
    if v.iter().any(|&c| c <= b' ' || c == 0x7f) {
        return false;
    }
    let t = msg.line(1);
    let (start, path_end, has_q) = target_parts(t);
    out.clear();
    match line {
        Line::Path => {
            out.extend_from_slice(&t[..start]);
            out.extend_from_slice(v);
            out.extend_from_slice(&t[path_end..]);
        }
        Line::PathQ => {
            out.extend_from_slice(&t[..start]);
            out.extend_from_slice(v);
        }
        Line::Query => {
            out.extend_from_slice(&t[..path_end]);
            if !v.is_empty() {
                out.push(b'?');
                out.extend_from_slice(v);
            }
            let _ = has_q;
        }
        _ => out.extend_from_slice(v),
    }
    if !valid_target(msg.line(0), out) {
        return false;
    }
    let new = std::mem::take(out);
    msg.set_line(1, &new);
    *out = new;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_rewrites() {
        let mut m = Msg::default();
        let mut out = Vec::new();
        m.load([b"GET", b"/a/b?x=1", b"1.1"], std::iter::empty());
        assert!(set_line(&mut m, Line::Path, b"/c", &mut out));
        assert_eq!(m.line(1), b"/c?x=1");
        assert!(set_line(&mut m, Line::Query, b"y=2", &mut out));
        assert_eq!(m.line(1), b"/c?y=2");
        assert!(set_line(&mut m, Line::Query, b"", &mut out));
        assert_eq!(m.line(1), b"/c");
        assert!(!set_line(&mut m, Line::Path, b"/a b", &mut out));
        assert!(!set_line(&mut m, Line::Method, b"G T", &mut out));
        m.load([b"GET", b"http://h/a?q", b"1.1"], std::iter::empty());
        assert_eq!(line_value(&m, Line::Path), b"/a");
        assert!(set_line(&mut m, Line::Path, b"/z", &mut out));
        assert_eq!(m.line(1), b"http://h/z?q");
    }

    #[test]
    fn backreferences_replace_the_whole_value() {
        let re = regex::bytes::Regex::new("foo=([^;]*);(.*)").unwrap();
        let c = re.captures(b"x; foo=bar;rest").unwrap();
        let mut out = Vec::new();
        expand(&c, b"foo=\\1;ip=1;\\2", &mut out);
        assert_eq!(out, b"foo=bar;ip=1;rest");
    }
}
