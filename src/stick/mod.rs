//! Server persistence with stick tables (`stick-table`, `stick on`,
//! `stick match`, `stick store-request`, `stick store-response`), as
//! HAProxy 2.6 documents them.
//!
//! A table ([`table::Table`]) lives for the process, shared by all workers;
//! only backends with `stick` rules touch one. On a request, once the
//! backend is chosen and unless a persistence cookie already chose the
//! server, the backend's match rules look the key up: a server found there
//! that is up (or any, with `option persist`) is taken without balancing.
//! The store rules' keys are kept on the request ([`Pending`]) and written
//! with the server the request went to when the response starts
//! (`store-response` keys are read from that response's head), or in
//! `mode tcp` once the server connection is made.

pub mod admin;
pub mod key;
pub mod rules;
pub mod table;

pub use key::{Key, KeyType};
pub use rules::{Pending, StickRt};
pub use table::{Stuck, Table, TableSpec};

use crate::acl::{Condition, Expr};
use crate::config::model::Origin;

/// What a `stick` rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickKind {
    /// `stick on`: match, then store the request's key.
    On,
    /// `stick match`.
    Match,
    /// `stick store-request`.
    StoreRequest,
    /// `stick store-response`.
    StoreResponse,
}

impl StickKind {
    /// Whether the rule looks its key up on the request.
    pub fn matches(self) -> bool {
        matches!(self, StickKind::On | StickKind::Match)
    }

    /// Whether the rule stores a key taken from the request.
    pub fn stores_request(self) -> bool {
        matches!(self, StickKind::On | StickKind::StoreRequest)
    }
}

/// One `stick` line.
#[derive(Debug, Clone)]
pub struct StickRule {
    /// What it does.
    pub kind: StickKind,
    /// The pattern as written (for messages and equality).
    pub text: String,
    /// The pattern, compiled.
    pub expr: Expr,
    /// `table <name>`, else the rule's own proxy.
    pub table: String,
    /// The table's index in [`crate::config::model::Config::stick_tables`]
    /// (set when validating).
    pub table_index: usize,
    /// `if|unless <cond>`, against the proxy's ACLs.
    pub cond: Option<Condition>,
    /// Where it was written.
    pub origin: Origin,
}

impl PartialEq for StickRule {
    /// Compiled patterns have no equality: equal when written the same.
    fn eq(&self, o: &StickRule) -> bool {
        self.kind == o.kind
            && self.text == o.text
            && self.table == o.table
            && self.table_index == o.table_index
            && self.cond.is_some() == o.cond.is_some()
    }
}

impl Eq for StickRule {}

/// A proxy's stick keywords as parsed.
#[derive(Debug, Clone, Default)]
pub struct RawStick {
    /// `stick-table ...` (its name is the proxy's) and where it was written.
    pub table: Option<(TableSpec, Origin)>,
    /// `stick ...` lines in order.
    pub rules: Vec<StickRule>,
}

/// A backend's stick rules, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackendStick {
    /// The rules in order (empty: the backend uses no table).
    pub rules: Vec<StickRule>,
    /// The backend's ACLs, linked, for the rules' conditions.
    pub acls: crate::config::model::AclTable,
}
