//! Choosing a server: one [`Balancer`] per backend per worker.
//!
//! State is per worker (`&mut self`), so picking takes no lock; the only shared
//! inputs are each server's published `up` flag and weight, read with relaxed
//! atomics. Backup servers are chosen only when no active server is usable.

pub mod roundrobin;

use std::net::IpAddr;

use crate::config::model;
use crate::runtime::ServerRt;

/// What a balancer may look at in the request.
#[derive(Debug, Default, Clone, Copy)]
pub struct PickInput<'a> {
    /// Client address, when the client is on IP.
    pub client: Option<IpAddr>,
    /// Request URI as sent, path and query (HTTP mode).
    pub uri: Option<&'a str>,
    /// The whole request head as received, for header-keyed algorithms (HTTP mode).
    pub head: Option<&'a [u8]>,
    /// The first bytes the client sent (TCP mode, e.g. an RDP connection request).
    pub payload: Option<&'a [u8]>,
}

/// A balancing algorithm (`balance ...`).
pub trait Balancer {
    /// Returns the index of the chosen server, or `None` when no server is usable.
    /// `exclude` names a server to avoid (redispatch after a failed connect).
    fn pick(
        &mut self,
        servers: &[ServerRt],
        input: &PickInput<'_>,
        exclude: Option<usize>,
    ) -> Option<usize>;
}

/// Builds the balancer for a backend's `balance` keyword.
pub fn for_backend(backend: &model::Backend) -> Box<dyn Balancer> {
    // Other algorithms are their own issue; the config loader warns that they
    // fall back to roundrobin until then.
    Box::new(roundrobin::RoundRobin::new(backend.servers.len()))
}
