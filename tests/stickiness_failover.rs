//! Cookie stickiness under load and failure, end to end, through the binary
//! with 2 workers, in front of [`common::JavaApp`] (a Java-like test
//! application, see `stickiness_modes.rs`).
//!
//! - 1,000 fresh connections carrying one cookie all reach its server, whichever
//!   worker accepts them.
//! - A cookie naming a server that health checks took DOWN is balanced to a live
//!   server (and, in insert mode, re-issued), unless `option persist`; one
//!   naming a server whose port is closed is redispatched with `retries` +
//!   `option redispatch`.
//! - The seed configuration's exact lines run the prefix flow.
//!
//! Check periods are 200 ms; every test ends within a few seconds.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    BufStream, JavaApp, ListenCfg, Ringlb, closed_port, connect, farm, first_contact, free_port,
    read_response, request, request_bytes, seen_by, server_line, set_cookies, set_cookies_named,
    spread_with_cookie, unique, wait_line,
};

/// The check period of the health-check tests.
const INTER: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------
// 1. 1,000 fresh connections, two workers
// ---------------------------------------------------------------------------

#[test]
fn sticky_cookie_holds_over_1000_fresh_connections_on_both_workers() {
    let s1 = JavaApp::start("s1", "/check");
    let s2 = JavaApp::start("s2", "/check");
    let cfg = ListenCfg::http(free_port())
        .line("cookie JSESSIONID prefix")
        .line(&server_line(&s1, "s1", ""))
        .line(&server_line(&s2, "s2", ""));
    // -d: ringlb names the worker of each request on stderr.
    let lb = Ringlb::start_with_args(&cfg.render(), &["-d"]);
    let port = lb.port();
    let req = request_bytes("/sticky", Some("a=1; JSESSIONID=s2~abc"), true);
    let start = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let req = req.clone();
            thread::spawn(move || {
                let mut wrong = Vec::new();
                for _ in 0..250 {
                    let mut s = connect(port);
                    s.write_all(&req).expect("write");
                    let mut bs = BufStream::new(s);
                    let r = read_response(&mut bs, false).expect("response");
                    if r.status != 200 || r.server() != "s2" {
                        wrong.push((r.status, r.server()));
                    }
                }
                wrong
            })
        })
        .collect();
    let wrong: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let took = start.elapsed();
    assert!(wrong.is_empty(), "{} went astray: {wrong:?}", wrong.len());
    assert_eq!(s1.served(), 0);
    let seen = s2.seen();
    assert_eq!(seen.len(), 1000);
    assert!(
        seen.iter().all(|s| s.cookies == ["a=1; JSESSIONID=abc"]),
        "the app saw a prefix"
    );
    assert!(
        took < Duration::from_secs(10),
        "1000 requests took {took:?}"
    );
    if common::binary() == common::RINGLB {
        let workers: HashSet<String> = lb
            .stderr()
            .lines()
            .filter(|l| l.contains(".clireq[w"))
            .filter_map(|l| l.split("clireq[").nth(1)?.split(']').next())
            .map(str::to_string)
            .collect();
        assert_eq!(workers.len(), 2, "requests reached workers {workers:?}");
    }
}

// ---------------------------------------------------------------------------
// 2. A server DOWN by health checks
// ---------------------------------------------------------------------------

/// The listen lines of a checked farm, with `cookie_line` and `extra`.
fn checked_farm(cookie_line: &str, extra: &[&str]) -> (JavaApp, JavaApp, Ringlb) {
    let mut lines = vec!["option httpchk GET /check", cookie_line];
    lines.extend_from_slice(extra);
    let (s1, s2, lb) = farm(&lines, "check inter 200 fall 2 rise 2");
    s1.wait_checks(1);
    s2.wait_checks(1);
    (s1, s2, lb)
}

/// Makes s1's check fail and waits for DOWN, timing it against fall x inter + inter.
fn take_s1_down(s1: &JavaApp, lb: &Ringlb) {
    let before = s1.checks();
    s1.set_check_status(500);
    let took = wait_line(lb, "Server test/s1 is DOWN", Duration::from_secs(3));
    assert!(
        took <= 2 * INTER + INTER,
        "DOWN after {took:?}, more than fall x inter + inter"
    );
    assert!(s1.checks() - before >= 2, "DOWN before fall checks");
}

#[test]
fn insert_cookie_for_a_down_server_is_balanced_and_reissued_then_sticks_again_when_up() {
    let (s1, s2, lb) = checked_farm("cookie SERVERID insert indirect nocache", &[]);
    let apps = [&s1, &s2];
    let r = request(lb.port(), &unique("up"), Some("SERVERID=s1"));
    assert_eq!(r.server(), "s1");
    assert!(set_cookies_named(&r, "SERVERID").is_empty());

    take_s1_down(&s1, &lb);
    let served = s1.served();
    for _ in 0..6 {
        let path = unique("down");
        let r = request(lb.port(), &path, Some("SERVERID=s1; JSESSIONID=abc"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.server(),
            "s2",
            "a cookie for a DOWN server must be ignored"
        );
        assert_eq!(
            set_cookies_named(&r, "SERVERID"),
            ["SERVERID=s2; path=/"],
            "{:?}",
            r.headers
        );
        assert_eq!(r.header("cache-control"), Some("private"));
        let (_, seen) = seen_by(&apps, &path);
        assert_eq!(seen.cookies, ["JSESSIONID=abc"]);
    }
    assert_eq!(s1.served(), served, "the DOWN server got requests");
    // With the new cookie the client stays on s2, nothing set again.
    let r = request(lb.port(), &unique("moved"), Some("SERVERID=s2"));
    assert_eq!(r.server(), "s2");
    assert!(set_cookies_named(&r, "SERVERID").is_empty());

    s1.set_check_status(200);
    let took = wait_line(&lb, "Server test/s1 is UP", Duration::from_secs(3));
    assert!(took <= 2 * INTER + INTER, "UP after {took:?}");
    for _ in 0..4 {
        let r = request(lb.port(), &unique("back-up"), Some("SERVERID=s1"));
        assert_eq!(r.server(), "s1", "an UP server's cookie sticks again");
        assert!(set_cookies_named(&r, "SERVERID").is_empty());
    }
}

#[test]
fn prefix_cookie_for_a_down_server_reaches_the_other_with_the_bare_id() {
    let (s1, s2, lb) = checked_farm("cookie JSESSIONID prefix", &[]);
    let apps = [&s1, &s2];
    // A real session on s1 first.
    let first = first_contact(lb.port(), &apps, "login");
    let id = s1.issued()[0].clone();
    assert_eq!(
        set_cookies(&first["s1"]),
        [format!("JSESSIONID=s1~{id}; Path=/")]
    );
    let cookie = format!("JSESSIONID=s1~{id}");

    take_s1_down(&s1, &lb);
    let served = s1.served();
    for _ in 0..6 {
        let path = unique("down");
        let r = request(lb.port(), &path, Some(&cookie));
        assert_eq!(r.status, 200);
        assert_eq!(r.server(), "s2");
        let (who, seen) = seen_by(&apps, &path);
        assert_eq!(who, "s2");
        assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
    }
    assert_eq!(s1.served(), served);
}

#[test]
fn option_persist_follows_the_cookie_to_a_down_server() {
    let (s1, s2, lb) = checked_farm(
        "cookie SERVERID insert indirect nocache",
        &["option persist"],
    );
    take_s1_down(&s1, &lb);
    let served = s1.served();
    for _ in 0..5 {
        let r = request(lb.port(), &unique("persist"), Some("SERVERID=s1"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.server(),
            "s1",
            "option persist: the cookie wins over DOWN"
        );
        assert!(
            set_cookies_named(&r, "SERVERID").is_empty(),
            "{:?}",
            r.headers
        );
    }
    assert_eq!(s1.served(), served + 5);
    // Without the cookie, the DOWN server gets nothing.
    let seen = spread_with_cookie(lb.port(), "no-cookie", None, 10);
    assert_eq!(seen.get("s2"), Some(&10), "{seen:?}");
    assert_eq!(s2.served(), 10);
}

// ---------------------------------------------------------------------------
// 3. redispatch
// ---------------------------------------------------------------------------

/// s1 on a closed port (no check), s2 a live app; `cookie_line` and `extra`.
fn dead_s1_farm(cookie_line: &str, extra: &[&str]) -> (JavaApp, Ringlb) {
    let s2 = JavaApp::start("s2", "/check");
    let mut cfg = ListenCfg::http(free_port())
        .line("retries 1")
        .line(cookie_line);
    for l in extra {
        cfg = cfg.line(l);
    }
    let cfg = cfg
        .line(&format!("server s1 127.0.0.1:{} cookie s1", closed_port()))
        .line(&server_line(&s2, "s2", ""));
    let lb = Ringlb::start(&cfg.render());
    (s2, lb)
}

#[test]
fn redispatch_serves_a_cookie_for_an_unreachable_server_elsewhere() {
    let (s2, lb) = dead_s1_farm(
        "cookie SERVERID insert indirect nocache",
        &["option redispatch"],
    );
    for _ in 0..5 {
        let r = request(lb.port(), &unique("redispatch"), Some("SERVERID=s1"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.server(), "s2");
        assert_eq!(
            set_cookies_named(&r, "SERVERID"),
            ["SERVERID=s2; path=/"],
            "the cookie follows the redispatch: {:?}",
            r.headers
        );
    }
    assert_eq!(s2.served(), 5);

    // Prefix mode: the retry reaches s2 and the app still sees the bare id.
    let (s2, lb) = dead_s1_farm("cookie JSESSIONID prefix", &["option redispatch"]);
    let path = unique("redispatch-prefix");
    let r = request(lb.port(), &path, Some("JSESSIONID=s1~abc"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.server(), "s2");
    assert_eq!(s2.seen_at(&path).unwrap().cookies, ["JSESSIONID=abc"]);
}

#[test]
fn without_redispatch_a_cookie_for_an_unreachable_server_gets_503() {
    let (s2, lb) = dead_s1_farm("cookie SERVERID insert indirect nocache", &[]);
    let r = request(lb.port(), &unique("no-redispatch"), Some("SERVERID=s1"));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(s2.served(), 0);
}

// ---------------------------------------------------------------------------
// 4. The seed configuration
// ---------------------------------------------------------------------------

#[test]
fn seed_config_lines_run_the_prefix_flow() {
    let one = JavaApp::start("xvadm01", "/l7check.html");
    let two = JavaApp::start("xvadm02", "/l7check.html");
    let apps = [&one, &two];
    let port = free_port();
    // configs/seed-webfarm.cfg as shipped, on test ports, with 2 workers.
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/seed-webfarm.cfg"
    ))
    .expect("read the seed config");
    for line in [
        "    cookie SERVERID rewrite\n    cookie JSESSIONID prefix\n",
        "    option httpclose\n",
        "    option forwardfor\n",
        " cookie admin_portal_1 ",
        " cookie admin_portal_2 ",
    ] {
        assert!(seed.contains(line), "the seed config lacks {line:?}");
    }
    let mut cfg = seed
        .replacen("global\n", "global\n    nbthread 2\n", 1)
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", one.port()))
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", two.port()));
    if common::binary() != common::RINGLB {
        // HAProxy 2.x refuses the address on the `listen` line (ringlb warns).
        let listen = format!("listen webfarm 127.0.0.1:{port}\n");
        assert!(cfg.contains(&listen), "{cfg}");
        cfg = cfg.replace(
            &listen,
            &format!("listen webfarm\n    bind 127.0.0.1:{port}\n"),
        );
    }
    let lb = Ringlb::start(&cfg);
    assert_eq!(lb.port(), port);

    let value = |app: &JavaApp| {
        if app.name() == "xvadm01" {
            "admin_portal_1"
        } else {
            "admin_portal_2"
        }
    };
    let first = first_contact(port, &apps, "login");
    for app in apps {
        let r = &first[app.name()];
        assert!(r.says_close(), "option httpclose: {:?}", r.headers);
        let id = app.issued()[0].clone();
        let v = value(app);
        assert_eq!(set_cookies(r), [format!("JSESSIONID={v}~{id}; Path=/")]);

        for _ in 0..4 {
            let path = unique("again");
            let r = request(port, &path, Some(&format!("JSESSIONID={v}~{id}")));
            assert_eq!(r.server(), app.name());
            assert!(
                r.text().contains(&format!("cookie=JSESSIONID={id}\n")),
                "{}",
                r.text()
            );
            let (who, seen) = seen_by(&apps, &path);
            assert_eq!(who, app.name());
            assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
            assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
            assert_eq!(seen.header("connection"), Some("close"));
        }
    }
    // The last `cookie` line wins: SERVERID is not rewritten.
    let r = request(
        port,
        &unique("setserverid"),
        Some("JSESSIONID=admin_portal_2~k"),
    );
    assert_eq!(r.server(), "xvadm02");
    assert_eq!(set_cookies(&r), ["SERVERID=anything; path=/"]);
}
