//! Idle server connections kept per worker for reuse (as HAProxy's `http-reuse`).
//!
//! A connection goes back to the pool only after a complete, delimited
//! response on a connection the server keeps alive, with no byte left over.
//! Before reuse a non-blocking peek drops a connection the server closed, or
//! one holding unsolicited bytes (a stray 408 before an idle close), instead
//! of letting it carry a request. The peek is a real syscall, one per request
//! under keep-alive load (as many as all the ring's operations together), so
//! it is skipped when the request can be resent (the exchange replaces a
//! reused connection that dies before answering) and the connection went idle
//! less than [`TRUST_IDLE`] ago: servers close idle connections after seconds,
//! not milliseconds, and the reaper peeks at every one each second anyway.
//! Connections idle longer than [`MAX_IDLE`] are closed
//! by [`Pool::reap`], which the worker runs every second, as HAProxy's
//! `pool-purge-delay`; so are those the server closed meanwhile, so that they
//! do not linger in CLOSE-WAIT.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::stream::Stream;

/// Idle time after which a pooled connection is closed.
pub const MAX_IDLE: Duration = Duration::from_secs(5);

/// Idle time under which a connection is reused without a peek, for requests
/// that can be resent.
pub const TRUST_IDLE: Duration = Duration::from_millis(500);

/// An idle connection, when it went idle, and whether it may skip the peek.
#[derive(Debug)]
struct Idle {
    stream: Stream,
    since: Instant,
    /// False after a bodiless response (HEAD, 204, 304): a sloppy server may
    /// still send a body there, which only a peek finds.
    trusted: bool,
}

/// Idle connections to one server, most recently used last.
type IdleList = Vec<Idle>;

/// Per-worker idle connections, indexed by backend then server.
#[derive(Debug, Default)]
pub struct Pool {
    idle: RefCell<Vec<Vec<IdleList>>>,
    /// Most idle connections kept per server (the worker's connection budget).
    cap: usize,
}

impl Pool {
    /// A pool shaped like the backends (`servers[b]` servers in backend `b`),
    /// keeping at most `cap` idle connections per server.
    pub fn new(servers: &[usize], cap: usize) -> Self {
        Pool {
            idle: RefCell::new(
                servers
                    .iter()
                    .map(|&n| (0..n).map(|_| Vec::new()).collect())
                    .collect(),
            ),
            cap: cap.max(1),
        }
    }

    /// Takes the most recently used live connection to that server, if any,
    /// and whether it was peeked. `resendable`: the caller replaces the
    /// connection if it turns out dead, so a recently idled one is trusted
    /// without a peek.
    pub fn take(&self, backend: usize, server: usize, resendable: bool) -> Option<(Stream, bool)> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(backend)?.get_mut(server)?;
        let mut now = None;
        while let Some(i) = list.pop() {
            if resendable
                && i.trusted
                && now.get_or_insert_with(Instant::now).duration_since(i.since) < TRUST_IDLE
            {
                return Some((i.stream, false));
            }
            if i.stream.is_idle_and_open() {
                return Some((i.stream, true));
            }
        }
        None
    }

    /// Keeps a connection for reuse; beyond the per-server cap it is closed.
    /// `bodiless`: its last response had no body by rule (HEAD, 204, 304).
    pub fn put(&self, backend: usize, server: usize, stream: Stream, bodiless: bool) {
        let mut idle = self.idle.borrow_mut();
        if let Some(list) = idle.get_mut(backend).and_then(|b| b.get_mut(server))
            && list.len() < self.cap
        {
            list.push(Idle {
                stream,
                since: Instant::now(),
                trusted: !bodiless,
            });
        }
    }

    /// Closes connections idle longer than [`MAX_IDLE`] or closed by their server.
    pub fn reap(&self, now: Instant) {
        for servers in self.idle.borrow_mut().iter_mut() {
            for list in servers.iter_mut() {
                list.retain(|i| {
                    now.duration_since(i.since) < MAX_IDLE && i.stream.is_idle_and_open()
                });
            }
        }
    }

    /// Idle connections currently kept, all servers together.
    pub fn len(&self) -> usize {
        self.idle.borrow().iter().flatten().map(Vec::len).sum()
    }

    /// Whether no idle connection is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    #[test]
    fn closed_or_chatty_connections_are_not_reused() {
        rt().block_on(async {
            let pool = Pool::new(&[1], 8);
            let (a, b) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), false);
            drop(b);
            assert!(
                pool.take(0, 0, false).is_none(),
                "peer closed: must not be reused"
            );

            let (a, mut b) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), false);
            use monoio::io::AsyncWriteRentExt;
            let (r, _) = b.write_all(b"stray".to_vec()).await;
            r.unwrap();
            assert!(
                pool.take(0, 0, false).is_none(),
                "unsolicited bytes: must not be reused"
            );

            let (a, _b) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), false);
            assert!(pool.take(0, 0, false).is_some());
        });
    }

    #[test]
    fn a_resendable_request_trusts_a_fresh_connection_only() {
        rt().block_on(async {
            let pool = Pool::new(&[1], 8);
            let (a, b) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), false);
            drop(b);
            assert!(
                matches!(pool.take(0, 0, true), Some((_, false))),
                "idle for microseconds: reused without a peek"
            );

            let (a, b) = monoio::net::UnixStream::pair().unwrap();
            pool.idle.borrow_mut()[0][0].push(Idle {
                stream: Stream::Unix(a),
                since: Instant::now() - TRUST_IDLE,
                trusted: true,
            });
            drop(b);
            assert!(
                pool.take(0, 0, true).is_none(),
                "idle longer than TRUST_IDLE: peeked, and dead"
            );

            let (a, mut b) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), true);
            use monoio::io::AsyncWriteRentExt;
            let (r, _) = b.write_all(b"late body".to_vec()).await;
            r.unwrap();
            assert!(
                pool.take(0, 0, true).is_none(),
                "after a bodiless response: always peeked"
            );
        });
    }

    #[test]
    fn reap_closes_old_and_dead_connections_and_cap_holds() {
        rt().block_on(async {
            let pool = Pool::new(&[1], 2);
            let (a, _keep_a) = monoio::net::UnixStream::pair().unwrap();
            let (c, d) = monoio::net::UnixStream::pair().unwrap();
            let (e, _keep_e) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), false);
            pool.put(0, 0, Stream::Unix(c), false);
            pool.put(0, 0, Stream::Unix(e), false);
            assert_eq!(pool.len(), 2, "cap of 2");
            drop(d);
            pool.reap(Instant::now());
            assert_eq!(pool.len(), 1, "the closed one is reaped");
            pool.reap(Instant::now() + MAX_IDLE);
            assert!(pool.is_empty(), "old ones are reaped");
        });
    }
}
