//! What the HTTP data path notes for the log while an exchange runs, and the
//! line made of it when the exchange ends (`tcp` does the same for TCP).
//!
//! The traces are `None` inside when the frontend logs no per-exchange line
//! (no target, or HAProxy's default "Connect from" format): every note is then
//! a branch on that `None` and nothing else, no clock read, no allocation.
//!
//! Termination states are HAProxy's two letters: who ended it (`C` client,
//! `c` client timeout, `S` server, `s` server timeout, `P` the proxy refused,
//! `L` answered locally, `-` normally) and at which stage (`R` request, `C`
//! connect, `H` response headers, `D` data, `-` normally).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use super::capture::{CaptureSpec, Captured};
use super::format::{self, Conns, Record};
use super::{Format, Level, ProxyLog};
use crate::runtime::Shared;
use crate::server::connect::ConnectError;
use crate::server::dispatch::{Attempts, DispatchError};
use crate::worker::context::WorkerCtx;

/// HAProxy keeps this much of a request line for the log (`requri_len`).
const REQUEST_LINE_MAX: usize = 1024;

/// Milliseconds from `a` to `b`, `-1` when either is missing.
pub(super) fn ms(a: Option<Instant>, b: Option<Instant>) -> i64 {
    match (a, b) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis() as i64,
        _ => -1,
    }
}

/// Connection counts for a line: every worker's counters summed (cheap atomic
/// loads, only when a line is made). `own` adds the exchange's own server
/// connection when it was already released.
pub(super) fn conns(
    shared: &Shared,
    fe: usize,
    be: Option<usize>,
    server: Option<usize>,
    own: bool,
) -> Conns {
    let mut c = Conns::default();
    for w in &shared.counters {
        for (i, f) in w.frontends.iter().enumerate() {
            let cur = f.current.load(std::sync::atomic::Ordering::Relaxed);
            c.process += cur;
            if i == fe {
                c.frontend += cur;
            }
        }
        if let Some(be) = be {
            c.backend += w.backends[be]
                .current
                .load(std::sync::atomic::Ordering::Relaxed);
        }
    }
    if let (Some(s), Some(be)) = (server, be) {
        c.server = shared.backends[be].servers[s]
            .active
            .load(std::sync::atomic::Ordering::Relaxed);
        if own {
            c.backend += 1;
            c.server += 1;
        }
    }
    c
}

/// The response side's notes, written by `http/forward.rs` as it goes.
#[derive(Debug, Default)]
pub struct Progress {
    head_at: Cell<Option<Instant>>,
    status: Cell<u16>,
    bytes: Cell<u64>,
    cause: Cell<u8>,
}

/// A handle on an exchange's [`Progress`] (and captures); does nothing when not logging.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tracker<'a>(Option<&'a Progress>, Option<&'a Captured>);

impl Tracker<'_> {
    /// The final response head, raw: captures its headers when the frontend
    /// has `capture response header` or `capture cookie`.
    pub fn capture_response(&self, head: &[u8]) {
        if let Some(c) = self.1 {
            c.response(head);
        }
    }

    /// The final response head arrived with `status`.
    pub fn response_head(&self, status: u16) {
        if let Some(p) = self.0 {
            p.head_at.set(Some(Instant::now()));
            p.status.set(status);
        }
    }

    /// `n` bytes reached the client so far (all of them at the end).
    pub fn sent(&self, n: u64) {
        if let Some(p) = self.0 {
            p.bytes.set(n);
        }
    }

    /// Who ended the exchange early (`C`, `c`, `S`, `s`, `P`); the first one noted wins.
    pub fn cause(&self, who: u8) {
        if let Some(p) = self.0
            && p.cause.get() == 0
        {
            p.cause.set(who);
        }
    }

    /// A failed write to the client: `c` on timeout, `C` otherwise.
    pub fn client_write_failed(&self, timeout: bool) {
        self.cause(if timeout { b'c' } else { b'C' });
    }
}

/// How an HTTP exchange ended, as the session loop sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response was relayed whole (or a local page sent).
    Done,
    /// The exchange ended without an answer ringlb could still send.
    Silent,
    /// A `tcp-request content` rule rejected the request: closed unanswered
    /// (`PR`, status -1).
    Rejected,
    /// ringlb answered this status itself; `bytes` reached the client.
    Answered {
        /// The status.
        status: u16,
        /// Bytes written (0 when the client was gone).
        bytes: u64,
    },
    /// A `101` tunnel ended; `down` bytes went to the client through it.
    Tunnel {
        /// Bytes relayed server → client after the `101`.
        down: u64,
    },
}

#[derive(Debug)]
struct HttpInner {
    peer: Option<SocketAddr>,
    accepted: Instant,
    accepted_wall: SystemTime,
    /// Cookie stickiness is configured on the exchange's backend (the `%tsc`
    /// cookie letters apply).
    cookie: Cell<bool>,
    start: Cell<Option<Instant>>,
    first_byte: Cell<Option<Instant>>,
    head: Cell<Option<Instant>>,
    connect_start: Cell<Option<Instant>>,
    connected: Cell<Option<Instant>>,
    server: Cell<Option<usize>>,
    local: Cell<bool>,
    /// A `monitor-uri` request: HAProxy never logs those.
    unlogged: Cell<bool>,
    connect_timeout: Cell<bool>,
    /// `%sq/%bq`: the server's and the backend's queue when the request came.
    queues: Cell<(u32, u32)>,
    /// `timeout queue` expired (termination `sQ`).
    queue_expired: Cell<bool>,
    cookie_flags: Cell<[u8; 2]>,
    request_line: RefCell<Vec<u8>>,
    attempts: Attempts,
    progress: Progress,
    /// Header and cookie captures, when the frontend declares any.
    captures: Option<Captured>,
    /// The connection's TLS outcome (`fe~`, httpslog's fields).
    tls: Option<std::sync::Arc<crate::tls::info::TlsInfo>>,
    /// The address the client connected to, kept only for a custom format
    /// (`%fi`, `%fp`, `dst`).
    dst: Option<SocketAddr>,
    /// The frontend logs a custom format (`dst` is then asked for).
    custom: bool,
}

/// One client connection's log notes in `mode http`.
#[derive(Debug)]
pub struct HttpTrace(Option<Box<HttpInner>>);

impl HttpTrace {
    /// Notes for a connection accepted now; inert unless `log` makes a line
    /// per exchange. `captures`: the frontend's, when it has any.
    pub fn new(
        log: Option<&ProxyLog>,
        peer: Option<SocketAddr>,
        cookie: bool,
        captures: Option<&std::sync::Arc<CaptureSpec>>,
    ) -> HttpTrace {
        let on = log.is_some_and(ProxyLog::logs_traffic);
        HttpTrace(on.then(|| {
            Box::new(HttpInner {
                peer,
                accepted: Instant::now(),
                accepted_wall: SystemTime::now(),
                cookie: Cell::new(cookie),
                start: Cell::new(None),
                first_byte: Cell::new(None),
                head: Cell::new(None),
                connect_start: Cell::new(None),
                connected: Cell::new(None),
                server: Cell::new(None),
                local: Cell::new(false),
                unlogged: Cell::new(false),
                connect_timeout: Cell::new(false),
                queues: Cell::new((0, 0)),
                queue_expired: Cell::new(false),
                cookie_flags: Cell::new(*b"--"),
                request_line: RefCell::new(Vec::new()),
                attempts: Attempts::default(),
                progress: Progress::default(),
                captures: captures.map(|c| Captured::new(c.clone())),
                tls: None,
                dst: None,
                custom: log.is_some_and(|l| l.format == super::Format::Custom),
            })
        }))
    }

    /// Notes the connection's TLS outcome for its lines (`fe~`, httpslog).
    pub fn with_tls(
        mut self,
        tls: Option<&std::sync::Arc<crate::tls::info::TlsInfo>>,
    ) -> HttpTrace {
        if let Some(t) = self.0.as_deref_mut() {
            t.tls = tls.cloned();
        }
        self
    }

    /// Notes the address the client connected to, asked only when the
    /// frontend logs a custom format (it may cost a `getsockname`).
    pub fn with_local(mut self, local: impl FnOnce() -> Option<SocketAddr>) -> HttpTrace {
        if let Some(t) = self.0.as_deref_mut()
            && t.custom
        {
            t.dst = local();
        }
        self
    }

    /// The client's request headers, before any rule changes them (HAProxy
    /// captures as it parses the head).
    pub fn capture_request(&self, headers: &[httparse::Header<'_>]) {
        if let Some(c) = self.on().and_then(|t| t.captures.as_ref()) {
            c.request(headers.iter().map(|h| (h.name.as_bytes(), h.value)));
        }
    }

    /// The exchange's captures, for `http-request capture ... id <n>` and
    /// `http-response capture` ([`Captured::store`]); `None` when the
    /// frontend logs no httplog line or declares no capture.
    pub fn captures(&self) -> Option<&Captured> {
        self.on().and_then(|t| t.captures.as_ref())
    }

    fn on(&self) -> Option<&HttpInner> {
        self.0.as_deref()
    }

    /// An exchange starts; `pipelined` when its first bytes are already buffered.
    pub fn begin(&self, pipelined: bool) {
        let Some(t) = self.on() else { return };
        let now = Instant::now();
        t.start.set(Some(now));
        t.first_byte.set(pipelined.then_some(now));
        for c in [&t.head, &t.connect_start, &t.connected] {
            c.set(None);
        }
        t.server.set(None);
        t.local.set(false);
        t.unlogged.set(false);
        t.connect_timeout.set(false);
        t.queues.set((0, 0));
        t.queue_expired.set(false);
        t.cookie_flags
            .set(if t.cookie.get() { *b"NN" } else { *b"--" });
        t.request_line.borrow_mut().clear();
        t.attempts.retries.set(0);
        t.attempts.redispatched.set(false);
        t.progress.head_at.set(None);
        t.progress.status.set(0);
        t.progress.bytes.set(0);
        t.progress.cause.set(0);
        if let Some(c) = &t.captures {
            c.clear();
        }
    }

    /// Request bytes arrived.
    pub fn got_data(&self) {
        if let Some(t) = self.on()
            && t.first_byte.get().is_none()
        {
            t.first_byte.set(Some(Instant::now()));
        }
    }

    /// The request head is complete at the start of `buf`: keep its first line.
    pub fn request(&self, buf: &[u8]) {
        let Some(t) = self.on() else { return };
        t.head.set(Some(Instant::now()));
        self.request_line(buf);
    }

    /// Keeps the first line of the head at the start of `buf` for the log,
    /// without timing the head (a request a `tcp-request content` rule
    /// refused: HAProxy logs its line with the request timer at -1).
    pub fn request_line(&self, buf: &[u8]) {
        let Some(t) = self.on() else { return };
        // Empty lines before a request are allowed (RFC 9112 §2.2) and skipped
        // by the parser: the request line is the first non-empty one.
        let start = buf
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(buf.len());
        let line = buf[start..]
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut keep = t.request_line.borrow_mut();
        keep.clear();
        keep.extend_from_slice(&line[..line.len().min(REQUEST_LINE_MAX)]);
    }

    /// The response is made by ringlb itself (the stats page).
    pub fn local(&self) {
        if let Some(t) = self.on() {
            t.local.set(true);
        }
    }

    /// The exchange is a `monitor-uri` request, which gets no log line.
    pub fn unlogged(&self) {
        if let Some(t) = self.on() {
            t.unlogged.set(true);
        }
    }

    /// Stickiness: the request's cookie named `named` (a server or none) and
    /// the exchange goes to `chosen`.
    pub fn sticky(&self, named: Option<usize>, chosen: usize) {
        let Some(t) = self.on() else { return };
        if !t.cookie.get() {
            return;
        }
        let mut f = t.cookie_flags.get();
        // N: no cookie, V: valid (followed), D: its server is down.
        f[0] = match named {
            None => b'N',
            Some(s) if s == chosen => b'V',
            Some(_) => b'D',
        };
        t.cookie_flags.set(f);
    }

    /// The exchange was routed to a backend with (or without) cookie stickiness.
    pub fn cookie(&self, on: bool) {
        if let Some(t) = self.on()
            && t.cookie.get() != on
        {
            t.cookie.set(on);
            t.cookie_flags.set(if on { *b"NN" } else { *b"--" });
        }
    }

    /// ringlb inserts its stickiness cookie in the response (`I`).
    pub fn cookie_inserted(&self) {
        if let Some(t) = self.on()
            && t.cookie.get()
        {
            let mut f = t.cookie_flags.get();
            f[1] = b'I';
            t.cookie_flags.set(f);
        }
    }

    /// The request found its server full: the queues' lengths then (`%sq/%bq`).
    pub fn queued(&self, srv_queue: u32, be_queue: u32) {
        if let Some(t) = self.on() {
            t.queues.set((srv_queue, be_queue));
        }
    }

    /// `timeout queue` expired (`sQ`, `Tw` up to now); `server` when the
    /// request waited for one server only.
    pub fn queue_expired(&self, server: Option<usize>) {
        if let Some(t) = self.on() {
            t.connect_start.set(Some(Instant::now()));
            t.server.set(server);
            t.queue_expired.set(true);
            t.progress.cause.set(b's');
        }
    }

    /// An idle pooled connection to `server` is used: connecting took no time.
    pub fn reused(&self, server: usize) {
        if let Some(t) = self.on() {
            let now = Some(Instant::now());
            t.connect_start.set(now);
            t.connected.set(now);
            t.server.set(Some(server));
        }
    }

    /// Connecting to `server` starts (the first attempt of the exchange counts).
    pub fn connecting(&self, server: usize) {
        if let Some(t) = self.on() {
            if t.connect_start.get().is_none() {
                t.connect_start.set(Some(Instant::now()));
            }
            t.server.set(Some(server));
        }
    }

    /// Connected to `server`.
    pub fn connected(&self, server: usize) {
        if let Some(t) = self.on() {
            t.connected.set(Some(Instant::now()));
            t.server.set(Some(server));
        }
    }

    /// Every attempt failed: note the server last tried and whether it timed out.
    pub fn connect_failed(&self, e: &DispatchError, shared: &Shared, backend: usize) {
        if let Some(t) = self.on() {
            let (server, timeout) = failed_server(e, shared, backend);
            if server.is_some() {
                t.server.set(server);
            }
            t.connect_timeout.set(timeout);
        }
    }

    /// Where the dispatcher counts retries, when logging.
    pub fn attempts(&self) -> Option<&Attempts> {
        self.on().map(|t| &t.attempts)
    }

    /// The handle `http/forward.rs` notes the response's progress on.
    pub fn tracker(&self) -> Tracker<'_> {
        Tracker(
            self.on().map(|t| &t.progress),
            self.on().and_then(|t| t.captures.as_ref()),
        )
    }

    /// Who ended the exchange early, when the session loop knows better than
    /// the status it answers (see [`Tracker::cause`]).
    pub fn cause(&self, who: u8) {
        self.tracker().cause(who);
    }

    /// Sends the exchange's line, if this frontend logs one. Called once per
    /// exchange, when its outcome is known.
    /// `backend` is `None` when no backend was chosen (the frontend's name is logged).
    pub fn finish(&self, ctx: &WorkerCtx, fe: usize, backend: Option<usize>, outcome: Outcome) {
        self.finish_with_id(ctx, fe, backend, outcome, None);
    }

    /// [`Self::finish`], with the exchange's unique id and number (`%ID`, `%rt`).
    pub fn finish_with_id(
        &self,
        ctx: &WorkerCtx,
        fe: usize,
        backend: Option<usize>,
        outcome: Outcome,
        uid: Option<&crate::http::unique_id::IdSlot>,
    ) {
        let Some(t) = self.on() else { return };
        let Some(log) = ctx.shared.frontends[fe].log.as_ref() else {
            return;
        };
        if t.unlogged.get() {
            return;
        }
        let received = t.first_byte.get().is_some();
        // A kept-alive or fresh connection that closed without a byte of a new
        // request is not an exchange; `dontlognull` skips empty ones too.
        if !received && (outcome == Outcome::Silent || log.dontlognull) {
            return;
        }
        let now = Some(Instant::now());
        let p = &t.progress;
        let local = t.local.get();
        let (status, bytes) = match outcome {
            Outcome::Done => (i32::from(p.status.get()), p.bytes.get()),
            Outcome::Answered { status, bytes } => (i32::from(status), bytes),
            Outcome::Tunnel { down } => (101, p.bytes.get() + down),
            Outcome::Rejected => (-1, 0),
            Outcome::Silent => {
                let s = match p.status.get() {
                    // The client left mid-request: HAProxy logs the 400 it would answer.
                    0 if t.head.get().is_none() => 400,
                    0 => -1,
                    s => i32::from(s),
                };
                (s, p.bytes.get())
            }
        };
        let term = match outcome {
            Outcome::Done if local => *b"LR",
            Outcome::Done => *b"--",
            // A tunnel ended early (timeout, reset, killed) logs who, in the data phase.
            Outcome::Tunnel { .. } => match p.cause.get() {
                0 => *b"--",
                c => [c, b'D'],
            },
            Outcome::Rejected => *b"PR",
            Outcome::Answered { status, .. } => {
                let cause = match p.cause.get() {
                    0 => cause_of(status, t.connect_timeout.get()),
                    c => c,
                };
                [cause, stage(t, status)]
            }
            Outcome::Silent => {
                let cause = match p.cause.get() {
                    0 => b'C',
                    c => c,
                };
                [cause, stage(t, 0)]
            }
        };
        let [c0, c1] = t.cookie_flags.get();
        let server = t.server.get();
        let fe_rt = &ctx.shared.frontends[fe];
        let be = backend.map(|b| &ctx.shared.backends[b]);
        let request_line = t.request_line.borrow();
        let request_start = t.first_byte.get().or(t.start.get());
        let date = t.accepted_wall
            + request_start.map_or(Duration::ZERO, |s| s.saturating_duration_since(t.accepted));
        let rec = Record {
            client: t.peer,
            date,
            frontend: &fe_rt.name,
            backend: be.map_or(&fe_rt.name, |b| &b.name),
            server: match (local, server, be) {
                (true, ..) => "<STATS>",
                (false, Some(s), Some(be)) => &be.servers[s].name,
                (false, ..) => "<NOSRV>",
            },
            t_request: ms(request_start, t.head.get()),
            t_queue: ms(t.head.get(), t.connect_start.get()),
            t_connect: ms(t.connect_start.get(), t.connected.get()),
            t_response: ms(t.connected.get(), p.head_at.get()),
            t_active: ms(request_start, now),
            t_total: ms(t.start.get(), now),
            status,
            bytes_out: bytes,
            term: [term[0], term[1], c0, c1],
            // The exchange's server connection is released by now.
            conns: conns(&ctx.shared, fe, backend, server.filter(|_| !local), true),
            retries: t.attempts.retries.get(),
            redispatched: t.attempts.redispatched.get(),
            queues: t.queues.get(),
            request: (!request_line.is_empty()).then_some(&request_line[..]),
            captures: t.captures.as_ref(),
            tls: t.tls.as_deref(),
        };
        let Some(level) = log.traffic_level(&rec) else {
            return;
        };
        if log.format == Format::Custom {
            let extra = super::custom::Extra {
                local: t.dst,
                server: server_addr(&ctx.shared, backend, server.filter(|_| !local)),
                http: true,
                uid,
                lc: log.line_number(),
            };
            let mut sc = ctx.scratch.borrow_mut();
            log.send_custom(level, &mut sc, |lf, sc, out| {
                super::custom::render(lf, &rec, extra, sc, out)
            });
            return;
        }
        log.send_with(level, |out| match log.format {
            Format::Http => format::httplog(&rec, out),
            Format::Https => format::httpslog(&rec, out),
            Format::Tcp => format::tcplog(&rec, out),
            Format::Default | Format::Custom => {}
        });
    }
}

/// The address of server `server` of `backend` (`%si`, `%sp`), for custom lines.
pub(super) fn server_addr(
    shared: &Shared,
    backend: Option<usize>,
    server: Option<usize>,
) -> Option<SocketAddr> {
    let s = &shared.backends[backend?].servers[server?];
    match s.address().as_ref() {
        crate::config::model::Address::Inet(a) => Some(*a),
        _ => None,
    }
}

/// The first termination letter for a status ringlb answered itself.
fn cause_of(status: u16, connect_timeout: bool) -> u8 {
    match status {
        408 => b'c',
        504 => b's',
        503 if connect_timeout => b's',
        500..=599 if status != 501 => b'S',
        // 400, 403, 413, 414, 431, 501: the proxy refused the request.
        _ => b'P',
    }
}

/// The second termination letter: the stage the exchange had reached.
fn stage(t: &HttpInner, status: u16) -> u8 {
    if t.local.get() || t.head.get().is_none() {
        b'R'
    } else if t.queue_expired.get() {
        b'Q'
    } else if t.connect_start.get().is_none() {
        // No server could be chosen: the connect stage failed (HAProxy's `SC`).
        if status == 503 { b'C' } else { b'R' }
    } else if t.connected.get().is_none() {
        b'C'
    } else if t.progress.head_at.get().is_none() {
        b'H'
    } else {
        b'D'
    }
}

/// The server a failed dispatch last tried, and whether it timed out.
pub(super) fn failed_server(
    e: &DispatchError,
    shared: &Shared,
    backend: usize,
) -> (Option<usize>, bool) {
    match e {
        DispatchError::NoServer(_) | DispatchError::QueueTimeout(_) => (None, false),
        DispatchError::Unreachable { server, cause, .. } => (
            shared.backends[backend]
                .servers
                .iter()
                .position(|s| &s.name == server),
            matches!(cause, ConnectError::Timeout(_)),
        ),
    }
}

/// HAProxy's default line at accept, when the frontend logs neither httplog
/// nor tcplog: `Connect from <client> to <local address> (<frontend>/<mode>)`.
pub fn connection(ctx: &WorkerCtx, fe: usize, addrs: &crate::route::ConnAddrs) {
    let f = &ctx.shared.frontends[fe];
    let Some(log) = f.log.as_ref().filter(|l| l.format == Format::Default) else {
        return;
    };
    // A PROXY header's addresses where one was read.
    let (peer, local) = (addrs.peer, addrs.local());
    let http = f.mode == crate::config::model::Mode::Http;
    log.send_with(Level::Info, |out| {
        format::connect_line(peer, local, &f.name, http, out);
    });
}
