//! The per-server state behind `slowstart`, `observe` and `track`, beside
//! the health flag: atomics the workers and the checker share, never locked.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::config::model::{Observe, ServerHealth};

/// A full weight in slow start's unit (HAProxy's `BE_WEIGHT_SCALE`).
pub const RAMP_FULL: u32 = 16;

/// What workers and the checker share for one server's dynamic health.
#[derive(Debug)]
pub struct HealthRt {
    /// The options as configured.
    pub opts: ServerHealth,
    /// `observe`, kept only when the server is checked (HAProxy ignores it otherwise).
    pub observe: Option<Observe>,
    /// Slow start: the share of the weight in sixteenths ([`RAMP_FULL`]: all of it).
    pub ramp: AtomicU32,
    /// Slow start: Unix milliseconds when the warm-up began (0: not warming up).
    pub warm_since_ms: AtomicU64,
    /// Observe: consecutive errors seen by the workers.
    pub errors: AtomicU32,
    /// Observe: set by the worker whose error reached `error-limit`, taken by
    /// the checker: `(count << 8) | event`, 0 when nothing is pending.
    pub tripped: AtomicU32,
    /// The servers that track this one, as (backend, server) indexes.
    pub trackers: Vec<(usize, usize)>,
}

impl Default for HealthRt {
    fn default() -> HealthRt {
        HealthRt {
            opts: ServerHealth::default(),
            observe: None,
            ramp: AtomicU32::new(RAMP_FULL),
            warm_since_ms: AtomicU64::new(0),
            errors: AtomicU32::new(0),
            tripped: AtomicU32::new(0),
            trackers: Vec::new(),
        }
    }
}

impl HealthRt {
    /// Built from the model; `checked` says whether the server has `check`.
    pub fn new(opts: &ServerHealth, checked: bool) -> HealthRt {
        HealthRt {
            opts: opts.clone(),
            observe: opts.observe.filter(|_| checked),
            ..HealthRt::default()
        }
    }

    /// The slow-start share now, in sixteenths.
    pub fn ramp(&self) -> u32 {
        self.ramp.load(Ordering::Relaxed)
    }
}
