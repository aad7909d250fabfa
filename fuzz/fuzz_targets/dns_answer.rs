//! The resolver's reading of DNS answers (`resolve/wire.rs answer`) and the
//! slot assignment that follows (`resolve/assign.rs`).
//!
//! Input: byte 0 chooses the family asked (even: A, odd: AAAA), bytes 1-2
//! the query id; the rest is the datagram received.
//!
//! Properties:
//! - nothing panics;
//! - an address only comes from the answer: each one is in the datagram's
//!   bytes (4 for A, 16 for AAAA), and no address is given twice;
//! - an answer is only read as one to the query sent: the datagram's id is
//!   the query's;
//! - the servers of the name get addresses from that answer only, and no two
//!   of them share one (without `allow-dup-ip`).
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use ringlb::config::model::Prefer;
use ringlb::resolve::assign::{self, Slot};
use ringlb::resolve::wire::{self, Family, Outcome};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let family = if data[0] & 1 == 0 { Family::V4 } else { Family::V6 };
    let id = u16::from_be_bytes([data[1], data[2]]);
    let msg = &data[3..];
    let Some(outcome) = wire::answer(msg, id, "web.test", family) else {
        return;
    };
    assert!(msg.len() >= 2 && u16::from_be_bytes([msg[0], msg[1]]) == id);
    let Outcome::Valid(ips) = outcome else {
        return;
    };
    for (i, ip) in ips.iter().enumerate() {
        let bytes: Vec<u8> = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        assert!(
            msg.windows(bytes.len()).any(|w| w == bytes),
            "{ip} is not in the answer"
        );
        assert!(!ips[..i].contains(ip), "{ip} twice");
    }
    let ordered = assign::order(ips.clone(), Prefer::Ipv4, &[]);
    let slots = [Slot { current: None, may_keep: false }; 3];
    let got = assign::assign(&slots, &ordered, false);
    let given: Vec<IpAddr> = got.iter().flatten().copied().collect();
    for (i, ip) in given.iter().enumerate() {
        assert!(ips.contains(ip) && !given[..i].contains(ip));
    }
});
