//! `balance static-rr`: weighted rotation with the configured weights, O(1)
//! per pick.
//!
//! Interleaved weighted round robin: a cycle is `max weight` rounds, and round
//! `r` visits, in order, every live server whose weight is at least `r`. A
//! server of weight `w` is thus chosen exactly `w` times per cycle, spread over
//! the cycle instead of back to back. The live servers are kept sorted by
//! weight (heaviest first, index order among equals), so the servers of round
//! `r` are a prefix of that list and a pick is an index and a compare.
//!
//! As in HAProxy, weights changed at run time do not change the shares (the
//! configured weight is used), but a server going down, up, or to weight 0
//! (drained) is taken into account before the next pick.

use super::{Balancer, MAX_WEIGHT, PickInput, Watch, live_set};
use crate::runtime::ServerRt;

/// Interleaved weighted rotation over the live servers' configured weights.
#[derive(Debug, Default)]
pub struct StaticRr {
    watch: Watch,
    /// Live server indexes, heaviest first.
    order: Vec<u32>,
    /// `round_len[r]`: how many servers of `order` take part in round `r`.
    round_len: Vec<u32>,
    /// Current round, `1..round_len.len()`.
    round: usize,
    /// Next position in `order` within the round.
    pos: usize,
    /// Scratch: the live set and the new order being built.
    live: Vec<(u32, u32)>,
    scratch: Vec<(u32, u32)>,
}

impl StaticRr {
    /// An empty rotation; it is built from the servers on the first pick.
    pub fn new() -> Self {
        StaticRr::default()
    }

    fn rebuild(&mut self, servers: &[ServerRt]) {
        live_set(servers, self.watch.refresh(servers), &mut self.live);
        self.scratch.clear();
        self.scratch.extend(self.live.iter().filter_map(|&(i, _)| {
            let w = servers[i as usize].configured_weight.min(MAX_WEIGHT);
            (w > 0).then_some((i, w))
        }));
        // Stable: equal weights stay in index order.
        self.scratch.sort_by_key(|&(_, w)| std::cmp::Reverse(w));
        let unchanged = self.order.len() == self.scratch.len()
            && self
                .order
                .iter()
                .zip(&self.scratch)
                .all(|(&o, &(i, _))| o == i);
        if unchanged {
            // Same rotation (e.g. a change elsewhere): keep its place.
            return;
        }
        self.order.clear();
        self.order.extend(self.scratch.iter().map(|&(i, _)| i));
        let max = self.scratch.first().map_or(0, |&(_, w)| w);
        self.round_len.clear();
        self.round_len.push(0);
        for r in 1..=max {
            self.round_len
                .push(self.scratch.partition_point(|&(_, w)| w >= r) as u32);
        }
        self.round = 1;
        self.pos = 0;
    }

    /// The next server in the rotation.
    fn advance(&mut self) -> usize {
        // Round 1 holds every live server, so this loops at most twice.
        while self.pos >= self.round_len[self.round] as usize {
            self.pos = 0;
            self.round = if self.round + 1 == self.round_len.len() {
                1
            } else {
                self.round + 1
            };
        }
        let i = self.order[self.pos] as usize;
        self.pos += 1;
        i
    }
}

impl Balancer for StaticRr {
    fn pick(
        &mut self,
        servers: &[ServerRt],
        _input: &PickInput<'_>,
        exclude: Option<usize>,
    ) -> Option<usize> {
        for _ in 0..2 {
            if self.watch.stale(servers) {
                self.rebuild(servers);
            }
            if self.order.is_empty() {
                return None;
            }
            let mut i = self.advance();
            if Some(i) == exclude {
                // Redispatch: the next server in weight order, without
                // disturbing the rotation.
                let at = self.order.iter().position(|&o| o as usize == i)?;
                if self.order.len() == 1 {
                    return None;
                }
                i = self.order[(at + 1) % self.order.len()] as usize;
            }
            if servers[i].usable() {
                return Some(i);
            }
            self.watch.invalidate();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::super::testutil::*;
    use super::*;

    #[test]
    fn equal_weights_rotate_in_order() {
        let s = farm(&[1, 1, 1]);
        let mut b = StaticRr::new();
        assert_eq!(seq(&mut b, &s, 7), vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn weights_are_interleaved_and_exact_per_cycle() {
        let s = farm(&[1, 3, 2]);
        let mut b = StaticRr::new();
        assert_eq!(seq(&mut b, &s, 6), vec![1, 2, 0, 1, 2, 1]);
        let w = [5, 1, 17, 256, 64, 3, 0];
        let s = farm(&w);
        let mut b = StaticRr::new();
        let c = counts(&mut b, &s, &PickInput::default(), 346 * 20);
        assert_eq!(c, w.iter().map(|&x| x as usize * 20).collect::<Vec<_>>());
        assert_shares(&c, &w);
    }

    #[test]
    fn runtime_weight_is_ignored_but_drain_and_down_are_not() {
        let s = farm(&[1, 1]);
        let mut b = StaticRr::new();
        super::super::set_weight(&s[1], 5);
        assert_eq!(counts(&mut b, &s, &PickInput::default(), 100), vec![50, 50]);
        super::super::set_weight(&s[1], 0);
        assert_eq!(counts(&mut b, &s, &PickInput::default(), 10), vec![10, 0]);
        s[1].weight.store(1, Ordering::Relaxed);
        set_up(&s[0], false);
        assert_eq!(counts(&mut b, &s, &PickInput::default(), 10), vec![0, 10]);
    }

    #[test]
    fn backup_and_exclude() {
        let s = vec![server(0, 1), server(1, 1), backup(2, 1)];
        let mut b = StaticRr::new();
        for _ in 0..4 {
            assert_eq!(b.pick(&s, &PickInput::default(), Some(0)), Some(1));
        }
        set_up(&s[0], false);
        set_up(&s[1], false);
        assert_eq!(seq(&mut b, &s, 2), vec![2, 2]);
        assert_eq!(b.pick(&s, &PickInput::default(), Some(2)), None);
    }

    #[test]
    fn unannounced_down_server_is_never_chosen() {
        let s = farm(&[1, 1, 1]);
        let mut b = StaticRr::new();
        seq(&mut b, &s, 1);
        store_up_silently(&s[1], false);
        assert!(!seq(&mut b, &s, 6).contains(&1));
    }
}
