//! The TCP relay: both directions at once, with half-close and an idle timeout.
//!
//! When one side ends its writes, the other side's write half is shut down and
//! the opposite direction goes on until it ends too. The session expires when
//! neither direction has moved for the timeout (`timeout client` while waiting
//! on the client, `timeout server` while waiting on the server), so a long
//! one-way transfer is never cut for the silence of the other direction. An
//! error on either side shuts both sockets, which wakes the other direction.
//! A tunnel (this relay once connected, or after `101`) uses `timeout
//! tunnel` for both when set; once one side half-closed, the wait on the
//! other is its `-fin` timeout when set (`tcp/timeouts.rs`).

use std::cell::Cell;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::time::Instant;

use crate::acl::AclSet;
use crate::balance::PickInput;
use crate::balance::rdp_cookie::{self, Scan};
use crate::bufpool;
use crate::config::model::{Balance, TcpAction, TcpRule};
use crate::deadline::LazyTimer;
use crate::http::io::{ReadOutcome, WriteFail, read_more_idle, read_more_kept, write_range};
use crate::http::rules::{Cx, Vars};
use crate::log::tcp::{TcpEnd, TcpTrace};
use crate::route::{ConnAddrs, Stream as RuleStream};
use crate::server::dispatch::{ActiveGuard, DispatchError, dispatch_assigned, dispatch_queued};
use crate::stats::counters;
use crate::stream::Stream;
use crate::tcp::rules::{self, Inspected, Payload, ResponseGate};
use crate::tcp::splice::{End as SpliceEnd, Pipes, SpliceOpts, Splicer, When};
use crate::tcp::timeouts::RelayTimeouts;
use crate::worker::context::WorkerCtx;

/// Relays a TCP-mode session from accept to close; `addrs` are its
/// addresses (a PROXY header's, where one was read).
pub async fn run(ctx: &WorkerCtx, mut client: Stream, addrs: ConnAddrs, fe: usize, mut vars: Vars) {
    let f = &ctx.shared.frontends[fe];
    let trace = TcpTrace::new(f.log.as_ref(), addrs.peer).with_tls(addrs.tls());
    // Bytes read before connecting (content rules, `balance rdp-cookie`),
    // sent to the server first; `eof` once the client has closed.
    let (mut first, mut eof) = (Vec::new(), false);
    let read = (&mut first, &mut eof);
    // `sess` and `txn` variables live as long as the connection here
    // (`sess` ones from the connection rules on).
    let st = (&trace, &mut vars);
    let Some((backend, assigned)) = choose_backend(ctx, &mut client, &addrs, fe, st, read).await
    else {
        return;
    };
    connect_and_relay(
        ctx,
        client,
        (&addrs, fe, backend),
        &trace,
        (first, assigned),
    )
    .await;
}

/// Everything before connecting: the frontend's content rules, the backend
/// (`use_backend` on layer-4 fetches and the bytes read so far), a
/// `backend` section's own content rules, the RDP cookie; and the server
/// `use-server` or `persist rdp-cookie` assign. `None` when the session
/// ended here (logged).
async fn choose_backend(
    ctx: &WorkerCtx,
    client: &mut Stream,
    addrs: &ConnAddrs,
    fe: usize,
    (trace, vars): (&TcpTrace, &mut Vars),
    (first, eof): (&mut Vec<u8>, &mut bool),
) -> Option<(usize, Option<(usize, bool)>)> {
    let f = &ctx.shared.frontends[fe];
    let t = &f.model.tcp;
    if !t.content.is_empty() {
        let inspection = (&t.content[..], &f.model.routing.acls, t.inspect_delay);
        let read = (&mut *first, &mut *eof, &mut *vars);
        let end = inspect_request(ctx, client, read, addrs, fe, inspection);
        if let Err(end) = end.await {
            trace.finish(ctx, fe, None, end, None);
            return None;
        }
    }
    // `use_backend` rules run once, on layer-4 fetches and the bytes the
    // content rules waited for (validation refuses HTTP fetches in `mode tcp`).
    let backend = if f.switching {
        let sample = RuleStream {
            req: Payload {
                req: first,
                res: None,
                partial: false,
            },
            addrs,
            shared: &ctx.shared,
            fe,
            be: None,
            vars: Some(vars),
            uid: None,
        };
        crate::route::choose(f, &sample, &mut ctx.scratch.borrow_mut())
    } else {
        f.backend
    };
    let Some(backend) = backend else {
        // No rule matched and no default_backend: HAProxy closes the connection.
        trace.connecting();
        trace.finish(ctx, fe, None, TcpEnd::NoConnection, None);
        return None;
    };
    let be = &ctx.shared.backends[backend];
    // A `backend` section's own content rules, with its own delay.
    let bt = &be.model.tcp;
    if !bt.content.is_empty() {
        let inspection = (&bt.content[..], &be.model.acls.0, bt.inspect_delay);
        let read = (&mut *first, &mut *eof, &mut *vars);
        let end = inspect_request(ctx, client, read, addrs, fe, inspection);
        if let Err(end) = end.await {
            trace.finish(ctx, fe, Some(backend), end, None);
            return None;
        }
    }
    // `balance rdp-cookie` chooses by the client's first packet: read it before
    // dispatching (waiting at most `timeout client`), send it to the server first.
    if let Balance::RdpCookie(name) = &be.model.balance
        && !read_first_packet(client, first, *eof, name.as_bytes(), f.client_timeout).await
    {
        trace.finish(ctx, fe, Some(backend), TcpEnd::ClientGone, None);
        return None;
    }
    let assigned = assigned_server(ctx, addrs, (fe, backend), first, vars);
    Some((backend, assigned))
}

/// The server `use-server` rules, else `persist rdp-cookie`, assign in
/// `mode tcp` (`persist/`), on the bytes read so far, and whether
/// `force-persist` matched (no redispatch then).
fn assigned_server(
    ctx: &WorkerCtx,
    addrs: &ConnAddrs,
    (fe, backend): (usize, usize),
    first: &[u8],
    vars: &Vars,
) -> Option<(usize, bool)> {
    let be = &ctx.shared.backends[backend];
    let rules = &be.model.persistence;
    let mut decision = crate::persist::Decision::default();
    if rules.active() {
        let sample = RuleStream {
            req: Payload {
                req: first,
                res: None,
                partial: false,
            },
            addrs,
            shared: &ctx.shared,
            fe,
            be: Some(backend),
            vars: Some(vars),
            uid: None,
        };
        let mut sc = ctx.scratch.borrow_mut();
        decision = rules.decide(&be.servers, be.model.persist, &sample, &mut sc);
    }
    let forced = decision.persist == crate::persist::Persist::Force;
    let server = decision.server.or_else(|| {
        let name = rules.rdp_cookie.as_deref()?;
        let at = crate::persist::rdp::target(first, name)?;
        crate::persist::rdp::server(&be.model.servers, &be.servers, be.model.persist, at)
    })?;
    Some((server, forced))
}

/// The SNI each `ssl` server with `sni` is sent for this session; empty
/// (no work) when the backend has none.
fn session_sni(
    ctx: &WorkerCtx,
    addrs: &ConnAddrs,
    (fe, backend): (usize, usize),
    first: &[u8],
) -> crate::server::tls_origin::SniNames {
    use crate::server::tls_origin::SniNames;
    let servers = &ctx.shared.backends[backend].model.servers;
    if !SniNames::wanted(servers) {
        return SniNames::default();
    }
    let sample = RuleStream {
        req: Payload {
            req: first,
            res: None,
            partial: false,
        },
        addrs,
        shared: &ctx.shared,
        fe,
        be: Some(backend),
        vars: None,
        uid: None,
    };
    SniNames::eval(servers, &sample, &mut ctx.scratch.borrow_mut())
}

/// Connects to a server of `backend` (sending `first` first) and relays
/// until both sides end, the backend's `tcp-response` rules gating the
/// server's first bytes; logs the session.
async fn connect_and_relay(
    ctx: &WorkerCtx,
    client: Stream,
    (addrs, fe, backend): (&ConnAddrs, usize, usize),
    trace: &TcpTrace,
    (first, assigned): (Vec<u8>, Option<(usize, bool)>),
) {
    let f = &ctx.shared.frontends[fe];
    let be = &ctx.shared.backends[backend];
    let bt = &be.model.tcp;
    let peer = addrs.peer;
    // `server ... ssl sni <expr>`: evaluated on the session (its addresses
    // and the bytes read so far).
    let sni = session_sni(ctx, addrs, (fe, backend), &first);
    let input = PickInput {
        sni: (!sni.is_empty()).then_some(&sni),
        client: peer.map(|p| p.ip()),
        payload: (!first.is_empty()).then_some(first.as_slice()),
        // What a `send-proxy` header names.
        conn: crate::server::proxy_header::Endpoints {
            src: peer,
            dst: addrs.local(),
            // A received PROXY v2 header's authority, passed on as HAProxy 2.6.
            // Else the TLS SNI, as HAProxy 2.6.
            authority: addrs
                .pp_authority()
                .or_else(|| addrs.tls()?.sni.as_deref().map(str::as_bytes)),
            tls: addrs.tls().map(|t| &**t),
            ..Default::default()
        },
        ..PickInput::default()
    };
    let mut waited = crate::server::queue::Waited::default();
    // A server without a port connects to the port the client connected to.
    let dst_port = addrs.local().map(|a| a.port());
    let dispatched = match assigned {
        // `use-server` / `persist rdp-cookie` (`persist/`).
        Some((srv, forced)) => {
            let (noted, connecting) = (trace.attempts(), || trace.connecting());
            let to = (backend, srv, forced);
            dispatch_assigned(ctx, to, &input, noted, &mut waited, connecting, dst_port).await
        }
        None => {
            dispatch_queued(
                ctx,
                backend,
                &input,
                trace.attempts(),
                &mut waited,
                || trace.connecting(),
                dst_port,
            )
            .await
        }
    };
    trace.queued(waited.srv_queue, waited.be_queue);
    let (idx, mut server, _slot) = match dispatched {
        Ok(x) => x,
        Err(e) => {
            // Tw runs to here when no connect was tried (no server, queue expired).
            if !matches!(e, DispatchError::Unreachable { .. }) {
                trace.connecting();
            }
            if ctx.shared.debug {
                eprintln!("[WARNING] {}: {e}", f.name);
            }
            trace.finish(ctx, fe, Some(backend), TcpEnd::NoConnection, Some(&e));
            return;
        }
    };
    trace.connected(idx);
    let active = ActiveGuard::new(ctx, backend, idx);
    let first_len = first.len() as u64;
    if !first.is_empty() {
        let deadline = Instant::now() + be.server_timeout;
        match crate::deadline::within(deadline, server.write_all(first)).await {
            Ok((Ok(_), buf)) => bufpool::give(buf),
            r => {
                let (up, cause) = (first_len, if r.is_err() { b's' } else { b'S' });
                let end = TcpEnd::Relayed { up, down: 0, cause };
                trace.finish(ctx, fe, Some(backend), end, None);
                return;
            }
        }
    }
    let cause = Cell::new(0);
    let gate = (!bt.response.is_empty()).then(|| ResponseGate {
        ctx,
        fe,
        be: backend,
        addrs,
        client_fd: client.as_raw_fd(),
        outcome: Cell::new(None),
    });
    let (client, server) = (Halves::new(client), Halves::new(server));
    // Connected, the content rules done: a tunnel from here (`timeout tunnel`).
    let timeouts = RelayTimeouts::tunnel(
        &f.model.timeouts,
        &be.model.timeouts,
        f.client_timeout,
        be.server_timeout,
    );
    // `shutdown sessions server` shuts both sockets down: the relay ends.
    let fds = [client.fd, server.fd];
    let use_ = crate::server::kill::using(&be.servers[idx], backend, idx, fds);
    let splice = f.model.splice.with(be.model.splice);
    let splice = (splice != SpliceOpts::default()).then_some((splice, &ctx.shared.pipes));
    let relayed = relay_spliced(client, server, timeouts, &cause, gate.as_ref(), splice);
    let (up, down) = relayed.await;
    // Deregistered at once: the relay closed the sockets, and their numbers
    // may be reused.
    if use_.release() {
        cause.set(b'K');
    }
    let fe_counters = &ctx.counters().frontends[fe];
    for c in active.counters().into_iter().chain([fe_counters]) {
        counters::add(&c.bytes_in, up + first_len);
        counters::add(&c.bytes_out, down);
    }
    let up = up + first_len;
    let end = match gate.and_then(|g| g.outcome.get()) {
        Some(Inspected::Verdict(TcpAction::Reject)) => TcpEnd::RejectedResponse { up },
        // A `close` ends both sides on purpose: what failed after it is no cause.
        Some(Inspected::Verdict(TcpAction::Close)) if cause.get() != b'K' => {
            TcpEnd::Relayed { up, down, cause: 0 }
        }
        Some(Inspected::Failed) if cause.get() == 0 => TcpEnd::Relayed {
            up,
            down,
            cause: b'S',
        },
        Some(Inspected::TimedOut) if cause.get() == 0 => TcpEnd::Relayed {
            up,
            down,
            cause: b's',
        },
        _ => TcpEnd::Relayed {
            up,
            down,
            cause: cause.get(),
        },
    };
    trace.finish(ctx, fe, Some(backend), end, None);
}

/// Runs `tcp-request content` rules (`rules`, their ACLs, the delay) on the
/// client's first bytes, reading into `first`. `Err` ends the session with
/// that log state: rejected (counted, the client reset), client gone, or
/// `timeout client` passed first.
async fn inspect_request(
    ctx: &WorkerCtx,
    client: &mut Stream,
    (first, eof, vars): (&mut Vec<u8>, &mut bool, &mut Vars),
    addrs: &ConnAddrs,
    fe: usize,
    (rules, acls, delay): (&[TcpRule], &AclSet, Duration),
) -> Result<(), TcpEnd> {
    let idle = ctx.shared.frontends[fe].client_timeout;
    let v = rules::inspect(client, first, eof, (delay, idle), |p| {
        let cx = Cx {
            addrs,
            shared: &ctx.shared,
            fe,
            be: None,
            server: None,
            body_size: None,
            req_len: p.req.len() as u64,
            uid: None,
            captures: None,
        };
        rules::run_content(vars, |vars, from| {
            let s = RuleStream {
                req: p,
                addrs,
                shared: &ctx.shared,
                fe,
                be: None,
                vars: Some(vars),
                uid: None,
            };
            let sc = &mut ctx.scratch.borrow_mut();
            rules::step((rules, from, acls), &s, &cx, None, sc)
        })
    })
    .await;
    match v {
        Inspected::Verdict(TcpAction::Reject) => {
            counters::add(&ctx.counters().frontends[fe].denied, 1);
            rules::reset_on_close(client.as_raw_fd());
            Err(TcpEnd::RejectedRequest {
                up: first.len() as u64,
            })
        }
        Inspected::Verdict(_) => Ok(()),
        Inspected::Failed => Err(TcpEnd::ClientGone),
        Inspected::TimedOut => Err(TcpEnd::ClientTimeout),
    }
}

/// Reads the client's first bytes (after those already in `got`) until they
/// show whether an RDP cookie is there (HAProxy's `req.rdp_cookie`), the
/// buffer is full, the client ends its writes, or `wait` passes. False when
/// the client failed or closed without sending anything.
async fn read_first_packet(
    client: &mut Stream,
    got: &mut Vec<u8>,
    eof: bool,
    cookie: &[u8],
    wait: Duration,
) -> bool {
    let deadline = Instant::now() + wait;
    if got.capacity() == 0 {
        *got = bufpool::take();
    }
    loop {
        if eof
            || got.len() >= bufpool::BUF_SIZE
            || rdp_cookie::scan(got, cookie) != Scan::Incomplete
        {
            return !got.is_empty() || !eof;
        }
        // Cancel-safe: bytes arriving as the wait ends are kept, not dropped.
        match read_more_kept(client, got, deadline).await {
            ReadOutcome::Data(_) => {}
            ReadOutcome::Timeout => return true,
            ReadOutcome::Eof => return !got.is_empty(),
            ReadOutcome::Error(_) => return false,
        }
    }
}

/// A connection split into halves that can be used at the same time, with
/// its fd kept to shut it down from the other direction on error.
pub struct Halves {
    /// Read half.
    pub r: OwnedReadHalf<Stream>,
    /// Write half.
    pub w: OwnedWriteHalf<Stream>,
    /// The socket, for `shutdown(2)`.
    pub fd: RawFd,
}

impl Halves {
    /// Splits a stream.
    pub fn new(stream: Stream) -> Self {
        let fd = stream.as_raw_fd();
        let (r, w) = stream.into_split();
        Halves { r, w, fd }
    }

    /// Whether the connection is TLS: its socket carries records, so it is
    /// never spliced.
    pub fn is_tls(&self) -> bool {
        // SAFETY: a shared look at the stream's variant, taken before the
        // relay starts, while neither half is reading or writing.
        unsafe { &*self.r.0.get() }.is_tls()
    }
}

/// Relays until both directions end or the session is idle past its timeout.
/// Returns the bytes carried (client→server, server→client).
pub async fn relay(
    client: Stream,
    server: Stream,
    client_timeout: Duration,
    server_timeout: Duration,
) -> (u64, u64) {
    relay_halves(
        Halves::new(client),
        Halves::new(server),
        client_timeout,
        server_timeout,
    )
    .await
}

/// [`relay`] over connections already split (an HTTP tunnel after `101`).
pub async fn relay_halves(
    client: Halves,
    server: Halves,
    client_timeout: Duration,
    server_timeout: Duration,
) -> (u64, u64) {
    relay_noting(
        client,
        server,
        client_timeout,
        server_timeout,
        &Cell::new(0),
    )
    .await
}

/// [`relay_halves`], noting in `cause` which side ended the session early for
/// the log (HAProxy's `C`/`c` client, `S`/`s` server); left 0 when both
/// sides closed normally.
pub async fn relay_noting(
    client: Halves,
    server: Halves,
    client_timeout: Duration,
    server_timeout: Duration,
    cause: &Cell<u8>,
) -> (u64, u64) {
    relay_gated(
        client,
        server,
        (client_timeout, server_timeout),
        cause,
        None,
    )
    .await
}

/// [`relay_noting`], the server's first bytes passing `gate` (the
/// backend's `tcp-response content` rules) before they are relayed; the
/// client's bytes flow meanwhile. A gate that stops the session aborts both
/// directions.
pub async fn relay_gated(
    client: Halves,
    server: Halves,
    timeouts: (Duration, Duration),
    cause: &Cell<u8>,
    gate: Option<&ResponseGate<'_>>,
) -> (u64, u64) {
    let timeouts = RelayTimeouts::plain(timeouts.0, timeouts.1);
    relay_spliced(client, server, timeouts, cause, gate, None).await
}

/// [`relay_gated`], each direction spliced (socket → pipe → socket) as
/// `splice` asks: from its first byte, or after its first full buffer
/// (`splice-auto`), when a pipe is free. The server's bytes that `gate`
/// inspects are copied; splicing starts after it let them pass. Once one
/// side half-closed, the other side's reads wait its `-fin` timeout
/// (`timeouts`) when set.
pub async fn relay_spliced(
    client: Halves,
    server: Halves,
    timeouts: RelayTimeouts,
    cause: &Cell<u8>,
    gate: Option<&ResponseGate<'_>>,
    splice: Option<(SpliceOpts, &Pipes)>,
) -> (u64, u64) {
    let (client_timeout, server_timeout) = (timeouts.client, timeouts.server);
    // TLS: the copy relay (the kernel would move ciphertext).
    let splice = splice.filter(|_| !client.is_tls() && !server.is_tls());
    let up_splice = splice.and_then(|(o, p)| Some((o.up()?, p)));
    let down_splice = splice.and_then(|(o, p)| Some((o.down()?, p)));
    let fds = (client.fd, server.fd);
    let last = Cell::new(Instant::now());
    let ended = Cell::new(false);
    let half = Cell::new(None);
    let up = Ends {
        reader: b'C',
        writer: b'S',
        cause,
        ended: &ended,
        half: &half,
        fin: timeouts.client_fin,
    };
    let down = Ends {
        reader: b'S',
        writer: b'C',
        cause,
        ended: &ended,
        half: &half,
        fin: timeouts.server_fin,
    };
    let (mut sr, mut cw) = (server.r, client.w);
    let downstream = async {
        let mut passed = 0;
        if let Some(g) = gate {
            match g.pass(&mut sr, &mut cw).await {
                Ok(n) => passed = n,
                Err(n) => {
                    ended.set(true);
                    abort(fds);
                    return n;
                }
            }
            last.set(Instant::now());
        }
        let idle = (server_timeout, client_timeout);
        passed + pump(sr, cw, idle, &last, fds, down, down_splice).await
    };
    let upstream = pump(
        client.r,
        server.w,
        (client_timeout, server_timeout),
        &last,
        fds,
        up,
        up_splice,
    );
    if timeouts.client_fin.is_none() && timeouts.server_fin.is_none() {
        // Joined directly: a wrapping future would be polled at every wake.
        return monoio::join!(upstream, downstream);
    }
    let pumps = async { monoio::join!(upstream, downstream) };
    // Biased: the watch is polled after the pumps, in the same pass, so it
    // sees a half-close the moment a pump notes it.
    let watch = fin_watch(&half, &last, timeouts, fds, cause);
    monoio::select! {
        biased;
        carried = pumps => carried,
        never = watch => match never {},
    }
}

/// Once a side half-closed, ends the session when the other side has been
/// idle for its `-fin` timeout. The waiting read's own timer is armed for the
/// longer timeout it had before: this one fires first when the `-fin` one is
/// shorter (the read's deadline follows it when longer, [`Ends::read_deadline`]).
/// Never completes: the pumps end the relay.
async fn fin_watch(
    half: &Cell<Option<(u8, Instant)>>,
    last: &Cell<Instant>,
    timeouts: RelayTimeouts,
    fds: (RawFd, RawFd),
    cause: &Cell<u8>,
) -> std::convert::Infallible {
    let (closed, at) = std::future::poll_fn(|_| match half.get() {
        Some(h) => std::task::Poll::Ready(h),
        None => std::task::Poll::Pending,
    })
    .await;
    let waited = if closed == b'C' { b'S' } else { b'C' };
    if let Some(fin) = timeouts.fin_of(waited) {
        LazyTimer::new().expired(|| at.max(last.get()) + fin).await;
        // HAProxy logs the waited side's timeout (`cD`, `sD`).
        if cause.get() == 0 {
            cause.set(waited.to_ascii_lowercase());
        }
        abort(fds);
    }
    std::future::pending().await
}

/// The two sides of one direction as the log names them, and where the
/// first failure is noted.
#[derive(Clone, Copy)]
struct Ends<'a> {
    reader: u8,
    writer: u8,
    cause: &'a Cell<u8>,
    /// Set by the first direction to end: the second then needs no
    /// `shutdown`, both sockets close as it returns.
    ended: &'a Cell<bool>,
    /// The side that half-closed first (`C` or `S`), and when.
    half: &'a Cell<Option<(u8, Instant)>>,
    /// `reader`'s half-closed timeout (`timeout client-fin`/`server-fin`).
    fin: Option<Duration>,
}

impl Ends<'_> {
    /// When a read from `reader` gives up: `idle` after the last activity,
    /// or its `-fin` timeout once the other side half-closed.
    fn read_deadline(&self, last: &Cell<Instant>, idle: Duration) -> Instant {
        match (self.fin, self.half.get()) {
            (Some(fin), Some((_, at))) => at.max(last.get()) + fin,
            _ => last.get() + idle,
        }
    }

    /// `reader` ended its writes: the first direction to end notes the
    /// half-close and says whether it shuts the peer's write side.
    fn half_closed(&self) -> bool {
        if self.ended.replace(true) {
            return false;
        }
        self.half.set(Some((self.reader, Instant::now())));
        true
    }

    /// `side` (`C` or `S`) failed, or timed out (then lower case).
    fn failed(&self, side: u8, timeout: bool) {
        if self.cause.get() == 0 {
            self.cause.set(if timeout {
                side.to_ascii_lowercase()
            } else {
                side
            });
        }
    }
}

fn abort(fds: (RawFd, RawFd)) {
    for fd in [fds.0, fds.1] {
        // SAFETY: both fds belong to streams that outlive this call (their halves
        // are still held by the running pumps); shutdown does not close the fd.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}

/// One direction. A read waits until the session has been idle for
/// `read_idle` in both directions (the timer, on firing, looks at `last`
/// and the read stays in flight while the other direction is busy); writes are
/// bounded by the destination's timeout, so a peer that stops reading cannot
/// pin the session.
async fn pump(
    mut r: OwnedReadHalf<Stream>,
    mut w: OwnedWriteHalf<Stream>,
    (read_idle, write_idle): (Duration, Duration),
    last: &Cell<Instant>,
    fds: (RawFd, RawFd),
    ends: Ends<'_>,
    mut splice: Option<(When, &Pipes)>,
) -> u64 {
    let mut total = 0u64;
    if let Some((When::Always, pipes)) = splice {
        if let Some(s) = splicer(pipes, fds, ends) {
            // Boxed here and below: held inline, the spliced loop's state
            // would widen every copying direction's future.
            return Box::pin(spliced(s, w, (read_idle, write_idle), last, fds, ends)).await;
        }
        // No pipe free: this direction copies to its end.
        splice = None;
    }
    let mut buf = bufpool::take();
    // One read timer and one write timer for the whole direction, pushed back
    // lazily (see `LazyTimer`): a relay step arms none.
    let mut read_timer = LazyTimer::new();
    let mut write_timer = LazyTimer::new();
    loop {
        let read_deadline = || ends.read_deadline(last, read_idle);
        match read_more_idle(&mut r, &mut buf, &mut read_timer, read_deadline).await {
            ReadOutcome::Data(n) => {
                let now = Instant::now();
                last.set(now);
                total += n as u64;
                let end = buf.len();
                if let Err(e) = write_range(
                    &mut w,
                    &mut buf,
                    (0, end),
                    &mut write_timer,
                    now + write_idle,
                )
                .await
                {
                    ends.failed(ends.writer, matches!(e, WriteFail::Timeout));
                    abort(fds);
                    return total;
                }
                last.set(Instant::now());
                // The buffer was empty before the read: `n` at capacity filled it.
                let filled = n == buf.capacity();
                buf.clear();
                // `splice-auto`: a full buffer is a bulk transfer; tried once.
                if filled
                    && let Some((_, pipes)) = splice.take()
                    && let Some(s) = splicer(pipes, fds, ends)
                {
                    bufpool::give(buf);
                    let t = (read_idle, write_idle);
                    return total + Box::pin(spliced(s, w, t, last, fds, ends)).await;
                }
                bufpool::fit_to_flow(&mut buf, filled, n);
            }
            ReadOutcome::Eof => {
                // Half-close: the peer learns there is no more. Once the other
                // direction has ended too, closing the sockets says it.
                if ends.half_closed() {
                    let _ = w.shutdown().await;
                }
                bufpool::give(buf);
                return total;
            }
            r @ (ReadOutcome::Timeout | ReadOutcome::Error(_)) => {
                ends.failed(ends.reader, matches!(r, ReadOutcome::Timeout));
                abort(fds);
                return total;
            }
        }
    }
}

/// A pipe for this direction (`ends.reader`'s socket to the other), if one is free.
fn splicer<'a>(pipes: &'a Pipes, fds: (RawFd, RawFd), ends: Ends<'_>) -> Option<Splicer<'a>> {
    let (src, dst) = if ends.reader == b'C' {
        (fds.0, fds.1)
    } else {
        (fds.1, fds.0)
    };
    Splicer::new(pipes, src, dst)
}

/// The rest of a direction spliced, ended as [`pump`] ends it: half-close
/// on the source's end, both sockets shut on a failure (noted in `ends`).
/// The halves stay held, and so the sockets open, until it returns.
async fn spliced(
    s: Splicer<'_>,
    mut w: OwnedWriteHalf<Stream>,
    idle: (Duration, Duration),
    last: &Cell<Instant>,
    fds: (RawFd, RawFd),
    ends: Ends<'_>,
) -> u64 {
    let read_deadline = || ends.read_deadline(last, idle.0);
    let (total, end) = s.run_until(read_deadline, idle.1, last).await;
    match end {
        SpliceEnd::Eof => {
            if ends.half_closed() {
                let _ = w.shutdown().await;
            }
        }
        SpliceEnd::ReadFailed(timeout) => {
            ends.failed(ends.reader, timeout);
            abort(fds);
        }
        SpliceEnd::WriteFailed(timeout) => {
            ends.failed(ends.writer, timeout);
            abort(fds);
        }
    }
    total
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
