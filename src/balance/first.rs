//! `balance first`: the first server, in declaration order (HAProxy's
//! automatic ids 1, 2, 3...), that has a free connection slot; the next one
//! takes over once it reaches its `maxconn`, so the fewest servers are used
//! (HAProxy's definition, for farms that power idle servers off).
//!
//! A server without `maxconn` is never full, so it takes everything: as in
//! HAProxy, `first` only makes sense with `maxconn`. A server is full while
//! the connections in use on it (`ServerRt::active`, counted by every worker)
//! reach its `maxconn`. The count is read without a reservation, so two
//! workers may both see the last slot free; the queue (`server/queue.rs`)
//! settles it exactly, moving the later request to the next server with room
//! in index order, or into the backend's queue when all are full. When every
//! server looks full, the first live one is returned and the request waits
//! in the queue, as in HAProxy.

use std::sync::atomic::Ordering;

use super::{Balancer, LiveChoice, PickInput, Watch, live_set, pick_live};
use crate::config::model;
use crate::runtime::ServerRt;

/// First server with room, in declaration order.
#[derive(Debug, Default)]
pub struct First {
    /// Each server's `maxconn` (0: unlimited).
    maxconn: Vec<u64>,
    watch: Watch,
    /// Live servers as (index, weight), in index order.
    live: Vec<(u32, u32)>,
}

impl First {
    /// The balancer for servers limited by these `maxconn` (0: unlimited), in order.
    pub fn new(maxconn: impl IntoIterator<Item = u32>) -> Self {
        First {
            maxconn: maxconn.into_iter().map(u64::from).collect(),
            ..First::default()
        }
    }

    /// The balancer for a backend's servers.
    pub fn for_backend(backend: &model::Backend) -> Self {
        First::new(backend.servers.iter().map(|s| s.maxconn.unwrap_or(0)))
    }

    /// Whether server `i` has a free slot by the shared count.
    fn has_room(&self, servers: &[ServerRt], i: usize) -> bool {
        match self.maxconn.get(i).copied().unwrap_or(0) {
            0 => true,
            max => servers[i].active.load(Ordering::Relaxed) < max,
        }
    }

    /// The first live server other than `exclude` with room, else the first
    /// live one other than `exclude` (it queues).
    fn scan(&self, servers: &[ServerRt], exclude: Option<usize>) -> Option<usize> {
        let mut candidates = self
            .live
            .iter()
            .map(|&(i, _)| i as usize)
            .filter(|&i| Some(i) != exclude);
        let first = candidates.clone().next()?;
        Some(
            candidates
                .find(|&i| self.has_room(servers, i))
                .unwrap_or(first),
        )
    }
}

impl LiveChoice for First {
    fn watch(&mut self) -> &mut Watch {
        &mut self.watch
    }
    fn rebuild(&mut self, servers: &[ServerRt]) {
        live_set(servers, self.watch.refresh(servers), &mut self.live);
    }
    fn choose(&mut self, servers: &[ServerRt], exclude: Option<usize>) -> Option<usize> {
        self.scan(servers, exclude)
    }
}

impl Balancer for First {
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

    fn pick(b: &mut First, s: &[ServerRt]) -> usize {
        b.pick(s, &PickInput::default(), None).unwrap()
    }

    #[test]
    fn fills_servers_in_order() {
        let s = farm(&[1, 1, 1]);
        let mut b = First::new([2, 1, 3]);
        let mut seq = Vec::new();
        for _ in 0..6 {
            let i = pick(&mut b, &s);
            s[i].active.fetch_add(1, Ordering::Relaxed);
            seq.push(i);
        }
        assert_eq!(seq, vec![0, 0, 1, 2, 2, 2]);
        // All full: the first one, where the request queues.
        assert_eq!(pick(&mut b, &s), 0);
        // A slot freed on the second server: it is the first with room.
        s[1].active.fetch_sub(1, Ordering::Relaxed);
        assert_eq!(pick(&mut b, &s), 1);
    }

    #[test]
    fn weights_do_not_matter_but_zero_weight_is_out() {
        let s = farm(&[1, 100, 0, 1]);
        let mut b = First::new([1, 1, 1, 1]);
        assert_eq!(pick(&mut b, &s), 0);
        s[0].active.store(1, Ordering::Relaxed);
        assert_eq!(pick(&mut b, &s), 1);
        s[1].active.store(1, Ordering::Relaxed);
        // Server 2 has weight 0: skipped.
        assert_eq!(pick(&mut b, &s), 3);
    }

    #[test]
    fn unlimited_server_takes_everything() {
        let s = farm(&[1, 1]);
        let mut b = First::new([0, 0]);
        s[0].active.store(1000, Ordering::Relaxed);
        assert_eq!(pick(&mut b, &s), 0);
    }

    #[test]
    fn down_backup_and_exclude() {
        let s = vec![server(0, 1), server(1, 1), backup(2, 1)];
        let mut b = First::new([1, 1, 1]);
        assert_eq!(b.pick(&s, &PickInput::default(), Some(0)), Some(1));
        set_up(&s[0], false);
        assert_eq!(pick(&mut b, &s), 1);
        store_up_silently(&s[1], false);
        assert_eq!(pick(&mut b, &s), 2);
        set_up(&s[2], false);
        assert_eq!(b.pick(&s, &PickInput::default(), None), None);
    }
}
