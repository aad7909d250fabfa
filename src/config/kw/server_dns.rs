//! The server options about names (`resolvers`, `resolve-prefer`,
//! `resolve-net`, `resolve-opts`, `init-addr`) and how a server's address
//! is found at load time when it is a host name (configuration.txt §5.2).

use std::net::IpAddr;

use crate::config::address::parse_server_address;
use crate::config::model::{Address, Prefer};
use crate::config::parse::Args;
use crate::config::raw::{InitAddr, ServerOpts};

/// A server's address as found at load time.
#[derive(Debug, Clone)]
pub struct ServerAddress {
    /// The address to start with (0.0.0.0 with the port when `unresolved`).
    pub address: Address,
    /// Offset from the client's destination port (absent or relative port).
    pub port_offset: Option<i32>,
    /// The host name, when there is one and `resolvers` is set.
    pub fqdn: Option<String>,
    /// `init-addr` gave no address.
    pub unresolved: bool,
}

/// Parses one of this module's options into `opts`.
pub fn option(opts: &mut ServerOpts, opt: &str, args: &mut Args) -> Result<(), String> {
    match opt {
        "resolvers" => opts.resolvers = Some(args.next_string("a resolvers section name")?),
        "resolve-prefer" => {
            let v = args.next_string("'ipv4' or 'ipv6'")?;
            opts.resolve_prefer = Some(match v.as_str() {
                "ipv4" => Prefer::Ipv4,
                "ipv6" => Prefer::Ipv6,
                _ => {
                    return Err(format!(
                        "'resolve-prefer' expects 'ipv4' or 'ipv6', got '{v}'"
                    ));
                }
            });
        }
        "resolve-net" => {
            let v = args.next_string("<network>[,...]")?;
            opts.resolve_net = v.split(',').map(network).collect::<Result<_, _>>()?;
        }
        "resolve-opts" => {
            let v = args.next_string("<option>[,...]")?;
            for o in v.split(',') {
                match o {
                    "allow-dup-ip" => opts.allow_dup_ip = true,
                    "prevent-dup-ip" => opts.allow_dup_ip = false,
                    // Only SRV records carry weights, and SRV is refused.
                    "ignore-weight" => {}
                    _ => {
                        return Err(format!(
                            "'resolve-opts' expects 'allow-dup-ip', 'ignore-weight' or \
                             'prevent-dup-ip', got '{o}'"
                        ));
                    }
                }
            }
        }
        _ => {
            let v = args.next_string("<method>[,...]")?;
            let methods: Vec<Option<InitAddr>> =
                v.split(',').map(init_method).collect::<Result<_, _>>()?;
            // `last` reads the `server-state-file`; ringlb has none, so it
            // finds nothing and the next method is tried, as in HAProxy
            // without a state file (`last,libc,none` is the usual advice).
            let methods: Vec<InitAddr> = methods.into_iter().flatten().collect();
            if methods.is_empty() {
                return Err(
                    "'init-addr last' reads a 'server-state-file', which ringlb does not \
                            build, so it finds no address; add 'libc', 'none' or an IP address \
                            after it"
                        .into(),
                );
            }
            opts.init_addr = Some(methods);
        }
    }
    Ok(())
}

/// One `init-addr` method (`None` for `last`, which never finds anything here).
fn init_method(m: &str) -> Result<Option<InitAddr>, String> {
    match m {
        "libc" => Ok(Some(InitAddr::Libc)),
        "none" => Ok(Some(InitAddr::None)),
        "last" => Ok(None),
        _ => m
            .parse::<IpAddr>()
            .map(|ip| Some(InitAddr::Ip(ip)))
            .map_err(|_| {
                format!("'init-addr' expects 'last', 'libc', 'none' or an IP address, got '{m}'")
            }),
    }
}

/// `<ip>/<len>` (or a bare address: the host alone).
fn network(s: &str) -> Result<(IpAddr, u8), String> {
    let (ip, len) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("'resolve-net' expects <ip>/<prefix length>, got '{s}'"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        "" => max,
        l => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("'resolve-net': bad prefix length in '{s}'"))?,
    };
    Ok((ip, len))
}

/// A `server-template` count `<n>` (1..n) or range `<low>-<high>`.
pub fn template_range(s: &str) -> Result<std::ops::RangeInclusive<u32>, String> {
    let bad = || format!("'server-template' expects a number or a range <low>-<high>, got '{s}'");
    let (lo, hi) = match s.split_once('-') {
        Some((lo, hi)) => (
            lo.parse::<u32>().map_err(|_| bad())?,
            hi.parse::<u32>().map_err(|_| bad())?,
        ),
        None => (1, s.parse::<u32>().map_err(|_| bad())?),
    };
    if lo == 0 || hi < lo {
        return Err(bad());
    }
    if hi - lo >= 4096 {
        return Err(format!(
            "'server-template': too many servers in '{s}' (at most 4096)"
        ));
    }
    Ok(lo..=hi)
}

/// Finds a server's starting address: an IP as written, or for a host name
/// the `init-addr` methods in order (HAProxy's default, `last,libc`, is
/// `libc` here since there is no state file).
pub fn address(addr: &str, opts: &ServerOpts) -> Result<ServerAddress, String> {
    let Some((host, port)) = host_name(addr) else {
        let (address, port_offset) = parse_server_address(addr)?;
        return Ok(ServerAddress {
            address,
            port_offset,
            fqdn: None,
            unresolved: false,
        });
    };
    if opts.resolvers.is_some() && host.starts_with('_') {
        return Err(format!(
            "'{host}' is a DNS SRV name; SRV records are not supported by ringlb (use the \
             host name with its port)"
        ));
    }
    let with_ip = |ip: IpAddr| {
        let a = match ip {
            IpAddr::V4(v4) => format!("{v4}"),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let text = match port {
            Some(p) => format!("{a}:{p}"),
            None => a,
        };
        parse_server_address(&text)
    };
    let fqdn = opts
        .resolvers
        .as_ref()
        .map(|_| host.trim_end_matches('.').to_ascii_lowercase());
    let Some(methods) = &opts.init_addr else {
        // The default: the system resolver, its error as it says it.
        let (address, port_offset) = parse_server_address(addr)?;
        return Ok(ServerAddress {
            address,
            port_offset,
            fqdn,
            unresolved: false,
        });
    };
    let mut found = None;
    let mut why = String::new();
    for m in methods {
        let r = match *m {
            InitAddr::Libc => parse_server_address(addr).map(|a| (a, false)),
            InitAddr::Ip(ip) => with_ip(ip).map(|a| (a, false)),
            InitAddr::None => with_ip(IpAddr::from([0, 0, 0, 0])).map(|a| (a, true)),
        };
        match r {
            Ok(v) => {
                found = Some(v);
                break;
            }
            Err(e) => why = e,
        }
    }
    let Some(((address, port_offset), unresolved)) = found else {
        return Err(format!("could not resolve address '{host}' ({why})"));
    };
    Ok(ServerAddress {
        address,
        port_offset,
        fqdn,
        unresolved,
    })
}

/// The host name and port text of an address, when the host is a name
/// (not an IP, not a Unix path or a prefixed address).
fn host_name(addr: &str) -> Option<(&str, Option<&str>)> {
    if addr.starts_with('/') || addr.starts_with('[') || addr.contains('@') {
        return None;
    }
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (addr, None),
    };
    let is_name = !host.is_empty() && host != "*" && host.parse::<IpAddr>().is_err();
    is_name.then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(init: &[InitAddr], resolvers: bool) -> ServerOpts {
        ServerOpts {
            init_addr: Some(init.to_vec()),
            resolvers: resolvers.then(|| "r".to_string()),
            ..ServerOpts::default()
        }
    }

    #[test]
    fn init_addr_methods_in_order() {
        let a = address("web.test:8080", &opts(&[InitAddr::None], true)).unwrap();
        assert!(a.unresolved);
        assert_eq!(a.fqdn.as_deref(), Some("web.test"));
        assert_eq!(a.address, Address::Inet("0.0.0.0:8080".parse().unwrap()));
        let ip = InitAddr::Ip("127.0.0.9".parse().unwrap());
        let a = address("Web.Test.:81", &opts(&[ip, InitAddr::None], true)).unwrap();
        assert!(!a.unresolved);
        assert_eq!(a.fqdn.as_deref(), Some("web.test"));
        assert_eq!(a.address, Address::Inet("127.0.0.9:81".parse().unwrap()));
        // An IP address is never resolved again.
        let a = address("127.0.0.1:80", &opts(&[InitAddr::None], true)).unwrap();
        assert!(a.fqdn.is_none() && !a.unresolved);
    }

    #[test]
    fn refusals_name_the_reason() {
        assert_eq!(init_method("last"), Ok(None), "skipped: no state file here");
        assert!(init_method("dns").unwrap_err().contains("init-addr"));
        let e = address("_http._tcp.web.test", &opts(&[InitAddr::None], true)).unwrap_err();
        assert!(e.contains("SRV"), "{e}");
        assert!(network("10.0.0.0/33").is_err());
        assert_eq!(network("10.0.0.0/8").unwrap().1, 8);
    }

    #[test]
    fn template_ranges() {
        assert_eq!(template_range("3").unwrap(), 1..=3);
        assert_eq!(template_range("5-7").unwrap(), 5..=7);
        assert!(template_range("0").is_err());
        assert!(template_range("7-5").is_err());
        assert!(template_range("x").is_err());
    }
}
