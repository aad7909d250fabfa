//! `mode http`: one client connection's exchanges, request by request.
//!
//! Stages, in the order a request meets them (see `session/`): read and
//! parse the head (`request.rs`), choose a server and connect or reuse an idle
//! connection (`crate::server`), send the head and stream the body
//! (`body.rs`), read and rewrite the response head (`response.rs`), stream the
//! response body, then keep both connections or close them. Errors ringlb
//! answers itself are in `error.rs`; custom error pages (`errorfile`,
//! `errorloc`, `http-error`) and the choice among them are in `errors.rs`.
//! Heads with header names outside the token set, under `option
//! accept-invalid-http-request|response`, are read by `lenient.rs`.

pub mod body;
pub mod cookie;
pub mod error;
pub mod errors;
pub mod forward;
pub mod header;
pub mod io;
pub mod lenient;
pub mod request;
pub mod response;
pub mod rules;
pub mod session;
pub mod unique_id;
