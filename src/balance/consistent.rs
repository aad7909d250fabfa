//! `hash-type consistent`: a hash ring, so that a server leaving moves only
//! the keys it owned and a server coming back takes back only those.
//!
//! Each server owns points on a 32-bit ring, their number proportional to its
//! weight; a key goes to the first point at or after its hash. A point's
//! position depends only on the server's name and the point's number, and the
//! number of points only on the server's own weight, so no change to one
//! server moves a key between two others.
//!
//! Two sorted arrays: `all`, the points of every server (at the last weight
//! each was seen with), rebuilt only when a weight changes; and `live`, `all`
//! filtered to the servers that may receive traffic, rebuilt in one linear
//! pass when a server goes down or up. Lookup reads a bucket index (the top
//! bits of the hash give the range of `live` to search, about 16 points) and
//! then binary-searches that range: a few steps within one or two cache lines.

use super::MAX_WEIGHT;
use super::hash::{fmix64, hash_bytes};
use crate::runtime::ServerRt;

/// The ring aims at this many points per server (smaller spread of shares)...
const POINTS_PER_SERVER: usize = 64;
/// ...with at least this many in all, so that even two servers' shares are
/// within about 1% of their weights (128 KB per array)...
const RING_MIN: usize = 1 << 14;
/// ...and at most this many at the configured weights (2 MB per array).
const RING_MAX: usize = 1 << 18;
/// Points per bucket of the lookup index, on average.
const POINTS_PER_BUCKET: usize = 16;
/// A server never gets more than this many times the average server's points,
/// whatever weight it is given at run time: this bounds the ring's memory.
const MAX_SHARE_FACTOR: f64 = 16.0;

/// A weighted consistent-hash ring.
#[derive(Debug)]
pub struct Ring {
    /// Points per unit of weight, fixed when the backend is built.
    points_per_weight: f64,
    /// Most points one server may own.
    max_points: u32,
    /// Hash of each server's name (its points' seed).
    seeds: Vec<u64>,
    /// The weight each server's points in `all` were made for (0: none).
    ring_weight: Vec<u32>,
    /// Every server's points, sorted: `position << 32 | server index`.
    all: Vec<u64>,
    /// The live servers' points, sorted.
    live: Vec<u64>,
    /// `buckets[b]`: first position in `live` whose point is in bucket `b` or
    /// later, bucket = top `32 - shift` bits of the position; one extra entry
    /// at the end holds `live.len()`.
    buckets: Vec<u32>,
    /// Right shift from a 32-bit position to its bucket.
    shift: u32,
    /// Scratch: which servers are live.
    is_live: Vec<bool>,
}

impl Ring {
    /// A ring for `count` servers whose configured weights are `weights`.
    pub fn new(weights: impl Iterator<Item = u32>, count: usize) -> Ring {
        let total: u64 = weights.map(|w| u64::from(w.min(MAX_WEIGHT))).sum();
        let target = (count * POINTS_PER_SERVER).clamp(RING_MIN, RING_MAX);
        let points_per_weight = (target as f64 / total.max(1) as f64).min(f64::from(1u32 << 14));
        let average = target as f64 / count.max(1) as f64;
        Ring {
            points_per_weight,
            max_points: (average * MAX_SHARE_FACTOR).ceil().max(1.0) as u32,
            seeds: Vec::new(),
            ring_weight: Vec::new(),
            all: Vec::new(),
            live: Vec::new(),
            buckets: Vec::new(),
            shift: 32,
            is_live: Vec::new(),
        }
    }

    /// How many points a server of weight `w` owns.
    fn points(&self, w: u32) -> u32 {
        if w == 0 {
            return 0;
        }
        ((f64::from(w) * self.points_per_weight).round() as u32).clamp(1, self.max_points)
    }

    /// Brings the ring up to date with the live set `(index, weight)`.
    pub fn rebuild(&mut self, servers: &[ServerRt], live: &[(u32, u32)]) {
        let mut regenerate = false;
        if self.seeds.len() != servers.len() {
            self.seeds = servers
                .iter()
                .map(|s| hash_bytes(s.name.as_bytes()))
                .collect();
            // Servers down at start get points at their configured weight,
            // ready for when they come up.
            self.ring_weight = servers
                .iter()
                .map(|s| s.configured_weight.min(MAX_WEIGHT))
                .collect();
            regenerate = true;
        }
        for &(i, w) in live {
            if self.ring_weight[i as usize] != w {
                self.ring_weight[i as usize] = w;
                regenerate = true;
            }
        }
        if regenerate {
            self.all.clear();
            for (i, (&seed, &w)) in self.seeds.iter().zip(&self.ring_weight).enumerate() {
                for p in 0..self.points(w) {
                    let pos = fmix64(seed ^ u64::from(p + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    self.all.push((pos >> 32) << 32 | i as u64);
                }
            }
            self.all.sort_unstable();
        }
        self.is_live.clear();
        self.is_live.resize(servers.len(), false);
        for &(i, _) in live {
            self.is_live[i as usize] = true;
        }
        self.live.clear();
        let is_live = &self.is_live;
        self.live.extend(
            self.all
                .iter()
                .filter(|&&p| is_live[(p & 0xffff_ffff) as usize]),
        );
        self.index();
    }

    /// Rebuilds the bucket index over `live`.
    fn index(&mut self) {
        let bits = (self.live.len() / POINTS_PER_BUCKET).max(1).ilog2().min(20);
        self.shift = 32 - bits;
        let count = 1usize << bits;
        self.buckets.clear();
        let mut k = 0;
        for b in 0..count as u64 {
            while k < self.live.len() && (self.live[k] >> 32) >> self.shift < b {
                k += 1;
            }
            self.buckets.push(k as u32);
        }
        self.buckets.push(self.live.len() as u32);
    }

    /// Position in `live` of the first point at or after 32-bit position `h32`
    /// (`live.len()` when past the last point).
    fn first_at_or_after(&self, h32: u32) -> usize {
        // In u64: with fewer than 32 live points the shift is 32 (one bucket).
        let b = (u64::from(h32) >> self.shift) as usize;
        let (lo, hi) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        let key = u64::from(h32) << 32;
        lo + self.live[lo..hi].partition_point(|&p| p < key)
    }

    /// The server owning hash `h`; with `exclude`, the next other server
    /// clockwise (HAProxy's redispatch on a ring). `None` when none is live.
    pub fn lookup(&self, h: u64, exclude: Option<usize>) -> Option<usize> {
        if self.live.is_empty() {
            return None;
        }
        let start = self.first_at_or_after((h >> 32) as u32) % self.live.len();
        let server = |k: usize| (self.live[k % self.live.len()] & 0xffff_ffff) as usize;
        let first = server(start);
        if Some(first) != exclude {
            return Some(first);
        }
        (1..self.live.len())
            .map(|d| server(start + d))
            .find(|&i| i != first)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn ring_for(s: &[ServerRt]) -> Ring {
        let mut r = Ring::new(s.iter().map(|x| x.configured_weight), s.len());
        let live: Vec<(u32, u32)> = s
            .iter()
            .enumerate()
            .filter(|(_, x)| x.usable())
            .map(|(i, x)| {
                (
                    i as u32,
                    x.weight.load(std::sync::atomic::Ordering::Relaxed),
                )
            })
            .collect();
        r.rebuild(s, &live);
        r
    }

    #[test]
    fn points_follow_weight_and_are_bounded() {
        let s = farm(&[1, 3]);
        let r = ring_for(&s);
        assert_eq!(r.all.len(), RING_MIN);
        assert_eq!(r.points(3), 3 * r.points(1));
        let big = farm(&vec![1; 10_000]);
        let r = ring_for(&big);
        assert!(r.all.len() <= RING_MAX, "{}", r.all.len());
        assert!(r.points(MAX_WEIGHT) <= r.max_points);
    }

    #[test]
    fn weight_change_moves_keys_only_to_or_from_that_server() {
        let s = farm(&[2, 2, 2, 2]);
        let mut r = ring_for(&s);
        let before: Vec<usize> = (0..20_000u64)
            .map(|k| r.lookup(fmix64(k), None).unwrap())
            .collect();
        // Server 1 doubles its weight: keys only move onto it.
        r.rebuild(&s, &[(0, 2), (1, 4), (2, 2), (3, 2)]);
        for (k, &was) in before.iter().enumerate() {
            let now = r.lookup(fmix64(k as u64), None).unwrap();
            assert!(now == was || now == 1, "key {k}: {was} -> {now}");
        }
    }

    #[test]
    fn bucket_index_agrees_with_a_plain_search() {
        for n in [1, 2, 7, 300, 5000] {
            let s = farm(&vec![2; n]);
            let r = ring_for(&s);
            let plain = |h32: u32| r.live.partition_point(|&p| p < u64::from(h32) << 32);
            for k in 0..5000u64 {
                let h32 = (fmix64(k) >> 32) as u32;
                assert_eq!(r.first_at_or_after(h32), plain(h32), "{n} servers, key {k}");
            }
            for h32 in [0, 1, u32::MAX, (r.live[0] >> 32) as u32] {
                assert_eq!(r.first_at_or_after(h32), plain(h32));
            }
        }
        // One live server of a big farm: a few points, a single bucket.
        let s = farm(&vec![1; 10_000]);
        let mut r = Ring::new(s.iter().map(|x| x.configured_weight), s.len());
        r.rebuild(&s, &[(42, 1)]);
        assert!(r.live.len() < 32);
        for k in 0..100u64 {
            assert_eq!(r.lookup(fmix64(k), None), Some(42));
        }
    }

    #[test]
    fn exclude_walks_clockwise_to_another_server() {
        let s = farm(&[1, 1]);
        let r = ring_for(&s);
        for k in 0..100u64 {
            let first = r.lookup(fmix64(k), None).unwrap();
            assert_eq!(r.lookup(fmix64(k), Some(first)), Some(1 - first));
        }
        let one = farm(&[1]);
        let r = ring_for(&one);
        assert_eq!(r.lookup(7, Some(0)), None);
    }
}
