//! The accept stage: take a connection within the limits, hand it to its session.
//!
//! Each listener has its own loop. Before accepting, a loop waits until the
//! worker's share of the global and frontend `maxconn` has a free slot; while
//! none is free it does not accept, so excess clients wait in the kernel
//! backlog. On soft
//! stop (SIGUSR1) pending accepts are cancelled, what waits in the accept
//! queue is accepted and served, the listeners close, and the worker returns
//! once its last connection has ended.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};

use monoio::io::{CancelHandle, Canceller};
use monoio::net::{TcpListener, UnixListener};

use super::context::WorkerCtx;
use super::listen::{BoundListener, Listener};
use crate::config::model::Mode;
use crate::stream::Stream;

/// How often a worker closes its stale idle server connections.
const REAP_EVERY: Duration = Duration::from_secs(1);

/// How often a worker looks at the soft-stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// How long a stopping listener waits, new SYNs refused, for the handshakes
/// already under way to reach its accept queue.
const SYN_WAIT: Duration = Duration::from_millis(20);

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

    /// Accepts one connection; the peer address is known only on IP.
    async fn accept(&self, cancel: CancelHandle) -> std::io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            Accepting::Tcp(l) => {
                // TCP_NODELAY comes from the listener (Linux copies it to
                // accepted sockets): no setsockopt per connection.
                let (s, peer) = l.cancelable_accept(cancel).await?;
                Ok((Stream::Tcp(s), Some(peer)))
            }
            Accepting::Unix(l) => {
                let (s, _) = l.cancelable_accept(cancel).await?;
                Ok((Stream::Unix(s), None))
            }
        }
    }
}

/// Runs every accept loop of this worker until soft stop and drain.
pub async fn run(ctx: Rc<WorkerCtx>, listeners: Vec<BoundListener>) {
    let canceller = Canceller::new();
    // Set when the loops are to drain and close; they do not act on the
    // soft-stop flag themselves, or one could close its listener before the
    // SYN filter below is on it.
    let closing = Rc::new(Cell::new(false));
    let mut loops = Vec::new();
    let tcp_fds: Vec<_> = listeners
        .iter()
        .filter_map(|bl| match &bl.listener {
            Listener::Tcp(l) => Some(l.as_raw_fd()),
            Listener::Unix(_) => None,
        })
        .collect();
    for bl in listeners {
        match Accepting::register(bl.listener) {
            Ok(l) => loops.push(monoio::spawn(accept_loop(
                ctx.clone(),
                l,
                bl.frontend,
                (canceller.handle(), closing.clone()),
            ))),
            Err(e) => eprintln!("[ALERT] worker {}: cannot register listener: {e}", ctx.id),
        }
    }
    let mut last_reap = Instant::now();
    while !ctx.shared.stopping() {
        monoio::time::sleep(STOP_POLL).await;
        if last_reap.elapsed() >= REAP_EVERY {
            last_reap = Instant::now();
            ctx.pool.reap(last_reap);
        }
    }
    // No new connection is queued from here on; those whose handshake is
    // under way get SYN_WAIT to complete, then the queues are drained. Not
    // on sockets another process accepts on too (a master's, or taken by a
    // newer process with -x): the filter would refuse its connections.
    let tcp_fds = if super::handover::shared() {
        Vec::new()
    } else {
        tcp_fds
    };
    for &fd in &tcp_fds {
        if let Err(e) = super::listen::refuse_new_connections(fd) {
            eprintln!("[WARNING] worker {}: cannot filter a listener: {e}", ctx.id);
        }
    }
    if !tcp_fds.is_empty() {
        monoio::time::sleep(SYN_WAIT).await;
    }
    closing.set(true);
    canceller.cancel();
    for l in loops {
        l.await;
    }
    while ctx.global_limit.used() > 0 {
        monoio::time::sleep(STOP_POLL).await;
    }
}

// One accept in flight per listener: it is armed only while a slot is free,
// so a worker at its limit leaves connections in the kernel backlog (or to the
// other workers, on a socket they share). Eight in flight made no measurable
// difference to the close scenario (31-35 µs of CPU per connection either way)
// and would let accepts overshoot maxconn.
async fn accept_loop(
    ctx: Rc<WorkerCtx>,
    l: Accepting,
    fe: usize,
    (cancel, closing): (CancelHandle, Rc<Cell<bool>>),
) {
    let (global, frontend) = (&ctx.global_limit, &ctx.frontend_limits[fe]);
    loop {
        global.wait_available().await;
        frontend.wait_available().await;
        if closing.get() {
            return drain(&ctx, &l, fe).await;
        }
        match l.accept(cancel.clone()).await {
            Ok((stream, peer)) => {
                if ctx.shared.debug {
                    let from = peer.map_or_else(|| "unix".to_string(), |p| p.to_string());
                    eprintln!(
                        "{}.accept[w{}]: from [{from}]",
                        ctx.shared.frontends[fe].name, ctx.id
                    );
                }
                // Another listener of this worker may have taken the last slot
                // meanwhile: then this connection waits for one before it is served.
                let permits = (global.acquire().await, frontend.acquire().await);
                monoio::spawn(session(ctx.clone(), stream, peer, fe, permits));
            }
            Err(e) => {
                if closing.get() {
                    return drain(&ctx, &l, fe).await;
                }
                accept_error(&ctx, e).await;
            }
        }
    }
}

/// Serves what waits in the listener's accept queue before it closes: the
/// kernel completed those handshakes, their clients may have sent a request
/// already, and closing the socket would reset them. What arrives after the
/// last accept and before the close is the only thing still refused.
async fn drain(ctx: &Rc<WorkerCtx>, l: &Accepting, fe: usize) {
    let fd = match l {
        Accepting::Tcp(l) => l.as_raw_fd(),
        Accepting::Unix(l) => l.as_raw_fd(),
    };
    loop {
        // SAFETY: accept4 on a listening socket this worker owns, with no
        // address buffer; SOCK_NONBLOCK makes it return EAGAIN once the queue
        // is empty instead of waiting, whatever mode the listener is in.
        let c = unsafe {
            libc::accept4(
                fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        if c < 0 {
            return;
        }
        let stream = match l {
            Accepting::Tcp(_) => {
                // SAFETY: `c` is a connected socket just accepted, owned by nobody else.
                let s = unsafe { std::net::TcpStream::from_raw_fd(c) };
                let peer = s.peer_addr().ok();
                monoio::net::TcpStream::from_std(s)
                    .ok()
                    .map(|s| (Stream::Tcp(s), peer))
            }
            Accepting::Unix(_) => {
                // SAFETY: as above.
                let s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(c) };
                monoio::net::UnixStream::from_std(s)
                    .ok()
                    .map(|s| (Stream::Unix(s), None))
            }
        };
        let Some((stream, peer)) = stream else {
            continue;
        };
        let permits = (
            ctx.global_limit.acquire().await,
            ctx.frontend_limits[fe].acquire().await,
        );
        monoio::spawn(session(ctx.clone(), stream, peer, fe, permits));
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

type Permits = (super::limit::Permit, super::limit::Permit);

async fn session(
    ctx: Rc<WorkerCtx>,
    client: Stream,
    peer: Option<std::net::SocketAddr>,
    fe: usize,
    _permits: Permits,
) {
    let counters = &ctx.counters().frontends[fe];
    counters.open();
    // HAProxy's default log line ("Connect from ..."), when the frontend logs
    // without httplog/tcplog; a no-op otherwise.
    crate::log::record::connection(&ctx, fe, client.as_raw_fd(), peer);
    match ctx.shared.frontends[fe].mode {
        Mode::Http => crate::http::session::run(&ctx, client, peer, fe).await,
        // Boxed: the relay's future is larger than an idle HTTP session's, and
        // every connection's task would be sized for it.
        Mode::Tcp => Box::pin(crate::tcp::relay::run(&ctx, client, peer, fe)).await,
    }
    counters.close();
}
