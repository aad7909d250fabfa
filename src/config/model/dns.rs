//! `resolvers` sections and how a server name is resolved at run time.

use super::*;

/// A `resolvers <name>` section: where and how server names are resolved at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolvers {
    /// Section name.
    pub name: String,
    /// `nameserver <id> <ip>:<port>` lines (and `parse-resolv-conf`'s), UDP.
    pub nameservers: Vec<(String, std::net::SocketAddr)>,
    /// `resolve_retries <n>` (default 3): queries sent before a timeout status.
    pub retries: u32,
    /// `timeout resolve` (default 1 s): how often due resolutions are looked for.
    pub timeout_resolve: Duration,
    /// `timeout retry` (default 1 s): wait for an answer before the next try.
    pub timeout_retry: Duration,
    /// `hold <status> <period>` values.
    pub hold: Hold,
    /// `accepted_payload_size <n>` (512..65535, default 512): EDNS0 UDP size.
    pub accepted_payload_size: u16,
    /// Where the section starts.
    pub origin: Origin,
}

/// `hold <status> <period>` of a `resolvers` section, with HAProxy's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// `hold valid` (10 s): a valid answer is kept this long, then asked again.
    pub valid: Duration,
    /// `hold nx` (30 s).
    pub nx: Duration,
    /// `hold other` (30 s).
    pub other: Duration,
    /// `hold refused` (30 s).
    pub refused: Duration,
    /// `hold timeout` (30 s).
    pub timeout: Duration,
    /// `hold obsolete` (0 s): an address gone from the answers is kept this long.
    pub obsolete: Duration,
}

impl Default for Hold {
    fn default() -> Hold {
        let s30 = Duration::from_secs(30);
        Hold {
            valid: Duration::from_secs(10),
            nx: s30,
            other: s30,
            refused: s30,
            timeout: s30,
            obsolete: Duration::ZERO,
        }
    }
}

/// Which address family a server's resolution asks for first (`resolve-prefer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    /// AAAA first, then A (HAProxy's default).
    #[default]
    Ipv6,
    /// A first, then AAAA.
    Ipv4,
}

/// How one server's name is resolved at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDns {
    /// Index into [`Config::resolvers`].
    pub resolvers: usize,
    /// The name to resolve (lower case, no trailing dot).
    pub fqdn: String,
    /// `resolve-prefer`.
    pub prefer: Prefer,
    /// `resolve-net <net>[,...]`: addresses in these networks are taken first.
    pub nets: Vec<(std::net::IpAddr, u8)>,
    /// `resolve-opts allow-dup-ip`: servers of one name may share an address.
    pub allow_dup_ip: bool,
}
