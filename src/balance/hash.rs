//! What the hash-based algorithms (`source`, `uri`, `url_param`, `hdr`,
//! `rdp-cookie`) share: HAProxy's key hash functions, the two `hash-type`
//! tables that map a hash to a server, and [`Hashed`], the balancer that ties
//! a key to a table.
//!
//! Each algorithm's file only says how to find its key ([`Key`]). Everything
//! here is HAProxy 2.6's definition, written from its description (functions
//! of `hash-type`, `full_hash` for `avalanche`, the weighted map of
//! `map-based`, the ring of `consistent` in [`super::consistent`]), so a key
//! lands on the server HAProxy would pick for the same server list: a fleet
//! mixing both sends a client to the same place. `tests/balance_haproxy.rs`
//! compares the two on the same configurations.

use super::consistent::Ring;
use super::roundrobin::RoundRobin;
use super::{Balancer, PickInput, Watch, live_set};
use crate::config::model::{self, HashFn, HashFunction, HashType};
use crate::runtime::ServerRt;

/// `sdbm`: `h = c + (h << 6) + (h << 16) - h` per byte (HAProxy's default).
pub fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// `djb2`: from 5381, `h = h * 33 + c` per byte.
pub fn djb2(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &c| {
        h.wrapping_mul(33).wrapping_add(u32::from(c))
    })
}

/// `wt6`: Willy Tarreau's two-register hash whose rotation amounts depend on
/// the bytes already seen.
pub fn wt6(key: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c_965a_u32, 0x5ca6_953a_u32);
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in key {
        let c = u32::from(c);
        h0 = !(h0 ^ c);
        h1 = !(h1.wrapping_add(c));
        let next0 = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = next0;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// `crc32`: the IEEE 802.3 CRC (reflected polynomial 0xedb88320, inverted in and out).
pub fn crc32(key: &[u8]) -> u32 {
    let mut h = !0u32;
    for &c in key {
        h ^= u32::from(c);
        for _ in 0..8 {
            h = (h >> 1) ^ if h & 1 != 0 { 0xedb8_8320 } else { 0 };
        }
    }
    !h
}

/// `none`: the key read as a signed decimal integer (leading digits, an
/// optional sign, saturating at the 64-bit limits), truncated to 32 bits.
pub fn none(key: &[u8]) -> u32 {
    let (neg, digits) = match key {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, key),
    };
    let mut v: u64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        match v
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(c - b'0')))
        {
            Some(n) => v = n,
            None => {
                v = u64::MAX;
                break;
            }
        }
    }
    let signed: i64 = if neg {
        if v > 1 << 63 {
            i64::MIN
        } else {
            (v as i64).wrapping_neg()
        }
    } else {
        v.min(i64::MAX as u64) as i64
    };
    signed as u32
}

/// HAProxy's `full_hash`: Bob Jenkins' 32-bit integer avalanche, then a
/// multiply by 3221225473 to spread small values over the whole ring. Used by
/// `avalanche` and to place the consistent ring's points.
pub fn full_hash(a: u32) -> u32 {
    let mut a = a;
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

/// The hash of a key's bytes under `hash-type`'s function, then `avalanche`.
pub fn key_hash(f: HashFunction, key: &[u8]) -> u32 {
    let h = match f.func {
        HashFn::Sdbm => sdbm(key),
        HashFn::Djb2 => djb2(key),
        HashFn::Wt6 => wt6(key),
        HashFn::Crc32 => crc32(key),
        HashFn::None => none(key),
    };
    finish(f, h)
}

/// `avalanche` alone (what `balance source` applies to its address words).
pub fn finish(f: HashFunction, h: u32) -> u32 {
    if f.avalanche { full_hash(h) } else { h }
}

/// How an algorithm finds and hashes its key in a request.
pub trait Key {
    /// The key's hash under `f`, or `None` when the request has no key (then
    /// the balancer falls back to round robin, as HAProxy does).
    fn hash(&self, input: &PickInput<'_>, f: HashFunction) -> Option<u32>;
}

/// Greatest common divisor of the non-zero weights (1 when there are none):
/// HAProxy divides every weight by it to keep the map small.
fn weights_gcd(weights: impl Iterator<Item = u32>) -> u32 {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    weights.filter(|&w| w > 0).fold(0, gcd).max(1)
}

/// `hash-type map-based`: HAProxy's server map, `hash % total weight` into a
/// table where each live server appears `weight / gcd` times, interleaved
/// the way HAProxy interleaves them (each slot to the server whose
/// accumulated score is highest, the first declared on ties).
#[derive(Debug, Default)]
pub struct MapTable {
    /// Server index of each slot.
    slots: Vec<u32>,
    /// Scratch: each live server's accumulated score while filling `slots`.
    score: Vec<i64>,
}

impl MapTable {
    fn rebuild(&mut self, servers: &[ServerRt], live: &[(u32, u32)]) {
        // HAProxy's divisor comes from the configured weights of all servers.
        let gcd = weights_gcd(servers.iter().map(|s| s.configured_weight));
        let eweight = |w: u32| i64::from(w.div_ceil(gcd));
        let total: i64 = live.iter().map(|&(_, w)| eweight(w)).sum();
        self.slots.clear();
        self.score.clear();
        self.score.resize(live.len(), 0);
        if total == 1 {
            self.slots.push(live[0].0);
            return;
        }
        for _ in 0..total {
            let mut best: Option<(usize, i64)> = None;
            for (k, &(_, w)) in live.iter().enumerate() {
                self.score[k] += eweight(w);
                // (score + total) / total lies in 0..=3; the first maximum wins.
                let v = (self.score[k] + total) / total;
                if best.is_none_or(|(_, max)| v > max) {
                    best = Some((k, v));
                }
            }
            let (k, _) = best.expect("a live server");
            self.score[k] -= total;
            self.slots.push(live[k].0);
        }
    }

    fn lookup(&self, h: u32, exclude: Option<usize>) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let at = h as usize % n;
        // Redispatch: the next slot of another server, the same for every worker.
        (0..n)
            .map(|d| self.slots[(at + d) % n] as usize)
            .find(|&i| Some(i) != exclude)
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
            HashType::Consistent => Table::Ring(Ring::with_factor(backend.hash_balance_factor)),
            HashType::MapBased => Table::of(backend.hash_type),
        }
    }

    /// An empty table of this type (filled at the first pick).
    pub fn of(hash_type: HashType) -> Table {
        match hash_type {
            HashType::MapBased => Table::Map(MapTable::default()),
            HashType::Consistent => Table::Ring(Ring::default()),
        }
    }

    /// An empty table of this type (benchmarks and tests build one without a
    /// configuration; the servers are read at the first pick).
    pub fn new(hash_type: HashType, _servers: &[ServerRt]) -> Table {
        Table::of(hash_type)
    }

    /// Rebuilds from the live set (see [`live_set`]).
    fn rebuild(&mut self, servers: &[ServerRt], live: &[(u32, u32)]) {
        match self {
            Table::Map(m) => m.rebuild(servers, live),
            Table::Ring(r) => r.rebuild(servers, live),
        }
    }

    /// The server for hash `h`, avoiding `exclude` (and, on a ring with
    /// `hash-balance-factor`, servers over their bound); `None` when no
    /// server is live.
    fn lookup(&self, servers: &[ServerRt], h: u32, exclude: Option<usize>) -> Option<usize> {
        match self {
            Table::Map(m) => m.lookup(h, exclude),
            Table::Ring(r) => r.lookup_bounded(servers, h, exclude),
        }
    }
}

/// A hash-based balancer: the key's hash through the table, round robin when
/// the request has no key.
#[derive(Debug)]
pub struct Hashed<K> {
    key: K,
    func: HashFunction,
    watch: Watch,
    live: Vec<(u32, u32)>,
    table: Table,
    fallback: RoundRobin,
}

impl<K: Key> Hashed<K> {
    /// A balancer hashing `key` with HAProxy's default function (`sdbm`) through `table`.
    pub fn new(key: K, table: Table) -> Self {
        Hashed {
            key,
            func: HashFunction::default(),
            watch: Watch::default(),
            live: Vec::new(),
            table,
            fallback: RoundRobin::new(),
        }
    }

    /// The same, hashing with `hash-type`'s function `func`.
    pub fn with_function(mut self, func: HashFunction) -> Self {
        self.func = func;
        self
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
        let Some(h) = self.key.hash(input, self.func) else {
            return self.fallback.pick(servers, input, exclude);
        };
        // A second round only when the chosen server went down unannounced:
        // the rebuild then reads every state afresh.
        for _ in 0..2 {
            if self.watch.stale(servers) {
                self.rebuild(servers);
            }
            let i = self.table.lookup(servers, h, exclude)?;
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
        fn hash(&self, input: &PickInput<'_>, f: HashFunction) -> Option<u32> {
            input.uri.map(|u| key_hash(f, u.as_bytes()))
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
    fn functions_match_their_definitions() {
        assert_eq!(sdbm(b""), 0);
        assert_eq!(sdbm(b"a"), 97);
        assert_eq!(sdbm(b"ab"), 98 + 97 * 65599);
        assert_eq!(djb2(b""), 5381);
        assert_eq!(djb2(b"a"), 5381 * 33 + 97);
        // The CRC-32 check value.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(wt6(b""), 0xa53c_965a ^ 0x5ca6_953a);
        assert_ne!(wt6(b"a"), wt6(b"b"));
        assert_eq!(none(b"42"), 42);
        assert_eq!(none(b"-1"), u32::MAX);
        assert_eq!(none(b"+7x9"), 7);
        assert_eq!(none(b"4294967297"), 1);
        assert_eq!(none(b"abc"), 0);
        assert_eq!(none(b""), 0);
        assert_eq!(none(b"99999999999999999999999"), i64::MAX as u32);
        // Bob Jenkins' avalanche is a bijection: distinct inputs stay distinct.
        let outs: std::collections::HashSet<u32> = (0..100_000).map(full_hash).collect();
        assert_eq!(outs.len(), 100_000);
        let f = HashFunction {
            func: HashFn::Djb2,
            avalanche: true,
        };
        assert_eq!(key_hash(f, b"a"), full_hash(djb2(b"a")));
    }

    #[test]
    fn map_interleaves_as_haproxy() {
        // Weights 1, 2, 3 (gcd 1): the map HAProxy's scoring builds.
        let s = farm(&[1, 2, 3]);
        let mut m = MapTable::default();
        m.rebuild(&s, &[(0, 1), (1, 2), (2, 3)]);
        assert_eq!(m.slots, vec![0, 2, 1, 2, 1, 2]);
        // Weights with a common divisor are reduced by it.
        let s = farm(&[10, 20]);
        m.rebuild(&s, &[(0, 10), (1, 20)]);
        assert_eq!(m.slots.len(), 3);
        assert_eq!(m.slots.iter().filter(|&&i| i == 1).count(), 2);
        m.rebuild(&s, &[(1, 20)]);
        assert_eq!(m.slots, vec![1, 1]);
        assert_eq!(m.lookup(7, None), Some(1));
        assert_eq!(m.lookup(7, Some(1)), None);
    }

    fn weighted_spread(hash_type: HashType, tolerance: f64) {
        let weights = [1, 3, 2, 0, 4];
        let s = farm(&weights);
        let f = HashFunction {
            func: HashFn::Sdbm,
            avalanche: true,
        };
        let mut b = Hashed::new(Whole, Table::new(hash_type, &s)).with_function(f);
        let mut c = vec![0; s.len()];
        for k in 0..100_000 {
            c[pick_key(&mut b, &s, &format!("/k/{k}"))] += 1;
        }
        let total: usize = c.iter().sum();
        for (i, (&n, &w)) in c.iter().zip(&weights).enumerate() {
            let got = n as f64 / total as f64;
            let want = f64::from(w) / 10.0;
            assert!(
                (got - want).abs() <= tolerance,
                "{i}: {got} vs {want} {c:?}"
            );
        }
    }

    #[test]
    fn map_based_follows_weights() {
        weighted_spread(HashType::MapBased, 0.01);
    }

    #[test]
    fn consistent_roughly_follows_weights() {
        // 16 points per unit of weight: HAProxy's ring is only roughly fair.
        weighted_spread(HashType::Consistent, 0.06);
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
        let f = HashFunction {
            func: HashFn::Sdbm,
            avalanche: true,
        };
        let mut b = Hashed::new(Whole, Table::new(ht, &s)).with_function(f);
        let keys: Vec<String> = (0..50_000).map(|k| format!("/u/{k}")).collect();
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
                share <= 1.0 / n as f64 + 0.06,
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
