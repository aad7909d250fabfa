//! Choose a server and connect to it: balancing, `retries` and `option redispatch`.
//!
//! A failed connect is retried `retries` times on the same server; with
//! `option redispatch` the last retry goes to another server. Nothing has been
//! sent to any server when a retry happens, so no request is sent twice.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use super::connect::{ConnectError, connect_from, target};
use super::proxy_header;
use super::queue::{self, Slot, Waited};
use super::tls_origin;
use crate::balance::PickInput;
use crate::runtime::ServerRt;
use crate::stats::counters::{self, Counters};
use crate::stream::Stream;
use crate::worker::context::WorkerCtx;

/// Why no server connection could be had.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// No server is up (HAProxy: 503, termination "sQ"/"SC").
    #[error("no server available in backend '{0}'")]
    NoServer(String),
    /// Every attempt failed (HAProxy: 503 after retries).
    #[error("backend '{backend}': server '{server}' unreachable: {cause}")]
    Unreachable {
        /// Backend name.
        backend: String,
        /// Last server tried.
        server: String,
        /// Last error.
        cause: ConnectError,
    },
    /// The chosen servers were full for `timeout queue` (HAProxy: 503, "sQ").
    #[error("backend '{0}': timeout queue expired")]
    QueueTimeout(String),
}

/// Counts a connection to a server while it is in use: the process-wide
/// `active` count (leastconn, stats) and this worker's backend and server
/// session counters.
#[derive(Debug)]
pub struct ActiveGuard<'a> {
    server: &'a ServerRt,
    counters: [&'a Counters; 2],
}

impl<'a> ActiveGuard<'a> {
    /// Counts one more connection on `server` of `backend`.
    pub fn new(ctx: &'a WorkerCtx, backend: usize, server: usize) -> Self {
        let srv = &ctx.shared.backends[backend].servers[server];
        srv.active.fetch_add(1, Ordering::Relaxed);
        let c = ctx.counters();
        let counters = [&c.backends[backend], &c.servers[backend][server]];
        let now = crate::stats::counters::coarse_unix_ms();
        for c in counters {
            c.open_at(now);
        }
        ActiveGuard {
            server: srv,
            counters,
        }
    }

    /// The backend's and the server's counters, to count what the connection carries.
    pub fn counters(&self) -> [&'a Counters; 2] {
        self.counters
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.server.active.fetch_sub(1, Ordering::Relaxed);
        for c in self.counters {
            c.close();
        }
    }
}

/// Picks a server with the backend's balancer, avoiding `exclude`.
pub fn pick(
    ctx: &WorkerCtx,
    backend: usize,
    input: &PickInput<'_>,
    exclude: Option<usize>,
) -> Option<usize> {
    let servers = &ctx.shared.backends[backend].servers;
    let settings = &ctx.shared.backends[backend].model.settings;
    // `disabled` backend: no server is ever chosen (HAProxy answers 503).
    if settings.disabled {
        return None;
    }
    // `dispatch`: always its address, the backend's last server.
    if settings.dispatch.is_some() {
        return servers.len().checked_sub(1);
    }
    let picked = ctx.balancers.borrow_mut()[backend].pick(servers, input, exclude);
    // `lbtot`: the balancer's choices, on the server and its backend.
    if let Some(s) = picked {
        let c = ctx.counters();
        crate::stats::counters::add(&c.servers[backend][s].lbtot, 1);
        crate::stats::counters::add(&c.backends[backend].lbtot, 1);
    }
    picked
}

/// What connecting took, for the log line: HAProxy's `%rc` (retries, `+`
/// when the last one went to another server).
#[derive(Debug, Default)]
pub struct Attempts {
    /// Connection retries.
    pub retries: Cell<u32>,
    /// A retry was redispatched to another server.
    pub redispatched: Cell<bool>,
}

/// Connects to `first` (already picked), retrying and redispatching as configured.
/// Returns the server index actually connected and its stream.
pub async fn connect_with_retries(
    ctx: &WorkerCtx,
    backend: usize,
    first: usize,
    input: &PickInput<'_>,
    dst_port: Option<u16>,
) -> Result<(usize, Stream), DispatchError> {
    connect_noting(ctx, backend, first, input, None, dst_port).await
}

/// `option nolinger` on a server connection: SO_LINGER 0, so that closing
/// it sends RST (HAProxy sets it on the backend's sockets alike).
fn nolinger(s: &Stream) {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the fd is the connected socket `s` owns, open for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(s.as_raw_fd()) };
    let _ = socket2::SockRef::from(&fd).set_linger(Some(std::time::Duration::ZERO));
}

/// [`connect_with_retries`], counting the attempts in `noted` (for the log).
/// `dst_port` is the port the client connected to, for servers whose port
/// is absent or relative.
pub async fn connect_noting(
    ctx: &WorkerCtx,
    backend: usize,
    first: usize,
    input: &PickInput<'_>,
    noted: Option<&Attempts>,
    dst_port: Option<u16>,
) -> Result<(usize, Stream), DispatchError> {
    let redispatch = ctx.shared.backends[backend].redispatch;
    connect_redispatching(ctx, backend, first, input, noted, dst_port, redispatch).await
}

/// [`connect_noting`] with `redispatch` in place of the backend's `option
/// redispatch` (a `force-persist` request is never redispatched).
pub async fn connect_redispatching(
    ctx: &WorkerCtx,
    backend: usize,
    first: usize,
    input: &PickInput<'_>,
    noted: Option<&Attempts>,
    dst_port: Option<u16>,
    redispatch: bool,
) -> Result<(usize, Stream), DispatchError> {
    let be = &ctx.shared.backends[backend];
    let mut server = first;
    let mut attempt = 0;
    loop {
        let srv = &be.servers[server];
        let connected = match target(&srv.address(), srv.port_offset, dst_port) {
            Ok(addr) => establish(ctx, backend, server, &addr, input).await,
            Err(e) => Err(e),
        };
        match connected {
            Ok(s) => {
                if be.model.nolinger {
                    nolinger(&s);
                }
                crate::check::passive::note(srv, crate::check::passive::Event::L4Ok);
                return Ok((server, s));
            }
            Err(cause) => {
                crate::check::passive::note(srv, crate::check::passive::Event::L4Err);
                let c = ctx.counters();
                counters::add(&c.servers[backend][server].conn_errors, 1);
                counters::add(&c.backends[backend].conn_errors, 1);
                if attempt >= be.retries {
                    return Err(DispatchError::Unreachable {
                        backend: be.name.clone(),
                        server: srv.name.clone(),
                        cause,
                    });
                }
                attempt += 1;
                if let Some(n) = noted {
                    n.retries.set(attempt);
                }
                counters::add(&c.servers[backend][server].retries, 1);
                counters::add(&c.backends[backend].retries, 1);
                if redispatch && redispatches_at(attempt, be.retries, be.model.redispatch_after) {
                    let other = pick(ctx, backend, input, Some(server)).unwrap_or(server);
                    if other != server {
                        if let Some(n) = noted {
                            n.redispatched.set(true);
                        }
                        counters::add(&c.servers[backend][server].redispatches, 1);
                        counters::add(&c.backends[backend].redispatches, 1);
                    }
                    server = other;
                }
            }
        }
    }
}

/// Whether retry number `attempt` (1-based) of `retries` goes to another
/// server: HAProxy's `option redispatch <interval>`, every `after`th retry
/// when positive, when negative the retry `-after - 1` before the last (-1,
/// the default: the last retry).
fn redispatches_at(attempt: u32, retries: u32, after: i32) -> bool {
    let every = if after > 0 {
        after as i64
    } else {
        retries as i64 + 1 + after as i64
    };
    every > 0 && (attempt as i64) % every == 0
}

/// One attempt on `server`: the TCP connect, the PROXY header in clear
/// (`send-proxy[-v2]`, `proxy_header.rs`), then with `ssl` the TLS
/// handshake (`tls_origin.rs`), the connect and the handshake together
/// within `timeout connect`.
async fn establish(
    ctx: &WorkerCtx,
    backend: usize,
    server: usize,
    addr: &crate::config::model::Address,
    input: &PickInput<'_>,
) -> Result<Stream, ConnectError> {
    let be = &ctx.shared.backends[backend];
    let model = &be.model.servers[server];
    let started = monoio::time::Instant::now();
    // `source`: the server's own, else the backend's.
    let from = model.source.or(be.model.settings.source);
    let mut s = connect_from(addr, be.connect_timeout, be.model.keepalive, from).await?;
    if let Some(pp) = &model.send_proxy {
        proxy_header::send(&mut s, pp, &input.conn)
            .await
            .map_err(ConnectError::Io)?;
    }
    let Some(tls) = &model.ssl else {
        return Ok(s);
    };
    let name = match input.sni {
        Some(names) => names.name(tls, server),
        None => tls.server_name(None),
    };
    let deadline = started + be.connect_timeout;
    // Boxed: the handshake holds a rustls connection across awaits, and
    // inline it made every exchange's future (moved into its box once per
    // request) kilobytes larger, TLS or not: +8,600 instructions per plain
    // keep-alive request (`perf/instructions http`).
    Box::pin(tls_origin::handshake(
        s,
        tls,
        name,
        deadline,
        be.connect_timeout,
    ))
    .await
}

/// Picks and connects in one step (TCP mode and first requests).
pub async fn dispatch(
    ctx: &WorkerCtx,
    backend: usize,
    input: &PickInput<'_>,
    dst_port: Option<u16>,
) -> Result<(usize, Stream), DispatchError> {
    dispatch_noting(ctx, backend, input, None, dst_port).await
}

/// [`dispatch`], counting the attempts in `noted` (for the log).
pub async fn dispatch_noting(
    ctx: &WorkerCtx,
    backend: usize,
    input: &PickInput<'_>,
    noted: Option<&Attempts>,
    dst_port: Option<u16>,
) -> Result<(usize, Stream), DispatchError> {
    let be = &ctx.shared.backends[backend];
    let first =
        pick(ctx, backend, input, None).ok_or_else(|| DispatchError::NoServer(be.name.clone()))?;
    connect_noting(ctx, backend, first, input, noted, dst_port).await
}

/// [`dispatch_noting`] behind the servers' `maxconn` (TCP mode): picks, waits
/// in the backend's queue while every server is full (`timeout queue`),
/// then connects. `before_connect` runs once the slot is had (the log's
/// `Tw` ends there). The slot is held until the returned [`Slot`] drops.
pub async fn dispatch_queued<'a>(
    ctx: &'a WorkerCtx,
    backend: usize,
    input: &PickInput<'_>,
    noted: Option<&Attempts>,
    waited: &mut Waited,
    before_connect: impl FnOnce(),
    dst_port: Option<u16>,
) -> Result<(usize, Stream, Slot<'a>), DispatchError> {
    let be = &ctx.shared.backends[backend];
    // `stick` rules (`crate::stick`) before balancing; a match waits in its server's queue.
    let mut stick = crate::stick::Pending::default();
    let stuck = be.stick.as_ref().and_then(|st| {
        let mut sc = ctx.scratch.borrow_mut();
        st.on_connection(input.client, &mut sc, &be.servers, &mut stick)
    });
    let first = stuck
        .or_else(|| pick(ctx, backend, input, None))
        .ok_or_else(|| DispatchError::NoServer(be.name.clone()))?;
    let sticky = stuck.is_some();
    let (first, slot) = queue::acquire(&be.queue, &ctx.limits, &be.servers, first, sticky, waited)
        .await
        .map_err(|_| DispatchError::QueueTimeout(be.name.clone()))?;
    before_connect();
    let (idx, s) = connect_noting(ctx, backend, first, input, noted, dst_port).await?;
    if let Some(st) = &be.stick {
        st.commit(idx, &mut stick);
    }
    Ok((idx, s, slot))
}

/// [`dispatch_queued`] to a server already assigned (`use-server`,
/// `persist rdp-cookie`: `persist/`): no balancing, and a full server is
/// waited for in its own queue, as a persistent request is. `before_connect`
/// runs once the slot is had; `forced` (`force-persist`): no redispatch.
pub async fn dispatch_assigned<'a>(
    ctx: &'a WorkerCtx,
    (backend, assigned, forced): (usize, usize, bool),
    input: &PickInput<'_>,
    noted: Option<&Attempts>,
    waited: &mut Waited,
    before_connect: impl FnOnce(),
    dst_port: Option<u16>,
) -> Result<(usize, Stream, Slot<'a>), DispatchError> {
    let be = &ctx.shared.backends[backend];
    let (first, slot) = queue::acquire(&be.queue, &ctx.limits, &be.servers, assigned, true, waited)
        .await
        .map_err(|_| DispatchError::QueueTimeout(be.name.clone()))?;
    before_connect();
    let redispatch = be.redispatch && !forced;
    let (idx, s) =
        connect_redispatching(ctx, backend, first, input, noted, dst_port, redispatch).await?;
    Ok((idx, s, slot))
}

#[cfg(test)]
mod tests {
    use super::redispatches_at;

    #[test]
    fn redispatch_intervals_as_haproxy() {
        let at = |retries, after| -> Vec<u32> {
            (1..=retries)
                .filter(|&a| redispatches_at(a, retries, after))
                .collect()
        };
        assert_eq!(at(3, -1), [3], "the default: the last retry");
        assert_eq!(at(3, -2), [2], "the one before the last");
        assert_eq!(at(4, 1), [1, 2, 3, 4], "every retry");
        assert_eq!(at(6, 3), [3, 6], "every third");
        assert_eq!(at(3, 0), Vec::<u32>::new(), "off");
        assert_eq!(
            at(2, -5),
            Vec::<u32>::new(),
            "before the first retry: never"
        );
    }
}
