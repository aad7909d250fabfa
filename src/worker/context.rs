//! What one worker owns: its balancers, idle server connections and limits.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::limit::ConnLimit;
use crate::balance::{self, Balancer};
use crate::runtime::Shared;
use crate::server::pool::Pool;

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
    /// This worker's share of the global `maxconn`.
    pub global_limit: Rc<ConnLimit>,
    /// This worker's share of each frontend's `maxconn`.
    pub frontend_limits: Vec<Rc<ConnLimit>>,
}

impl WorkerCtx {
    /// Builds a worker's state; `workers` is the total, to split limits evenly.
    pub fn new(id: usize, shared: Arc<Shared>, global_maxconn: usize, workers: usize) -> Rc<Self> {
        let share = |max: usize| max.div_ceil(workers.max(1));
        let balancers = shared
            .backends
            .iter()
            .map(|b| balance::for_backend(&b.model))
            .collect();
        let pool = Pool::new(
            &shared
                .backends
                .iter()
                .map(|b| b.servers.len())
                .collect::<Vec<_>>(),
        );
        let frontend_limits = shared
            .frontends
            .iter()
            .map(|f| ConnLimit::new(f.maxconn.map_or(usize::MAX, |m| share(m as usize))))
            .collect();
        Rc::new(WorkerCtx {
            id,
            global_limit: ConnLimit::new(share(global_maxconn)),
            frontend_limits,
            balancers: RefCell::new(balancers),
            pool,
            shared,
        })
    }
}
