//! `hash-type consistent`: HAProxy's hash ring, so that a server leaving moves
//! only the keys it owned, and a key lands on the server HAProxy 2.6 picks.
//!
//! As HAProxy: a server of configured weight `w` owns `w × 16` points
//! (`BE_WEIGHT_SCALE`), of which the first `weight × 16` are on the ring at
//! its current weight; point `n` of the server with id `puid` sits at
//! `full_hash(puid × 4096 + n)` (4096 = 256 weights × 16). The server ids are
//! HAProxy's automatic ones, 1, 2, 3... in declaration order (ringlb has no
//! `id` server keyword). A key goes to the closest point, the one before it
//! when both are as close; redispatch walks on to the next point of another
//! server.
//!
//! Two sorted arrays: `all`, every point of every server, built once; and
//! `live`, the points of the servers that may receive traffic at their
//! current weights, rebuilt in one linear pass when a state or weight changes.
//!
//! `hash-balance-factor` bounds the loads ([`Ring::lookup_bounded`]), as
//! HAProxy's `chash_server_is_eligible`: with `served` requests in the
//! backend, the next one may go to a server only while the server serves
//! fewer than its share, by weight, of `(served + 1) × factor / 100`
//! (rounded up, never below 1); a key whose server is over it walks on along
//! the ring. "Served" is ringlb's count of connections in use on each
//! server (`ServerRt::active`), read per pick (O(servers)).

use std::sync::atomic::Ordering;

use super::MAX_WEIGHT;
use super::hash::full_hash;
use crate::runtime::ServerRt;

/// HAProxy's `BE_WEIGHT_SCALE`: points per unit of weight.
const POINTS_PER_WEIGHT: u32 = 16;
/// HAProxy's `SRV_EWGHT_RANGE`: the span of point numbers reserved per server id.
const ID_SPAN: u32 = (MAX_WEIGHT) * POINTS_PER_WEIGHT;

/// A point: its position in the high 32 bits, then the server index (20 bits)
/// and the point's number for that server (12 bits).
type Point = u64;

fn point(pos: u32, server: usize, n: u32) -> Point {
    u64::from(pos) << 32 | (server as u64) << 12 | u64::from(n)
}

fn pos(p: Point) -> u32 {
    (p >> 32) as u32
}

fn server_of(p: Point) -> usize {
    ((p & 0xffff_ffff) >> 12) as usize
}

fn number(p: Point) -> u32 {
    (p & 0xfff) as u32
}

/// The ring of one backend, as seen by one worker.
#[derive(Debug, Default)]
pub struct Ring {
    /// Every server's points at its configured weight, sorted; built at the first rebuild.
    all: Vec<Point>,
    /// Points on the ring now (of `all`), sorted.
    live: Vec<Point>,
    /// Points each server has on the ring now (0 when not live): HAProxy's
    /// `cur_eweight`, the weight scaled by 16.
    now: Vec<u32>,
    /// Sum of the weights in `now` of the live servers before each one
    /// (HAProxy's `cumulative_weight`).
    before: Vec<u32>,
    /// Sum of `now` (HAProxy's `tot_weight`).
    total: u32,
    /// `hash-balance-factor` (0: loads are not bounded).
    factor: u32,
}

impl Ring {
    /// A ring whose loads are bounded by `hash-balance-factor` (0: not bounded).
    pub fn with_factor(factor: u32) -> Ring {
        Ring {
            factor,
            ..Ring::default()
        }
    }

    /// Server `i`'s current weight as the ring sees it (scaled by 16; 0 when not live).
    pub fn weight_of(&self, i: usize) -> u32 {
        self.now.get(i).copied().unwrap_or(0)
    }

    /// Places every server's points (once: they depend only on ids and
    /// configured weights).
    fn place(&mut self, servers: &[ServerRt]) {
        self.all.clear();
        for (i, s) in servers.iter().enumerate() {
            let puid = i as u32 + 1;
            for n in 0..s.configured_weight.min(MAX_WEIGHT) * POINTS_PER_WEIGHT {
                let at = full_hash(puid.wrapping_mul(ID_SPAN).wrapping_add(n));
                self.all.push(point(at, i, n));
            }
        }
        self.all.sort_unstable();
    }

    /// Rebuilds the live ring from the live set: (server index, weight).
    pub fn rebuild(&mut self, servers: &[ServerRt], live: &[(u32, u32)]) {
        if self.all.is_empty() || self.now.len() != servers.len() {
            self.place(servers);
        }
        self.now.clear();
        self.now.resize(servers.len(), 0);
        for &(i, w) in live {
            self.now[i as usize] = w.min(MAX_WEIGHT) * POINTS_PER_WEIGHT;
        }
        self.before.clear();
        self.total = 0;
        for &w in &self.now {
            self.before.push(self.total);
            self.total += w;
        }
        let now = &self.now;
        self.live.clear();
        self.live
            .extend(self.all.iter().filter(|&&p| number(p) < now[server_of(p)]));
    }

    /// The server for hash `h`: the closest point (the earlier one on a tie),
    /// then the following points until one is not `exclude`.
    pub fn lookup(&self, h: u32, exclude: Option<usize>) -> Option<usize> {
        self.walk(h, |i| Some(i) != exclude)
    }

    /// [`Ring::lookup`] skipping, with `hash-balance-factor`, the servers
    /// over their bound; when none is under it (a count racing with the
    /// reads), the unbounded choice.
    pub fn lookup_bounded(
        &self,
        servers: &[ServerRt],
        h: u32,
        exclude: Option<usize>,
    ) -> Option<usize> {
        if self.factor == 0 || self.total == 0 {
            return self.lookup(h, exclude);
        }
        let served: u64 = servers
            .iter()
            .map(|s| s.active.load(Ordering::Relaxed))
            .sum();
        self.walk(h, |i| {
            Some(i) != exclude && servers[i].active.load(Ordering::Relaxed) < self.slots(i, served)
        })
        .or_else(|| self.lookup(h, exclude))
    }

    /// How many requests server `i` may serve while the backend serves
    /// `served`, counting the one being placed (HAProxy's formula, its
    /// rounding included).
    fn slots(&self, i: usize, served: u64) -> u64 {
        let total = u64::from(self.total);
        let tot_slots = ((served + 1) * u64::from(self.factor)).div_ceil(100);
        let (per_weight, rest) = (tot_slots / total, tot_slots % total);
        let (w, before) = (u64::from(self.now[i]), u64::from(self.before[i]));
        let slots = w * per_weight + ((before + w) * rest) / total - (before * rest) / total;
        slots.max(1)
    }

    /// The server of the point closest to `h` (the earlier one on a tie), or
    /// of the first point after it whose server `ok` accepts.
    fn walk(&self, h: u32, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.live.len();
        if n == 0 {
            return None;
        }
        let mut next = self.live.partition_point(|&p| pos(p) < h);
        if next == n {
            next = 0;
        }
        let prev = if next == 0 { n - 1 } else { next - 1 };
        let before = h.wrapping_sub(pos(self.live[prev]));
        let after = pos(self.live[next]).wrapping_sub(h);
        let at = if before <= after { prev } else { next };
        (0..n)
            .map(|d| server_of(self.live[(at + d) % n]))
            .find(|&i| ok(i))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn ring_for(s: &[ServerRt]) -> Ring {
        let mut r = Ring::default();
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
    fn sixteen_points_per_weight_at_haproxy_positions() {
        let s = farm(&[1, 3]);
        let r = ring_for(&s);
        assert_eq!(r.live.len(), 64);
        assert!(r.live.iter().any(|&p| pos(p) == full_hash(4096)));
        assert!(r.live.iter().any(|&p| pos(p) == full_hash(2 * 4096 + 47)));
        // A point's key goes to its own server, as does a key just after it.
        for &p in &r.live {
            assert_eq!(r.lookup(pos(p), None), Some(server_of(p)));
        }
    }

    #[test]
    fn closest_point_wins_ties_go_before() {
        let s = farm(&[1, 1]);
        let r = ring_for(&s);
        for w in r.live.windows(2) {
            let (a, b) = (pos(w[0]), pos(w[1]));
            if b - a < 2 {
                continue;
            }
            let mid = a + (b - a) / 2;
            // `mid` is at most as far from `a` as from `b`.
            assert_eq!(r.lookup(mid, None), Some(server_of(w[0])));
            assert_eq!(r.lookup(mid + 1 + (b - a) % 2, None), Some(server_of(w[1])));
        }
    }

    #[test]
    fn weight_change_moves_keys_only_to_or_from_that_server() {
        let s = farm(&[2, 2, 2, 2]);
        let mut r = ring_for(&s);
        let before: Vec<usize> = (0..20_000u32)
            .map(|k| r.lookup(full_hash(k), None).unwrap())
            .collect();
        r.rebuild(&s, &[(0, 2), (1, 1), (2, 2), (3, 2)]);
        for (k, &was) in before.iter().enumerate() {
            let now = r.lookup(full_hash(k as u32), None).unwrap();
            assert!(now == was || was == 1, "key {k}: {was} -> {now}");
        }
    }

    #[test]
    fn slots_follow_haproxy_formula() {
        let s = farm(&[1, 1, 2]);
        let mut r = Ring::with_factor(150);
        r.rebuild(&s, &[(0, 1), (1, 1), (2, 2)]);
        // 7 served + 1 = 8, × 1.5 = 12 slots over weights 16/16/32.
        assert_eq!((r.slots(0, 7), r.slots(1, 7), r.slots(2, 7)), (3, 3, 6));
        // Nothing served: never 0 slots.
        assert!((0..3).all(|i| r.slots(i, 0) >= 1));
        let total: u64 = (0..3).map(|i| r.slots(i, 99)).sum();
        assert_eq!(total, 150);
    }

    #[test]
    fn bounded_load_moves_keys_off_a_loaded_server() {
        let s = farm(&[1, 1, 1]);
        let mut r = Ring::with_factor(125);
        r.rebuild(&s, &[(0, 1), (1, 1), (2, 1)]);
        let keys: Vec<u32> = (0..3000u32).map(full_hash).collect();
        let owner: Vec<usize> = keys.iter().map(|&h| r.lookup(h, None).unwrap()).collect();
        // Idle: the bound changes nothing.
        for (&h, &o) in keys.iter().zip(&owner) {
            assert_eq!(r.lookup_bounded(&s, h, None), Some(o));
        }
        // Server 0 holds 10 of 12 connections: over 125 % of the average.
        s[0].active.store(10, Ordering::Relaxed);
        s[1].active.store(1, Ordering::Relaxed);
        s[2].active.store(1, Ordering::Relaxed);
        let mut moved = 0;
        for (&h, &o) in keys.iter().zip(&owner) {
            let now = r.lookup_bounded(&s, h, None).unwrap();
            assert_ne!(now, 0, "a key stayed on the overloaded server");
            // Only server 0's keys move.
            if o != 0 {
                assert_eq!(now, o);
            } else {
                moved += 1;
            }
        }
        assert!(moved > 500, "server 0 owned {moved} keys");
        // Without a factor nothing moves.
        let mut plain = Ring::default();
        plain.rebuild(&s, &[(0, 1), (1, 1), (2, 1)]);
        assert_eq!(plain.lookup_bounded(&s, keys[0], None), Some(owner[0]));
    }

    #[test]
    fn exclude_walks_clockwise_to_another_server() {
        let s = farm(&[1, 1]);
        let r = ring_for(&s);
        for k in 0..100u32 {
            let first = r.lookup(full_hash(k), None).unwrap();
            assert_eq!(r.lookup(full_hash(k), Some(first)), Some(1 - first));
        }
        let one = farm(&[1]);
        let r = ring_for(&one);
        assert_eq!(r.lookup(7, Some(0)), None);
    }
}
