//! Which address each server of one name gets from an answer: HAProxy's
//! rules for servers sharing a name (`server-template` slots, or several
//! `server` lines with one host name).
//!
//! - A server whose address is still in the answer keeps it, so that a
//!   reordered answer moves nobody.
//! - One whose address left the answer keeps it for `hold obsolete`.
//! - The others take the first free addresses, in preference order; unless
//!   `resolve-opts allow-dup-ip`, no two servers share one.
//! - A server left without one has no address (maintenance).

use std::net::IpAddr;

use crate::config::model::Prefer;

/// Puts the answer in preference order: `resolve-net` networks first, then
/// the preferred family, otherwise as answered.
pub fn order(mut ips: Vec<IpAddr>, prefer: Prefer, nets: &[(IpAddr, u8)]) -> Vec<IpAddr> {
    let rank = |ip: &IpAddr| {
        let in_net = nets.iter().any(|(net, len)| in_network(*ip, *net, *len));
        let family = matches!(
            (ip, prefer),
            (IpAddr::V4(_), Prefer::Ipv4) | (IpAddr::V6(_), Prefer::Ipv6)
        );
        (!in_net, !family)
    };
    ips.sort_by_key(rank); // stable: answer order within a rank
    ips
}

/// Whether `ip` is in `net/len`.
pub fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// One server's standing before an answer is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Its address now (`None` while in resolution maintenance).
    pub current: Option<IpAddr>,
    /// Its address left the answers less than `hold obsolete` ago.
    pub may_keep: bool,
}

/// The address each slot gets from `answer` (already in preference order).
pub fn assign(slots: &[Slot], answer: &[IpAddr], allow_dup: bool) -> Vec<Option<IpAddr>> {
    let mut taken: Vec<IpAddr> = Vec::new();
    let mut out = vec![None; slots.len()];
    for (i, s) in slots.iter().enumerate() {
        let Some(ip) = s.current else { continue };
        let free = allow_dup || !taken.contains(&ip);
        if free && (answer.contains(&ip) || s.may_keep) {
            out[i] = Some(ip);
            taken.push(ip);
        }
    }
    for slot in out.iter_mut().filter(|o| o.is_none()) {
        *slot = answer
            .iter()
            .find(|ip| allow_dup || !taken.contains(ip))
            .copied();
        if let Some(ip) = *slot {
            taken.push(ip);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn slot(current: Option<&str>) -> Slot {
        Slot {
            current: current.map(ip),
            may_keep: false,
        }
    }

    #[test]
    fn kept_addresses_stay_and_free_slots_fill_in_order() {
        let answer = [ip("10.0.0.3"), ip("10.0.0.1"), ip("10.0.0.2")];
        let slots = [
            slot(None),
            slot(Some("10.0.0.1")),
            slot(None),
            slot(Some("10.0.0.9")),
        ];
        assert_eq!(
            assign(&slots, &answer, false),
            vec![
                Some(ip("10.0.0.3")),
                Some(ip("10.0.0.1")),
                Some(ip("10.0.0.2")),
                None
            ]
        );
    }

    #[test]
    fn duplicates_only_when_allowed() {
        let answer = [ip("10.0.0.1")];
        let slots = [slot(None), slot(None)];
        assert_eq!(
            assign(&slots, &answer, false),
            vec![Some(ip("10.0.0.1")), None]
        );
        assert_eq!(
            assign(&slots, &answer, true),
            vec![Some(ip("10.0.0.1")), Some(ip("10.0.0.1"))]
        );
    }

    #[test]
    fn obsolete_addresses_are_held() {
        let held = Slot {
            current: Some(ip("10.0.0.5")),
            may_keep: true,
        };
        assert_eq!(assign(&[held], &[], false), vec![Some(ip("10.0.0.5"))]);
        assert_eq!(assign(&[slot(Some("10.0.0.5"))], &[], false), vec![None]);
    }

    #[test]
    fn preference_order() {
        let ips = vec![ip("::1"), ip("10.1.0.1"), ip("192.168.0.1")];
        assert_eq!(order(ips.clone(), Prefer::Ipv4, &[])[0], ip("10.1.0.1"));
        assert_eq!(order(ips.clone(), Prefer::Ipv6, &[])[0], ip("::1"));
        let nets = [(ip("192.168.0.0"), 16)];
        assert_eq!(order(ips, Prefer::Ipv6, &nets)[0], ip("192.168.0.1"));
        assert!(in_network(ip("10.2.3.4"), ip("10.0.0.0"), 8));
        assert!(!in_network(ip("11.2.3.4"), ip("10.0.0.0"), 8));
        assert!(in_network(ip("1.2.3.4"), ip("0.0.0.0"), 0));
    }
}
