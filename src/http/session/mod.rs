//! One client connection in `mode http`, exchange after exchange.
//!
//! Each exchange runs the data path in order:
//! 1. read the request head (`timeout http-request`, `timeout http-keep-alive`;
//!    `read.rs`);
//! 2. parse it (`request::parse_head`), choose the backend (`use_backend`
//!    rules, `route.rs`; skipped when the frontend has none), then write the
//!    head for the server with that backend's settings (`request::rewrite`);
//! 3. choose a server (`balance`) and take an idle connection to it or connect
//!    (`timeout connect`, `retries`, `option redispatch`);
//! 4. send the head, then relay the request body and the response at the same
//!    time (`duplex.rs` over `forward.rs`: interim 1xx, `timeout server`,
//!    streaming bodies);
//! 5. keep or close each side, and pool the server connection when reusable
//!    (a lingering close and ringlb's own pages: `local.rs`).
//!
//! Server connections are reused as HAProxy's `http-reuse safe` intends: a
//! client's first request takes an idle connection only when it could be sent
//! again on a fresh one. A reused connection that fails before any response
//! byte is replaced and the request resent, only when the request is
//! idempotent and went out whole in one write, so the server cannot have acted
//! on it differently than on a dropped connection.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::time::Duration;

use monoio::io::{AsyncWriteRent, Splitable};
use monoio::time::Instant;

use super::body::{BodyCursor, BodyKind};
use super::error::HttpError;
use super::forward::{
    Pace, ReadHalf, RelayFail, ResponseCtx, ResponseEnd, ResponseFail, WriteHalf, relay_body,
    relay_response,
};
use super::io::{ReadOutcome, WriteFail, read_more, read_more_watch, write_all};
use super::request::{self, Parsed, Request, Rewrite};
use super::response::{ClientSide, ResponseCookie};
use super::unique_id::IdSlot;
use crate::balance::PickInput;
use crate::bufpool::{self, BUF_SIZE};
use crate::deadline::LazyTimer;
use crate::log::record::{HttpTrace, Outcome};
use crate::route::{self, ConnAddrs, RequestSample};
use crate::runtime::{BackendRt, FrontendRt};
use crate::server::dispatch::{ActiveGuard, connect_noting, pick};
use crate::server::kill;
use crate::stats::{self, counters};
use crate::stream::Stream;
use crate::tcp::relay::Halves;
use crate::worker::context::WorkerCtx;

mod duplex;
mod local;
mod read;
mod rules;
mod tcp_rules;

use duplex::duplex;
use read::IDLE_BUF;

/// What to do with the client connection after an exchange.
enum Next {
    KeepAlive,
    /// Close; `linger` when the client may still be sending (unread input).
    Close {
        linger: bool,
    },
    /// `101 Switching Protocols` was relayed: relay raw bytes with this server
    /// (its index, for `shutdown sessions server`).
    Tunnel(Halves, usize),
}

/// A failed exchange: the status to answer, if the client can still get one.
enum Fail {
    /// Answer with this status, then close.
    Status(HttpError),
    /// Close without answering (client gone, or a response already started).
    Silent,
    /// A `tcp-request content` rule rejected the request (`tcp_rules.rs`):
    /// one of the chosen backend's (true) or the frontend's.
    Rejected(bool),
}

/// What the relay stage leaves to the last one: the server connection's
/// halves, how each direction ended, and the server counted as active.
struct Relayed<'a> {
    sr: ReadHalf,
    sw: WriteHalf,
    server_fd: RawFd,
    req_state: RequestBody,
    resp: ResponseEnd,
    server_idx: usize,
    active: ActiveGuard<'a>,
}

/// The verdict on one attempt at relaying (see `Session::judge`).
enum Judged {
    /// Both directions ended well enough to finish the exchange.
    Done(RequestBody, ResponseEnd),
    /// The exchange failed.
    Fail(Fail),
    /// Resend the request on a fresh connection.
    Retry,
}

/// Where the request body stands when the response side finishes.
enum RequestBody {
    /// Relayed whole.
    Done,
    /// Still being relayed (the server answered early).
    Unfinished,
    /// The server stopped taking it; the response decides what the client gets.
    SinkFailed,
}

struct Session<'a> {
    ctx: &'a WorkerCtx,
    fe: &'a FrontendRt,
    fe_index: usize,
    /// The backend of the current request (the default one until routed).
    be: &'a BackendRt,
    backend: usize,
    /// No backend for this request: no `use_backend` rule matched and there
    /// is no `default_backend` (answered 503; `be` is only a placeholder).
    no_backend: bool,
    rewrite: Rewrite<'a>,
    close_client: bool,
    /// Largest request body allowed, and the status for a larger one.
    max_body: Option<(u64, u16)>,
    cr: ReadHalf,
    cw: WriteHalf,
    /// The client socket, for the tunnel's shutdown on error.
    client_fd: RawFd,
    /// The client connection's addresses (for `use_backend` conditions).
    addrs: ConnAddrs,
    /// Exchanges started on this connection (the first one reuses idle server
    /// connections only when it could be resent).
    exchanges: u64,
    /// A small buffer that waits for the next request, so that an idle client
    /// does not hold a 16 KB one; the bytes move to `cbuf` once they arrive.
    idle_buf: Vec<u8>,
    /// Bytes from the client not yet forwarded (head, body, pipelined requests).
    cbuf: Vec<u8>,
    /// Bytes from the server not yet forwarded.
    sbuf: Vec<u8>,
    /// The head being sent (request, then response).
    out: Vec<u8>,
    /// Deadlines of the request direction (reading the client, writing the
    /// server) and of the response direction, which run at the same time;
    /// kept across exchanges (see [`LazyTimer`]).
    req_timer: LazyTimer,
    resp_timer: LazyTimer,
    /// What the log line of each exchange needs (inert when not logging).
    trace: HttpTrace,
    /// The rule stages' message, variables and verdict (`rules.rs`).
    rules: std::cell::RefCell<rules::RuleState>,
    /// The current request's unique id (`unique-id-format`), once made.
    uid: IdSlot,
}

/// Serves one client connection until it closes, times out or errs.
pub async fn run(
    ctx: &WorkerCtx,
    client: Stream,
    peer: Option<SocketAddr>,
    fe: usize,
    vars: crate::http::rules::Vars,
) {
    let f = &ctx.shared.frontends[fe];
    // A frontend routing only with `use_backend` has no default: until a
    // request is routed, its first rule's backend stands in.
    let backend = f
        .backend
        .or_else(|| f.model.routing.rules.first().map(|r| r.backend))
        .unwrap_or(0);
    let be = &ctx.shared.backends[backend];
    let fe_index = fe;
    let client_fd = client.as_raw_fd();
    let (cr, cw) = client.into_split();
    let addrs = ConnAddrs::new(client_fd, peer);
    let (rewrite, close_client, max_body) = settings(f, be, &addrs);
    let mut s = Session {
        ctx,
        fe: f,
        fe_index,
        be,
        backend,
        no_backend: f.backend.is_none(),
        rewrite,
        close_client,
        max_body,
        cr,
        cw,
        client_fd,
        addrs,
        exchanges: 0,
        idle_buf: Vec::with_capacity(IDLE_BUF),
        cbuf: Vec::new(),
        // Taken when a request arrives, given back while the client is idle.
        sbuf: Vec::new(),
        out: Vec::new(),
        req_timer: LazyTimer::new(),
        resp_timer: LazyTimer::new(),
        // `sess` variables a `tcp-request connection` rule set.
        rules: std::cell::RefCell::new(rules::RuleState::with_vars(vars)),
        trace: HttpTrace::new(
            f.log.as_ref(),
            peer,
            be.cookie.is_some(),
            f.model.captures.as_ref(),
        ),
        uid: IdSlot::default(),
    };
    let mut first = true;
    loop {
        s.trace.begin(!s.cbuf.is_empty());
        // The request is awaited by a small future; the exchange's large one
        // (duplex relays, retries) is boxed and lives only while a request is
        // in flight, so an idle keep-alive client costs little memory. The
        // rare paths below (error page, lingering close, tunnel) are boxed too:
        // this future's size is every connection's task size.
        // An error before the request is routed gets the frontend's page.
        let mut routed = false;
        let result = match s.read_request(first).await {
            Ok(req) => {
                routed = true;
                Box::pin(s.exchange(req)).await
            }
            Err(e) => Err(e),
        };
        if let Ok(Next::KeepAlive | Next::Close { .. }) | Err(Fail::Silent) = &result {
            let outcome = if result.is_ok() {
                Outcome::Done
            } else {
                Outcome::Silent
            };
            s.log_exchange(s.logged_backend(), outcome);
        }
        match result {
            Ok(Next::KeepAlive) => {
                first = false;
                // An idle keep-alive client holds only its input buffer. Whatever
                // is left in `sbuf` belonged to a server connection now pooled
                // (then nothing) or dropped (then stale): never carry it over.
                bufpool::give(std::mem::take(&mut s.sbuf));
                bufpool::give(std::mem::take(&mut s.out));
                if s.cbuf.is_empty() {
                    bufpool::give(std::mem::take(&mut s.cbuf));
                }
            }
            Ok(Next::Close { linger }) => {
                if linger {
                    Box::pin(s.linger_close()).await;
                } else {
                    // The last response may be held back (MSG_MORE): shutdown
                    // sends it with the FIN. A bare close would reset instead if the client
                    // sent anything more meanwhile, and the reset discards it.
                    let _ = s.cw.shutdown().await;
                }
                break;
            }
            Err(Fail::Silent) => break,
            Err(Fail::Rejected(by_backend)) => {
                s.tcp_rejected(by_backend);
                break;
            }
            Err(Fail::Status(e)) => {
                let (status, page) = s.error_page(e, routed);
                // http-after-response rules see ringlb's own errors too.
                let mut page = s.after_response(page);
                s.count_error(e, page.len());
                let len = page.len() as u64;
                let deadline = Instant::now() + s.fe.client_timeout;
                let sent = Box::pin(write_all(&mut s.cw, &mut page, &mut s.resp_timer, deadline))
                    .await
                    .is_ok();
                let bytes = if sent { len } else { 0 };
                s.log_exchange(s.logged_backend(), Outcome::Answered { status, bytes });
                if sent {
                    Box::pin(s.linger_close()).await;
                }
                break;
            }
            Ok(Next::Tunnel(mut server, server_idx)) => {
                // Bytes the client sent after its upgrade request belong to the tunnel.
                if !s.cbuf.is_empty() {
                    let deadline = Instant::now() + s.be.server_timeout;
                    if Box::pin(write_all(
                        &mut server.w,
                        &mut s.cbuf,
                        &mut s.req_timer,
                        deadline,
                    ))
                    .await
                    .is_err()
                    {
                        break;
                    }
                }
                bufpool::give(std::mem::take(&mut s.cbuf));
                bufpool::give(std::mem::take(&mut s.sbuf));
                bufpool::give(std::mem::take(&mut s.out));
                let (ct, st) = (s.fe.client_timeout, s.be.server_timeout);
                let client = Halves {
                    r: s.cr,
                    w: s.cw,
                    fd: s.client_fd,
                };
                // `shutdown sessions server` shuts both sockets down.
                let srv = &s.be.servers[server_idx];
                let fds = [s.client_fd, server.fd];
                let use_ = kill::using(srv, s.backend, server_idx, fds);
                let relayed = crate::tcp::relay::relay_halves(client, server, ct, st);
                let (_, down) = Box::pin(relayed).await;
                // Deregistered at once: the relay closed the sockets.
                if use_.release() {
                    s.trace.cause(b'K');
                }
                if !s.rules.borrow().fx.silent {
                    s.trace
                        .finish(ctx, fe_index, Some(s.backend), Outcome::Tunnel { down });
                }
                return;
            }
        }
    }
    bufpool::give(s.cbuf);
    bufpool::give(s.sbuf);
    bufpool::give(s.out);
}

/// What the backend decides for an exchange, merged with the frontend's
/// options as HAProxy does: the head rewrite, closing the client side after
/// the response, and the largest body allowed.
fn settings<'a>(
    f: &'a FrontendRt,
    be: &'a BackendRt,
    addrs: &ConnAddrs,
) -> (Rewrite<'a>, bool, Option<(u64, u16)>) {
    let httpclose = f.http.httpclose || be.http.httpclose;
    let originalto = originalto(f, be, addrs);
    let rewrite = Rewrite {
        forwardfor: f.http.forwardfor.as_ref().or(be.http.forwardfor.as_ref()),
        client: addrs.peer.map(|p| p.ip()),
        originalto,
        close_server: httpclose || f.http.http_server_close || be.http.http_server_close,
        pretend_keepalive: f.http.pretend_keepalive || be.http.pretend_keepalive,
        cookie: be.cookie.as_ref(),
        extra: None,
    };
    let max_body = match (f.http.max_body, be.http.max_body) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    (rewrite, httpclose, max_body)
}

/// `option originalto` as HAProxy 2.6 applies it: on when the frontend or
/// the backend sets it, the backend's header name first, not added when the
/// destination is in either's `except` network, IPv4 destinations only. The
/// local address is looked up only then.
fn originalto<'a>(
    f: &'a FrontendRt,
    be: &'a BackendRt,
    addrs: &ConnAddrs,
) -> Option<(&'a str, std::net::IpAddr)> {
    let (fo, bo) = (f.http.originalto.as_ref(), be.http.originalto.as_ref());
    let name = bo.or(fo)?.header.as_str();
    let dst = addrs.local()?.ip();
    let excepted = [fo, bo].into_iter().flatten().any(|o| {
        o.except
            .is_some_and(|(net, p)| request::in_network(dst, net, p))
    });
    (dst.is_ipv4() && !excepted).then_some((name, dst))
}

impl<'a> Session<'a> {
    /// The backend the log line names (`None`: the frontend's own name).
    fn logged_backend(&self) -> Option<usize> {
        (!self.no_backend).then_some(self.backend)
    }

    /// Logs the exchange, unless a rule said `set-log-level silent`.
    fn log_exchange(&self, backend: Option<usize>, outcome: Outcome) {
        if !self.rules.borrow().fx.silent {
            self.trace.finish(self.ctx, self.fe_index, backend, outcome);
        }
    }

    /// Counts an error ringlb answered itself (`len` bytes), where HAProxy's stats put it.
    fn count_error(&self, e: HttpError, len: usize) {
        let c = self.ctx.counters();
        let fc = &c.frontends[self.fe_index];
        let bc = (!self.no_backend).then(|| &c.backends[self.backend]);
        fc.status(e.status());
        counters::add(&fc.bytes_out, len as u64);
        match (e, bc) {
            (HttpError::Forbidden | HttpError::PayloadTooLarge, _) => counters::add(&fc.denied, 1),
            (HttpError::BadGateway | HttpError::GatewayTimeout, Some(bc)) => {
                bc.status(e.status());
                counters::add(&bc.resp_errors, 1);
            }
            (HttpError::ServiceUnavailable, Some(bc)) => bc.status(e.status()),
            (HttpError::ServiceUnavailable, None) => {}
            _ => counters::add(&fc.req_errors, 1),
        }
    }

    fn stopping(&self) -> bool {
        self.ctx.shared.stopping()
    }

    fn server_deadline(&self) -> Instant {
        Instant::now() + self.be.server_timeout
    }

    /// Per-request trouble goes to the logs (termination state); stderr gets it
    /// only in `-d` mode, as HAProxy, so a flood of failures can't flood a terminal.
    fn log_server(&self, server_idx: usize, what: &str) {
        if self.ctx.shared.debug {
            eprintln!(
                "[WARNING] {}/{}: {what}",
                self.be.name, self.be.servers[server_idx].name
            );
        }
    }

    /// One request, stage after stage: ringlb's own answers (monitor, a
    /// rule's reply, the stats page, 503 without a backend, a body over the
    /// limit), then choose the server, connect or reuse and relay both ways,
    /// then count, pool and decide the client connection's fate. (Parsing,
    /// the request rules, routing and the head's rewrite ran in `read.rs`.)
    async fn exchange(&mut self, req: Request) -> Result<Next, Fail> {
        let first = self.begin(&req);
        if let Some(answered) = self.answer_here(&req).await {
            return answered;
        }
        let picked = self.choose_server(&req)?;
        // Held until the response ends: the server's `maxconn` slot (taken
        // at once where there is no limit or room, without a future).
        let now = crate::server::queue::take_now(&self.be.queue, &self.ctx.limits, picked);
        let (picked, _slot) = match now {
            Some(got) => got,
            None => self.queue(&req, picked).await?,
        };
        let mut body = self.body_start(&req)?;
        let relayed = self.relay(&req, &mut body, picked, first).await?;
        self.finish(&req, &body, relayed)
    }

    /// Stage: a slot on the chosen server, waiting in a queue while it is
    /// full (`server/queue.rs`); 503 `sQ` after `timeout queue`.
    async fn queue(
        &self,
        req: &Request,
        picked: usize,
    ) -> Result<(usize, crate::server::queue::Slot<'a>), Fail> {
        let sticky = req.sticky.server == Some(picked);
        let mut waited = crate::server::queue::Waited::default();
        let be = self.be;
        let got = crate::server::queue::acquire(
            &be.queue,
            &self.ctx.limits,
            &be.servers,
            picked,
            sticky,
            &mut waited,
        )
        .await;
        if waited.queued {
            self.trace.queued(waited.srv_queue, waited.be_queue);
        }
        got.map_err(|_| {
            self.trace.queue_expired(sticky.then_some(picked));
            Fail::Status(HttpError::ServiceUnavailable)
        })
    }

    /// Counts the request and notes it for the log; answers whether it is the
    /// connection's first.
    fn begin(&mut self, _req: &Request) -> bool {
        let first = self.exchanges == 0;
        self.exchanges += 1;
        self.trace.request(&self.cbuf);
        counters::add(&self.ctx.counters().frontends[self.fe_index].requests, 1);
        if self.ctx.shared.debug {
            let line = self.cbuf.split(|&b| b == b'\n').next().unwrap_or_default();
            eprintln!(
                "{}.clireq[w{}]: {}",
                self.fe.name,
                self.ctx.id,
                String::from_utf8_lossy(line).trim_end()
            );
        }
        first
    }

    /// The answers ringlb makes without a server, if this request gets one.
    async fn answer_here(&mut self, req: &Request) -> Option<Result<Next, Fail>> {
        // `monitor-uri`: answered before anything else, as HAProxy does.
        if let Some(mut page) = self.monitor(req) {
            return Some(self.answer_locally(req, &mut page).await);
        }
        // A request rule answered (deny, tarpit, return, redirect, auth).
        let local = self.rules.get_mut().local.take();
        if let Some(local) = local {
            return Some(self.answer_rule(req, local).await);
        }
        // The stats page (`stats enable`, `stats uri`) is answered by ringlb itself.
        if let Some(mut page) = stats::page::serve(
            self.ctx,
            self.fe_index,
            self.backend,
            &self.cbuf[..req.head_len],
            req.uri,
        ) {
            return Some(self.answer_locally(req, &mut page).await);
        }
        if self.no_backend {
            if self.ctx.shared.debug {
                eprintln!("[WARNING] {}: no backend for this request", self.fe.name);
            }
            return Some(Err(Fail::Status(HttpError::ServiceUnavailable)));
        }
        if let (Some((max, status)), BodyKind::Length(n)) = (self.max_body, req.body)
            && n > max
        {
            return Some(Err(Fail::Status(HttpError::for_body_limit(status))));
        }

        None
    }

    /// Stage: choose the server (stickiness cookie, then balancing), or 503.
    fn choose_server(&mut self, req: &Request) -> Result<usize, Fail> {
        // Choose the server while the URI is still in the buffer (or, when
        // rules rewrote the head, from the head they left).
        let picked = {
            let st = self.rules.borrow();
            let (uri, head) = if req.edited {
                (st.msg.line(1), &self.out[..])
            } else {
                (&self.cbuf[req.uri.0..req.uri.1], &self.cbuf[..req.head_len])
            };
            let input = PickInput {
                client: self.rewrite.client,
                uri: Some(std::str::from_utf8(uri).unwrap_or("")),
                head: Some(head),
                payload: None,
            };
            pick(self.ctx, self.backend, &input, None)
        };
        // A cookie naming a server that is up (drained included) wins over
        // balancing; one naming a down or maintained server is ignored (and the
        // cookie updated) unless `option persist`.
        let picked = match (req.sticky.server, &self.be.cookie) {
            (Some(s), Some(c)) if c.persist || self.be.servers[s].available() => Some(s),
            _ => picked,
        };
        let Some(picked) = picked else {
            if self.ctx.shared.debug {
                eprintln!("[WARNING] {}: no server available", self.be.name);
            }
            return Err(Fail::Status(HttpError::ServiceUnavailable));
        };
        self.trace.sticky(req.sticky.server, picked);
        Ok(picked)
    }

    /// The head for the server is in `out`; adds the body bytes that came
    /// with it, and answers the body's cursor.
    fn body_start(&mut self, req: &Request) -> Result<BodyCursor, Fail> {
        let mut body = BodyCursor::new(req.body);
        // The head for the server is in `out`; add what body bytes came with it.
        let part = body
            .take(&self.cbuf[req.head_len..])
            .map_err(|_| Fail::Status(HttpError::BadRequest))?;
        self.check_body_limit(&body)?;
        self.out
            .extend_from_slice(&self.cbuf[req.head_len..req.head_len + part]);
        self.cbuf.drain(..req.head_len + part);
        Ok(body)
    }

    /// Stage: connect or reuse, send the head, then relay the request body
    /// and the response at once; a reused connection that fails before
    /// answering is replaced once when the request may be resent. (Longer
    /// than most: the two relays are pinned in this frame and borrow the
    /// session's buffers field by field, which a helper taking `&self`
    /// could not lend.)
    async fn relay(
        &mut self,
        req: &Request,
        body: &mut BodyCursor,
        picked: usize,
        first: bool,
    ) -> Result<Relayed<'a>, Fail> {
        let may_resend = req.idempotent && body.done();
        // Retries and redispatch choose by rotation, not by the request's key.
        let input = PickInput {
            client: self.rewrite.client,
            ..PickInput::default()
        };
        let (mut server_idx, mut server, mut reused, mut active) = self
            .server_connection(picked, first && !may_resend, &input)
            .await?;
        let response_rules = rules::response_rules(
            (self.ctx, self.fe, self.fe_index),
            (self.be, self.backend),
            &self.addrs,
            (&self.rules, &self.uid),
            &self.trace,
        );
        let limit = self.max_body.map(|(m, _)| m);
        let (ct, st) = (self.fe.client_timeout, self.be.server_timeout);
        let (sr, sw, server_fd, req_state, resp) = loop {
            // Send the head (and the body start); replace a dead reused connection once.
            let deadline = self.server_deadline();
            match write_all(&mut server, &mut self.out, &mut self.req_timer, deadline).await {
                Ok(()) => {}
                Err(WriteFail::Error(_)) if reused && may_resend => {
                    (server_idx, server) = self.connect(server_idx, &input).await?;
                    active = ActiveGuard::new(self.ctx, self.backend, server_idx);
                    reused = false;
                    continue;
                }
                Err(WriteFail::Timeout) => return Err(Fail::Status(HttpError::GatewayTimeout)),
                Err(WriteFail::Error(_)) => return Err(Fail::Status(HttpError::BadGateway)),
            }
            let server_fd = server.as_raw_fd();
            let head_seen = Cell::new(false);
            let hook = response_rules
                .as_ref()
                .map(|r| r as &dyn crate::http::response::ResponseHook);
            let cx = ResponseCtx {
                side: ClientSide {
                    head_request: req.is_head,
                    http10: req.http10,
                    keep_alive: req.keep_alive && !self.close_client && !self.stopping(),
                    cookie: self.be.cookie.as_ref().map(|rt| ResponseCookie {
                        rt,
                        server: server_idx,
                        insert: rt.must_insert(req.sticky, server_idx, req.is_post),
                    }),
                },
                upgrade: req.upgrade,
                rules: hook,
                server_timeout: self.be.server_timeout,
                client_timeout: self.fe.client_timeout,
                progress: self.trace.tracker(),
                head_seen: &head_seen,
                client_fd: self.client_fd,
            };
            if cx.side.cookie.as_ref().is_some_and(|c| c.insert) {
                self.trace.cookie_inserted();
            }
            let (mut sr, mut sw) = server.into_split();
            let sent = Cell::new(false);
            let body_done = body.done();
            // Pinned here, in this future, and lent to `duplex`: passed by
            // value they would be stored twice (argument and pinned local)
            // and copied into it, 1.9 KB for each request.
            let relayed = {
                let request = std::pin::pin!(relay_body(
                    &mut self.cr,
                    &mut sw,
                    &mut self.cbuf,
                    body,
                    Pace {
                        timer: &mut self.req_timer,
                        read: ct,
                        write: st,
                    },
                    limit,
                ));
                let response = std::pin::pin!(relay_response(
                    &mut sr,
                    &mut self.cw,
                    &mut self.sbuf,
                    &mut self.out,
                    &mut self.resp_timer,
                    &cx,
                    &sent,
                ));
                // `shutdown sessions server` shuts both sockets down.
                let srv = &self.be.servers[server_idx];
                let fds = [self.client_fd, server_fd];
                let use_ = kill::using(srv, self.backend, server_idx, fds);
                let relayed = duplex(request, response, body_done).await;
                if use_.release() {
                    self.trace.cause(b'K');
                    return Err(Fail::Silent);
                }
                relayed
            };
            let (req_state, resp) = relayed;
            let retry = reused && may_resend && !head_seen.get();
            match self.judge(req_state, resp, sent.get(), retry, server_idx, body) {
                Judged::Retry => {
                    drop((sr, sw));
                    (server_idx, server) = self.connect(server_idx, &input).await?;
                    active = ActiveGuard::new(self.ctx, self.backend, server_idx);
                    reused = false;
                }
                Judged::Fail(f) => return Err(f),
                Judged::Done(state, end) => break (sr, sw, server_fd, state, end),
            }
        };
        Ok(Relayed {
            sr,
            sw,
            server_fd,
            req_state,
            resp,
            server_idx,
            active,
        })
    }

    /// Stage: a connection to the chosen server, idle in the pool (unless
    /// `fresh_only`: a first request that could not be resent) or new (with
    /// retries and redispatch, which may choose another server); the server
    /// is counted active from now on, for leastconn.
    async fn server_connection(
        &self,
        picked: usize,
        fresh_only: bool,
        input: &PickInput<'_>,
    ) -> Result<(usize, Stream, bool, ActiveGuard<'a>), Fail> {
        // A connection to a server whose port follows the client's cannot
        // serve a client that came in on another port: never pooled.
        let relative = self.be.servers[picked].port_offset.is_some();
        let pooled = if fresh_only || relative {
            None
        } else {
            self.ctx.pool.take(self.backend, picked)
        };
        if let Some(s) = pooled {
            self.trace.reused(picked);
            return Ok((
                picked,
                s,
                true,
                ActiveGuard::new(self.ctx, self.backend, picked),
            ));
        }
        let active = ActiveGuard::new(self.ctx, self.backend, picked);
        let (idx, s) = self.connect(picked, input).await?;
        let active = if idx != picked {
            ActiveGuard::new(self.ctx, self.backend, idx)
        } else {
            active
        };
        Ok((idx, s, false, active))
    }

    /// What both directions' outcomes mean for the exchange: done, failed
    /// (answered if nothing was sent yet), or to be tried again on a fresh
    /// connection (`retry`: a reused one closed before any response byte).
    fn judge<T>(
        &self,
        req_state: Result<T, RelayFail>,
        resp: Option<Result<ResponseEnd, ResponseFail>>,
        answered: bool,
        retry: bool,
        server_idx: usize,
        body: &BodyCursor,
    ) -> Judged {
        let fail = |e| {
            Judged::Fail(if answered {
                Fail::Silent
            } else {
                Fail::Status(e)
            })
        };
        match resp {
            // The client's body failed first: answer it if nothing was sent yet.
            None => {
                if let Err(RelayFail::Source(ReadOutcome::Timeout)) = req_state {
                    self.trace.cause(b'c');
                }
                match req_state {
                    Err(_) if answered => Judged::Fail(Fail::Silent),
                    Err(RelayFail::Source(ReadOutcome::Timeout)) => fail(HttpError::RequestTimeout),
                    Err(RelayFail::Malformed) => fail(HttpError::BadRequest),
                    Err(RelayFail::TooLarge) => {
                        Judged::Fail(self.check_body_limit(body).err().unwrap_or(Fail::Silent))
                    }
                    _ => Judged::Fail(Fail::Silent),
                }
            }
            Some(Err(ResponseFail::Closed)) if retry => Judged::Retry,
            Some(Err(ResponseFail::Closed)) => {
                self.trace.cause(b'S');
                self.log_server(server_idx, "closed the connection before answering");
                fail(HttpError::BadGateway)
            }
            Some(Err(ResponseFail::Status(e))) => {
                self.trace.cause(if e == HttpError::GatewayTimeout {
                    b's'
                } else {
                    b'S'
                });
                self.log_server(
                    server_idx,
                    &format!("answering {} to the client", e.status()),
                );
                fail(e)
            }
            Some(Err(ResponseFail::Silent)) => Judged::Fail(Fail::Silent),
            Some(Ok(end)) => {
                let state = match req_state {
                    Ok(_) => RequestBody::Done,
                    Err(RelayFail::Sink(_)) => RequestBody::SinkFailed,
                    Err(_) => RequestBody::Unfinished,
                };
                Judged::Done(state, end)
            }
        }
    }

    /// Stage: count what the exchange carried, pool the server connection
    /// when reusable, and say what becomes of the client's.
    fn finish(
        &mut self,
        req: &Request,
        body: &BodyCursor,
        relayed: Relayed<'a>,
    ) -> Result<Next, Fail> {
        let Relayed {
            sr,
            sw,
            server_fd,
            req_state,
            resp,
            server_idx,
            active,
        } = relayed;
        let (resp, bytes_out) = match resp {
            ResponseEnd::Upgraded => {
                return Ok(Next::Tunnel(
                    Halves {
                        r: sr,
                        w: sw,
                        fd: server_fd,
                    },
                    server_idx,
                ));
            }
            ResponseEnd::Done(r, n) => (r, n),
        };
        // What the exchange carried, on the frontend, backend and server.
        let fc = &self.ctx.counters().frontends[self.fe_index];
        let bytes_in = req.head_len as u64 + body.payload();
        for c in active.counters().into_iter().chain([fc]) {
            counters::add(&c.bytes_in, bytes_in);
            counters::add(&c.bytes_out, bytes_out);
            c.status(resp.status);
        }
        if self.ctx.shared.debug {
            eprintln!(
                "{}.srvrep[w{}]: {}/{} status {}",
                self.fe.name,
                self.ctx.id,
                self.be.name,
                self.be.servers[server_idx].name,
                resp.status
            );
        }
        let request_whole = matches!(req_state, RequestBody::Done);
        if resp.server_keep_alive
            && !self.rewrite.close_server
            && request_whole
            && self.sbuf.is_empty()
            // Port-relative servers: see `server_connection`.
            && self.be.servers[server_idx].port_offset.is_none()
        {
            // Within one task the halves are always reunitable; if not, just close.
            if let Ok(server) = sr.reunite(sw) {
                self.ctx.pool.put(self.backend, server_idx, server);
            }
        }
        // Otherwise the halves drop here: closing the socket sends the FIN (a
        // shutdown first would only cost a syscall per request under httpclose).
        // A request body left unread poisons the client connection. A soft
        // stop that came during the exchange does not close here: the
        // response went out without `Connection: close`, so the client may
        // already be sending its next request; that one is answered (with
        // `Connection: close`), or the idle wait ends the connection once the
        // client is quiet (`read_request`).
        if resp.client_keep_alive && request_whole {
            Ok(Next::KeepAlive)
        } else {
            Ok(Next::Close {
                linger: !request_whole || !self.cbuf.is_empty(),
            })
        }
    }

    async fn connect(
        &self,
        server_idx: usize,
        input: &PickInput<'_>,
    ) -> Result<(usize, Stream), Fail> {
        self.trace.connecting(server_idx);
        let attempts = self.trace.attempts();
        // A server without a port connects to the port the client connected to.
        let dst_port = self.addrs.local().map(|a| a.port());
        let r = connect_noting(
            self.ctx,
            self.backend,
            server_idx,
            input,
            attempts,
            dst_port,
        )
        .await;
        match &r {
            Ok((idx, _)) => self.trace.connected(*idx),
            Err(e) => self.trace.connect_failed(e, &self.ctx.shared, self.backend),
        }
        r.map_err(|e| {
            if self.ctx.shared.debug {
                eprintln!("[WARNING] {}: {e}", self.fe.name);
            }
            Fail::Status(HttpError::ServiceUnavailable)
        })
    }

    /// A chunked body is only measured as it passes: past the limit the exchange
    /// ends with the deny status, and the server connection is dropped.
    fn check_body_limit(&self, body: &BodyCursor) -> Result<(), Fail> {
        match self.max_body {
            Some((max, status)) if body.payload() > max => {
                Err(Fail::Status(HttpError::for_body_limit(status)))
            }
            _ => Ok(()),
        }
    }
}
