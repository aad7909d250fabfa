//! TLS with rustls: the connection layer's stage between the PROXY header
//! and the session (`bind ... ssl`), and the server side (`server ... ssl`).
//!
//! - `bind.rs`: a `bind` line's TLS settings and the rustls `ServerConfig`s
//!   built from them once, at load time (certificate errors name file:line).
//! - `opts.rs`: TLS options as written (bind, crt-list line, globals) and
//!   the `global` TLS settings of the load in progress.
//! - `ciphers.rs`: OpenSSL cipher lists, TLS 1.3 suites and curves mapped
//!   onto what rustls implements.
//! - `certs.rs`: loading certificates (chain, key, `.key`, `.ocsp`) and the
//!   process-wide store a run-time certificate change works on.
//! - `ocsp.rs`, `ocsp_text.rs`, `x509_text.rs`: OCSP stapling's checks, and
//!   a response (with its certificates) as OpenSSL's text dump.
//! - `sni.rs`: the SNI resolver (exact, wildcard, ECDSA/RSA, strict-sni).
//! - `crt_list.rs`: `crt-list` files.
//! - `live.rs`: the process-wide crt-lists and the binds built from them,
//!   republished (arc-swap) when the run-time API changes a crt-list.
//! - `session.rs`: the process-wide ticket keys and the session-ID cache.
//! - `server.rs`: a `server` line's TLS settings and the rustls
//!   `ClientConfig`s built from them once (traffic and checks; one session
//!   cache per server), the verifier (`verify`, `ca-file`, `verifyhost`)
//!   and the SNI name per connection (`sni <expr>`).
//! - `accept.rs`: the accept stage's step: handshake, or the failure logged.
//! - `handshake.rs`: the accepting handshake (ClientHello → `BindTls::config_for`)
//!   and the connecting one (`connect`, for `server ... ssl`).
//! - `stream.rs`: the TLS stream over a socket, split-safe for the sessions.
//! - `info.rs`: what a handshake settled (client certificate's DNs and
//!   serial included), for fetches, logs and the PROXY v2 SSL TLV.
//! - `limit.rs`: `maxsslconn`, the process-wide count of TLS client connections.

pub mod accept;
pub mod bind;
pub mod certs;
pub mod ciphers;
pub mod crt_list;
pub mod handshake;
pub mod hkdf;
pub mod info;
pub mod limit;
pub mod live;
pub mod ocsp;
pub mod ocsp_text;
pub mod opts;
pub mod server;
pub mod session;
pub mod sni;
pub mod stream;
pub mod x509_text;

#[cfg(test)]
mod bind_tests;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
pub(crate) mod test_util;

pub use handshake::{HandshakeError, connect};
pub use info::TlsInfo;
pub use stream::TlsStream;
