//! `ringlb::proxy_protocol::parse`: the PROXY protocol header (v1 and v2) at
//! the start of a connection on an `accept-proxy` listener.
//!
//! Input: arbitrary bytes, parsed as they come, and also behind a valid v1
//! and v2 header built from the input's first bytes.
//!
//! Properties:
//! - never panics;
//! - a header found is no longer than the input, and every shorter prefix of
//!   it is `Incomplete` (nothing past the header decides the outcome);
//! - a header written from parsed addresses parses back to the same
//!   addresses, in both versions;
//! - a valid header followed by arbitrary bytes is found with its own
//!   length, leaving those bytes untouched;
//! - the TLVs kept from a header (`tlvs`) re-encode, with the sending
//!   side's writer and a CRC32C, to a header that parses to the same
//!   addresses and the same TLVs; one bit flipped anywhere in its TLVs but
//!   the CRC32C TLV's type byte (which would unmake the CRC TLV) makes the
//!   header invalid.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use ringlb::proxy_protocol::{Header, Parsed, parse, tlvs, write_v1, write_v2};
use ringlb::server::proxy_header::{Endpoints, ProxyOpts, write};

/// A header built from the first bytes of `data`.
fn header_from(data: &[u8]) -> Header {
    let mut b = [0u8; 37];
    let n = data.len().min(b.len());
    b[..n].copy_from_slice(&data[..n]);
    let port = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    match b[0] % 3 {
        0 => Header::Local,
        1 => Header::Proxied {
            src: SocketAddr::new(Ipv4Addr::new(b[1], b[2], b[3], b[4]).into(), port(9)),
            dst: SocketAddr::new(Ipv4Addr::new(b[5], b[6], b[7], b[8]).into(), port(11)),
        },
        _ => {
            let ip = |o: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&b[o..o + 16]).unwrap());
            Header::Proxied {
                src: SocketAddr::new(ip(1).into(), port(33)),
                dst: SocketAddr::new(ip(17).into(), port(35)),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Parsed::Done(h, len) = parse(data) {
        assert!(len <= data.len() && len >= 15, "header length {len}");
        assert_eq!(parse(&data[..len]), Parsed::Done(h, len));
        for cut in [len - 1, len / 2] {
            assert_eq!(parse(&data[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        if let Header::Proxied { .. } = h {
            for w in [write_v1(&h), write_v2(&h)] {
                assert_eq!(parse(&w), Parsed::Done(h, w.len()), "round trip");
            }
        }
        tlvs_round_trip(h, &data[..len], data);

    }
    let h = header_from(data);
    for w in [write_v1(&h), write_v2(&h)] {
        let n = w.len();
        let joined = [w, data.to_vec()].concat();
        assert_eq!(parse(&joined), Parsed::Done(h, n), "header then input");
        assert_eq!(&joined[n..], data);
    }
});

/// Re-encodes the TLVs kept from `header` and parses them back; then flips
/// one bit (chosen by `data`) of the re-encoded TLVs: the CRC32C must refuse it.
fn tlvs_round_trip(h: Header, header: &[u8], data: &[u8]) {
    let kept = tlvs(header);
    let Header::Proxied { src, dst } = h else {
        assert_eq!(kept, None, "TLVs kept from a LOCAL or v1 header");
        return;
    };
    let opts = ProxyOpts {
        v2: true,
        crc32c: true,
        authority: true,
        unique_id: true,
        ..ProxyOpts::default()
    };
    let e = Endpoints {
        src: Some(src),
        dst: Some(dst),
        authority: kept.as_ref().and_then(|t| t.authority.as_deref()),
        unique_id: kept.as_ref().and_then(|t| t.unique_id.as_deref()),
        local: false,
        tls: None,
    };
    let mut w = Vec::new();
    write(&opts, &e, &mut w);
    assert_eq!(parse(&w), Parsed::Done(h, w.len()), "TLVs re-encoded");
    assert_eq!(tlvs(&w), kept, "TLVs kept after re-encoding");
    // One bit flipped past the CRC32C TLV's type byte.
    let from = if src.is_ipv4() { 16 + 12 } else { 16 + 36 } + 1;
    if w.len() > from && data.len() >= 2 {
        let at = from + usize::from(data[0]) % (w.len() - from);
        w[at] ^= 1 << (data[1] % 8);
        if let Parsed::Done(..) = parse(&w) {
            panic!("a flipped bit at {at} passed the CRC32C");
        }
    }
}
