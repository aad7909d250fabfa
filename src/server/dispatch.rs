//! Choose a server and connect to it: balancing, `retries` and `option redispatch`.
//!
//! A failed connect is retried `retries` times on the same server; with
//! `option redispatch` the last retry goes to another server. Nothing has been
//! sent to any server when a retry happens, so no request is sent twice.

use std::sync::atomic::Ordering;

use super::connect::{ConnectError, connect};
use crate::balance::PickInput;
use crate::runtime::ServerRt;
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
}

/// Counts a server's active connections while alive (leastconn, stats).
#[derive(Debug)]
pub struct ActiveGuard<'a>(&'a ServerRt);

impl<'a> ActiveGuard<'a> {
    /// Counts one more active connection on `server`.
    pub fn new(server: &'a ServerRt) -> Self {
        server.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(server)
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
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
    ctx.balancers.borrow_mut()[backend].pick(servers, input, exclude)
}

/// Connects to `first` (already picked), retrying and redispatching as configured.
/// Returns the server index actually connected and its stream.
pub async fn connect_with_retries(
    ctx: &WorkerCtx,
    backend: usize,
    first: usize,
    input: &PickInput<'_>,
) -> Result<(usize, Stream), DispatchError> {
    let be = &ctx.shared.backends[backend];
    let mut server = first;
    let mut attempt = 0;
    loop {
        let srv = &be.servers[server];
        match connect(&srv.address, be.connect_timeout).await {
            Ok(s) => return Ok((server, s)),
            Err(cause) => {
                if attempt >= be.retries {
                    return Err(DispatchError::Unreachable {
                        backend: be.name.clone(),
                        server: srv.name.clone(),
                        cause,
                    });
                }
                attempt += 1;
                if be.redispatch && attempt == be.retries {
                    server = pick(ctx, backend, input, Some(server)).unwrap_or(server);
                }
            }
        }
    }
}

/// Picks and connects in one step (TCP mode and first requests).
pub async fn dispatch(
    ctx: &WorkerCtx,
    backend: usize,
    input: &PickInput<'_>,
) -> Result<(usize, Stream), DispatchError> {
    let be = &ctx.shared.backends[backend];
    let first =
        pick(ctx, backend, input, None).ok_or_else(|| DispatchError::NoServer(be.name.clone()))?;
    connect_with_retries(ctx, backend, first, input).await
}
