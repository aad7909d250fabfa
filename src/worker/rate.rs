//! Rates of new connections: `rate-limit sessions` per frontend, the global
//! `maxconnrate` / `maxsessrate`, exact enough for the whole process and
//! lock-free.
//!
//! Each rate is one atomic "theoretical arrival time" shared by every worker
//! (the generic cell rate algorithm): a session moves it one interval
//! (1 s / rate) later, and a new session may start while it is less than one
//! second ahead of now, so up to `rate` sessions start at once after a quiet
//! second, then one per interval: the budget of HAProxy's per-second
//! counter. An accept loop waits for the rate before accepting, so the
//! connections beyond it stay in the kernel backlog as with HAProxy; two
//! workers that look at the same moment may each accept one (at most one
//! per worker past the rate).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SECOND_NS: u64 = 1_000_000_000;

/// Nanoseconds since the first call in this process.
fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    // Starts one second in, so the first second's budget is whole.
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX) + SECOND_NS
}

/// One rate: at most `rate` new sessions per second, all workers together.
#[derive(Debug)]
#[repr(align(64))]
pub struct Rate {
    interval_ns: u64,
    /// When the budget is spent (nanoseconds, [`now_ns`]'s clock).
    tat: AtomicU64,
}

impl Rate {
    /// A limit of `per_second` (> 0) sessions each second.
    pub fn new(per_second: u32) -> Self {
        Rate {
            interval_ns: SECOND_NS / u64::from(per_second.max(1)),
            tat: AtomicU64::new(0),
        }
    }

    /// How long until one more session may start (zero: now).
    fn delay_at(&self, now: u64) -> Duration {
        let tat = self.tat.load(Ordering::Relaxed);
        // Allowed while the budget ends less than one second ahead.
        let ahead = tat.saturating_sub(now);
        Duration::from_nanos((ahead + self.interval_ns).saturating_sub(SECOND_NS))
    }

    /// Counts one session started at `now`.
    fn take_at(&self, now: u64) {
        let step = self.interval_ns;
        let _ = self
            .tat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                Some(tat.max(now) + step)
            });
    }
}

/// The process's rates: the global one and each frontend's.
#[derive(Debug, Default)]
pub struct Rates {
    global: Option<Rate>,
    frontends: Vec<Option<Rate>>,
}

impl Rates {
    /// `global`: the lower of `maxconnrate` and `maxsessrate`; `frontends`:
    /// each frontend's `rate-limit sessions`.
    pub fn new(global: Option<u32>, frontends: impl IntoIterator<Item = Option<u32>>) -> Self {
        Rates {
            global: global.map(Rate::new),
            frontends: frontends.into_iter().map(|r| r.map(Rate::new)).collect(),
        }
    }

    fn of(&self, fe: usize) -> impl Iterator<Item = &Rate> {
        self.global
            .iter()
            .chain(self.frontends.get(fe).and_then(Option::as_ref))
    }

    /// How long frontend `fe` must wait before its next session (zero: now).
    pub fn delay(&self, fe: usize) -> Duration {
        let now = now_ns();
        self.of(fe)
            .map(|r| r.delay_at(now))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Waits until frontend `fe` may start a session, without counting it.
    pub async fn ready(&self, fe: usize) {
        loop {
            let d = self.delay(fe);
            if d.is_zero() {
                return;
            }
            monoio::time::sleep(d).await;
        }
    }

    /// Counts a session accepted on frontend `fe`.
    pub fn take(&self, fe: usize) {
        let now = now_ns();
        for r in self.of(fe) {
            r.take_at(now);
        }
    }

    /// Whether frontend `fe` has any rate (else nothing here is touched).
    pub fn limited(&self, fe: usize) -> bool {
        self.of(fe).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions a rate lets start, taking each as soon as allowed, until `end`.
    fn started(r: &Rate, mut now: u64, end: u64) -> u32 {
        let mut n = 0;
        while now <= end {
            let d = r.delay_at(now).as_nanos() as u64;
            if d > 0 {
                now += d;
                continue;
            }
            r.take_at(now);
            n += 1;
        }
        n
    }

    #[test]
    fn a_quiet_second_gives_a_whole_burst_then_one_per_interval() {
        let r = Rate::new(10);
        let t0 = 5 * SECOND_NS;
        for _ in 0..10 {
            assert!(r.delay_at(t0).is_zero());
            r.take_at(t0);
        }
        assert_eq!(r.delay_at(t0), Duration::from_millis(100));
        // 3 s later: 30 more (one each 100 ms), none past the rate.
        assert_eq!(started(&r, t0, t0 + 3 * SECOND_NS), 30);
    }

    #[test]
    fn over_any_long_run_the_rate_holds() {
        let r = Rate::new(7);
        let t0 = SECOND_NS;
        // 10 s: the first second's burst of 7, then 7 a second.
        let n = started(&r, t0, t0 + 10 * SECOND_NS);
        assert!((70..=78).contains(&n), "{n}");
    }

    #[test]
    fn the_strictest_rate_wins() {
        let rates = Rates::new(Some(100), [Some(1), None]);
        rates.take(0);
        assert!(rates.delay(0) > Duration::from_millis(900));
        assert!(rates.delay(1) <= Duration::from_millis(10));
        assert!(!Rates::new(None, [None]).limited(0));
    }
}
