//! A TCP-mode session from accept to close: the layer-4 content rules, the
//! backend and server choice (`use_backend`, `use-server`, `balance
//! rdp-cookie`), the SNI sent to a TLS server, the connect, then the
//! [`relay`](super::relay) of bytes both ways.

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::time::Duration;

use monoio::io::AsyncWriteRentExt;
use monoio::time::Instant;

use crate::acl::AclSet;
use crate::balance::PickInput;
use crate::balance::rdp_cookie::{self, Scan};
use crate::bufpool;
use crate::config::model::{Balance, TcpAction, TcpRule};
use crate::http::io::{ReadOutcome, read_more_kept};
use crate::http::rules::{Cx, Vars};
use crate::log::tcp::{TcpEnd, TcpTrace};
use crate::route::{ConnAddrs, Stream as RuleStream};
use crate::server::dispatch::{ActiveGuard, DispatchError, dispatch_assigned, dispatch_queued};
use crate::stats::counters;
use crate::stream::Stream;
use crate::tcp::relay::{Halves, relay_spliced};
use crate::tcp::rules::{self, Inspected, Payload, ResponseGate};
use crate::tcp::splice::SpliceOpts;
use crate::tcp::timeouts::RelayTimeouts;
use crate::worker::context::WorkerCtx;

/// Relays a TCP-mode session from accept to close; `addrs` are its
/// addresses (a PROXY header's, where one was read).
pub async fn run(ctx: &WorkerCtx, mut client: Stream, addrs: ConnAddrs, fe: usize, mut vars: Vars) {
    let f = &ctx.shared.frontends[fe];
    let trace = TcpTrace::new(f.log.as_ref(), addrs.peer)
        .with_tls(addrs.tls())
        .with_local(|| addrs.local());
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
        let sample = first_bytes(ctx, addrs, (fe, None), first, Some(vars));
        crate::route::choose(f, &sample, &mut ctx.scratch.borrow_mut())
    } else {
        f.backend
    };
    let Some(backend) = backend else {
        // No rule matched and no default_backend: HAProxy closes the
        // connection, with a FIN (what the client sent is drained first).
        client.discard_pending();
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
        let sample = first_bytes(ctx, addrs, (fe, Some(backend)), first, Some(vars));
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
    if !ctx.shared.backends[backend].needs.sni {
        return SniNames::default();
    }
    let sample = first_bytes(ctx, addrs, (fe, Some(backend)), first, None);
    SniNames::eval(servers, &sample, &mut ctx.scratch.borrow_mut())
}

/// The session as rules and fetches see it before connecting: the bytes
/// read so far (`first`, complete), its addresses, the backend once chosen.
fn first_bytes<'a>(
    ctx: &'a WorkerCtx,
    addrs: &'a ConnAddrs,
    (fe, be): (usize, Option<usize>),
    first: &'a [u8],
    vars: Option<&'a Vars>,
) -> RuleStream<'a, Payload<'a>> {
    RuleStream {
        req: Payload {
            req: first,
            res: None,
            partial: false,
        },
        addrs,
        shared: &ctx.shared,
        fe,
        be,
        vars,
        uid: None,
    }
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
