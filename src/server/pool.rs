//! Idle server connections kept per worker for reuse (as HAProxy's `http-reuse`).
//!
//! A connection goes back to the pool only after a complete, delimited
//! response on a connection the server keeps alive. Every reuse is preceded by
//! a non-blocking peek: a connection the server closed, or one holding
//! unsolicited bytes (a late body, a stray response), is dropped instead of
//! carrying a request. The peek is one syscall per reuse, yet skipping it for
//! recently idled connections measured no difference (12.9-13.2 µs of CPU
//! per keep-alive request either way, 2-CPU VM): it stays, as the only way to
//! catch a stray complete response before it answers the next client.
//! Connections idle longer than [`MAX_IDLE`] are closed
//! by [`Pool::reap`], which the worker runs every second, as HAProxy's
//! `pool-purge-delay`; so are those the server closed meanwhile, so that they
//! do not linger in CLOSE-WAIT.
//!
//! Each connection counts the requests it served, so that `http-reuse
//! aggressive` can give a client's first request only a connection already
//! proven reusable (one that served more than one request, as HAProxy's
//! "safe" idle list).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use super::tls_origin::same_sni;
use crate::stream::Stream;

/// Idle time after which a pooled connection is closed.
pub const MAX_IDLE: Duration = Duration::from_secs(5);

/// An idle connection: the socket, the requests it served, when it went idle.
type Idle = (Stream, u32, Instant);

/// Idle connections to one server, most recently used last.
type IdleList = Vec<Idle>;

/// Per-worker idle connections, indexed by backend then server.
#[derive(Debug, Default)]
pub struct Pool {
    idle: RefCell<Vec<Vec<IdleList>>>,
    /// Most idle connections kept per server (the worker's connection budget).
    cap: usize,
    /// Where the counts go for the stats socket's `show servers conn`.
    gauges: Option<std::sync::Arc<crate::admin::live::PoolGauges>>,
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
            gauges: None,
        }
    }

    /// Publishes the idle counts to `gauges` from now on (`show servers conn`).
    pub fn publish_to(mut self, gauges: std::sync::Arc<crate::admin::live::PoolGauges>) -> Self {
        self.gauges = Some(gauges);
        self
    }

    /// Counts one connection that served `served` requests in or out
    /// of server `(b, s)`'s idle list (safe: more than one).
    #[inline]
    fn gauge(&self, b: usize, s: usize, served: u32, add: bool) {
        if let Some(g) = &self.gauges {
            g.bump(b, s, served > 1, add);
        }
    }

    /// Recounts server `(b, s)`'s idle list into the gauges.
    fn regauge(&self, b: usize, s: usize, list: &IdleList) {
        if let Some(g) = &self.gauges {
            let safe = list.iter().filter(|c| c.1 > 1).count() as u32;
            g.set(b, s, list.len() as u32 - safe, safe);
        }
    }

    /// Takes the most recently used live connection to that server (only
    /// one that served more than one request when `proven_only`), with the
    /// requests it served; dead ones met on the way are closed. The
    /// sessions call [`Pool::take_for`] with their SNI; this is the tests' form.
    #[cfg(test)]
    pub fn take(&self, backend: usize, server: usize, proven_only: bool) -> Option<(Stream, u32)> {
        self.take_for(backend, server, proven_only, None)
    }

    /// Takes the most recently used live connection to that server (only
    /// one that served more than one request when `proven_only`), with the
    /// requests it served, among the connections opened with the SNI `sni`
    /// only (`None`: plain ones, or TLS without SNI): HAProxy 2.6 reuses a
    /// connection only for a request with the same SNI.
    pub fn take_for(
        &self,
        backend: usize,
        server: usize,
        proven_only: bool,
        sni: Option<&str>,
    ) -> Option<(Stream, u32)> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(backend)?.get_mut(server)?;
        let fits = |c: &Idle| (!proven_only || c.1 > 1) && same_sni(&c.0, sni);
        while let Some(i) = list.iter().rposition(fits) {
            let (s, served, _) = list.remove(i);
            self.gauge(backend, server, served, false);
            if s.is_idle_and_open() {
                return Some((s, served));
            }
        }
        None
    }

    /// Keeps a connection that served `served` requests for reuse; beyond the
    /// per-server cap it is closed.
    pub fn put(&self, backend: usize, server: usize, stream: Stream, served: u32) {
        let mut idle = self.idle.borrow_mut();
        if let Some(list) = idle.get_mut(backend).and_then(|b| b.get_mut(server))
            && list.len() < self.cap
        {
            list.push((stream, served, crate::deadline::coarse_now().into_std()));
            self.gauge(backend, server, served, true);
        }
    }

    /// Closes connections idle longer than [`MAX_IDLE`] or closed by their server.
    pub fn reap(&self, now: Instant) {
        for (b, servers) in self.idle.borrow_mut().iter_mut().enumerate() {
            for (i, list) in servers.iter_mut().enumerate() {
                list.retain(|(s, _, since)| {
                    now.duration_since(*since) < MAX_IDLE && s.is_idle_and_open()
                });
                self.regauge(b, i, list);
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
            self.regauge(backend, server, list);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_runtime as rt;

    #[test]
    fn closed_or_chatty_connections_are_not_reused() {
        rt().block_on(async {
            let pool = Pool::new(&[1], 8);
            let (a, b) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), 1);
            drop(b);
            assert!(
                pool.take(0, 0, false).is_none(),
                "peer closed: must not be reused"
            );

            let (a, mut b) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), 1);
            use monoio::io::AsyncWriteRentExt;
            let (r, _) = b.write_all(b"stray".to_vec()).await;
            r.unwrap();
            assert!(
                pool.take(0, 0, false).is_none(),
                "unsolicited bytes: must not be reused"
            );

            let (a, _b) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), 1);
            assert!(pool.take(0, 0, false).is_some());
        });
    }

    #[test]
    fn proven_only_takes_connections_that_served_more_than_one_request() {
        rt().block_on(async {
            let pool = Pool::new(&[1], 8);
            let (a, _keep_a) = monoio::net::UnixStream::pair().unwrap();
            let (b, _keep_b) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), 2);
            pool.put(0, 0, Stream::Unix(b), 1);
            let (_, served) = pool.take(0, 0, true).expect("the proven one");
            assert_eq!(served, 2, "skips the newer, unproven connection");
            assert!(
                pool.take(0, 0, true).is_none(),
                "only an unproven one is left"
            );
            assert_eq!(pool.take(0, 0, false).map(|c| c.1), Some(1));
        });
    }

    #[test]
    fn reap_closes_old_and_dead_connections_and_cap_holds() {
        rt().block_on(async {
            let pool = Pool::new(&[1], 2);
            let (a, _keep_a) = monoio::net::UnixStream::pair().unwrap();
            let (c, d) = monoio::net::UnixStream::pair().unwrap();
            let (e, _keep_e) = monoio::net::UnixStream::pair().unwrap();
            pool.put(0, 0, Stream::Unix(a), 1);
            pool.put(0, 0, Stream::Unix(c), 1);
            pool.put(0, 0, Stream::Unix(e), 1);
            assert_eq!(pool.len(), 2, "cap of 2");
            drop(d);
            pool.reap(Instant::now());
            assert_eq!(pool.len(), 1, "the closed one is reaped");
            // Stamps come from the coarse clock (up to two ticks ahead).
            pool.reap(crate::deadline::coarse_now().into_std() + MAX_IDLE);
            assert!(pool.is_empty(), "old ones are reaped");
        });
    }
}
