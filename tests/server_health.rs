//! Server state beside the checks, end to end through the binary and, for
//! each scenario, through HAProxy 2.6 on the same configuration text:
//! `observe layer7` with `error-limit`/`on-error mark-down`, `track` (a chain
//! across backends), `slowstart`, `on-marked-down shutdown-sessions`,
//! `on-marked-up shutdown-backup-sessions` and `option allbackups`.
//!
//! Every scenario runs on ringlb, then on HAProxy on the same text, with the
//! same assertions, and the results are compared. Log lines are compared
//! from "Server " on: ringlb prints `[WARNING] ` before them, HAProxy
//! `[WARNING]  (<pid>) : `.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    BufStream, CheckedBackend, Haproxy, HttpBackend, Ringlb, TcpBackend, TestDir, closed_port,
    echo_until_eof, free_port, get, parse_stats_csv, spread, stats_command, stats_row,
};

const TIMEOUTS: &str = "    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n";

/// Waits until `stderr()` has a line containing `needle`; returns it from "Server " on.
fn wait_line(stderr: &dyn Fn() -> String, needle: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Some(l) = stderr().lines().find(|l| l.contains(needle)) {
            return l[l.find("Server ").unwrap_or(0)..].to_string();
        }
        assert!(
            start.elapsed() < limit,
            "no line with {needle:?} within {limit:?}; stderr:\n{}",
            stderr()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `scenario` on ringlb, then on HAProxy when installed; returns both results.
fn both<T>(config: &str, port: u16, scenario: impl Fn(&dyn Fn() -> String) -> T) -> (T, Option<T>) {
    let ours = {
        let lb = Ringlb::start(config);
        scenario(&|| lb.stderr())
    };
    // Until ringlb's listener is gone, HAProxy's shares the port (SO_REUSEPORT)
    // and a connection landing on the closing one is reset.
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_ok()
        && start.elapsed() < Duration::from_secs(3)
    {
        thread::sleep(Duration::from_millis(10));
    }
    let theirs = Haproxy::start(config, port).map(|h| scenario(&|| h.stderr()));
    (ours, theirs)
}

/// An HTTP server whose `/check` answers 200 and every other path 500.
fn failing_backend(name: &'static str) -> TcpBackend {
    TcpBackend::start(move |s| {
        let mut bs = BufStream::new(s);
        let Ok(Some(head)) = bs.read_head() else {
            return;
        };
        let status = if head.starts_with(b"GET /check ") {
            "200 OK"
        } else {
            "500 Internal Server Error"
        };
        let _ = bs.stream.write_all(
            format!(
                "HTTP/1.1 {status}\r\nX-Server: {name}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        // Close after the client does: an early close could reset the response.
        let _ = bs.stream.shutdown(std::net::Shutdown::Write);
        let _ = bs.stream.read(&mut [0u8; 512]);
    })
}

/// The status of `GET <path>` on a fresh connection, `None` if the exchange fails.
fn status_of(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    std::str::from_utf8(out.get(9..12)?).ok()?.parse().ok()
}

#[test]
fn observe_layer7_marks_a_5xx_server_down_while_its_check_passes() {
    let bad = failing_backend("bad");
    let good = HttpBackend::start("good");
    let port = free_port();
    let config = format!(
        "listen test\n    mode http\n    bind 127.0.0.1:{port}\n{TIMEOUTS}    balance roundrobin\n    \
         option httpchk GET /check\n    \
         server bad 127.0.0.1:{} check inter 1s fastinter 100ms rise 2 observe layer7 error-limit 2 on-error mark-down\n    \
         server good 127.0.0.1:{} check inter 1s\n",
        bad.port,
        good.port()
    );
    let (ours, theirs) = both(&config, port, |stderr| {
        let down = "Server test/bad is DOWN";
        let mut statuses = Vec::new();
        let start = Instant::now();
        while !stderr().contains(down) {
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{statuses:?}\n{}",
                stderr()
            );
            statuses.push(status_of(port, "/x"));
            thread::sleep(Duration::from_millis(20));
        }
        let line = wait_line(stderr, down, Duration::from_secs(1));
        // DOWN by observation: every request now goes to the good server.
        for i in 0..6 {
            let r = get(port, &format!("/after/{i}"));
            assert_eq!((r.status, r.server()), (200, "good".to_string()), "{line}");
        }
        // The check still passes: `rise` brings it back.
        let up = wait_line(stderr, "Server test/bad is UP", Duration::from_secs(5));
        assert!(
            statuses.iter().filter(|&&s| s == Some(500)).count() >= 2,
            "{statuses:?}"
        );
        (line, up)
    });
    let cut = |l: &str| l[..l.find(" active").unwrap_or(l.len())].to_string();
    assert_eq!(
        cut(&ours.0),
        "Server test/bad is DOWN, reason: Health analyze, info: \"Detected 2 consecutive errors, \
         last one was: Wrong http response\". 1"
    );
    assert!(
        ours.1
            .starts_with("Server test/bad is UP, reason: Layer7 check passed, code: 200")
    );
    if let Some(theirs) = theirs {
        assert_eq!(cut(&ours.0), cut(&theirs.0), "the DOWN line as HAProxy's");
    }
}

#[test]
fn track_follows_the_tracked_servers_checks_along_a_chain() {
    let a = CheckedBackend::start("a", "/check");
    let b = HttpBackend::start("b");
    let c = HttpBackend::start("c");
    let port = free_port();
    let config = format!(
        "listen test\n    mode http\n    bind 127.0.0.1:{port}\n{TIMEOUTS}    balance roundrobin\n    \
         option httpchk GET /check\n    \
         server s1 127.0.0.1:{} check inter 200ms rise 1 fall 1\n    \
         server s2 127.0.0.1:{} track s1\n    server s3 127.0.0.1:{}\n\
         backend other\n    mode http\n{TIMEOUTS}    server t1 127.0.0.1:{} track test/s2\n",
        a.port(),
        b.port(),
        c.port(),
        b.port()
    );
    let (ours, theirs) = both(&config, port, |stderr| {
        a.set_check_status(200);
        a.wait_checks(a.checks() + 1);
        let seen = spread(port, 9);
        assert_eq!(seen.len(), 3, "{seen:?}");
        a.set_check_status(500);
        let lines = vec![
            wait_line(stderr, "Server test/s2 is DOWN", Duration::from_secs(3)),
            wait_line(stderr, "Server other/t1 is DOWN", Duration::from_secs(1)),
        ];
        let seen = spread(port, 6);
        assert_eq!(seen.get("c"), Some(&6), "s1 and s2 are DOWN: {seen:?}");
        a.set_check_status(200);
        let mut lines = lines;
        lines.push(wait_line(
            stderr,
            "Server test/s2 is UP",
            Duration::from_secs(3),
        ));
        lines.push(wait_line(
            stderr,
            "Server other/t1 is UP",
            Duration::from_secs(1),
        ));
        let seen = spread(port, 9);
        assert_eq!(seen.len(), 3, "back UP: {seen:?}");
        lines
    });
    assert_eq!(
        ours,
        [
            "Server test/s2 is DOWN via test/s1. 1 active and 0 backup servers left. 0 sessions \
             active, 0 requeued, 0 remaining in queue.",
            "Server other/t1 is DOWN via test/s2. 0 active and 0 backup servers left. 0 sessions \
             active, 0 requeued, 0 remaining in queue.",
            "Server test/s2 is UP via test/s1. 3 active and 0 backup servers online. 0 sessions \
             requeued, 0 total in queue.",
            "Server other/t1 is UP via test/s2. 1 active and 0 backup servers online. 0 sessions \
             requeued, 0 total in queue.",
        ]
    );
    if let Some(theirs) = theirs {
        assert_eq!(ours, theirs, "as HAProxy");
    }
}

/// Counts per server name of `n` requests sent back to back.
fn burst(port: u16, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for i in 0..n {
        let r = get(port, &format!("/s/{i}"));
        assert_eq!(r.status, 200);
        *seen.entry(r.server()).or_insert(0) += 1;
    }
    seen
}

/// The `weight` column of `show stat` for test/<server>.
fn stat_weight(sock: &std::path::Path, server: &str) -> String {
    let rows = parse_stats_csv(&stats_command(sock, "show stat"));
    stats_row(&rows, "test", server)["weight"].clone()
}

#[test]
fn slowstart_ramps_a_returning_server_up_over_its_time() {
    let a = HttpBackend::start("a");
    let b = std::sync::Mutex::new(HttpBackend::start("b"));
    let b_port = b.lock().unwrap().port();
    let port = free_port();
    let dir = TestDir::new("slowstart");
    let sock = dir.path().join("admin.sock");
    let config = format!(
        "global\n    stats socket {} level admin\n\
         listen test\n    mode http\n    bind 127.0.0.1:{port}\n{TIMEOUTS}    balance roundrobin\n    \
         server a 127.0.0.1:{} weight 16 check inter 100ms rise 1 fall 1\n    \
         server b 127.0.0.1:{b_port} weight 16 check inter 100ms rise 1 fall 1 slowstart 4s\n",
        sock.display(),
        a.port()
    );
    let (ours, theirs) = both(&config, port, |stderr| {
        // Not applied at startup: both share at once.
        let seen = burst(port, 20);
        assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
        assert_eq!(stat_weight(&sock, "b"), "16");
        b.lock().unwrap().tcp.kill();
        wait_line(stderr, "Server test/b is DOWN", Duration::from_secs(3));
        *b.lock().unwrap() = HttpBackend::start_on("b", b_port);
        let up = "Server test/b is UP";
        let ups = stderr().matches(up).count();
        let start = Instant::now();
        while stderr().matches(up).count() == ups {
            assert!(start.elapsed() < Duration::from_secs(3), "{}", stderr());
            thread::sleep(Duration::from_millis(5));
        }
        let up_at = Instant::now();
        // First second: 1/16 of its weight, so about 1 request in 17.
        let early_weight = stat_weight(&sock, "b");
        let early = burst(port, 34);
        assert!(
            up_at.elapsed() < Duration::from_secs(1),
            "the burst took too long"
        );
        let early_b = early.get("b").copied().unwrap_or(0);
        assert!((1..=4).contains(&early_b), "early share {early:?}");
        // Whole seconds, stepped every second (as HAProxy): full within 5 s.
        thread::sleep(Duration::from_millis(5300).saturating_sub(up_at.elapsed()));
        let late_weight = stat_weight(&sock, "b");
        let late = burst(port, 20);
        assert_eq!(late.get("b"), Some(&10), "late share {late:?}");
        (early_weight, late_weight)
    });
    assert_eq!(
        ours,
        ("1".to_string(), "16".to_string()),
        "the effective weight"
    );
    if let Some(theirs) = theirs {
        assert_eq!(ours, theirs, "the stats' weight column as HAProxy's");
    }
    drop(b);
}

/// A TCP listen section whose server `s` relays to an echo server and is
/// checked on a separate port (so the check can fail while sessions live).
fn relay_config(port: u16, servers: &str) -> String {
    format!(
        "listen test\n    mode tcp\n    bind 127.0.0.1:{port}\n{TIMEOUTS}    balance roundrobin\n{servers}"
    )
}

/// An open session through the proxy: it echoes `hello`.
fn open_session(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).expect("echo");
    s
}

/// Whether the proxy closes `s` within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(0) | Err(_)) && {
        // A timeout is not a close.
        s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        !matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

#[test]
fn on_marked_down_shutdown_sessions_ends_the_servers_sessions() {
    let echo = TcpBackend::start(echo_until_eof);
    let (check_a, check_b) = (free_port(), free_port());
    let (port_a, port_b) = (free_port(), free_port());
    // Two sections, one server each: only `a` has the option.
    let config = relay_config(
        port_a,
        &format!(
            "    server a 127.0.0.1:{} check port {check_a} inter 100ms fall 1 on-marked-down shutdown-sessions\n",
            echo.port
        ),
    )
    .replace("listen test", "listen ta")
        + &relay_config(
            port_b,
            &format!(
                "    server b 127.0.0.1:{} check port {check_b} inter 100ms fall 1\n",
                echo.port
            ),
        )
        .replace("listen test", "listen tb");
    // The check ports listen before each proxy starts (and again after each run).
    let listen = || {
        [
            TcpBackend::start_on(check_a, |_| {}),
            TcpBackend::start_on(check_b, |_| {}),
        ]
    };
    let checks = std::sync::Mutex::new(listen());
    let (ours, theirs) = both(&config, port_a, |stderr| {
        let mut on_a = open_session(port_a);
        let mut on_b = open_session(port_b);
        checks.lock().unwrap().iter_mut().for_each(TcpBackend::kill);
        wait_line(stderr, "Server ta/a is DOWN", Duration::from_secs(3));
        wait_line(stderr, "Server tb/b is DOWN", Duration::from_secs(3));
        let a_closed = closed_within(&mut on_a, Duration::from_secs(2));
        on_b.write_all(b"still").unwrap();
        let mut buf = [0u8; 5];
        let b_lives = on_b.read_exact(&mut buf).is_ok() && &buf == b"still";
        *checks.lock().unwrap() = listen();
        (a_closed, b_lives)
    });
    assert_eq!(ours, (true, true), "a's session shut down, b's lives on");
    if let Some(theirs) = theirs {
        assert_eq!(ours, theirs, "as HAProxy");
    }
}

#[test]
fn on_marked_up_shutdown_backup_sessions_ends_the_backups_sessions() {
    let echo = TcpBackend::start(echo_until_eof);
    let check_port = free_port();
    let port = free_port();
    let config = relay_config(
        port,
        &format!(
            "    server a 127.0.0.1:{e} check port {check_port} inter 100ms rise 1 fall 1 on-marked-up shutdown-backup-sessions\n    \
             server bk 127.0.0.1:{e} backup\n",
            e = echo.port
        ),
    );
    let (ours, theirs) = both(&config, port, |stderr| {
        wait_line(stderr, "Server test/a is DOWN", Duration::from_secs(3));
        let mut on_backup = open_session(port);
        let _checks = TcpBackend::start_on(check_port, |_| {});
        wait_line(stderr, "Server test/a is UP", Duration::from_secs(3));
        let closed = closed_within(&mut on_backup, Duration::from_secs(2));
        let mut on_a = open_session(port);
        on_a.write_all(b"again").unwrap();
        closed
    });
    assert!(ours, "the backup's session is shut down");
    if let Some(theirs) = theirs {
        assert_eq!(ours, theirs, "as HAProxy");
    }
}

#[test]
fn allbackups_balances_over_every_backup_by_weight() {
    let down = closed_port();
    let b1 = HttpBackend::start("b1");
    let b2 = HttpBackend::start("b2");
    let port = free_port();
    let config = |all: bool| {
        format!(
            "listen test\n    mode http\n    bind 127.0.0.1:{port}\n{TIMEOUTS}    balance roundrobin\n    \
             {}server a 127.0.0.1:{down} check inter 100ms fall 1\n    \
             server b1 127.0.0.1:{} backup weight 1\n    server b2 127.0.0.1:{} backup weight 3\n",
            if all { "option allbackups\n    " } else { "" },
            b1.port(),
            b2.port()
        )
    };
    for all in [true, false] {
        let (ours, theirs) = both(&config(all), port, |stderr| {
            wait_line(stderr, "Server test/a is DOWN", Duration::from_secs(3));
            let mut seen: Vec<_> = spread(port, 40).into_iter().collect();
            seen.sort();
            seen
        });
        let want = if all {
            vec![("b1".to_string(), 10), ("b2".to_string(), 30)]
        } else {
            vec![("b1".to_string(), 40)]
        };
        assert_eq!(ours, want, "allbackups {all}");
        if let Some(theirs) = theirs {
            assert_eq!(ours, theirs, "as HAProxy, allbackups {all}");
        }
    }
}

#[test]
fn observe_layer4_counts_failed_connections_in_tcp_mode() {
    let checks = TcpBackend::start(|_| {});
    let refused = closed_port();
    let port = free_port();
    let config = relay_config(
        port,
        &format!(
            "    server a 127.0.0.1:{refused} check port {} inter 5s observe layer4 error-limit 2 on-error mark-down\n",
            checks.port
        ),
    );
    let (ours, theirs) = both(&config, port, |stderr| {
        // The first check passes; then one client's connection attempts fail.
        thread::sleep(Duration::from_millis(300));
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _ = s.write_all(b"hello");
        let line = wait_line(stderr, "Server test/a is DOWN", Duration::from_secs(5));
        line[..line.find(" active").unwrap_or(line.len())].to_string()
    });
    assert_eq!(
        ours,
        "Server test/a is DOWN, reason: Health analyze, info: \"Detected 2 consecutive errors, \
         last one was: L4 unsuccessful connection\". 0"
    );
    if let Some(theirs) = theirs {
        assert_eq!(ours, theirs, "as HAProxy");
    }
}
