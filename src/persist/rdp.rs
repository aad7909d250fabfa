//! `persist rdp-cookie[(<name>)]`: the server whose address the RDP
//! cookie (`msts` by default) encodes, as a Windows broker writes it:
//! `msts=<ip>.<port>.0000`, the IPv4 address as the decimal value of its
//! four bytes read little-endian and the port byte-swapped (HAProxy's
//! `tcp_persist_rdp_cookie`).

use std::net::{Ipv4Addr, SocketAddr};

use crate::balance::rdp_cookie::{Scan, scan};

/// The IPv4 address and port a cookie value `<ip>.<port>.<anything>` names.
pub fn decode(value: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.splitn(3, '.');
    let ip: u32 = parts.next()?.parse().ok()?;
    let port: u16 = parts.next()?.parse().ok()?;
    // HAProxy needs a '.' after the port.
    parts.next()?;
    let ip = Ipv4Addr::from(ip.to_le_bytes());
    Some(SocketAddr::from((ip, port.swap_bytes())))
}

/// The cookie's address in a client's first bytes, if it has one.
pub fn target(first: &[u8], name: &str) -> Option<SocketAddr> {
    match scan(first, name.as_bytes()) {
        Scan::Found(v) => decode(v),
        _ => None,
    }
}

/// The first server at `at` that may take the connection: up (or any,
/// with `option persist`), as HAProxy's `tcp_persist_rdp_cookie`.
pub fn server(
    model: &[crate::config::model::Server],
    servers: &[crate::runtime::ServerRt],
    option_persist: bool,
    at: SocketAddr,
) -> Option<usize> {
    model.iter().zip(servers).position(|(m, rt)| {
        matches!(m.address, crate::config::model::Address::Inet(a) if a == at)
            && (option_persist || rt.available())
    })
}

/// The cookie value naming `addr` (for tests): the inverse of [`decode`].
pub fn encode(addr: SocketAddr) -> Option<String> {
    let SocketAddr::V4(a) = addr else {
        return None;
    };
    let ip = u32::from_le_bytes(a.ip().octets());
    Some(format!("{ip}.{}.0000", a.port().swap_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_brokers_format() {
        // 192.168.1.217:3389, as in Microsoft's documentation.
        let a = decode(b"3640764608.15629.0000").unwrap();
        assert_eq!(a, "192.168.1.217:3389".parse().unwrap());
        assert_eq!(encode(a).unwrap(), "3640764608.15629.0000");
        assert_eq!(decode(b"3640764608.15629"), None);
        assert_eq!(decode(b"abc.1.0000"), None);
        assert_eq!(decode(b""), None);
    }

    #[test]
    fn finds_the_cookie_in_the_first_packet() {
        let p = crate::balance::rdp_cookie::connection_request(Some(
            "Cookie: msts=16777343.36895.0000",
        ));
        assert_eq!(target(&p, "msts"), Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(target(&p, "other"), None);
    }
}
