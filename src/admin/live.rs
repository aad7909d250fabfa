//! What the workers publish for the stats socket's run-time views, beside
//! the traffic counters: the last invalid requests (`show errors`), each
//! worker's idle server connections (`show servers conn`), accepted
//! connections (`show activity`) and live sessions (`show sess`).
//!
//! Every piece has a single writer (its worker) or is touched only on an
//! error path; the socket's thread reads them. A session registers once per
//! connection in its worker's table, behind a mutex only the socket's
//! reader ever contends for: two uncontended atomic operations per
//! connection, nothing per request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::errors::Captures;
use crate::config::model::Config;

/// The run-time views, shared by the workers and the stats socket.
#[derive(Debug)]
pub struct Live {
    /// `show errors`: the last invalid request of each frontend.
    pub errors: Captures,
    /// `show servers conn`: idle server connections, per worker.
    pub pools: Vec<Arc<PoolGauges>>,
    /// `show activity` and `show sess`, per worker.
    pub workers: Vec<WorkerLive>,
}

impl Live {
    /// Empty views for `config`'s proxies and `workers` workers.
    pub fn new(config: &Config, workers: usize) -> Live {
        let servers: Vec<usize> = config.backends.iter().map(|b| b.servers.len()).collect();
        Live {
            errors: Captures::new(config.frontends.len(), config.backends.len()),
            pools: (0..workers)
                .map(|_| Arc::new(PoolGauges::new(&servers)))
                .collect(),
            workers: (0..workers).map(|_| WorkerLive::default()).collect(),
        }
    }
}

/// One worker's idle server connections, per backend and server: those that
/// served one request (HAProxy's "unsafe" idle list) and more (its "safe" one).
#[derive(Debug, Default)]
pub struct PoolGauges {
    servers: Vec<Vec<[AtomicU32; 2]>>,
}

impl PoolGauges {
    /// Zeroed gauges shaped like the backends.
    pub fn new(servers_per_backend: &[usize]) -> Self {
        PoolGauges {
            servers: servers_per_backend
                .iter()
                .map(|&n| (0..n).map(|_| Default::default()).collect())
                .collect(),
        }
    }

    fn cell(&self, b: usize, s: usize) -> Option<&[AtomicU32; 2]> {
        self.servers.get(b)?.get(s)
    }

    /// Sets server `s` of backend `b`'s counts (`unsafe_nb`, `safe_nb`); its worker only.
    pub fn set(&self, b: usize, s: usize, unsafe_nb: u32, safe_nb: u32) {
        if let Some(c) = self.cell(b, s) {
            c[0].store(unsafe_nb, Ordering::Relaxed);
            c[1].store(safe_nb, Ordering::Relaxed);
        }
    }

    /// Counts one idle connection in (`add`) or out of server `s` of backend
    /// `b`'s `safe_nb` (`safe`) or `unsafe_nb`; its worker only, so a plain
    /// load and store.
    #[inline]
    pub fn bump(&self, b: usize, s: usize, safe: bool, add: bool) {
        if let Some(c) = self.cell(b, s) {
            let c = &c[usize::from(safe)];
            let v = c.load(Ordering::Relaxed);
            c.store(
                if add { v + 1 } else { v.saturating_sub(1) },
                Ordering::Relaxed,
            );
        }
    }

    /// Server `s` of backend `b`'s counts: (`unsafe_nb`, `safe_nb`).
    pub fn get(&self, b: usize, s: usize) -> (u32, u32) {
        self.cell(b, s).map_or((0, 0), |c| {
            (c[0].load(Ordering::Relaxed), c[1].load(Ordering::Relaxed))
        })
    }
}

/// A live session as `show sess` lists it.
#[derive(Debug, Clone)]
pub struct SessInfo {
    /// The process-wide session number (HAProxy's `uniq_id`).
    pub id: u64,
    /// The client.
    pub src: Option<SocketAddr>,
    /// The frontend (index in `Shared::frontends`).
    pub frontend: usize,
    /// When it was accepted.
    pub since: Instant,
}

/// One worker's activity and sessions.
#[derive(Debug, Default)]
pub struct WorkerLive {
    /// Connections accepted (HAProxy's `accepted`); its worker writes.
    pub accepted: AtomicU64,
    /// Live sessions: a slab (slots reused through the free list).
    sessions: Mutex<Slab>,
}

#[derive(Debug, Default)]
struct Slab {
    slots: Vec<Option<SessInfo>>,
    free: Vec<usize>,
}

/// Numbers sessions across the workers.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(0);

impl WorkerLive {
    /// Registers a session accepted now; it leaves the list when the
    /// returned guard drops.
    pub fn enter(&self, src: Option<SocketAddr>, frontend: usize) -> SessGuard<'_> {
        crate::stats::counters::add(&self.accepted, 1);
        let info = SessInfo {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            src,
            frontend,
            since: Instant::now(),
        };
        let mut slab = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match slab.free.pop() {
            Some(i) => {
                slab.slots[i] = Some(info);
                i
            }
            None => {
                slab.slots.push(Some(info));
                slab.slots.len() - 1
            }
        };
        SessGuard { owner: self, slot }
    }

    /// The live sessions now, oldest slot first.
    pub fn sessions(&self) -> Vec<SessInfo> {
        let slab = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        slab.slots.iter().flatten().cloned().collect()
    }
}

/// A registered session; dropping it takes the session off its worker's list.
#[derive(Debug)]
pub struct SessGuard<'a> {
    owner: &'a WorkerLive,
    slot: usize,
}

impl Drop for SessGuard<'_> {
    fn drop(&mut self) {
        let mut slab = self
            .owner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slab.slots.get_mut(self.slot) {
            *s = None;
            slab.free.push(self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_leave_when_their_guard_drops() {
        let w = WorkerLive::default();
        let a = w.enter(None, 0);
        let b = w.enter("127.0.0.1:5".parse().ok(), 1);
        assert_eq!(w.sessions().len(), 2);
        drop(a);
        assert_eq!(w.sessions().len(), 1);
        assert_eq!(w.sessions()[0].frontend, 1);
        let _c = w.enter(None, 2);
        assert_eq!(w.sessions().len(), 2);
        drop(b);
        assert_eq!(w.accepted.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn gauges_keep_what_their_worker_set() {
        let g = PoolGauges::new(&[2]);
        g.set(0, 1, 3, 4);
        assert_eq!(g.get(0, 1), (3, 4));
        assert_eq!(g.get(0, 0), (0, 0));
        assert_eq!(g.get(5, 0), (0, 0));
    }
}
