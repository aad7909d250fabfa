//! The command line: scenarios, their options, and the hidden subcommands the
//! harness runs itself as (client processes pinned with taskset).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Command line.
#[derive(Parser)]
#[command(
    version,
    about = "Compare ringlb with HAProxy, nginx and the bare backend under wrk"
)]
pub struct Cli {
    /// The scenario (or hidden client role) to run.
    #[command(subcommand)]
    pub scenario: ScenarioCmd,
}

/// Which load to apply.
#[derive(Subcommand)]
pub enum ScenarioCmd {
    /// Persistent client connections (wrk's default).
    Keepalive(Opts),
    /// A new client connection per request (`Connection: close`), with server
    /// connections reused, then with `option httpclose` on both sides, then
    /// reused again with `bind ... defer-accept`.
    Close(Opts),
    /// keepalive, then close, sharing one backend.
    All(Opts),
    /// Content switching: plain keep-alive, then keep-alive through a
    /// frontend with 20 ACLs, 10 `use_backend` lines and 5 header rules
    /// (nginx: maps and proxy_set_header), with the CPU-per-request check.
    Rules(Opts),
    /// 64 KB and 1 MB responses over keep-alive (bytes/s and req/s).
    Large(Opts),
    /// `mode tcp` relays: keep-alive throughput (small and 1 MB answers) and
    /// connections/s (`Connection: close`).
    Tcp(Opts),
    /// RSS growth per idle client connection (one request each, then held).
    Idle(IdleOpts),
    /// Latency percentiles under an open-loop fixed request rate (keep-alive).
    Latency(LatencyOpts),
    /// Seamless reloads under load: requests answered and lost while each
    /// proxy is reloaded every --reload-interval-ms for --reload-duration s
    /// (ringlb and HAProxy: -sf, -x + -sf, -W with SIGUSR2; nginx: SIGHUP).
    Reload(ReloadOpts),
    /// TLS termination (client side TLS, plain HTTP to the backend), with
    /// the same ECDSA P-256 and RSA-2048 certificates for every proxy: full
    /// and resumed handshakes (openssl s_time), keep-alive and 1 MB
    /// responses (wrk over https), memory per idle TLS connection.
    Tls(TlsOpts),
    /// Internal: hold idle connections for the idle scenario.
    #[command(hide = true)]
    IdleClient(IdleClientArgs),
    /// Internal: the latency scenario's fixed-rate client.
    #[command(hide = true)]
    LatencyClient(LatencyClientArgs),
    /// Internal: the reload scenario's counting clients.
    #[command(hide = true)]
    ReloadClient(ReloadClientArgs),
}

/// Options of the reload scenario.
#[derive(Args, Clone)]
pub struct ReloadOpts {
    /// Seconds of reloading per target (the load runs 1 s longer on each side).
    #[arg(long, default_value_t = 30.0)]
    pub reload_duration: f64,
    /// Milliseconds from one reload to the next (a reload not finished by
    /// then delays the next one).
    #[arg(long, default_value_t = 500)]
    pub reload_interval_ms: u64,
    /// Reload methods for ringlb and HAProxy, in order (nginx always gets
    /// SIGHUP, i.e. `nginx -s reload`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sf,x,w")]
    pub reload_modes: Vec<ReloadMode>,
    /// Client threads with persistent (keep-alive) connections.
    #[arg(long, default_value_t = 8)]
    pub keepalive_clients: usize,
    /// Client threads sending `Connection: close` (a connection per request).
    #[arg(long, default_value_t = 8)]
    pub close_clients: usize,
    /// Options shared with the other scenarios (--duration, --runs,
    /// --connections and --threads do not apply).
    #[command(flatten)]
    pub common: Opts,
}

/// How ringlb and HAProxy are reloaded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum ReloadMode {
    /// A new process with `-sf <old pid>`: binds its own sockets (SO_REUSEPORT).
    Sf,
    /// A new process with `-x <stats socket> -sf <old pid>`: takes the old
    /// one's listening sockets.
    X,
    /// Master-worker (`-W`): SIGUSR2 to the master.
    W,
}

/// Arguments of the hidden `reload-client` subcommand.
#[derive(Args, Clone)]
pub struct ReloadClientArgs {
    /// Port on 127.0.0.1.
    #[arg(long)]
    pub port: u16,
    /// Keep-alive client threads.
    #[arg(long)]
    pub keepalive: usize,
    /// `Connection: close` client threads.
    #[arg(long)]
    pub close: usize,
    /// Seconds of load.
    #[arg(long)]
    pub duration: f64,
}

/// Options of the idle scenario.
#[derive(Args, Clone)]
pub struct IdleOpts {
    /// Idle client connections held open to each proxy; a list gives one row
    /// per target per count (e.g. 1000,15000).
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    pub idle_connections: Vec<usize>,
    /// Client threads per client process.
    #[arg(long, default_value_t = 8)]
    pub idle_threads: usize,
    /// Connections per client process (the hard open-file limit caps one process).
    #[arg(long, default_value_t = 5000)]
    pub idle_per_process: usize,
    /// Seconds to wait with the connections open before reading RSS.
    #[arg(long, default_value_t = 2)]
    pub settle: u64,
    /// Options shared with the other scenarios.
    #[command(flatten)]
    pub common: Opts,
}

/// Options of the latency scenario.
#[derive(Args, Clone)]
pub struct LatencyOpts {
    /// Fixed request rate (req/s) [default: --rate-percent of HAProxy's
    /// maximum, measured by a wrk run in the same invocation].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Share of HAProxy's maximum to offer when --rate is not given.
    #[arg(long, default_value_t = 80.0)]
    pub rate_percent: f64,
    /// Seconds of the wrk saturation run against HAProxy that sets the rate.
    #[arg(long, default_value_t = 3)]
    pub saturation: u64,
    /// Options shared with the other scenarios (--connections and --threads
    /// size the fixed-rate client).
    #[command(flatten)]
    pub common: Opts,
}

/// Arguments of the hidden `idle-client` subcommand.
#[derive(Args, Clone)]
pub struct IdleClientArgs {
    /// Port on 127.0.0.1.
    #[arg(long)]
    pub port: u16,
    /// Connections to open and hold.
    #[arg(long)]
    pub count: usize,
    /// Threads opening them.
    #[arg(long, default_value_t = 8)]
    pub threads: usize,
    /// TLS: trust this CA and do a TLS handshake before the request.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
}

/// Options of the tls scenario.
#[derive(Args, Clone)]
pub struct TlsOpts {
    /// Server key types, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ecdsa,rsa")]
    pub keys: Vec<crate::tls::TlsKey>,
    /// Parts to run, in order: full and resumed handshakes, keep-alive
    /// requests, 1 MB responses, idle-connection memory.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "full,resumed,keepalive,large,idle"
    )]
    pub parts: Vec<TlsPart>,
    /// `openssl s_time` processes per handshake run (each makes one
    /// connection at a time).
    #[arg(long, default_value_t = 4)]
    pub handshake_clients: u32,
    /// Idle TLS connections held open per proxy for the memory part.
    #[arg(long, default_value_t = 2000)]
    pub idle_connections: usize,
    /// Seconds to wait with the idle connections open before reading RSS.
    #[arg(long, default_value_t = 2)]
    pub settle: u64,
    /// The same TLS 1.3 suite list for every proxy (`bind ... ciphersuites`
    /// for HAProxy and ringlb, `ssl_conf_command Ciphersuites` for nginx),
    /// instead of each one's defaults: compares equal work.
    #[arg(long)]
    pub ciphersuites: Option<String>,
    /// Options shared with the other scenarios.
    #[command(flatten)]
    pub common: Opts,
}

/// One part of the tls scenario.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum TlsPart {
    /// Full handshakes: a new TLS connection per request, no resumption.
    Full,
    /// Resumed handshakes: every connection resumes (tickets / TLS 1.3 PSK).
    Resumed,
    /// Keep-alive requests over TLS.
    Keepalive,
    /// 1 MB responses over TLS (bytes/s).
    Large,
    /// RSS growth per idle TLS connection.
    Idle,
}

/// Arguments of the hidden `latency-client` subcommand.
#[derive(Args, Clone)]
pub struct LatencyClientArgs {
    /// Port on 127.0.0.1.
    #[arg(long)]
    pub port: u16,
    /// Request path.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Requests per second, all connections together.
    #[arg(long)]
    pub rate: f64,
    /// Keep-alive connections.
    #[arg(long)]
    pub connections: usize,
    /// Threads (each drives its share of the connections).
    #[arg(long)]
    pub threads: usize,
    /// Seconds of load before recording.
    #[arg(long)]
    pub warmup: f64,
    /// Seconds recorded.
    #[arg(long)]
    pub duration: f64,
    /// Seconds allowed after the end for answers still owed.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
}

/// Options shared by every scenario.
#[derive(Args, Clone)]
pub struct Opts {
    /// Seconds per measured wrk run.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Measured runs per target (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// wrk connections (-c).
    #[arg(long, default_value_t = 100)]
    pub connections: u32,
    /// wrk threads (-t).
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// CPUs for the proxy under test (taskset list); its thread count follows.
    #[arg(long, default_value = "0")]
    pub proxy_cpus: String,
    /// CPUs for wrk (taskset list).
    #[arg(long, default_value = "1")]
    pub load_cpus: String,
    /// CPUs for the backend (taskset list); nginx runs one worker per CPU.
    #[arg(long, default_value = "1")]
    pub backend_cpus: String,
    /// Seconds of unmeasured warm-up before each target's runs (0: none).
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Targets, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "direct,ringlb,haproxy,nginx"
    )]
    pub targets: Vec<TargetKind>,
    /// Backend to load: nginx if installed (auto), or ringlb's demo-backend.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// ringlb binary [default: target/release/ringlb].
    #[arg(long)]
    pub ringlb: Option<PathBuf>,
    /// demo-backend binary [default: target/release/demo-backend].
    #[arg(long)]
    pub demo_backend: Option<PathBuf>,
    /// haproxy binary [default: /usr/sbin/haproxy, then PATH].
    #[arg(long)]
    pub haproxy: Option<PathBuf>,
    /// nginx binary [default: /usr/sbin/nginx, then PATH].
    #[arg(long)]
    pub nginx: Option<PathBuf>,
    /// wrk binary [default: PATH].
    #[arg(long)]
    pub wrk: Option<PathBuf>,
    /// Where reports go [default: perf/ in the repository].
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Keep the temporary directory (configs and logs) and print its path.
    #[arg(long)]
    pub keep_temp: bool,
}

/// A thing wrk is pointed at.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum TargetKind {
    /// The backend itself, no proxy.
    Direct,
    /// ringlb under test.
    Ringlb,
    /// HAProxy 2.6.
    Haproxy,
    /// nginx as a reverse proxy.
    Nginx,
}

impl TargetKind {
    /// Short lower-case tag for log file names.
    pub fn tag(self) -> &'static str {
        match self {
            TargetKind::Direct => "direct",
            TargetKind::Ringlb => "ringlb",
            TargetKind::Haproxy => "haproxy",
            TargetKind::Nginx => "nginx",
        }
    }
}

/// Which backend to run.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// nginx when installed, else demo-backend.
    Auto,
    /// nginx (error if missing).
    Nginx,
    /// ringlb's demo-backend.
    Demo,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line() {
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["bench-harness", "idle", "--idle-connections", "1000,15000"])
                .unwrap();
        let ScenarioCmd::Idle(i) = cli.scenario else {
            panic!("not idle")
        };
        assert_eq!(i.idle_connections, vec![1000, 15000]);
        let cli = Cli::try_parse_from(["bench-harness", "latency", "--rate", "5000"]).unwrap();
        let ScenarioCmd::Latency(l) = cli.scenario else {
            panic!("not latency")
        };
        assert_eq!(l.rate, Some(5000.0));
        assert_eq!(l.common.connections, 100);
        let cli = Cli::try_parse_from(["bench-harness", "reload"]).unwrap();
        let ScenarioCmd::Reload(r) = cli.scenario else {
            panic!("not reload")
        };
        assert_eq!((r.reload_duration, r.reload_interval_ms), (30.0, 500));
        assert_eq!(
            r.reload_modes,
            vec![ReloadMode::Sf, ReloadMode::X, ReloadMode::W]
        );
        let cli = Cli::try_parse_from([
            "bench-harness",
            "reload",
            "--reload-duration",
            "2",
            "--reload-modes",
            "w",
            "--targets",
            "ringlb",
        ])
        .unwrap();
        let ScenarioCmd::Reload(r) = cli.scenario else {
            panic!("not reload")
        };
        assert_eq!(r.reload_modes, vec![ReloadMode::W]);
        assert_eq!(r.reload_duration, 2.0);
    }
}
