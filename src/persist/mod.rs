//! Which server a request must go to before balancing: `use-server` rules,
//! `force-persist` / `ignore-persist`, `persist rdp-cookie`, and the
//! `http-send-name-header` line that tells the server its own name.
//!
//! Parsed in `config/kw/persist.rs`, resolved (server names, ACLs) when
//! validating into a backend's [`Rules`], and evaluated where the server is
//! chosen: `http/session/persist.rs` (HTTP, called from `read.rs` once the
//! backend's rules ran) and
//! `tcp/relay.rs` (TCP, on the bytes the content rules waited for). As in
//! HAProxy 2.6 (`process_switching_rules`, `process_server_rules`): the
//! first matching persist rule sets force or ignore for the request, then
//! the first matching `use-server` rule whose server is usable (or any, when
//! forced or with `option persist`) assigns the server, ahead of cookies and
//! balancing.

pub mod rdp;

use crate::acl::{AclSet, Condition, Sample, Scratch};
use crate::config::model::Origin;
use crate::runtime::ServerRt;

/// One `use-server` line as parsed, its server not resolved yet.
#[derive(Debug, Clone)]
pub struct RawUseServer {
    /// The server named (or the log-format text).
    pub name: String,
    /// The name as a log-format expression (`%[...]`), resolved per request.
    pub dynamic: Option<crate::lf::LogFormat>,
    /// The condition (HAProxy requires one).
    pub cond: Condition,
    /// Where it was written.
    pub origin: Origin,
}

/// Persistence keywords of a proxy as parsed.
#[derive(Debug, Clone, Default)]
pub struct RawRules {
    /// `use-server` lines in order.
    pub use_server: Vec<RawUseServer>,
    /// `force-persist` (true) and `ignore-persist` (false) lines in order.
    pub persist: Vec<(bool, Condition)>,
    /// `http-send-name-header <name>`.
    pub send_name: Option<String>,
    /// `persist rdp-cookie[(<name>)]`: the cookie's name.
    pub rdp_cookie: Option<String>,
}

/// Where a `use-server` rule sends a request.
#[derive(Debug, Clone)]
pub enum Target {
    /// A server of the backend, by index.
    Server(usize),
    /// A log-format expression giving a server's name.
    Dynamic(crate::lf::LogFormat),
}

/// A resolved `use-server` rule.
#[derive(Debug, Clone)]
pub struct UseServer {
    /// The server.
    pub target: Target,
    /// The condition, against [`Rules::acls`].
    pub cond: Condition,
}

/// A backend's persistence rules, compiled.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The backend's ACLs, linked (empty when there are no rules).
    pub acls: AclSet,
    /// `use-server` rules in order.
    pub use_server: Vec<UseServer>,
    /// `force-persist` (true) / `ignore-persist` (false) rules in order.
    pub persist: Vec<(bool, Condition)>,
    /// Server names, for dynamic `use-server` (first of a name wins).
    pub names: std::collections::HashMap<String, usize>,
    /// `http-send-name-header`.
    pub send_name: Option<String>,
    /// `persist rdp-cookie`: the cookie's name.
    pub rdp_cookie: Option<String>,
}

impl PartialEq for Rules {
    /// Compiled conditions have no equality: compared by shape.
    fn eq(&self, o: &Rules) -> bool {
        self.use_server.len() == o.use_server.len()
            && self.persist.len() == o.persist.len()
            && self.send_name == o.send_name
            && self.rdp_cookie == o.rdp_cookie
    }
}

impl Eq for Rules {}

/// How persistence applies to one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Persist {
    /// As configured (cookies honoured for usable servers).
    #[default]
    Normal,
    /// `force-persist` matched: a down server named by a cookie or
    /// `use-server` is still used, and there is no final redispatch.
    Force,
    /// `ignore-persist` matched: the persistence cookie is not read.
    Ignore,
}

/// What the rules decided for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decision {
    /// Force, ignore or neither.
    pub persist: Persist,
    /// The server a `use-server` rule assigned.
    pub server: Option<usize>,
}

impl Decision {
    /// Whether the response may get the inserted stickiness cookie: not when
    /// persistence was ignored, nor when `use-server` assigned the server
    /// (HAProxy inserts only for a request it balanced).
    pub fn cookie_insert_allowed(&self) -> bool {
        self.persist != Persist::Ignore && self.server.is_none()
    }
}

impl Rules {
    /// Whether requests need evaluating at all (nothing is run otherwise).
    pub fn active(&self) -> bool {
        !self.use_server.is_empty() || !self.persist.is_empty()
    }

    /// Runs the persist rules then the `use-server` rules on a request.
    /// `option_persist` is the backend's `option persist`.
    pub fn decide<S: Sample + ?Sized>(
        &self,
        servers: &[ServerRt],
        option_persist: bool,
        s: &S,
        sc: &mut Scratch,
    ) -> Decision {
        let persist = self
            .persist
            .iter()
            .find(|(_, c)| c.eval(&self.acls, s, sc))
            .map_or(Persist::Normal, |&(force, _)| {
                if force {
                    Persist::Force
                } else {
                    Persist::Ignore
                }
            });
        let any_state = option_persist || persist == Persist::Force;
        let mut server = None;
        for rule in &self.use_server {
            if !rule.cond.eval(&self.acls, s, sc) {
                continue;
            }
            let srv = match &rule.target {
                Target::Server(i) => Some(*i),
                Target::Dynamic(lf) => self.dynamic(lf, s, sc),
            };
            // A dynamic name that names no server ends the rules (HAProxy).
            let Some(srv) = srv else { break };
            if any_state || servers[srv].available() {
                server = Some(srv);
                break;
            }
        }
        Decision { persist, server }
    }

    /// The server a `use-server %[...]` names for this request.
    fn dynamic<S: Sample + ?Sized>(
        &self,
        lf: &crate::lf::LogFormat,
        s: &S,
        sc: &mut Scratch,
    ) -> Option<usize> {
        let mut name = std::mem::take(&mut sc.name);
        name.clear();
        lf.render(s, &crate::lf::NoVars, sc, &mut name);
        let found = std::str::from_utf8(&name)
            .ok()
            .and_then(|n| self.names.get(n).copied());
        sc.name = name;
        found
    }
}
