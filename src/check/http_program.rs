//! Runs a backend's `http-check` program (`http_rules`) against one server:
//! connect steps open connections (the implied first one and `connect
//! default` with the server line's check PROXY header and TLS, others with
//! their own options only, as HAProxy), send steps write requests, expect
//! steps judge the answer. Used instead of `probe::run` when the backend has
//! `option httpchk` and `http-check` lines.
//!
//! Time limits are `probe`'s: each connect within min(`timeout connect`,
//! `inter`) when `timeout check` is set (else `inter`), each answer within
//! `timeout check` (else what is left of `inter`).

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::time::Instant;

use super::http_rules::{self, Answer, Connect, HttpCheckRules, Step};
use super::probe::{self, Target};
use super::status::{CheckReport, CheckStatus};
use std::sync::atomic::Ordering;

use super::log::{self, Severity};
use crate::config::model::{Address, HttpCheck};
use crate::runtime::{BackendRt, ServerRt, Shared};
use crate::server::connect::{ConnectError, connect_from};
use crate::server::proxy_header::{self, ProxyOpts};
use crate::stream::Stream;

/// Most bytes of an answer read (HAProxy's default `tune.bufsize`).
const MAX_ANSWER: usize = 16384;

/// What the program needs beside the connection target.
#[derive(Debug, Clone, Copy)]
pub struct Program<'a> {
    /// The compiled rules.
    pub rules: &'a HttpCheckRules,
    /// `option httpchk`: the defaults of every `send`.
    pub base: &'a HttpCheck,
    /// `send-state`'s header value, built by the caller for this check.
    pub state: Option<&'a str>,
    /// Whether the server is UP now (`disable-on-404` applies only then).
    pub server_up: bool,
    /// What the log-format arguments render.
    pub names: http_rules::Names<'a>,
}

/// Runs one check; never fails, every problem is a [`CheckReport`].
pub async fn run(t: Target<'_>, p: Program<'_>) -> CheckReport {
    let start = Instant::now();
    let (status, code, info) = steps(t, p, start).await;
    CheckReport {
        status,
        code,
        info,
        duration: start.elapsed(),
    }
}

/// Runs the planned steps; returns HAProxy's status, code and info.
async fn steps(t: Target<'_>, p: Program<'_>, start: Instant) -> (CheckStatus, u16, String) {
    let steps = &p.rules.steps;
    let last_send = steps.iter().rposition(|s| matches!(s, Step::Send(_)));
    let last_expect = steps.iter().rposition(|s| matches!(s, Step::Expect(_)));
    // Expects before the last send do not end the check; the last one does
    // only when no send follows it.
    let final_expect = match (last_expect, last_send) {
        (Some(e), Some(s)) if e > s => Some(e),
        (Some(e), None) => Some(e),
        _ => None,
    };
    let mut conn: Option<Stream> = None;
    let mut answer: Option<Answer> = None;
    let mut verdict = if t.tls.is_some() {
        (CheckStatus::L6Ok, 0, String::new())
    } else {
        (CheckStatus::L4Ok, 0, String::new())
    };
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Comment(_) => {}
            Step::Connect(c) => {
                // The previous step's connection closes before the next opens.
                drop(conn.take());
                answer = None;
                conn = Some(match open(t, c).await {
                    Ok(s) => s,
                    Err(failed) => return failed,
                });
            }
            Step::Send(s) => {
                let Some(stream) = conn.as_mut() else {
                    return (CheckStatus::SockErr, 0, String::new());
                };
                answer = None;
                let req = http_rules::build_request(s, Some(p.base), p.state, &p.names);
                let (res, _) = stream.write_all(req).await;
                if let Err(e) = res {
                    return (CheckStatus::SockErr, 0, probe::strerror(&e));
                }
            }
            Step::Expect(e) => {
                let a = match got(&mut conn, &mut answer, t, start).await {
                    Ok(a) => a,
                    // HAProxy names the rule's comment for an answer that is not HTTP.
                    Err((CheckStatus::L7Rsp, code, _)) => {
                        let info = e.comment.as_ref().map(|c| format!(" comment: {c}"));
                        return (CheckStatus::L7Rsp, code, info.unwrap_or_default());
                    }
                    Err((CheckStatus::L7Timeout, code, info)) => {
                        return (e.tout_status.unwrap_or(CheckStatus::L7Timeout), code, info);
                    }
                    Err(failed) => return failed,
                };
                if let Some(v) = disabled_by_404(p, a) {
                    return v;
                }
                if let Some(v) = http_rules::judge(e, a, final_expect == Some(i), &p.names) {
                    return v;
                }
            }
        }
        if last_send == Some(i) && final_expect.is_none() {
            let a = match got(&mut conn, &mut answer, t, start).await {
                Ok(a) => a,
                Err(failed) => return failed,
            };
            verdict = disabled_by_404(p, a).unwrap_or_else(|| http_rules::default_verdict(a));
            if !verdict.0.passed() {
                return verdict;
            }
        }
    }
    verdict
}

/// `disable-on-404`: a 404 from an UP server passes conditionally (NOLB).
fn disabled_by_404(p: Program<'_>, a: &Answer) -> Option<(CheckStatus, u16, String)> {
    (p.rules.disable_on_404 && a.code == 404 && p.server_up)
        .then(|| (CheckStatus::L7OkC, 404, String::new()))
}

/// The answer to the last request, read once and kept for the next expects.
async fn got<'a>(
    conn: &mut Option<Stream>,
    answer: &'a mut Option<Answer>,
    t: Target<'_>,
    start: Instant,
) -> Result<&'a Answer, (CheckStatus, u16, String)> {
    if answer.is_none() {
        let Some(stream) = conn.as_mut() else {
            return Err((CheckStatus::SockErr, 0, String::new()));
        };
        let deadline = match t.timeout_check {
            Some(tc) => Instant::now() + tc,
            None => start + t.inter,
        };
        let raw = match monoio::time::timeout_at(deadline, read_answer(stream)).await {
            Err(_) => return Err((CheckStatus::L7Timeout, 0, String::new())),
            Ok(Err(e)) => return Err((CheckStatus::SockErr, 0, probe::strerror(&e))),
            Ok(Ok(raw)) => raw,
        };
        match http_rules::parse_answer(&raw) {
            Some(a) => *answer = Some(a),
            // HAProxy 2.6 gives no info for what is not HTTP here (the rule's comment aside).
            None => return Err((CheckStatus::L7Rsp, 0, String::new())),
        }
    }
    answer
        .as_ref()
        .ok_or((CheckStatus::SockErr, 0, String::new()))
}

/// Reads until the answer is complete, the server closes, or [`MAX_ANSWER`].
async fn read_answer(s: &mut Stream) -> std::io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_ANSWER);
    loop {
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = s.read(buf.slice_mut(len..cap)).await;
        buf = slice.into_inner();
        let n = res?;
        if n == 0 || buf.len() == buf.capacity() || http_rules::answer_complete(&buf) {
            return Ok(buf);
        }
    }
}

/// A connect step: the check's address with the step's `addr`/`port`; the
/// step's `send-proxy` (v1), else for `default` the server's
/// `check-send-proxy` and `check-ssl`; `ssl` for the others.
async fn open(t: Target<'_>, c: &Connect) -> Result<Stream, (CheckStatus, u16, String)> {
    let began = Instant::now();
    let connect_limit = match (t.timeout_check, t.timeout_connect) {
        (Some(_), Some(tc)) => tc.min(t.inter),
        _ => t.inter,
    };
    let address = match (t.address, c.addr, c.port) {
        (Address::Inet(sa), addr, port) => {
            let mut sa = *sa;
            if let Some(ip) = addr {
                sa.set_ip(ip);
            }
            if let Some(p) = port {
                sa.set_port(p);
            }
            Address::Inet(sa)
        }
        (a, _, _) => a.clone(),
    };
    let mut stream = match connect_from(&address, connect_limit, false, t.source).await {
        Ok(s) => s,
        Err(ConnectError::Timeout(_)) => return Err((CheckStatus::L4Timeout, 0, String::new())),
        Err(ConnectError::Io(e)) => {
            return Err((probe::connect_error_status(&e), 0, probe::strerror(&e)));
        }
        Err(_) => return Err((CheckStatus::SockErr, 0, String::new())),
    };
    let v1 = ProxyOpts::default();
    let pp = match (c.send_proxy, c.default) {
        (true, _) => Some(&v1),
        (false, true) => t.send_proxy,
        (false, false) => None,
    };
    if let Some(pp) = pp {
        let e = probe::check_endpoints(&stream);
        if let Err(e) = proxy_header::send(&mut stream, pp, &e).await {
            return Err((probe::connect_error_status(&e), 0, probe::strerror(&e)));
        }
    }
    if let Some(tls) = t.tls.filter(|_| c.default) {
        stream = probe::handshake(stream, tls, began + connect_limit).await?;
    } else if c.ssl {
        let (sni, alpn) = (c.sni.as_deref(), &c.alpn);
        let deadline = began + connect_limit;
        stream = super::tcp_run::rule_handshake(stream, t.rule_tls, sni, alpn, deadline).await?;
    }
    Ok(stream)
}

/// `option httpchk` when the backend also has `http-check` lines: then
/// [`run_for`] checks its servers (HAProxy uses the rules only with it).
pub fn program_of(be: &BackendRt) -> Option<&HttpCheck> {
    be.model
        .httpchk
        .as_ref()
        .filter(|_| !be.model.http_check.is_empty())
}

/// Runs the backend's program against `srv`, with `send-state`'s header
/// reflecting the server now.
pub async fn run_for(
    t: Target<'_>,
    base: &HttpCheck,
    be: &BackendRt,
    srv: &ServerRt,
) -> CheckReport {
    let rules = &be.model.http_check;
    let state = rules.send_state.then(|| state_header(be, srv));
    let host = crate::log::system_hostname().unwrap_or_default();
    let p = Program {
        rules,
        base,
        state: state.as_deref(),
        server_up: srv.up.load(Ordering::Relaxed),
        names: http_rules::Names {
            backend: &be.name,
            server: &srv.name,
            host: &host,
        },
    };
    run(t, p).await
}

/// Publishes NOLB after a counted result: a conditional pass of an UP server
/// enters it, any other pass or going DOWN leaves it; a failure of a server
/// still UP keeps it (HAProxy's "stopping" state). Entering and leaving it
/// are logged in HAProxy's words.
pub fn set_nolb(shared: &Shared, b: usize, s: usize, report: &CheckReport, up: bool) {
    let be = &shared.backends[b];
    let srv = &be.servers[s];
    let nolb = match (up, report.status) {
        (false, _) => false,
        (true, CheckStatus::L7OkC) => true,
        (true, st) if st.passed() => false,
        (true, _) => srv.check.nolb.load(Ordering::Relaxed),
    };
    if srv.check.nolb.swap(nolb, Ordering::Relaxed) == nolb {
        return;
    }
    crate::balance::servers_changed();
    if !up {
        // Going DOWN ends NOLB; the DOWN line says it all.
        return;
    }
    let who = log::Subject {
        backend: &be.name,
        server: &srv.name,
        backup: srv.backup,
    };
    let counts = super::transition::counts(be);
    if !nolb {
        log::emit(be, Severity::Notice, &log::up_line_detail(who, "", counts));
        return;
    }
    let line = log::up_line_detail(who, "", counts).replacen(" is UP.", " is stopping.", 1);
    log::emit(be, Severity::Notice, &line);
    if counts.active == 0 && counts.backup == 0 {
        let kind = super::proxy_kind(shared, be);
        log::emit(be, Severity::Emerg, &log::no_server_line(kind, &be.name));
    }
}

/// `X-Haproxy-Server-State`'s value for `srv` now.
fn state_header(be: &BackendRt, srv: &ServerRt) -> String {
    let chk = &srv.check;
    let usable_weight = |backup: bool| -> u32 {
        be.servers
            .iter()
            .filter(|s| s.backup == backup && s.usable())
            .map(|s| s.weight.load(Ordering::Relaxed))
            .sum()
    };
    // HAProxy's total is the active servers' weight, the backups' when none is up.
    let total = match usable_weight(false) {
        0 => usable_weight(true),
        w => w,
    };
    let addr = match &*srv.address() {
        Address::Inet(sa) => Some(*sa),
        _ => None,
    };
    let sessions: u64 = be
        .servers
        .iter()
        .map(|s| s.active.load(Ordering::Relaxed))
        .sum();
    // HAProxy's `cur_eweight`: kept while DOWN (its total is not), ramped in slow start.
    let weight = super::slowstart::shown_weight(srv);
    http_rules::StateHeader {
        up: srv.up.load(Ordering::Relaxed),
        nolb: chk.nolb.load(Ordering::Relaxed),
        health: (
            chk.health.load(Ordering::Relaxed),
            chk.rise.max(1),
            chk.fall.max(1),
        ),
        addr,
        names: (&be.name, &srv.name),
        node: &crate::stats::process::get().node,
        weights: (weight, total),
        sessions: (srv.active.load(Ordering::Relaxed), sessions, 0),
        throttle: throttle(srv),
    }
    .render()
}

/// HAProxy's `throttle=` while a server warms up: the share of `slowstart`
/// elapsed, in whole seconds, at least 1%.
fn throttle(srv: &ServerRt) -> Option<u32> {
    let slowstart = srv.health.opts.slowstart?;
    let since = srv.health.warm_since_ms.load(Ordering::Relaxed);
    if since == 0 {
        return None;
    }
    let total = slowstart.as_millis().div_ceil(1000).max(1) as u64;
    let elapsed = super::status::unix_ms().saturating_sub(since) / 1000;
    (elapsed < total).then(|| (100 * elapsed / total).max(1) as u32)
}
