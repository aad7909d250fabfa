//! Rotation algorithms end to end with 2 workers: roundrobin and static-rr
//! honour weights over fresh connections (the kernel spreads connections over
//! both workers, each with its own rotation), and leastconn sends new
//! connections away from a slow server that holds the ones it has.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

use common::{BufStream, HttpBackend, ListenCfg, Ringlb, TcpBackend, connect, free_port, spread};

/// Asserts each server got its weight's share of `total`, give or take one
/// rotation cycle per worker (each worker starts its own cycle).
fn assert_weighted(seen: &HashMap<String, usize>, weights: &[(&str, usize)], total: usize) {
    let wsum: usize = weights.iter().map(|(_, w)| w).sum();
    for (name, w) in weights {
        let want = total * w / wsum;
        let got = seen.get(*name).copied().unwrap_or(0);
        assert!(
            got.abs_diff(want) <= 2 * w,
            "{name} (weight {w}): {got} of {total}, expected about {want}; all: {seen:?}"
        );
    }
}

fn weighted_farm(algo: &str) {
    let (a, b, c) = (
        HttpBackend::start("a"),
        HttpBackend::start("b"),
        HttpBackend::start("c"),
    );
    let cfg = ListenCfg::http(free_port())
        .line(&format!("balance {algo}"))
        .weighted("a", a.port(), 1)
        .weighted("b", b.port(), 2)
        .weighted("c", c.port(), 3)
        .weighted("zero", c.port(), 0);
    let lb = Ringlb::start(&cfg.render());
    let total = 240;
    let seen = spread(lb.port(), total);
    assert_weighted(&seen, &[("a", 1), ("b", 2), ("c", 3)], total);
    assert_eq!(seen.values().sum::<usize>(), total);
}

#[test]
fn roundrobin_honours_weights() {
    weighted_farm("roundrobin");
}

#[test]
fn static_rr_honours_weights() {
    weighted_farm("static-rr");
}

#[test]
fn roundrobin_uses_the_backup_only_when_actives_are_disabled() {
    let (a, bk) = (HttpBackend::start("a"), HttpBackend::start("bk"));
    let cfg = ListenCfg::http(free_port())
        .line(&format!("server a 127.0.0.1:{} disabled", a.port()))
        .line(&format!("server bk 127.0.0.1:{} backup", bk.port()));
    let lb = Ringlb::start(&cfg.render());
    let seen = spread(lb.port(), 6);
    assert_eq!(seen.get("bk"), Some(&6), "{seen:?}");
}

/// Sends a GET on a fresh connection; returns the server's name if the
/// answer comes within `wait`, or the still-open connection otherwise.
fn try_get(port: u16, wait: Duration) -> Result<String, std::net::TcpStream> {
    let mut s = connect(port);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let mut bs = BufStream::new(s.try_clone().unwrap());
    match common::read_response(&mut bs, false) {
        Ok(r) => Ok(r.server()),
        Err(_) => Err(s),
    }
}

#[test]
fn leastconn_sends_new_connections_away_from_a_busy_server() {
    // "slow" reads the request and holds the connection (answering after 4 s);
    // "fast" answers at once, so its active count drops back to 0.
    let slow = TcpBackend::start(|mut s| {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        thread::sleep(Duration::from_secs(4));
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nX-Server: slow\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    let fast = HttpBackend::start("fast");
    let run = |algo: &str| {
        let cfg = ListenCfg::http(free_port())
            .line(&format!("balance {algo}"))
            .server("slow", slow.port)
            .server("fast", fast.port());
        let lb = Ringlb::start(&cfg.render());
        let mut held = Vec::new();
        let mut to_fast = 0;
        for _ in 0..20 {
            match try_get(lb.port(), Duration::from_millis(300)) {
                Ok(name) => {
                    assert_eq!(name, "fast");
                    to_fast += 1;
                }
                Err(conn) => held.push(conn),
            }
        }
        (held.len(), to_fast)
    };
    let (held, to_fast) = run("leastconn");
    // Each worker may try "slow" once before it holds a connection.
    assert!(
        held <= 2,
        "leastconn sent {held} of 20 connections to the busy server"
    );
    assert_eq!(held + to_fast, 20);
    // The same client under roundrobin loads the slow server with about half:
    // the test tells the two apart.
    let (held_rr, _) = run("roundrobin");
    assert!(held_rr >= 8, "roundrobin: {held_rr}");
}
