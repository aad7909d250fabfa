//! `balance source`: hash of the client's IP address.
//!
//! The same client address reaches the same server from every worker and
//! after a restart, for as long as the set of live servers is the same (with
//! `hash-type consistent`, even when other servers come and go). An IPv4
//! client seen as an IPv4-mapped IPv6 address hashes as the IPv4 one. Clients
//! without an IP (Unix sockets) are balanced by round robin, as HAProxy does.

use std::net::IpAddr;

use super::PickInput;
use super::hash::{Key, hash_bytes};

/// The key of `balance source`: the client address.
#[derive(Debug, Clone, Copy, Default)]
pub struct Source;

impl Key for Source {
    fn hash(&self, input: &PickInput<'_>) -> Option<u64> {
        Some(match input.client? {
            IpAddr::V4(a) => hash_bytes(&a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => hash_bytes(&v4.octets()),
                None => hash_bytes(&a.octets()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Balancer;
    use super::super::hash::{Hashed, Table};
    use super::super::testutil::*;
    use super::*;
    use crate::config::model::HashType;

    fn from(ip: &str) -> PickInput<'static> {
        PickInput {
            client: Some(ip.parse().unwrap()),
            ..PickInput::default()
        }
    }

    #[test]
    fn same_client_same_server_and_clients_spread() {
        let w = [1, 2, 1];
        let s = farm(&w);
        let mut b = Hashed::new(Source, Table::new(HashType::MapBased, &s));
        let mut c = vec![0; 3];
        for n in 0..60_000u32 {
            let ip = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
            let first = b.pick(&s, &from(&ip), None).unwrap();
            assert_eq!(b.pick(&s, &from(&ip), None), Some(first));
            c[first] += 1;
        }
        assert_shares(&c, &w);
    }

    #[test]
    fn mapped_v6_is_v4() {
        let input = PickInput::default();
        assert_eq!(Source.hash(&input), None);
        assert_eq!(
            Source.hash(&from("192.0.2.7")),
            Source.hash(&from("::ffff:192.0.2.7"))
        );
        assert_ne!(
            Source.hash(&from("2001:db8::1")),
            Source.hash(&from("2001:db8::2"))
        );
    }

    #[test]
    fn no_address_is_round_robin() {
        let s = farm(&[1, 1]);
        let mut b = Hashed::new(Source, Table::new(HashType::Consistent, &s));
        assert_eq!(counts(&mut b, &s, &PickInput::default(), 10), vec![5, 5]);
    }
}
