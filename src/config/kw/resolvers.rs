//! The `resolvers <name>` section (configuration.txt §5.3.2): the name
//! servers that resolve server names at run time, and how long answers hold.
//! The resolving itself is `crate::resolve`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::model::{Hold, Origin, Resolvers};
use crate::config::parse::{Args, Ctx, parse_duration_for};

/// Where `parse-resolv-conf` reads the system's name servers.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Parses the `resolvers <name>` line.
pub fn header(args: &mut Args, origin: &Origin) -> Result<Resolvers, String> {
    let name = args
        .next_opt()
        .ok_or("'resolvers' expects <name> as argument")?;
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(format!(
            "invalid character '{bad}' in resolvers name '{name}'"
        ));
    }
    args.finish()?;
    Ok(Resolvers {
        name,
        nameservers: Vec::new(),
        retries: 3,
        timeout_resolve: Duration::from_secs(1),
        timeout_retry: Duration::from_secs(1),
        hold: Hold::default(),
        accepted_payload_size: 512,
        origin: origin.clone(),
    })
}

/// One line inside a `resolvers` section.
pub fn line(cx: &mut Ctx<'_>, r: &mut Resolvers, args: &mut Args) -> Result<(), String> {
    let kw = args.keyword().to_string();
    match kw.as_str() {
        "nameserver" => {
            let id = args.next_string("<id> <ip>:<port>")?;
            let addr = args.next_string("<id> <ip>:<port>")?;
            args.finish()?;
            if r.nameservers.iter().any(|(n, _)| *n == id) {
                return Err(format!(
                    "'nameserver': another nameserver named '{id}' is already defined in resolvers '{}'",
                    r.name
                ));
            }
            let sa = nameserver_address(&addr)?;
            r.nameservers.push((id, sa));
        }
        "parse-resolv-conf" => {
            args.finish()?;
            let text = std::fs::read_to_string(RESOLV_CONF)
                .map_err(|e| format!("'parse-resolv-conf': cannot read {RESOLV_CONF}: {e}"))?;
            let found = resolv_conf_servers(&text);
            if found.is_empty() {
                cx.warn(format!(
                    "'parse-resolv-conf': no nameserver in {RESOLV_CONF}"
                ));
            }
            for (i, ip) in found.into_iter().enumerate() {
                r.nameservers
                    .push((format!("resolv.conf.{}", i + 1), SocketAddr::new(ip, 53)));
            }
        }
        "resolve_retries" => {
            r.retries = args.next_int(1, u32::MAX)?;
            args.finish()?;
        }
        "timeout" => {
            let which = args.next_string("'resolve' or 'retry' and a duration")?;
            let t = args.next_string("a duration")?;
            args.finish()?;
            let d = parse_duration_for(&format!("timeout {which}"), &t)?;
            if d.is_zero() {
                return Err(format!("'timeout {which}' expects a positive duration"));
            }
            match which.as_str() {
                "resolve" => r.timeout_resolve = d,
                "retry" => r.timeout_retry = d,
                "query" => {
                    return Err(
                        "'timeout query' is not supported (ringlb times each try with \
                         'timeout retry')"
                            .into(),
                    );
                }
                _ => {
                    return Err(format!(
                        "'timeout' in resolvers expects 'resolve' or 'retry', got '{which}'"
                    ));
                }
            }
        }
        "hold" => hold(&mut r.hold, args)?,
        "accepted_payload_size" => {
            // HAProxy's bounds: the classic DNS size up to the largest UDP payload.
            r.accepted_payload_size = args.next_int(512, 65535)? as u16;
            args.finish()?;
        }
        "resolution_pool_size" => {
            args.next_string("a number")?;
            args.finish()?;
            cx.warn("'resolution_pool_size' is deprecated (HAProxy 1.8) and ignored");
        }
        other => {
            return Err(format!(
                "unknown keyword '{other}' in resolvers section '{}'{}",
                r.name,
                super::did_you_mean(other, KNOWN)
            ));
        }
    }
    Ok(())
}

/// Keywords of the section, for suggestions.
const KNOWN: &[&str] = &[
    "nameserver",
    "parse-resolv-conf",
    "resolve_retries",
    "timeout",
    "hold",
    "accepted_payload_size",
];

/// `hold <status> <period>`.
fn hold(h: &mut Hold, args: &mut Args) -> Result<(), String> {
    let status = args.next_string("<status> <period>")?;
    let t = args.next_string("<status> <period>")?;
    args.finish()?;
    let d = parse_duration_for(&format!("hold {status}"), &t)?;
    let slot = match status.as_str() {
        "valid" => &mut h.valid,
        "nx" => &mut h.nx,
        "other" => &mut h.other,
        "refused" => &mut h.refused,
        "timeout" => &mut h.timeout,
        "obsolete" => &mut h.obsolete,
        _ => {
            return Err(format!(
                "'hold' expects 'nx', 'other', 'refused', 'timeout', 'valid' or 'obsolete', got '{status}'"
            ));
        }
    };
    *slot = d;
    Ok(())
}

/// A name server's address: `ip:port` or `udp@ip:port`; TCP is refused.
fn nameserver_address(s: &str) -> Result<SocketAddr, String> {
    let rest = match s.split_once('@') {
        Some(("udp" | "udp4" | "udp6" | "ipv4" | "ipv6", r)) => r,
        Some(("tcp" | "tcp4" | "tcp6", _)) => {
            return Err(format!(
                "'nameserver': DNS over TCP ('{s}') is not supported by ringlb; use a UDP name server"
            ));
        }
        Some((p, _)) => {
            return Err(format!(
                "'nameserver': unsupported address family '{p}@' in '{s}'"
            ));
        }
        None => s,
    };
    if let Ok(sa) = rest.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err(format!("'nameserver': invalid port 0 in '{s}'"));
        }
        return Ok(sa);
    }
    // A name server without a port is asked on 53, as HAProxy.
    if let Ok(ip) = rest
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "'nameserver': '{s}' is not an <ip>:<port> (name servers are given by address)"
    ))
}

/// The `nameserver <ip>` lines of a resolv.conf text.
fn resolv_conf_servers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "nameserver").then_some(())?;
            // A scoped IPv6 address (`fe80::1%eth0`) keeps its address part.
            w.next()?.split('%').next()?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_addresses() {
        assert_eq!(
            nameserver_address("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            nameserver_address("udp@[::1]:53").unwrap(),
            "[::1]:53".parse().unwrap()
        );
        assert_eq!(
            nameserver_address("10.0.0.1").unwrap(),
            "10.0.0.1:53".parse().unwrap()
        );
        assert!(
            nameserver_address("tcp@127.0.0.1:53")
                .unwrap_err()
                .contains("TCP")
        );
        assert!(nameserver_address("dns.example:53").is_err());
    }

    #[test]
    fn resolv_conf() {
        let t = "# c\nnameserver 127.0.0.53\nsearch x\nnameserver fe80::1%eth0\nnameserver bad\n";
        assert_eq!(
            resolv_conf_servers(t),
            vec![
                "127.0.0.53".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }
}
