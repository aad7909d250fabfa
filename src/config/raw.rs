//! Raw, per-section results of parsing, before validation.
//!
//! Keywords write here; `validate.rs` turns these into [`super::model`] types.
//! Raw types keep what validation needs and the model does not: origins of
//! references (`default_backend`), unresolved user names, which section wrote
//! a value, and the `default-server` template.

use std::net::IpAddr;
use std::time::Duration;

use super::model::{
    Balance, Bind, Cookie, HashType, HttpCheck, HttpOptions, LogOptions, LogTarget, Mode, Origin,
    Stats, StatsSocket, Timeouts,
};

/// The kind of section a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `global`.
    Global,
    /// `defaults`.
    Defaults,
    /// `listen`: a frontend and a backend in one.
    Listen,
    /// `frontend`.
    Frontend,
    /// `backend`.
    Backend,
}

impl SectionKind {
    /// The section keyword as written in the file.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Global => "global",
            SectionKind::Defaults => "defaults",
            SectionKind::Listen => "listen",
            SectionKind::Frontend => "frontend",
            SectionKind::Backend => "backend",
        }
    }

    /// Whether the section accepts clients (frontend capability).
    pub fn has_frontend(self) -> bool {
        matches!(self, SectionKind::Listen | SectionKind::Frontend)
    }

    /// Whether the section owns servers (backend capability).
    pub fn has_backend(self) -> bool {
        matches!(self, SectionKind::Listen | SectionKind::Backend)
    }
}

/// A user or group as written: a number, or a name resolved during validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ident {
    /// `uid 99` / `gid 99`.
    Id(u32),
    /// `user nobody` / `group nogroup`, with where it was written.
    Name(String, Origin),
}

/// The `global` section as parsed.
#[derive(Debug, Clone, Default)]
pub struct RawGlobal {
    /// `daemon`.
    pub daemon: bool,
    /// `maxconn`.
    pub maxconn: Option<u32>,
    /// `strict-limits` (true) or `no strict-limits` (false).
    pub strict_limits: Option<bool>,
    /// `nbthread` (or `nbproc` mapped to it).
    pub nbthread: Option<usize>,
    /// Whether `nbthread` itself was given (it wins over `nbproc`).
    pub nbthread_set: bool,
    /// `ulimit-n`.
    pub ulimit_n: Option<u32>,
    /// `pidfile`.
    pub pidfile: Option<std::path::PathBuf>,
    /// `chroot`.
    pub chroot: Option<std::path::PathBuf>,
    /// `cpu-map` lines in order.
    pub cpu_map: Vec<super::model::CpuMap>,
    /// Whether `nbproc` was given (1.x: `cpu-map <process>` then names a thread).
    pub nbproc: bool,
    /// `uid` or `user` (the last one wins).
    pub user: Option<Ident>,
    /// `gid` or `group` (the last one wins).
    pub group: Option<Ident>,
    /// `node`.
    pub node: Option<String>,
    /// `log` lines.
    pub logs: Vec<LogTarget>,
    /// `log-send-hostname`.
    pub log_send_hostname: Option<Option<String>>,
    /// `stats socket` lines.
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout`.
    pub stats_timeout: Option<Duration>,
    /// `hard-stop-after`.
    pub hard_stop_after: Option<Duration>,
    /// `master-worker`.
    pub master_worker: bool,
    /// `stats maxconn`.
    pub stats_maxconn: Option<u32>,
    /// `maxconnrate` and `maxsessrate` (the last of each wins; 0: none).
    pub max_rates: [Option<u32>; 2],
    /// `maxpipes`.
    pub maxpipes: Option<u32>,
    /// `maxsslconn`.
    pub maxsslconn: Option<u32>,
    /// `tune.pipesize`.
    pub pipesize: Option<u32>,
    /// `ssl-server-verify`, `ssl-default-server-options`.
    pub server_tls: crate::tls::server::ServerTlsDefaults,
    /// `external-check` and `insecure-fork-wanted` (`kw/ext_checks.rs`).
    pub ext_checks: super::kw::ext_checks::GlobalFlags,
}

/// Server options, used both by `server` lines and as the `default-server` template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerOpts {
    /// `weight`.
    pub weight: Option<u32>,
    /// `cookie <value>`.
    pub cookie: Option<String>,
    /// `check`.
    pub check: bool,
    /// `inter`.
    pub inter: Option<Duration>,
    /// `fastinter`.
    pub fastinter: Option<Duration>,
    /// `downinter`.
    pub downinter: Option<Duration>,
    /// `rise`.
    pub rise: Option<u32>,
    /// `fall`.
    pub fall: Option<u32>,
    /// `port` (check port).
    pub port: Option<u16>,
    /// `addr` (check address).
    pub addr: Option<IpAddr>,
    /// `backup`.
    pub backup: bool,
    /// `maxconn` (0 means no limit, as HAProxy).
    pub maxconn: Option<u32>,
    /// `maxqueue` (0 means no limit, as HAProxy).
    pub maxqueue: Option<u32>,
    /// `disabled`.
    pub disabled: bool,
    /// `slowstart`, `track`, `observe`, `error-limit`, `on-error`, `on-marked-*`.
    pub health: super::model::ServerHealth,
    /// `resolvers <name>`, looked up when validating.
    pub resolvers: Option<String>,
    /// `resolve-prefer ipv4|ipv6`.
    pub resolve_prefer: Option<super::model::Prefer>,
    /// `resolve-net <net>[,...]`.
    pub resolve_net: Vec<(IpAddr, u8)>,
    /// `resolve-opts allow-dup-ip` (`prevent-dup-ip` sets it back).
    pub allow_dup_ip: bool,
    /// `init-addr <method>[,...]`, in order (HAProxy's default: `last,libc`).
    pub init_addr: Option<Vec<InitAddr>>,
    /// `source <addr>[:<port>]`.
    pub source: Option<std::net::SocketAddr>,
    /// `minconn`.
    pub minconn: Option<u32>,
    /// `id`.
    pub id: Option<u32>,
    /// `send-proxy`, `send-proxy-v2`, `proxy-v2-options`.
    pub proxy: crate::server::proxy_header::ProxyOpts,
    /// `check-send-proxy`.
    pub check_send_proxy: bool,
    /// `ssl`, `verify`, `ca-file`, `crt`, `sni`, `alpn`, `check-ssl`, ...
    pub tls: crate::tls::server::ServerTlsOpts,
    /// `agent-check`, `agent-port`, `agent-inter`, `agent-addr`, `agent-send`.
    pub agent: super::kw::ext_checks::AgentOpts,
}

/// One `init-addr` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitAddr {
    /// `libc`: the system resolver, at load time.
    Libc,
    /// `none`: no address; the server starts in maintenance.
    None,
    /// An IP address.
    Ip(IpAddr),
}

/// One `server` line as parsed.
#[derive(Debug, Clone)]
pub struct RawServer {
    /// Server name.
    pub name: String,
    /// Resolved address.
    pub address: super::model::Address,
    /// Offset from the client's destination port when the port is absent or relative.
    pub port_offset: Option<i32>,
    /// Options, starting from the `default-server` template.
    pub opts: ServerOpts,
    /// The host name written, when the address was one and `resolvers` is set.
    pub fqdn: Option<String>,
    /// `init-addr` gave no address: starts in maintenance.
    pub unresolved: bool,
    /// Where it was written.
    pub origin: Origin,
}

/// One `use_backend <name> [if|unless <cond>]` line, the name not resolved yet.
#[derive(Debug, Clone)]
pub struct RawSwitch {
    /// The backend named.
    pub backend: String,
    /// The name as a log-format expression, when it has one (`%[...]`).
    pub dynamic: Option<crate::lf::LogFormat>,
    /// The condition, compiled against the proxy's ACLs (`None`: always).
    pub cond: Option<crate::acl::Condition>,
    /// Where it was written.
    pub origin: Origin,
}

/// One error-page line of a proxy (its own or inherited from `defaults`),
/// kept in order: later lines win when the table is built in validation.
#[derive(Debug, Clone)]
pub enum RawErrorRule {
    /// `errorfile`, `errorloc*` or `http-error`: the page for a status
    /// (`None`: back to the built-in page, `http-error ... default-errorfiles`).
    Page(u16, Option<std::sync::Arc<crate::http::errors::ErrorPage>>),
    /// `errorfiles <name> [<code>...]` (no code: every page of the section), or
    /// `http-error status <code> errorfiles <name>` (`reply`: a status the
    /// section lacks gets the built-in page instead of a warning).
    Section {
        /// The `http-errors` section named.
        name: String,
        /// The statuses taken from it (empty: all it has).
        codes: Vec<u16>,
        /// Written as an `http-error` reply.
        reply: bool,
        /// Where it was written.
        origin: Origin,
    },
}

/// An `http-errors <name>` section: `errorfile` lines only.
#[derive(Debug, Clone)]
pub struct RawHttpErrors {
    /// Its pages.
    pub pages: crate::http::errors::ErrorPages,
    /// Where the section starts.
    pub origin: Origin,
}

/// A `defaults`, `listen`, `frontend` or `backend` section as parsed.
///
/// A proxy starts as a copy of the `defaults` section before it, so fields hold
/// inherited values until the proxy's own lines overwrite them.
#[derive(Debug, Clone)]
pub struct RawProxy {
    /// Which section this is.
    pub kind: SectionKind,
    /// Proxy name (empty for an unnamed `defaults`).
    pub name: String,
    /// Where the section starts.
    pub origin: Origin,
    /// `mode`.
    pub mode: Mode,
    /// `bind` lines and the address on the section line.
    pub binds: Vec<Bind>,
    /// A `bind` line was refused (so "no bind" would only repeat the error).
    pub bind_errors: bool,
    /// `maxconn`.
    pub maxconn: Option<u32>,
    /// `fullconn`.
    pub fullconn: Option<u32>,
    /// `default_backend <name>` with where it was written.
    pub default_backend: Option<(String, Origin)>,
    /// `timeout ...` and the 1.4 spellings.
    pub timeouts: Timeouts,
    /// `retries`.
    pub retries: Option<u32>,
    /// `option redispatch` / `redispatch`.
    pub redispatch: bool,
    /// `option redispatch <interval>`: every Pth retry (P > 0), or the Nth
    /// before the last (N < 0; -1, the default, is the last one).
    pub redispatch_after: i32,
    /// `option allbackups`.
    pub allbackups: bool,
    /// `option persist`.
    pub persist: bool,
    /// `balance`.
    pub balance: Balance,
    /// `hash-type`.
    pub hash_type: HashType,
    /// `hash-type`'s function and `avalanche`.
    pub hash_function: crate::config::model::HashFunction,
    /// `hash-balance-factor` (0: off).
    pub hash_balance_factor: u32,
    /// `cookie` (the last one wins).
    pub cookie: Option<Cookie>,
    /// Whether `cookie` was written in this very section (not inherited).
    pub cookie_here: bool,
    /// `option httpchk`.
    pub httpchk: Option<HttpCheck>,
    /// `option external-check`, `external-check command|path`.
    pub external: super::kw::ext_checks::ExternalOpts,
    /// `option tcp-check`, the protocol checks and `tcp-check` rules.
    pub tcp_check: crate::config::kw::tcp_check::RawTcpCheck,
    /// `http-check` lines (`config/kw/http_check.rs`).
    pub http_check: crate::check::http_rules::HttpCheckRules,
    /// Whether an `http-check` line was written in this very section: the
    /// first one replaces the rules inherited from `defaults`.
    pub http_check_here: bool,
    /// HTTP options.
    pub http: HttpOptions,
    /// Logging options and targets.
    pub log: LogOptions,
    /// `stats ...`.
    pub stats: Stats,
    /// `default-server` template for later `server` lines.
    pub default_server: ServerOpts,
    /// `server` lines.
    pub servers: Vec<RawServer>,
    /// `acl` lines (and the anonymous and predefined ACLs rules use).
    pub acls: crate::acl::AclSet,
    /// `use_backend` lines in order.
    pub switching: Vec<RawSwitch>,
    /// `option clitcpka` (or `tcpka`): SO_KEEPALIVE on client connections.
    pub cli_keepalive: bool,
    /// `option srvtcpka` (or `tcpka`): SO_KEEPALIVE on server connections.
    pub srv_keepalive: bool,
    /// `option nolinger`: SO_LINGER 0 (a close sends RST) on this proxy's
    /// side(s): client connections of a frontend, server ones of a backend.
    pub nolinger: bool,
    /// `option splice-auto|splice-request|splice-response`.
    pub splice: crate::tcp::splice::SpliceOpts,
    /// A `use_backend` line was written (even one refused).
    pub use_backend_seen: bool,
    /// `http-request`, `http-response`, `http-after-response` and `redirect`
    /// rules, their conditions compiled against `acls` (linked when validating).
    pub rules: crate::http::rules::ProxyRules,
    /// Error-page lines in order (`defaults`' first).
    pub errors: Vec<RawErrorRule>,
    /// `monitor-uri`.
    pub monitor_uri: Option<String>,
    /// `monitor fail` conditions (against this section's ACLs).
    pub monitor_fail: Vec<crate::acl::Condition>,
    /// `monitor-net` (the last one wins, as in HAProxy 1.4).
    pub monitor_net: Option<(IpAddr, u8)>,
    /// `capture ...` and `declare capture` lines, in order.
    pub captures: crate::log::capture::CaptureSpec,
    /// `unique-id-format`, compiled.
    pub unique_id_format: Option<crate::lf::LogFormat>,
    /// `unique-id-header`.
    pub unique_id_header: Option<String>,
    /// `tcp-request` / `tcp-response` rules and inspect delays (only the
    /// delays are inherited from `defaults`).
    pub tcp: super::model::TcpRules,
    /// The proxy keywords of `kw/proxy.rs` (`source`, `disabled`, `id`, ...).
    pub settings: super::model::ProxySettings,
    /// `use-server`, `force-persist`, `ignore-persist`, `http-send-name-header`,
    /// `persist rdp-cookie` (`persist/`).
    pub persistence: crate::persist::RawRules,
    /// `stick-table` and `stick` lines (`kw/stick.rs`).
    pub stick: crate::stick::RawStick,
}

impl RawProxy {
    /// A fresh `defaults` section: HAProxy's built-in values.
    pub fn new_defaults(name: String, origin: Origin) -> Self {
        RawProxy {
            kind: SectionKind::Defaults,
            name,
            origin,
            mode: Mode::Tcp,
            binds: Vec::new(),
            bind_errors: false,
            maxconn: None,
            fullconn: None,
            default_backend: None,
            timeouts: Timeouts::default(),
            retries: None,
            redispatch: false,
            redispatch_after: -1,
            allbackups: false,
            persist: false,
            balance: Balance::RoundRobin,
            hash_type: HashType::MapBased,
            hash_function: Default::default(),
            hash_balance_factor: 0,
            cookie: None,
            cookie_here: false,
            httpchk: None,
            external: Default::default(),
            tcp_check: Default::default(),
            http_check: Default::default(),
            http_check_here: false,
            http: HttpOptions::default(),
            log: LogOptions::default(),
            stats: Stats::default(),
            default_server: ServerOpts::default(),
            servers: Vec::new(),
            acls: crate::acl::AclSet::new(),
            switching: Vec::new(),
            use_backend_seen: false,
            cli_keepalive: false,
            srv_keepalive: false,
            nolinger: false,
            splice: Default::default(),
            rules: Default::default(),
            errors: Vec::new(),
            monitor_uri: None,
            monitor_fail: Vec::new(),
            monitor_net: None,
            captures: Default::default(),
            unique_id_format: None,
            unique_id_header: None,
            tcp: super::model::TcpRules::default(),
            settings: Default::default(),
            persistence: Default::default(),
            stick: Default::default(),
        }
    }

    /// A proxy section inheriting everything from `defaults`.
    pub fn from_defaults(
        defaults: &RawProxy,
        kind: SectionKind,
        name: String,
        origin: Origin,
    ) -> Self {
        RawProxy {
            kind,
            name,
            origin,
            binds: Vec::new(),
            bind_errors: false,
            servers: Vec::new(),
            acls: crate::acl::AclSet::new(),
            switching: Vec::new(),
            use_backend_seen: false,
            rules: Default::default(),
            monitor_fail: Vec::new(),
            cookie_here: false,
            // A proxy's own `tcp-check` lines replace the ones of `defaults`.
            tcp_check: defaults.tcp_check.inherited(),
            http_check_here: false,
            ..defaults.clone()
        }
    }

    /// How warnings name this proxy: `listen 'webfarm'`.
    pub fn label(&self) -> String {
        format!("{} '{}'", self.kind.name(), self.name)
    }
}

/// A `userlist` section as parsed: names not resolved yet.
#[derive(Debug, Clone)]
pub struct RawUserlist {
    /// The section's name.
    pub name: String,
    /// Where the section starts.
    pub origin: Origin,
    /// `group <name> [users <u>,<u>...]` lines in order.
    pub groups: Vec<RawGroup>,
    /// `user <name> [password|insecure-password <pw>] [groups <g>,...]` lines in order.
    pub users: Vec<RawUser>,
}

/// One `group` line.
#[derive(Debug, Clone)]
pub struct RawGroup {
    /// The group's name.
    pub name: String,
    /// Users named by `users`.
    pub users: Vec<String>,
    /// Where it was written.
    pub origin: Origin,
}

/// One `user` line.
#[derive(Debug, Clone)]
pub struct RawUser {
    /// The user's name.
    pub name: String,
    /// The password, checked (a crypt hash libcrypt supports) when parsed.
    pub secret: crate::auth::Secret,
    /// Groups named by `groups`.
    pub groups: Vec<String>,
    /// Where it was written.
    pub origin: Origin,
}
