//! Idle server connections kept per worker for reuse (as HAProxy's `http-reuse`).
//!
//! A connection goes back to the pool only after a complete, delimited
//! response on a connection the server keeps alive. Before reuse, a connection
//! idle for more than [`PEEK_AFTER`] is checked with a non-blocking peek: one
//! the server closed, or that holds unsolicited bytes, is dropped instead of
//! carrying a request. Connections idle for less skip the peek (a syscall per
//! request); the rare server that closes one silently at once is covered by
//! the session's resend of idempotent requests.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::stream::Stream;

/// Idle connections kept per server per worker.
const MAX_IDLE_PER_SERVER: usize = 1024;
/// Idle time beyond which a pooled connection is checked before reuse.
const PEEK_AFTER: Duration = Duration::from_millis(500);

/// Idle connections to one server, most recently used last, with when they went idle.
type IdleList = Vec<(Stream, Instant)>;

/// Per-worker idle connections, indexed by backend then server.
#[derive(Debug, Default)]
pub struct Pool {
    idle: RefCell<Vec<Vec<IdleList>>>,
}

impl Pool {
    /// A pool shaped like the backends: `servers[b]` servers in backend `b`.
    pub fn new(servers: &[usize]) -> Self {
        Pool {
            idle: RefCell::new(
                servers
                    .iter()
                    .map(|&n| (0..n).map(|_| Vec::new()).collect())
                    .collect(),
            ),
        }
    }

    /// Takes the most recently used live connection to that server, if any.
    pub fn take(&self, backend: usize, server: usize) -> Option<Stream> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(backend)?.get_mut(server)?;
        while let Some((s, since)) = list.pop() {
            if since.elapsed() < PEEK_AFTER || s.is_idle_and_open() {
                return Some(s);
            }
        }
        None
    }

    /// Keeps a connection for reuse; beyond the per-server cap it is closed.
    pub fn put(&self, backend: usize, server: usize, stream: Stream) {
        let mut idle = self.idle.borrow_mut();
        if let Some(list) = idle.get_mut(backend).and_then(|b| b.get_mut(server))
            && list.len() < MAX_IDLE_PER_SERVER
        {
            list.push((stream, Instant::now()));
        }
    }

    /// Closes every idle connection to a server (it went down or changed).
    pub fn flush(&self, backend: usize, server: usize) {
        if let Some(list) = self
            .idle
            .borrow_mut()
            .get_mut(backend)
            .and_then(|b| b.get_mut(server))
        {
            list.clear();
        }
    }
}
