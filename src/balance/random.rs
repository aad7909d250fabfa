//! `balance random[(<draws>)]`: HAProxy's power of `<draws>` choices. Each
//! pick draws `<draws>` random points on the backend's consistent-hash ring
//! (so a server is drawn in proportion to its weight, as HAProxy, which
//! balances `random` on its `chash` tree whatever `hash-type` says) and takes
//! the least loaded of the servers drawn: fewest connections in use per unit
//! of weight, the later draw on a tie. `random(1)` is plain weighted random;
//! HAProxy's default, and ringlb's, is 2. `hash-balance-factor` bounds the
//! loads of each draw as it does for consistent hashing.
//!
//! The generator is per worker, seeded from the process's random hasher keys
//! (never from the configuration): xorshift64*, a few cycles per draw.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::Ordering;

use super::consistent::Ring;
use super::{Balancer, LiveChoice, PickInput, Watch, live_set, pick_live};
use crate::runtime::ServerRt;

/// Least loaded of `draws` servers drawn at random by weight.
#[derive(Debug)]
pub struct Random {
    draws: u32,
    watch: Watch,
    live: Vec<(u32, u32)>,
    ring: Ring,
    /// xorshift64* state, never 0.
    state: u64,
}

impl Random {
    /// `random(draws)` (at least one draw is made), with `hash-balance-factor` `factor`.
    pub fn new(draws: u32, factor: u32) -> Self {
        let seed = RandomState::new().hash_one(std::thread::current().id());
        Random {
            draws: draws.max(1),
            watch: Watch::default(),
            live: Vec::new(),
            ring: Ring::with_factor(factor),
            state: seed | 1,
        }
    }

    /// The next 32 random bits (xorshift64*).
    fn next(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    /// The server of the draws, avoiding `exclude`.
    fn draw(&mut self, servers: &[ServerRt], exclude: Option<usize>) -> Option<usize> {
        let mut best: Option<usize> = None;
        for _ in 0..self.draws {
            let h = self.next();
            let cur = self.ring.lookup_bounded(servers, h, exclude)?;
            best = match best {
                // HAProxy keeps the previous choice only when the new one is
                // strictly more loaded per unit of weight.
                Some(prev) if prev != cur && self.busier(servers, cur, prev) => Some(prev),
                _ => Some(cur),
            };
        }
        best
    }

    /// Whether `a` serves more than `b` per unit of weight.
    fn busier(&self, servers: &[ServerRt], a: usize, b: usize) -> bool {
        let load = |i: usize| u128::from(servers[i].active.load(Ordering::Relaxed));
        let weight = |i: usize| u128::from(self.ring.weight_of(i));
        load(a) * weight(b) > load(b) * weight(a)
    }
}

impl LiveChoice for Random {
    fn watch(&mut self) -> &mut Watch {
        &mut self.watch
    }
    fn rebuild(&mut self, servers: &[ServerRt]) {
        live_set(servers, self.watch.refresh(servers), &mut self.live);
        self.ring.rebuild(servers, &self.live);
    }
    fn choose(&mut self, servers: &[ServerRt], exclude: Option<usize>) -> Option<usize> {
        self.draw(servers, exclude)
    }
}

impl Balancer for Random {
    fn pick(
        &mut self,
        servers: &[ServerRt],
        _input: &PickInput<'_>,
        exclude: Option<usize>,
    ) -> Option<usize> {
        pick_live(self, servers, exclude)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    /// Shares of `picks` picks, each within `tol` of the weights' shares.
    fn assert_near(counts: &[usize], weights: &[u32], tol: f64) {
        let total: usize = counts.iter().sum();
        let wsum: u32 = weights.iter().sum();
        for (i, (&c, &w)) in counts.iter().zip(weights).enumerate() {
            let got = c as f64 / total as f64;
            let want = f64::from(w) / f64::from(wsum);
            assert!(
                (got - want).abs() <= tol,
                "server {i}: share {got:.3}, want {want:.3} ({counts:?})"
            );
        }
    }

    #[test]
    fn one_draw_follows_weights() {
        let w = [1, 2, 3, 0];
        let s = farm(&w);
        let mut b = Random::new(1, 0);
        let c = counts(&mut b, &s, &PickInput::default(), 60_000);
        assert_eq!(c[3], 0);
        // 16 ring points per unit of weight: shares are near, not exact.
        assert_near(&c, &w, 0.08);
    }

    #[test]
    fn two_draws_prefer_the_less_loaded() {
        let s = farm(&[1, 1]);
        let mut b = Random::new(2, 0);
        s[0].active.store(5, Ordering::Relaxed);
        let c = counts(&mut b, &s, &PickInput::default(), 4000);
        // Server 0 wins only when both draws land on it (about 1 in 4).
        assert!(c[0] > 600 && c[0] < 1400, "{c:?}");
        // Equal loads: weights decide, as with one draw.
        s[0].active.store(0, Ordering::Relaxed);
        let c = counts(&mut b, &s, &PickInput::default(), 4000);
        assert_near(&c, &[1, 1], 0.1);
    }

    #[test]
    fn held_connections_even_out_by_weight() {
        // Each pick keeps its connection: power of two choices keeps the
        // loads per weight close, far closer than one draw would.
        let w = [1, 2, 1, 4];
        let s = farm(&w);
        let mut b = Random::new(2, 0);
        for _ in 0..8000 {
            let i = b.pick(&s, &PickInput::default(), None).unwrap();
            s[i].active.fetch_add(1, Ordering::Relaxed);
        }
        let c: Vec<usize> = s
            .iter()
            .map(|x| x.active.load(Ordering::Relaxed) as usize)
            .collect();
        assert_near(&c, &w, 0.02);
    }

    #[test]
    fn draws_differ_between_balancers() {
        let s = farm(&[1; 8]);
        let (mut a, mut b) = (Random::new(1, 0), Random::new(1, 0));
        assert_ne!(seq(&mut a, &s, 32), seq(&mut b, &s, 32));
    }

    #[test]
    fn down_backup_exclude() {
        let s = vec![server(0, 1), server(1, 1), backup(2, 1)];
        let mut b = Random::new(2, 0);
        for _ in 0..50 {
            assert_eq!(b.pick(&s, &PickInput::default(), Some(0)), Some(1));
        }
        set_up(&s[0], false);
        assert!(seq(&mut b, &s, 50).iter().all(|&i| i == 1));
        store_up_silently(&s[1], false);
        assert_eq!(b.pick(&s, &PickInput::default(), None), Some(2));
        set_up(&s[2], false);
        assert_eq!(b.pick(&s, &PickInput::default(), None), None);
    }
}
