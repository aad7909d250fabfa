//! Structures built once from the validated model and shared read-only by all workers.
//!
//! Everything a worker reads per request lives here, already resolved: timeouts
//! with their defaults applied, header names, server addresses. The only
//! mutable parts are the per-server atomics that the health checker and the
//! run-time API publish (state and weight); workers read them without locks.
//!
//! A server's run-time weight (`ServerRt::weight`) is its effective weight, the
//! one balancing uses: the operator's weight ([`ServerAdmin::uweight`]) while the
//! server is ready, 0 while it is drained or in maintenance. So every balancer
//! leaves a drained or maintained server out through the weight it already
//! reads, and only cookie stickiness needs [`ServerRt::available`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::check::ServerCheck;
use crate::config::model::{self, Address, Config, Mode};
use crate::stats::counters::WorkerCounters;

/// Fallback when the configuration leaves `timeout connect` unset.
const DEFAULT_CONNECT: Duration = Duration::from_secs(5);
/// Fallback when the configuration leaves `timeout client`/`server` unset.
const DEFAULT_IO: Duration = Duration::from_secs(30);

/// A server as workers see it: fixed facts plus published state.
#[derive(Debug)]
pub struct ServerRt {
    /// Server name (a dynamic server's is set by `add server`).
    pub name: ServerName,
    /// Where to connect, as configured; read it through [`ServerRt::address`],
    /// since a server resolved at run time keeps its current one in `resolved`.
    pub address: Address,
    /// The address the resolver published last, for a server with
    /// `resolvers` (`crate::resolve` is its only writer); `None` otherwise.
    pub resolved: Option<arc_swap::ArcSwap<std::net::SocketAddr>>,
    /// The address `set server <b>/<s> addr` set last, for a server without
    /// `resolvers` (the stats socket is its only writer); read only once
    /// `addr_set` says there is one, so that other servers pay one load.
    pub runtime_addr: arc_swap::ArcSwapOption<std::net::SocketAddr>,
    /// Whether `runtime_addr` holds an address.
    pub addr_set: AtomicBool,
    /// Offset from the client's destination port when the port is absent
    /// or relative (`address`'s port then only shows the offset).
    pub port_offset: Option<i32>,
    /// Weight as configured (the run-time weight is in `weight`).
    pub configured_weight: u32,
    /// Current weight, changeable at run time.
    pub weight: AtomicU32,
    /// Health: the checker's verdict (always true for an unchecked server). The
    /// admin state is in `admin` and, for balancing, in `weight`.
    pub up: AtomicBool,
    /// Active connections across the whole process (for leastconn and stats).
    pub active: AtomicU64,
    /// `backup` server.
    pub backup: bool,
    /// Health-check settings and the results the checker publishes (stats page).
    pub check: ServerCheck,
    /// Administrative state set by the configuration (`disabled`) and the run-time API.
    pub admin: ServerAdmin,
    /// Slow start, passive observation and tracking (`check/live.rs`).
    pub health: crate::check::live::HealthRt,
    /// Its backend has `option allbackups` (read by `balance::live_set`).
    pub all_backups: bool,
}

impl ServerRt {
    /// Where to connect now: the configured address, or for a resolved
    /// server the last published one (one lock-free load).
    pub fn address(&self) -> std::borrow::Cow<'_, Address> {
        match &self.resolved {
            None => match self.set_address() {
                None => std::borrow::Cow::Borrowed(&self.address),
                Some(a) => std::borrow::Cow::Owned(Address::Inet(a)),
            },
            Some(r) => std::borrow::Cow::Owned(Address::Inet(**r.load())),
        }
    }

    /// The address `set server ... addr` gave a server without `resolvers`.
    pub fn set_address(&self) -> Option<std::net::SocketAddr> {
        if !self.addr_set.load(Ordering::Acquire) {
            return None;
        }
        self.runtime_addr.load().as_deref().copied()
    }

    /// Whether an idle pooled connection still goes to the server's current
    /// address: always for a fixed address; for a resolved one, the peer is
    /// compared (one syscall), so that a new address moves new requests.
    pub fn pooled_is_current(&self, conn: &impl std::os::fd::AsRawFd) -> bool {
        let current = match (&self.resolved, self.set_address()) {
            (Some(r), _) => **r.load(),
            (None, Some(a)) => a,
            (None, None) => return true,
        };
        // SAFETY: the descriptor belongs to `conn`, borrowed for this call.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(conn.as_raw_fd()) };
        socket2::SockRef::from(&fd)
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|peer| {
                peer.ip() == current.ip()
                    && (self.resolved.is_some() || peer.port() == current.port())
            })
    }

    /// Whether the server exists: configured, or a dynamic slot that `add
    /// server` filled (a free slot is left out of every view).
    pub fn present(&self) -> bool {
        matches!(
            self.admin.slot.load(Ordering::Acquire),
            slot::CONFIGURED | slot::DYNAMIC
        )
    }

    /// The weight it started with (`srv_iweight`): the configured one, or
    /// the one `add server` gave.
    pub fn initial_weight(&self) -> u32 {
        if self.admin.slot.load(Ordering::Relaxed) == slot::DYNAMIC {
            self.admin.iweight.load(Ordering::Relaxed)
        } else {
            self.configured_weight
        }
    }

    /// Whether the server may be chosen by balancing now (up, ready, weight > 0).
    pub fn usable(&self) -> bool {
        self.up.load(Ordering::Relaxed)
            && self.weight.load(Ordering::Relaxed) > 0
            && !self.check.nolb.load(Ordering::Relaxed)
    }

    /// Whether a request may still be sent to the server by stickiness: up and
    /// not in maintenance. A drained server stays reachable this way (HAProxy).
    pub fn available(&self) -> bool {
        self.up.load(Ordering::Relaxed) && !self.admin.maint()
    }
}

/// HAProxy's administrative flags of a server (`srv_admin_state` in `show
/// servers state`); 0 means ready.
pub mod admin_flags {
    /// Forced maintenance (`set server ... state maint`, `disable server`).
    pub const FMAINT: u8 = 0x01;
    /// Maintenance from the configuration (`disabled` on the server line).
    pub const CMAINT: u8 = 0x04;
    /// Forced drain (`set server ... state drain`): HAProxy's SRV_ADMF_FDRAIN, as
    /// printed by `show servers state` (0x10 would be the inherited drain).
    pub const FDRAIN: u8 = 0x08;
    /// Maintenance because resolution gave no address (HAProxy's SRV_ADMF_RMAINT):
    /// set and cleared by `crate::resolve` alone.
    pub const RMAINT: u8 = 0x20;
    /// Any maintenance flag.
    pub const MAINT: u8 = FMAINT | CMAINT | RMAINT;
}

/// What a server slot holds (`ServerAdmin::slot`): see `admin::dynamic`.
pub mod slot {
    /// A server of the configuration.
    pub const CONFIGURED: u8 = 0;
    /// A spare slot for `add server`, empty: shown nowhere, never picked.
    pub const FREE: u8 = 1;
    /// A server `add server` created.
    pub const DYNAMIC: u8 = 2;
    /// Deleted (`del server`): absent, and never filled again, since its
    /// counters and pooled connections belong to the server that was there.
    pub const RETIRED: u8 = 3;
    /// Being filled by `add server`: absent until it turns [`DYNAMIC`].
    pub const FILLING: u8 = 4;
}

/// A server's name, readable without locks and replaceable at run time for
/// a dynamic server slot. A replaced name is leaked on purpose: a reader may
/// still hold it, and `add server` is an operator's act, so the leak is
/// bounded by what the operator types.
pub struct ServerName(std::sync::atomic::AtomicPtr<String>);

impl ServerName {
    /// Publishes a new name (the old one stays readable: leaked).
    pub fn set(&self, name: String) {
        let new = Box::into_raw(Box::new(name));
        self.0.store(new, Ordering::Release);
    }
}

impl From<String> for ServerName {
    fn from(name: String) -> ServerName {
        ServerName(std::sync::atomic::AtomicPtr::new(Box::into_raw(Box::new(
            name,
        ))))
    }
}

impl From<&str> for ServerName {
    fn from(name: &str) -> ServerName {
        ServerName::from(name.to_string())
    }
}

impl std::ops::Deref for ServerName {
    type Target = String;
    fn deref(&self) -> &String {
        // SAFETY: the pointer always comes from `Box::into_raw` and is never
        // freed while `self` lives (`set` leaks the old one, `drop` frees only
        // the current one, when no reader can hold `&self` any more).
        unsafe { &*self.0.load(Ordering::Acquire) }
    }
}

impl Drop for ServerName {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader remains; the pointer is from `Box::into_raw`.
        drop(unsafe { Box::from_raw(*self.0.get_mut()) });
    }
}

impl std::fmt::Debug for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl PartialEq<str> for ServerName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ServerName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for ServerName {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

/// What the operator set on a server, beside its health: the admin flags and
/// the weight asked for. Written only by the run-time API (one writer at a
/// time, see `admin::state`), read by everyone without locks.
#[derive(Debug, Default)]
pub struct ServerAdmin {
    /// [`admin_flags`] bits.
    pub flags: AtomicU8,
    /// The weight the operator set (HAProxy's `uweight`); the configured one at start.
    pub uweight: AtomicU32,
    /// Unix time in milliseconds of the last admin change (0: none since start).
    pub changed_ms: AtomicU64,
    /// Bumped by `shutdown sessions server`: sessions using the server end
    /// when they see it change (`server::kill`).
    pub kills: AtomicU64,
    /// What the slot holds ([`slot`]): configured, free or dynamic.
    pub slot: AtomicU8,
    /// A dynamic server's initial weight (the `weight` of `add server`).
    pub iweight: AtomicU32,
    /// A dynamic server's id (`sid`), chosen by `add server`.
    pub id: AtomicU32,
}

impl ServerAdmin {
    /// Admin state at start: ready, or in maintenance for a `disabled` server
    /// or one `init-addr` found no address for.
    pub fn new(weight: u32, disabled: bool, unresolved: bool) -> ServerAdmin {
        let mut flags = if disabled {
            admin_flags::FMAINT | admin_flags::CMAINT
        } else {
            0
        };
        if unresolved {
            flags |= admin_flags::RMAINT;
        }
        ServerAdmin {
            flags: AtomicU8::new(flags),
            uweight: AtomicU32::new(weight),
            changed_ms: AtomicU64::new(0),
            kills: AtomicU64::new(0),
            slot: AtomicU8::new(slot::CONFIGURED),
            iweight: AtomicU32::new(weight),
            id: AtomicU32::new(0),
        }
    }

    /// The flags now.
    pub fn flags(&self) -> u8 {
        self.flags.load(Ordering::Acquire)
    }

    /// In maintenance: out of balancing and of stickiness.
    pub fn maint(&self) -> bool {
        self.flags() & admin_flags::MAINT != 0
    }

    /// Drained (and not in maintenance): out of balancing, still reached by stickiness.
    pub fn drain(&self) -> bool {
        let f = self.flags();
        f & admin_flags::MAINT == 0 && f & admin_flags::FDRAIN != 0
    }
}

/// A backend as workers see it.
#[derive(Debug)]
pub struct BackendRt {
    /// Proxy name.
    pub name: String,
    /// http or tcp.
    pub mode: Mode,
    /// Servers in configuration order; indexes are stable.
    pub servers: Vec<ServerRt>,
    /// `timeout connect`.
    pub connect_timeout: Duration,
    /// `timeout server`.
    pub server_timeout: Duration,
    /// `retries`.
    pub retries: u32,
    /// `option redispatch`.
    pub redispatch: bool,
    /// Backend's own HTTP options (merged with the frontend's when a request runs).
    pub http: model::HttpOptions,
    /// Cookie stickiness (`cookie` line, HTTP mode).
    pub cookie: Option<crate::http::cookie::CookieRt>,
    /// The model this was built from, for later stages (balancing, cookies).
    pub model: model::Backend,
    /// Where its health-check and server state lines go (`None`: no log target).
    pub log: Option<crate::log::ProxyLog>,
    /// Server `maxconn` slots and the queues (`server/queue.rs`).
    pub queue: crate::server::queue::BackendQueue,
    /// `balance roundrobin`'s position, shared by the workers.
    pub rotation: crate::balance::Rotation,
    /// `stick` rules and their tables (`None`: the backend has none).
    pub stick: Option<crate::stick::StickRt>,
    /// What some server of the backend needs from each request, known at
    /// load so that a request never scans the servers to find out.
    pub needs: ServerNeeds,
}

/// What a backend's servers need from each request or session.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerNeeds {
    /// Some server sends a PROXY header (`send-proxy[-v2]`).
    pub proxy_header: bool,
    /// Some server's PROXY v2 header carries the unique id.
    pub proxy_unique_id: bool,
    /// Some server has `ssl` with `sni <expr>`.
    pub sni: bool,
}

impl ServerNeeds {
    /// Looks at the servers once.
    pub fn of(servers: &[model::Server]) -> Self {
        ServerNeeds {
            proxy_header: servers.iter().any(|s| s.send_proxy.is_some()),
            proxy_unique_id: servers
                .iter()
                .any(|s| s.send_proxy.is_some_and(|p| p.unique_id)),
            sni: crate::server::tls_origin::SniNames::wanted(servers),
        }
    }
}

/// A frontend as workers see it.
#[derive(Debug)]
pub struct FrontendRt {
    /// Proxy name.
    pub name: String,
    /// http or tcp.
    pub mode: Mode,
    /// Index of the default backend in [`Shared::backends`] (`default_backend`
    /// or the listen's own); `None` when only `use_backend` rules route.
    pub backend: Option<usize>,
    /// Whether `use_backend` rules choose the backend (per request in `mode
    /// http`, per connection in `mode tcp`); when false the backend is fixed.
    pub switching: bool,
    /// `timeout client`.
    pub client_timeout: Duration,
    /// `timeout http-request` (defaults to `timeout client`).
    pub http_request_timeout: Duration,
    /// `timeout http-keep-alive` (defaults to `timeout http-request`).
    pub keep_alive_timeout: Duration,
    /// `maxconn` of this frontend, for the whole process.
    pub maxconn: Option<u32>,
    /// HTTP options of the frontend.
    pub http: model::HttpOptions,
    /// The model this was built from (stats settings, binds, origin).
    pub model: model::Frontend,
    /// Where its traffic lines go and their format (`None`: no log target).
    pub log: Option<crate::log::ProxyLog>,
}

/// Everything the workers share, read-only but for the atomics in [`ServerRt`].
#[derive(Debug)]
pub struct Shared {
    /// Frontends, indexed as in the model.
    pub frontends: Vec<FrontendRt>,
    /// Backends, indexed as in the model.
    pub backends: Vec<BackendRt>,
    /// What an HTTP session stands in with while it has no backend and the
    /// configuration has none (`validate::stand_in_backend`); in no view.
    pub stand_in: Box<BackendRt>,
    /// Set by SIGUSR1: stop accepting, finish what is open.
    pub soft_stop: AtomicBool,
    /// `-d`: print each connection and exchange to stderr, as HAProxy's debug mode.
    pub debug: bool,
    /// The response-time histograms are kept: a Prometheus exporter or a stats
    /// page reads them. Otherwise recording them (two clock reads per
    /// exchange) would be a cost nobody asked for.
    pub response_histograms: bool,
    /// Traffic counters, one set per worker (index = worker id), summed when read.
    pub counters: Vec<WorkerCounters>,
    /// Disabled `frontend` sections (where, `id`): numbered in the stats, not shown.
    pub disabled_frontends: Vec<(model::Origin, Option<u32>)>,
    /// `stats socket` lines exist: HAProxy's CLI frontend then takes the
    /// first proxy id, so the stats number the proxies from 2.
    pub cli_proxy: bool,
    /// Splice pipes (`maxpipes`, `tune.pipesize`), shared by the workers.
    pub pipes: crate::tcp::splice::Pipes,
    /// Every stick table, in declaration order, shared by the workers.
    pub stick_tables: Vec<Arc<crate::stick::Table>>,
    /// The stats socket's run-time views (`show errors`, `show servers
    /// conn`, `show activity`, `show sess`): `crate::admin::live`.
    pub live: crate::admin::live::Live,
}

impl Shared {
    /// Whether a soft stop (SIGUSR1) is under way.
    pub fn stopping(&self) -> bool {
        self.soft_stop.load(Ordering::Relaxed)
    }

    /// Builds the shared runtime from a validated configuration.
    pub fn build(config: &Config, debug: bool, workers: usize) -> Arc<Shared> {
        // Spare server slots for `add server`, present in every per-server array.
        let config = &crate::admin::dynamic::with_slots(config);
        let hostname = crate::log::hostname(&config.global);
        let stick_tables: Vec<Arc<crate::stick::Table>> = config
            .stick_tables
            .iter()
            .map(|t| Arc::new(crate::stick::Table::new(t.clone())))
            .collect();
        let mut backends: Vec<BackendRt> = config
            .backends
            .iter()
            .map(|b| backend_rt(b, config, hostname.as_ref(), &stick_tables))
            .collect();
        let stand_in = Box::new(backend_rt(
            &crate::config::validate::stand_in_backend(),
            config,
            None,
            &[],
        ));
        crate::check::track::link(&mut backends);
        let frontends = config
            .frontends
            .iter()
            .map(|f| {
                let client = f.timeouts.client.unwrap_or(DEFAULT_IO);
                let http_request = f.timeouts.http_request.unwrap_or(client);
                FrontendRt {
                    name: f.name.clone(),
                    mode: f.mode,
                    backend: f.backend,
                    switching: !f.routing.rules.is_empty(),
                    client_timeout: client,
                    http_request_timeout: http_request,
                    keep_alive_timeout: f.timeouts.http_keep_alive.unwrap_or(http_request),
                    maxconn: f.maxconn,
                    http: f.http.clone(),
                    model: f.clone(),
                    log: crate::log::ProxyLog::build(
                        &f.log,
                        f.mode,
                        &config.global,
                        hostname.as_ref(),
                    ),
                }
            })
            .collect();
        crate::tls::limit::set_max(config.global.maxsslconn);
        Arc::new(Shared {
            stand_in,
            frontends,
            backends,
            soft_stop: AtomicBool::new(false),
            debug,
            response_histograms: histograms_read(config),
            disabled_frontends: config.disabled_frontends.clone(),
            cli_proxy: !config.global.stats_sockets.is_empty(),
            pipes: crate::tcp::splice::Pipes::new(
                config.global.maxpipes,
                config.global.maxconn,
                config.global.pipesize,
            ),
            stick_tables,
            live: crate::admin::live::Live::new(config, workers.max(1)),
            counters: (0..workers.max(1))
                .map(|_| {
                    let servers: Vec<usize> =
                        config.backends.iter().map(|b| b.servers.len()).collect();
                    WorkerCounters::new(config.frontends.len(), &servers)
                })
                .collect(),
        })
    }
}

/// Whether some proxy reads the response-time histograms: a stats page or
/// an `http-request use-service prometheus-exporter` rule.
fn histograms_read(config: &Config) -> bool {
    let exporter = |r: &model::Rules| {
        r.0.request
            .iter()
            .any(|r| matches!(r.action, crate::http::rules::Action::PrometheusExporter))
    };
    config
        .frontends
        .iter()
        .any(|f| f.stats.enabled || exporter(&f.rules))
        || config
            .backends
            .iter()
            .any(|b| b.stats.enabled || exporter(&b.rules))
}

/// A backend's run-time state, built from its model.
fn backend_rt(
    b: &model::Backend,
    config: &Config,
    hostname: Option<&Arc<str>>,
    stick_tables: &[Arc<crate::stick::Table>],
) -> BackendRt {
    BackendRt {
        needs: ServerNeeds::of(&b.servers),
        name: b.name.clone(),
        mode: b.mode,
        servers: b
            .servers
            .iter()
            .map(|s| ServerRt {
                name: s.name.clone().into(),
                address: s.address.clone(),
                resolved: match (&s.dns, &s.address) {
                    (Some(_), Address::Inet(sa)) => Some(arc_swap::ArcSwap::from_pointee(*sa)),
                    _ => None,
                },
                runtime_addr: Default::default(),
                addr_set: AtomicBool::new(false),
                port_offset: s.port_offset,
                configured_weight: s.weight,
                // A `disabled` server is in maintenance: effective weight 0.
                weight: AtomicU32::new(if s.disabled || s.unresolved {
                    0
                } else {
                    s.weight
                }),
                // Health is not known to be bad: leaving maintenance
                // (`enable server`) makes it usable again.
                up: AtomicBool::new(true),
                active: AtomicU64::new(0),
                backup: s.backup,
                check: ServerCheck::from_model(s),
                admin: crate::admin::dynamic::admin_of(s),
                health: crate::check::live::HealthRt::new(&s.health, s.check),
                all_backups: b.allbackups,
            })
            .collect(),
        connect_timeout: b.timeouts.connect.unwrap_or(DEFAULT_CONNECT),
        server_timeout: b.timeouts.server.unwrap_or(DEFAULT_IO),
        retries: b.retries,
        redispatch: b.redispatch,
        http: b.http.clone(),
        cookie: (b.mode == Mode::Http)
            .then(|| crate::http::cookie::CookieRt::build(b))
            .flatten(),
        model: b.clone(),
        log: crate::log::ProxyLog::build(&b.log, b.mode, &config.global, hostname),
        queue: crate::server::queue::BackendQueue::build(
            b,
            b.timeouts.connect.unwrap_or(DEFAULT_CONNECT),
        ),
        rotation: Default::default(),
        stick: crate::stick::StickRt::build(&b.stick, stick_tables, b),
    }
}

#[cfg(test)]
mod tests {
    use super::ServerName;

    #[test]
    fn a_server_name_reads_as_a_string_and_can_change() {
        let n = ServerName::from("a");
        let held: &String = &n;
        let owned = String::from("a");
        assert!(n == "a" && n == *"a" && n == owned);
        n.set("b".into());
        // The old name stays readable by whoever held it.
        assert_eq!(
            (held.as_str(), n.as_str(), n.to_string()),
            ("a", "b", "b".into())
        );
    }
}
