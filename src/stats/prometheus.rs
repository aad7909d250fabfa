//! The Prometheus exporter (`http-request use-service prometheus-exporter`):
//! HAProxy 2.6's metric families (`haproxy_process_*`, `haproxy_frontend_*`,
//! `haproxy_backend_*`, `haproxy_server_*`) with its names, HELP texts, types
//! and labels, plus ringlb's response-time histograms (`ringlb_*`).
//!
//! Built at each scrape, in the worker that took the request, from one
//! reading of the per-worker counters (`view.rs`): nothing is locked and no
//! other worker waits. HAProxy's own values come through the CSV's columns
//! (`csv::field`), as HAProxy's exporter reads its stats fields, so the CSV,
//! the page and the exporter agree. A family whose value ringlb cannot know
//! (rates, averages, compression, idle pools...) is left out: see
//! docs/prometheus.md for the list.

use std::fmt::Write as _;

use super::csv;
use super::histogram::Merged;
use super::view::{self, Kind, Look, Row};
use crate::config::model::Mode;
use crate::http::error::HttpError;
use crate::runtime::Shared;

/// `scope=global`.
const GLOBAL: u8 = 1;
/// `scope=frontend`.
const FRONTEND: u8 = 2;
/// `scope=backend`.
const BACKEND: u8 = 4;
/// `scope=server`.
const SERVER: u8 = 8;
/// Every scope (no `scope=` parameter, or `scope=*`).
const ALL: u8 = GLOBAL | FRONTEND | BACKEND | SERVER;

/// What a scrape asks for (the exporter's query parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Bit set of the scopes to export.
    pub scopes: u8,
    /// `no-maint`: leave out servers in maintenance.
    pub no_maint: bool,
}

/// Reads the query string of `uri` as HAProxy's exporter: each `scope=`
/// adds a scope (`*` all, empty none; the first one drops the default of
/// all), `no-maint` hides servers in maintenance, other parameters are
/// ignored. `None` for an unknown scope or a `scope` without `=` (400).
pub fn parse_query(uri: &[u8]) -> Option<Query> {
    let mut q = Query {
        scopes: ALL,
        no_maint: false,
    };
    let Some(at) = uri.iter().position(|&b| b == b'?') else {
        return Some(q);
    };
    let mut scoped = false;
    for param in uri[at + 1..].split(|&b| b == b'&') {
        let (key, value) = match param.iter().position(|&b| b == b'=') {
            Some(i) => (&param[..i], Some(&param[i + 1..])),
            None => (param, None),
        };
        match key {
            b"scope" => {
                if !scoped {
                    q.scopes = 0;
                    scoped = true;
                }
                q.scopes |= match value? {
                    b"" => 0,
                    b"*" => ALL,
                    b"global" => GLOBAL,
                    b"frontend" => FRONTEND,
                    b"backend" => BACKEND,
                    b"server" => SERVER,
                    // Listeners export only with `option socket-stats`, stick
                    // tables are not exported: known scopes, nothing in them.
                    b"listener" | b"sticktable" => 0,
                    _ => return None,
                };
            }
            b"no-maint" => q.no_maint = true,
            _ => {}
        }
    }
    Some(q)
}

/// The whole HTTP response to a scrape of `uri` (a 400 page for a bad query).
pub fn response(shared: &Shared, uri: &[u8]) -> (u16, Vec<u8>) {
    let Some(q) = parse_query(uri) else {
        return (400, HttpError::BadRequest.response());
    };
    let body = render(shared, q);
    let mut page = format!(
        "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain; \
         version=0.0.4\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    page.extend_from_slice(body.as_bytes());
    (200, page)
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Gauge,
    Counter,
}

/// Where a family's value comes from.
#[derive(Debug, Clone, Copy)]
enum Src {
    /// A CSV column, as is (empty: `NaN`, as HAProxy prints an empty field).
    Col(&'static str),
    /// A CSV column in milliseconds, exported in seconds.
    Ms(&'static str),
    /// `status` with one sample per state label.
    Status,
    /// `hrsp_*`: one sample per `code` label (HTTP proxies only).
    Codes,
    /// A server's last check status, one sample per status (checked servers only).
    CheckStatus,
    /// A backend's servers counted per state.
    AggStatus,
}

/// One exported family: HAProxy's suffix (after `haproxy_<kind>_`), type, HELP text, source.
type Family = (&'static str, Type, &'static str, Src);

use Src::*;
use Type::*;

const CUR_SESS: &str = "Number of current sessions on the frontend, backend or server";
const MAX_SESS: &str = "Highest value of current sessions encountered since process started";
const LIM_SESS: &str = "Frontend/listener/server's maxconn, backend's fullconn";
const TOT_SESS: &str = "Total number of sessions since process started";
const BIN: &str = "Total number of request bytes since process started";
const BOUT: &str = "Total number of response bytes since process started";
const DREQ: &str = "Total number of denied requests since process started";
const DRESP: &str = "Total number of denied responses since process started";
const STATUS: &str = "Current status of the service, per state label value.";
const HRSP: &str = "Total number of HTTP responses with status 100-199 returned by this object since the worker process started";
const REQ_TOT: &str =
    "Total number of HTTP requests processed by this object since the worker process started";
const COMP_IN: &str = "Total number of bytes submitted to the HTTP compressor for this object since the worker process started";
const COMP_OUT: &str = "Total number of bytes emitted by the HTTP compressor for this object since the worker process started";
const COMP_BYP: &str = "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)";
const COMP_RSP: &str = "Total number of HTTP responses that were compressed for this object since the worker process started";
const CACHE_LOOKUPS: &str = "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started";
const CACHE_HITS: &str = "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started";
const QCUR: &str = "Number of current queued connections";
const QMAX: &str = "Highest value of queued connections encountered since process started";
const ECON: &str = "Total number of failed connections to server since the worker process started";
const ERESP: &str = "Total number of invalid responses since the worker process started";
const WRETR: &str = "Total number of server connection retries since the worker process started";
const WREDIS: &str = "Total number of server redispatches due to connection failures since the worker process started";
const WEIGHT: &str =
    "Server's effective weight, or sum of active servers' effective weights for a backend";
const UWEIGHT: &str = "Server's user weight, or sum of active servers' user weights for a backend";
const CHKDOWN: &str = "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started";

/// `haproxy_frontend_*`, in HAProxy's order.
const FRONTEND_FAMILIES: &[Family] = &[
    ("current_sessions", Gauge, CUR_SESS, Col("scur")),
    ("max_sessions", Gauge, MAX_SESS, Col("smax")),
    ("limit_sessions", Gauge, LIM_SESS, Col("slim")),
    ("sessions_total", Counter, TOT_SESS, Col("stot")),
    ("bytes_in_total", Counter, BIN, Col("bin")),
    ("bytes_out_total", Counter, BOUT, Col("bout")),
    ("requests_denied_total", Counter, DREQ, Col("dreq")),
    ("responses_denied_total", Counter, DRESP, Col("dresp")),
    (
        "request_errors_total",
        Counter,
        "Total number of invalid requests since process started",
        Col("ereq"),
    ),
    ("status", Gauge, STATUS, Status),
    (
        "limit_session_rate",
        Gauge,
        "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)",
        Col("rate_lim"),
    ),
    ("http_responses_total", Counter, HRSP, Codes),
    ("http_requests_total", Counter, REQ_TOT, Col("req_tot")),
    ("http_comp_bytes_in_total", Counter, COMP_IN, Col("comp_in")),
    (
        "http_comp_bytes_out_total",
        Counter,
        COMP_OUT,
        Col("comp_out"),
    ),
    (
        "http_comp_bytes_bypassed_total",
        Counter,
        COMP_BYP,
        Col("comp_byp"),
    ),
    (
        "http_comp_responses_total",
        Counter,
        COMP_RSP,
        Col("comp_rsp"),
    ),
    (
        "connections_total",
        Counter,
        "Total number of new connections accepted on this frontend since the worker process started",
        Col("conn_tot"),
    ),
    (
        "intercepted_requests_total",
        Counter,
        "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started",
        Col("intercepted"),
    ),
    (
        "denied_connections_total",
        Counter,
        "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started",
        Col("dcon"),
    ),
    (
        "denied_sessions_total",
        Counter,
        "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started",
        Col("dses"),
    ),
    (
        "http_cache_lookups_total",
        Counter,
        CACHE_LOOKUPS,
        Col("cache_lookups"),
    ),
    (
        "http_cache_hits_total",
        Counter,
        CACHE_HITS,
        Col("cache_hits"),
    ),
];

/// `haproxy_backend_*`, in HAProxy's order.
const BACKEND_FAMILIES: &[Family] = &[
    ("current_queue", Gauge, QCUR, Col("qcur")),
    ("max_queue", Gauge, QMAX, Col("qmax")),
    ("current_sessions", Gauge, CUR_SESS, Col("scur")),
    ("max_sessions", Gauge, MAX_SESS, Col("smax")),
    // No `limit_sessions`: HAProxy shows the backend's `fullconn`, which
    // ringlb does not compute.
    ("sessions_total", Counter, TOT_SESS, Col("stot")),
    ("bytes_in_total", Counter, BIN, Col("bin")),
    ("bytes_out_total", Counter, BOUT, Col("bout")),
    ("requests_denied_total", Counter, DREQ, Col("dreq")),
    ("responses_denied_total", Counter, DRESP, Col("dresp")),
    ("connection_errors_total", Counter, ECON, Col("econ")),
    ("response_errors_total", Counter, ERESP, Col("eresp")),
    ("retry_warnings_total", Counter, WRETR, Col("wretr")),
    ("redispatch_warnings_total", Counter, WREDIS, Col("wredis")),
    ("status", Gauge, STATUS, Status),
    ("weight", Gauge, WEIGHT, Col("weight")),
    (
        "active_servers",
        Gauge,
        "Total number of active UP servers with a non-zero weight",
        Col("act"),
    ),
    (
        "backup_servers",
        Gauge,
        "Total number of backup UP servers with a non-zero weight",
        Col("bck"),
    ),
    ("http_responses_total", Counter, HRSP, Codes),
    ("http_requests_total", Counter, REQ_TOT, Col("req_tot")),
    ("http_comp_bytes_in_total", Counter, COMP_IN, Col("comp_in")),
    (
        "http_comp_bytes_out_total",
        Counter,
        COMP_OUT,
        Col("comp_out"),
    ),
    (
        "http_comp_bytes_bypassed_total",
        Counter,
        COMP_BYP,
        Col("comp_byp"),
    ),
    (
        "http_comp_responses_total",
        Counter,
        COMP_RSP,
        Col("comp_rsp"),
    ),
    (
        "http_cache_lookups_total",
        Counter,
        CACHE_LOOKUPS,
        Col("cache_lookups"),
    ),
    (
        "http_cache_hits_total",
        Counter,
        CACHE_HITS,
        Col("cache_hits"),
    ),
    ("uweight", Gauge, UWEIGHT, Col("uweight")),
    (
        "agg_server_status",
        Gauge,
        "Backend's aggregated gauge of servers' status",
        AggStatus,
    ),
    (
        "agg_server_check_status",
        Gauge,
        "Backend's aggregated gauge of servers' state check status",
        AggStatus,
    ),
];

/// `haproxy_server_*`, in HAProxy's order.
const SERVER_FAMILIES: &[Family] = &[
    ("current_queue", Gauge, QCUR, Col("qcur")),
    ("max_queue", Gauge, QMAX, Col("qmax")),
    ("current_sessions", Gauge, CUR_SESS, Col("scur")),
    ("max_sessions", Gauge, MAX_SESS, Col("smax")),
    ("limit_sessions", Gauge, LIM_SESS, Col("slim")),
    ("sessions_total", Counter, TOT_SESS, Col("stot")),
    ("bytes_in_total", Counter, BIN, Col("bin")),
    ("bytes_out_total", Counter, BOUT, Col("bout")),
    ("responses_denied_total", Counter, DRESP, Col("dresp")),
    ("connection_errors_total", Counter, ECON, Col("econ")),
    ("response_errors_total", Counter, ERESP, Col("eresp")),
    ("retry_warnings_total", Counter, WRETR, Col("wretr")),
    ("redispatch_warnings_total", Counter, WREDIS, Col("wredis")),
    ("status", Gauge, STATUS, Status),
    ("weight", Gauge, WEIGHT, Col("weight")),
    ("check_up_down_total", Counter, CHKDOWN, Col("chkdown")),
    (
        "check_last_change_seconds",
        Gauge,
        "How long ago the last server state changed, in seconds",
        Col("lastchg"),
    ),
    (
        "downtime_seconds_total",
        Counter,
        "Total time spent in DOWN state, for server or backend",
        Col("downtime"),
    ),
    (
        "queue_limit",
        Gauge,
        "Limit on the number of connections in queue, for servers only (maxqueue argument)",
        Col("qlimit"),
    ),
    (
        "check_status",
        Gauge,
        "Status of last health check, per state label value.",
        CheckStatus,
    ),
    (
        "check_code",
        Gauge,
        "layer5-7 code, if available of the last health check.",
        Col("check_code"),
    ),
    (
        "check_duration_seconds",
        Gauge,
        "Total duration of the latest server health check, in seconds.",
        Ms("check_duration"),
    ),
    ("http_responses_total", Counter, HRSP, Codes),
    ("uweight", Gauge, UWEIGHT, Col("uweight")),
];

/// The check statuses HAProxy's exporter labels, in its order.
const CHECK_STATUSES: &[&str] = &[
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];

/// Server states as HAProxy's exporter names them.
const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];

/// `code` label values of `http_responses_total`.
const CODES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// The whole exposition for `q`.
pub fn render(shared: &Shared, q: Query) -> String {
    let mut out = String::with_capacity(64 * 1024);
    if q.scopes & GLOBAL != 0 {
        process(shared, &mut out);
    }
    if q.scopes & (FRONTEND | BACKEND | SERVER) == 0 {
        return out;
    }
    let proxies = view::snapshot(shared);
    let rows = |kind: Kind| -> Vec<&Row> {
        proxies
            .iter()
            .flat_map(|p| &p.rows)
            .filter(|r| r.kind == kind)
            .filter(|r| !(q.no_maint && r.kind == Kind::Server && r.look == Look::Maint))
            .collect()
    };
    if q.scopes & FRONTEND != 0 {
        families(
            &mut out,
            "haproxy_frontend_",
            FRONTEND_FAMILIES,
            &rows(Kind::Frontend),
            &[],
        );
    }
    if q.scopes & BACKEND != 0 {
        let be = rows(Kind::Backend);
        let servers = rows(Kind::Server);
        families(
            &mut out,
            "haproxy_backend_",
            BACKEND_FAMILIES,
            &be,
            &servers,
        );
    }
    if q.scopes & SERVER != 0 {
        families(
            &mut out,
            "haproxy_server_",
            SERVER_FAMILIES,
            &rows(Kind::Server),
            &[],
        );
    }
    histograms(shared, q, &mut out);
    out
}

/// One `# HELP` and `# TYPE` pair.
fn header(out: &mut String, name: &str, ty: Type, help: &str) {
    let ty = match ty {
        Gauge => "gauge",
        Counter => "counter",
    };
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {ty}\n");
}

/// A label value with `\`, `"` and line breaks escaped (the text format's rules).
fn esc(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

/// The labels naming a row: `proxy`, and `server` for a server.
fn labels(r: &Row) -> String {
    match r.kind {
        Kind::Server => format!("proxy=\"{}\",server=\"{}\"", esc(&r.pxname), esc(&r.svname)),
        _ => format!("proxy=\"{}\"", esc(&r.pxname)),
    }
}

/// Writes each family over `rows`, with its header once (none for a family
/// no row has a sample of). `servers` are every backend's servers (for the
/// aggregated states).
fn families(out: &mut String, prefix: &str, list: &[Family], rows: &[&Row], servers: &[&Row]) {
    for &(suffix, ty, help, src) in list {
        let name = format!("{prefix}{suffix}");
        let mut body = String::new();
        for r in rows {
            samples(&mut body, &name, r, src, servers);
        }
        if !body.is_empty() {
            header(out, &name, ty, help);
            out.push_str(&body);
        }
    }
}

/// The samples of one family for one row.
fn samples(out: &mut String, name: &str, r: &Row, src: Src, servers: &[&Row]) {
    let l = labels(r);
    let http = r.mode == Mode::Http;
    match src {
        Col(c) => {
            // HTTP-only columns are left out of TCP proxies, as HAProxy does.
            if !http && is_http_column(c) {
                return;
            }
            // Check figures only for checked servers, as HAProxy.
            if c.starts_with("check_") && r.check.is_none() {
                return;
            }
            let v = csv::field(r, c);
            let v = if v.is_empty() { "NaN".to_string() } else { v };
            let _ = writeln!(out, "{name}{{{l}}} {v}");
        }
        Ms(c) => {
            if r.check.is_none() {
                return;
            }
            let v = csv::field(r, c)
                .parse::<u64>()
                .map_or("NaN".to_string(), |ms| format!("{:.6}", ms as f64 / 1000.0));
            let _ = writeln!(out, "{name}{{{l}}} {v}");
        }
        Status => {
            let states: &[&str] = match r.kind {
                Kind::Server => &SERVER_STATES,
                _ => &["DOWN", "UP"],
            };
            let now = state_name(r);
            for s in states {
                let _ = writeln!(out, "{name}{{{l},state=\"{s}\"}} {}", u8::from(*s == now));
            }
        }
        Codes => {
            if !http {
                return;
            }
            for (i, code) in CODES.iter().enumerate() {
                let _ = writeln!(out, "{name}{{{l},code=\"{code}\"}} {}", r.totals.status[i]);
            }
        }
        CheckStatus => {
            let Some(chk) = &r.check else { return };
            for s in CHECK_STATUSES {
                let _ = writeln!(
                    out,
                    "{name}{{{l},state=\"{s}\"}} {}",
                    u8::from(chk.status == *s)
                );
            }
        }
        AggStatus => {
            let mine: Vec<&&Row> = servers.iter().filter(|s| s.pxname == r.pxname).collect();
            if mine.is_empty() {
                return;
            }
            for s in SERVER_STATES {
                let n = mine.iter().filter(|x| state_name(x) == s).count();
                let _ = writeln!(out, "{name}{{{l},state=\"{s}\"}} {n}");
            }
        }
    }
}

/// Columns HAProxy exports for HTTP proxies only.
fn is_http_column(c: &str) -> bool {
    matches!(
        c,
        "req_tot"
            | "intercepted"
            | "cache_lookups"
            | "cache_hits"
            | "comp_in"
            | "comp_out"
            | "comp_byp"
            | "comp_rsp"
    )
}

/// The state label that is 1 for a row (HAProxy's `promex_*_status`): a
/// frontend is UP unless stopped; a backend UP with a usable server or no
/// server; a server MAINT, DRAIN (admin drain), UP (running, even at weight
/// 0) or DOWN.
fn state_name(r: &Row) -> &'static str {
    match r.kind {
        Kind::Frontend => {
            if r.status == "STOP" {
                "DOWN"
            } else {
                "UP"
            }
        }
        Kind::Backend => {
            if r.status == "UP" {
                "UP"
            } else {
                "DOWN"
            }
        }
        Kind::Server => match r.look {
            Look::Maint => "MAINT",
            Look::Down | Look::GoingUp => "DOWN",
            // A weight of 0 shows DRAIN on the page but is UP to the
            // exporter; only an operator's drain (weight kept) is DRAIN.
            Look::Drain if r.uweight.unwrap_or(0) > 0 => "DRAIN",
            _ => "UP",
        },
    }
}

/// `haproxy_process_*` families ringlb knows, in HAProxy's order (`build_info`,
/// with its label, is written apart).
const PROCESS_FAMILIES: &[(&str, Type, &str)] = &[
    (
        "nbthread",
        Gauge,
        "Number of started threads (global.nbthread)",
    ),
    (
        "nbproc",
        Gauge,
        "Number of started worker processes (historical, always 1)",
    ),
    (
        "relative_process_id",
        Gauge,
        "Relative worker process number (1)",
    ),
    (
        "uptime_seconds",
        Gauge,
        "How long ago this worker process was started (seconds)",
    ),
    (
        "max_connections",
        Gauge,
        "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)",
    ),
    (
        "current_connections",
        Gauge,
        "Current number of connections on this worker process",
    ),
    (
        "connections_total",
        Counter,
        "Total number of connections on this worker process since started",
    ),
    (
        "requests_total",
        Counter,
        "Total number of requests on this worker process since started",
    ),
    (
        "stopping",
        Gauge,
        "1 if the worker process is currently stopping, otherwise zero",
    ),
    ("start_time_seconds", Gauge, "Start time in seconds"),
];

/// `haproxy_process_*`: what ringlb knows of the process.
fn process(shared: &Shared, out: &mut String) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let info = super::process::get();
    let (mut cur, mut conns, mut reqs) = (0, 0, 0);
    let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
    for f in shared.counters.iter().flat_map(|w| &w.frontends) {
        cur += l(&f.current);
        // As the frontends' `conn_tot`: rejected connections count too.
        conns += l(&f.sessions) + l(&f.denied_conn);
        reqs += l(&f.requests);
    }
    let values = [
        shared.counters.len() as u64,
        1,
        1,
        super::process::uptime_secs(),
        info.maxconn as u64,
        cur,
        conns,
        reqs,
        u64::from(shared.stopping()),
        info.started_unix,
    ];
    for (&(n, ty, help), v) in PROCESS_FAMILIES.iter().zip(values) {
        let name = format!("haproxy_process_{n}");
        header(out, &name, ty, help);
        let _ = writeln!(out, "{name} {v}");
        if n == "stopping" {
            let name = "haproxy_process_build_info";
            header(out, name, Gauge, "Build info");
            let _ = writeln!(
                out,
                "{name}{{version=\"ringlb-{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            );
        }
    }
}

/// `ringlb_backend_response_time_seconds` and `ringlb_server_response_time_seconds`.
fn histograms(shared: &Shared, q: Query, out: &mut String) {
    let help = "Time from sending the request to the server to relaying the whole response \
                (ringlb; per backend)";
    if q.scopes & BACKEND != 0 {
        let mut body = String::new();
        for (b, be) in shared.backends.iter().enumerate() {
            if be.model.settings.disabled || be.mode != Mode::Http {
                continue;
            }
            let m = Merged::sum(shared.counters.iter().map(|w| &w.backends[b].response_time));
            histogram(
                &mut body,
                "ringlb_backend_response_time_seconds",
                &format!("proxy=\"{}\"", esc(&be.name)),
                &m,
            );
        }
        if !body.is_empty() {
            hist_header(out, "ringlb_backend_response_time_seconds", help);
            out.push_str(&body);
        }
    }
    if q.scopes & SERVER != 0 {
        let mut body = String::new();
        for (b, be) in shared.backends.iter().enumerate() {
            if be.model.settings.disabled || be.mode != Mode::Http {
                continue;
            }
            let shown = view::shown_servers(be).iter().enumerate();
            for (s, srv) in shown.filter(|(_, srv)| srv.present()) {
                if q.no_maint && srv.admin.maint() {
                    continue;
                }
                let m = Merged::sum(
                    shared
                        .counters
                        .iter()
                        .map(|w| &w.servers[b][s].response_time),
                );
                let l = format!("proxy=\"{}\",server=\"{}\"", esc(&be.name), esc(&srv.name));
                histogram(&mut body, "ringlb_server_response_time_seconds", &l, &m);
            }
        }
        if !body.is_empty() {
            hist_header(
                out,
                "ringlb_server_response_time_seconds",
                &help.replace("backend", "server"),
            );
            out.push_str(&body);
        }
    }
}

fn hist_header(out: &mut String, name: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
}

/// One histogram's `_bucket` lines (cumulative), `_sum` and `_count`.
fn histogram(out: &mut String, name: &str, labels: &str, m: &Merged) {
    for (le, n) in m.cumulative() {
        let le = le.map_or("+Inf".to_string(), |s| format!("{s}"));
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {:.6}", m.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", m.count());
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
