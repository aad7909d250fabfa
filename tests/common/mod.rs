//! Shared harness for ringlb's end-to-end tests; this file is the index.
//!
//! - [`ports`]: [`free_port`], a parallel-safe port allocator for the proxy's
//!   `bind` lines, and [`TestDir`].
//! - [`ringlb`]: the real binary ([`Ringlb`], started on a config text, killed
//!   on drop), [`ListenCfg`] (builds the one-`listen` configs most tests need;
//!   every one sets `nbthread 2` and `timeout connect|client|server`) and
//!   [`run_cli`].
//! - Mock backends on std threads: [`HttpBackend`] (keep-alive aware, records
//!   what it received), [`CheckedBackend`] (health-check answers switched at
//!   run time), [`SilentBackend`] (accepts, never answers), [`TcpBackend::echo`]
//!   and the generic [`TcpBackend`]; [`JavaApp`], a servlet-like application
//!   for the stickiness tests.
//! - Clients: [`HttpClient`] (one connection, several exchanges, precise framing)
//!   and [`raw_exchange`] (send bytes, read until the peer closes), on top of
//!   [`BufStream`].
//! - [`Load`]: keep-alive and close clients on threads counting lost
//!   requests, refusals and the slowest answer (stop and reload tests).
//! - [`Recorder`]: keeps every raw byte a server received and frames the
//!   requests in them strictly (smuggling tests); [`Haproxy`]: HAProxy run
//!   on the same config, the oracle.
//! - [`FakeDns`]: a UDP name server answering from a table the test changes,
//!   and [`IpBackend`], which answers with the loopback address it listens on.
//! - [`tls`]: a CA and certificates made at run time, and TLS clients.
//! - [`stats`] (stats CSV, socket and page) and [`browser`] (headless Chromium).
//!
//! Every socket gets read and write timeouts: a test that goes wrong fails in
//! seconds with what it had received, it never hangs.
//!
//! Each test file compiles this module on its own and uses part of it, hence
//! the `allow`s.

#![allow(dead_code)]

pub mod browser;
pub mod bufstream;
pub mod checked_backend;
pub mod client;
pub mod dns;
pub mod haproxy;
pub mod http_backend;
pub mod java_app;
pub mod load;
pub mod ports;
pub mod recorder;
pub mod ringlb;
pub mod stats;
pub mod syslog;
pub mod tcp_backend;
pub mod tls;

// Re-exported flat, so tests name everything `common::X`. A test file uses only
// some of these, and an unused glob would warn.
#[allow(unused_imports)]
pub use browser::*;
#[allow(unused_imports)]
pub use bufstream::*;
#[allow(unused_imports)]
pub use checked_backend::*;
#[allow(unused_imports)]
pub use client::*;
#[allow(unused_imports)]
pub use dns::*;
#[allow(unused_imports)]
pub use haproxy::*;
#[allow(unused_imports)]
pub use http_backend::*;
#[allow(unused_imports)]
pub use java_app::*;
#[allow(unused_imports)]
pub use load::*;
#[allow(unused_imports)]
pub use ports::*;
#[allow(unused_imports)]
pub use recorder::*;
#[allow(unused_imports)]
pub use ringlb::*;
#[allow(unused_imports)]
pub use stats::*;
#[allow(unused_imports)]
pub use syslog::*;
#[allow(unused_imports)]
pub use tcp_backend::*;
#[allow(unused_imports)]
pub use tls::*;
