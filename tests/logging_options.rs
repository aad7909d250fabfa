//! Logging options and messages end to end, next to HAProxy 2.6 on the
//! same configuration: the stop lines (`Proxy X stopped (cumulated conns:
//! ...)`), `option dontlog-normal` and `option log-separate-errors`. The
//! line-by-line format tests are in `logging.rs`.

mod common;

use std::thread;
use std::time::Duration;

use common::{HttpBackend, HttpClient, Ringlb, Syslog, closed_port, connect, free_port};

/// The message and PRI of a syslog line from either program (`ringlb[pid]:`
/// or `haproxy[pid]:`).
fn pri_and_msg(line: &str) -> (u32, String) {
    let rest = line.strip_prefix('<').expect("starts with <PRI>");
    let (pri, rest) = rest.split_once('>').unwrap();
    let (_, msg) = rest.split_once("]: ").expect("]: after the pid");
    (pri.parse().unwrap(), msg.trim_end().to_string())
}

/// A frontend, a backend and a listen section logging to `syslog`.
fn three_proxies(syslog: u16, fe: u16, li: u16, server: u16, extra: &str) -> String {
    format!(
        "global\n    log 127.0.0.1:{syslog} local0\n\
         defaults\n    mode http\n    log global\n{extra}\
         \x20   timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{server}\n\
         listen li\n    bind 127.0.0.1:{li}\n    server s1 127.0.0.1:{server}\n"
    )
}

/// Soft stop (SIGUSR1) says, for each proxy, HAProxy's
/// `Proxy <name> stopped (cumulated conns: FE: <n>, BE: <m>).` at warning:
/// the same lines, levels and counts as HAProxy 2.6 on the same config and
/// traffic (two requests on one connection to `fe`, one to `li`, and the
/// start-up probe of each port, an empty connection). HAProxy's
/// own internal `<HTTPCLIENT>` proxy is left out of the comparison.
#[test]
fn soft_stop_says_each_proxy_stopped_with_haproxys_counts() {
    let be = HttpBackend::start("a");
    let run = |haproxy: bool| -> Vec<(u32, String)> {
        let mut syslog = Syslog::new();
        let (fe, li) = (free_port(), free_port());
        let cfg = three_proxies(syslog.port(), fe, li, be.port(), "");
        let stop = |sig: &dyn Fn()| {
            let mut c = HttpClient::connect(fe);
            assert_eq!(c.get("/one").status, 200);
            assert_eq!(c.get("/two").status, 200);
            drop(c);
            assert_eq!(HttpClient::connect(li).get("/three").status, 200);
            thread::sleep(Duration::from_millis(200));
            sig();
        };
        let _keep = if haproxy {
            let Some(h) = common::Haproxy::start(&cfg, fe) else {
                return Vec::new();
            };
            // Ringlb::start probes each bind port once; the helper here only
            // `fe`: probe `li` too, so both count the same connections.
            drop(connect(li));
            stop(&|| h.signal(libc::SIGUSR1));
            Some(h)
        } else {
            let mut lb = Ringlb::start(&cfg);
            stop(&|| lb.signal(libc::SIGUSR1));
            assert!(lb.wait_exit(Duration::from_secs(5)).is_some(), "exits");
            let err = lb.stderr();
            assert!(
                err.contains("[WARNING] Proxy fe stopped (cumulated conns: FE: 2, BE: 0)."),
                "{err}"
            );
            None
        };
        syslog.wait("saying be stopped", |l| l.contains("Proxy be stopped"));
        syslog.collect(Duration::from_millis(200));
        syslog
            .with(" stopped (cumulated conns")
            .iter()
            .map(|l| pri_and_msg(l))
            .filter(|(_, m)| !m.contains("<HTTPCLIENT>"))
            .collect()
    };
    let ours = run(false);
    // local0.warning = 16 * 8 + 4.
    assert_eq!(
        ours,
        [
            (
                132,
                "Proxy fe stopped (cumulated conns: FE: 2, BE: 0).".into()
            ),
            (
                132,
                "Proxy li stopped (cumulated conns: FE: 2, BE: 1).".into()
            ),
            (
                132,
                "Proxy be stopped (cumulated conns: FE: 0, BE: 2).".into()
            ),
        ]
    );
    let theirs = run(true);
    if !theirs.is_empty() {
        assert_eq!(ours, theirs, "HAProxy 2.6 says the same");
    }
}

/// `(PRI, proxy, status)` of each httplog line carrying a request.
fn traffic_lines(syslog: &Syslog) -> Vec<(u32, String, i32)> {
    let mut v: Vec<(u32, String, i32)> = syslog
        .with(" HTTP/1.1\"")
        .iter()
        .map(|l| {
            let (pri, msg) = pri_and_msg(l);
            let f: Vec<&str> = msg.split_whitespace().collect();
            (pri, f[2].to_string(), f[5].parse().unwrap())
        })
        .collect();
    v.sort();
    v
}

/// `option dontlog-normal` drops the line of a 200 and keeps the 503's;
/// `option log-separate-errors` sends the 503's at `err` (local0.err = 131)
/// and leaves normal lines at info (134): the same lines, at the same
/// levels, as HAProxy 2.6 on the same config and requests.
#[test]
fn dontlog_normal_and_log_separate_errors_as_haproxy() {
    let be = HttpBackend::start("a");
    let dead = closed_port();
    let run = |haproxy: bool| -> Option<Vec<(u32, String, i32)>> {
        let mut syslog = Syslog::new();
        let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
        let listen = |name: &str, port: u16, server: u16, opts: &str| {
            format!(
                "listen {name}\n    bind 127.0.0.1:{port}\n{opts}\
                 \x20   server s 127.0.0.1:{server}\n"
            )
        };
        let both = "    option dontlog-normal\n    option log-separate-errors\n";
        let cfg = format!(
            "global\n    log 127.0.0.1:{} local0\n\
             defaults\n    mode http\n    log global\n    option httplog\n    option dontlognull\n\
             \x20   retries 0\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
             {}{}{}{}",
            syslog.port(),
            listen("quiet", ports[0], be.port(), both),
            listen("down", ports[1], dead, both),
            listen(
                "sep",
                ports[2],
                be.port(),
                "    option log-separate-errors\n"
            ),
            listen("plain", ports[3], dead, ""),
        );
        let _h;
        let _lb;
        if haproxy {
            _h = Some(common::Haproxy::start(&cfg, ports[0])?);
        } else {
            _lb = Ringlb::start(&cfg);
        }
        let statuses: Vec<u16> = ports
            .iter()
            .map(|&p| HttpClient::connect(p).get("/x").status)
            .collect();
        assert_eq!(statuses, [200, 503, 200, 503], "haproxy: {haproxy}");
        syslog.wait("for the plain 503", |l| l.contains(" plain plain/"));
        syslog.collect(Duration::from_millis(300));
        Some(traffic_lines(&syslog))
    };
    let ours = run(false).unwrap();
    assert_eq!(
        ours,
        [
            (131, "down".into(), 503),
            (134, "plain".into(), 503),
            (134, "sep".into(), 200),
        ]
    );
    if let Some(theirs) = run(true) {
        assert_eq!(ours, theirs, "HAProxy 2.6 logs the same");
    }
}

/// Any number of `log` lines per section, as HAProxy 2.x (1.4 kept two):
/// three global targets and one of the proxy's own each get the line.
#[test]
fn every_log_target_gets_the_line() {
    let be = HttpBackend::start("s");
    let mut sinks: Vec<Syslog> = (0..4).map(|_| Syslog::new()).collect();
    let port = free_port();
    let cfg = format!(
        "global\n    log 127.0.0.1:{} local0\n    log 127.0.0.1:{} local1\n    \
         log 127.0.0.1:{} local2\n\
         defaults\n    mode http\n    option httplog\n    timeout client 5s\n    \
         timeout server 5s\n    timeout connect 5s\n\
         listen li\n    bind 127.0.0.1:{port}\n    log global\n    log 127.0.0.1:{} local3\n    \
         server s1 127.0.0.1:{}\n",
        sinks[0].port(),
        sinks[1].port(),
        sinks[2].port(),
        sinks[3].port(),
        be.port()
    );
    let _rl = Ringlb::start(&cfg);
    let mut c = HttpClient::connect(port);
    assert_eq!(c.get("/four").status, 200);
    for (i, s) in sinks.iter_mut().enumerate() {
        let line = s.wait("with the request", |l| l.contains("GET /four"));
        let (pri, _) = pri_and_msg(&line);
        assert_eq!(
            pri / 8,
            16 + i as u32,
            "target {i} got another facility: {line}"
        );
    }
}
