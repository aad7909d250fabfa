//! TLS with rustls: the connection layer's stage between the PROXY header
//! and the session (`bind ... ssl`), and the server side (`server ... ssl`).
//!
//! - `bind.rs`: a `bind` line's TLS settings and the rustls `ServerConfig`
//!   built from them once, at load time (certificate errors name file:line).
//! - `accept.rs`: the accept stage's step: handshake, or the failure logged.
//! - `handshake.rs`: the accepting handshake (ClientHello → `BindTls::config_for`)
//!   and the connecting one (`connect`, for `server ... ssl`).
//! - `stream.rs`: the TLS stream over a socket, split-safe for the sessions.
//! - `info.rs`: what a handshake settled, for fetches and logs.

pub mod accept;
pub mod bind;
pub mod handshake;
pub mod info;
pub mod stream;
#[cfg(test)]
mod stream_tests;

pub use handshake::{HandshakeError, connect};
pub use info::TlsInfo;
pub use stream::TlsStream;
