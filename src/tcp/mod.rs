//! `mode tcp`: connect to a server and relay bytes both ways; the layer-4
//! rules (`tcp-request`, `tcp-response`) that may hold or refuse it.

pub mod relay;
pub mod rules;
pub mod session;
pub mod splice;
pub mod timeouts;
