//! `balance roundrobin`: smooth weighted rotation, weights changeable at run
//! time, O(log n) per pick.
//!
//! Each live server has a next turn on a virtual clock, `(2c + 1) / (2w)`
//! after its `c`-th pick at weight `w`: turns are `1/w` apart and start half a
//! step in, so a heavy server's picks are spread between the light ones'
//! rather than bunched. The server with the earliest turn (lowest index on a
//! tie) is picked, and its turn moves one step on. Over any span of the clock
//! each server is picked in proportion to its weight, exactly per cycle.
//!
//! The turns live in a binary min-heap, so a pick is one sift-down
//! (≈ log2 n comparisons), with no limit on the number of servers (HAProxy
//! 1.4 had 4,128). Turns are exact rationals compared by cross-multiplying,
//! so no rounding drifts the shares. When weights or states change the heap
//! is rebuilt in O(n): servers whose weight did not change keep their turn, so
//! the rotation goes on where it was; a new or re-weighted server joins at the
//! current time.
//!
//! `balance roundrobin` itself uses [`SharedRoundRobin`]: every worker holds
//! the same cycle (one period of the rotation above, computed from the same
//! server states) and reads it at a position all workers share, so new
//! connections rotate strictly whichever worker accepts them. [`RoundRobin`]
//! is the per-worker rotation the hash algorithms fall back on.

use super::{Balancer, PickInput, Rotation, Watch, live_set};
use crate::runtime::ServerRt;

/// One live server's next turn, `num / den` on the virtual clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Turn {
    /// `2c + 1` after `c` picks.
    num: u64,
    /// `2w`.
    den: u32,
    /// Server index.
    idx: u32,
}

impl Turn {
    /// Whether `self` comes strictly before `other` (earlier turn, then lower index).
    fn before(&self, other: &Turn) -> bool {
        let l = u128::from(self.num) * u128::from(other.den);
        let r = u128::from(other.num) * u128::from(self.den);
        l < r || (l == r && self.idx < other.idx)
    }
}

/// Smooth weighted round robin over the live servers.
#[derive(Debug, Default)]
pub struct RoundRobin {
    watch: Watch,
    /// Binary min-heap of turns (`heap[0]` is next).
    heap: Vec<Turn>,
    /// The clock: the turn of the last pick, `num / den`.
    now: (u64, u32),
    /// Scratch for rebuilds: live set, and each server's previous turn.
    live: Vec<(u32, u32)>,
    previous: Vec<Option<Turn>>,
}

impl RoundRobin {
    /// An empty rotation; it is built from the servers on the first pick.
    pub fn new() -> Self {
        RoundRobin {
            now: (0, 1),
            ..RoundRobin::default()
        }
    }

    fn rebuild(&mut self, servers: &[ServerRt]) {
        live_set(servers, self.watch.refresh(servers), &mut self.live);
        self.previous.clear();
        self.previous.resize(servers.len(), None);
        for t in self.heap.drain(..) {
            self.previous[t.idx as usize] = Some(t);
        }
        let (now_num, now_den) = self.now;
        for &(idx, w) in &self.live {
            let den = 2 * w;
            let turn = match self.previous[idx as usize] {
                Some(t) if t.den == den => t,
                // Joins at the current time: c = floor(now * w) picks "already
                // had", so its next turn is within one step of now.
                _ => {
                    let c = u128::from(now_num) * u128::from(w) / u128::from(now_den);
                    Turn {
                        num: 2 * c as u64 + 1,
                        den,
                        idx,
                    }
                }
            };
            self.heap.push(turn);
        }
        for pos in (0..self.heap.len() / 2).rev() {
            self.sift_down(pos);
        }
    }

    /// Restores the heap order below `pos` after its turn moved later.
    fn sift_down(&mut self, mut pos: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * pos + 1;
            if l >= n {
                return;
            }
            let r = l + 1;
            let child = if r < n && self.heap[r].before(&self.heap[l]) {
                r
            } else {
                l
            };
            if !self.heap[child].before(&self.heap[pos]) {
                return;
            }
            self.heap.swap(pos, child);
            pos = child;
        }
    }

    /// Heap position of the next server other than `exclude`.
    fn next_position(&self, exclude: Option<usize>) -> Option<usize> {
        let top = self.heap.first()?;
        if Some(top.idx as usize) != exclude {
            return Some(0);
        }
        // The second earliest turn is one of the root's children.
        match (self.heap.get(1), self.heap.get(2)) {
            (None, _) => None,
            (Some(_), None) => Some(1),
            (Some(a), Some(b)) => Some(if b.before(a) { 2 } else { 1 }),
        }
    }
}

/// `balance roundrobin`: one period of the smooth rotation, read at the
/// backend's [`Rotation`] position shared by all workers. A pick is one
/// relaxed atomic add and an array read; the cycle is rebuilt (O(W log n), W
/// the sum of the weights divided by their gcd) when the servers change.
#[derive(Debug)]
pub struct SharedRoundRobin {
    position: Rotation,
    watch: Watch,
    live: Vec<(u32, u32)>,
    /// Server index of each position of the period.
    cycle: Vec<u32>,
}

impl SharedRoundRobin {
    /// A rotation reading `position`; built from the servers on the first pick.
    pub fn new(position: Rotation) -> Self {
        SharedRoundRobin {
            position,
            watch: Watch::default(),
            live: Vec::new(),
            cycle: Vec::new(),
        }
    }

    fn rebuild(&mut self, servers: &[ServerRt]) {
        live_set(servers, self.watch.refresh(servers), &mut self.live);
        let gcd = self.live.iter().fold(0, |g, &(_, w)| gcd(g, w)).max(1);
        let mut rr = RoundRobin::new();
        rr.heap = self
            .live
            .iter()
            .map(|&(idx, w)| Turn {
                num: 1,
                den: 2 * (w / gcd),
                idx,
            })
            .collect();
        for pos in (0..rr.heap.len() / 2).rev() {
            rr.sift_down(pos);
        }
        let period: u32 = self.live.iter().map(|&(_, w)| w / gcd).sum();
        self.cycle.clear();
        for _ in 0..period {
            let idx = rr.heap[0].idx;
            rr.heap[0].num += 2;
            rr.sift_down(0);
            self.cycle.push(idx);
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Balancer for SharedRoundRobin {
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
            let n = self.cycle.len();
            if n == 0 {
                return None;
            }
            let at = (self.position.take() % n as u64) as usize;
            // Redispatch: the next position of another server.
            let idx = (0..n)
                .map(|d| self.cycle[(at + d) % n] as usize)
                .find(|&i| Some(i) != exclude)?;
            if servers[idx].usable() {
                return Some(idx);
            }
            // Went down without `servers_changed`: rebuild from the atomics.
            self.watch.invalidate();
        }
        None
    }
}

impl Balancer for RoundRobin {
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
            let pos = self.next_position(exclude)?;
            let turn = self.heap[pos];
            if !servers[turn.idx as usize].usable() {
                // Went down without `servers_changed`: rebuild from the atomics.
                self.watch.invalidate();
                continue;
            }
            self.now = (turn.num, turn.den);
            self.heap[pos].num += 2;
            self.sift_down(pos);
            return Some(turn.idx as usize);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::super::testutil::*;
    use super::super::{servers_changed, set_weight};
    use super::*;

    #[test]
    fn shared_rotation_is_strict_across_workers() {
        let s = farm(&[1, 1, 1]);
        let pos = Rotation::default();
        let mut a = SharedRoundRobin::new(pos.clone());
        let mut b = SharedRoundRobin::new(pos);
        let none = PickInput::default();
        let picks: Vec<usize> = (0..9)
            .map(|k| {
                let w: &mut dyn Balancer = if k % 3 == 0 { &mut a } else { &mut b };
                w.pick(&s, &none, None).unwrap()
            })
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2, 0, 1, 2]);
        // Weighted: the period is the per-worker rotation's, exact shares.
        let w = [6, 2, 4];
        let s = farm(&w);
        let mut a = SharedRoundRobin::new(Rotation::default());
        assert_eq!(seq(&mut a, &s, 6), vec![0, 2, 0, 1, 2, 0]);
        assert_eq!(counts(&mut a, &s, &none, 600), vec![300, 100, 200]);
        // Down and excluded servers are skipped.
        set_up(&s[0], false);
        assert_eq!(counts(&mut a, &s, &none, 60), vec![0, 20, 40]);
        assert_eq!(a.pick(&s, &none, Some(2)), Some(1));
    }

    #[test]
    fn equal_weights_rotate_in_order() {
        let s = farm(&[1, 1, 1]);
        let mut rr = RoundRobin::new();
        assert_eq!(seq(&mut rr, &s, 7), vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn heavy_server_is_interleaved() {
        let s = farm(&[3, 1]);
        let mut rr = RoundRobin::new();
        assert_eq!(seq(&mut rr, &s, 8), vec![0, 0, 1, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn weights_are_honoured_exactly_per_cycle() {
        let s = farm(&[3, 1, 0]);
        let mut rr = RoundRobin::new();
        assert_eq!(
            counts(&mut rr, &s, &PickInput::default(), 400),
            vec![300, 100, 0]
        );
        let w = [5, 1, 17, 256, 64, 3];
        let s = farm(&w);
        let mut rr = RoundRobin::new();
        let c = counts(&mut rr, &s, &PickInput::default(), 346 * 50);
        assert_eq!(c, w.iter().map(|&x| x as usize * 50).collect::<Vec<_>>());
    }

    #[test]
    fn down_servers_are_skipped_and_first_backup_used_last() {
        let s = vec![server(0, 1), backup(1, 1), backup(2, 1)];
        let mut rr = RoundRobin::new();
        let none = PickInput::default();
        assert_eq!(counts(&mut rr, &s, &none, 10), vec![10, 0, 0]);
        set_up(&s[0], false);
        assert_eq!(counts(&mut rr, &s, &none, 10), vec![0, 10, 0]);
        set_up(&s[1], false);
        assert_eq!(counts(&mut rr, &s, &none, 10), vec![0, 0, 10]);
        set_up(&s[2], false);
        assert_eq!(rr.pick(&s, &none, None), None);
        set_up(&s[0], true);
        assert_eq!(counts(&mut rr, &s, &none, 10), vec![10, 0, 0]);
    }

    #[test]
    fn unannounced_down_server_is_never_chosen() {
        let s = farm(&[1, 1, 1]);
        let mut rr = RoundRobin::new();
        seq(&mut rr, &s, 2);
        store_up_silently(&s[2], false);
        assert_eq!(seq(&mut rr, &s, 4), vec![0, 1, 0, 1]);
    }

    #[test]
    fn unannounced_weight_change_is_noticed_within_a_pass() {
        let s = farm(&[1, 1]);
        let mut rr = RoundRobin::new();
        seq(&mut rr, &s, 2);
        s[1].weight.store(3, Ordering::Relaxed);
        seq(&mut rr, &s, 2);
        assert_eq!(
            counts(&mut rr, &s, &PickInput::default(), 400),
            vec![100, 300]
        );
    }

    #[test]
    fn runtime_weight_change_takes_effect_and_keeps_the_rotation() {
        let s = farm(&[1, 1, 1, 1]);
        let mut rr = RoundRobin::new();
        assert_eq!(seq(&mut rr, &s, 2), vec![0, 1]);
        // A change elsewhere does not restart the rotation at server 0.
        servers_changed();
        assert_eq!(seq(&mut rr, &s, 2), vec![2, 3]);
        set_weight(&s[1], 4);
        let c = counts(&mut rr, &s, &PickInput::default(), 7000);
        assert_shares(&c, &[1, 4, 1, 1]);
        set_weight(&s[1], 0);
        let c = counts(&mut rr, &s, &PickInput::default(), 300);
        assert_eq!(c, vec![100, 0, 100, 100]);
    }

    #[test]
    fn exclude_avoids_a_server() {
        let s = farm(&[1, 1]);
        let mut rr = RoundRobin::new();
        for _ in 0..5 {
            assert_eq!(rr.pick(&s, &PickInput::default(), Some(0)), Some(1));
        }
        let one = farm(&[1]);
        let mut rr = RoundRobin::new();
        assert_eq!(rr.pick(&one, &PickInput::default(), Some(0)), None);
    }

    #[test]
    fn ten_thousand_servers() {
        let w: Vec<u32> = (0..10_000).map(|i| 1 + (i % 4)).collect();
        let s = farm(&w);
        let mut rr = RoundRobin::new();
        let total: u32 = w.iter().sum();
        let c = counts(&mut rr, &s, &PickInput::default(), total as usize * 2);
        assert_eq!(c, w.iter().map(|&x| 2 * x as usize).collect::<Vec<_>>());
    }
}
