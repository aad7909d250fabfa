//! ringlb: an HAProxy-compatible load balancer on thread-per-core io_uring workers.
//!
//! # Layout
//! The data path reads as a straight line, one module per stage:
//! `worker` (accept, one pinned monoio runtime per core) → `http` (parse the
//! request) or `tcp` (relay) → `balance` (choose a server) → `server`
//! (connect, idle connection pool) → relay → log.
//!
//! - `config`: haproxy.cfg lexer, parser, keywords and the validated model.
//! - `runtime`: the shared, read-only structures built once from the model.
//! - `process`: daemon, pidfile, privileges, open-file limit, signals, the
//!   master-worker mode and systemd's readiness protocol (`sd_notify`).
//! - `cli`: the command line the binary parses and `ringlb-man` turns into ringlb(8).
//! - `bufpool`: the per-worker pool of 16 KB buffers.
//! - `stats`: per-worker counters, the stats page and its CSV; `admin`: the
//!   stats socket (HAProxy's run-time API).
//! - `auth`: `userlist` sections and HTTP basic authentication (`http_auth`).
//! - `log`: syslog lines in HAProxy's formats, sent by each worker on its own sockets.

pub mod acl;
pub mod admin;
pub mod auth;
pub mod balance;
pub mod bufpool;
pub mod check;
pub mod cli;
pub mod config;
pub mod crc32c;
pub mod deadline;
pub mod http;
pub mod lf;
pub mod log;
pub mod persist;
pub mod process;
pub mod proxy_protocol;
pub mod resolve;
pub mod route;
pub mod runtime;
pub mod server;
pub mod stats;
pub mod stick;
pub mod stream;
pub mod tcp;
pub mod tls;
pub mod worker;

/// A runtime on the portable driver, with timers, for unit tests of async code.
#[cfg(test)]
pub(crate) fn test_runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("test runtime")
}
