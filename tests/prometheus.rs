//! The Prometheus exporter (`http-request use-service prometheus-exporter`)
//! end to end: the same configuration and requests through ringlb and
//! HAProxy 2.6, both scraped; ringlb's families must be HAProxy's (the ones
//! it leaves out are listed below with the reason), with the same labels and,
//! where the value is deterministic, the same values. Then the query
//! parameters (`scope=`, `no-maint`), ringlb's response-time histograms,
//! `promtool check metrics` on the scrape, a `listen` serving the exporter
//! beside its traffic (HEAD included), and the config errors.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Haproxy, HttpBackend, HttpClient, Ringlb, TcpBackend, TestDir, free_port, run_cli};

/// One sample: its labels and value as written.
type Sample = (BTreeMap<String, String>, String);

/// A scrape: family name to its TYPE and samples (histogram series under
/// their family's name).
type Scrape = BTreeMap<String, (String, Vec<Sample>)>;

/// Parses the text format strictly enough to catch malformed lines.
fn parse(text: &str) -> Scrape {
    let mut out: Scrape = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').expect("TYPE line");
            out.entry(name.into()).or_default().0 = ty.into();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let labels: BTreeMap<String, String> = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("label");
                (k.into(), v.trim_matches('"').into())
            })
            .collect();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| out.contains_key(*f)))
            .unwrap_or(name);
        let entry = out
            .get_mut(family)
            .unwrap_or_else(|| panic!("{name} before its TYPE"));
        entry.1.push((labels, value.into()));
    }
    out
}

/// The value of `family`'s sample with exactly `labels`.
fn value(s: &Scrape, family: &str, labels: &[(&str, &str)]) -> Option<String> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.get(family)?
        .1
        .iter()
        .find(|(l, _)| *l == want)
        .map(|(_, v)| v.clone())
}

/// GETs `path` on a fresh connection: status and body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut c = HttpClient::connect(port);
    let r = c
        .request(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    (r.status, r.text())
}

/// The configuration both run: an HTTP frontend and backend (a checked
/// server, a plain one, one disabled, one at weight 0), a TCP listen, and
/// the exporter's own frontend (HAProxy's documented form).
struct Setup {
    cfg: String,
    fe: u16,
    prom: u16,
    _a: HttpBackend,
    _b: HttpBackend,
    _t: TcpBackend,
}

fn setup() -> Setup {
    let (a, b, t) = (
        HttpBackend::start("a"),
        HttpBackend::start("b"),
        TcpBackend::echo(),
    );
    let (fe, prom, tcp) = (free_port(), free_port(), free_port());
    let cfg = format!(
        "global\n    nbthread 1\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n\
         \x20   http-request deny if {{ path /deny }}\n\
         \x20   http-request redirect location /elsewhere if {{ path /redirect }}\n\
         \x20   default_backend be\n\
         backend be\n\
         \x20   server s1 127.0.0.1:{a} check inter 500ms\n\
         \x20   server s2 127.0.0.1:{b}\n\
         \x20   server s3 127.0.0.1:{b} disabled\n\
         \x20   server s4 127.0.0.1:{b} weight 0\n\
         listen tcpx\n    mode tcp\n    bind 127.0.0.1:{tcp}\n    server t1 127.0.0.1:{t}\n\
         frontend prom\n    bind 127.0.0.1:{prom}\n\
         \x20   http-request use-service prometheus-exporter if {{ path /metrics }}\n",
        a = a.port(),
        b = b.port(),
        t = t.port,
    );
    Setup {
        cfg,
        fe,
        prom,
        _a: a,
        _b: b,
        _t: t,
    }
}

/// ringlb started, waited for on the exporter's port only, as
/// [`Haproxy::start`] waits: a probe connection to `fe` would count a session.
fn started_on_prom(s: &Setup) -> Ringlb {
    let mut lb = Ringlb::spawn(&s.cfg, &["-db"]);
    let prom = s.prom;
    lb.wait_until("the exporter's port", || {
        std::net::TcpStream::connect(("127.0.0.1", prom)).is_ok()
    });
    lb
}

/// The same requests on either proxy: four forwarded, one denied, one redirected.
fn traffic(port: u16) {
    for _ in 0..4 {
        assert_eq!(get(port, "/").0, 200);
    }
    assert_eq!(get(port, "/deny").0, 403);
    assert_eq!(get(port, "/redirect").0, 302);
}

/// Scrapes `path` (a 200 with the text format's content type).
fn scrape(port: u16, path: &str) -> String {
    let mut c = HttpClient::connect(port);
    let r = c
        .request(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4"),
        "{path}"
    );
    r.text()
}

/// Reasons HAProxy's families are left out (docs/prometheus.md lists them too).
const RATE: &str = "ringlb keeps no per-second rates or their maxima";
const TIMES: &str = "ringlb keeps no sliding averages or maxima of the queue, connect, response and total times (its own histograms are ringlb_*_response_time_seconds)";
const SSL: &str =
    "TLS is rustls inside each worker: no shared session cache, SSL endpoint or key-rate counters";
const COMP: &str = "ringlb does not compress";
const PIPES: &str = "splice pipes are not pooled nor counted";
const PEERS: &str = "no peers section";
const POOLS: &str = "no HAProxy-style memory pools nor -m limit";
const LIMITS: &str = "file-descriptor and socket limits are not exported";
const SCHED: &str = "HAProxy's scheduler (tasks, run queue, jobs, idle time, busy polling) has no ringlb equivalent";
const PROCESS_COUNTERS: &str =
    "not counted process-wide (dropped and received logs, failed resolutions, bytes out)";
const ABORTS: &str = "client and server aborts are not counted per backend/server";
const WREW: &str = "failed rewrites and internal errors are not counted";
const UNCOUNTED: &str = "not counted (load-balanced picks, connection attempts and reuses, last session, failed checks)";
const IDLE: &str = "idle-connection pools are per worker and not exported";
const FULLCONN: &str =
    "a backend's limit is HAProxy's computed fullconn, which ringlb does not compute";
const THROTTLE: &str = "the slow-start ratio is not exported";
const BACKEND_CHECKS: &str = "HAProxy's backend-level check figures (state change, downtime, aggregated check status) are not kept per backend";

/// HAProxy 2.6's families ringlb does not export for the test's config, and why.
const LEFT_OUT: &[(&str, &str)] = &[
    ("haproxy_backend_agg_check_status", BACKEND_CHECKS),
    ("haproxy_backend_check_last_change_seconds", BACKEND_CHECKS),
    ("haproxy_backend_check_up_down_total", BACKEND_CHECKS),
    ("haproxy_backend_client_aborts_total", ABORTS),
    ("haproxy_backend_connect_time_average_seconds", TIMES),
    ("haproxy_backend_connection_attempts_total", UNCOUNTED),
    ("haproxy_backend_connection_reuses_total", UNCOUNTED),
    ("haproxy_backend_downtime_seconds_total", BACKEND_CHECKS),
    ("haproxy_backend_failed_header_rewriting_total", WREW),
    ("haproxy_backend_internal_errors_total", WREW),
    ("haproxy_backend_last_session_seconds", UNCOUNTED),
    ("haproxy_backend_limit_sessions", FULLCONN),
    ("haproxy_backend_loadbalanced_total", UNCOUNTED),
    ("haproxy_backend_max_connect_time_seconds", TIMES),
    ("haproxy_backend_max_queue_time_seconds", TIMES),
    ("haproxy_backend_max_response_time_seconds", TIMES),
    ("haproxy_backend_max_session_rate", RATE),
    ("haproxy_backend_max_total_time_seconds", TIMES),
    ("haproxy_backend_queue_time_average_seconds", TIMES),
    ("haproxy_backend_response_time_average_seconds", TIMES),
    ("haproxy_backend_server_aborts_total", ABORTS),
    ("haproxy_backend_total_time_average_seconds", TIMES),
    ("haproxy_frontend_connections_rate_max", RATE),
    ("haproxy_frontend_failed_header_rewriting_total", WREW),
    ("haproxy_frontend_http_requests_rate_max", RATE),
    ("haproxy_frontend_internal_errors_total", WREW),
    ("haproxy_frontend_max_session_rate", RATE),
    ("haproxy_process_active_peers", PEERS),
    ("haproxy_process_busy_polling_enabled", SCHED),
    ("haproxy_process_bytes_out_rate", RATE),
    ("haproxy_process_bytes_out_total", PROCESS_COUNTERS),
    ("haproxy_process_connected_peers", PEERS),
    ("haproxy_process_current_backend_ssl_key_rate", SSL),
    ("haproxy_process_current_connection_rate", RATE),
    ("haproxy_process_current_frontend_ssl_key_rate", SSL),
    ("haproxy_process_current_run_queue", SCHED),
    ("haproxy_process_current_session_rate", RATE),
    ("haproxy_process_current_ssl_connections", SSL),
    ("haproxy_process_current_ssl_rate", SSL),
    ("haproxy_process_current_tasks", SCHED),
    ("haproxy_process_current_zlib_memory", COMP),
    ("haproxy_process_dropped_logs_total", PROCESS_COUNTERS),
    ("haproxy_process_failed_resolutions", PROCESS_COUNTERS),
    ("haproxy_process_frontend_ssl_reuse", SSL),
    ("haproxy_process_hard_max_connections", LIMITS),
    ("haproxy_process_http_comp_bytes_in_total", COMP),
    ("haproxy_process_http_comp_bytes_out_total", COMP),
    ("haproxy_process_idle_time_percent", SCHED),
    ("haproxy_process_jobs", SCHED),
    ("haproxy_process_limit_connection_rate", RATE),
    ("haproxy_process_limit_http_comp", COMP),
    ("haproxy_process_limit_session_rate", RATE),
    ("haproxy_process_limit_ssl_rate", SSL),
    ("haproxy_process_listeners", SCHED),
    ("haproxy_process_max_backend_ssl_key_rate", SSL),
    ("haproxy_process_max_connection_rate", RATE),
    ("haproxy_process_max_fds", LIMITS),
    ("haproxy_process_max_frontend_ssl_key_rate", SSL),
    ("haproxy_process_max_memory_bytes", POOLS),
    ("haproxy_process_max_pipes", PIPES),
    ("haproxy_process_max_session_rate", RATE),
    ("haproxy_process_max_sockets", LIMITS),
    ("haproxy_process_max_ssl_connections", SSL),
    ("haproxy_process_max_ssl_rate", SSL),
    ("haproxy_process_max_zlib_memory", COMP),
    ("haproxy_process_pipes_free_total", PIPES),
    ("haproxy_process_pipes_used_total", PIPES),
    ("haproxy_process_pool_allocated_bytes", POOLS),
    ("haproxy_process_pool_failures_total", POOLS),
    ("haproxy_process_pool_used_bytes", POOLS),
    ("haproxy_process_recv_logs_total", PROCESS_COUNTERS),
    ("haproxy_process_spliced_bytes_out_total", PIPES),
    ("haproxy_process_ssl_cache_lookups_total", SSL),
    ("haproxy_process_ssl_cache_misses_total", SSL),
    ("haproxy_process_ssl_connections_total", SSL),
    ("haproxy_process_unstoppable_jobs", SCHED),
    ("haproxy_server_check_failures_total", UNCOUNTED),
    ("haproxy_server_client_aborts_total", ABORTS),
    ("haproxy_server_connect_time_average_seconds", TIMES),
    ("haproxy_server_connection_attempts_total", UNCOUNTED),
    ("haproxy_server_connection_reuses_total", UNCOUNTED),
    ("haproxy_server_current_throttle", THROTTLE),
    ("haproxy_server_failed_header_rewriting_total", WREW),
    ("haproxy_server_idle_connections_current", IDLE),
    ("haproxy_server_idle_connections_limit", IDLE),
    ("haproxy_server_internal_errors_total", WREW),
    ("haproxy_server_last_session_seconds", UNCOUNTED),
    ("haproxy_server_loadbalanced_total", UNCOUNTED),
    ("haproxy_server_max_connect_time_seconds", TIMES),
    ("haproxy_server_max_queue_time_seconds", TIMES),
    ("haproxy_server_max_response_time_seconds", TIMES),
    ("haproxy_server_max_session_rate", RATE),
    ("haproxy_server_max_total_time_seconds", TIMES),
    ("haproxy_server_need_connections_current", IDLE),
    ("haproxy_server_queue_time_average_seconds", TIMES),
    ("haproxy_server_response_time_average_seconds", TIMES),
    ("haproxy_server_safe_idle_connections_current", IDLE),
    ("haproxy_server_server_aborts_total", ABORTS),
    ("haproxy_server_total_time_average_seconds", TIMES),
    ("haproxy_server_unsafe_idle_connections_current", IDLE),
    ("haproxy_server_used_connections_current", IDLE),
];

/// The series whose values must be HAProxy's after [`traffic`]: requests and
/// responses counted, states, weights.
fn deterministic_series() -> Vec<(String, Vec<(String, String)>)> {
    let same = [
        (
            "haproxy_frontend_http_requests_total",
            vec![("proxy", "fe")],
        ),
        ("haproxy_frontend_sessions_total", vec![("proxy", "fe")]),
        (
            "haproxy_frontend_requests_denied_total",
            vec![("proxy", "fe")],
        ),
        (
            "haproxy_frontend_status",
            vec![("proxy", "fe"), ("state", "UP")],
        ),
        ("haproxy_backend_http_requests_total", vec![("proxy", "be")]),
        ("haproxy_backend_sessions_total", vec![("proxy", "be")]),
        (
            "haproxy_backend_status",
            vec![("proxy", "be"), ("state", "UP")],
        ),
        ("haproxy_backend_weight", vec![("proxy", "be")]),
        ("haproxy_backend_uweight", vec![("proxy", "be")]),
        ("haproxy_backend_active_servers", vec![("proxy", "be")]),
        ("haproxy_backend_backup_servers", vec![("proxy", "be")]),
        ("haproxy_frontend_limit_session_rate", vec![("proxy", "fe")]),
        ("haproxy_frontend_connections_total", vec![("proxy", "fe")]),
        (
            "haproxy_frontend_intercepted_requests_total",
            vec![("proxy", "fe")],
        ),
        ("haproxy_frontend_current_sessions", vec![("proxy", "fe")]),
        ("haproxy_backend_current_queue", vec![("proxy", "be")]),
        ("haproxy_backend_current_sessions", vec![("proxy", "be")]),
        ("haproxy_frontend_sessions_total", vec![("proxy", "tcpx")]),
        // The exporter's own frontend counts each scrape: compared with the
        // number of scrapes each side took (`settled_scrape`), not here.
    ];
    let mut same: Vec<(String, Vec<(String, String)>)> = same
        .iter()
        .map(|(f, l)| {
            let l = l
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (f.to_string(), l)
        })
        .collect();
    for code in ["1xx", "2xx", "3xx", "4xx", "5xx", "other"] {
        for (fam, px) in [
            ("haproxy_frontend_http_responses_total", "fe"),
            ("haproxy_backend_http_responses_total", "be"),
        ] {
            same.push((
                fam.into(),
                vec![("proxy".into(), px.into()), ("code".into(), code.into())],
            ));
        }
    }
    for srv in ["s1", "s2", "s3", "s4"] {
        for fam in [
            "haproxy_server_sessions_total",
            "haproxy_server_weight",
            "haproxy_server_uweight",
        ] {
            same.push((
                fam.into(),
                vec![("proxy".into(), "be".into()), ("server".into(), srv.into())],
            ));
        }
        for code in ["2xx", "3xx", "4xx", "5xx"] {
            same.push((
                "haproxy_server_http_responses_total".into(),
                vec![
                    ("proxy".into(), "be".into()),
                    ("server".into(), srv.into()),
                    ("code".into(), code.into()),
                ],
            ));
        }
        for st in ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"] {
            same.push((
                "haproxy_server_status".into(),
                vec![
                    ("proxy".into(), "be".into()),
                    ("server".into(), srv.into()),
                    ("state".into(), st.into()),
                ],
            ));
        }
    }
    for st in ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"] {
        same.push((
            "haproxy_backend_agg_server_status".into(),
            vec![("proxy".into(), "be".into()), ("state".into(), st.into())],
        ));
    }
    same
}

/// A scrape once the traffic's connections are all closed on the proxy's
/// side: the last client's close (or the readiness probe's, still in a
/// worker's accept queue) may be counted a moment after the client left,
/// and `current_sessions` is then 1 for that moment (at most 3 s). With
/// how many scrapes it took (each one an intercepted request).
fn settled_scrape(port: u16) -> (Scrape, u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut n = 0;
    loop {
        n += 1;
        let s = parse(&scrape(port, "/metrics"));
        let idle = [
            ("haproxy_frontend_current_sessions", "fe"),
            ("haproxy_backend_current_sessions", "be"),
        ]
        .iter()
        .all(|(f, px)| value(&s, f, &[("proxy", px)]).as_deref() == Some("0"));
        if idle || std::time::Instant::now() > deadline {
            return (s, n);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn families_labels_and_counters_match_haproxy() {
    let s = setup();
    let lb = started_on_prom(&s);
    traffic(s.fe);
    let (ours, our_scrapes) = settled_scrape(s.prom);
    drop(lb);
    // HAProxy on the same text, with its own ports and servers.
    let s = setup();
    let Some(_h) = Haproxy::start(&s.cfg, s.prom) else {
        return;
    };
    traffic(s.fe);
    let (theirs, their_scrapes) = settled_scrape(s.prom);

    // Every haproxy_ family ringlb exports is HAProxy's, with its type.
    for (name, (ty, _)) in ours.iter().filter(|(n, _)| n.starts_with("haproxy_")) {
        let Some((their_ty, _)) = theirs.get(name) else {
            panic!("{name} is not one of HAProxy 2.6's families");
        };
        assert_eq!(ty, their_ty, "{name}'s type");
    }
    // What HAProxy has that ringlb leaves out is exactly the documented list.
    let missing: BTreeSet<&str> = theirs
        .keys()
        .filter(|n| !ours.contains_key(*n))
        .map(String::as_str)
        .collect();
    let listed: BTreeSet<&str> = LEFT_OUT.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        missing, listed,
        "families HAProxy exports and ringlb does not"
    );
    // Same label sets in every shared family (the version label aside).
    for (name, (_, samples)) in ours.iter().filter(|(n, _)| n.starts_with("haproxy_")) {
        if name == "haproxy_process_build_info" {
            continue;
        }
        let mine: BTreeSet<_> = samples.iter().map(|(l, _)| l.clone()).collect();
        let other: BTreeSet<_> = theirs[name].1.iter().map(|(l, _)| l.clone()).collect();
        assert_eq!(mine, other, "{name}'s labels");
    }
    // Deterministic values: the exchanges counted, states, weights.
    let same = deterministic_series();
    for (fam, labels) in &same {
        let l: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (a, b) = (value(&ours, fam, &l), value(&theirs, fam, &l));
        assert!(a.is_some(), "{fam} {l:?} missing in ringlb's scrape");
        assert_eq!(a, b, "{fam} {l:?}: ringlb vs HAProxy");
    }
    // The scrape itself is counted before the page is made, on both sides.
    let prom = [("proxy", "prom")];
    let intercepted = "haproxy_frontend_intercepted_requests_total";
    assert_eq!(
        value(&ours, intercepted, &prom),
        Some(our_scrapes.to_string())
    );
    assert_eq!(
        value(&theirs, intercepted, &prom),
        Some(their_scrapes.to_string())
    );
}

#[test]
fn histograms_count_every_forwarded_request() {
    let s = setup();
    let _lb = Ringlb::start(&s.cfg);
    traffic(s.fe);
    let m = parse(&scrape(s.prom, "/metrics"));
    for (fam, labels, want) in [
        (
            "ringlb_backend_response_time_seconds",
            vec![("proxy", "be")],
            4,
        ),
        (
            "ringlb_server_response_time_seconds",
            vec![("proxy", "be"), ("server", "s1")],
            2,
        ),
        (
            "ringlb_server_response_time_seconds",
            vec![("proxy", "be"), ("server", "s2")],
            2,
        ),
    ] {
        let (ty, samples) = &m[fam];
        assert_eq!(ty, "histogram");
        let mine: Vec<&Sample> = samples
            .iter()
            .filter(|(l, _)| {
                labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .filter(|(l, _)| l.len() == labels.len() + usize::from(l.contains_key("le")))
            .collect();
        let buckets: Vec<(f64, u64)> = mine
            .iter()
            .filter_map(|(l, v)| {
                let le = l.get("le")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                Some((le, v.parse().unwrap()))
            })
            .collect();
        assert!(buckets.len() > 5, "{fam} {labels:?}: {buckets:?}");
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{fam} {labels:?}: buckets not monotonic: {buckets:?}"
        );
        assert_eq!(
            buckets.last().unwrap(),
            &(f64::INFINITY, want),
            "{fam} {labels:?}"
        );
        let count = mine
            .iter()
            .filter(|(l, _)| !l.contains_key("le"))
            .map(|(_, v)| v.parse::<f64>().unwrap());
        let (mut sum, mut n) = (None, None);
        for (i, v) in count.enumerate() {
            // `_sum` comes before `_count`.
            if i == 0 { sum = Some(v) } else { n = Some(v) }
        }
        assert_eq!(n, Some(want as f64), "{fam} {labels:?} _count");
        let sum = sum.unwrap();
        // Loopback exchanges: well under a second each, never negative.
        assert!(
            (0.0..want as f64).contains(&sum),
            "{fam} {labels:?} _sum {sum}"
        );
    }
    // The disabled server is left out with `no-maint`, kept otherwise.
    let s3 = [("proxy", "be"), ("server", "s3"), ("state", "MAINT")];
    assert_eq!(
        value(&m, "haproxy_server_status", &s3).as_deref(),
        Some("1")
    );
    let nm = parse(&scrape(s.prom, "/metrics?no-maint"));
    assert_eq!(value(&nm, "haproxy_server_status", &s3), None);
    assert!(
        nm["ringlb_server_response_time_seconds"]
            .1
            .iter()
            .all(|(l, _)| l.get("server").map(String::as_str) != Some("s3"))
    );
}

/// The prefixes of the families a scrape of `query` holds.
fn prefixes(port: u16, query: &str) -> BTreeSet<String> {
    parse(&scrape(port, &format!("/metrics{query}")))
        .keys()
        .map(|k| k.split('_').take(2).collect::<Vec<_>>().join("_"))
        .collect()
}

#[test]
fn scope_parameters_select_as_haproxy() {
    let s = setup();
    let queries = [
        "",
        "?scope=global",
        "?scope=frontend&scope=server",
        "?scope=backend",
        "?scope=",
        "?scope=*",
        "?scope=listener",
        "?other=1",
    ];
    let run = |port: u16| -> Vec<(BTreeSet<String>, u16)> {
        let mut out: Vec<_> = queries.iter().map(|q| (prefixes(port, q), 200)).collect();
        out.push((BTreeSet::new(), get(port, "/metrics?scope=nope").0));
        out.push((BTreeSet::new(), get(port, "/metrics?scope").0));
        out.push((BTreeSet::new(), get(port, "/other").0));
        out
    };
    let lb = Ringlb::start(&s.cfg);
    let ours = run(s.prom);
    drop(lb);
    // ringlb's own families follow their scope (backend, server).
    let strip = |v: Vec<(BTreeSet<String>, u16)>| -> Vec<(BTreeSet<String>, u16)> {
        v.into_iter()
            .map(|(p, st)| {
                (
                    p.into_iter().filter(|x| x.starts_with("haproxy")).collect(),
                    st,
                )
            })
            .collect()
    };
    assert!(ours[3].0.contains("ringlb_backend"), "{:?}", ours[3].0);
    assert!(!ours[1].0.iter().any(|p| p.starts_with("ringlb")));
    let s = setup();
    let Some(_h) = Haproxy::start(&s.cfg, s.prom) else {
        return;
    };
    assert_eq!(strip(ours), run(s.prom));
}

#[test]
fn promtool_accepts_the_scrape() {
    let Ok(out) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        eprintln!("promtool is not installed (apt-get install prometheus): the check is skipped");
        return;
    };
    assert!(out.status.success());
    let s = setup();
    let _lb = Ringlb::start(&s.cfg);
    traffic(s.fe);
    let text = scrape(s.prom, "/metrics");
    let dir = TestDir::new("promtool");
    let file = dir.write("scrape.txt", &text);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < '{}'", file.display()))
        .output()
        .unwrap();
    // Lint notes (e.g. HAProxy's counter names without `_total`) go to
    // stdout with a non-zero status; a format error does too, so read both.
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check metrics:\n{report}");
}

#[test]
fn use_service_config_errors_name_the_keyword() {
    let dir = TestDir::new("prom-cfg");
    let base = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
                frontend fe\n    bind 127.0.0.1:1\n";
    for (rule, want) in [
        (
            "http-request use-service lua.hello",
            "unknown service 'lua.hello': ringlb provides only 'prometheus-exporter'",
        ),
        ("http-request use-service", "expects a service name"),
        (
            "http-request use-service prometheus-exporter extra",
            "unexpected argument 'extra'",
        ),
        (
            "http-response use-service prometheus-exporter",
            "not allowed in 'http-response' rules",
        ),
    ] {
        let cfg = dir.write("t.cfg", &format!("{base}    {rule}\n"));
        let out = run_cli(dir.path(), &["-c", "-f", cfg.to_str().unwrap()]);
        assert_ne!(out.code, Some(0), "{rule}: accepted");
        assert!(out.stderr.contains("t.cfg:8"), "{rule}: {}", out.stderr);
        assert!(out.stderr.contains("use-service"), "{rule}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{rule}: {}", out.stderr);
    }
    let cfg = dir.write(
        "t.cfg",
        &format!("{base}    http-request use-service prometheus-exporter if {{ path /metrics }}\n"),
    );
    let out = run_cli(dir.path(), &["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn a_listen_serves_the_exporter_beside_its_traffic() {
    let b = HttpBackend::start("b");
    let port = free_port();
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
         listen web\n    bind 127.0.0.1:{port}\n\
         \x20   http-request use-service prometheus-exporter if {{ path /metrics }}\n\
         \x20   server s1 127.0.0.1:{}\n",
        b.port()
    );
    let _lb = Ringlb::start(&cfg);
    assert_eq!(get(port, "/").0, 200);
    let m = parse(&scrape(port, "/metrics?scope=server"));
    let s1 = [("proxy", "web"), ("server", "s1")];
    assert_eq!(
        value(&m, "haproxy_server_sessions_total", &s1).as_deref(),
        Some("1")
    );
    assert_eq!(b.request_count(), 1, "the scrape never reaches the server");
    // HEAD: the head only, on a connection that stays usable.
    let mut c = HttpClient::connect(port);
    let r = c.head("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(c.get("/").status, 200);
}
