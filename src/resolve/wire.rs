//! DNS messages: the query a resolution sends and what an answer means.
//! Encoding and decoding are `simple-dns`'s; this file only decides which
//! records of an answer count (those for the name asked, through CNAMEs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::{OPT, RData};
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};

/// The record type asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A.
    V4,
    /// AAAA.
    V6,
}

/// What one answer says about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// NOERROR: the addresses of the asked type (maybe none).
    Valid(Vec<IpAddr>),
    /// NXDOMAIN.
    Nx,
    /// REFUSED.
    Refused,
    /// Any other error, or a truncated answer.
    Other,
}

/// Builds a query for `fqdn`, with an EDNS0 record announcing
/// `payload_size` when it is over the classic 512 bytes.
pub fn query(id: u16, fqdn: &str, family: Family, payload_size: u16) -> Option<Vec<u8>> {
    let mut p = Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    let qtype = match family {
        Family::V4 => TYPE::A,
        Family::V6 => TYPE::AAAA,
    };
    let name = Name::new(fqdn).ok()?;
    p.questions.push(Question::new(
        name,
        QTYPE::TYPE(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    if payload_size > 512 {
        *p.opt_mut() = Some(OPT {
            opt_codes: Vec::new(),
            udp_packet_size: payload_size,
            version: 0,
        });
    }
    p.build_bytes_vec().ok()
}

/// Reads an answer to the query `id` for `fqdn`; `None` when the bytes are
/// not a well-formed answer to that very question (ignored, as a stray packet).
pub fn answer(buf: &[u8], id: u16, fqdn: &str, family: Family) -> Option<Outcome> {
    let p = Packet::parse(buf).ok()?;
    if p.id() != id || !p.has_flags(PacketFlag::RESPONSE) {
        return None;
    }
    let want = match family {
        Family::V4 => TYPE::A,
        Family::V6 => TYPE::AAAA,
    };
    let asked = p.questions.first()?;
    if p.questions.len() != 1
        || asked.qtype != QTYPE::TYPE(want)
        || !same_name(&asked.qname.to_string(), fqdn)
    {
        return None;
    }
    if p.has_flags(PacketFlag::TRUNCATION) {
        return Some(Outcome::Other);
    }
    match p.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Some(Outcome::Nx),
        RCODE::Refused => return Some(Outcome::Refused),
        _ => return Some(Outcome::Other),
    }
    // The names that stand for `fqdn`: itself and the CNAME targets met.
    let mut names = vec![fqdn.trim_end_matches('.').to_ascii_lowercase()];
    let mut grew = true;
    while grew {
        grew = false;
        for rr in &p.answers {
            if let RData::CNAME(target) = &rr.rdata {
                let owner = rr.name.to_string();
                let target = target.0.to_string().to_ascii_lowercase();
                if names.iter().any(|n| same_name(&owner, n)) && !names.contains(&target) {
                    names.push(target);
                    grew = true;
                }
            }
        }
    }
    let mut ips = Vec::new();
    for rr in &p.answers {
        if !names.iter().any(|n| same_name(&rr.name.to_string(), n)) {
            continue;
        }
        let ip = match (&rr.rdata, family) {
            (RData::A(a), Family::V4) => IpAddr::V4(Ipv4Addr::from(a.address)),
            (RData::AAAA(a), Family::V6) => IpAddr::V6(Ipv6Addr::from(a.address)),
            _ => continue,
        };
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Some(Outcome::Valid(ips))
}

/// DNS names compare without case and without the root dot.
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::ResourceRecord;
    use simple_dns::rdata::{A, CNAME};

    fn reply(id: u16, q: &str, rcode: RCODE, records: Vec<(&str, RData<'static>)>) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        *p.rcode_mut() = rcode;
        p.questions.push(Question::new(
            Name::new_unchecked(q).into_owned(),
            QTYPE::TYPE(TYPE::A),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        for (n, rd) in records {
            p.answers.push(ResourceRecord::new(
                Name::new_unchecked(n).into_owned(),
                CLASS::IN,
                5,
                rd,
            ));
        }
        p.build_bytes_vec().unwrap()
    }

    fn a(ip: [u8; 4]) -> RData<'static> {
        RData::A(A {
            address: u32::from(Ipv4Addr::from(ip)),
        })
    }

    #[test]
    fn query_round_trips() {
        let q = query(7, "web.test", Family::V4, 1232).unwrap();
        let p = Packet::parse(&q).unwrap();
        assert_eq!(p.id(), 7);
        assert_eq!(p.questions[0].qname.to_string(), "web.test");
        assert_eq!(p.opt().unwrap().udp_packet_size, 1232);
        assert!(
            Packet::parse(&query(7, "web.test", Family::V6, 512).unwrap())
                .unwrap()
                .opt()
                .is_none()
        );
    }

    #[test]
    fn answers_count_only_for_the_name_asked() {
        let buf = reply(
            9,
            "web.test",
            RCODE::NoError,
            vec![
                ("web.test", a([127, 0, 0, 2])),
                ("other.test", a([127, 0, 0, 9])),
                ("WEB.test", a([127, 0, 0, 2])),
                (
                    "web.test",
                    RData::CNAME(CNAME(Name::new_unchecked("real.test"))),
                ),
                ("real.test", a([127, 0, 0, 3])),
            ],
        );
        assert_eq!(
            answer(&buf, 9, "web.test", Family::V4),
            Some(Outcome::Valid(vec![
                "127.0.0.2".parse().unwrap(),
                "127.0.0.3".parse().unwrap()
            ]))
        );
        // Another id, name or type: not an answer to this query.
        assert_eq!(answer(&buf, 10, "web.test", Family::V4), None);
        assert_eq!(answer(&buf, 9, "other.test", Family::V4), None);
        assert_eq!(answer(&buf, 9, "web.test", Family::V6), None);
        assert_eq!(
            answer(&buf[..buf.len() - 3], 9, "web.test", Family::V4),
            None
        );
    }

    #[test]
    fn error_codes() {
        let nx = reply(1, "x.test", RCODE::NameError, vec![]);
        assert_eq!(answer(&nx, 1, "x.test", Family::V4), Some(Outcome::Nx));
        let r = reply(1, "x.test", RCODE::Refused, vec![]);
        assert_eq!(answer(&r, 1, "x.test", Family::V4), Some(Outcome::Refused));
        let f = reply(1, "x.test", RCODE::ServerFailure, vec![]);
        assert_eq!(answer(&f, 1, "x.test", Family::V4), Some(Outcome::Other));
    }
}
