//! Health checks end to end, through the binary with 2 workers: an HTTP check
//! that starts failing takes its server DOWN within `fall` periods (plus one)
//! and traffic avoids it until `rise` successes bring it back; a backup server
//! serves only when every active one is down; a plain TCP check marks a closed
//! port DOWN; `port`/`addr` redirect the check; a silent server is a Layer7
//! timeout; the log lines read as HAProxy's; the seed's exact lines work.
//!
//! Periods are 200 ms so each test runs in a couple of seconds.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{
    CheckedBackend, HttpBackend, ListenCfg, Ringlb, SilentBackend, closed_port, free_port, get,
    spread,
};

/// The check period used by these tests.
const INTER: Duration = Duration::from_millis(200);

/// Waits until ringlb's stderr has a line containing `needle`; returns that
/// line and the time waited. Panics (with stderr) after `limit`.
fn wait_line(lb: &Ringlb, needle: &str, limit: Duration) -> (String, Duration) {
    let start = Instant::now();
    loop {
        if let Some(l) = lb.stderr().lines().find(|l| l.contains(needle)) {
            return (l.to_string(), start.elapsed());
        }
        assert!(
            start.elapsed() < limit,
            "no line with {needle:?} within {limit:?}; stderr:\n{}",
            lb.stderr()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// `check duration: 12ms` → `check duration: Nms`, so lines compare exactly.
fn normalize(line: &str) -> String {
    let key = "check duration: ";
    let Some(i) = line.find(key) else {
        return line.to_string();
    };
    let start = i + key.len();
    let digits = line[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .count();
    format!("{}N{}", &line[..start], &line[start + digits..])
}

fn checked(name: &str, port: u16, opts: &str) -> String {
    format!("server {name} 127.0.0.1:{port} check {opts}")
}

#[test]
fn http_check_failure_takes_server_down_within_fall_periods_and_rise_brings_it_back() {
    let a = CheckedBackend::start("a", "/check");
    let b = CheckedBackend::start("b", "/check");
    let opts = "inter 200 rise 2 fall 3";
    let cfg = ListenCfg::http(free_port())
        .line("option httpchk GET /check")
        .line(&checked("a", a.port(), opts))
        .line(&checked("b", b.port(), opts));
    let lb = Ringlb::start(&cfg.render());
    // One passed check makes a server fully UP (HAProxy's counter jumps to the top).
    a.wait_checks(1);
    b.wait_checks(1);
    // Each worker rotates on its own; both servers get a share either way.
    let seen = spread(lb.port(), 10);
    assert!(
        seen.get("a") >= Some(&3) && seen.get("b") >= Some(&3),
        "{seen:?}"
    );

    let before = a.checks();
    a.set_check_status(500);
    let (line, took) = wait_line(&lb, "Server test/a is DOWN", Duration::from_secs(3));
    assert!(
        took <= 3 * INTER + INTER,
        "DOWN after {took:?}, more than fall x inter + inter"
    );
    assert!(
        a.checks() - before >= 3,
        "DOWN after {} failed checks, fewer than fall",
        a.checks() - before
    );
    assert_eq!(
        normalize(&line),
        "[WARNING] Server test/a is DOWN, reason: Layer7 wrong status, code: 500, info: \
         \"Internal Server Error\", check duration: Nms. 1 active and 0 backup servers left. \
         0 sessions active, 0 requeued, 0 remaining in queue."
    );
    let served = a.served();
    let seen = spread(lb.port(), 20);
    assert_eq!(
        seen.get("b"),
        Some(&20),
        "traffic must avoid the DOWN server: {seen:?}"
    );
    assert_eq!(a.served(), served);

    a.set_check_status(200);
    let (line, took) = wait_line(&lb, "Server test/a is UP", Duration::from_secs(3));
    assert!(took <= 2 * INTER + INTER, "UP after {took:?}");
    assert_eq!(
        normalize(&line),
        "[WARNING] Server test/a is UP, reason: Layer7 check passed, code: 200, check duration: \
         Nms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    );
    let seen = spread(lb.port(), 20);
    assert!(seen.get("a") >= Some(&6), "a gets traffic again: {seen:?}");
    assert!(
        !lb.stderr().contains("Health check for"),
        "no per-check lines without option log-health-checks"
    );
}

#[test]
fn log_health_checks_lines_are_haproxys() {
    let a = CheckedBackend::start("a", "/check");
    let b = CheckedBackend::start("b", "/check");
    let opts = "inter 200 rise 2 fall 3";
    let cfg = ListenCfg::http(free_port())
        .line("option httpchk GET /check")
        .line("option log-health-checks")
        .line(&checked("a", a.port(), opts))
        .line(&checked("b", b.port(), opts));
    let lb = Ringlb::start(&cfg.render());
    a.wait_checks(2);
    a.set_check_status(500);
    wait_line(&lb, "Server test/a is DOWN", Duration::from_secs(3));
    a.set_check_status(200);
    wait_line(&lb, "Server test/a is UP", Duration::from_secs(3));

    let got: Vec<String> = lb
        .stderr()
        .lines()
        .filter(|l| l.contains("test/a"))
        .map(normalize)
        .collect();
    let passed = "reason: Layer7 check passed, code: 200, check duration: Nms";
    let failed = "reason: Layer7 wrong status, code: 500, info: \"Internal Server Error\", \
                  check duration: Nms";
    let want = vec![
        format!("[WARNING] Health check for server test/a succeeded, {passed}, status: 3/3 UP."),
        format!("[WARNING] Health check for server test/a failed, {failed}, status: 2/3 UP."),
        format!("[WARNING] Health check for server test/a failed, {failed}, status: 1/3 UP."),
        format!("[WARNING] Health check for server test/a failed, {failed}, status: 0/2 DOWN."),
        // With log-health-checks the reason is on the line above; HAProxy does not repeat it.
        "[WARNING] Server test/a is DOWN. 1 active and 0 backup servers left. 0 sessions active, \
         0 requeued, 0 remaining in queue."
            .into(),
        format!("[WARNING] Health check for server test/a succeeded, {passed}, status: 1/2 DOWN."),
        format!("[WARNING] Health check for server test/a succeeded, {passed}, status: 3/3 UP."),
        "[WARNING] Server test/a is UP. 2 active and 0 backup servers online. 0 sessions \
         requeued, 0 total in queue."
            .into(),
    ];
    assert_eq!(got, want);
}

#[test]
fn backup_serves_only_when_every_active_server_is_down() {
    let a = CheckedBackend::start("a", "/check");
    let b = CheckedBackend::start("b", "/check");
    let c = CheckedBackend::start("c", "/check");
    let opts = "inter 200 rise 2 fall 2";
    let cfg = ListenCfg::http(free_port())
        .line("option httpchk GET /check")
        .line(&checked("a", a.port(), opts))
        .line(&checked("b", b.port(), opts))
        .line(&format!("{} backup", checked("c", c.port(), opts)));
    let lb = Ringlb::start(&cfg.render());
    c.wait_checks(1);
    let seen = spread(lb.port(), 20);
    assert_eq!(
        seen.get("c"),
        None,
        "backup used while actives are up: {seen:?}"
    );

    a.set_check_status(500);
    wait_line(&lb, "Server test/a is DOWN", Duration::from_secs(3));
    let seen = spread(lb.port(), 10);
    assert_eq!(seen.get("b"), Some(&10), "one active left: {seen:?}");

    b.set_check_status(503);
    let (line, _) = wait_line(&lb, "Server test/b is DOWN", Duration::from_secs(3));
    assert!(
        line.ends_with(
            ". 0 active and 1 backup servers left. Running on backup. 0 sessions active, \
             0 requeued, 0 remaining in queue."
        ),
        "{line}"
    );
    let seen = spread(lb.port(), 10);
    assert_eq!(
        seen.get("c"),
        Some(&10),
        "all actives down: the backup serves: {seen:?}"
    );
    assert!(!lb.stderr().contains("has no server available"));

    a.set_check_status(200);
    let (line, _) = wait_line(&lb, "Server test/a is UP", Duration::from_secs(3));
    assert!(
        line.ends_with(
            ". 1 active and 1 backup servers online. 0 sessions requeued, 0 total in queue."
        ),
        "{line}"
    );
    let served = c.served();
    let seen = spread(lb.port(), 10);
    assert_eq!(seen.get("a"), Some(&10), "an active is back: {seen:?}");
    assert_eq!(c.served(), served);
}

#[test]
fn tcp_check_marks_a_closed_port_down() {
    let b = HttpBackend::start("b");
    let dead = closed_port();
    let cfg = ListenCfg::http(free_port())
        .line(&checked("a", dead, "inter 200 fall 3"))
        .line(&checked("b", b.port(), "inter 200 fall 3"));
    let lb = Ringlb::start(&cfg.render());
    // A server starts UP with one failure to go (HAProxy's default init-state):
    // the first refused connect takes it down.
    let (line, took) = wait_line(&lb, "Server test/a is DOWN", Duration::from_secs(3));
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(
        normalize(&line),
        "[WARNING] Server test/a is DOWN, reason: Layer4 connection problem, info: \
         \"Connection refused\", check duration: Nms. 1 active and 0 backup servers left. \
         0 sessions active, 0 requeued, 0 remaining in queue."
    );
    let seen = spread(lb.port(), 10);
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    thread::sleep(2 * INTER);
    assert!(!lb.stderr().contains("test/b is DOWN"), "{}", lb.stderr());
}

#[test]
fn last_server_down_alerts_and_requests_get_503() {
    let cfg = ListenCfg::http(free_port()).line(&checked("a", closed_port(), "inter 200"));
    let lb = Ringlb::start(&cfg.render());
    let (line, _) = wait_line(&lb, "has no server available!", Duration::from_secs(3));
    // A `listen` section is a "proxy" in HAProxy's words.
    assert_eq!(line, "[ALERT] proxy test has no server available!");
    let (down, _) = wait_line(&lb, "Server test/a is DOWN", Duration::from_secs(1));
    assert!(
        down.contains(". 0 active and 0 backup servers left."),
        "{down}"
    );
    assert_eq!(get(lb.port(), "/").status, 503);
}

#[test]
fn silent_server_is_a_layer7_timeout() {
    let s = SilentBackend::start();
    let b = HttpBackend::start("b");
    let cfg = ListenCfg::http(free_port())
        .line("option httpchk")
        .line("timeout check 100ms")
        .line(&checked("s", s.port(), "inter 200"))
        .line(&checked("b", b.port(), "inter 200"));
    let lb = Ringlb::start(&cfg.render());
    let (line, _) = wait_line(&lb, "Server test/s is DOWN", Duration::from_secs(3));
    assert!(
        line.contains("is DOWN, reason: Layer7 timeout, check duration: "),
        "{line}"
    );
    // `option httpchk` alone sends OPTIONS / HTTP/1.0, which HttpBackend answers 200.
    thread::sleep(2 * INTER);
    assert!(!lb.stderr().contains("test/b is DOWN"), "{}", lb.stderr());
}

#[test]
fn port_and_addr_redirect_the_check_and_http11_sends_host() {
    let traffic = HttpBackend::start("a");
    let health = CheckedBackend::start("a-health", "/check");
    let b = HttpBackend::start("b");
    let cfg = ListenCfg::http(free_port())
        .line(r"option httpchk GET /check HTTP/1.1\r\nHost:\ health.example")
        .line(&checked(
            "a",
            traffic.port(),
            &format!("inter 200 fall 2 port {} addr 127.0.0.1", health.port()),
        ))
        .line(&format!("server b 127.0.0.1:{}", b.port()));
    let lb = Ringlb::start(&cfg.render());
    health.wait_checks(1);
    assert_eq!(
        String::from_utf8_lossy(&health.check_requests()[0]),
        // HAProxy 2.6's bytes (`http_checks.rs` compares them).
        "GET /check HTTP/1.1\r\nhost: health.example\r\nconnection: close\r\n\r\n"
    );
    let seen = spread(lb.port(), 10);
    assert!(seen.get("a") >= Some(&3), "{seen:?}");
    assert!(
        traffic.requests().iter().all(|r| r.path != "/check"),
        "checks went to the traffic port"
    );

    health.set_check_status(500);
    wait_line(&lb, "Server test/a is DOWN", Duration::from_secs(3));
    let seen = spread(lb.port(), 10);
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
}

#[test]
fn seed_config_check_lines_work() {
    let one = CheckedBackend::start("xvadm01", "/l7check.html");
    let two = CheckedBackend::start("xvadm02", "/l7check.html");
    let port = free_port();
    // The seed's `listen webfarm`, with loopback addresses and `inter 200`
    // instead of `inter 1000` (the line keeps its shape) so the test is quick.
    let cfg = format!(
        "global\n    nbthread 2\n\
         defaults\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen webfarm\n    bind 127.0.0.1:{port}\n    mode http\n\
         \x20   option httpchk GET /l7check.html HTTP/1.0\n    option log-health-checks\n\
         \x20   option forwardfor\n    option httpclose\n    cookie JSESSIONID prefix\n\
         \x20   balance roundrobin\n\
         \x20   server xvadm01.ncli 127.0.0.1:{} cookie admin_portal_1 check inter 200 rise 2 fall 5\n\
         \x20   server xvadm02.ncli 127.0.0.1:{} cookie admin_portal_2 check inter 200 rise 2 fall 5\n",
        one.port(),
        two.port()
    );
    let lb = Ringlb::start(&cfg);
    one.wait_checks(1);
    assert_eq!(
        one.check_requests()[0],
        b"GET /l7check.html HTTP/1.0\r\n\r\n"
    );

    one.set_check_status(500);
    let (line, took) = wait_line(
        &lb,
        "Server webfarm/xvadm01.ncli is DOWN",
        Duration::from_secs(3),
    );
    assert!(took <= 5 * INTER + INTER, "DOWN after {took:?}");
    assert_eq!(
        line,
        "[WARNING] Server webfarm/xvadm01.ncli is DOWN. 1 active and 0 backup servers left. \
         0 sessions active, 0 requeued, 0 remaining in queue."
    );
    let statuses: Vec<String> = lb
        .stderr()
        .lines()
        .filter(|l| l.contains("Health check for server webfarm/xvadm01.ncli failed"))
        .map(|l| l.rsplit("status: ").next().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        statuses,
        ["4/5 UP.", "3/5 UP.", "2/5 UP.", "1/5 UP.", "0/2 DOWN."]
    );
    let seen = spread(port, 10);
    assert_eq!(seen.get("xvadm02"), Some(&10), "{seen:?}");

    one.set_check_status(200);
    wait_line(
        &lb,
        "Server webfarm/xvadm01.ncli is UP",
        Duration::from_secs(3),
    );
    let seen = spread(port, 10);
    assert!(seen.get("xvadm01") >= Some(&3), "{seen:?}");
}
