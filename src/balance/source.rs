//! `balance source`: hash of the client's IP address, as HAProxy 2.6 does it.
//!
//! HAProxy ignores `hash-type`'s function here: the key is the XOR of the
//! address's 32-bit big-endian words (one for IPv4, four for IPv6), then
//! `full_hash` when `avalanche` is set. The address is the one the socket
//! reports, as HAProxy sees it: an IPv4 client of a dual-stack listener is an
//! IPv4-mapped IPv6 address and hashes as such. Clients without an IP (Unix
//! sockets) are balanced by round robin, as HAProxy does.

use std::net::IpAddr;

use super::PickInput;
use super::hash::{Key, finish};
use crate::config::model::HashFunction;

/// The key of `balance source`: the client address.
#[derive(Debug, Clone, Copy, Default)]
pub struct Source;

/// XOR of the big-endian 32-bit words of `bytes`.
fn fold_words(bytes: &[u8]) -> u32 {
    bytes
        .chunks_exact(4)
        .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

impl Key for Source {
    fn hash(&self, input: &PickInput<'_>, f: HashFunction) -> Option<u32> {
        let h = match input.client? {
            IpAddr::V4(a) => fold_words(&a.octets()),
            IpAddr::V6(a) => fold_words(&a.octets()),
        };
        Some(finish(f, h))
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
        // Consecutive addresses differ in their low bits only: sdbm is not
        // applied (as HAProxy), so the map spreads them exactly.
        assert_shares(&c, &w);
    }

    #[test]
    fn address_words_xored_as_haproxy() {
        let f = HashFunction::default();
        let input = PickInput::default();
        assert_eq!(Source.hash(&input, f), None);
        assert_eq!(Source.hash(&from("192.0.2.7"), f), Some(0xc000_0207));
        assert_eq!(
            Source.hash(&from("::ffff:192.0.2.7"), f),
            Some(0xffff ^ 0xc000_0207)
        );
        assert_eq!(Source.hash(&from("2001:db8::1"), f), Some(0x2001_0db8 ^ 1));
        let aval = HashFunction {
            avalanche: true,
            ..f
        };
        assert_eq!(
            Source.hash(&from("10.0.0.1"), aval),
            Some(super::super::hash::full_hash(0x0a00_0001))
        );
    }

    #[test]
    fn no_address_is_round_robin() {
        let s = farm(&[1, 1]);
        let mut b = Hashed::new(Source, Table::new(HashType::Consistent, &s));
        assert_eq!(counts(&mut b, &s, &PickInput::default(), 10), vec![5, 5]);
    }
}
