//! Validation: raw sections → the [`model`] the runtime is built from.
//!
//! Owns the checks that need the whole configuration (proxy names, backend
//! references, modes, servers), HAProxy's "missing timeouts" warning with the
//! safe defaults filled in, HTTP-only settings dropped from TCP proxies (as
//! HAProxy), resolving `user`/`group` names to ids, and compiling the
//! `userlist` sections (ACL fetches link to them).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::kw::did_you_mean;
use super::kw::errors;
use super::kw::global::{group_id, user_id};
use super::model::{
    AclTable, Backend, Balance, Config, CpuMap, Frontend, Global, Mode, Monitor, Origin, Routing,
    Rules, Server, Stats, Switch,
};
use super::parse::{Diag, Parsed};
use super::raw::{Ident, RawGlobal, RawProxy, RawServer, RawUserlist, SectionKind};
use crate::auth::Userlist;

#[path = "validate_global.rs"]
mod global_section;
use global_section::{global, userlists};

/// `timeout connect` when the configuration leaves it unset.
pub const DEFAULT_CONNECT: Duration = Duration::from_secs(5);
/// `timeout client` when the configuration leaves it unset.
pub const DEFAULT_CLIENT: Duration = Duration::from_secs(30);
/// `timeout server` when the configuration leaves it unset.
pub const DEFAULT_SERVER: Duration = Duration::from_secs(30);

/// Server defaults, as HAProxy: weight 1, inter 2s, rise 2, fall 3.
const DEFAULT_WEIGHT: u32 = 1;
const DEFAULT_INTER: Duration = Duration::from_secs(2);
const DEFAULT_RISE: u32 = 2;
const DEFAULT_FALL: u32 = 3;
/// `retries` when unset.
const DEFAULT_RETRIES: u32 = 3;

/// Checks the parsed sections and builds the model; problems go to `diag`.
pub fn validate(parsed: Parsed, diag: &mut Diag) -> Config {
    let tls_defaults = parsed.global.server_tls.clone();
    let ext_flags = parsed.global.ext_checks;
    let global = global(parsed.global, diag);
    let userlists = userlists(parsed.userlists, diag);
    let mut proxies = parsed.proxies;
    duplicate_names(&proxies, diag);
    super::proxy_ids::check_proxy_ids(&proxies, diag);
    for p in &mut proxies {
        tcp_mode_drops(p, diag);
        missing_timeouts(p, diag);
        super::tcp_validate::check(p, diag);
    }
    let mut backends = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for p in proxies.iter().filter(|p| p.kind.has_backend()) {
        if by_name.contains_key(p.name.as_str()) {
            continue; // Already reported as a duplicate.
        }
        by_name.insert(p.name.clone(), backends.len());
        let mut b = backend(p, diag);
        super::tls_validate::link(p, &mut b, &tls_defaults, diag);
        super::checks_validate::link(p, &mut b, ext_flags, diag);
        b.errors = errors::resolve(p, &parsed.http_errors, diag);
        backends.push(b);
    }
    super::track::resolve(&mut backends, &by_name, diag);
    let names = ConfigNames {
        backends: &by_name,
        frontends: proxies
            .iter()
            .filter(|p| p.kind.has_frontend())
            .map(|p| p.name.clone())
            .collect(),
        servers: &backends,
        userlists: &userlists,
    };
    // ACLs name proxies and servers: resolved once every section is read.
    let mut backend_rules = Vec::new();
    for p in proxies
        .iter_mut()
        .filter(|p| p.kind == SectionKind::Backend)
    {
        if let Err(e) = p.acls.link(&names) {
            diag.error_at(&p.origin, format!("{}: {e}", p.label()));
        }
        if let (Some(rules), Some(&b)) =
            (proxy_rules(p, &names, diag), by_name.get(p.name.as_str()))
        {
            backend_rules.push((b, rules));
        }
    }
    // A backend's own tcp rules keep a linked copy of its ACLs.
    let backend_acls = super::tcp_validate::backend_acls(&mut proxies, &by_name, &names, diag);
    let persistence = super::persist_validate::link(&mut proxies, &by_name, &names, diag);
    // Stick tables and rules (`stick_validate.rs`), before a listen's
    // frontend takes its ACLs.
    let (stick_tables, stick) = super::stick_validate::link(&mut proxies, &by_name, &names, diag);
    let mut frontends = Vec::new();
    let mut disabled_frontends = Vec::new();
    let mut listen_rules = Vec::new();
    for p in proxies.iter_mut().filter(|p| p.kind.has_frontend()) {
        // A `listen` reports an unknown `errorfiles` section once, for its backend half.
        let pages = if p.kind == SectionKind::Listen {
            errors::resolve(p, &parsed.http_errors, &mut Diag::default())
        } else {
            errors::resolve(p, &parsed.http_errors, diag)
        };
        if let Some(mut f) = frontend(p, &names, &backends, diag) {
            f.errors = pages;
            if p.kind == SectionKind::Listen
                && let Some(&b) = by_name.get(p.name.as_str())
            {
                listen_rules.push((b, f.rules.clone()));
            }
            // A disabled frontend is checked, then neither listens nor
            // shows; a `listen`'s number stays with its (disabled) backend.
            if !f.settings.disabled {
                frontends.push(f);
            } else if p.kind == SectionKind::Frontend {
                disabled_frontends.push((f.origin.clone(), f.settings.id));
            }
        }
    }
    // A listen's rules are its backend's too (run once when both are the
    // same section: see the session).
    drop(names);
    for (i, s) in stick {
        backends[i].stick = s;
    }
    for (i, acls, tcp) in backend_acls {
        backends[i].acls = AclTable(acls);
        backends[i].tcp = tcp;
    }
    for (i, rules) in persistence {
        backends[i].persistence = rules;
    }
    for (b, r) in listen_rules.into_iter().chain(backend_rules) {
        backends[b].rules = r;
    }
    let resolvers = super::dns_validate::link(parsed.resolvers, &proxies, &mut backends, diag);
    let mut cfg = Config {
        global,
        frontends,
        backends,
        userlists,
        resolvers,
        disabled_frontends,
        stick_tables,
    };
    super::proxy_ids::settle_fullconn(&mut cfg);
    cfg
}

/// Two frontends, two backends, or a `listen` and anything may not share a name.
fn duplicate_names(proxies: &[RawProxy], diag: &mut Diag) {
    let mut fe: HashMap<&str, &RawProxy> = HashMap::new();
    let mut be: HashMap<&str, &RawProxy> = HashMap::new();
    for p in proxies {
        let clash = (p
            .kind
            .has_frontend()
            .then(|| fe.get(p.name.as_str()))
            .flatten())
        .or_else(|| {
            p.kind
                .has_backend()
                .then(|| be.get(p.name.as_str()))
                .flatten()
        });
        if let Some(first) = clash {
            diag.error_at(
                &p.origin,
                format!(
                    "{} has the same name as {} declared at {}",
                    p.label(),
                    first.label(),
                    first.origin
                ),
            );
            continue;
        }
        if p.kind.has_frontend() {
            fe.insert(&p.name, p);
        }
        if p.kind.has_backend() {
            be.insert(&p.name, p);
        }
    }
}

/// HTTP-only settings in a TCP proxy are dropped with HAProxy's warnings.
fn tcp_mode_drops(p: &mut RawProxy, diag: &mut Diag) {
    if p.mode != Mode::Tcp {
        return;
    }
    let name = &p.name;
    let mut warn = |m: String| diag.warn_at(&p.origin, m);
    if p.kind.has_backend() && p.cookie.take().is_some() {
        warn(format!(
            "cookie will be ignored for proxy '{name}' (needs 'mode http')"
        ));
    }
    if p.kind.has_backend()
        && matches!(
            p.balance,
            Balance::Uri { .. } | Balance::UrlParam(_) | Balance::Hdr { .. }
        )
    {
        p.balance = Balance::RoundRobin;
        warn(format!(
            "Layer 7 hash not possible for proxy '{name}' (needs 'mode http'). Falling back to round robin."
        ));
    }
    if p.stats != Stats::default() {
        p.stats = Stats::default();
        warn(format!(
            "'stats' statement ignored for proxy '{name}' as it requires HTTP mode."
        ));
    }
    if p.monitor_uri.take().is_some() {
        warn(format!(
            "'monitor-uri' ignored for proxy '{name}' as it requires HTTP mode."
        ));
    }
    if p.http.forwardfor.take().is_some() {
        warn(format!(
            "'option forwardfor' ignored for proxy '{name}' as it requires HTTP mode."
        ));
    }
    for s in &mut p.servers {
        if s.opts.cookie.take().is_some() {
            warn(format!(
                "proxy '{name}' : ignoring cookie for server '{}' as HTTP mode is disabled.",
                s.name
            ));
        }
    }
}

/// HAProxy's "missing timeouts" warning; the safe defaults are filled in.
fn missing_timeouts(p: &mut RawProxy, diag: &mut Diag) {
    let unset = |t: Option<Duration>| t.is_none_or(|d| d.is_zero());
    let t = &mut p.timeouts;
    let missing = (p.kind.has_frontend() && unset(t.client))
        || (p.kind.has_backend() && (unset(t.connect) || unset(t.server)));
    if missing {
        diag.warn_at(
            &p.origin,
            format!(
                "missing timeouts for proxy '{}'. While not properly invalid, you will certainly \
                 encounter various problems with such a configuration. To fix this, please ensure \
                 that all following timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
                p.name
            ),
        );
    }
    for (slot, default) in [
        (&mut t.client, DEFAULT_CLIENT),
        (&mut t.connect, DEFAULT_CONNECT),
        (&mut t.server, DEFAULT_SERVER),
    ] {
        if unset(*slot) {
            *slot = Some(default);
        }
    }
}

/// The backend half of a `backend` or `listen`.
fn backend(p: &RawProxy, diag: &mut Diag) -> Backend {
    let mut servers: Vec<Server> = Vec::new();
    for s in &p.servers {
        // HAProxy 1.4 accepted two servers of one name and 2.x refuses them;
        // ringlb keeps 1.4's meaning (both take traffic) with a warning, and
        // whatever names a server (socket, stats scope, track) finds the first.
        if let Some(first) = servers.iter().find(|f| f.name == s.name) {
            diag.warn_at(
                &s.origin,
                format!(
                    "{}, another server named '{}' was already defined at line {}, please use \
                     distinct names (accepted as HAProxy 1.4 did: both take traffic, and the \
                     stats socket reaches the first by name)",
                    p.label(),
                    s.name,
                    first.origin.line
                ),
            );
        }
        servers.push(server(s));
    }
    super::proxy_ids::check_server_ids(p, &servers, diag);
    if let Some(sa) = p.settings.dispatch {
        servers.push(dispatch_server(sa, p));
    }
    // A proxy that answers by itself needs no server: no warning (HAProxy
    // warns about none of these; ringlb only about a proxy with nothing to answer).
    if servers.is_empty() && !answers_itself(p) {
        diag.warn_at(
            &p.origin,
            format!(
                "{} has no server; its requests will get 503 Service Unavailable",
                p.label()
            ),
        );
    }
    Backend {
        name: p.name.clone(),
        mode: p.mode,
        balance: p.balance.clone(),
        hash_type: p.hash_type,
        hash_function: p.hash_function,
        hash_balance_factor: p.hash_balance_factor,
        servers,
        timeouts: p.timeouts.clone(),
        retries: p.retries.unwrap_or(DEFAULT_RETRIES),
        redispatch: p.redispatch,
        redispatch_after: p.redispatch_after,
        allbackups: p.allbackups,
        persist: p.persist,
        // A disabled backend persists nothing: no server is chosen there;
        // nor does one with `dispatch`, whose servers are never chosen.
        cookie: p
            .cookie
            .clone()
            .filter(|_| !p.settings.disabled && p.settings.dispatch.is_none()),
        httpchk: p.httpchk.clone(),
        // Filled by `checks_validate::link`.
        external_check: None,
        tcpcheck: p.tcp_check.program(),
        // Planned once here: the checker runs the steps as they are.
        http_check: p.http_check.planned(),
        http: p.http.clone(),
        log: p.log.clone(),
        stats: p.stats.clone(),
        maxconn: p.fullconn,
        keepalive: p.srv_keepalive,
        nolinger: p.nolinger,
        splice: p.splice,
        rules: Default::default(),
        errors: Default::default(),
        tcp: super::tcp_validate::backend_rules(p),
        acls: AclTable::default(),
        stick: Default::default(),
        settings: p.settings.clone(),
        persistence: Default::default(),
        origin: p.origin.clone(),
    }
}

/// The server a `dispatch` address becomes (`model::DISPATCH_SERVER`).
fn dispatch_server(sa: std::net::SocketAddr, p: &RawProxy) -> Server {
    server(&RawServer {
        name: crate::config::model::DISPATCH_SERVER.into(),
        address: crate::config::model::Address::Inet(sa),
        port_offset: None,
        opts: Default::default(),
        fqdn: None,
        unresolved: false,
        origin: p.origin.clone(),
    })
}

/// One server with HAProxy's defaults applied.
fn server(s: &RawServer) -> Server {
    let o = &s.opts;
    let (maxconn, minconn) = super::proxy_ids::server_limits(o.maxconn, o.minconn);
    Server {
        name: s.name.clone(),
        address: s.address.clone(),
        port_offset: s.port_offset,
        weight: o.weight.unwrap_or(DEFAULT_WEIGHT),
        cookie: o.cookie.clone(),
        check: o.check,
        inter: o.inter.unwrap_or(DEFAULT_INTER),
        fastinter: o.fastinter,
        downinter: o.downinter,
        rise: o.rise.unwrap_or(DEFAULT_RISE),
        fall: o.fall.unwrap_or(DEFAULT_FALL),
        check_port: o.port,
        check_addr: o.addr,
        backup: o.backup,
        maxconn,
        maxqueue: o.maxqueue,
        disabled: o.disabled,
        health: o.health.clone(),
        // Linked to its `resolvers` section by `dns_validate::link`.
        dns: None,
        unresolved: s.unresolved,
        source: o.source,
        minconn,
        id: o.id,
        send_proxy: o.proxy.sends().then_some(o.proxy),
        check_send_proxy: check_send_proxy(o),
        // Built by `tls_validate::link` (needs the global defaults).
        ssl: None,
        check_ssl: None,
        // Filled by `checks_validate::link`.
        agent: None,
        tcpcheck_tls: None,
        origin: s.origin.clone(),
    }
}

/// HAProxy 2.6 (`check-send-proxy`): checks send the server's PROXY header
/// when asked, or by default when the server sends one and the check has
/// neither `port` nor `addr` of its own (measured: v2 checks say LOCAL, v1
/// ones name the check's own connection).
fn check_send_proxy(o: &super::raw::ServerOpts) -> Option<crate::server::proxy_header::ProxyOpts> {
    let inherited = o.proxy.sends() && o.port.is_none() && o.addr.is_none();
    (o.check_send_proxy || inherited).then_some(o.proxy)
}

/// Proxy and server names for linking ACLs, once every section is read.
pub(super) struct ConfigNames<'a> {
    backends: &'a HashMap<String, usize>,
    frontends: Vec<String>,
    servers: &'a [Backend],
    userlists: &'a [Arc<Userlist>],
}

impl crate::acl::Names for ConfigNames<'_> {
    fn backend(&self, name: &str) -> Option<usize> {
        self.backends.get(name).copied()
    }
    fn frontend(&self, name: &str) -> Option<usize> {
        self.frontends.iter().position(|f| f == name)
    }
    fn server(&self, backend: usize, name: &str) -> Option<usize> {
        self.servers
            .get(backend)?
            .servers
            .iter()
            .position(|s| s.name == name)
    }
    fn userlist(&self, name: &str) -> Option<Arc<Userlist>> {
        self.userlists.iter().find(|u| u.name == name).cloned()
    }
}

/// A backend named by `default_backend` or `use_backend`, resolved, with
/// did-you-mean when unknown.
fn resolve_backend(
    p: &RawProxy,
    keyword: &str,
    name: &str,
    origin: &Origin,
    names: &ConfigNames<'_>,
    backends: &[Backend],
    diag: &mut Diag,
) -> Option<usize> {
    match names.backends.get(name) {
        Some(&i) => {
            check_modes(p, origin, &backends[i], keyword, diag)?;
            Some(i)
        }
        None => {
            let known: Vec<&str> = names.backends.keys().map(String::as_str).collect();
            diag.error_at(
                origin,
                format!(
                    "{}: '{keyword}' names '{name}', but there is no such backend{}",
                    p.label(),
                    did_you_mean(name, &known)
                ),
            );
            None
        }
    }
}

/// The frontend half of a `frontend` or `listen`; `None` when it cannot be built.
fn frontend(
    p: &mut RawProxy,
    names: &ConfigNames<'_>,
    backends: &[Backend],
    diag: &mut Diag,
) -> Option<Frontend> {
    if p.binds.is_empty() && !p.bind_errors {
        diag.error_at(
            &p.origin,
            format!(
                "{} has no 'bind' address; it cannot accept connections",
                p.label()
            ),
        );
    }
    let mut ok = true;
    if let Err(e) = p.acls.link(names) {
        diag.error_at(&p.origin, format!("{}: {e}", p.label()));
        ok = false;
    }
    ok &= super::tcp_validate::link_effects(p, names, diag).is_ok();
    let mut rules = Vec::with_capacity(p.switching.len());
    let same_mode: std::sync::Arc<HashMap<String, usize>> = std::sync::Arc::new(
        names
            .backends
            .iter()
            .filter(|&(_, &i)| backends[i].mode == p.mode)
            .map(|(n, &i)| (n.clone(), i))
            .collect(),
    );
    for sw in &p.switching {
        if let Some(lf) = &sw.dynamic {
            let mut lf = lf.clone();
            if let Err(e) = lf.link(names) {
                diag.error_at(
                    &sw.origin,
                    format!("{}: 'use_backend {}': {e}", p.label(), sw.backend),
                );
                ok = false;
                continue;
            }
            if p.mode == Mode::Tcp && lf.needs_http() {
                diag.error_at(
                    &sw.origin,
                    format!(
                        "{}: 'use_backend {}' reads the HTTP request, which a 'mode tcp' \
                         frontend does not parse",
                        p.label(),
                        sw.backend
                    ),
                );
                ok = false;
                continue;
            }
            rules.push(Switch {
                backend: 0,
                dynamic: Some(crate::config::model::Dynamic {
                    name: lf,
                    backends: same_mode.clone(),
                }),
                cond: sw.cond.clone(),
            });
            continue;
        }
        let Some(backend) = resolve_backend(
            p,
            "use_backend",
            &sw.backend,
            &sw.origin,
            names,
            backends,
            diag,
        ) else {
            ok = false;
            continue;
        };
        // In `mode tcp` the rules run when the connection is accepted: there
        // is no HTTP request to read.
        if let Some(acl) = (p.mode == Mode::Tcp)
            .then(|| sw.cond.as_ref().and_then(|c| p.acls.http_acl(c)))
            .flatten()
        {
            diag.error_at(
                &sw.origin,
                format!(
                    "{}: 'use_backend {}': ACL '{acl}' reads the HTTP request, which a 'mode tcp' \
                     frontend does not parse (only layer-4 fetches such as 'src' or 'dst_port')",
                    p.label(),
                    sw.backend
                ),
            );
            ok = false;
            continue;
        }
        rules.push(Switch {
            backend,
            dynamic: None,
            cond: sw.cond.clone(),
        });
    }
    let backend = match &p.default_backend {
        Some((name, origin)) => Some(resolve_backend(
            p,
            "default_backend",
            name,
            origin,
            names,
            backends,
            diag,
        )?),
        None if p.kind == SectionKind::Listen => Some(*names.backends.get(p.name.as_str())?),
        // Requests no rule matches get 503, as in HAProxy.
        None if p.use_backend_seen => None,
        // No backend at all, as HAProxy accepts it: what the frontend does
        // not answer itself gets 503 (`mode tcp`: the connection is closed).
        // The port-80 frontend that only redirects to https, the `stats`,
        // `monitor-uri` or `use-service prometheus-exporter` frontend are
        // written so.
        None => {
            if p.mode == Mode::Tcp || !answers_itself(p) {
                diag.warn_at(
                    &p.origin,
                    format!(
                        "{} has no 'default_backend', no 'use_backend' rule and nothing that \
                         answers by itself: {}",
                        p.label(),
                        if p.mode == Mode::Tcp {
                            "every connection will be closed"
                        } else {
                            "every request will get 503 Service Unavailable"
                        }
                    ),
                );
            }
            None
        }
    };
    let rules_compiled = proxy_rules(p, names, diag);
    let unique_id = unique_id(p, names, diag);
    if p.binds.is_empty() || !ok {
        return None;
    }
    let rules_compiled = rules_compiled?;
    Some(Frontend {
        name: p.name.clone(),
        mode: p.mode,
        binds: p
            .binds
            .iter()
            .map(|b| {
                let mut b = crate::config::model::Bind {
                    keepalive: p.cli_keepalive,
                    ..b.clone()
                };
                b.opts.backlog = b.opts.backlog.or(p.settings.backlog);
                b
            })
            .collect(),
        nolinger: p.nolinger,
        splice: p.splice,
        maxconn: p.maxconn,
        backend,
        routing: Routing {
            rules,
            acls: std::mem::take(&mut p.acls),
        },
        rules: rules_compiled,
        tcp: p.tcp.clone(),
        timeouts: p.timeouts.clone(),
        http: p.http.clone(),
        log: p.log.clone(),
        stats: p.stats.clone(),
        errors: Default::default(),
        monitor: Monitor {
            uri: p.monitor_uri.clone(),
            fail: std::mem::take(&mut p.monitor_fail),
            net: p.monitor_net,
        },
        captures: (!p.captures.is_empty()).then(|| std::sync::Arc::new(p.captures.clone())),
        unique_id,
        settings: p.settings.clone(),
        origin: p.origin.clone(),
    })
}

/// The proxy's HTTP rules with their ACLs (already linked) and formats linked.
/// HAProxy ignores HTTP rules on a `mode tcp` proxy with a warning; ringlb
/// refuses them, since they would do nothing there.
fn proxy_rules(p: &mut RawProxy, names: &ConfigNames<'_>, diag: &mut Diag) -> Option<Rules> {
    let mut r = std::mem::take(&mut p.rules);
    if r.is_empty() {
        return Some(Rules::default());
    }
    if p.mode == Mode::Tcp {
        diag.error_at(
            &p.origin,
            format!(
                "{}: 'http-request', 'http-response', 'http-after-response' and 'redirect' \
                 rules need 'mode http'",
                p.label()
            ),
        );
        return None;
    }
    r.acls = p.acls.clone();
    if let Err(e) = r.link(names) {
        diag.error_at(&p.origin, format!("{}: {e}", p.label()));
        return None;
    }
    let sides = r.check_sides();
    for (at, w) in sides.warnings {
        diag.warn_at(
            at.as_ref().unwrap_or(&p.origin),
            format!("{}: {w}", p.label()),
        );
    }
    if !sides.errors.is_empty() {
        for (at, e) in sides.errors {
            diag.error_at(
                at.as_ref().unwrap_or(&p.origin),
                format!("{}: {e}", p.label()),
            );
        }
        return None;
    }
    Some(Rules(std::sync::Arc::new(r)))
}

/// `unique-id-format` (its names linked) with `unique-id-header`. A header
/// without a format adds nothing, as in HAProxy (which accepts it silently).
fn unique_id(
    p: &RawProxy,
    names: &ConfigNames<'_>,
    diag: &mut Diag,
) -> Option<crate::http::unique_id::UniqueId> {
    let mut format = p.unique_id_format.clone()?;
    if let Err(e) = format.link(names) {
        diag.error_at(&p.origin, format!("{}: 'unique-id-format': {e}", p.label()));
        return None;
    }
    Some(crate::http::unique_id::UniqueId {
        format,
        header: p.unique_id_header.clone(),
    })
}

/// A frontend and its backend must speak the same mode (as HAProxy).
fn check_modes(
    p: &RawProxy,
    at: &Origin,
    be: &Backend,
    keyword: &str,
    diag: &mut Diag,
) -> Option<()> {
    if p.mode == be.mode {
        return Some(());
    }
    let m = |m: Mode| if m == Mode::Http { "http" } else { "tcp" };
    diag.error_at(
        at,
        format!(
            "{} {} ({}) tries to use incompatible {} backend '{}' ({}) {} (see 'mode')",
            m(p.mode),
            p.label(),
            p.origin,
            m(be.mode),
            be.name,
            be.origin,
            if keyword == "default_backend" {
                "as its default backend"
            } else {
                "in a 'use_backend' rule"
            }
        ),
    );
    None
}

/// Whether a proxy answers requests by itself (stats page, `monitor-uri`,
/// `http-request return|redirect|deny`..., `redirect`): one without a
/// server or a backend is then not a mistake.
fn answers_itself(p: &RawProxy) -> bool {
    p.stats.enabled
        || p.stats.uri.is_some()
        || p.monitor_uri.is_some()
        || !p.rules.request.is_empty()
        || !p.rules.redirects.is_empty()
}

/// The backend an HTTP session stands in with while it has none (a
/// configuration whose frontends have no backend at all): no server,
/// HAProxy's defaults, so that nothing of it changes what the frontend does.
pub(crate) fn stand_in_backend() -> Backend {
    let origin = Origin {
        file: String::new(),
        line: 0,
    };
    let mut raw = RawProxy::new_defaults(String::new(), origin);
    raw.kind = SectionKind::Backend;
    raw.mode = Mode::Http;
    backend(&raw, &mut Diag::default())
}
