//! `bind <addr> maxconn <n>`: each socket of the line (each address, each
//! port of a range) accepts at most `n` connections at once, counted for the
//! whole process (every worker's copy of the socket); the others wait in the
//! kernel backlog until one closes, while the frontend's other listeners go on
//! serving. Compared with HAProxy 2.6 on the same configuration.

mod common;

use common::{Haproxy, Ringlb, TcpBackend, connect, free_port};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a connection beyond the limit is watched for (no reply expected).
const NOT_SERVED_FOR: Duration = Duration::from_millis(500);

/// `n` consecutive free ports (free_port hands them out in sequence).
fn consecutive_ports(n: u16) -> u16 {
    loop {
        let first = free_port();
        if (1..n).all(|i| free_port() == first + i) {
            return first;
        }
    }
}

/// A proxy of either kind, kept alive for the test.
enum Running {
    Ringlb(#[allow(dead_code)] Ringlb),
    Haproxy(#[allow(dead_code)] Haproxy),
}

/// Starts ringlb or HAProxy on `config`, ready on every port of `ports`;
/// `None` when HAProxy is not installed.
fn start(haproxy: bool, config: &str, ports: &[u16]) -> Option<Running> {
    if haproxy {
        let h = Haproxy::start(config, ports[0])?;
        for &p in ports {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", p)).is_err() {
                assert!(std::time::Instant::now() < deadline, "haproxy not on {p}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Some(Running::Haproxy(h))
    } else {
        // Probed here: the helper does not read port ranges.
        let mut lb = Ringlb::spawn(config, &["-db"]);
        lb.wait_until("accepting on every port", || {
            ports
                .iter()
                .all(|&p| TcpStream::connect(("127.0.0.1", p)).is_ok())
        });
        Some(Running::Ringlb(lb))
    }
}

/// The configuration: two workers in tcp mode in front of `echo`, with
/// `binds` as the `bind` lines.
fn config(binds: &[String], echo: u16) -> String {
    let binds: String = binds.iter().map(|b| format!("    bind {b}\n")).collect();
    format!(
        "global\n    nbthread 2\ndefaults\n    mode tcp\n    timeout connect 2s\n    \
         timeout client 10s\n    timeout server 10s\n\nlisten r\n{binds}    \
         server echo 127.0.0.1:{echo}\n"
    )
}

/// One echo round trip on an open relay.
fn echo_roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    s.write_all(msg).unwrap();
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("no echo of {:?}: {e}", String::from_utf8_lossy(msg)));
    assert_eq!(buf, msg);
}

/// A connection to `port` that sends `msg` and is not served within
/// [`NOT_SERVED_FOR`] (it waits in the backlog: neither refused nor closed).
fn waiting(port: u16, msg: &[u8], who: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("{who}: connection over the limit refused: {e}"));
    s.write_all(msg).unwrap();
    s.set_read_timeout(Some(NOT_SERVED_FOR)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Ok(0) => panic!("{who}: connection over the listener's maxconn was closed"),
        Ok(n) => panic!(
            "{who}: connection over the listener's maxconn was served: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("{who}: connection over the listener's maxconn failed: {e}"),
    }
    s
}

/// Reads the echo of `msg`, sent while `s` waited, once it is served.
fn served_at_last(s: &mut TcpStream, msg: &[u8], who: &str) {
    s.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got)
        .unwrap_or_else(|e| panic!("{who}: waiting connection not served after a close: {e}"));
    assert_eq!(got, msg, "{who}");
}

/// `bind P1 maxconn 2` and `bind P2` on one frontend, two workers: two held
/// connections fill P1, a third on P1 waits (the backend never sees it) while
/// P2 serves three at once; when one of P1's closes, the third is served.
#[test]
fn a_full_listener_leaves_the_others_serving() {
    for haproxy in [false, true] {
        let who = if haproxy { "haproxy" } else { "ringlb" };
        let echo = TcpBackend::echo();
        let (p1, p2) = (free_port(), free_port());
        let cfg = config(
            &[
                format!("127.0.0.1:{p1} maxconn 2"),
                format!("127.0.0.1:{p2}"),
            ],
            echo.port,
        );
        let Some(_proxy) = start(haproxy, &cfg, &[p1, p2]) else {
            continue;
        };
        let mut held: Vec<TcpStream> = (0..2)
            .map(|i| {
                let mut s = connect(p1);
                echo_roundtrip(&mut s, format!("held {i}").as_bytes());
                s
            })
            .collect();
        let seen = echo.accepted();
        let mut third = waiting(p1, b"third", who);
        assert_eq!(echo.accepted(), seen, "{who}: relayed beyond maxconn 2");
        // The other listener of the frontend is not limited by P1's slots.
        let others: Vec<TcpStream> = (0..3)
            .map(|i| {
                let mut s = connect(p2);
                echo_roundtrip(&mut s, format!("p2 {i}").as_bytes());
                s
            })
            .collect();
        // Still waiting: P2's connections took none of P1's slots.
        let mut buf = [0u8; 8];
        third
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(third.read(&mut buf).is_err(), "{who}: third served early");
        drop(others);
        drop(held.remove(0));
        served_at_last(&mut third, b"third", who);
        echo_roundtrip(&mut third, b"and more");
        echo_roundtrip(&mut held[0], b"still");
    }
}

/// `bind P-P+1 maxconn 1`: each port of the range is its own listener with
/// its own single slot, as in HAProxy.
#[test]
fn each_port_of_a_range_has_its_own_limit() {
    for haproxy in [false, true] {
        let who = if haproxy { "haproxy" } else { "ringlb" };
        let echo = TcpBackend::echo();
        let p = consecutive_ports(2);
        let cfg = config(&[format!("127.0.0.1:{p}-{} maxconn 1", p + 1)], echo.port);
        let Some(_proxy) = start(haproxy, &cfg, &[p, p + 1]) else {
            continue;
        };
        let mut a = connect(p);
        echo_roundtrip(&mut a, b"a");
        let mut b = connect(p + 1);
        echo_roundtrip(&mut b, b"b");
        let mut second = waiting(p, b"second", who);
        let mut second_b = waiting(p + 1, b"second b", who);
        drop(a);
        served_at_last(&mut second, b"second", who);
        // The other port is still full.
        let mut buf = [0u8; 8];
        second_b
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(second_b.read(&mut buf).is_err(), "{who}: port 2 over 1");
        drop(b);
        served_at_last(&mut second_b, b"second b", who);
    }
}

/// `bind ... maxconn 0` leaves the listener unlimited (HAProxy: the frontend's
/// limit only), and a bad count is refused by `ringlb -c`.
#[test]
fn maxconn_zero_is_unlimited_and_garbage_refused() {
    let echo = TcpBackend::echo();
    let p = free_port();
    let lb = Ringlb::start(&config(&[format!("127.0.0.1:{p} maxconn 0")], echo.port));
    let held: Vec<TcpStream> = (0..5)
        .map(|i| {
            let mut s = connect(lb.port());
            echo_roundtrip(&mut s, format!("c{i}").as_bytes());
            s
        })
        .collect();
    drop(held);
    let dir = common::TestDir::new("bind-maxconn");
    let cfg = dir.write("t.cfg", &config(&["127.0.0.1:8080 maxconn -1".into()], 81));
    let out = common::run_cli(dir.path(), &["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("bind option 'maxconn' expects a number >= 0, got '-1'"),
        "{}",
        out.stderr
    );
}
