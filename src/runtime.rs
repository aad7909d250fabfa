//! Structures built once from the validated model and shared read-only by all workers.
//!
//! Everything a worker reads per request lives here, already resolved: timeouts
//! with their defaults applied, header names, server addresses. The only
//! mutable parts are the per-server atomics that the health checker and the
//! run-time API publish (state and weight); workers read them without locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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
    /// Server name.
    pub name: String,
    /// Where to connect.
    pub address: Address,
    /// Weight as configured (the run-time weight is in `weight`).
    pub configured_weight: u32,
    /// Current weight, changeable at run time.
    pub weight: AtomicU32,
    /// Whether the server may receive traffic (health and admin state combined).
    pub up: AtomicBool,
    /// Active connections across the whole process (for leastconn and stats).
    pub active: AtomicU64,
    /// `backup` server.
    pub backup: bool,
    /// Health-check settings and the results the checker publishes (stats page).
    pub check: ServerCheck,
}

impl ServerRt {
    /// Whether the server may be chosen now.
    pub fn usable(&self) -> bool {
        self.up.load(Ordering::Relaxed) && self.weight.load(Ordering::Relaxed) > 0
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
}

/// A frontend as workers see it.
#[derive(Debug)]
pub struct FrontendRt {
    /// Proxy name.
    pub name: String,
    /// http or tcp.
    pub mode: Mode,
    /// Index of the backend in [`Shared::backends`].
    pub backend: usize,
    /// `timeout client`.
    pub client_timeout: Duration,
    /// `timeout http-request` (defaults to `timeout client`).
    pub http_request_timeout: Duration,
    /// `timeout http-keep-alive` (defaults to `timeout http-request`).
    pub keep_alive_timeout: Duration,
    /// `maxconn` of this frontend, per worker share.
    pub maxconn: Option<u32>,
    /// HTTP options of the frontend.
    pub http: model::HttpOptions,
}

/// Everything the workers share, read-only but for the atomics in [`ServerRt`].
#[derive(Debug)]
pub struct Shared {
    /// Frontends, indexed as in the model.
    pub frontends: Vec<FrontendRt>,
    /// Backends, indexed as in the model.
    pub backends: Vec<BackendRt>,
    /// Set by SIGUSR1: stop accepting, finish what is open.
    pub soft_stop: AtomicBool,
    /// `-d`: print each connection and exchange to stderr, as HAProxy's debug mode.
    pub debug: bool,
    /// Traffic counters, one set per worker (index = worker id), summed when read.
    pub counters: Vec<WorkerCounters>,
}

impl Shared {
    /// Builds the shared runtime from a validated configuration.
    pub fn build(config: &Config, debug: bool, workers: usize) -> Arc<Shared> {
        let backends = config
            .backends
            .iter()
            .map(|b| BackendRt {
                name: b.name.clone(),
                mode: b.mode,
                servers: b
                    .servers
                    .iter()
                    .map(|s| ServerRt {
                        name: s.name.clone(),
                        address: s.address.clone(),
                        configured_weight: s.weight,
                        weight: AtomicU32::new(s.weight),
                        up: AtomicBool::new(!s.disabled),
                        active: AtomicU64::new(0),
                        backup: s.backup,
                        check: ServerCheck::from_model(s),
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
            })
            .collect();
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
                    client_timeout: client,
                    http_request_timeout: http_request,
                    keep_alive_timeout: f.timeouts.http_keep_alive.unwrap_or(http_request),
                    maxconn: f.maxconn,
                    http: f.http.clone(),
                }
            })
            .collect();
        Arc::new(Shared {
            frontends,
            backends,
            soft_stop: AtomicBool::new(false),
            debug,
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
