//! A backend's stick rules at run time: matching on the request, the keys
//! to store kept until the server is known, and storing them (HAProxy's
//! `process_sticking_rules` and `process_store_rules`).

use std::sync::Arc;
use std::time::Instant;

use super::{BackendStick, Key, StickKind, Stuck, Table};
use crate::acl::{AclSet, Condition, Expr, Sample, Scratch};

/// HAProxy keeps at most this many keys to store per request.
const MAX_STORES: usize = 8;

/// One rule, its table resolved.
#[derive(Debug)]
struct RuleRt {
    kind: StickKind,
    expr: Expr,
    cond: Option<Condition>,
    table: Arc<Table>,
}

/// A backend's stick rules, with what storing needs of its servers.
#[derive(Debug)]
pub struct StickRt {
    rules: Vec<RuleRt>,
    acls: AclSet,
    /// Each server's `id` (HAProxy's `puid`), by index.
    ids: Vec<u32>,
    /// Each server's name (`server_key`), by index.
    names: Vec<Arc<str>>,
    /// `option persist`: a match on a down server still goes there.
    persist: bool,
    /// A `disabled` backend chooses no server, stuck or not.
    disabled: bool,
}

/// The keys a request's store rules took, written once its server is known.
#[derive(Debug, Default)]
pub struct Pending {
    stores: Vec<(usize, Key)>,
}

impl Pending {
    /// Forgets the keys (a new request on the connection).
    pub fn clear(&mut self) {
        self.stores.clear();
    }
}

impl StickRt {
    /// The run-time rules of backend `be`, `None` without rules.
    pub fn build(
        stick: &BackendStick,
        tables: &[Arc<Table>],
        be: &crate::config::model::Backend,
    ) -> Option<StickRt> {
        if stick.rules.is_empty() {
            return None;
        }
        let written: Vec<Option<u32>> = be.servers.iter().map(|s| s.id).collect();
        Some(StickRt {
            rules: stick
                .rules
                .iter()
                .map(|r| RuleRt {
                    kind: r.kind,
                    expr: r.expr.clone(),
                    cond: r.cond.clone(),
                    table: tables[r.table_index].clone(),
                })
                .collect(),
            acls: stick.acls.0.clone(),
            ids: crate::config::proxy_ids::assign(&written),
            names: be
                .servers
                .iter()
                .map(|s| Arc::from(s.name.as_str()))
                .collect(),
            persist: be.persist,
            disabled: be.settings.disabled,
        })
    }

    /// Whether some rule reads the response (`stick store-response`).
    pub fn reads_response(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.kind == StickKind::StoreResponse)
    }

    /// Whether the rule applies and, if so, its key.
    fn key<S: Sample + ?Sized>(&self, r: &RuleRt, s: &S, sc: &mut Scratch) -> Option<Key> {
        if let Some(c) = &r.cond
            && !c.eval(&self.acls, s, sc)
        {
            return None;
        }
        let mut key = None;
        // The last value, as HAProxy's sample fetches answer.
        r.expr.for_each(s, sc, |v, _| {
            key = r.table.spec.key.key(v);
            false
        });
        key
    }

    /// Whether rule `i`'s table already has a key to store (only the first
    /// store rule of each table applies, as HAProxy).
    fn table_taken(&self, pending: &Pending, i: usize) -> bool {
        let t = &self.rules[i].table;
        pending
            .stores
            .iter()
            .any(|(j, _)| Arc::ptr_eq(&self.rules[*j].table, t))
    }

    /// The request's rules in order: the server a match finds (unless
    /// `assigned`, a cookie chose already), taken when `available` says it
    /// may receive the request or with `option persist`; the keys to store
    /// go to `pending`.
    pub fn request<S: Sample + ?Sized>(
        &self,
        s: &S,
        sc: &mut Scratch,
        assigned: bool,
        available: impl Fn(usize) -> bool,
        pending: &mut Pending,
    ) -> Option<usize> {
        let now = Instant::now();
        let mut chosen = None;
        let assigned = assigned || self.disabled;
        for (i, r) in self.rules.iter().enumerate() {
            // A store rule (`stick on` included) whose table already has
            // a key is skipped whole, as HAProxy.
            if r.kind == StickKind::StoreResponse
                || (r.kind.stores_request() && self.table_taken(pending, i))
            {
                continue;
            }
            let Some(key) = self.key(r, s, sc) else {
                continue;
            };
            if r.kind.matches()
                && let Some(stuck) = r.table.lookup(&key, now)
                && !assigned
                && chosen.is_none()
                && let Some(srv) = self.ids.iter().position(|&id| id == stuck.server_id)
                && (self.persist || available(srv))
            {
                chosen = Some(srv);
            }
            if r.kind.stores_request() && pending.stores.len() < MAX_STORES {
                pending.stores.push((i, key));
            }
        }
        chosen
    }

    /// The rules of a `mode tcp` backend on a new connection from `client`
    /// (they read its address only): the server a match finds, if it is up
    /// or with `option persist`.
    pub fn on_connection(
        &self,
        client: Option<std::net::IpAddr>,
        sc: &mut Scratch,
        servers: &[crate::runtime::ServerRt],
        pending: &mut Pending,
    ) -> Option<usize> {
        pending.clear();
        let s = Conn {
            src: client.map(|ip| std::net::SocketAddr::new(ip, 0)),
        };
        self.request(&s, sc, false, |i| servers[i].available(), pending)
    }

    /// The `store-response` rules on the response head `s`.
    pub fn response<S: Sample + ?Sized>(&self, s: &S, sc: &mut Scratch, pending: &mut Pending) {
        for (i, r) in self.rules.iter().enumerate() {
            if r.kind != StickKind::StoreResponse
                || pending.stores.len() >= MAX_STORES
                || self.table_taken(pending, i)
            {
                continue;
            }
            if let Some(key) = self.key(r, s, sc) {
                pending.stores.push((i, key));
            }
        }
    }

    /// Writes the pending keys with `server`, the server the request went to.
    pub fn commit(&self, server: usize, pending: &mut Pending) {
        let (Some(&id), Some(name)) = (self.ids.get(server), self.names.get(server)) else {
            pending.clear();
            return;
        };
        if &**name == crate::config::model::DISPATCH_SERVER {
            // The dispatch address is no server: nothing to stick to.
            pending.clear();
            return;
        }
        let now = Instant::now();
        for (i, key) in pending.stores.drain(..) {
            let stuck = Stuck {
                server_id: id,
                server_key: name.clone(),
            };
            self.rules[i].table.store(key, stuck, now);
        }
    }
}

/// A connection as a [`Sample`]: its client's address only.
struct Conn {
    src: Option<std::net::SocketAddr>,
}

impl Sample for Conn {
    fn src(&self) -> Option<std::net::SocketAddr> {
        self.src
    }
    fn is_http(&self) -> bool {
        false
    }
}
