//! Running `tcp-request` and `tcp-response` rules (parsed in
//! `config/kw/tcp_rules.rs`).
//!
//! - `tcp-request connection`: at accept, before anything is read, on the
//!   addresses only ([`connection_accepted`], called by `worker/accept.rs` in
//!   both modes). A rejected connection is closed with a reset, counted as
//!   HAProxy's denied connection (`dcon`), not a session, and not logged.
//! - `tcp-request content` (`mode tcp`) and `tcp-response content`:
//!   [`inspect`] evaluates the rules each time bytes arrive. A rule whose
//!   condition cannot be decided yet ([`Tri::Miss`]: `req.ssl_sni` on half
//!   a ClientHello, `WAIT_END`, `req.len` below its bound) stops the
//!   evaluation until more bytes come; once the inspect delay is over, the
//!   peer has closed or the buffer is full, the rules run a last time on
//!   what is there, as final. No rule matching means accept.
//! - `tcp-request content` in `mode http`: per request, on the parsed head
//!   (final: the head is complete), from `http/session/tcp_rules.rs`.
//! - `set-var`, `set-var-fmt`, `unset-var` and `capture` content rules:
//!   [`run_content`] applies each matching one's effect and goes on with the
//!   next rule; a wait for data starts again from the first rule (HAProxy
//!   evaluates the list again from the top when more data comes).

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use std::cell::Cell;

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent};
use monoio::time::Instant;

use crate::acl::{AclSet, Sample, Scratch, Tri, Val};
use crate::bufpool::BUF_SIZE;
use crate::config::model::{TcpAction, TcpRule};
use crate::http::io::{ReadOutcome, read_more_kept};
use crate::http::rules::vars::Value;
use crate::http::rules::{Action, Capture as HttpCapture, VarName, Vars};
use crate::lf::LfVars;
use crate::log::capture::{Captured, Side as CaptureSide};
use crate::route::Stream as RuleStream;
use crate::route::{ConnAddrs, ConnSample, NoRequest};
use crate::stats::counters;
use crate::stream::Stream;
use crate::worker::context::WorkerCtx;

/// The first matching rule's action; `None` while a rule waits for data.
/// Rules with an effect (`set-var`, `capture`) are not run here: see
/// [`run_content`] for lists that have some.
pub fn evaluate<S: Sample + ?Sized>(
    rules: &[TcpRule],
    acls: &AclSet,
    s: &S,
    sc: &mut Scratch,
) -> Option<TcpAction> {
    for r in rules {
        let hit = match &r.cond {
            None => true,
            Some(c) => match c.test(acls, s, sc) {
                Tri::Pass => true,
                Tri::Fail => false,
                Tri::Miss => return None,
            },
        };
        if hit && !matches!(r.action, TcpAction::Continue | TcpAction::ExpectProxy) {
            return Some(r.action);
        }
    }
    Some(TcpAction::Accept)
}

/// Where an evaluation from some rule on stopped.
pub enum Step {
    /// A rule decided (accept when none matched).
    Done(TcpAction),
    /// A condition waits for more data.
    Wait,
    /// Rule `at` matched and has this effect on the variables; the
    /// evaluation goes on after it once applied.
    Effect(usize, Pending),
}

/// A change to the variables, computed while the sample is borrowed.
pub enum Pending {
    /// Nothing (a capture is stored at once; a sample with no value leaves
    /// the variable alone, as in HAProxy).
    Nothing,
    /// Set the variable to the value.
    Set(VarName, Value),
    /// Unset the variable.
    Unset(VarName),
    /// `expect-proxy layer4`: the connection starts with a PROXY header.
    ExpectProxy,
}

/// Evaluates `rules` from index `from` on sample `s`: stops at the first
/// matching verdict, at a condition that needs more data, or at a matching
/// rule with an effect (computed here: HAProxy evaluates the expression on
/// the contents as they are, and a capture goes to `captures`' request slot).
pub fn step<S: Sample + ?Sized>(
    (rules, from, acls): (&[TcpRule], usize, &AclSet),
    s: &S,
    lf: &dyn LfVars,
    captures: Option<&Captured>,
    sc: &mut Scratch,
) -> Step {
    for (i, r) in rules.iter().enumerate().skip(from) {
        let hit = match &r.cond {
            None => true,
            Some(c) => match c.test(acls, s, sc) {
                Tri::Pass => true,
                Tri::Fail => false,
                Tri::Miss => return Step::Wait,
            },
        };
        if !hit {
            continue;
        }
        if r.action == TcpAction::ExpectProxy {
            return Step::Effect(i, Pending::ExpectProxy);
        }
        let Some(effect) = &r.effect else {
            return Step::Done(r.action);
        };
        return Step::Effect(i, prepare(&effect.0, s, lf, captures, sc));
    }
    Step::Done(TcpAction::Accept)
}

/// Computes an effect's change from the sample.
fn prepare<S: Sample + ?Sized>(
    a: &Action,
    s: &S,
    lf: &dyn LfVars,
    captures: Option<&Captured>,
    sc: &mut Scratch,
) -> Pending {
    match a {
        Action::SetVar(name, e) => {
            let mut last = None;
            e.for_each(s, sc, |v: Val<'_>, _| {
                last = Some(Value::from_val(v));
                false
            });
            last.map_or(Pending::Nothing, |v| Pending::Set(name.clone(), v))
        }
        Action::SetVarFmt(name, f) => {
            let mut out = Vec::new();
            f.render(s, lf, sc, &mut out);
            Pending::Set(name.clone(), Value::Str(out))
        }
        Action::UnsetVar(name) => Pending::Unset(name.clone()),
        Action::Capture(e, HttpCapture::Id(id)) => {
            if let Some(c) = captures {
                let mut out = Vec::new();
                if crate::lf::sample_into(e, s, sc, Default::default(), &mut out) {
                    c.store(CaptureSide::Request, *id, &out);
                }
            }
            Pending::Nothing
        }
        _ => Pending::Nothing,
    }
}

/// Runs a content rule list with effects: `eval(vars, from)` builds the
/// sample on the variables as they stand and calls [`step`]; each effect is
/// applied before the next rule reads them. `None` while a rule waits for
/// data (the next call starts from the first rule again, as HAProxy does).
pub fn run_content<F>(vars: &mut Vars, eval: F) -> Option<TcpAction>
where
    F: FnMut(&Vars, usize) -> Step,
{
    run_noting_proxy(vars, &mut false, eval)
}

/// [`run_content`], setting `expect_proxy` when an `expect-proxy` rule matched.
fn run_noting_proxy<F>(vars: &mut Vars, expect_proxy: &mut bool, mut eval: F) -> Option<TcpAction>
where
    F: FnMut(&Vars, usize) -> Step,
{
    let mut from = 0;
    loop {
        match eval(vars, from) {
            Step::Done(a) => return Some(a),
            Step::Wait => return None,
            Step::Effect(at, p) => {
                match p {
                    Pending::Nothing => {}
                    Pending::Set(name, v) => name.set(vars, v.as_val()),
                    Pending::Unset(name) => name.unset(vars),
                    Pending::ExpectProxy => *expect_proxy = true,
                }
                from = at + 1;
            }
        }
    }
}

/// `tcp-request connection` rules of frontend `fe` on a connection just
/// accepted: the connection's variables (`set-var(sess.*)` there), or
/// `None` when a rule rejects it (counted, reset, not logged). As in HAProxy,
/// only `sess` variables outlive these rules: there is no transaction yet.
/// With the variables comes whether an `expect-proxy layer4` rule matched.
pub fn connection_accepted(
    ctx: &WorkerCtx,
    fe: usize,
    client: &Stream,
    peer: Option<std::net::SocketAddr>,
    tls_bind: bool,
) -> Option<(Vars, bool)> {
    let f = &ctx.shared.frontends[fe];
    let rules = &f.model.tcp.connection;
    let mut vars = Vars::default();
    if rules.is_empty() {
        return Some((vars, false));
    }
    let addrs = ConnAddrs::new(client.as_raw_fd(), peer).on_tls_bind(tls_bind);
    let acls = &f.model.routing.acls;
    let cx = crate::http::rules::Cx {
        addrs: &addrs,
        shared: &ctx.shared,
        fe,
        be: None,
        server: None,
        body_size: None,
        req_len: 0,
        uid: None,
        captures: None,
    };
    let mut expect_proxy = false;
    let verdict = run_noting_proxy(&mut vars, &mut expect_proxy, |vars, from| {
        let sample = ConnSample {
            req: NoRequest,
            addrs: &addrs,
            shared: &ctx.shared,
            fe,
            be: None,
            vars: Some(vars),
            uid: None,
        };
        step(
            (rules, from, acls),
            &sample,
            &cx,
            None,
            &mut ctx.scratch.borrow_mut(),
        )
    });
    if verdict == Some(TcpAction::Reject) {
        counters::add(&ctx.counters().frontends[fe].denied_conn, 1);
        reset_on_close(client.as_raw_fd());
        return None;
    }
    vars.end_exchange();
    Some((vars, expect_proxy))
}

/// Makes the socket's close send a reset (`SO_LINGER` 0), as HAProxy closes
/// a rejected connection.
pub fn reset_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is an open socket owned by the caller for this call;
    // `linger` outlives the call and its size is passed.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Raw bytes under inspection, as a [`Sample`]'s request or response part.
#[derive(Debug, Clone, Copy)]
pub struct Payload<'a> {
    /// The client's bytes buffered so far.
    pub req: &'a [u8],
    /// The server's bytes buffered so far (`tcp-response` only).
    pub res: Option<&'a [u8]>,
    /// Whether more may still arrive (the inspect delay runs).
    pub partial: bool,
}

impl Sample for Payload<'_> {
    fn req_len(&self) -> u64 {
        self.req.len() as u64
    }
    fn is_http(&self) -> bool {
        false
    }
    fn req_payload(&self) -> Option<&[u8]> {
        Some(self.req)
    }
    fn res_payload(&self) -> Option<&[u8]> {
        self.res
    }
    fn contents_final(&self) -> bool {
        !self.partial
    }
}

/// How an inspection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspected {
    /// The rules decided (accept, reject, or close for a response).
    Verdict(TcpAction),
    /// The peer failed while being read.
    Failed,
    /// The peer's idle timeout (`timeout client`/`server`) passed first.
    TimedOut,
}

/// Reads from `peer` into `got` until `decide` answers, calling it again as
/// bytes arrive with the bytes so far and whether they are still partial
/// (the inspect `delay` runs, the peer has not closed, the buffer is not
/// full). `idle` is the peer's own timeout (`timeout client` or `server`):
/// as in HAProxy it must cover the delay, else it expires first. `eof` is
/// set when the peer closed.
pub async fn inspect<R, F>(
    peer: &mut R,
    got: &mut Vec<u8>,
    eof: &mut bool,
    (delay, idle): (Duration, Duration),
    mut decide: F,
) -> Inspected
where
    R: CancelableAsyncReadRent,
    F: FnMut(Payload<'_>) -> Option<TcpAction>,
{
    let start = Instant::now();
    let rules_end = start + delay;
    let idle_end = start + idle;
    loop {
        let partial =
            !*eof && got.len() < BUF_SIZE && !delay.is_zero() && Instant::now() < rules_end;
        let p = Payload {
            req: &got[..],
            res: None,
            partial,
        };
        if let Some(v) = decide(p) {
            return Inspected::Verdict(v);
        }
        if got.capacity() == 0 {
            *got = crate::bufpool::take();
        }
        match read_more_kept(peer, got, rules_end.min(idle_end)).await {
            ReadOutcome::Data(_) => {}
            ReadOutcome::Timeout if idle_end < rules_end && Instant::now() >= idle_end => {
                return Inspected::TimedOut;
            }
            ReadOutcome::Timeout => {}
            ReadOutcome::Eof => *eof = true,
            ReadOutcome::Error(_) => return Inspected::Failed,
        }
    }
}

/// `tcp-response content` rules of a backend, run on the server's first
/// bytes before they are relayed (the client's bytes keep flowing to the
/// server meanwhile: the relay's other direction runs).
pub struct ResponseGate<'a> {
    /// The worker.
    pub ctx: &'a WorkerCtx,
    /// The frontend index.
    pub fe: usize,
    /// The backend whose rules run.
    pub be: usize,
    /// The client connection's addresses (for `src` and friends).
    pub addrs: &'a ConnAddrs,
    /// The client socket, reset when a rule rejects.
    pub client_fd: RawFd,
    /// How the inspection ended, for the log and counters.
    pub outcome: Cell<Option<Inspected>>,
}

impl ResponseGate<'_> {
    /// Inspects the response on `r` and, unless a rule stops it, writes what
    /// was read to `w`. `Ok(n)`: relay on, `n` bytes already written;
    /// `Err(n)`: end the session after those `n` bytes.
    pub async fn pass<R, W>(&self, r: &mut R, w: &mut W) -> Result<u64, u64>
    where
        R: CancelableAsyncReadRent,
        W: AsyncWriteRent,
    {
        let shared = &self.ctx.shared;
        let be = &shared.backends[self.be];
        let t = &be.model.tcp;
        let (mut got, mut eof) = (Vec::new(), false);
        // HAProxy looks at the response when its first bytes arrive.
        let idle = (be.server_timeout, be.server_timeout);
        let first = inspect(r, &mut got, &mut eof, idle, |p| {
            (!p.req.is_empty() || !p.partial).then_some(TcpAction::Accept)
        })
        .await;
        let v = match first {
            Inspected::Verdict(_) if got.is_empty() && !eof => Inspected::TimedOut,
            Inspected::Verdict(_) => {
                let delays = (t.res_inspect_delay, be.server_timeout);
                inspect(r, &mut got, &mut eof, delays, |p| {
                    let s = RuleStream {
                        req: Payload {
                            req: b"",
                            res: Some(p.req),
                            partial: p.partial,
                        },
                        addrs: self.addrs,
                        shared,
                        fe: self.fe,
                        be: None,
                        vars: None,
                        uid: None,
                    };
                    let sc = &mut self.ctx.scratch.borrow_mut();
                    evaluate(&t.response, &be.model.acls.0, &s, sc)
                })
                .await
            }
            other => other,
        };
        self.outcome.set(Some(v));
        let n = got.len() as u64;
        let deadline = Instant::now() + shared.frontends[self.fe].client_timeout;
        match v {
            Inspected::Verdict(TcpAction::Reject) => {
                let c = self.ctx.counters();
                counters::add(&c.frontends[self.fe].denied_resp, 1);
                counters::add(&c.backends[self.be].denied_resp, 1);
                reset_on_close(self.client_fd);
                Err(0)
            }
            Inspected::Verdict(a) if n > 0 => {
                match crate::deadline::within(deadline, w.write_all(got)).await {
                    Ok((Ok(_), _)) if a == TcpAction::Accept => Ok(n),
                    Ok((Ok(_), _)) => Err(n),
                    _ => Err(0),
                }
            }
            Inspected::Verdict(TcpAction::Accept) => Ok(0),
            _ => Err(0),
        }
    }
}
