//! The run-time API: `stats socket <path> [mode <m>] [level user|operator|admin]
//! [user|uid <u>] [group|gid <g>]`, `stats maxconn` and `stats timeout` in
//! `global`, speaking HAProxy's text commands (`show info`, `show stat`,
//! `show servers state`, `set server`, `set weight`, `enable`/`disable server`).
//!
//! - `listener.rs`: binding at start (before privileges drop) and the threads
//!   that accept and serve connections, never on a worker: at most `stats
//!   maxconn` at once, an idle one closed after `stats timeout`.
//! - `cli.rs`: the protocol (commands, words, levels, help).
//! - `commands.rs`, `info.rs`, `servers.rs`: the commands.
//! - `ssl.rs`, `ssl_show.rs`: certificates and crt-lists at run time
//!   (`set/commit/abort/new/del/show ssl cert`, `add/del/show ssl crt-list`).
//! - `state.rs`: changing a server's admin state and weight; workers see the
//!   change through atomics, without locks.

pub mod addr;
pub mod cli;
pub mod commands;
pub mod conns;
pub mod errors;
pub mod info;
pub mod live;
mod listener;
pub mod servers;
pub mod ssl;
mod ssl_show;
pub mod state;

pub use listener::{AdminError, Sockets, bind, spawn};
