//! Content switching and rules as compiled into the model: `use_backend`
//! lines, HTTP and TCP rule lists, ACL tables.

use super::*;

/// One `use_backend` rule, its backend resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// Index into [`Config::backends`] (0 for a dynamic rule).
    pub backend: usize,
    /// A backend name computed per request (`use_backend %[...]`): a name no
    /// backend has sends the request to the default backend, as HAProxy.
    pub dynamic: Option<Dynamic>,
    /// The condition (`None`: always).
    pub cond: Option<crate::acl::Condition>,
}

/// A `use_backend` name computed per request, and the backends it may name.
#[derive(Debug, Clone)]
pub struct Dynamic {
    /// The log-format expression giving the name.
    pub name: crate::lf::LogFormat,
    /// Backends of the frontend's mode, by name.
    pub backends: std::sync::Arc<std::collections::HashMap<String, usize>>,
}

impl PartialEq for Dynamic {
    fn eq(&self, o: &Dynamic) -> bool {
        self.name.text == o.name.text
    }
}

impl Eq for Dynamic {}

/// A frontend's content switching: `use_backend` rules and the frontend's ACLs.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// The rules, first match wins.
    pub rules: Vec<Switch>,
    /// The ACLs the conditions index (linked to the configuration's names).
    pub acls: crate::acl::AclSet,
}

impl PartialEq for Routing {
    /// Compiled ACLs have no equality: two routings are equal when their rules
    /// are and their ACL tables hold the same names in the same order.
    fn eq(&self, o: &Routing) -> bool {
        self.rules == o.rules
            && self.acls.len() == o.acls.len()
            && (0..self.acls.len()).all(|i| self.acls.name(i) == o.acls.name(i))
    }
}

impl Eq for Routing {}

/// A proxy's HTTP rules (`http-request`, `http-response`,
/// `http-after-response`, `redirect`), compiled; a `listen` section's
/// frontend and backend share one.
#[derive(Debug, Clone, Default)]
pub struct Rules(pub std::sync::Arc<crate::http::rules::ProxyRules>);

impl PartialEq for Rules {
    /// Compiled rules have no equality: equal when shared or both empty.
    fn eq(&self, o: &Rules) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &o.0) || (self.0.is_empty() && o.0.is_empty())
    }
}

impl Eq for Rules {}
/// What a `tcp-request` / `tcp-response` rule does when its condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpAction {
    /// `accept`: stop evaluating this rule list and let the traffic pass.
    Accept,
    /// `reject`: close the connection.
    Reject,
    /// `close` (`tcp-response content` only): pass what was buffered and
    /// close the server connection.
    Close,
    /// `set-var`, `set-var-fmt`, `unset-var`, `capture`: the rule's
    /// [`TcpRule::effect`] runs, then the next rule is evaluated.
    Continue,
    /// `expect-proxy layer4` (`tcp-request connection` only): the
    /// connection starts with a PROXY header; the next rule is evaluated.
    ExpectProxy,
}

/// What a [`TcpAction::Continue`] rule does: one of the HTTP rules' variable
/// and capture actions (`SetVar`, `SetVarFmt`, `UnsetVar`, `Capture` with a
/// resolved slot), shared by the models that copy the rule.
#[derive(Debug, Clone)]
pub struct TcpEffect(pub std::sync::Arc<crate::http::rules::Action>);

impl PartialEq for TcpEffect {
    /// Compiled expressions have no equality: equal when shared.
    fn eq(&self, o: &TcpEffect) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &o.0)
    }
}

impl Eq for TcpEffect {}

/// One `tcp-request connection|content` or `tcp-response content` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRule {
    /// The action.
    pub action: TcpAction,
    /// What a [`TcpAction::Continue`] rule does (`None` for the others).
    pub effect: Option<TcpEffect>,
    /// The condition, compiled against the proxy's ACLs (`None`: always).
    pub cond: Option<crate::acl::Condition>,
    /// Where it was written.
    pub origin: Origin,
}

/// A proxy's layer-4 rules (`tcp-request`, `tcp-response`), in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcpRules {
    /// `tcp-request connection` (frontend side): at accept, before any read.
    pub connection: Vec<TcpRule>,
    /// `tcp-request content`: on the client's first bytes (`mode tcp`) or
    /// on each request head (`mode http`).
    pub content: Vec<TcpRule>,
    /// `tcp-request inspect-delay` (zero: decide on what is there at once).
    pub inspect_delay: Duration,
    /// `tcp-response content` (backend side): on the server's first bytes.
    pub response: Vec<TcpRule>,
    /// `tcp-response inspect-delay`.
    pub res_inspect_delay: Duration,
}

/// A backend's ACL table, kept when its `tcp-request content` or
/// `tcp-response content` rules need it.
#[derive(Debug, Clone, Default)]
pub struct AclTable(pub crate::acl::AclSet);

impl PartialEq for AclTable {
    /// Compiled ACLs have no equality: equal when they hold the same names in order.
    fn eq(&self, o: &AclTable) -> bool {
        self.0.len() == o.0.len() && (0..self.0.len()).all(|i| self.0.name(i) == o.0.name(i))
    }
}

impl Eq for AclTable {}
