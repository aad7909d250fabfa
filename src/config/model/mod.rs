//! The validated configuration model: what the runtime is built from.
//!
//! The parser (`parse.rs` and `kw/`) turns haproxy.cfg sections into these types
//! and checks them; nothing here is parsed again on the hot path. A `listen`
//! section yields one [`Frontend`] and one [`Backend`] of the same name; a
//! `frontend` points at its backend by index, so a dangling `default_backend`
//! cannot reach the runtime.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod balance;
mod cpu;
mod dns;
mod ext_checks;
mod health;
mod routing;

pub use balance::*;
pub use cpu::*;
pub use dns::*;
pub use ext_checks::*;
pub use health::*;
pub use routing::*;

/// Where a diagnostic comes from: a file and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// Configuration file as given on the command line.
    pub file: String,
    /// 1-based line number in that file.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A warning found while loading: printed at start, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where the keyword stands.
    pub origin: Origin,
    /// What the operator should know, naming the keyword.
    pub message: String,
}

/// An address as HAProxy writes them: `ip:port`, `:port`, `[v6]:port`,
/// `unix@path` or `fd@<n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An IPv4 or IPv6 socket address (`:port` and `*:port` mean 0.0.0.0).
    Inet(SocketAddr),
    /// A Unix stream socket path.
    Unix(PathBuf),
    /// A Unix stream socket in Linux's abstract namespace (`abns@<name>`):
    /// no file, gone with the last process holding it.
    Abstract(String),
    /// A socket already open and inherited from the parent process.
    Fd(i32),
}

/// HTTP or TCP proxying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Layer 7: parse requests and responses.
    Http,
    /// Layer 4: relay bytes. HAProxy's default.
    #[default]
    Tcp,
}

/// How the stickiness cookie is handled (`cookie <name> <mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// The proxy adds `Set-Cookie: <name>=<value>`.
    Insert,
    /// The server sets the cookie; the proxy rewrites its value.
    Rewrite,
    /// The proxy prefixes the application's cookie with `<value>~`.
    Prefix,
}

/// `cookie <name> ...` in a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// Cookie name.
    pub name: String,
    /// insert, rewrite or prefix.
    pub mode: CookieMode,
    /// `indirect`.
    pub indirect: bool,
    /// `nocache`.
    pub nocache: bool,
    /// `httponly`.
    pub httponly: bool,
    /// `secure`.
    pub secure: bool,
    /// `postonly`.
    pub postonly: bool,
    /// `domain <d>` (several allowed).
    pub domains: Vec<String>,
    /// `attr <value>` (several allowed; `SameSite=None`...), in order.
    pub attrs: Vec<String>,
    /// `maxidle <t>`.
    pub maxidle: Option<Duration>,
    /// `maxlife <t>`.
    pub maxlife: Option<Duration>,
    /// Where the keyword stands.
    pub origin: Origin,
}

/// `option httpchk [<method>] [<uri>] [<version>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// Request method, `OPTIONS` by default.
    pub method: String,
    /// Request URI, `/` by default.
    pub uri: String,
    /// HTTP version, `HTTP/1.0` by default; may carry extra header lines after `\r\n`.
    pub version: String,
}

/// `option forwardfor [except <net>] [header <name>] [if-none]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    /// Header name, `X-Forwarded-For` by default.
    pub header: String,
    /// `except <net>`: do not add for sources in this network (address, prefix length).
    pub except: Option<(std::net::IpAddr, u8)>,
    /// `if-none`: add only when the request has no such header.
    pub if_none: bool,
}

/// How a log line is framed for its target (`log ... format <f>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `<PRI>Mmm dd hh:mm:ss [host ]ringlb[pid]: msg` (HAProxy's default).
    #[default]
    Rfc3164,
    /// `<level>msg`: the severity alone, without the facility.
    Short,
    /// The message alone (containers reading stdout).
    Raw,
    /// `<PRI>1 <ISO date> <host|-> ringlb <pid> - <sd|-> msg` (RFC 5424).
    Rfc5424,
    /// `<PRI>msg`: the whole priority (facility and level).
    Priority,
    /// `<ISO date> msg`.
    Iso,
    /// `<level><ISO date> msg`.
    Timed,
}

/// A `log` line of `global` or of a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// `log global`: use the targets of `global`.
    Global,
    /// `log <addr> [len <n>] <facility> [<level> [<minlevel>]]`.
    Syslog {
        /// Where to send: UDP address (port 514 by default), `unix@`/path, `stdout`, `stderr`.
        address: String,
        /// `len <n>`: truncate lines to this length.
        len: Option<usize>,
        /// `format <f>`: the framing (rfc3164 unless told).
        format: LogFormat,
        /// Syslog facility name (`local0`, ...).
        facility: String,
        /// Maximum level sent.
        level: Option<String>,
        /// Minimum level sent.
        minlevel: Option<String>,
    },
    /// `log ... sample <ranges>:<size> ...`: `target` takes only the lines
    /// whose number, counted modulo `size` from 1, falls in `ranges`.
    Sampled {
        /// Inclusive ranges, sorted, within `1..=size`.
        ranges: Vec<(u32, u32)>,
        /// The period.
        size: u32,
        /// The sampled target (a `Syslog`).
        target: Box<LogTarget>,
    },
}

/// `stats ...` in a proxy, kept for the stats issue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    /// `stats enable`.
    pub enabled: bool,
    /// `stats uri <path>` (default `/haproxy?stats`).
    pub uri: Option<String>,
    /// `stats realm <realm>`.
    pub realm: Option<String>,
    /// `stats auth <user>:<pass>`, several.
    pub auth: Vec<(String, String)>,
    /// `stats refresh <t>`.
    pub refresh: Option<Duration>,
    /// `stats hide-version`.
    pub hide_version: bool,
    /// `stats show-node [name]`.
    pub show_node: Option<Option<String>>,
    /// `stats admin if|unless <cond>`: when it holds, the page shows the
    /// admin form and takes its POST (`stats::admin`).
    pub admin: Option<crate::acl::Condition>,
    /// `stats scope <proxy>` lines: only these proxies are shown (all without any).
    pub scope: Vec<String>,
    /// `stats show-legends`: server addresses, cookies and check details on the page.
    pub show_legends: bool,
    /// `stats show-desc [<desc>]`: the description to show (`None` inside: the global one).
    pub show_desc: Option<Option<String>>,
}

/// `stats socket <path> [mode <m>] [level <l>] [user|uid <u>] [group|gid <g>]`
/// in `global`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    /// Socket address (`unix@path`, a path, or `ip:port`).
    pub address: Address,
    /// `mode <octal>`.
    pub mode: Option<u32>,
    /// `level user|operator|admin` (default `operator`).
    pub level: String,
    /// `uid <n>` or `user <name>` (resolved): the owner of a Unix socket.
    pub uid: Option<u32>,
    /// `gid <n>` or `group <name>` (resolved): the group of a Unix socket.
    pub gid: Option<u32>,
    /// `expose-fd listeners`: a new process may take the listening sockets
    /// over this socket (`ringlb -x <socket>`).
    pub expose_fd: bool,
}

/// The `global` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Global {
    /// `daemon`: fork into the background.
    pub daemon: bool,
    /// `maxconn`: process-wide connection limit.
    pub maxconn: Option<u32>,
    /// What to do when the open-file limit can't be raised for `maxconn`:
    /// `strict-limits` refuses to start (HAProxy 2.6's default), `no
    /// strict-limits` keeps maxconn and warns; unset, maxconn is lowered to fit.
    pub strict_limits: Option<bool>,
    /// `nbthread`: number of pinned workers (default: one per core).
    pub nbthread: Option<usize>,
    /// `ulimit-n`: the open-file limit to set instead of the computed one.
    pub ulimit_n: Option<u32>,
    /// `pidfile <path>`.
    pub pidfile: Option<PathBuf>,
    /// `chroot <dir>`: the root directory taken after binding, before dropping root.
    pub chroot: Option<PathBuf>,
    /// `cpu-map` lines that act (a thread set); a thread gets the union of its lines.
    pub cpu_map: Vec<CpuMap>,
    /// `uid <n>` (or `user <name>` resolved to its uid).
    pub uid: Option<u32>,
    /// `gid <n>` (or `group <name>` resolved to its gid).
    pub gid: Option<u32>,
    /// `user <name>` as written (the uid is resolved when loading).
    pub user: Option<String>,
    /// `group <name>` as written.
    pub group: Option<String>,
    /// `node <name>`.
    pub node: Option<String>,
    /// `log` lines of `global`.
    pub logs: Vec<LogTarget>,
    /// `log-send-hostname [<name>]`: `Some(None)` sends the system's host name.
    pub log_send_hostname: Option<Option<String>>,
    /// `stats socket` lines.
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout <t>` for the stats socket.
    pub stats_timeout: Option<Duration>,
    /// `hard-stop-after <time>`: a soft stop ends the process after this long.
    pub hard_stop_after: Option<Duration>,
    /// `master-worker`: run as a master process with a worker process (`-W`).
    pub master_worker: bool,
    /// `stats maxconn <n>`: connections served at once, all stats sockets
    /// together (HAProxy's `GLOBAL` frontend; default 10).
    pub stats_maxconn: Option<u32>,
    /// The lower of `maxconnrate` and `maxsessrate`: new connections
    /// accepted per second, all frontends together (`worker/rate.rs`).
    pub max_rate: Option<u32>,
    /// `maxpipes`: splice pipes held at once, all sessions together.
    pub maxpipes: Option<u32>,
    /// `maxsslconn`: TLS client connections at once in the process.
    pub maxsslconn: Option<u32>,
    /// `tune.pipesize`: each splice pipe's size in bytes.
    pub pipesize: Option<u32>,
}

/// Timeouts of a proxy (`timeout <name> <t>` and the 1.4 spellings).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeouts {
    /// `timeout connect` (`contimeout`).
    pub connect: Option<Duration>,
    /// `timeout client` (`clitimeout`).
    pub client: Option<Duration>,
    /// `timeout server` (`srvtimeout`).
    pub server: Option<Duration>,
    /// `timeout http-request`: the whole request head must arrive within this.
    pub http_request: Option<Duration>,
    /// `timeout http-keep-alive`: idle time between requests on a kept-alive connection.
    pub http_keep_alive: Option<Duration>,
    /// `timeout queue`.
    pub queue: Option<Duration>,
    /// `timeout check`.
    pub check: Option<Duration>,
    /// `timeout client-fin`.
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`.
    pub server_fin: Option<Duration>,
    /// `timeout tunnel`.
    pub tunnel: Option<Duration>,
    /// `timeout tarpit` (`timeout connect` when not set, as HAProxy).
    pub tarpit: Option<Duration>,
}

/// One `bind` line (or the address on a `listen` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Address to listen on.
    pub address: Address,
    /// `defer-accept`: accept a TCP connection only once the client has sent
    /// data (TCP_DEFER_ACCEPT), or at worst after the first SYN-ACK resend.
    pub defer_accept: bool,
    /// SO_KEEPALIVE on the accepted connections (`option clitcpka` or
    /// `option tcpka` on the frontend; accepted sockets inherit it).
    pub keepalive: bool,
    /// Socket options from the `bind` line (`backlog`, `mss`, `v6only`...).
    pub opts: BindOpts,
    /// Where it was written.
    pub origin: Origin,
}

/// Listening-socket options of one `bind` line, applied when it is bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindOpts {
    /// `name <name>`: the listener's name.
    pub name: Option<String>,
    /// `id <n>`: the listener's numeric id (single-socket binds only).
    pub id: Option<u32>,
    /// `backlog <n>`: the kernel accept queue length (default 4096).
    pub backlog: Option<u32>,
    /// `v6only` (true) or `v4v6` (false): IPV6_V6ONLY on an IPv6 socket.
    pub v6only: Option<bool>,
    /// `tfo`: TCP_FASTOPEN on the listener.
    pub tfo: bool,
    /// `mss <n>`: TCP_MAXSEG on the listener.
    pub mss: Option<u32>,
    /// `interface <name>`: SO_BINDTODEVICE.
    pub interface: Option<String>,
    /// `transparent`: IP_TRANSPARENT (IPV6_TRANSPARENT), accepting for foreign addresses.
    pub transparent: bool,
    /// `maxconn <n>`: at most `n` connections at once on each socket of the
    /// line (each address, each port of a range); `None` for 0 or unset.
    pub maxconn: Option<u32>,
    /// `accept-proxy`: every connection starts with a PROXY protocol header
    /// (`proxy_protocol.rs`), whose addresses replace the connection's.
    pub accept_proxy: bool,
    /// `ssl` (with `crt` and the other TLS options): a TLS handshake follows
    /// the PROXY header, if any (`tls/`).
    pub ssl: Option<std::sync::Arc<crate::tls::bind::BindTls>>,
}

/// One `server` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Server name, unique within its backend.
    pub name: String,
    /// Where to connect (resolved at load time).
    pub address: Address,
    /// No port or `+<n>`/`-<n>`: connect to the port the client connected
    /// to, plus this offset (the port in `address` then shows the offset).
    pub port_offset: Option<i32>,
    /// `weight <0..256>` (default 1).
    pub weight: u32,
    /// `cookie <value>`.
    pub cookie: Option<String>,
    /// `check`: health-check this server.
    pub check: bool,
    /// `inter <t>` (default 2 s).
    pub inter: Duration,
    /// `fastinter <t>` (default: `inter`).
    pub fastinter: Option<Duration>,
    /// `downinter <t>` (default: `inter`).
    pub downinter: Option<Duration>,
    /// `rise <n>` (default 2).
    pub rise: u32,
    /// `fall <n>` (default 3).
    pub fall: u32,
    /// `port <n>`: check this port instead.
    pub check_port: Option<u16>,
    /// `addr <ip>`: check this address instead.
    pub check_addr: Option<std::net::IpAddr>,
    /// `backup`: used only when no active server is up.
    pub backup: bool,
    /// `maxconn <n>` on the server: requests served at once, the rest queued.
    pub maxconn: Option<u32>,
    /// `maxqueue <n>`: longest queue of requests sticky to this server.
    pub maxqueue: Option<u32>,
    /// `disabled`: start in maintenance.
    pub disabled: bool,
    /// Slow start, tracking, passive observation, session shutdowns.
    pub health: ServerHealth,
    /// `resolvers <name>` on a server written with a host name: resolved again at run time.
    pub dns: Option<ServerDns>,
    /// `init-addr` found no address: the server starts in maintenance
    /// (HAProxy's RMAINT) until a resolution gives it one.
    pub unresolved: bool,
    /// `source <addr>[:<port>]`: local address of its connections (wins
    /// over the backend's).
    pub source: Option<SocketAddr>,
    /// `minconn <n>`: the dynamic limit's floor (`maxconn` the ceiling).
    pub minconn: Option<u32>,
    /// `id <n>`: the server's number in the stats (`sid`).
    pub id: Option<u32>,
    /// `send-proxy[-v2]`, `proxy-v2-options`: the PROXY header its
    /// connections start with (`None`: none).
    pub send_proxy: Option<crate::server::proxy_header::ProxyOpts>,
    /// The PROXY header its health checks start with: `check-send-proxy`,
    /// or the server's own when the check goes to its address and port.
    pub check_send_proxy: Option<crate::server::proxy_header::ProxyOpts>,
    /// `ssl`: its connections are TLS, configured by this (`None`: plain).
    pub ssl: Option<std::sync::Arc<crate::tls::server::ServerTls>>,
    /// Its health checks are TLS (`check-ssl`, or `ssl` when the check has
    /// neither `port` nor `addr` of its own, as HAProxy); same settings.
    pub check_ssl: Option<std::sync::Arc<crate::tls::server::ServerTls>>,
    /// `agent-check`: its agent (`None`: no agent).
    pub agent: Option<AgentCheck>,
    /// Its TLS settings for `tcp-check connect ssl` rules (built only when
    /// the backend's tcp-check has one).
    pub tcpcheck_tls: Option<std::sync::Arc<crate::tls::server::ServerTls>>,
    /// Where it was written.
    pub origin: Origin,
}

/// Options that act on the HTTP exchange, merged from frontend and backend as HAProxy does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpOptions {
    /// `option httpclose` (or 1.4's `option forceclose`): close both sides after each exchange.
    pub httpclose: bool,
    /// `option http-server-close`: keep the client alive, close the server side.
    pub http_server_close: bool,
    /// `option forwardfor`.
    pub forwardfor: Option<ForwardFor>,
    /// `option originalto` (`if_none` unused).
    pub originalto: Option<ForwardFor>,
    /// `option http-pretend-keepalive`: closing the server side after the
    /// response without telling the server (no `Connection: close`).
    pub pretend_keepalive: bool,
    /// `option accept-invalid-http-request` (frontend): header names with
    /// characters outside the token set, and `#` or non-ASCII in the target.
    pub accept_invalid_request: bool,
    /// `option accept-invalid-http-response` (backend): header names with
    /// characters outside the token set in the server's responses.
    pub accept_invalid_response: bool,
    /// `option http-use-proxy-header` (frontend): a proxied request (target
    /// neither `/...` nor `*`) authenticates with `Proxy-Authorization`, and
    /// `http-request auth` answers it 407. HAProxy 2.6 reads Proxy-Connection
    /// no differently with it (measured), so neither does ringlb.
    pub use_proxy_header: bool,
    /// `http-request deny [deny_status <s>] if { req.body_size gt <n> }`: the largest
    /// body allowed and the status (413, or HAProxy's default 403) for a larger one.
    pub max_body: Option<(u64, u16)>,
    /// `http-reuse`: which idle server connections a request may take.
    pub reuse: HttpReuse,
    /// `option prefer-last-server`: a keep-alive client's next request goes to
    /// the server whose connection its session still holds.
    pub prefer_last_server: bool,
    /// `option abortonclose`: a request whose client closed while it waited
    /// for a slot or a connection is abandoned, not sent.
    pub abortonclose: bool,
    /// `option http-buffer-request`: the whole body (up to a buffer) is read
    /// before a server is chosen and connected to.
    pub buffer_request: bool,
    /// `option independent-streams`: a write to a socket no longer pushes
    /// back the timeout of the read waiting on it.
    pub independent_streams: bool,
}

/// `http-reuse never|safe|aggressive|always` (HAProxy 2.6's meanings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpReuse {
    /// Server connections stay private to the client session that opened them.
    Never,
    /// A session's first request always opens its own connection.
    #[default]
    Safe,
    /// A first request may take a connection that has already been reused.
    Aggressive,
    /// Any request may take any idle connection.
    Always,
}

/// Logging options of a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogOptions {
    /// `log` lines of the proxy (`log global` included).
    pub targets: Vec<LogTarget>,
    /// `option httplog`.
    pub httplog: bool,
    /// `option tcplog`.
    pub tcplog: bool,
    /// `option httpslog`: httplog with the TLS fields (`httplog` is set too).
    pub httpslog: bool,
    /// `option dontlognull`.
    pub dontlognull: bool,
    /// `option log-health-checks`.
    pub log_health_checks: bool,
    /// `option dontlog-normal`: no line for an exchange that ended normally.
    pub dontlog_normal: bool,
    /// `option log-separate-errors`: lines of failed exchanges at `err`.
    pub log_separate_errors: bool,
    /// `log-format` (or `option httplog clf`'s format), checked at parse:
    /// the traffic line's custom format, compiled by `crate::log::custom`.
    pub format: Option<String>,
    /// `log-format-sd`: the RFC 5424 structured data of traffic lines.
    pub format_sd: Option<String>,
    /// `error-log-format`: the line of a connection that failed before its
    /// stream (bad PROXY header, TLS handshake failure).
    pub error_format: Option<String>,
}

/// A frontend: where clients arrive (a `frontend` or the front half of a `listen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    /// Proxy name.
    pub name: String,
    /// http or tcp.
    pub mode: Mode,
    /// Listening addresses.
    pub binds: Vec<Bind>,
    /// `option nolinger`: SO_LINGER 0 on the listeners (accepted
    /// connections inherit it), so closing a client connection sends RST.
    pub nolinger: bool,
    /// `option splice-*` of the frontend (a session ORs its backend's).
    pub splice: crate::tcp::splice::SpliceOpts,
    /// `maxconn` of this frontend.
    pub maxconn: Option<u32>,
    /// Index into [`Config::backends`] (`default_backend`, or the listen's own
    /// half); `None` for a frontend that routes only with `use_backend`.
    pub backend: Option<usize>,
    /// `use_backend` rules in order, and the ACLs their conditions index.
    pub routing: Routing,
    /// HTTP rules run on the frontend's requests and responses.
    pub rules: Rules,
    /// `tcp-request connection` and `tcp-request content` rules (their
    /// conditions index `routing.acls`).
    pub tcp: TcpRules,
    /// Timeouts (client, http-request, http-keep-alive act here).
    pub timeouts: Timeouts,
    /// HTTP options of the frontend.
    pub http: HttpOptions,
    /// Logging options.
    pub log: LogOptions,
    /// `stats ...` when served on this frontend.
    pub stats: Stats,
    /// Custom error pages (`errorfile`, `errorloc*`, `errorfiles`, `http-error`).
    pub errors: crate::http::errors::ErrorPages,
    /// `monitor-uri` and `monitor fail`.
    pub monitor: Monitor,
    /// Header and cookie captures for the log (`None`: none declared).
    pub captures: Option<std::sync::Arc<crate::log::capture::CaptureSpec>>,
    /// `unique-id-format` and `unique-id-header` (`None`: no format).
    pub unique_id: Option<crate::http::unique_id::UniqueId>,
    /// The proxy keywords of `kw/proxy.rs` (`disabled`, `rate-limit`, `id`, ...).
    pub settings: ProxySettings,
    /// Where the section starts.
    pub origin: Origin,
}

/// `monitor-uri <uri>` and its `monitor fail if|unless <cond>` lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Monitor {
    /// A request whose URI is exactly this is answered 200 by ringlb itself.
    pub uri: Option<String>,
    /// Conditions (against the frontend's ACLs) that turn the answer into 503.
    pub fail: Vec<crate::acl::Condition>,
    /// 1.4's `monitor-net <net>`: connections from it get `HTTP/1.0 200 OK`
    /// (mode http) or are closed (mode tcp) at once, unlogged.
    pub net: Option<(std::net::IpAddr, u8)>,
}

impl Monitor {
    /// Whether a connection from `peer` is a `monitor-net` probe.
    pub fn from_monitor_net(&self, peer: Option<SocketAddr>) -> bool {
        let (Some((net, len)), Some(peer)) = (self.net, peer) else {
            return false;
        };
        let ip = match peer.ip() {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        let bits = |a: std::net::IpAddr| -> (u128, u32) {
            match a {
                std::net::IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
                std::net::IpAddr::V6(a) => (u128::from(a), 128),
            }
        };
        let ((a, wa), (n, wn)) = (bits(ip), bits(net));
        let len = u32::from(len).min(wn);
        wa == wn && (len == 0 || (a ^ n) >> (wn - len) == 0)
    }
}

/// A backend: a set of servers and how to choose among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Proxy name.
    pub name: String,
    /// http or tcp.
    pub mode: Mode,
    /// `balance`.
    pub balance: Balance,
    /// `hash-type`.
    pub hash_type: HashType,
    /// `hash-type`'s function and `avalanche`.
    pub hash_function: HashFunction,
    /// `hash-balance-factor`: bounded loads on the consistent ring, in % of
    /// the average load (0: unbounded).
    pub hash_balance_factor: u32,
    /// Servers, in configuration order.
    pub servers: Vec<Server>,
    /// Timeouts (connect, server, queue, check act here).
    pub timeouts: Timeouts,
    /// `retries <n>` (default 3).
    pub retries: u32,
    /// `option redispatch` (or 1.4's `redispatch`).
    pub redispatch: bool,
    /// Which retries redispatch (`option redispatch <interval>`; -1: the last).
    pub redispatch_after: i32,
    /// `option allbackups`: with no active server usable, balance over every
    /// usable backup server, not only the first.
    pub allbackups: bool,
    /// `option persist`.
    pub persist: bool,
    /// `cookie` (the last one written wins).
    pub cookie: Option<Cookie>,
    /// `option httpchk`.
    pub httpchk: Option<HttpCheck>,
    /// `option external-check`: checks run this program instead of connecting.
    pub external_check: Option<ExternalCheck>,
    /// `option tcp-check` (its rules) or a protocol check, compiled.
    pub tcpcheck: Option<std::sync::Arc<crate::check::tcp_rules::Program>>,
    /// `http-check` rules (used only with `option httpchk`, as HAProxy).
    pub http_check: crate::check::http_rules::HttpCheckRules,
    /// HTTP options of the backend.
    pub http: HttpOptions,
    /// `log-health-checks` and other logging options.
    pub log: LogOptions,
    /// `stats ...` when declared in this backend.
    pub stats: Stats,
    /// `fullconn`, `maxconn` on the backend side.
    pub maxconn: Option<u32>,
    /// SO_KEEPALIVE on server connections (`option srvtcpka` / `tcpka`).
    pub keepalive: bool,
    /// `option nolinger`: SO_LINGER 0 on server connections.
    pub nolinger: bool,
    /// `option splice-*` of the backend (a session ORs its frontend's).
    pub splice: crate::tcp::splice::SpliceOpts,
    /// HTTP rules run on the backend's requests and responses.
    pub rules: Rules,
    /// Custom error pages, used for errors after the backend was chosen.
    pub errors: crate::http::errors::ErrorPages,
    /// `tcp-request content` (a `backend` section's own; a `listen`'s run
    /// as the frontend's) and `tcp-response content` rules.
    pub tcp: TcpRules,
    /// The ACLs the backend's `tcp` rules index (empty without rules).
    pub acls: AclTable,
    /// The proxy keywords of `kw/proxy.rs` (`source`, `disabled`, `id`, ...).
    pub settings: ProxySettings,
    /// `use-server`, `force-persist`/`ignore-persist`, `http-send-name-header`,
    /// `persist rdp-cookie`, resolved (`persist/`).
    pub persistence: crate::persist::Rules,
    /// Where the section starts.
    pub origin: Origin,
    /// `stick` rules (`crate::stick`).
    pub stick: crate::stick::BackendStick,
}

/// The name of the server a `dispatch` address becomes: the last of its
/// backend, never shown in the stats, and what HAProxy's logs say.
pub const DISPATCH_SERVER: &str = "<NOSRV>";

/// Proxy keywords parsed by `kw/proxy.rs`, kept together on both halves of
/// a proxy (each half reads the fields that act on its side).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxySettings {
    /// `source <addr>[:<port>]`: the local address of server connections
    /// (port 0: any port, chosen at connect time).
    pub source: Option<SocketAddr>,
    /// `disabled` (`enabled` clears it): a frontend does not listen, a
    /// backend answers 503.
    pub disabled: bool,
    /// `rate-limit sessions <n>`: new sessions accepted per second.
    pub rate_limit_sessions: Option<u32>,
    /// `id <n>`: the proxy's number in the stats (`iid`).
    pub id: Option<u32>,
    /// 1.4's `grace <t>`: on soft stop, keep listening this long.
    pub grace: Option<Duration>,
    /// `dispatch <addr>:<port>`: where every connection of the backend goes
    /// (a last, hidden server named `<NOSRV>` holds it, see [`DISPATCH_SERVER`]).
    pub dispatch: Option<SocketAddr>,
    /// A backend's `fullconn` for its servers' dynamic limits (written, or
    /// HAProxy's default), set only where a server has `minconn`.
    pub fullconn: Option<u32>,
    /// `backlog <n>`: the accept queue of `bind` lines without their own.
    pub backlog: Option<u32>,
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The `global` section.
    pub global: Global,
    /// Every frontend (from `frontend` and `listen`).
    pub frontends: Vec<Frontend>,
    /// Every backend (from `backend` and `listen`).
    pub backends: Vec<Backend>,
    /// Every `userlist` section, compiled (ACL fetches hold their own `Arc`).
    pub userlists: Vec<std::sync::Arc<crate::auth::Userlist>>,
    /// Every `resolvers` section, in file order (servers refer to them by index).
    pub resolvers: Vec<Resolvers>,
    /// `frontend` sections left out for `disabled`: where each starts and
    /// its `id`, as HAProxy still numbers them (the stats' automatic ids).
    pub disabled_frontends: Vec<(Origin, Option<u32>)>,
    /// Every `stick-table`, in declaration order (named for its proxy).
    pub stick_tables: Vec<crate::stick::TableSpec>,
}

/// What loading produced: the model and the warnings to print.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Warnings in file order.
    pub warnings: Vec<Warning>,
    /// Notices (`.notice`) in file order.
    pub notices: Vec<Warning>,
    /// Diagnostics (`.diag`) in file order, printed with `-dD`.
    pub diags: Vec<Warning>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_net_matches_the_network_only() {
        let m = |net: &str, len: u8| Monitor {
            net: Some((net.parse().unwrap(), len)),
            ..Monitor::default()
        };
        let peer = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert!(m("127.0.0.0", 8).from_monitor_net(peer("127.0.0.1:5000")));
        assert!(m("127.0.0.0", 8).from_monitor_net(peer("[::ffff:127.0.0.9]:5000")));
        assert!(!m("10.0.0.0", 8).from_monitor_net(peer("127.0.0.1:5000")));
        assert!(m("10.1.2.3", 32).from_monitor_net(peer("10.1.2.3:1")));
        assert!(!m("10.1.2.3", 32).from_monitor_net(peer("10.1.2.4:1")));
        assert!(m("0.0.0.0", 0).from_monitor_net(peer("192.0.2.1:1")));
        assert!(m("2001:db8::", 32).from_monitor_net(peer("[2001:db8::1]:1")));
        assert!(!m("2001:db8::", 32).from_monitor_net(peer("127.0.0.1:1")));
        assert!(!Monitor::default().from_monitor_net(peer("127.0.0.1:1")));
        assert!(!m("127.0.0.0", 8).from_monitor_net(None));
    }
}
