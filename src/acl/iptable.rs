//! An IPv4/IPv6 prefix table with longest-prefix match, for `src`/`dst` ACLs,
//! `-m ip` and `map_ip`.
//!
//! One hash map per prefix length that occurs (keys are the masked network),
//! probed from the longest length down: a lookup costs at most one hash probe
//! per distinct length (a few for real CIDR lists, 33/129 at worst), whatever
//! the number of entries. A 100,000-line CIDR file is 100,000 map entries.
//! Each entry carries a `u32` (the index of a map value, or the line number).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A multiply-fold hash for masked addresses: the keys come from the
/// configuration, not from clients, so SipHash's flood resistance buys nothing
/// and costs a third of a lookup.
#[derive(Debug, Default, Clone, Copy)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

type AddrMap = HashMap<u128, u32, BuildHasherDefault<AddrHasher>>;

/// The networks of one address family, by prefix length.
#[derive(Debug, Default, Clone)]
struct Family {
    /// (prefix length, network → value), longest length first.
    levels: Vec<(u8, AddrMap)>,
}

impl Family {
    fn insert(&mut self, net: u128, len: u8, bits: u8, value: u32) {
        let key = mask(net, len, bits);
        let pos = match self.levels.binary_search_by(|(l, _)| len.cmp(l)) {
            Ok(p) => p,
            Err(p) => {
                self.levels.insert(p, (len, AddrMap::default()));
                p
            }
        };
        // The first line wins, as in HAProxy's pattern files.
        self.levels[pos].1.entry(key).or_insert(value);
    }

    fn lookup(&self, addr: u128, bits: u8) -> Option<u32> {
        self.levels
            .iter()
            .find_map(|(len, m)| m.get(&mask(addr, *len, bits)).copied())
    }

    fn len(&self) -> usize {
        self.levels.iter().map(|(_, m)| m.len()).sum()
    }
}

/// `addr` with only its first `len` of `bits` bits kept.
fn mask(addr: u128, len: u8, bits: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    let keep = u128::MAX << (bits - len);
    let keep = if bits == 32 { keep & 0xffff_ffff } else { keep };
    addr & keep
}

/// A set of IPv4 and IPv6 networks, each with a value.
#[derive(Debug, Default, Clone)]
pub struct IpTable {
    v4: Family,
    v6: Family,
}

impl IpTable {
    /// An empty table.
    pub fn new() -> IpTable {
        IpTable::default()
    }

    /// Adds `addr/len` with `value` (the first insertion of a network wins).
    pub fn insert(&mut self, addr: IpAddr, len: u8, value: u32) {
        match addr {
            IpAddr::V4(a) => self.v4.insert(u32::from(a) as u128, len.min(32), 32, value),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), len.min(128), 128, value),
        }
    }

    /// The value of the longest network containing `addr`.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is also looked up as IPv4,
    /// and an IPv4 address as its mapped IPv6 form, as HAProxy does.
    pub fn lookup(&self, addr: IpAddr) -> Option<u32> {
        match addr {
            IpAddr::V4(a) => self
                .v4
                .lookup(u32::from(a) as u128, 32)
                .or_else(|| self.v6_of_v4(a)),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a), 128).or_else(|| {
                a.to_ipv4_mapped()
                    .and_then(|v4| self.v4.lookup(u32::from(v4) as u128, 32))
            }),
        }
    }

    fn v6_of_v4(&self, a: Ipv4Addr) -> Option<u32> {
        if self.v6.levels.is_empty() {
            return None;
        }
        let m: Ipv6Addr = a.to_ipv6_mapped();
        self.v6.lookup(u128::from(m), 128)
    }

    /// Number of networks.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether the table has no network.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses `a.b.c.d`, `a.b.c.d/len`, `a.b.c.d/255.255.0.0`, `v6` or `v6/len`.
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{s}' is not a valid IPv4 or IPv6 address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => netmask_len(l, ip).ok_or_else(|| format!("'{s}': invalid prefix length"))?,
        },
    };
    Ok((ip, len))
}

/// The length of a dotted IPv4 netmask (`255.255.0.0` → 16), if contiguous.
fn netmask_len(m: &str, ip: IpAddr) -> Option<u8> {
    if !ip.is_ipv4() {
        return None;
    }
    let m: Ipv4Addr = m.parse().ok()?;
    let bits = u32::from(m);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = IpTable::new();
        for (i, c) in ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "0.0.0.0/0"]
            .iter()
            .enumerate()
        {
            let (a, l) = parse_cidr(c).unwrap();
            t.insert(a, l, i as u32);
        }
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(2));
        assert_eq!(t.lookup(ip("10.1.9.9")), Some(1));
        assert_eq!(t.lookup(ip("10.9.9.9")), Some(0));
        assert_eq!(t.lookup(ip("11.0.0.1")), Some(3));
        assert_eq!(t.lookup(ip("::ffff:10.1.2.3")), Some(2));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn v6_and_masks() {
        let mut t = IpTable::new();
        let (a, l) = parse_cidr("2001:db8::/32").unwrap();
        t.insert(a, l, 7);
        let (a, l) = parse_cidr("192.168.0.0/255.255.0.0").unwrap();
        assert_eq!(l, 16);
        t.insert(a, l, 8);
        assert_eq!(t.lookup(ip("2001:db8:1::1")), Some(7));
        assert_eq!(t.lookup(ip("2001:db9::1")), None);
        assert_eq!(t.lookup(ip("192.168.44.1")), Some(8));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("10.0.0.0/255.0.255.0").is_err());
        assert!(parse_cidr("nope").is_err());
    }

    #[test]
    fn v4_against_mapped_v6_pattern() {
        let mut t = IpTable::new();
        let (a, l) = parse_cidr("::ffff:10.0.0.0/104").unwrap();
        t.insert(a, l, 1);
        assert_eq!(t.lookup(ip("10.2.3.4")), Some(1));
    }
}
