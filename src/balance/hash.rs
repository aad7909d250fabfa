//! What the hash-based algorithms (`source`, `uri`, `url_param`, `hdr`,
//! `rdp-cookie`) share: the key hash, the two `hash-type` tables that map a
//! hash to a server, and [`Hashed`], the balancer that ties a key to a table.
//!
//! Each algorithm's file only says how to find and hash its key ([`Key`]).
//! The hash has no seed and reads bytes in a fixed (little-endian) order, so a
//! key lands on the same server on every worker, after a restart, and on any
//! machine given the same configuration and server states.

use super::consistent::Ring;
use super::roundrobin::RoundRobin;
use super::{Balancer, PickInput, Watch, live_set};
use crate::config::model::{self, HashType};
use crate::runtime::ServerRt;

/// Odd multiplier (2^64 / golden ratio) for the byte mixer.
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit,
/// so keys differing in one character still spread over all servers.
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Hashes a key: eight bytes per step, then [`fmix64`]. Deterministic, no seed,
/// no allocation.
pub fn hash_bytes(data: &[u8]) -> u64 {
    let mut h = (data.len() as u64).wrapping_mul(MUL);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
        // The multiply carries low bits up; the rotation brings them back so
        // the next word mixes with all of them.
        h = (h ^ v).wrapping_mul(MUL).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(last)).wrapping_mul(MUL);
    }
    fmix64(h)
}

/// How an algorithm finds and hashes its key in a request.
pub trait Key {
    /// The key's hash, or `None` when the request has no key (then the
    /// balancer falls back to round robin, as HAProxy does).
    fn hash(&self, input: &PickInput<'_>) -> Option<u64>;
}

/// `hash-type map-based`: the hash modulo the total weight of the live
/// servers, each server owning a run of `weight` slots in index order.
/// Perfectly weighted; when a server comes or goes most keys move.
#[derive(Debug, Default)]
pub struct MapTable {
    /// Cumulative weights: live server `k` owns slots `[cum[k-1], cum[k])`.
    cum: Vec<u64>,
    /// Server index of each live server, same order as `cum`.
    idx: Vec<u32>,
}

impl MapTable {
    fn rebuild(&mut self, live: &[(u32, u32)]) {
        self.cum.clear();
        self.idx.clear();
        let mut total = 0u64;
        for &(i, w) in live {
            total += u64::from(w);
            self.cum.push(total);
            self.idx.push(i);
        }
    }

    fn lookup(&self, h: u64, exclude: Option<usize>) -> Option<usize> {
        let total = *self.cum.last()?;
        let slot = h % total;
        let mut k = self.cum.partition_point(|&c| c <= slot);
        if Some(self.idx[k] as usize) == exclude {
            // Redispatch: the next live server in order, the same for every worker.
            if self.idx.len() == 1 {
                return None;
            }
            k = (k + 1) % self.idx.len();
        }
        Some(self.idx[k] as usize)
    }
}

/// The table of a backend's `hash-type`.
#[derive(Debug)]
pub enum Table {
    /// `hash-type map-based` (the default).
    Map(MapTable),
    /// `hash-type consistent`.
    Ring(Ring),
}

impl Table {
    /// The table for a backend's `hash-type`.
    pub fn for_backend(backend: &model::Backend) -> Table {
        match backend.hash_type {
            HashType::MapBased => Table::Map(MapTable::default()),
            HashType::Consistent => Table::Ring(Ring::new(
                backend.servers.iter().map(|s| s.weight),
                backend.servers.len(),
            )),
        }
    }

    /// An empty table of this type, sized for servers of these weights
    /// (benchmarks and tests build one without a configuration).
    pub fn new(hash_type: HashType, servers: &[ServerRt]) -> Table {
        match hash_type {
            HashType::MapBased => Table::Map(MapTable::default()),
            HashType::Consistent => Table::Ring(Ring::new(
                servers.iter().map(|s| s.configured_weight),
                servers.len(),
            )),
        }
    }

    /// Rebuilds from the live set (see [`live_set`]).
    fn rebuild(&mut self, servers: &[ServerRt], live: &[(u32, u32)]) {
        match self {
            Table::Map(m) => m.rebuild(live),
            Table::Ring(r) => r.rebuild(servers, live),
        }
    }

    /// The server for hash `h`, avoiding `exclude`; `None` when no server is live.
    fn lookup(&self, h: u64, exclude: Option<usize>) -> Option<usize> {
        match self {
            Table::Map(m) => m.lookup(h, exclude),
            Table::Ring(r) => r.lookup(h, exclude),
        }
    }
}

/// A hash-based balancer: the key's hash through the table, round robin when
/// the request has no key.
#[derive(Debug)]
pub struct Hashed<K> {
    key: K,
    watch: Watch,
    live: Vec<(u32, u32)>,
    table: Table,
    fallback: RoundRobin,
}

impl<K: Key> Hashed<K> {
    /// A balancer hashing `key` through `table`.
    pub fn new(key: K, table: Table) -> Self {
        Hashed {
            key,
            watch: Watch::default(),
            live: Vec::new(),
            table,
            fallback: RoundRobin::new(),
        }
    }

    fn rebuild(&mut self, servers: &[ServerRt]) {
        live_set(servers, self.watch.refresh(servers), &mut self.live);
        self.table.rebuild(servers, &self.live);
    }
}

impl<K: Key> Balancer for Hashed<K> {
    fn pick(
        &mut self,
        servers: &[ServerRt],
        input: &PickInput<'_>,
        exclude: Option<usize>,
    ) -> Option<usize> {
        let Some(h) = self.key.hash(input) else {
            return self.fallback.pick(servers, input, exclude);
        };
        // A second round only when the chosen server went down unannounced:
        // the rebuild then reads every state afresh.
        for _ in 0..2 {
            if self.watch.stale(servers) {
                self.rebuild(servers);
            }
            let i = self.table.lookup(h, exclude)?;
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
    use super::super::testutil::*;
    use super::*;

    /// A key that is the input's URI itself (for table tests).
    struct Whole;

    impl Key for Whole {
        fn hash(&self, input: &PickInput<'_>) -> Option<u64> {
            input.uri.map(|u| hash_bytes(u.as_bytes()))
        }
    }

    fn pick_key(b: &mut Hashed<Whole>, s: &[ServerRt], key: &str) -> usize {
        let input = PickInput {
            uri: Some(key),
            ..PickInput::default()
        };
        b.pick(s, &input, None).unwrap()
    }

    #[test]
    fn hash_is_fixed_and_spreads() {
        // Pinned values: a change here moves every user's key to another server.
        assert_eq!(hash_bytes(b""), fmix64(0));
        assert_eq!(hash_bytes(b"/index.html"), hash_bytes(b"/index.html"));
        assert_ne!(hash_bytes(b"/a"), hash_bytes(b"/b"));
        assert_ne!(hash_bytes(b"abcdefgh"), hash_bytes(b"abcdefgh\0"));
        let h = hash_bytes(b"user=1234");
        assert_eq!(h, 0xdde4_d780_0c42_8ab1, "{h:#x}");
        // One bit of input flips about half the output bits.
        let flipped = (hash_bytes(b"key-0") ^ hash_bytes(b"key-1")).count_ones();
        assert!((16..=48).contains(&flipped), "{flipped}");
    }

    fn weighted_spread(hash_type: HashType) {
        let weights = [1, 3, 2, 0, 4];
        let s = farm(&weights);
        let mut b = Hashed::new(Whole, Table::new(hash_type, &s));
        let mut c = vec![0; s.len()];
        for k in 0..200_000 {
            c[pick_key(&mut b, &s, &format!("/k/{k}"))] += 1;
        }
        assert_shares(&c, &weights);
    }

    #[test]
    fn map_based_follows_weights() {
        weighted_spread(HashType::MapBased);
    }

    #[test]
    fn consistent_follows_weights() {
        weighted_spread(HashType::Consistent);
    }

    #[test]
    fn same_key_same_server_across_instances() {
        for ht in [HashType::MapBased, HashType::Consistent] {
            let s = farm(&[1, 1, 1, 1, 1, 1, 1]);
            let mut a = Hashed::new(Whole, Table::new(ht, &s));
            let mut b = Hashed::new(Whole, Table::new(ht, &s));
            for k in 0..1000 {
                let key = format!("/same/{k}");
                let first = pick_key(&mut a, &s, &key);
                assert_eq!(first, pick_key(&mut a, &s, &key));
                assert_eq!(first, pick_key(&mut b, &s, &key));
            }
        }
    }

    /// Share of keys that change server when server `gone` of `n` leaves.
    fn remapped_share(ht: HashType, n: usize, gone: usize) -> f64 {
        let s = farm(&vec![1; n]);
        let mut b = Hashed::new(Whole, Table::new(ht, &s));
        let keys: Vec<String> = (0..100_000).map(|k| format!("/u/{k}")).collect();
        let before: Vec<usize> = keys.iter().map(|k| pick_key(&mut b, &s, k)).collect();
        set_up(&s[gone], false);
        let moved = keys
            .iter()
            .zip(&before)
            .filter(|(k, was)| {
                let now = pick_key(&mut b, &s, k);
                assert_ne!(now, gone);
                now != **was
            })
            .count();
        // Keys that were not on the leaving server stay where they were.
        let on_gone = before.iter().filter(|&&w| w == gone).count();
        if ht == HashType::Consistent {
            assert_eq!(moved, on_gone);
        }
        moved as f64 / keys.len() as f64
    }

    #[test]
    fn consistent_remaps_only_the_leaving_share() {
        for (n, gone) in [(2, 0), (5, 3), (10, 7), (40, 11)] {
            let share = remapped_share(HashType::Consistent, n, gone);
            assert!(
                share <= 1.0 / n as f64 + 0.02,
                "{n} servers, one leaves: {share:.4} of keys moved"
            );
        }
    }

    #[test]
    fn map_based_remaps_most_keys() {
        // The reason `hash-type consistent` exists.
        assert!(remapped_share(HashType::MapBased, 10, 7) > 0.5);
    }

    #[test]
    fn down_and_backup_servers() {
        for ht in [HashType::MapBased, HashType::Consistent] {
            let s = vec![server(0, 1), server(1, 1), backup(2, 1)];
            let mut b = Hashed::new(Whole, Table::new(ht, &s));
            set_up(&s[0], false);
            for k in 0..100 {
                assert_eq!(pick_key(&mut b, &s, &format!("{k}")), 1);
            }
            set_up(&s[1], false);
            assert_eq!(pick_key(&mut b, &s, "x"), 2);
            set_up(&s[2], false);
            let input = PickInput {
                uri: Some("x"),
                ..PickInput::default()
            };
            assert_eq!(b.pick(&s, &input, None), None);
        }
    }

    #[test]
    fn unannounced_down_server_is_never_chosen() {
        for ht in [HashType::MapBased, HashType::Consistent] {
            let s = farm(&[1, 1]);
            let mut b = Hashed::new(Whole, Table::new(ht, &s));
            pick_key(&mut b, &s, "warm");
            store_up_silently(&s[0], false);
            for k in 0..100 {
                assert_eq!(pick_key(&mut b, &s, &format!("{k}")), 1);
            }
        }
    }

    #[test]
    fn exclude_moves_to_another_server() {
        for ht in [HashType::MapBased, HashType::Consistent] {
            let s = farm(&[1, 1, 1]);
            let mut b = Hashed::new(Whole, Table::new(ht, &s));
            for k in 0..100 {
                let key = format!("{k}");
                let input = PickInput {
                    uri: Some(&key),
                    ..PickInput::default()
                };
                let first = b.pick(&s, &input, None).unwrap();
                let other = b.pick(&s, &input, Some(first)).unwrap();
                assert_ne!(first, other);
            }
        }
    }

    #[test]
    fn no_key_falls_back_to_round_robin() {
        let s = farm(&[1, 1]);
        let mut b = Hashed::new(Whole, Table::new(HashType::MapBased, &s));
        let c = counts(&mut b, &s, &PickInput::default(), 100);
        assert_eq!(c, vec![50, 50]);
    }
}
