//! Choosing a server: one [`Balancer`] per backend per worker.
//!
//! State is per worker (`&mut self`), so picking takes no lock; the only shared
//! inputs are each server's published `up` flag, weight, slow-start ramp
//! (`check/slowstart.rs`) and active count, read with relaxed atomics, and `roundrobin`'s position ([`Rotation`], one
//! relaxed atomic add per pick, measured at about 0.15 % of a worker's cycles
//! under keep-alive load) that makes the rotation strict across workers. Backup servers are chosen only when no active server
//! is usable, and then only the first usable one, or all of them with
//! `option allbackups` (`ServerRt::all_backups`).
//!
//! While a server warms up after `slowstart`, the snapshot's weights are in
//! sixteenths (each weight times its ramp, 16 for a server not warming up),
//! HAProxy's `BE_WEIGHT_SCALE`, so even a weight-1 server ramps smoothly.
//!
//! Every algorithm keeps tables built from a snapshot of the servers' states
//! ([`Watch`]) and rebuilds them, off the common path, when the snapshot is
//! stale. Staleness is noticed three ways, all O(1) per pick:
//! - [`servers_changed`] bumps a process-wide generation; writers of `up` or
//!   `weight` (health checks, the run-time API) call it, or use [`set_up`] /
//!   [`set_weight`], and every balancer rebuilds before its next pick;
//! - each pick audits one server against the snapshot in turn, so a store made
//!   without the bump is still noticed within one pass over the servers;
//! - the chosen server is checked with [`ServerRt::usable`] before it is
//!   returned, so a server that went down is never handed out, bump or not.

pub mod consistent;
pub mod expr;
pub mod first;
pub mod hash;
pub mod hdr;
pub mod leastconn;
pub mod random;
pub mod rdp_cookie;
pub mod roundrobin;
pub mod source;
pub mod static_rr;
pub mod uri;
pub mod url_param;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::model::{self, Balance};
use crate::runtime::ServerRt;

/// Highest weight a server can have (HAProxy's limit); larger stores are clamped.
pub const MAX_WEIGHT: u32 = 256;

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
    /// What a PROXY header names, for servers with `send-proxy[-v2]`
    /// (not read by the balancers; carried to the connect).
    pub conn: crate::server::proxy_header::Endpoints<'a>,
    /// The SNI of each `ssl` server with `sni`, evaluated on this request
    /// or session (not read by the balancers; carried to the connect).
    pub sni: Option<&'a crate::server::tls_origin::SniNames>,
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

/// A backend's round-robin position, shared by every worker, so that
/// `balance roundrobin` rotates strictly across new connections whichever
/// worker accepts them (as HAProxy's single rotation does).
#[derive(Debug, Default, Clone)]
pub struct Rotation(Arc<AtomicU64>);

impl Rotation {
    /// Takes the next position (one relaxed atomic add).
    pub fn take(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// Builds the balancer for a backend's `balance` keyword; `rotation` is the
/// backend's position shared with the other workers.
pub fn for_backend(backend: &model::Backend, rotation: &Rotation) -> Box<dyn Balancer> {
    let f = backend.hash_function;
    let table = || hash::Table::for_backend(backend);
    match &backend.balance {
        Balance::RoundRobin => Box::new(roundrobin::SharedRoundRobin::new(rotation.clone())),
        Balance::StaticRr => Box::new(static_rr::StaticRr::new()),
        Balance::LeastConn => Box::new(leastconn::LeastConn::new()),
        Balance::Source => Box::new(hash::Hashed::new(source::Source, table()).with_function(f)),
        Balance::Uri {
            len,
            depth,
            whole,
            path_only,
        } => Box::new(
            hash::Hashed::new(
                uri::Uri::new(*len, *depth, *whole).path_only(*path_only),
                table(),
            )
            .with_function(f),
        ),
        Balance::UrlParam(name) => {
            Box::new(hash::Hashed::new(url_param::UrlParam::new(name), table()).with_function(f))
        }
        Balance::Hdr { name, domain_only } => Box::new(
            hash::Hashed::new(hdr::Hdr::new(name).domain_only(*domain_only), table())
                .with_function(f),
        ),
        Balance::RdpCookie(name) => {
            Box::new(hash::Hashed::new(rdp_cookie::RdpCookie::new(name), table()).with_function(f))
        }
        Balance::First => Box::new(first::First::for_backend(backend)),
        Balance::Hash(s) => Box::new(
            hash::Hashed::new(expr::HashExpr::new(s.expr.clone()), table()).with_function(f),
        ),
        Balance::Random { draws } => {
            Box::new(random::Random::new(*draws, backend.hash_balance_factor))
        }
    }
}

/// Bumped after any server's `up` or `weight` changes, in any backend.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Tells every balancer of every worker that some server's `up` flag or weight
/// changed: each rebuilds its tables before its next pick. Call it after the
/// stores (it publishes them with release ordering).
pub fn servers_changed() {
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Sets a server's run-time weight (clamped to [`MAX_WEIGHT`]) and tells the balancers.
pub fn set_weight(server: &ServerRt, weight: u32) {
    server
        .weight
        .store(weight.min(MAX_WEIGHT), Ordering::Relaxed);
    servers_changed();
}

/// Marks a server usable or not (health or admin state) and tells the balancers.
pub fn set_up(server: &ServerRt, up: bool) {
    server.up.store(up, Ordering::Relaxed);
    servers_changed();
}

/// A server's weight as balancing sees it: 0 when down, else its run-time weight.
fn effective_weight(s: &ServerRt) -> u32 {
    // A server in NOLB (`http-check disable-on-404`) takes no new clients.
    if s.up.load(Ordering::Relaxed) && !s.check.nolb.load(Ordering::Relaxed) {
        s.weight.load(Ordering::Relaxed).min(MAX_WEIGHT)
    } else {
        0
    }
}

/// Notices, in O(1) per pick, that the servers' states differ from the snapshot
/// a balancer's tables were built from (see the module header).
#[derive(Debug, Default)]
pub struct Watch {
    /// [`GENERATION`] when the snapshot was taken; `None` before the first one.
    generation: Option<u64>,
    /// Effective weight of each server at the snapshot.
    snapshot: Vec<u32>,
    /// Next server the audit compares with the snapshot.
    cursor: usize,
    /// The weights in sixteenths while some server warms up (slow start).
    scaled: Vec<u32>,
}

impl Watch {
    /// Whether the tables must be rebuilt before picking.
    pub fn stale(&mut self, servers: &[ServerRt]) -> bool {
        if self.generation != Some(GENERATION.load(Ordering::Acquire))
            || self.snapshot.len() != servers.len()
        {
            return true;
        }
        self.audit(servers)
    }

    /// Compares the next server in turn with the snapshot: one pass over the
    /// servers every `servers.len()` picks finds a store nobody announced.
    fn audit(&mut self, servers: &[ServerRt]) -> bool {
        let i = self.cursor;
        let Some(&seen) = self.snapshot.get(i) else {
            return false;
        };
        self.cursor = if i + 1 == servers.len() { 0 } else { i + 1 };
        effective_weight(&servers[i]) != seen
    }

    /// Takes a new snapshot and returns the weights to balance by: one
    /// effective weight per server, in sixteenths while one warms up.
    pub fn refresh(&mut self, servers: &[ServerRt]) -> &[u32] {
        // The generation is read before the states, so a change racing with
        // this snapshot leaves it stale and is picked up next time.
        self.generation = Some(GENERATION.load(Ordering::Acquire));
        self.snapshot.clear();
        self.snapshot.extend(servers.iter().map(effective_weight));
        if self.cursor >= servers.len() {
            self.cursor = 0;
        }
        let full = crate::check::live::RAMP_FULL;
        if servers.iter().all(|s| s.health.ramp() == full) {
            return &self.snapshot;
        }
        self.scaled.clear();
        self.scaled.extend(
            servers
                .iter()
                .zip(&self.snapshot)
                .map(|(s, &w)| w * s.health.ramp().min(full)),
        );
        &self.scaled
    }

    /// Forces a rebuild before the next pick (the chosen server turned out unusable).
    pub fn invalidate(&mut self) {
        self.generation = None;
    }
}

/// A balancer whose choice reads state built from the servers' live set,
/// rebuilt when their states change ([`pick_live`] runs it).
pub(crate) trait LiveChoice {
    /// The watch on the servers' states.
    fn watch(&mut self) -> &mut Watch;
    /// Rebuilds what the choice reads (the states changed).
    fn rebuild(&mut self, servers: &[ServerRt]);
    /// Chooses a server, an index into `servers`.
    fn choose(&mut self, servers: &[ServerRt], exclude: Option<usize>) -> Option<usize>;
}

/// Picks with `b`, rebuilding its state first when the servers' states
/// changed; a pick that a change racing with it made unusable is made once
/// more on fresh state.
pub(crate) fn pick_live<B: LiveChoice>(
    b: &mut B,
    servers: &[ServerRt],
    exclude: Option<usize>,
) -> Option<usize> {
    for _ in 0..2 {
        if b.watch().stale(servers) {
            b.rebuild(servers);
        }
        let i = b.choose(servers, exclude)?;
        if servers[i].usable() {
            return Some(i);
        }
        b.watch().invalidate();
    }
    None
}

/// The servers that may receive traffic now, as (index, weight), in index
/// order: the active servers with a weight, or when there are none the first
/// backup server with one (every backup with one under `option allbackups`).
pub fn live_set(servers: &[ServerRt], snapshot: &[u32], out: &mut Vec<(u32, u32)>) {
    out.clear();
    out.extend(
        servers
            .iter()
            .zip(snapshot)
            .enumerate()
            .filter(|(_, (s, w))| !s.backup && **w > 0)
            .map(|(i, (_, w))| (i as u32, *w)),
    );
    if out.is_empty() {
        let backups = servers
            .iter()
            .zip(snapshot)
            .enumerate()
            .filter(|(_, (s, w))| s.backup && **w > 0)
            .map(|(i, (_, w))| (i as u32, *w));
        let all = servers.iter().any(|s| s.all_backups);
        out.extend(backups.take(if all { usize::MAX } else { 1 }));
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Servers built by hand for the balancers' unit tests.

    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

    use super::{Balancer, PickInput};
    use crate::config::model::Address;
    use crate::runtime::ServerRt;

    /// An active server `s<i>` of weight `weight`, up.
    pub fn server(i: usize, weight: u32) -> ServerRt {
        ServerRt {
            name: format!("s{i}").into(),
            address: Address::Inet("127.0.0.1:1".parse().unwrap()),
            resolved: None,
            runtime_addr: Default::default(),
            addr_set: AtomicBool::new(false),
            port_offset: None,
            configured_weight: weight,
            weight: AtomicU32::new(weight),
            up: AtomicBool::new(true),
            active: AtomicU64::new(0),
            backup: false,
            check: Default::default(),
            admin: Default::default(),
            health: Default::default(),
            all_backups: false,
        }
    }

    /// A backup server `b<i>` of weight `weight`, up.
    pub fn backup(i: usize, weight: u32) -> ServerRt {
        ServerRt {
            name: format!("b{i}").into(),
            backup: true,
            ..server(i, weight)
        }
    }

    /// Active servers with these weights.
    pub fn farm(weights: &[u32]) -> Vec<ServerRt> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| server(i, w))
            .collect()
    }

    /// Sets a server's state the way the health checker will: store, then bump.
    pub fn set_up(s: &ServerRt, up: bool) {
        super::set_up(s, up);
    }

    /// Stores without telling the balancers (a writer that forgot the bump).
    pub fn store_up_silently(s: &ServerRt, up: bool) {
        s.up.store(up, Ordering::Relaxed);
    }

    /// The servers chosen by `n` picks without a key.
    pub fn seq(b: &mut dyn Balancer, servers: &[ServerRt], n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| {
                b.pick(servers, &PickInput::default(), None)
                    .expect("a server")
            })
            .collect()
    }

    /// The server chosen for a request to `uri`.
    pub fn pick_uri(b: &mut dyn Balancer, servers: &[ServerRt], uri: &str) -> Option<usize> {
        let input = PickInput {
            uri: Some(uri),
            ..PickInput::default()
        };
        b.pick(servers, &input, None)
    }

    /// How many times each server is chosen over `picks` picks of `input`.
    pub fn counts(
        b: &mut dyn Balancer,
        servers: &[ServerRt],
        input: &PickInput<'_>,
        picks: usize,
    ) -> Vec<usize> {
        let mut c = vec![0; servers.len()];
        for _ in 0..picks {
            c[b.pick(servers, input, None).expect("a server")] += 1;
        }
        c
    }

    /// Asserts each server's share of `counts` is within 1% of its weight share.
    pub fn assert_shares(counts: &[usize], weights: &[u32]) {
        let total: usize = counts.iter().sum();
        let wsum: u32 = weights.iter().sum();
        for (i, (&c, &w)) in counts.iter().zip(weights).enumerate() {
            let got = c as f64 / total as f64;
            let want = f64::from(w) / f64::from(wsum);
            assert!(
                (got - want).abs() <= 0.01,
                "server {i}: share {got:.4}, weight share {want:.4} (counts {counts:?})"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn live_set_prefers_actives_then_first_backup() {
        let s = vec![server(0, 2), backup(1, 1), backup(2, 1), server(3, 0)];
        let mut w = Watch::default();
        let mut out = Vec::new();
        live_set(&s, w.refresh(&s), &mut out);
        assert_eq!(out, vec![(0, 2)]);
        s[0].up.store(false, Ordering::Relaxed);
        live_set(&s, w.refresh(&s), &mut out);
        assert_eq!(out, vec![(1, 1)]);
        s[1].up.store(false, Ordering::Relaxed);
        live_set(&s, w.refresh(&s), &mut out);
        assert_eq!(out, vec![(2, 1)]);
        s[2].weight.store(0, Ordering::Relaxed);
        live_set(&s, w.refresh(&s), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn allbackups_balances_over_every_usable_backup() {
        let all = |s: ServerRt| ServerRt {
            all_backups: true,
            ..s
        };
        let s = vec![
            all(server(0, 2)),
            all(backup(1, 1)),
            all(backup(2, 3)),
            all(backup(3, 0)),
        ];
        let mut w = Watch::default();
        let mut out = Vec::new();
        live_set(&s, w.refresh(&s), &mut out);
        assert_eq!(out, vec![(0, 2)]);
        s[0].up.store(false, Ordering::Relaxed);
        live_set(&s, w.refresh(&s), &mut out);
        assert_eq!(out, vec![(1, 1), (2, 3)]);
    }

    #[test]
    fn a_warming_server_weighs_in_sixteenths() {
        let s = farm(&[1, 2]);
        let mut w = Watch::default();
        assert_eq!(w.refresh(&s), &[1, 2]);
        s[0].health.ramp.store(5, Ordering::Relaxed);
        assert_eq!(w.refresh(&s), &[5, 32]);
        s[0].health.ramp.store(16, Ordering::Relaxed);
        assert_eq!(w.refresh(&s), &[1, 2]);
    }

    #[test]
    fn watch_sees_bumps_and_audits_silent_stores() {
        let s = farm(&[1, 1, 1]);
        let mut w = Watch::default();
        assert!(w.stale(&s));
        w.refresh(&s);
        // (Not asserting freshness here: parallel tests bump the generation too.)
        set_weight(&s[1], 5);
        assert!(w.stale(&s));
        w.refresh(&s);
        // A store without the bump is found by the audit within one pass.
        w.refresh(&s);
        assert!((0..s.len()).all(|_| !w.audit(&s)));
        store_up_silently(&s[2], false);
        assert!((0..s.len()).any(|_| w.audit(&s)));
    }
}
