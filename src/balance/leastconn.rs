//! `balance leastconn`: the live server with the fewest active connections
//! across the whole process, relative to its weight; round robin among equals.
//!
//! The counts are the servers' `active` atomics, which every worker's sessions
//! increment and decrement, so every worker sees every other's connections.
//! As HAProxy, the comparison is `active / weight` (a server of weight 2 is
//! given twice the connections of a server of weight 1), done by
//! cross-multiplying. The scan starts after the last server chosen and keeps
//! the first minimum it meets, which rotates among equally loaded servers.
//!
//! Connection counts change with every connection anywhere, so they cannot be
//! tabled: a pick reads one counter per live server (O(live servers), a
//! relaxed load each). The live set itself (states, weights) is tabled and
//! rebuilt like the other algorithms'.

use std::sync::atomic::Ordering;

use super::{Balancer, LiveChoice, PickInput, Watch, live_set, pick_live};
use crate::runtime::ServerRt;

/// Fewest active connections per unit of weight.
#[derive(Debug, Default)]
pub struct LeastConn {
    watch: Watch,
    /// Live servers as (index, weight).
    live: Vec<(u32, u32)>,
    /// Position in `live` where the next scan starts.
    next: usize,
}

impl LeastConn {
    /// An empty balancer; the live set is built on the first pick.
    pub fn new() -> Self {
        LeastConn::default()
    }

    /// Position in `live` of the least loaded server other than `exclude`.
    fn scan(&self, servers: &[ServerRt], exclude: Option<usize>) -> Option<usize> {
        let n = self.live.len();
        let mut best: Option<(usize, u64, u64)> = None; // (position, active, weight)
        for k in 0..n {
            let pos = if self.next + k >= n {
                self.next + k - n
            } else {
                self.next + k
            };
            let (idx, w) = self.live[pos];
            if Some(idx as usize) == exclude {
                continue;
            }
            let active = servers[idx as usize].active.load(Ordering::Relaxed);
            let w = u64::from(w);
            // active/w < best_active/best_w, without dividing (in u128: no
            // product can overflow, whatever a counter holds).
            if best.is_none_or(|(_, ba, bw)| {
                u128::from(active) * u128::from(bw) < u128::from(ba) * u128::from(w)
            }) {
                best = Some((pos, active, w));
                if active == 0 {
                    // Nothing beats an idle server; the rotation decides among idle ones.
                    break;
                }
            }
        }
        best.map(|(pos, _, _)| pos)
    }
}

impl LiveChoice for LeastConn {
    fn watch(&mut self) -> &mut Watch {
        &mut self.watch
    }
    fn rebuild(&mut self, servers: &[ServerRt]) {
        live_set(servers, self.watch.refresh(servers), &mut self.live);
        self.next = 0;
    }
    fn choose(&mut self, servers: &[ServerRt], exclude: Option<usize>) -> Option<usize> {
        let pos = self.scan(servers, exclude)?;
        // The rotation moves past the choice; an unusable one makes the
        // state rebuilt, which starts the rotation over.
        self.next = if pos + 1 == self.live.len() {
            0
        } else {
            pos + 1
        };
        Some(self.live[pos].0 as usize)
    }
}

impl Balancer for LeastConn {
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

    fn pick(b: &mut LeastConn, s: &[ServerRt]) -> usize {
        b.pick(s, &PickInput::default(), None).unwrap()
    }

    #[test]
    fn fewest_active_wins() {
        let s = farm(&[1, 1, 1]);
        s[0].active.store(5, Ordering::Relaxed);
        s[1].active.store(2, Ordering::Relaxed);
        s[2].active.store(3, Ordering::Relaxed);
        let mut b = LeastConn::new();
        assert_eq!(pick(&mut b, &s), 1);
        s[1].active.store(9, Ordering::Relaxed);
        assert_eq!(pick(&mut b, &s), 2);
    }

    #[test]
    fn equals_rotate() {
        let s = farm(&[1, 1, 1]);
        let mut b = LeastConn::new();
        let seq: Vec<_> = (0..6).map(|_| pick(&mut b, &s)).collect();
        assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
        for x in &s {
            x.active.store(4, Ordering::Relaxed);
        }
        let seq: Vec<_> = (0..3).map(|_| pick(&mut b, &s)).collect();
        assert_eq!(seq, vec![0, 1, 2]);
    }

    #[test]
    fn connections_follow_weights() {
        // Each pick opens a connection that stays open: the counts end up in
        // proportion to the weights, as HAProxy's weighted leastconn.
        let w = [1, 3, 2, 0];
        let s = farm(&w);
        let mut b = LeastConn::new();
        let mut c = vec![0; s.len()];
        for _ in 0..6000 {
            let i = pick(&mut b, &s);
            s[i].active.fetch_add(1, Ordering::Relaxed);
            c[i] += 1;
        }
        assert_shares(&c, &w);
        assert_eq!(c, vec![1000, 3000, 2000, 0]);
    }

    #[test]
    fn closing_connections_attract_new_ones() {
        let s = farm(&[1, 1]);
        let mut b = LeastConn::new();
        // A slow server keeps what it gets, a fast one finishes at once.
        let mut to_slow = 0;
        for _ in 0..100 {
            let i = pick(&mut b, &s);
            if i == 0 {
                s[0].active.fetch_add(1, Ordering::Relaxed);
                to_slow += 1;
            }
        }
        assert_eq!(to_slow, 1);
    }

    #[test]
    fn down_backup_exclude() {
        let s = vec![server(0, 1), server(1, 1), backup(2, 1)];
        let mut b = LeastConn::new();
        s[1].active.store(10, Ordering::Relaxed);
        assert_eq!(b.pick(&s, &PickInput::default(), Some(0)), Some(1));
        set_up(&s[0], false);
        assert_eq!(pick(&mut b, &s), 1);
        store_up_silently(&s[1], false);
        assert_eq!(pick(&mut b, &s), 2);
        set_up(&s[2], false);
        assert_eq!(b.pick(&s, &PickInput::default(), None), None);
    }
}
