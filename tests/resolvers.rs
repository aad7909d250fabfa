//! Run-time name resolution (`resolvers` sections, `server ... resolvers`,
//! `init-addr`, `server-template`) against a fake DNS server the test
//! changes while ringlb runs; `server-template` compared with HAProxy 2.6.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;

/// A `resolvers r1` section asking the fake server, quick to notice changes.
fn resolvers(dns: &FakeDns) -> String {
    format!(
        "resolvers r1\n    nameserver ns1 127.0.0.1:{}\n    resolve_retries 2\n    \
         timeout resolve 100ms\n    timeout retry 100ms\n    hold valid 200ms\n    \
         hold nx 300ms\n    hold timeout 300ms\n",
        dns.port
    )
}

/// One `listen app` on `bind` with `servers` lines, after the resolvers section.
fn config(dns: &FakeDns, bind: u16, servers: &str) -> String {
    format!(
        "{}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
         timeout server 5s\n\nlisten app\n    bind 127.0.0.1:{bind}\n    balance roundrobin\n\
         {servers}\n",
        resolvers(dns)
    )
}

/// The body of a GET (the answering backend's address), or the status.
fn who(port: u16) -> String {
    let r = get(port, "/");
    if r.status == 200 {
        String::from_utf8_lossy(&r.body).into_owned()
    } else {
        r.status.to_string()
    }
}

/// Waits (up to `limit`) until `who(port)` is `want`; returns the time it took.
fn wait_for(port: u16, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = who(port);
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "still '{got}', not '{want}', after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The backends that answered `n` requests.
fn spread(port: u16, n: usize) -> BTreeSet<String> {
    (0..n).map(|_| who(port)).collect()
}

#[test]
fn a_changed_address_moves_new_traffic_within_hold_valid() {
    let dns = FakeDns::start();
    dns.set("web.test", &["127.0.0.2"]);
    let p = free_port();
    let (_b2, _b3) = (
        IpBackend::start("127.0.0.2", p),
        IpBackend::start("127.0.0.3", p),
    );
    let bind = free_port();
    let servers =
        format!("    server s1 web.test:{p} resolvers r1 init-addr none resolve-prefer ipv4");
    let lb = Ringlb::start(&config(&dns, bind, &servers));
    let hbind = free_port();
    let haproxy = Haproxy::start(&config(&dns, hbind, &servers), hbind);
    // `init-addr none`: in maintenance until the first answer, then served.
    wait_for(bind, "127.0.0.2", Duration::from_secs(5));
    if haproxy.is_some() {
        wait_for(hbind, "127.0.0.2", Duration::from_secs(5));
    }
    dns.set("web.test", &["127.0.0.3"]);
    let took = wait_for(bind, "127.0.0.3", Duration::from_secs(5));
    if haproxy.is_some() {
        // HAProxy follows the same answer within its own hold valid.
        wait_for(hbind, "127.0.0.3", Duration::from_secs(5));
    }
    // hold valid 200ms + one `timeout resolve` tick, with slack for a busy machine.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let err = lb.stderr();
    assert!(
        err.contains("app/s1 changed its IP from (none) to 127.0.0.2 by r1/ns1."),
        "{err}"
    );
    assert!(
        err.contains("app/s1 changed its IP from 127.0.0.2 to 127.0.0.3 by r1/ns1."),
        "{err}"
    );
    assert!(
        err.contains("Server app/s1 ('web.test') is UP/READY (resolves again)."),
        "{err}"
    );
}

#[test]
fn nxdomain_puts_the_server_in_maintenance_after_hold_nx_and_an_answer_brings_it_back() {
    let dns = FakeDns::start();
    dns.set("web.test", &["127.0.0.2"]);
    let p = free_port();
    let _b = IpBackend::start("127.0.0.2", p);
    let bind = free_port();
    let servers = format!("    server s1 web.test:{p} resolvers r1 init-addr none");
    // No `resolve-prefer`: AAAA first (an empty answer here), then A, as HAProxy.
    let lb = Ringlb::start(&config(&dns, bind, &servers));
    let hbind = free_port();
    let haproxy = Haproxy::start(&config(&dns, hbind, &servers), hbind);
    wait_for(bind, "127.0.0.2", Duration::from_secs(5));
    if haproxy.is_some() {
        wait_for(hbind, "127.0.0.2", Duration::from_secs(5));
    }
    dns.nx("web.test");
    let took = wait_for(bind, "503", Duration::from_secs(5));
    if haproxy.is_some() {
        // HAProxy too puts the server in maintenance: its 503.
        wait_for(hbind, "503", Duration::from_secs(5));
    }
    // Not before `hold nx` (300ms) has passed since the last valid answer.
    assert!(took >= Duration::from_millis(100), "took {took:?}");
    let err = lb.stderr();
    assert!(
        err.contains("Server app/s1 is going DOWN for maintenance (DNS NX status). 0 active and 0 backup servers left."),
        "{err}"
    );
    dns.set("web.test", &["127.0.0.2"]);
    wait_for(bind, "127.0.0.2", Duration::from_secs(5));
    if haproxy.is_some() {
        wait_for(hbind, "127.0.0.2", Duration::from_secs(5));
    }
    assert!(
        lb.stderr()
            .contains("Server app/s1 administratively READY thanks to valid DNS answer.")
    );
}

#[test]
fn a_silent_name_server_is_a_timeout_status() {
    let dns = FakeDns::start();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let p = free_port();
    let _b = IpBackend::start("127.0.0.2", p);
    let bind = free_port();
    let cfg = config(
        &dns,
        bind,
        &format!("    server s1 web.test:{p} resolvers r1 init-addr 127.0.0.2"),
    )
    .replace(
        &format!("127.0.0.1:{}", dns.port),
        &format!("127.0.0.1:{}", silent.local_addr().unwrap().port()),
    );
    let lb = Ringlb::start(&cfg);
    // The `init-addr` address serves until the first resolution times out
    // (no valid answer ever came, so `hold timeout` keeps nothing).
    wait_for(bind, "503", Duration::from_secs(5));
    assert!(
        lb.stderr().contains("(DNS timeout status)"),
        "{}",
        lb.stderr()
    );
}

#[test]
fn server_template_fills_slots_from_the_answers_as_haproxy() {
    let dns = FakeDns::start();
    dns.set("svc.test", &["127.0.0.2", "127.0.0.3"]);
    let p = free_port();
    let _bs: Vec<IpBackend> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|ip| IpBackend::start(ip, p))
        .collect();
    let servers = format!(
        "    server-template srv 3 svc.test:{p} resolvers r1 init-addr none resolve-prefer ipv4"
    );
    let two: BTreeSet<String> = ["127.0.0.2", "127.0.0.3"].map(String::from).into();
    let three: BTreeSet<String> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .map(String::from)
        .into();

    let dir = TestDir::new("dns-stats");
    let (sock, hsock) = (dir.path().join("ours.sock"), dir.path().join("theirs.sock"));
    let with_stats = |bind: u16, sock: &std::path::Path| {
        format!(
            "global\n    stats socket {}\n{}",
            sock.display(),
            config(&dns, bind, &servers)
        )
    };
    let bind = free_port();
    let lb = Ringlb::start(&with_stats(bind, &sock));
    wait_for(bind, "127.0.0.2", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(400));
    let status = |sock: &std::path::Path, sv: &str| {
        let rows = parse_stats_csv(&stats_command(sock, "show stat"));
        stats_row(&rows, "app", sv)["status"].clone()
    };
    assert_eq!(status(&sock, "srv3"), "MAINT (resolution)");
    assert_eq!(status(&sock, "srv1"), "no check");
    let ours_two = spread(bind, 12);
    assert_eq!(ours_two, two);
    let err = lb.stderr();
    // The third slot stays in maintenance, without an address.
    assert!(!err.contains("app/srv3 changed its IP"), "{err}");
    assert!(
        err.contains("app/srv1 changed its IP from (none) to 127.0.0.2"),
        "{err}"
    );
    assert!(
        err.contains("app/srv2 changed its IP from (none) to 127.0.0.3"),
        "{err}"
    );

    let hbind = free_port();
    let haproxy = Haproxy::start(&with_stats(hbind, &hsock), hbind);
    let theirs_two = haproxy.as_ref().map(|_| {
        // HAProxy asks every `timeout resolve` too; wait for both addresses.
        let start = Instant::now();
        while spread(hbind, 6) != two && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(status(&hsock, "srv3"), "MAINT (resolution)", "HAProxy");
        assert_eq!(status(&hsock, "srv1"), "no check", "HAProxy");
        spread(hbind, 12)
    });

    // A third address fills the third slot, in both.
    dns.set("svc.test", &["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    std::thread::sleep(Duration::from_millis(1000));
    let ours_three = spread(bind, 12);
    assert_eq!(ours_three, three);
    assert!(
        lb.stderr()
            .contains("app/srv3 changed its IP from (none) to 127.0.0.4")
    );
    if let Some(theirs_two) = theirs_two {
        eprintln!("HAProxy served {theirs_two:?}, then the three addresses");
        assert_eq!(theirs_two, ours_two, "HAProxy with two answers");
        assert_eq!(spread(hbind, 12), ours_three, "HAProxy with three answers");
    }
}
