//! The stats page's live charts (ringlb's own, issue #18), end to end through
//! the binary with 2 workers: the `;histograms` feed counts exactly the
//! traffic the test sent (requests, 5xx, response-time buckets) while `;json`
//! keeps HAProxy's shape; headless Chromium runs the page's script against
//! live traffic (fast, 5xx and slow responses) and the charts it draws carry
//! non-zero rates and a p99 in the slow responses' bucket; the script's
//! quantile function is checked against Prometheus' histogram_quantile.
//!
//! Chromium (Debian's `chromium` package) is optional, as in
//! tests/stats_page.rs: the script only runs in a browser, so without one the
//! browser checks are skipped with a note (the feed is still checked over
//! HTTP) rather than making every CI image carry a browser. Set
//! `RINGLB_CHARTS_SCREENSHOT=<path>` to keep the screenshot
//! (docs/stats-charts.png was made that way).

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{BufStream, Ringlb, TcpBackend, TestDir, chromium, chromium_run, free_port, get};

/// How long `/slow` answers take: in the (0.25 s, 0.5 s] bucket.
const SLOW: Duration = Duration::from_millis(300);

/// A server answering `/slow` after [`SLOW`], `/err` with a 503 and anything
/// else at once with a 200; one request per connection.
fn backend() -> TcpBackend {
    TcpBackend::start(|s: TcpStream| {
        let mut bs = BufStream::new(s);
        let Ok(Some(head)) = bs.read_head() else {
            return;
        };
        let head = String::from_utf8_lossy(&head);
        let path = head.split(' ').nth(1).unwrap_or("/");
        let status = match path {
            "/slow" => {
                thread::sleep(SLOW);
                "200 OK"
            }
            "/err" => "503 Service Unavailable",
            _ => "200 OK",
        };
        let _ = bs.stream.write_all(
            format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .as_bytes(),
        );
    })
}

/// How long the relay holds each poll of the feed.
const POLL_DELAY: Duration = Duration::from_millis(500);

/// A relay between Chromium and ringlb that holds every `;histograms`
/// request [`POLL_DELAY`] before passing it on. Chromium's virtual time
/// (`--virtual-time-budget`) runs the page's timers back to back but waits
/// for pending fetches, so each poll interval spans at least that much real
/// traffic instead of a few milliseconds of it.
fn delaying_relay(lb: u16) -> TcpBackend {
    TcpBackend::start(move |s: TcpStream| {
        let mut client = BufStream::new(s);
        while let Ok(Some(head)) = client.read_head() {
            let head = String::from_utf8_lossy(&head).into_owned();
            if head.contains(";histograms") {
                thread::sleep(POLL_DELAY);
            }
            // One upstream connection per request, closed by ringlb after
            // its answer, so the answer is everything read until EOF.
            let mut lines: Vec<&str> = head
                .trim_end()
                .split("\r\n")
                .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                .collect();
            lines.push("Connection: close");
            let Ok(mut up) = TcpStream::connect(("127.0.0.1", lb)) else {
                return;
            };
            let mut answer = Vec::new();
            if up
                .write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes())
                .and_then(|()| up.read_to_end(&mut answer))
                .and_then(|_| client.stream.write_all(&answer))
                .is_err()
            {
                return;
            }
        }
    })
}

/// `web` (HTTP, with the stats page) on `port`, `db` (TCP) on `db`, and a
/// stats page showing `db` only on `scoped`.
fn config(port: u16, db: u16, scoped: u16, server: u16) -> String {
    format!(
        "global\n    nbthread 2\n\n\
         listen web\n    mode http\n    bind 127.0.0.1:{port}\n    \
         timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    \
         stats enable\n    stats uri /stats\n    \
         server s1 127.0.0.1:{server}\n\n\
         listen db\n    mode tcp\n    bind 127.0.0.1:{db}\n    \
         timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    \
         server d1 127.0.0.1:{server}\n\n\
         listen scoped\n    mode http\n    bind 127.0.0.1:{scoped}\n    \
         timeout client 5s\n    \
         stats enable\n    stats uri /scoped\n    stats scope db\n"
    )
}

/// The `;histograms` feed, parsed.
fn feed(port: u16) -> serde_json::Value {
    let r = get(port, "/stats;histograms");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_str(&r.text()).expect("the feed is JSON")
}

/// The feed's entry for backend `name`.
fn backend_of<'a>(f: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    f["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no backend {name} in {f}"))
}

/// Traffic until `stop` (or 30 s): fast requests, some 5xx, some slow ones;
/// returns the threads and the count of requests answered.
fn traffic(port: u16, stop: &Arc<AtomicBool>) -> (Vec<thread::JoinHandle<()>>, Arc<AtomicU64>) {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(30);
    // Slow requests are ~1 in 8 of those answered, so every poll interval's
    // p99 falls in their bucket and its p50 in the fast ones'.
    let paths = [("/fast", 1, 10), ("/err", 1, 40), ("/slow", 4, 0)];
    let mut threads = Vec::new();
    for (path, n, pause_ms) in paths {
        for _ in 0..n {
            let (stop, done) = (stop.clone(), done.clone());
            threads.push(thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    assert!(get(port, path).status > 0);
                    done.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(pause_ms));
                }
            }));
        }
    }
    (threads, done)
}

#[test]
fn feed_counts_the_traffic_and_json_keeps_haproxy_shape() {
    let server = backend();
    let (port, db_port, scoped_port) = (free_port(), free_port(), free_port());
    let _lb = Ringlb::start(&config(port, db_port, scoped_port, server.port));
    for _ in 0..20 {
        assert_eq!(get(port, "/fast").status, 200);
    }
    for _ in 0..5 {
        assert_eq!(get(port, "/err").status, 503);
    }
    for _ in 0..3 {
        assert_eq!(get(port, "/slow").status, 200);
    }
    let f = feed(port);
    let bounds: Vec<f64> = f["bounds"]
        .as_array()
        .expect("bounds")
        .iter()
        .map(|b| b.as_f64().expect("a bound"))
        .collect();
    assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
    assert!(f["now_ms"].as_u64().expect("now_ms") > 1_600_000_000_000);
    let web = backend_of(&f, "web");
    assert_eq!(web["mode"], "http");
    assert_eq!(web["requests"], 28, "{web}");
    assert_eq!(web["hrsp_5xx"], 5, "{web}");
    assert_eq!(web["errors"], 5, "5xx + econ + eresp: {web}");
    let buckets: Vec<u64> = web["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b.as_u64().expect("a count"))
        .collect();
    assert_eq!(
        buckets.len(),
        bounds.len() + 1,
        "a bucket per bound and +Inf"
    );
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "cumulative");
    assert_eq!(*buckets.last().unwrap(), 28, "every response timed");
    // The three slow ones, and only they, took more than 0.25 s.
    let quarter = bounds
        .iter()
        .position(|&b| b == 0.25)
        .expect("a 0.25 bound");
    assert_eq!(buckets[quarter], 25, "{buckets:?}");
    let half = bounds.iter().position(|&b| b == 0.5).expect("a 0.5 bound");
    assert_eq!(buckets[half], 28, "{buckets:?}");
    // A TCP backend: its connections, no response times.
    let db = backend_of(&f, "db");
    assert_eq!(db["mode"], "tcp");
    assert!(db.get("buckets").is_none(), "{db}");
    let before = db["requests"].as_u64().expect("requests");
    let mut c = TcpStream::connect(("127.0.0.1", db_port)).expect("connect to db");
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "relayed");
    let after = feed(port);
    assert_eq!(
        backend_of(&after, "db")["requests"],
        before + 1,
        "a connection"
    );
    // `stats scope` cuts the feed as it cuts the page.
    let r = get(scoped_port, "/scoped;histograms");
    assert_eq!(r.status, 200);
    let scoped: serde_json::Value = serde_json::from_str(&r.text()).expect("JSON");
    let names: Vec<&str> = scoped["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db"]);
    // HAProxy's JSON is untouched: no histogram in it.
    let json = get(port, "/stats;json").text();
    assert!(json.starts_with('[') && !json.contains("buckets"), "{json}");
    // The page carries the charts' box, pointing at the feed.
    let page = get(port, "/stats").text();
    assert!(page.contains("<div id=\"charts\" data-feed=\"/stats;histograms\""));
    assert!(page.contains("window.ringlbCharts"), "the script is inline");
}

#[test]
fn charts_in_chromium_draw_rates_and_quantiles() {
    let Some(chromium) = chromium() else {
        eprintln!(
            "NOTE: chromium is not installed (apt-get install chromium): the charts' script \
             was not run; the feed is checked by feed_counts_the_traffic_and_json_keeps_haproxy_shape"
        );
        return;
    };
    let server = backend();
    let (port, db_port, scoped_port) = (free_port(), free_port(), free_port());
    let _lb = Ringlb::start(&config(port, db_port, scoped_port, server.port));
    let stop = Arc::new(AtomicBool::new(false));
    let (threads, done) = traffic(port, &stop);
    // Let the slow requests start completing before the page's first poll.
    thread::sleep(SLOW * 2);
    let dir = TestDir::new("stats-charts");
    let relay = delaying_relay(port);
    let url = format!("http://127.0.0.1:{}/stats", relay.port);
    // Virtual time runs the page's 2 s polls back to back (each held by the
    // relay); the points' rates use the feed's own clock (now_ms), so they
    // are true rates over the real time between two polls.
    let dom = chromium_run(
        &chromium,
        &dir.path().join("profile-dom"),
        &["--dump-dom", "--virtual-time-budget=20000"],
        &url,
    );
    let shot = dir.path().join("charts.png");
    chromium_run(
        &chromium,
        &dir.path().join("profile-shot"),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000",
            "--virtual-time-budget=20000",
        ],
        &url,
    );
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("traffic thread");
    }
    assert!(done.load(Ordering::SeqCst) > 20, "traffic flowed");

    let group = chart_group(&dom, "web");
    eprintln!("chart group: {group}");
    let num = |attr: &str| -> f64 {
        attribute(group, attr)
            .parse()
            .unwrap_or_else(|_| panic!("{attr} is a number in {group}"))
    };
    assert!(num("data-points") >= 3.0, "points drawn: {group}");
    assert!(num("data-max-rps") > 0.0, "requests per second: {group}");
    assert!(
        num("data-max-eps") > 0.0,
        "errors per second (the 503s): {group}"
    );
    let p99 = num("data-max-p99");
    assert!(
        (0.25..=0.5).contains(&p99),
        "p99 in the slow responses' bucket (0.25 s, 0.5 s]: {p99}; {group}"
    );
    assert!(
        num("data-max-p50") < 0.25,
        "p50 among the fast responses: {group}"
    );
    for key in ["rps", "eps", "p50", "p99"] {
        let line = format!("data-key=\"{key}\" data-n=\"");
        let at = dom
            .find(&line)
            .unwrap_or_else(|| panic!("no {key} polyline: {dom}"));
        let n: usize = dom[at + line.len()..]
            .split('"')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("data-n");
        assert!(n >= 1, "{key} has points");
    }
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(png.len() > 10_000, "a real picture, {} bytes", png.len());
    if let Some(keep) = std::env::var_os("RINGLB_CHARTS_SCREENSHOT") {
        std::fs::copy(&shot, &keep).expect("copy the screenshot");
    }
}

/// The opening tag of the chart group of backend `name` in the DOM.
fn chart_group<'a>(dom: &'a str, name: &str) -> &'a str {
    let at = dom
        .find(&format!("data-backend=\"{name}\""))
        .unwrap_or_else(|| panic!("no chart group for {name}: {dom}"));
    let start = dom[..at].rfind('<').expect("tag start");
    &dom[start..at + dom[at..].find('>').expect("tag end")]
}

/// The value of `attr` in a tag.
fn attribute<'a>(tag: &'a str, attr: &str) -> &'a str {
    let key = format!(" {attr}=\"");
    let at = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {tag}"))
        + key.len();
    &tag[at..at + tag[at..].find('"').expect("attribute end")]
}

/// The page's quantile and point functions, run in Chromium on fixed
/// histograms, give Prometheus' histogram_quantile results.
#[test]
fn quantiles_in_chromium_match_histogram_quantile() {
    let Some(chromium) = chromium() else {
        eprintln!("NOTE: chromium is not installed: the charts' script was not run");
        return;
    };
    let dir = TestDir::new("stats-charts-quantile");
    // Bounds 1, 2, 4 s and +Inf; cumulative counts 10, 20, 30, 40.
    let cases = r#"
      var c = window.ringlbCharts, b = [1, 2, 4], h = [10, 20, 30, 40];
      var got = [
        c.quantile(0.25, b, h),   // rank 10: the top of the first bucket
        c.quantile(0.5, b, h),    // rank 20: the top of the second
        c.quantile(0.6, b, h),    // rank 24: 2 + 2 * 4/10
        c.quantile(0.99, b, h),   // in +Inf: the highest finite bound
        c.quantile(0.5, b, [0, 0, 0, 0]), // empty: none
        c.quantile(0.5, b, [0, 4, 4, 4]), // all in (1, 2]: 1.5
        JSON.stringify(c.point({requests: 10, errors: 1, buckets: [1, 2, 3, 4]},
                               {requests: 30, errors: 5, buckets: [1, 2, 13, 24]}, 2, b)),
        c.point({requests: 10, errors: 1}, {requests: 3, errors: 1}, 2, b) // restarted
      ];
      document.getElementById("out").setAttribute("data-got", JSON.stringify(got));
    "#;
    let page = format!(
        "<!DOCTYPE html><html><body><div id=\"out\"></div><script>{}</script><script>{cases}</script></body></html>",
        include_str!("../src/stats/charts.js")
    );
    let file = dir.path().join("quantile.html");
    std::fs::write(&file, page).expect("write the page");
    let dom = chromium_run(
        &chromium,
        &dir.path().join("profile"),
        &["--dump-dom"],
        &format!("file://{}", file.display()),
    );
    let at = dom.find("data-got=\"").expect("results written") + "data-got=\"".len();
    let raw = dom[at..].split('"').next().unwrap().replace("&quot;", "\"");
    let got: Vec<serde_json::Value> = serde_json::from_str(&raw).expect("results JSON");
    assert_eq!(got[0], 1.0);
    assert_eq!(got[1], 2.0);
    assert!((got[2].as_f64().unwrap() - 2.8).abs() < 1e-9, "{}", got[2]);
    assert_eq!(got[3], 4.0);
    assert!(got[4].is_null());
    assert_eq!(got[5], 1.5);
    // 20 requests and 4 errors in 2 s; deltas [0, 0, 10, 20]: p50 at rank 10
    // is the top of (2, 4], p99 at rank 19.8 falls in +Inf.
    let p: serde_json::Value = serde_json::from_str(got[6].as_str().unwrap()).unwrap();
    assert_eq!(p["rps"], 10.0);
    assert_eq!(p["eps"], 2.0);
    assert_eq!(p["p50"], 4.0);
    assert_eq!(p["p99"], 4.0);
    assert!(got[7].is_null(), "a counter going back gives no point");
}
