//! The run-time API: `stats socket <path> [mode <m>] [level user|operator|admin]
//! [user|uid <u>] [group|gid <g>]`, `stats maxconn` and `stats timeout` in
//! `global`, speaking HAProxy's text commands (`show info`, `show stat`,
//! `show servers state|conn`, `show activity|sess|errors`, `set server`,
//! `set weight`, `set maxconn server`, `set timeout cli`, `enable`/`disable
//! server`).
//!
//! - `listener.rs`: binding at start (before privileges drop) and the threads
//!   that accept and serve connections, never on a worker: at most `stats
//!   maxconn` at once, an idle one closed after `stats timeout`.
//! - `cli.rs`: the protocol (commands, words, levels, help).
//! - `commands.rs`, `info.rs`, `servers.rs`: the commands (`set maxconn
//!   server` acts through `server::queue`'s atomic limit).
//! - `addr.rs`: `set server ... addr` (the connect path reads
//!   `ServerRt::address`).
//! - `dynamic.rs`: `add server` and `del server`, filling and retiring the
//!   spare server slots each dynamic-balanced backend gets at load.
//! - `conns.rs`: `show servers conn`, `show activity`, `show sess`.
//! - `errors.rs`: `show errors` and the captures the HTTP error paths take
//!   (`http/session/read.rs` for requests, `exchange.rs` for responses).
//! - `live.rs`: what the workers publish for those views (idle connection
//!   gauges from `server/pool.rs`, sessions registered by `worker/accept.rs`).
//! - `ssl.rs`, `ssl_show.rs`: certificates and crt-lists at run time
//!   (`set/commit/abort/new/del/show ssl cert`, `add/del/show ssl crt-list`);
//!   `ssl_ocsp.rs`: `set/show ssl ocsp-response`.
//! - `state.rs`: changing a server's admin state and weight; workers see the
//!   change through atomics, without locks.

pub mod addr;
pub mod cli;
pub mod commands;
pub mod conns;
pub mod dynamic;
pub mod errors;
pub mod info;
mod listener;
pub mod live;
pub mod servers;
pub mod ssl;
pub mod ssl_ocsp;
mod ssl_show;
pub mod state;

pub use listener::{AdminError, Sockets, bind, spawn};
