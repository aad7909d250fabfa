//! Traffic counters: one set per worker, summed only when someone reads them.
//!
//! Each worker writes only its own [`WorkerCounters`] (single writer), so an
//! increment is a plain load and store on a cache line no other core writes;
//! readers (the stats page, the stats socket) add the workers' values up.
//! A worker's maxima are its own; their sum bounds the process's maximum.

use std::sync::atomic::{AtomicU64, Ordering};

/// Adds to a counter only its owning worker writes.
#[inline]
pub fn add(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Raises a maximum only its owning worker writes.
#[inline]
pub fn max(c: &AtomicU64, v: u64) {
    if v > c.load(Ordering::Relaxed) {
        c.store(v, Ordering::Relaxed);
    }
}

/// HTTP response classes counted: 1xx, 2xx, 3xx, 4xx, 5xx, other.
pub const STATUS_CLASSES: usize = 6;

/// Counters of a frontend, a backend or a server (HAProxy's CSV columns).
#[derive(Debug, Default)]
pub struct Counters {
    /// `stot`: sessions (TCP) or exchanges (HTTP) handled.
    pub sessions: AtomicU64,
    /// `scur` on this worker.
    pub current: AtomicU64,
    /// `smax` on this worker.
    pub max_current: AtomicU64,
    /// `bin`: bytes received from the client side.
    pub bytes_in: AtomicU64,
    /// `bout`: bytes sent to the client side.
    pub bytes_out: AtomicU64,
    /// `dreq`: requests denied (`http-request deny`, `tcp-request content reject`).
    pub denied: AtomicU64,
    /// `dcon`: connections rejected by `tcp-request connection` rules.
    pub denied_conn: AtomicU64,
    /// `dresp`: responses denied (`tcp-response content reject`).
    pub denied_resp: AtomicU64,
    /// `ereq`: request errors (malformed, too large, timeouts).
    pub req_errors: AtomicU64,
    /// `econ`: connection errors toward servers.
    pub conn_errors: AtomicU64,
    /// `eresp`: response errors (invalid, timeout, aborted).
    pub resp_errors: AtomicU64,
    /// `wretr`: connection retries.
    pub retries: AtomicU64,
    /// `wredis`: redispatches to another server.
    pub redispatches: AtomicU64,
    /// `req_tot`: HTTP requests.
    pub requests: AtomicU64,
    /// `intercepted`: requests ringlb answered itself (the stats page).
    pub intercepted: AtomicU64,
    /// `hrsp_1xx` .. `hrsp_5xx`, `hrsp_other`.
    pub status: [AtomicU64; STATUS_CLASSES],
    /// `lbtot`: times the balancer chose this server (or this backend's servers).
    pub lbtot: AtomicU64,
    /// `rate`: sessions started over the last second.
    pub rate: Rate,
    /// `rate_max` on this worker.
    pub rate_max: AtomicU64,
    /// Unix time in seconds of the last session started (0: none yet), for `lastsess`.
    pub last_sess: AtomicU64,
    /// Server response times (backends and servers; ringlb's Prometheus histograms).
    pub response_time: super::histogram::Histogram,
}

/// Events per second, as HAProxy's `freq_ctr`: the count of the current
/// second plus the previous second's, weighted by what is left of this one.
/// One writer (the owning worker); readers may see a value one event stale.
#[derive(Debug, Default)]
pub struct Rate {
    /// The second (unix time) `cur` counts.
    sec: AtomicU64,
    /// Events in second `sec`.
    cur: AtomicU64,
    /// Events in the second before `sec`.
    prev: AtomicU64,
}

impl Rate {
    /// Counts one event at `now_ms` (unix milliseconds).
    pub fn hit(&self, now_ms: u64) {
        let sec = now_ms / 1000;
        let at = self.sec.load(Ordering::Relaxed);
        if at != sec {
            let prev = if at + 1 == sec {
                self.cur.load(Ordering::Relaxed)
            } else {
                0
            };
            self.prev.store(prev, Ordering::Relaxed);
            self.cur.store(0, Ordering::Relaxed);
            self.sec.store(sec, Ordering::Relaxed);
        }
        add(&self.cur, 1);
    }

    /// Events over the last second at `now_ms`.
    pub fn read(&self, now_ms: u64) -> u64 {
        let sec = now_ms / 1000;
        let left = 1000 - now_ms % 1000;
        let at = self.sec.load(Ordering::Relaxed);
        let (cur, prev) = (
            self.cur.load(Ordering::Relaxed),
            self.prev.load(Ordering::Relaxed),
        );
        if at == sec {
            cur + (prev * left).div_ceil(1000)
        } else if at + 1 == sec {
            (cur * left).div_ceil(1000)
        } else {
            0
        }
    }
}

impl Counters {
    /// Counts one response status in its class.
    pub fn status(&self, code: u16) {
        let class = match code {
            100..=599 => usize::from(code / 100) - 1,
            _ => STATUS_CLASSES - 1,
        };
        add(&self.status[class], 1);
    }

    /// A session starts: total, current and maximum.
    pub fn open(&self) {
        self.open_at(coarse_unix_ms());
    }

    /// [`Self::open`] at `now` ([`coarse_unix_ms`]), for callers opening
    /// several counters at once with one clock read.
    pub fn open_at(&self, now: u64) {
        add(&self.sessions, 1);
        let cur = self.current.load(Ordering::Relaxed) + 1;
        self.current.store(cur, Ordering::Relaxed);
        max(&self.max_current, cur);
        self.rate.hit(now);
        max(&self.rate_max, self.rate.read(now));
        self.last_sess.store(now / 1000, Ordering::Relaxed);
    }

    /// A session ends.
    pub fn close(&self) {
        let cur = self.current.load(Ordering::Relaxed);
        self.current.store(cur.saturating_sub(1), Ordering::Relaxed);
    }
}

/// The counters' clock on the data path: unix milliseconds from
/// `CLOCK_REALTIME_COARSE` (a few milliseconds coarse, plenty for rates per
/// second and `lastsess`, and read from the vDSO without the TSC: about a
/// third of a precise `SystemTime::now` and its conversion).
pub fn coarse_unix_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// One worker's counters, indexed like the runtime's frontends, backends and servers.
#[derive(Debug)]
pub struct WorkerCounters {
    /// Per frontend.
    pub frontends: Vec<Counters>,
    /// Per backend.
    pub backends: Vec<Counters>,
    /// Per backend, per server.
    pub servers: Vec<Vec<Counters>>,
}

impl WorkerCounters {
    /// Zeroed counters shaped like the configuration.
    pub fn new(frontends: usize, servers_per_backend: &[usize]) -> Self {
        WorkerCounters {
            frontends: (0..frontends).map(|_| Counters::default()).collect(),
            backends: servers_per_backend
                .iter()
                .map(|_| Counters::default())
                .collect(),
            servers: servers_per_backend
                .iter()
                .map(|&n| (0..n).map(|_| Counters::default()).collect())
                .collect(),
        }
    }
}

/// The sum of one counter set over all workers, as plain numbers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// `stot`.
    pub sessions: u64,
    /// `scur`.
    pub current: u64,
    /// `smax` (sum of the workers' maxima).
    pub max_current: u64,
    /// `bin`.
    pub bytes_in: u64,
    /// `bout`.
    pub bytes_out: u64,
    /// `dreq`.
    pub denied: u64,
    /// `dcon`.
    pub denied_conn: u64,
    /// `dresp`.
    pub denied_resp: u64,
    /// `ereq`.
    pub req_errors: u64,
    /// `econ`.
    pub conn_errors: u64,
    /// `eresp`.
    pub resp_errors: u64,
    /// `wretr`.
    pub retries: u64,
    /// `wredis`.
    pub redispatches: u64,
    /// `req_tot`.
    pub requests: u64,
    /// `intercepted`.
    pub intercepted: u64,
    /// `hrsp_1xx` .. `hrsp_other`.
    pub status: [u64; STATUS_CLASSES],
    /// `lbtot`.
    pub lbtot: u64,
    /// `rate`: sessions over the last second, all workers.
    pub rate: u64,
    /// `rate_max` (sum of the workers' maxima).
    pub rate_max: u64,
    /// Unix seconds of the last session on any worker (0: none).
    pub last_sess: u64,
}

impl Totals {
    /// Sums the same counter set (chosen by `pick`) over every worker.
    pub fn sum<'a>(workers: impl IntoIterator<Item = &'a Counters>) -> Totals {
        let mut t = Totals::default();
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let now = crate::check::status::unix_ms();
        for c in workers {
            t.sessions += l(&c.sessions);
            t.current += l(&c.current);
            t.max_current += l(&c.max_current);
            t.bytes_in += l(&c.bytes_in);
            t.bytes_out += l(&c.bytes_out);
            t.denied += l(&c.denied);
            t.denied_conn += l(&c.denied_conn);
            t.denied_resp += l(&c.denied_resp);
            t.req_errors += l(&c.req_errors);
            t.conn_errors += l(&c.conn_errors);
            t.resp_errors += l(&c.resp_errors);
            t.retries += l(&c.retries);
            t.redispatches += l(&c.redispatches);
            t.requests += l(&c.requests);
            t.intercepted += l(&c.intercepted);
            t.lbtot += l(&c.lbtot);
            t.rate += c.rate.read(now);
            t.rate_max += l(&c.rate_max);
            t.last_sess = t.last_sess.max(l(&c.last_sess));
            for (i, s) in c.status.iter().enumerate() {
                t.status[i] += l(s);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_summed() {
        let w = [WorkerCounters::new(1, &[2]), WorkerCounters::new(1, &[2])];
        w[0].frontends[0].open();
        w[1].frontends[0].open();
        w[1].frontends[0].open();
        w[1].frontends[0].close();
        add(&w[0].frontends[0].bytes_in, 10);
        add(&w[1].frontends[0].bytes_in, 5);
        w[0].frontends[0].status(200);
        w[1].frontends[0].status(503);
        w[1].frontends[0].status(42);
        let t = Totals::sum(w.iter().map(|w| &w.frontends[0]));
        assert_eq!(
            (t.sessions, t.current, t.max_current, t.bytes_in),
            (3, 2, 3, 15)
        );
        assert_eq!(t.status, [0, 1, 0, 0, 1, 1]);
        assert_eq!((t.rate, t.rate_max), (3, 3), "all three opened this second");
        assert!(t.last_sess > 0);
    }

    #[test]
    fn rates_slide_over_a_second() {
        let r = Rate::default();
        for _ in 0..10 {
            r.hit(5_000);
        }
        r.hit(5_900);
        assert_eq!(r.read(5_950), 11);
        // Half into the next second: half of the previous second's count.
        assert_eq!(r.read(6_500), 6);
        r.hit(6_500);
        assert_eq!(r.read(6_500), 1 + 6);
        assert_eq!(r.read(8_000), 0, "nothing in the last second");
    }
}
