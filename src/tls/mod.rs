//! TLS with rustls: the connection layer's stage between the PROXY header
//! and the session (`bind ... ssl`), and the server side (`server ... ssl`).
//!
//! - `bind.rs`: a `bind` line's TLS settings and the rustls `ServerConfig`
//!   built from them once, at load time (certificate errors name file:line).
//! - `server.rs`: a `server` line's TLS settings and the rustls
//!   `ClientConfig`s built from them once (traffic and checks; one session
//!   cache per server), the verifier (`verify`, `ca-file`, `verifyhost`)
//!   and the SNI name per connection (`sni <expr>`).
//! - `stream.rs`: the TLS stream over a socket, split-safe for the sessions.

pub mod bind;
pub mod server;
