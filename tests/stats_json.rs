//! The JSON exports, differential against HAProxy 2.6 on the same
//! configuration and the same traffic: `show stat json` and the page's
//! `;json` are arrays of rows of HAProxy's field objects, every field ringlb
//! writes is at HAProxy's position with HAProxy's tags and type, and the
//! deterministic values are equal; `show info json` likewise; `show schema
//! json` and `;json-schema` are HAProxy's schema byte for byte.
//!
//! Intentional differences: HAProxy also writes its stats modules' fields
//! (`h1_*`, `h2_*`, `ssl_*`, after position 102) and averages ringlb does not
//! keep (`qtime`, `ctime`, ... `srv_icur`): ringlb has no such modules and
//! leaves those out rather than write zeros it did not measure. Timing
//! values (uptimes, `lastchg`, `lastsess`) are compared by type only.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{Haproxy, HttpBackend, Ringlb, TestDir, free_port, get, stats_command};
use serde_json::Value;

/// `(objType, proxyId, id, field name)` -> `(pos, tags, value)`.
type Fields = HashMap<(String, u64, u64, String), (u64, Value, Value)>;

/// Parses `show stat json` / `;json`: an array of rows, each an array of fields.
fn stat_fields(text: &str) -> Fields {
    let v: Value =
        serde_json::from_str(text.trim_end()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let rows = v.as_array().expect("an array of rows");
    assert!(!rows.is_empty());
    let mut out = HashMap::new();
    for row in rows {
        for f in row.as_array().expect("a row is an array") {
            for key in [
                "objType",
                "proxyId",
                "id",
                "field",
                "processNum",
                "tags",
                "value",
            ] {
                assert!(f.get(key).is_some(), "field without {key}: {f}");
            }
            let key = (
                f["objType"].as_str().unwrap().to_string(),
                f["proxyId"].as_u64().unwrap(),
                f["id"].as_u64().unwrap(),
                f["field"]["name"].as_str().unwrap().to_string(),
            );
            let pos = f["field"]["pos"].as_u64().unwrap();
            out.insert(key, (pos, f["tags"].clone(), f["value"].clone()));
        }
    }
    out
}

/// The configuration both run: an HTTP listen with the page, a TCP-free
/// backend of its own, all on one thread so the counts are exact.
fn config(port: u16, socket: &Path, a: u16, b: u16) -> String {
    format!(
        "global\n    nbthread 1\n    maxconn 200\n    stats socket {} level admin\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
         timeout server 5s\n\
         listen web\n    bind 127.0.0.1:{port}\n    stats enable\n    stats uri /st\n    \
         rate-limit sessions 500\n    server a 127.0.0.1:{a} maxqueue 7\n\
         frontend other\n    bind 127.0.0.1:{}\n    default_backend pool\n\
         backend pool\n    balance roundrobin\n    server p1 127.0.0.1:{a}\n    \
         server p2 127.0.0.1:{b} weight 3\n",
        socket.display(),
        port + 1
    )
}

/// The same traffic on either proxy.
fn traffic(port: u16) {
    for _ in 0..5 {
        assert_eq!(get(port, "/x").status, 200);
    }
    for _ in 0..8 {
        assert_eq!(get(port + 1, "/y").status, 200);
    }
}

/// Two consecutive free ports.
fn two_ports() -> u16 {
    loop {
        let p = free_port();
        if free_port() == p + 1 {
            return p;
        }
    }
}

/// Waits (at most 3 s) until no session is open: the last client's close
/// may be counted a moment after it left, and `scur` is compared.
fn settle(sock: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        let csv = stats_command(sock, "show stat");
        let busy = csv.lines().filter(|l| !l.starts_with('#')).any(|l| {
            l.split(',')
                .nth(4)
                .is_some_and(|scur| !scur.is_empty() && scur != "0")
        });
        if !busy {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What one proxy answered.
struct Answers {
    stat: String,
    info: String,
    schema: String,
    page_json: String,
    page_schema: String,
}

fn collect(port: u16, sock: &Path) -> Answers {
    traffic(port);
    settle(sock);
    let stat = stats_command(sock, "show stat json");
    let info = stats_command(sock, "show info json");
    let schema = stats_command(sock, "show schema json");
    let page = get(port, "/st;json");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("application/json"));
    let page_schema = get(port, "/st;json-schema");
    assert_eq!(page_schema.header("content-type"), Some("application/json"));
    Answers {
        stat,
        info,
        schema,
        page_json: page.text(),
        page_schema: page_schema.text(),
    }
}

/// Fields whose values both must agree on after the same traffic.
const EQUAL: &[&str] = &[
    "pxname", "svname", "qcur", "qmax", "qlimit", "scur", "slim", "stot", "dreq", "dresp", "ereq",
    "econ", "eresp", "wretr", "wredis", "status", "weight", "act", "bck", "iid", "sid", "type",
    "lbtot", "rate_lim", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "req_tot",
    "mode", "algo", "addr", "cookie", "uweight", "pid",
];

#[test]
fn json_exports_match_haproxy() {
    let a = HttpBackend::start("a");
    let b = HttpBackend::start("b");
    let dir = TestDir::new("stats-json");
    let ours_sock = dir.path().join("ours.sock");
    let theirs_sock = dir.path().join("theirs.sock");
    let ours_port = two_ports();
    let _lb = Ringlb::start(&config(ours_port, &ours_sock, a.port(), b.port()));
    let ours = collect(ours_port, &ours_sock);

    // Our own shape, whether or not HAProxy is here.
    let stat = stat_fields(&ours.stat);
    let server_a = |name: &str| &stat[&("Server".into(), 2, 1, name.to_string())].2;
    assert_eq!(server_a("stot")["value"], 5);
    assert_eq!(server_a("lbtot")["value"], 5);
    assert_eq!(server_a("qlimit")["value"], 7);
    assert_eq!(server_a("lastsess")["type"], "s32");
    let pool_p2 = &stat[&("Server".into(), 4, 2, "lbtot".into())].2;
    assert_eq!(pool_p2["value"], 6, "weights 1:3 over 8 picks");
    let fe_rate = &stat[&("Frontend".into(), 2, 0, "rate_max".into())].2;
    assert!(fe_rate["value"].as_u64().unwrap() >= 5, "{fe_rate}");
    let info: Value = serde_json::from_str(ours.info.trim_end()).expect("info is JSON");
    assert_eq!(info[0]["field"]["name"], "Name");
    assert_eq!(info[0]["value"]["value"], "ringlb");
    let schema: Value = serde_json::from_str(ours.schema.trim_end()).expect("schema is JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    assert_eq!(ours.page_schema.trim_end(), ours.schema.trim_end());
    // The page's JSON has the socket's rows, less the legends (no
    // `stats show-legends`) and the page's own counting of itself.
    let page = stat_fields(&ours.page_json);
    assert!(page.keys().all(|k| stat.contains_key(k)));
    assert!(!page.keys().any(|k| k.3 == "addr"));

    let theirs_port = two_ports();
    let Some(_h) = Haproxy::start(
        &config(theirs_port, &theirs_sock, a.port(), b.port()),
        theirs_port,
    ) else {
        return;
    };
    let theirs = collect(theirs_port, &theirs_sock);
    assert_eq!(ours.schema, theirs.schema, "show schema json");
    assert_eq!(ours.page_schema, theirs.page_schema, ";json-schema");
    // Both number `web` 2, `other` 3, `pool` 4: the stats socket's CLI
    // frontend is proxy 1.
    let hstat = stat_fields(&theirs.stat);
    let mut wrong = Vec::new();
    for (key, (pos, tags, value)) in &stat {
        let Some((hpos, htags, hvalue)) = hstat.get(key) else {
            wrong.push(format!("ringlb writes {key:?}, HAProxy does not"));
            continue;
        };
        if (pos, tags, &value["type"]) != (hpos, htags, &hvalue["type"]) {
            wrong.push(format!(
                "{key:?}: {pos} {tags} {value} vs {hpos} {htags} {hvalue}"
            ));
        }
        // Both proxies saw one connection without a request (the start-up
        // probe): HAProxy counts it a bad request (ereq, a 400, req_tot),
        // ringlb's HTTP session does not, so those frontend counts differ.
        let probe = key.0 == "Frontend"
            && ["stot", "ereq", "hrsp_4xx", "req_tot"].contains(&key.3.as_str());
        if EQUAL.contains(&key.3.as_str()) && !probe && value != hvalue {
            wrong.push(format!("{key:?}: value {value} vs {hvalue}"));
        }
    }
    // What HAProxy writes in the standard columns and ringlb does not:
    // only the averages, connection reuse and idle counts it does not keep.
    let not_kept = [
        "qtime",
        "ctime",
        "rtime",
        "ttime",
        "qtime_max",
        "ctime_max",
        "rtime_max",
        "ttime_max",
        "cli_abrt",
        "srv_abrt",
        "connect",
        "reuse",
        "srv_icur",
        "idle_conn_cur",
        "safe_conn_cur",
        "used_conn_cur",
        "need_conn_est",
        "eint",
        "wrew",
        "req_rate",
        "req_rate_max",
        "conn_rate",
        "conn_rate_max",
        "agg_server_status",
        "agg_server_check_status",
        "agg_check_status",
        "chkdown",
        "lastchg",
        "downtime",
    ];
    assert_eq!(
        stat[&("Backend".into(), 4, 0, "slim".into())].2,
        hstat[&("Backend".into(), 4, 0, "slim".into())].2,
        "fullconn's default: a tenth of the frontends' limits"
    );
    for (key, (pos, ..)) in &hstat {
        if *pos <= 102 && !stat.contains_key(key) && !not_kept.contains(&key.3.as_str()) {
            wrong.push(format!("HAProxy writes {key:?}, ringlb does not"));
        }
    }
    wrong.sort();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let info_fields = |text: &str| -> HashMap<String, (u64, Value, String)> {
        let v: Value = serde_json::from_str(text.trim_end()).expect("info JSON");
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["field"]["name"].as_str().unwrap().to_string(),
                    (
                        f["field"]["pos"].as_u64().unwrap(),
                        f["tags"].clone(),
                        f["value"]["type"].as_str().unwrap().to_string(),
                    ),
                )
            })
            .collect()
    };
    let (oi, hi) = (info_fields(&ours.info), info_fields(&theirs.info));
    for (name, f) in &oi {
        assert_eq!(Some(f), hi.get(name), "show info json: {name}");
    }
}
