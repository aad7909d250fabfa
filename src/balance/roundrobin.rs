//! `balance roundrobin`: smooth weighted rotation, weights read live.
//!
//! Each server accumulates its weight every pick and the largest total wins,
//! then pays back the sum of weights. Over any window of `sum(weights)` picks a
//! server is chosen exactly `weight` times, and heavy servers are interleaved
//! with light ones rather than chosen in bursts.

use super::{Balancer, PickInput};
use crate::runtime::ServerRt;

/// Smooth weighted round robin over the usable servers.
#[derive(Debug)]
pub struct RoundRobin {
    current: Vec<i64>,
}

impl RoundRobin {
    /// A rotation for `n` servers.
    pub fn new(n: usize) -> Self {
        RoundRobin {
            current: vec![0; n],
        }
    }

    fn pick_among(
        &mut self,
        servers: &[ServerRt],
        backup: bool,
        exclude: Option<usize>,
    ) -> Option<usize> {
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        for (i, s) in servers.iter().enumerate() {
            if s.backup != backup || !s.usable() || Some(i) == exclude {
                continue;
            }
            let w = i64::from(s.weight.load(std::sync::atomic::Ordering::Relaxed));
            self.current[i] += w;
            total += w;
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        if let Some(b) = best {
            self.current[b] -= total;
        }
        best
    }
}

impl Balancer for RoundRobin {
    fn pick(
        &mut self,
        servers: &[ServerRt],
        _input: &PickInput<'_>,
        exclude: Option<usize>,
    ) -> Option<usize> {
        if self.current.len() < servers.len() {
            self.current.resize(servers.len(), 0);
        }
        self.pick_among(servers, false, exclude)
            .or_else(|| self.pick_among(servers, true, exclude))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

    use super::*;
    use crate::config::model::Address;

    fn server(weight: u32, backup: bool) -> ServerRt {
        ServerRt {
            name: format!("s{weight}"),
            address: Address::Inet("127.0.0.1:1".parse().unwrap()),
            configured_weight: weight,
            weight: AtomicU32::new(weight),
            up: AtomicBool::new(true),
            active: AtomicU64::new(0),
            backup,
        }
    }

    fn counts(rr: &mut RoundRobin, servers: &[ServerRt], picks: usize) -> Vec<usize> {
        let mut c = vec![0; servers.len()];
        for _ in 0..picks {
            c[rr.pick(servers, &PickInput::default(), None).unwrap()] += 1;
        }
        c
    }

    #[test]
    fn equal_weights_alternate() {
        let s = vec![server(1, false), server(1, false)];
        let mut rr = RoundRobin::new(2);
        let seq: Vec<_> = (0..4)
            .map(|_| rr.pick(&s, &PickInput::default(), None).unwrap())
            .collect();
        assert_eq!(seq, vec![0, 1, 0, 1]);
    }

    #[test]
    fn weights_are_honoured_exactly_per_cycle() {
        let s = vec![server(3, false), server(1, false), server(0, false)];
        let mut rr = RoundRobin::new(3);
        assert_eq!(counts(&mut rr, &s, 400), vec![300, 100, 0]);
    }

    #[test]
    fn down_servers_are_skipped_and_backup_used_last() {
        let s = vec![server(1, false), server(1, true)];
        let mut rr = RoundRobin::new(2);
        assert_eq!(counts(&mut rr, &s, 10), vec![10, 0]);
        s[0].up.store(false, Ordering::Relaxed);
        assert_eq!(counts(&mut rr, &s, 10), vec![0, 10]);
        s[1].up.store(false, Ordering::Relaxed);
        assert_eq!(rr.pick(&s, &PickInput::default(), None), None);
    }

    #[test]
    fn runtime_weight_change_takes_effect() {
        let s = vec![server(1, false), server(1, false)];
        let mut rr = RoundRobin::new(2);
        s[1].weight.store(4, Ordering::Relaxed);
        assert_eq!(counts(&mut rr, &s, 500), vec![100, 400]);
    }

    #[test]
    fn exclude_avoids_a_server() {
        let s = vec![server(1, false), server(1, false)];
        let mut rr = RoundRobin::new(2);
        for _ in 0..5 {
            assert_eq!(rr.pick(&s, &PickInput::default(), Some(0)), Some(1));
        }
    }
}
