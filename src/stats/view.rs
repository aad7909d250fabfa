//! One reading of everything the stats page and the CSV show: per proxy, its
//! FRONTEND row, one row per server and its BACKEND row, each with the
//! counters summed over the workers and the published server states.
//!
//! Both renderers (`html.rs`, `csv.rs`) read these rows, so the page and the
//! CSV always agree. Building them reads atomics only: no lock, and the
//! workers are never waited for.

use std::sync::atomic::Ordering;

use super::counters::{Counters, Totals};
use super::process;
use crate::check::status::unix_ms;
use crate::config::model::{Address, Balance, Mode, Origin};
use crate::runtime::{BackendRt, ServerRt, Shared};

/// Which part of a proxy a row is about (HAProxy's `type` column: 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The `FRONTEND` row.
    Frontend,
    /// The `BACKEND` row.
    Backend,
    /// A server.
    Server,
}

impl Kind {
    /// HAProxy's numeric `type`.
    pub fn code(self) -> u8 {
        match self {
            Kind::Frontend => 0,
            Kind::Backend => 1,
            Kind::Server => 2,
        }
    }
}

/// How a row's state reads, for its colour on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// A frontend accepting connections, or a backend with a usable server.
    Open,
    /// A frontend that stopped accepting, or a backend with no usable server.
    Closed,
    /// Fully UP.
    Up,
    /// UP, failing checks (`UP 1/3`).
    GoingDown,
    /// DOWN, passing checks (`DOWN 1/2`).
    GoingUp,
    /// DOWN.
    Down,
    /// Not checked (and in service).
    NoCheck,
    /// Drained: no new balanced traffic.
    Drain,
    /// In maintenance.
    Maint,
}

/// The last health check of a checked server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckView {
    /// HAProxy's short status (`L7OK`, `L4CON`; `INI` before the first check).
    pub status: &'static str,
    /// The response code, for statuses that carry one.
    pub code: Option<u16>,
    /// How long the check took, in milliseconds (none before the first check).
    pub duration_ms: Option<u64>,
    /// HAProxy's description of the status.
    pub desc: &'static str,
    /// The reason phrase or error text; may be empty.
    pub info: String,
    /// `rise`.
    pub rise: u32,
    /// `fall`.
    pub fall: u32,
    /// The health counter (0 ..= rise + fall - 1).
    pub health: u32,
}

/// One line of the page and of the CSV.
#[derive(Debug, Clone)]
pub struct Row {
    /// Frontend, backend or server.
    pub kind: Kind,
    /// Proxy name.
    pub pxname: String,
    /// `FRONTEND`, `BACKEND` or the server's name.
    pub svname: String,
    /// Proxy id, 1-based in display order.
    pub iid: u32,
    /// Server id, 1-based in the backend (0 for FRONTEND and BACKEND).
    pub sid: u32,
    /// http or tcp.
    pub mode: Mode,
    /// Counters summed over the workers.
    pub totals: Totals,
    /// `qcur`, `qmax` and the queue's limit (`maxqueue`, servers): `None`
    /// on a frontend, which has no queue.
    pub queue: Option<(u32, u32, Option<u32>)>,
    /// `scur`.
    pub scur: u64,
    /// `smax` (sum of the workers' maxima).
    pub smax: u64,
    /// `slim`.
    pub slim: Option<u64>,
    /// `status` as HAProxy writes it (`OPEN`, `UP`, `UP 1/3`, `MAINT`, `no check`, ...).
    pub status: String,
    /// Colour class of the status.
    pub look: Look,
    /// A `backup` server.
    pub backup: bool,
    /// Effective weight (server), total effective weight of the usable servers (backend).
    pub weight: Option<u32>,
    /// Operator's weight (server), sum of the servers' (backend).
    pub uweight: Option<u32>,
    /// Server: 1 if active; backend: usable active servers.
    pub act: Option<u32>,
    /// Server: 1 if backup; backend: usable backup servers.
    pub bck: Option<u32>,
    /// UP to DOWN transitions (checked servers).
    pub chkdown: Option<u64>,
    /// Seconds since the last state change (servers).
    pub lastchg: Option<u64>,
    /// Seconds spent DOWN in all (checked servers).
    pub downtime: Option<u64>,
    /// The last health check (checked servers).
    pub check: Option<CheckView>,
    /// The last agent check (servers with `agent-check`).
    pub agent: Option<CheckView>,
    /// Server address (`ip:port`, or `unix`).
    pub addr: Option<String>,
    /// Server cookie value, or the backend's cookie name.
    pub cookie: Option<String>,
    /// Balancing algorithm (backend).
    pub algo: Option<String>,
    /// HTTP requests (frontend; backend: exchanges forwarded).
    pub req_tot: Option<u64>,
    /// Connections accepted (frontend).
    pub conn_tot: Option<u64>,
    /// Requests answered by ringlb itself (frontend).
    pub intercepted: Option<u64>,
    /// `rate_lim`: a frontend's `rate-limit sessions` (0: none).
    pub rate_lim: Option<u32>,
    /// `lbtot`: times the balancer chose the server (backend: any of its servers).
    pub lbtot: Option<u64>,
    /// `lastsess`: seconds since the last session (-1: none yet); servers and backends.
    pub lastsess: Option<i64>,
    /// `chkfail`: failed checks (checked servers).
    pub chkfail: Option<u64>,
    /// `throttle`: percent of its weight a server in slow start gets.
    pub throttle: Option<u32>,
}

/// Seconds since `last` (unix seconds), or -1 when there was none, as HAProxy's `lastsess`.
fn since(last: u64, now_ms: u64) -> i64 {
    if last == 0 {
        -1
    } else {
        (now_ms / 1000).saturating_sub(last) as i64
    }
}

/// One proxy's table: FRONTEND, servers, BACKEND (each part when it exists).
#[derive(Debug, Clone)]
pub struct ProxyView {
    /// Proxy name.
    pub name: String,
    /// Proxy id, 1-based in display order.
    pub iid: u32,
    /// Rows in HAProxy's order.
    pub rows: Vec<Row>,
}

/// Reads everything now.
pub fn snapshot(shared: &Shared) -> Vec<ProxyView> {
    let now_ms = unix_ms();
    let list = proxies(shared);
    let ids = proxy_ids(shared, &list);
    list.into_iter()
        .zip(ids)
        // A disabled proxy is not shown, as HAProxy (its frontend is not
        // even in the configuration's frontends).
        .filter(|(p, _)| match (p.frontend, p.backend) {
            (None, None) => false,
            (_, Some(b)) => !shared.backends[b].model.settings.disabled,
            (Some(_), None) => true,
        })
        .map(|(p, iid)| {
            let mut rows = Vec::new();
            if let Some(f) = p.frontend {
                rows.push(frontend_row(shared, f, &p.name, iid));
            }
            if let Some(b) = p.backend {
                let be = &shared.backends[b];
                // A free dynamic server slot is shown nowhere (`admin::dynamic`).
                let shown = shown_servers(be).iter().enumerate();
                for (s, srv) in shown.filter(|(_, srv)| srv.present()) {
                    rows.push(server_row(shared, be, b, s, srv, &p.name, iid, now_ms));
                }
                rows.push(backend_row(shared, be, b, &p.name, iid));
            }
            ProxyView {
                name: p.name,
                iid,
                rows,
            }
        })
        .collect()
}

/// Each backend's proxy id (`iid`), as the page and the CSV number them.
pub fn backend_ids(shared: &Shared) -> Vec<u32> {
    let mut ids = vec![0; shared.backends.len()];
    let list = proxies(shared);
    for (p, id) in list.iter().zip(proxy_ids(shared, &list)) {
        if let Some(b) = p.backend {
            ids[b] = id;
        }
    }
    ids
}

/// Each proxy's id: its `id`, else the next free number (HAProxy's way),
/// after HAProxy's CLI frontend when there is a stats socket.
fn proxy_ids(shared: &Shared, list: &[Proxy]) -> Vec<u32> {
    let cli = usize::from(shared.cli_proxy);
    let written: Vec<Option<u32>> = std::iter::repeat_n(None, cli)
        .chain(list.iter().map(|p| p.id))
        .collect();
    crate::config::proxy_ids::assign(&written)[cli..].to_vec()
}

/// The servers the stats show: all but a `dispatch` address's.
pub fn shown_servers(be: &BackendRt) -> &[ServerRt] {
    let hidden = usize::from(be.model.settings.dispatch.is_some());
    &be.servers[..be.servers.len().saturating_sub(hidden)]
}

/// Each server's id (`sid`) in backend `be`: its `id`, else the next free number.
pub fn server_ids(be: &BackendRt) -> Vec<u32> {
    let written: Vec<Option<u32>> = be.model.servers.iter().map(|s| s.id).collect();
    let mut ids = crate::config::proxy_ids::assign(&written);
    crate::admin::dynamic::slot_ids(be, &mut ids);
    ids
}

/// A proxy as displayed: a `listen` is one frontend and one backend of the same name.
struct Proxy {
    name: String,
    frontend: Option<usize>,
    backend: Option<usize>,
    /// `id <n>` as written.
    id: Option<u32>,
    origin: Origin,
}

/// The proxies in configuration order (file, then line).
fn proxies(shared: &Shared) -> Vec<Proxy> {
    let mut out: Vec<Proxy> = Vec::new();
    let mut paired = vec![false; shared.backends.len()];
    for (f, fe) in shared.frontends.iter().enumerate() {
        let listen = fe
            .backend
            .filter(|&b| shared.backends.get(b).is_some_and(|b| b.name == fe.name));
        if let Some(b) = listen {
            paired[b] = true;
        }
        out.push(Proxy {
            name: fe.name.clone(),
            frontend: Some(f),
            backend: listen,
            id: fe.model.settings.id,
            origin: fe.model.origin.clone(),
        });
    }
    // Disabled frontends are numbered, as HAProxy does, but not shown.
    for (origin, id) in &shared.disabled_frontends {
        out.push(Proxy {
            name: String::new(),
            frontend: None,
            backend: None,
            id: *id,
            origin: origin.clone(),
        });
    }
    for (b, be) in shared.backends.iter().enumerate() {
        if !paired[b] {
            out.push(Proxy {
                name: be.name.clone(),
                frontend: None,
                backend: Some(b),
                id: be.model.settings.id,
                origin: be.model.origin.clone(),
            });
        }
    }
    // Files in the order they were read (their first proxy comes first).
    let mut files: Vec<String> = Vec::new();
    for p in &out {
        if !files.contains(&p.origin.file) {
            files.push(p.origin.file.clone());
        }
    }
    let file_rank = |f: &str| files.iter().position(|x| x == f).unwrap_or(usize::MAX);
    out.sort_by_key(|p| (file_rank(&p.origin.file), p.origin.line));
    out
}

/// Sums one counter set over the workers.
fn sum<'a>(
    pick: impl Fn(&'a super::counters::WorkerCounters) -> &'a Counters,
    shared: &'a Shared,
) -> Totals {
    Totals::sum(shared.counters.iter().map(pick))
}

fn frontend_row(shared: &Shared, f: usize, pxname: &str, iid: u32) -> Row {
    let fe = &shared.frontends[f];
    let t = sum(|w| &w.frontends[f], shared);
    let maxconn = process::get().maxconn as u64;
    let slim = fe
        .maxconn
        .map(u64::from)
        .or((maxconn > 0).then_some(maxconn));
    let (status, look) = if shared.stopping() {
        ("STOP", Look::Closed)
    } else if slim.is_some_and(|l| t.current >= l) {
        ("FULL", Look::Closed)
    } else {
        ("OPEN", Look::Open)
    };
    let http = fe.mode == Mode::Http;
    Row {
        kind: Kind::Frontend,
        pxname: pxname.to_string(),
        svname: "FRONTEND".into(),
        iid,
        sid: 0,
        mode: fe.mode,
        queue: None,
        scur: t.current,
        smax: t.max_current,
        slim,
        status: status.into(),
        look,
        backup: false,
        weight: None,
        uweight: None,
        act: None,
        bck: None,
        chkdown: None,
        lastchg: None,
        downtime: None,
        check: None,
        agent: None,
        addr: None,
        cookie: None,
        algo: None,
        req_tot: http.then_some(t.requests),
        // HAProxy counts connections a `tcp-request connection` rule rejected too.
        conn_tot: Some(t.sessions + t.denied_conn),
        intercepted: http.then_some(t.intercepted),
        rate_lim: Some(fe.model.settings.rate_limit_sessions.unwrap_or(0)),
        lbtot: None,
        lastsess: None,
        chkfail: None,
        throttle: None,
        totals: t,
    }
}

#[allow(clippy::too_many_arguments)]
fn server_row(
    shared: &Shared,
    be: &BackendRt,
    b: usize,
    s: usize,
    srv: &ServerRt,
    pxname: &str,
    iid: u32,
    now_ms: u64,
) -> Row {
    let t = sum(|w| &w.servers[b][s], shared);
    let up = srv.up.load(Ordering::Relaxed);
    // HAProxy shows the effective weight, slow start included, rounded up.
    let weight = crate::check::slowstart::shown_weight(srv);
    // In maintenance HAProxy keeps showing the effective weight the server
    // returns with (its CSV and exporter), where ringlb's balancing weight is 0.
    let weight = if srv.admin.maint() {
        srv.admin.uweight.load(Ordering::Relaxed)
    } else {
        weight
    };
    let (status, look) = server_state(srv, up, weight);
    let chk = &srv.check;
    let last_change = chk
        .last_change_ms
        .load(Ordering::Relaxed)
        .max(srv.admin.changed_ms.load(Ordering::Relaxed));
    let model = be.model.servers.get(s);
    Row {
        kind: Kind::Server,
        pxname: pxname.to_string(),
        svname: srv.name.clone(),
        iid,
        sid: server_ids(be)[s],
        mode: be.mode,
        queue: Some({
            let q = &be.queue.servers[s].queue;
            (q.len(), q.max(), model.and_then(|m| m.maxqueue))
        }),
        scur: srv.active.load(Ordering::Relaxed),
        smax: t.max_current,
        // The live `maxconn` (`set maxconn server` changes it).
        slim: be
            .queue
            .servers
            .get(s)
            .map(|q| q.limit())
            .filter(|&l| l > 0)
            .map(u64::from),
        status,
        look,
        backup: srv.backup,
        // With `dispatch`, HAProxy balances nothing: its weights count 0.
        weight: Some(weight * u32::from(be.model.settings.dispatch.is_none())),
        uweight: Some(srv.admin.uweight.load(Ordering::Relaxed)),
        act: Some(u32::from(!srv.backup)),
        bck: Some(u32::from(srv.backup)),
        chkdown: chk
            .enabled
            .then(|| chk.down_transitions.load(Ordering::Relaxed)),
        lastchg: Some(now_ms.saturating_sub(last_change) / 1000),
        downtime: chk.enabled.then(|| chk.total_downtime_ms(up) / 1000),
        check: chk.enabled.then(|| check_view(srv)),
        agent: chk.agent.as_ref().map(agent_view),
        addr: Some(match &*srv.address() {
            Address::Inet(sa) => crate::server::connect::shown_inet(*sa, srv.port_offset),
            Address::Unix(_) | Address::Abstract(_) | Address::Fd(_) => "unix".into(),
        }),
        cookie: model.and_then(|m| m.cookie.clone()),
        algo: None,
        // HTTP exchanges the server carried (HAProxy 2.6 counts them per server too).
        req_tot: (be.mode == Mode::Http).then_some(t.sessions),
        conn_tot: None,
        intercepted: None,
        rate_lim: None,
        lbtot: Some(t.lbtot),
        lastsess: Some(since(t.last_sess, now_ms)),
        chkfail: chk
            .enabled
            .then(|| chk.failed_checks.load(Ordering::Relaxed)),
        throttle: throttle(srv, weight),
        totals: t,
    }
}

/// `throttle`: while a server warms up (`slowstart`, not drained), the share
/// of its weight it gets, in percent (HAProxy's `server_throttle_rate`).
fn throttle(srv: &ServerRt, shown_weight: u32) -> Option<u32> {
    let warming = srv.health.warm_since_ms.load(Ordering::Relaxed) != 0;
    if !warming || srv.admin.drain() || !srv.up.load(Ordering::Relaxed) {
        return None;
    }
    let uweight = srv.admin.uweight.load(Ordering::Relaxed);
    Some(if uweight == 0 {
        100
    } else {
        (100 * shown_weight).div_ceil(uweight)
    })
}

/// A server's status text and colour, as HAProxy shows them: maintenance
/// first, then drain (admin drain or weight 0 while up), then health.
pub fn server_state(srv: &ServerRt, up: bool, weight: u32) -> (String, Look) {
    if srv.admin.maint() {
        // HAProxy names the resolver's maintenance (RMAINT) when it is the only one.
        let flags = srv.admin.flags() & crate::runtime::admin_flags::MAINT;
        if flags == crate::runtime::admin_flags::RMAINT {
            return ("MAINT (resolution)".into(), Look::Maint);
        }
        return ("MAINT".into(), Look::Maint);
    }
    // HAProxy names the agent when it has one: a drain is then its doing or
    // not, and an agent that said down is why the server is.
    let agent = srv.check.agent.as_ref();
    if up && srv.admin.drain() && agent.is_some() {
        return ("DRAIN (agent)".into(), Look::Drain);
    }
    // NOLB (a conditional check pass) reads as HAProxy's "stopping" state.
    if up && srv.check.nolb.load(std::sync::atomic::Ordering::Relaxed) && !srv.admin.drain() {
        return (srv.check.state_text(up), Look::Drain);
    }
    if up && (srv.admin.drain() || weight == 0) {
        return ("DRAIN".into(), Look::Drain);
    }
    if !up && agent.is_some_and(|a| !a.healthy()) {
        return ("DOWN (agent)".into(), Look::Down);
    }
    let text = srv.check.state_text(up);
    let look = match text.as_str() {
        "UP" => Look::Up,
        "DOWN" => Look::Down,
        "no check" => Look::NoCheck,
        t if t.starts_with("UP ") => Look::GoingDown,
        _ => Look::GoingUp,
    };
    (text, look)
}

fn check_view(srv: &ServerRt) -> CheckView {
    let chk = &srv.check;
    let last = chk.last.load_full();
    report_view(
        last.as_deref(),
        (chk.rise, chk.fall),
        chk.health.load(Ordering::Relaxed),
    )
}

/// The agent's fields, as the check's (its rise and fall are 1).
fn agent_view(a: &crate::check::agent::AgentRt) -> CheckView {
    let last = a.last.load_full();
    report_view(last.as_deref(), (1, 1), a.health.load(Ordering::Relaxed))
}

/// The stats' fields of a check's (or an agent's) last report, `INI` before one.
fn report_view(
    last: Option<&crate::check::CheckReport>,
    (rise, fall): (u32, u32),
    health: u32,
) -> CheckView {
    let (status, code, duration_ms, desc, info) = match last {
        Some(r) => (
            r.status.short(),
            r.status.has_code().then_some(r.code),
            Some(r.duration.as_millis() as u64),
            r.status.description(),
            r.info.clone(),
        ),
        None => ("INI", None, None, "Initializing", String::new()),
    };
    CheckView {
        status,
        code,
        duration_ms,
        desc,
        info,
        rise,
        fall,
        health,
    }
}

fn backend_row(shared: &Shared, be: &BackendRt, b: usize, pxname: &str, iid: u32) -> Row {
    let t = sum(|w| &w.backends[b], shared);
    let usable = |backup: bool| {
        shown_servers(be)
            .iter()
            .filter(move |s| s.backup == backup && s.usable())
    };
    let act = usable(false).count() as u32;
    let bck = usable(true).count() as u32;
    // With `dispatch`, HAProxy balances nothing: its weights count 0.
    let weight: u32 = usable(act == 0)
        .map(|s| s.weight.load(Ordering::Relaxed))
        .sum::<u32>()
        * u32::from(be.model.settings.dispatch.is_none());
    // HAProxy's `tot_uweight`: the usable servers' (active and backup) only.
    let uweight: u32 = shown_servers(be)
        .iter()
        .filter(|s| s.usable())
        .map(|s| s.admin.uweight.load(Ordering::Relaxed))
        .sum();
    // With `dispatch`, HAProxy balances nothing (its weights count 0): UP
    // only without servers, else DOWN.
    let up = match be.model.settings.dispatch {
        Some(_) => shown_servers(be).is_empty(),
        None => act + bck > 0,
    };
    let (status, look) = if up {
        ("UP", Look::Open)
    } else {
        ("DOWN", Look::Closed)
    };
    Row {
        kind: Kind::Backend,
        pxname: pxname.to_string(),
        svname: "BACKEND".into(),
        iid,
        sid: 0,
        mode: be.mode,
        queue: Some((be.queue.queue.len(), be.queue.queue.max(), None)),
        scur: t.current,
        smax: t.max_current,
        slim: Some(
            be.model
                .maxconn
                .map_or_else(|| default_fullconn(shared, b), u64::from),
        ),
        status: status.into(),
        look,
        backup: false,
        weight: Some(weight),
        uweight: Some(uweight),
        act: Some(act),
        bck: Some(bck),
        chkdown: None,
        lastchg: None,
        downtime: None,
        check: None,
        agent: None,
        addr: None,
        cookie: be.model.cookie.as_ref().map(|c| c.name.clone()),
        algo: Some(algo_name(&be.model.balance).into()),
        req_tot: (be.mode == Mode::Http).then_some(t.sessions),
        conn_tot: None,
        intercepted: None,
        rate_lim: None,
        lbtot: Some(t.lbtot),
        lastsess: Some(since(t.last_sess, crate::check::status::unix_ms())),
        chkfail: None,
        throttle: None,
        totals: t,
    }
}

/// A backend's `slim` without `fullconn`: HAProxy's default, a tenth
/// (rounded up, at least 1) of the limits of the frontends that reach it
/// (`config::proxy_ids::default_fullconn`, with the effective limits).
fn default_fullconn(shared: &Shared, b: usize) -> u64 {
    let global = process::get().maxconn as u64;
    let total: u64 = shared
        .frontends
        .iter()
        .filter(|f| {
            f.backend == Some(b)
                || f.model
                    .routing
                    .rules
                    .iter()
                    .any(|r| r.dynamic.is_none() && r.backend == b)
        })
        .map(|f| f.maxconn.map_or(global, u64::from))
        .sum();
    total.div_ceil(10).max(1)
}

/// HAProxy's name of a balancing algorithm (the `algo` column).
pub fn algo_name(b: &Balance) -> &'static str {
    match b {
        Balance::RoundRobin => "roundrobin",
        Balance::StaticRr => "static-rr",
        Balance::LeastConn => "leastconn",
        Balance::Source => "source",
        Balance::Uri { .. } => "uri",
        Balance::UrlParam(_) => "url_param",
        Balance::Hdr { .. } => "hdr",
        Balance::RdpCookie(_) => "rdp-cookie",
        Balance::First => "first",
        Balance::Random { .. } => "random",
        Balance::Hash(_) => "hash",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> std::sync::Arc<Shared> {
        let loaded = crate::config::load_sources(&[(
            "t.cfg",
            "global\n    stats socket /tmp/unused.sock\nlisten l\n    mode http\n    \
             bind 127.0.0.1:1\n    timeout connect 1s\n    timeout client 1s\n    \
             timeout server 1s\n    server a 127.0.0.1:2 weight 10 slowstart 10s\n",
        )])
        .expect("config loads");
        Shared::build(&loaded.config, false, 1)
    }

    #[test]
    fn throttle_shows_the_warm_up_share() {
        let sh = shared();
        let srv = &sh.backends[0].servers[0];
        let server = |sh: &Shared| snapshot(sh)[0].rows[1].clone();
        assert_eq!(server(&sh).throttle, None, "not warming up");
        srv.health.warm_since_ms.store(1, Ordering::Relaxed);
        srv.health
            .ramp
            .store(crate::check::live::RAMP_FULL / 2, Ordering::Relaxed);
        assert_eq!(server(&sh).throttle, Some(50));
        assert_eq!(server(&sh).lastsess, Some(-1), "no session yet");
        assert_eq!(server(&sh).lbtot, Some(0));
    }

    #[test]
    fn a_stats_socket_takes_proxy_id_one() {
        let sh = shared();
        assert_eq!(snapshot(&sh)[0].iid, 2);
        assert_eq!(backend_ids(&sh), [2]);
    }
}
