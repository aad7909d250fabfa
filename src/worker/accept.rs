//! The accept stage: take a connection within the limits, hand it to its session.
//!
//! Each listener has its own loop, which accepts as HAProxy does: it waits
//! until the process (global `maxconn`), the frontend and the listener
//! (`bind ... maxconn`, where set) have a free slot,
//! then until a connection is pending on its socket, holding no slot while it
//! waits; only then does it take a slot (one atomic operation per limit,
//! `limit.rs`) and accept without waiting, giving the slot back when there
//! was nothing to accept after all (a socket shared by workers, `unix@` or
//! `fd@`, where another worker took it). While the process is full no loop
//! accepts, so excess clients wait in the kernel backlog, and a slot freed by
//! any worker wakes the loops of every worker. On soft stop (SIGUSR1) each
//! TCP listener first refuses new SYNs (unless another process shares it),
//! then the loops stop waiting, accept and serve what the accept queue holds,
//! the listeners close, and the worker returns once its last connection has
//! ended.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};

use monoio::io::Canceller;
use monoio::net::{TcpListener, UnixListener};

use super::context::WorkerCtx;
use super::limit::{Permit, doorbell};
use super::listen::{BoundListener, Listener};
use crate::config::model::Mode;
use crate::stream::Stream;

/// How often a worker closes its stale idle server connections.
const REAP_EVERY: Duration = Duration::from_secs(1);

/// How often a worker looks at the soft-stop flag (and for `shutdown
/// sessions`): a reload's old process stops accepting within this. 25 ms
/// (was 100) took the median reload from 115-122 ms to about HAProxy's;
/// 40 cheap wake-ups a second per worker.
pub const STOP_POLL: Duration = Duration::from_millis(25);

/// How long a stopping listener waits, new SYNs refused, for the handshakes
/// already under way to reach its accept queue.
const SYN_WAIT: Duration = Duration::from_millis(20);

/// Most connections a loop accepts per readiness before it yields to the
/// sessions it started (HAProxy's `tune.maxaccept` is 64).
const MAX_ACCEPT: usize = 16;

/// What a connection's session needs to know of its listener.
struct ListenerTag {
    /// `bind ... accept-proxy`.
    accept_proxy: bool,
    /// Its name in connection-error log lines.
    label: Box<str>,
    /// `bind ... ssl`: a TLS handshake follows the PROXY header.
    tls: Option<std::sync::Arc<crate::tls::bind::BindTls>>,
}

/// A registered listening socket of either kind.
enum Accepting {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Accepting {
    fn register(l: Listener) -> std::io::Result<Self> {
        Ok(match l {
            Listener::Tcp(l) => Accepting::Tcp(TcpListener::from_std(l)?),
            Listener::Unix(l) => Accepting::Unix(UnixListener::from_std(l)?),
        })
    }

    /// Waits until a connection is pending (through the ring, or epoll).
    async fn readable(&self) -> std::io::Result<()> {
        match self {
            Accepting::Tcp(l) => l.readable(false).await,
            Accepting::Unix(l) => l.readable(false).await,
        }
    }

    /// Accepts a pending connection without waiting (the listening socket is
    /// non-blocking): `WouldBlock` when there is none. The peer address is
    /// known only on IP.
    fn accept_now(&self) -> std::io::Result<(Stream, Option<SocketAddr>)> {
        let fd = match self {
            Accepting::Tcp(l) => l.as_raw_fd(),
            Accepting::Unix(l) => l.as_raw_fd(),
        };
        // The epoll driver wants non-blocking sockets; io_uring's own accept
        // gives blocking ones, which its operations expect.
        let flags = if monoio::utils::is_legacy() {
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK
        } else {
            libc::SOCK_CLOEXEC
        };
        // SAFETY: `fd` is the listener's, open while `self` lives; accept4
        // writes at most `len` bytes of address into the storage given.
        let (conn, addr) = unsafe {
            socket2::SockAddr::try_init(|addr, len| {
                let conn = libc::accept4(fd, addr.cast(), len, flags);
                if conn < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(conn)
                }
            })
        }?;
        match self {
            Accepting::Tcp(_) => {
                // SAFETY: `conn` is a new socket that nothing else owns.
                let std = unsafe { std::net::TcpStream::from_raw_fd(conn) };
                let peer = addr.as_socket();
                // TCP_NODELAY comes from the listener (Linux copies it to
                // accepted sockets): no setsockopt per connection.
                Ok((Stream::Tcp(monoio::net::TcpStream::from_std(std)?), peer))
            }
            Accepting::Unix(_) => {
                // SAFETY: `conn` is a new socket that nothing else owns.
                let std = unsafe { StdUnixStream::from_raw_fd(conn) };
                Ok((Stream::Unix(monoio::net::UnixStream::from_std(std)?), None))
            }
        }
    }
}

/// Soft stop, as the accept loops of one worker see it.
#[derive(Default)]
struct Stop {
    set: Cell<bool>,
    /// One waker per accept loop (by its index), replaced at each poll: a
    /// list that only grew made every poll scan it (its `will_wake` check
    /// failed between polls), and under a close load that scan took 40 % of
    /// the worker's CPU.
    waiters: RefCell<Vec<Option<Waker>>>,
}

impl Stop {
    fn set(&self) {
        self.set.set(true);
        for w in self.waiters.take().into_iter().flatten() {
            w.wake();
        }
    }

    /// Runs `f` until it ends (`Some`) or the stop is set (`None`), for the
    /// accept loop `id`.
    async fn or<F: Future>(&self, id: usize, f: F) -> Option<F::Output> {
        let mut f = std::pin::pin!(f);
        poll_fn(|cx| {
            if self.set.get() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(out) = f.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            let mut w = self.waiters.borrow_mut();
            if w.len() <= id {
                w.resize(id + 1, None);
            }
            match &mut w[id] {
                Some(old) if old.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }
}

/// Runs every accept loop of this worker until soft stop and drain;
/// `bell` is this worker's doorbell (`limit.rs`).
pub async fn run(ctx: Rc<WorkerCtx>, listeners: Vec<BoundListener>, bell: StdUnixStream) {
    let canceller = Canceller::new();
    let bell = monoio::spawn(doorbell(ctx.limits.clone(), bell, canceller.handle()));
    let mut loops = Vec::new();
    let mut groups: Vec<GraceGroup> = Vec::new();
    for (id, bl) in listeners.into_iter().enumerate() {
        let grace = ctx.shared.frontends[bl.frontend].model.settings.grace;
        let g = GraceGroup::find(&mut groups, grace.unwrap_or_default());
        if let Listener::Tcp(l) = &bl.listener {
            groups[g].tcp_fds.push(l.as_raw_fd());
        }
        let stop = groups[g].stop.clone();
        let li = bl.maxconn.map(|m| m.index);
        let proxy = Rc::new(ListenerTag {
            accept_proxy: bl.accept_proxy,
            label: bl.label.clone().into(),
            tls: bl.tls.clone(),
        });
        match Accepting::register(bl.listener) {
            Ok(l) => loops.push(monoio::spawn(accept_loop(
                ctx.clone(),
                (l, proxy),
                (bl.frontend, li),
                (stop, id),
            ))),
            Err(e) => eprintln!("[ALERT] worker {}: cannot register listener: {e}", ctx.id),
        }
    }
    let mut last_reap = Instant::now();
    // Housekeeping: the soft-stop flag, `shutdown sessions server` requests
    // (the stats socket cannot wake this worker's sessions itself), stale
    // idle server connections.
    while !ctx.shared.stopping() {
        monoio::time::sleep(STOP_POLL).await;
        crate::server::kill::tick(&ctx.shared);
        if last_reap.elapsed() >= REAP_EVERY {
            last_reap = Instant::now();
            ctx.pool.reap(last_reap);
        }
    }
    stop_groups(&ctx, groups).await;
    for l in loops {
        l.await;
    }
    canceller.cancel();
    bell.await;
    while ctx.limits.open() > 0 {
        monoio::time::sleep(STOP_POLL).await;
        crate::server::kill::tick(&ctx.shared);
    }
}

/// Listeners whose frontends have the same `grace`, stopped together.
struct GraceGroup {
    grace: Duration,
    stop: Rc<Stop>,
    tcp_fds: Vec<std::os::fd::RawFd>,
}

impl GraceGroup {
    /// The index of the group for `grace`, added if new.
    fn find(groups: &mut Vec<GraceGroup>, grace: Duration) -> usize {
        if let Some(i) = groups.iter().position(|g| g.grace == grace) {
            return i;
        }
        groups.push(GraceGroup {
            grace,
            stop: Rc::new(Stop::default()),
            tcp_fds: Vec::new(),
        });
        groups.len() - 1
    }
}

/// Stops the listeners once soft stop is seen: at once, or for a frontend
/// with 1.4's `grace <t>` only `t` later (it keeps accepting meanwhile).
async fn stop_groups(ctx: &WorkerCtx, mut groups: Vec<GraceGroup>) {
    groups.sort_by_key(|g| g.grace);
    let since = Instant::now();
    for g in groups {
        while since.elapsed() < g.grace {
            let left = g.grace.saturating_sub(since.elapsed());
            monoio::time::sleep(left.min(STOP_POLL)).await;
            crate::server::kill::tick(&ctx.shared);
        }
        refuse_syns(ctx, &g.tcp_fds).await;
        g.stop.set();
    }
}

/// No new connection is queued from here on; those whose handshake is under
/// way get [`SYN_WAIT`] to complete, then the loops drain the queues. Not on
/// sockets another process accepts on too (a master's, or taken by a newer
/// process with -x): the filter would refuse its connections. Not either
/// when the kernel moves what a closing listener holds to another one of the
/// same port (`net.ipv4.tcp_migrate_req`): then a reload's new process gets
/// those connections, without the second a dropped SYN costs.
async fn refuse_syns(ctx: &WorkerCtx, tcp_fds: &[std::os::fd::RawFd]) {
    if super::handover::shared() || tcp_fds.is_empty() || super::listen::kernel_migrates() {
        return;
    }
    for &fd in tcp_fds {
        if let Err(e) = super::listen::refuse_new_connections(fd) {
            eprintln!("[WARNING] worker {}: cannot filter a listener: {e}", ctx.id);
        }
    }
    monoio::time::sleep(SYN_WAIT).await;
}

/// Accepts on `l`, for frontend `fe` through listener limit `li` (`bind ...
/// maxconn`, if any), until `stop`; `proxy` says whether it has
/// `accept-proxy`, and its name in logs.
async fn accept_loop(
    ctx: Rc<WorkerCtx>,
    (l, proxy): (Accepting, Rc<ListenerTag>),
    (fe, li): (usize, Option<u32>),
    (stop, id): (Rc<Stop>, usize),
) {
    let proxy = &proxy;
    let limits = &ctx.limits;
    loop {
        // Room first, then a pending connection: neither wait holds a slot,
        // so an idle listener never keeps one from another worker. The loop
        // acts on `stop`, set once the SYN filter is on, never on the
        // soft-stop flag itself: closing earlier would reset what is queued.
        if stop.or(id, limits.room_on(fe, li)).await.is_none() {
            return drain(&ctx, (&l, proxy), (fe, li)).await;
        }
        match stop.or(id, l.readable()).await {
            None => return drain(&ctx, (&l, proxy), (fe, li)).await,
            Some(Ok(())) => {}
            Some(Err(e)) => {
                accept_error(&ctx, e).await;
                continue;
            }
        }
        // Past the rate, connections wait in the backlog (`rate.rs`).
        let rates = &limits.shared().rates;
        let rated = rates.limited(fe);
        if rated && stop.or(id, rates.ready(fe)).await.is_none() {
            return drain(&ctx, (&l, proxy), (fe, li)).await;
        }
        for _ in 0..MAX_ACCEPT {
            if rated && !rates.delay(fe).is_zero() {
                break;
            }
            // Full again (another worker took the last slot): back to waiting.
            let Some(permit) = limits.try_take_on(fe, li) else {
                break;
            };
            match l.accept_now() {
                Ok((stream, peer)) => {
                    if rated {
                        rates.take(fe);
                    }
                    if ctx.shared.debug {
                        let from = peer.map_or_else(|| "unix".to_string(), |p| p.to_string());
                        eprintln!(
                            "{}.accept[w{}]: from [{from}]",
                            ctx.shared.frontends[fe].name, ctx.id
                        );
                    }
                    let at = (fe, proxy.clone());
                    monoio::spawn(session(ctx.clone(), stream, peer, at, permit));
                }
                // Nothing pending (any more): the slot goes back as `permit`
                // drops, and the loop waits for the next connection.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // The client gave up while in the backlog: try the next one.
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    drop(permit);
                    accept_error(&ctx, e).await;
                    break;
                }
            }
        }
    }
}

/// Serves what waits in the listener's accept queue before it closes: the
/// kernel completed those handshakes, their clients may have sent a request
/// already, and closing the socket would reset them. Not when another
/// process accepts on the same socket: the queue is its to serve, and
/// draining it here would keep this process taking new connections.
async fn drain(
    ctx: &Rc<WorkerCtx>,
    (l, proxy): (&Accepting, &Rc<ListenerTag>),
    (fe, li): (usize, Option<u32>),
) {
    if super::handover::shared() {
        return;
    }
    loop {
        ctx.limits.room_on(fe, li).await;
        let Some(permit) = ctx.limits.try_take_on(fe, li) else {
            continue;
        };
        match l.accept_now() {
            Ok((stream, peer)) => {
                let at = (fe, proxy.clone());
                monoio::spawn(session(ctx.clone(), stream, peer, at, permit));
            }
            Err(e)
                if e.raw_os_error() == Some(libc::ECONNABORTED)
                    || e.kind() == std::io::ErrorKind::Interrupted => {}
            // Empty (WouldBlock), or broken: nothing more to serve.
            Err(_) => return,
        }
    }
}

thread_local! {
    /// When this worker last said an accept failed: once a second is enough
    /// while all its accept loops back off from the same EMFILE.
    static LAST_ACCEPT_WARNING: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

async fn accept_error(ctx: &WorkerCtx, e: std::io::Error) {
    // Out of file descriptors (`no strict-limits`): back off instead of
    // spinning on the error.
    let now = Instant::now();
    let say = LAST_ACCEPT_WARNING
        .get()
        .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
    if say {
        LAST_ACCEPT_WARNING.set(Some(now));
        eprintln!("[WARNING] worker {}: accept failed: {e}", ctx.id);
    }
    monoio::time::sleep(Duration::from_millis(100)).await;
}

/// One connection of frontend `fe`, accepted on listener `proxy`.
///
/// An async block rather than an `async fn`: the block keeps the arguments
/// once, where an `async fn` also copies them into locals, and this future
/// is every connection's task.
#[allow(clippy::manual_async_fn)]
fn session(
    ctx: Rc<WorkerCtx>,
    mut client: Stream,
    peer: Option<std::net::SocketAddr>,
    (fe, proxy): (usize, Rc<ListenerTag>),
    permit: Permit,
) -> impl std::future::Future<Output = ()> {
    async move {
        // The connection's `maxconn` slot, held until the session ends.
        let _permit = &permit;
        // `tcp-request connection` rules: a rejected connection is no session
        // and is not logged (HAProxy's denied connection). They see the real
        // addresses, as in HAProxy, and may ask for a PROXY header (`expect-proxy`).
        // On an `ssl` bind they read `ssl_fc` true before the handshake, as there.
        let tls_bind = proxy.tls.is_some();
        let Some((vars, expect)) =
            crate::tcp::rules::connection_accepted(&ctx, fe, &client, peer, tls_bind)
        else {
            return;
        };
        // The PROXY header, before any other byte is read: its addresses are the
        // connection's from here on.
        let mut addrs = if proxy.accept_proxy || expect {
            let got = crate::proxy_protocol::addresses(&ctx, fe, &proxy.label, &client, peer);
            match Box::pin(got).await {
                Some(addrs) => addrs,
                None => return,
            }
        } else {
            crate::route::ConnAddrs::new(client.as_raw_fd(), peer)
        };
        // Listed by the stats socket's `show sess` until the session ends.
        let _listed = ctx
            .shared
            .live
            .workers
            .get(ctx.id)
            .map(|w| w.enter(addrs.peer, fe));
        // `maxsslconn`: a TLS connection waits for a slot before its handshake
        // and holds it until the session ends.
        let _ssl_slot = match &proxy.tls {
            Some(_) => {
                let timeout = ctx.shared.frontends[fe].model.timeouts.client;
                match crate::tls::limit::take(timeout).await {
                    Some(slot) => Some(slot),
                    None => return,
                }
            }
            None => None,
        };
        // TLS after the PROXY header: a failed handshake is logged as HAProxy
        // logs it and reaches no server. Boxed as the header's read is.
        // Assigned in place, as `addrs` below: a second binding would keep
        // a second copy in this future, every connection's task.
        if let Some(bind) = &proxy.tls {
            let tls = crate::tls::accept::handshake(&ctx, fe, &proxy.label, client, bind, &addrs);
            client = match Box::pin(tls).await {
                Some(client) => client,
                None => return,
            };
        }
        addrs.set_tls(client.tls_info());
        let peer = addrs.peer;
        let counters = &ctx.counters().frontends[fe];
        let f = &ctx.shared.frontends[fe];
        if f.model.monitor.from_monitor_net(peer) {
            // Boxed: its timer would pad every connection's task.
            return Box::pin(monitor_net(client, f.mode)).await;
        }
        counters.open();
        // HAProxy's default log line ("Connect from ..."), when the frontend logs
        // without httplog/tcplog; a no-op otherwise.
        crate::log::record::connection(&ctx, fe, &addrs);
        match ctx.shared.frontends[fe].mode {
            Mode::Http => crate::http::session::run(&ctx, client, addrs, fe, vars).await,
            // Boxed: the relay's future is larger than an idle HTTP session's, and
            // every connection's task would be sized for it.
            Mode::Tcp => Box::pin(crate::tcp::session::run(&ctx, client, addrs, fe, vars)).await,
        }
        counters.close();
    }
}

/// HAProxy 1.4's `monitor-net`: a probe from that network gets
/// `HTTP/1.0 200 OK` (mode http) or nothing (mode tcp), then the connection
/// closes, without a log line. The write side is shut first and what the
/// probe sent is drained a moment, so the close does not reset the answer away.
async fn monitor_net(mut client: Stream, mode: Mode) {
    use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
    if mode == Mode::Tcp {
        return;
    }
    let (r, _) = client.write_all(b"HTTP/1.0 200 OK\r\n\r\n".to_vec()).await;
    if r.is_err() || client.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = vec![0u8; 4096];
        for _ in 0..64 {
            let (n, b) = client.read(buf).await;
            buf = b;
            if !matches!(n, Ok(n) if n > 0) {
                break;
            }
        }
    };
    let _ = monoio::time::timeout(Duration::from_secs(1), drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `f` returns, without calling it.
    fn returned_size<A, B, C, D, E, R>(_: impl FnOnce(A, B, C, D, E) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn a_connections_task_stays_small() {
        // Every connection, idle or not, holds this future: 1,680 bytes
        // (4,224 before an inline timer was boxed and copies of the
        // arguments were removed; 640 of a timer, aligned to 128, pad the
        // whole). A timer or a large future awaited inline, not boxed, or an
        // argument kept twice grows it past the bound.
        let size = returned_size(session);
        assert!(size <= 1800, "connection task {size} bytes");
    }
}
