//! What one worker owns: its balancers, idle server connections and limits.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::limit::{Limits, WorkerLimits};
use crate::balance::{self, Balancer};
use crate::runtime::Shared;
use crate::server::pool::Pool;
use crate::stats::counters::WorkerCounters;

/// Worker `id`'s part of a budget split over `workers` (the idle server
/// connections it may keep): the parts add up to `max` exactly, except that
/// every worker gets at least one.
pub fn share_of(max: usize, id: usize, workers: usize) -> usize {
    let workers = workers.max(1);
    let part = max / workers + usize::from(id < max % workers);
    part.max(1)
}

/// State owned by one worker thread; shared by its tasks through `Rc`.
pub struct WorkerCtx {
    /// Worker number, 0-based.
    pub id: usize,
    /// The read-only runtime shared by all workers.
    pub shared: Arc<Shared>,
    /// One balancer per backend, indexed like `shared.backends`.
    pub balancers: RefCell<Vec<Box<dyn Balancer>>>,
    /// Idle server connections.
    pub pool: Pool,
    /// The process's `maxconn` limits (global and per frontend), shared by
    /// all workers, and this worker's waiters and open connections.
    pub limits: Rc<WorkerLimits>,
    /// Buffers for ACL evaluation (`use_backend` conditions), reused by every request.
    pub scratch: RefCell<crate::acl::Scratch>,
}

impl WorkerCtx {
    /// This worker's traffic counters.
    pub fn counters(&self) -> &WorkerCounters {
        &self.shared.counters[self.id]
    }

    /// Builds a worker's state; `workers` is the total, to split the idle
    /// connection budget evenly.
    pub fn new(
        id: usize,
        shared: Arc<Shared>,
        limits: Arc<Limits>,
        global_maxconn: usize,
        workers: usize,
    ) -> Rc<Self> {
        let share = |max: usize| share_of(max, id, workers);
        let balancers = shared
            .backends
            .iter()
            .map(|b| balance::for_backend(&b.model, &b.rotation))
            .collect();
        // Idle server connections count against the worker's connection budget.
        let pool = Pool::new(
            &shared
                .backends
                .iter()
                .map(|b| b.servers.len())
                .collect::<Vec<_>>(),
            share(global_maxconn),
        );
        let pool = match shared.live.pools.get(id) {
            Some(g) => pool.publish_to(g.clone()),
            None => pool,
        };
        Rc::new(WorkerCtx {
            id,
            limits: WorkerLimits::new(id, limits),
            balancers: RefCell::new(balancers),
            pool,
            shared,
            scratch: RefCell::new(crate::acl::Scratch::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::share_of;

    #[test]
    fn shares_add_up_to_the_limit() {
        for (max, w) in [(4096, 3), (10, 4), (7, 7), (1000, 16)] {
            let total: usize = (0..w).map(|i| share_of(max, i, w)).sum();
            assert_eq!(total, max, "max {max} over {w}");
        }
    }

    #[test]
    fn every_worker_gets_a_slot() {
        assert_eq!(
            (0..4).map(|i| share_of(2, i, 4)).collect::<Vec<_>>(),
            vec![1, 1, 1, 1]
        );
    }
}
