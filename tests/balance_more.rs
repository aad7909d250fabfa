//! `balance first`, `balance random[(<draws>)]` and `hash-balance-factor`
//! end to end, with 2 workers, against backends that name themselves
//! (`X-Server`) and hold requests whose URI says `slow`; `balance first` and
//! the bounded loads are compared with HAProxy 2.6 on the same configuration
//! and requests (both are deterministic; `random` is not, so its test has
//! loose bounds instead).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use common::{Haproxy, ListenCfg, Ringlb, free_port, get};

/// How long a `slow` request is held by the backend.
const HOLD: Duration = Duration::from_millis(1500);

/// A backend answering `X-Server: <name>`, after [`HOLD`] when the request
/// line or its name contains `slow`, then closing.
fn backend(name: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 2048];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
                if name.contains("slow") || line.windows(4).any(|w| w == b"slow") {
                    thread::sleep(HOLD);
                }
                let _ = s.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Length: 2\r\n\
                         Connection: close\r\n\r\nok"
                    )
                    .as_bytes(),
                );
            });
        }
    });
    port
}

/// The server that answered `GET path`.
fn server_for(port: u16, path: &str) -> String {
    let r = get(port, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.server()
}

/// Runs `scenario` on ringlb and, when installed, on HAProxy with the same
/// configuration (`config` of the listening port; each its own port);
/// asserts both saw the same servers, returns ringlb's.
fn ringlb_and_haproxy(
    config: impl Fn(u16) -> String,
    scenario: impl Fn(u16) -> Vec<String>,
) -> Vec<String> {
    let port = free_port();
    let got = {
        let _r = Ringlb::start(&config(port));
        scenario(port)
    };
    let port = free_port();
    if let Some(_h) = Haproxy::start(&config(port), port) {
        let want = scenario(port);
        assert_eq!(got, want, "ringlb (left) and HAProxy 2.6 (right) differ");
    }
    got
}

#[test]
fn first_fills_servers_in_declaration_order() {
    let (a, b, c) = (backend("a"), backend("b"), backend("c"));
    // Declared c, a, b: declaration order decides, not names or ports.
    let config = |port| {
        ListenCfg::http(port)
            .line("balance first")
            .line(&format!("server c 127.0.0.1:{c} maxconn 1"))
            .line(&format!("server a 127.0.0.1:{a} maxconn 1"))
            .line(&format!("server b 127.0.0.1:{b} maxconn 2"))
            .render()
    };
    let seen = ringlb_and_haproxy(config, |port| {
        // Alone, the first server takes every request.
        let mut seen = vec![server_for(port, "/1"), server_for(port, "/2")];
        // Two slow requests in flight: the first two servers are full.
        let slow: Vec<_> = (0..2)
            .map(|i| {
                let t = thread::spawn(move || server_for(port, &format!("/slow/{i}")));
                thread::sleep(Duration::from_millis(300));
                t
            })
            .collect();
        seen.push(server_for(port, "/3"));
        seen.extend(slow.into_iter().map(|t| t.join().unwrap()));
        // Once they are done, the first server again.
        seen.push(server_for(port, "/4"));
        seen
    });
    assert_eq!(seen, ["c", "c", "b", "c", "a", "c"]);
}

#[test]
fn random_spreads_by_weight() {
    let (a, b) = (backend("a"), backend("b"));
    let port = free_port();
    let config = ListenCfg::http(port)
        .line("balance random")
        .weighted("a", a, 1)
        .weighted("b", b, 3)
        .render();
    let _r = Ringlb::start(&config);
    let n = 400;
    let to_b = (0..n)
        .filter(|i| server_for(port, &format!("/r/{i}")) == "b")
        .count();
    // Idle servers: the draws follow the weights (3/4 to b; the ring's
    // 16 points per unit of weight make it near, not exact).
    assert!((240..=360).contains(&to_b), "b got {to_b} of {n}");
}

#[test]
fn random_draws_avoid_the_loaded_server() {
    // `a` holds every request; `b` answers at once. One draw would send
    // half the requests to `a`; with three, a request lands on `a` while it
    // is the busier only when all three draws do (1 in 8).
    let (a, b) = (backend("slow-a"), backend("b"));
    let port = free_port();
    let config = ListenCfg::http(port)
        .line("balance random(3)")
        .server("slow-a", a)
        .server("b", b)
        .render();
    let _r = Ringlb::start(&config);
    let n = 30;
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let t = thread::spawn(move || server_for(port, &format!("/r/{i}")));
            thread::sleep(Duration::from_millis(20));
            t
        })
        .collect();
    let to_a = clients
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|s| s == "slow-a")
        .count();
    assert!((1..=10).contains(&to_a), "slow-a got {to_a} of {n}");
}

/// Maps `/k/<i>` to servers idle, then again while `/k/0?slow` is held on
/// its server; returns the idle owners followed by the loaded ones.
fn keys_with_one_held(port: u16) -> Vec<String> {
    let keys = 40;
    // Each request waits a little for the previous one's server count to
    // drop (in ringlb and in HAProxy alike, it drops just after the answer).
    let settled = |i: usize| {
        thread::sleep(Duration::from_millis(15));
        server_for(port, &format!("/k/{i}"))
    };
    let mut seen: Vec<String> = (0..keys).map(settled).collect();
    let held = thread::spawn(move || server_for(port, "/k/0?slow"));
    thread::sleep(Duration::from_millis(300));
    seen.extend((1..keys).map(settled));
    assert_eq!(held.join().unwrap(), seen[0]);
    seen
}

#[test]
fn hash_balance_factor_moves_keys_off_a_loaded_server() {
    let (a, b, c) = (backend("a"), backend("b"), backend("c"));
    let farm = |factor: &'static str| {
        move |port| {
            ListenCfg::http(port)
                .line("balance uri")
                .line("hash-type consistent")
                .line(factor)
                .server("a", a)
                .server("b", b)
                .server("c", c)
                .render()
        }
    };
    let seen = ringlb_and_haproxy(farm("hash-balance-factor 150"), keys_with_one_held);
    let (idle, loaded) = seen.split_at(40);
    let hot = &idle[0];
    let mut moved = 0;
    for (i, (was, now)) in idle[1..].iter().zip(loaded).enumerate() {
        if was == hot {
            // One request held on it is over 150 % of the average.
            assert_ne!(now, hot, "key {} stayed on the loaded server", i + 1);
            moved += 1;
        } else {
            assert_eq!(now, was, "key {} moved off an idle server", i + 1);
        }
    }
    assert!(moved >= 3, "the loaded server owned {moved} other keys");
    // Without the factor, the keys stay where they hash.
    let seen = ringlb_and_haproxy(farm("hash-balance-factor 0"), keys_with_one_held);
    assert_eq!(seen[1..40], seen[40..]);
}
