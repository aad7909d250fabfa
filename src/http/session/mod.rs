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
//! Server connections are reused as the backend's `http-reuse` says
//! (`reuse.rs`; by default `safe`: a client's first request always opens its
//! own connection). A reused connection that fails before any response
//! byte is replaced and the request resent, only when the request is
//! idempotent and went out whole in one write, so the server cannot have acted
//! on it differently than on a dropped connection.

use std::cell::Cell;
use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::time::Duration;

use monoio::io::{AsyncWriteRent, Splitable};
use monoio::time::Instant;

use super::body::{BodyCursor, BodyKind};
use super::error::HttpError;
use super::forward::{
    Activity, Linked, Pace, ReadHalf, RelayFail, ResponseCtx, ResponseEnd, ResponseFail, WriteHalf,
    relay_body, relay_response,
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
use crate::server::dispatch::{ActiveGuard, connect_redispatching, pick};
use crate::server::kill;
use crate::stats::{self, counters};
use crate::stream::Stream;
use crate::tcp::relay::Halves;
use crate::worker::context::WorkerCtx;

mod abort;
mod buffer;
mod duplex;
mod exchange;
mod local;
mod persist;
mod read;
mod reuse;
mod rules;
mod sni;
mod stick;
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
    /// Requests the server connection has served, this one included.
    served: u32,
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
    /// `client_fd` when raw writes to it are the session's own (not TLS).
    client_plain_fd: Option<RawFd>,
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
    /// Server connections kept for this session alone (`http-reuse never`).
    private: Vec<reuse::PrivateConn>,
    /// The current request matched `force-persist` (no redispatch: `persist/`).
    forced: bool,
}

/// Serves one client connection until it closes, times out or errs;
/// `addrs` are its addresses (a PROXY header's, where one was read).
///
/// Not an `async fn`: the session is made before the future, so the
/// future (every HTTP connection's task) holds it once, not also the
/// arguments it was made from.
pub fn run<'a>(
    ctx: &'a WorkerCtx,
    client: Stream,
    addrs: ConnAddrs,
    fe: usize,
    vars: crate::http::rules::Vars,
) -> impl std::future::Future<Output = ()> + 'a {
    let mut s = Session::open(ctx, client, addrs, fe, vars);
    // The block holds the session in place; an `async fn` taking it by
    // value would keep a second copy (rustc moves parameters into locals).
    async move {
        if let Some((server, server_idx)) = s.serve().await {
            Box::pin(s.tunnel(server, server_idx)).await;
        }
    }
}

impl<'a> Session<'a> {
    /// The session of a new client connection.
    fn open(
        ctx: &'a WorkerCtx,
        client: Stream,
        addrs: ConnAddrs,
        fe: usize,
        vars: crate::http::rules::Vars,
    ) -> Self {
        let f = &ctx.shared.frontends[fe];
        // A frontend routing only with `use_backend` has no default: until a
        // request is routed, its first rule's backend stands in.
        let backend = f
            .backend
            .or_else(|| f.model.routing.rules.first().map(|r| r.backend))
            .unwrap_or(0);
        // A configuration without any backend (frontends that answer by
        // themselves): the stand-in, never chosen (`no_backend` stays set).
        let be = ctx
            .shared
            .backends
            .get(backend)
            .unwrap_or(&ctx.shared.stand_in);
        let fe_index = fe;
        let client_fd = client.as_raw_fd();
        let trace = HttpTrace::new(
            f.log.as_ref(),
            addrs.peer,
            be.cookie.is_some(),
            f.model.captures.as_ref(),
        )
        .with_tls(addrs.tls())
        .with_local(|| addrs.local());
        let client_plain_fd = client.plain_fd();
        let (cr, cw) = client.into_split();
        let (rewrite, close_client, max_body) = settings(f, be, &addrs);
        Session {
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
            client_plain_fd,
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
            trace,
            uid: IdSlot::default(),
            private: Vec::new(),
            forced: false,
        }
    }

    /// Serves requests until the connection closes, times out or errs.
    async fn serve(&mut self) -> Option<(Halves, usize)> {
        let s = self;
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
                s.log_exchange(s.routed(), outcome);
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
                        // Boxed: on TLS it sends close_notify, a future too
                        // large for every connection's task.
                        let _ = Box::pin(s.cw.shutdown()).await;
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
                    let sent =
                        Box::pin(write_all(&mut s.cw, &mut page, &mut s.resp_timer, deadline))
                            .await
                            .is_ok();
                    let bytes = if sent { len } else { 0 };
                    s.log_exchange(s.routed(), Outcome::Answered { status, bytes });
                    if sent {
                        Box::pin(s.linger_close()).await;
                    }
                    break;
                }
                Ok(Next::Tunnel(server, server_idx)) => return Some((server, server_idx)),
            }
        }
        bufpool::give(std::mem::take(&mut s.cbuf));
        bufpool::give(std::mem::take(&mut s.sbuf));
        bufpool::give(std::mem::take(&mut s.out));
        None
    }

    /// After `101 Switching Protocols`: relays raw bytes between the client
    /// and `server` until either side ends (boxed by the caller: rare).
    async fn tunnel(self, mut server: Halves, server_idx: usize) {
        let mut s = self;
        let ctx = s.ctx;
        let fe_index = s.fe_index;
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
                return;
            }
        }
        bufpool::give(std::mem::take(&mut s.cbuf));
        bufpool::give(std::mem::take(&mut s.sbuf));
        bufpool::give(std::mem::take(&mut s.out));
        // After `101` the connection is a tunnel (`timeout tunnel`, `-fin`).
        let timeouts = crate::tcp::timeouts::RelayTimeouts::tunnel(
            &s.fe.model.timeouts,
            &s.be.model.timeouts,
            s.fe.client_timeout,
            s.be.server_timeout,
        );
        let client = Halves {
            r: s.cr,
            w: s.cw,
            fd: s.client_fd,
        };
        // `shutdown sessions server` shuts both sockets down.
        let srv = &s.be.servers[server_idx];
        let fds = [s.client_fd, server.fd];
        let use_ = kill::using(srv, s.backend, server_idx, fds);
        // `option splice-*`: the tunnel splices as a TCP relay would.
        let splice = s.fe.model.splice.with(s.be.model.splice);
        let splice = (splice != Default::default()).then_some((splice, &ctx.shared.pipes));
        let cause = std::cell::Cell::new(0);
        // Made inside the box: a future first held in a local keeps
        // its room in this one (every connection's task) after the move.
        let (_, down) = Box::pin(crate::tcp::relay::relay_spliced(
            client, server, timeouts, &cause, None, splice,
        ))
        .await;
        // Deregistered at once: the relay closed the sockets.
        if use_.release() {
            s.trace.cause(b'K');
        }
        // Who ended the tunnel early (a timeout, a reset), as HAProxy logs it.
        if cause.get() != 0 {
            s.trace.cause(cause.get());
        }
        if !s.rules.borrow().fx.silent {
            s.trace
                .finish(ctx, fe_index, Some(s.backend), Outcome::Tunnel { down });
        }
    }
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
        server_name: be.model.persistence.send_name.as_deref(),
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
    /// The backend this request was routed to (`None`: none; the log line
    /// then names the frontend, and only the frontend's stats page applies).
    fn routed(&self) -> Option<usize> {
        (!self.no_backend).then_some(self.backend)
    }

    /// Logs the exchange, unless a rule said `set-log-level silent`.
    fn log_exchange(&self, backend: Option<usize>, outcome: Outcome) {
        if !self.rules.borrow().fx.silent {
            let uid = Some(&self.uid);
            (self.trace).finish_with_id(self.ctx, self.fe_index, backend, outcome, uid);
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
        crate::deadline::coarse_now() + self.be.server_timeout
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
}
