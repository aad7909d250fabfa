//! Response-time histograms (ringlb's own metrics, not HAProxy's): one per
//! backend and per server in each worker's counters, merged when scraped.
//!
//! Bucket bounds are fixed at build time, so recording is one search over a
//! short constant array and two adds on cells only the owning worker writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::counters::add;

/// Upper bounds of the buckets, in microseconds (Prometheus' `le`, inclusive).
pub const BOUNDS_US: [u64; 14] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000, 30_000_000,
];

/// Buckets: one per bound, then `+Inf`.
pub const BUCKETS: usize = BOUNDS_US.len() + 1;

/// One worker's histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Count of samples per bucket (not cumulative; `+Inf` last).
    buckets: [AtomicU64; BUCKETS],
    /// Sum of all samples, in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one duration (by the owning worker only).
    #[inline]
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US.partition_point(|&b| b < us);
        add(&self.buckets[i], 1);
        add(&self.sum_us, us);
    }
}

/// Histograms summed over the workers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// Count per bucket (not cumulative; `+Inf` last).
    pub buckets: [u64; BUCKETS],
    /// Sum of the samples, in microseconds.
    pub sum_us: u64,
}

impl Merged {
    /// Sums the workers' histograms.
    pub fn sum<'a>(hists: impl IntoIterator<Item = &'a Histogram>) -> Merged {
        let mut m = Merged::default();
        for h in hists {
            for (acc, b) in m.buckets.iter_mut().zip(&h.buckets) {
                *acc += b.load(Ordering::Relaxed);
            }
            m.sum_us += h.sum_us.load(Ordering::Relaxed);
        }
        m
    }

    /// Total samples.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Cumulative counts with their `le` bounds in seconds (`None`: `+Inf`).
    pub fn cumulative(&self) -> impl Iterator<Item = (Option<f64>, u64)> + '_ {
        let mut acc = 0;
        self.buckets.iter().enumerate().map(move |(i, n)| {
            acc += n;
            (BOUNDS_US.get(i).map(|&b| b as f64 / 1e6), acc)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_their_bucket_and_merge() {
        let (a, b) = (Histogram::default(), Histogram::default());
        a.record(Duration::from_micros(1_000)); // on the bound: first bucket
        a.record(Duration::from_micros(1_001));
        b.record(Duration::from_secs(60)); // +Inf
        let m = Merged::sum([&a, &b]);
        assert_eq!(m.buckets[0], 1);
        assert_eq!(m.buckets[1], 1);
        assert_eq!(m.buckets[BUCKETS - 1], 1);
        assert_eq!(m.count(), 3);
        assert_eq!(m.sum_us, 60_002_001);
        let cum: Vec<_> = m.cumulative().collect();
        assert_eq!(cum[0], (Some(0.001), 1));
        assert_eq!(cum[BUCKETS - 1], (None, 3));
        assert!(cum.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}
