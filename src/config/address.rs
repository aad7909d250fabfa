//! Addresses as HAProxy writes them, for `bind`, the `listen` line, `server`,
//! `log` targets and `stats socket`.
//!
//! Forms: `ip:port`, `:port` and `*:port` (any address), `[v6]:port`, the
//! family prefixes `ipv4@`/`ipv6@` (and `udp@`/`udp4@`/`udp6@` for logs),
//! `unix@/path` or a bare `/path` (Unix socket), `fd@<n>` (inherited socket),
//! and host names, resolved once here at load time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use super::model::Address;

/// What the address is for: decides whether a port is required and which forms fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `bind` or the address on a `listen` line: port required.
    Bind,
    /// `server`: port required, host names resolved.
    Server,
    /// `log` target: UDP, port 514 when absent.
    Log,
    /// `stats socket`: a Unix path or `ip:port`.
    StatsSocket,
}

/// Syslog's UDP port, used when a `log` target names none.
const SYSLOG_PORT: u16 = 514;

/// Which address family a prefix asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

/// Parses one address for the given role (no comma lists: the caller splits them).
pub fn parse_address(s: &str, role: Role) -> Result<Address, String> {
    if s.is_empty() {
        return Err("empty address".into());
    }
    let (prefix, rest) = match s.split_once('@') {
        Some((p, r)) if !p.contains(':') && !p.contains('/') => (Some(p), r),
        _ => (None, s),
    };
    let family = match prefix {
        None => Family::Any,
        Some("ipv4") => Family::V4,
        Some("ipv6") => Family::V6,
        Some("udp" | "udp4" | "udp6") if role == Role::Log => match prefix {
            Some("udp4") => Family::V4,
            Some("udp6") => Family::V6,
            _ => Family::Any,
        },
        Some("unix") => return unix_path(rest, s),
        Some("fd") => return inherited_fd(rest, s, role),
        Some("abns") if role != Role::Log => return abstract_name(rest, s),
        Some("sockpair") => {
            return Err(format!(
                "'sockpair@' (connections passed over a socketpair, HAProxy's master-worker \
                 plumbing) is not supported by ringlb (in '{s}'); use 'fd@<n>' for an \
                 inherited listening socket or 'abns@<name>'"
            ));
        }
        Some(p @ ("abns" | "udp" | "udp4" | "udp6" | "tcp" | "tcp4" | "tcp6")) => {
            return Err(format!(
                "address family '{p}@' is not supported here (in '{s}')"
            ));
        }
        Some(p) => {
            return Err(format!(
                "unknown address family '{p}@' in '{s}' (expected ipv4@, ipv6@, unix@, abns@ or fd@)"
            ));
        }
    };
    if prefix.is_none() && rest.starts_with('/') {
        return unix_path(rest, s);
    }
    inet(rest, s, family, role).map(Address::Inet)
}

/// A `bind` address, whose port may be a range `<low>-<high>`: one address
/// per port, as HAProxy listens on each.
pub fn parse_bind_addresses(s: &str) -> Result<Vec<Address>, String> {
    let range = s
        .rsplit_once(':')
        .filter(|(_, p)| !p.contains(']'))
        .and_then(|(h, p)| p.split_once('-').map(|(lo, hi)| (h, lo, hi)));
    let Some((host, lo, hi)) = range else {
        return parse_address(s, Role::Bind).map(|a| vec![a]);
    };
    let lo = parse_port(lo, s)?;
    let hi = parse_port(hi, s)?;
    if lo > hi {
        return Err(format!("port range {lo}-{hi} is reversed in '{s}'"));
    }
    (lo..=hi)
        .map(|port| parse_address(&format!("{host}:{port}"), Role::Bind))
        .collect()
}

/// A `server` address whose port may be absent (connect to the port the
/// client connected to) or relative (`+<n>`/`-<n>`: that port plus or minus
/// n), as HAProxy allows; returns the address (when relative, its port is the
/// offset wrapped to 16 bits, as HAProxy shows it) and the
/// offset from the client's destination port when the port is relative.
pub fn parse_server_address(s: &str) -> Result<(Address, Option<i32>), String> {
    let is_inet = |a: &str| !a.starts_with('/') && !a.contains('@');
    if !is_inet(s) {
        return parse_address(s, Role::Server).map(|a| (a, None));
    }
    let (host, port) = split_host_port(s, s)?;
    let offset = match port {
        None => 0,
        Some(p) if p.starts_with('+') || p.starts_with('-') => {
            let n: i32 = p[1..]
                .parse()
                .ok()
                .filter(|n| *n <= i32::from(u16::MAX))
                .ok_or_else(|| format!("'{p}' is not a valid port offset in '{s}'"))?;
            if p.starts_with('-') { -n } else { n }
        }
        Some(_) => return parse_address(s, Role::Server).map(|a| (a, None)),
    };
    let ip = if let Ok(ip) = host.parse::<IpAddr>() {
        ip
    } else if host.is_empty() || host == "*" {
        return Err(format!("missing server address in '{s}'"));
    } else {
        resolve(host, 0, Family::Any, s)?.ip()
    };
    // The port holds the offset, wrapped to 16 bits, as HAProxy keeps it
    // (its stats show `127.0.0.2:1` for `:+1`); connecting never reads it.
    let shown = offset as u16;
    Ok((Address::Inet(SocketAddr::new(ip, shown)), Some(offset)))
}

/// `unix@/path` or `/path`.
fn unix_path(path: &str, whole: &str) -> Result<Address, String> {
    if path.is_empty() {
        return Err(format!("missing socket path in '{whole}'"));
    }
    Ok(Address::Unix(PathBuf::from(path)))
}

/// `abns@<name>`: an abstract Unix socket (the name travels without its NUL).
fn abstract_name(name: &str, whole: &str) -> Result<Address, String> {
    // sun_path holds 108 bytes, the first being the NUL that marks the namespace.
    if name.is_empty() || name.len() > 107 {
        return Err(format!(
            "'abns@' expects a name of 1 to 107 bytes, got '{whole}'"
        ));
    }
    Ok(Address::Abstract(name.to_string()))
}

/// `fd@<n>`: a socket inherited from the parent process.
fn inherited_fd(n: &str, whole: &str, role: Role) -> Result<Address, String> {
    if role == Role::Server {
        return Err(format!("'fd@' cannot be a server address (in '{whole}')"));
    }
    n.parse::<i32>()
        .ok()
        .filter(|fd| *fd >= 0)
        .map(Address::Fd)
        .ok_or_else(|| format!("'fd@' expects a file descriptor number, got '{whole}'"))
}

/// `host:port`, `[v6]:port`, `:port`, `*:port`, and for logs a bare host.
fn inet(s: &str, whole: &str, family: Family, role: Role) -> Result<SocketAddr, String> {
    let (host, port) = split_host_port(s, whole)?;
    let port = match port {
        Some(p) => parse_port(p, whole)?,
        None if role == Role::Log => SYSLOG_PORT,
        None => {
            return Err(format!(
                "missing port in '{whole}' (expected <address>:<port>)"
            ));
        }
    };
    let ip = if host.is_empty() || host == "*" {
        match family {
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        ip
    } else {
        return resolve(host, port, family, whole);
    };
    match (family, ip) {
        (Family::V4, IpAddr::V6(_)) => Err(format!("'ipv4@' with an IPv6 address in '{whole}'")),
        (Family::V6, IpAddr::V4(_)) => Err(format!("'ipv6@' with an IPv4 address in '{whole}'")),
        _ => Ok(SocketAddr::new(ip, port)),
    }
}

/// Splits at the port colon: `[v6]:p` by the bracket, otherwise the last colon.
fn split_host_port<'a>(s: &'a str, whole: &str) -> Result<(&'a str, Option<&'a str>), String> {
    if let Some(inner) = s.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in '{whole}'"))?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((host, Some(p))),
                None => Err(format!("unexpected '{after}' after ']' in '{whole}'")),
            },
        };
    }
    Ok(match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    })
}

/// A port between 1 and 65535; ranges and offsets are refused with a clear message.
fn parse_port(p: &str, whole: &str) -> Result<u16, String> {
    if p.contains('-') || p.starts_with('+') {
        return Err(format!(
            "port ranges and offsets are not supported (in '{whole}')"
        ));
    }
    match p.parse::<u16>() {
        Ok(0) => Err(format!("port 0 is not a valid port (in '{whole}')")),
        Ok(n) => Ok(n),
        Err(_) if p.is_empty() => Err(format!("missing port after ':' in '{whole}'")),
        Err(_) => Err(format!(
            "'{p}' is not a valid port in '{whole}' (expected 1 to 65535)"
        )),
    }
}

/// Resolves a host name once, at load time, preferring the asked family.
fn resolve(host: &str, port: u16, family: Family, whole: &str) -> Result<SocketAddr, String> {
    let valid = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !valid {
        return Err(format!("invalid address '{whole}'"));
    }
    let addrs = lookup(host, port)
        .map_err(|e| format!("cannot resolve host name '{host}' in '{whole}': {e}"))?;
    let pick = match family {
        Family::V4 => addrs.iter().find(|a| a.is_ipv4()),
        Family::V6 => addrs.iter().find(|a| a.is_ipv6()),
        // Prefer IPv4 like HAProxy's default resolution order.
        Family::Any => addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()),
    };
    pick.copied()
        .ok_or_else(|| format!("host name '{host}' in '{whole}' has no usable address"))
}

/// The system resolver (`getaddrinfo`), asked once per host name at load time.
#[cfg(not(fuzzing))]
fn lookup(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    Ok(std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?.collect())
}

/// Fuzz builds (`--cfg fuzzing`) never ask the system resolver, so a fuzzed
/// configuration cannot send a DNS query: only `localhost` is known.
#[cfg(fuzzing)]
fn lookup(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        ]);
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "name resolution is disabled in fuzz builds",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(s: &str) -> Address {
        Address::Inet(s.parse().expect("test socket address"))
    }

    #[test]
    fn ip_and_port() {
        assert_eq!(
            parse_address("127.0.0.1:8080", Role::Bind),
            Ok(inet("127.0.0.1:8080"))
        );
        assert_eq!(parse_address(":80", Role::Bind), Ok(inet("0.0.0.0:80")));
        assert_eq!(parse_address("*:80", Role::Bind), Ok(inet("0.0.0.0:80")));
        assert_eq!(
            parse_address("[::1]:443", Role::Bind),
            Ok(inet("[::1]:443"))
        );
        assert_eq!(parse_address(":::80", Role::Bind), Ok(inet("[::]:80")));
    }

    #[test]
    fn family_prefixes() {
        assert_eq!(
            parse_address("ipv4@:80", Role::Bind),
            Ok(inet("0.0.0.0:80"))
        );
        assert_eq!(parse_address("ipv6@:80", Role::Bind), Ok(inet("[::]:80")));
        assert_eq!(
            parse_address("ipv6@[::1]:80", Role::Server),
            Ok(inet("[::1]:80"))
        );
        assert!(parse_address("ipv4@[::1]:80", Role::Bind).is_err());
        assert!(parse_address("ipv6@1.2.3.4:80", Role::Bind).is_err());
        assert!(
            parse_address("tcp@x:1", Role::Bind)
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            parse_address("foo@x", Role::Bind)
                .unwrap_err()
                .contains("unknown address family")
        );
    }

    #[test]
    fn unix_and_fd() {
        assert_eq!(
            parse_address("unix@/run/lb.sock", Role::Bind),
            Ok(Address::Unix("/run/lb.sock".into()))
        );
        assert_eq!(
            parse_address("/run/admin.sock", Role::StatsSocket),
            Ok(Address::Unix("/run/admin.sock".into()))
        );
        assert_eq!(parse_address("fd@3", Role::Bind), Ok(Address::Fd(3)));
        assert!(parse_address("fd@x", Role::Bind).is_err());
        assert!(parse_address("fd@3", Role::Server).is_err());
        assert!(parse_address("unix@", Role::Bind).is_err());
    }

    #[test]
    fn abstract_sockets_and_refused_families() {
        for role in [Role::Bind, Role::Server, Role::StatsSocket] {
            assert_eq!(
                parse_address("abns@lb-clear", role),
                Ok(Address::Abstract("lb-clear".into()))
            );
        }
        assert!(parse_address("abns@", Role::Bind).is_err());
        assert!(parse_address(&format!("abns@{}", "x".repeat(108)), Role::Bind).is_err());
        assert!(parse_address("abns@x", Role::Log).is_err());
        let e = parse_address("sockpair@4", Role::StatsSocket).unwrap_err();
        assert!(e.contains("not supported") && e.contains("fd@"), "{e}");
    }

    #[test]
    fn host_names_resolve() {
        assert_eq!(
            parse_address("localhost:8080", Role::Server),
            Ok(inet("127.0.0.1:8080"))
        );
        assert!(parse_address("bad host:80", Role::Server).is_err());
    }

    #[test]
    fn ports() {
        let e = parse_address("127.0.0.1", Role::Bind).unwrap_err();
        assert!(e.contains("missing port"), "{e}");
        let e = parse_address("127.0.0.1", Role::Server).unwrap_err();
        assert!(e.contains("missing port"), "{e}");
        assert!(
            parse_address("1.2.3.4:", Role::Bind)
                .unwrap_err()
                .contains("missing port")
        );
        assert!(
            parse_address("1.2.3.4:http", Role::Bind)
                .unwrap_err()
                .contains("not a valid port")
        );
        assert!(parse_address("1.2.3.4:70000", Role::Bind).is_err());
        assert!(parse_address("1.2.3.4:0", Role::Bind).is_err());
        assert!(
            parse_address(":80-90", Role::Bind)
                .unwrap_err()
                .contains("ranges")
        );
        assert_eq!(
            parse_bind_addresses("127.0.0.1:80-82"),
            Ok(vec![
                inet("127.0.0.1:80"),
                inet("127.0.0.1:81"),
                inet("127.0.0.1:82")
            ])
        );
        assert_eq!(
            parse_bind_addresses("[::1]:80-81"),
            Ok(vec![inet("[::1]:80"), inet("[::1]:81")])
        );
        assert_eq!(parse_bind_addresses(":80"), Ok(vec![inet("0.0.0.0:80")]));
        assert!(
            parse_bind_addresses(":90-80")
                .unwrap_err()
                .contains("reversed")
        );
        assert!(parse_bind_addresses(":0-80").is_err());
        assert!(parse_bind_addresses(":80-").is_err());
        assert!(parse_address("[::1", Role::Bind).is_err());
        assert!(parse_address("", Role::Bind).is_err());
    }

    #[test]
    fn server_ports_may_be_absent_or_relative() {
        let rel = parse_server_address;
        assert_eq!(rel("127.0.0.2"), Ok((inet("127.0.0.2:0"), Some(0))));
        assert_eq!(rel("127.0.0.2:+1"), Ok((inet("127.0.0.2:1"), Some(1))));
        assert_eq!(
            rel("127.0.0.2:-1000"),
            Ok((inet("127.0.0.2:64536"), Some(-1000)))
        );
        assert_eq!(rel("[::1]:+2"), Ok((inet("[::1]:2"), Some(2))));
        assert_eq!(rel("[::1]"), Ok((inet("[::1]:0"), Some(0))));
        assert_eq!(rel("localhost"), Ok((inet("127.0.0.1:0"), Some(0))));
        assert_eq!(rel("127.0.0.2:80"), Ok((inet("127.0.0.2:80"), None)));
        assert_eq!(
            rel("unix@/x.sock"),
            Ok((Address::Unix("/x.sock".into()), None))
        );
        assert!(rel("127.0.0.2:+x").unwrap_err().contains("port offset"));
        assert!(rel("127.0.0.2:+70000").is_err());
        assert!(rel("127.0.0.2:0").is_err());
    }

    #[test]
    fn log_defaults_to_514() {
        assert_eq!(
            parse_address("127.0.0.1", Role::Log),
            Ok(inet("127.0.0.1:514"))
        );
        assert_eq!(
            parse_address("udp@10.0.0.1:5140", Role::Log),
            Ok(inet("10.0.0.1:5140"))
        );
        assert!(parse_address("udp@10.0.0.1:5140", Role::Bind).is_err());
    }
}
