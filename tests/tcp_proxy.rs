//! TCP mode end to end with 2 workers: 10 MB both ways through an echo backend
//! with the client's half-close, a server that answers only after the client's
//! half-close, concurrent relays, idle relays ended by the timeouts, and prompt
//! closing when the server refuses or dies.

mod common;

use common::{
    ListenCfg, Ringlb, TcpBackend, assert_same_bytes, closed_port, connect, free_port, pattern,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Writes `data` then half-closes, while reading everything until EOF on
/// another thread (so neither direction can block the other). Returns what was read.
fn send_all_half_close_and_read(s: TcpStream, data: Vec<u8>) -> Vec<u8> {
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        w.write_all(&data).expect("write to proxy");
        w.shutdown(Shutdown::Write).expect("half-close");
    });
    let mut r = s;
    r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let res = r.read_to_end(&mut got);
    writer.join().expect("writer thread");
    if let Err(e) = res {
        panic!("reading from proxy after {} bytes: {e}", got.len());
    }
    got
}

#[test]
fn relays_10mb_both_ways_with_half_close() {
    let echo = TcpBackend::echo();
    let cfg = ListenCfg::tcp(free_port()).server("echo", echo.port);
    let lb = Ringlb::start(&cfg.render());
    let data = pattern(10 * 1024 * 1024, 10);
    let start = Instant::now();
    let got = send_all_half_close_and_read(connect(lb.port()), data.clone());
    assert_same_bytes(&got, &data, "10 MB echoed through the proxy");
    assert!(start.elapsed() < Duration::from_secs(15));
}

#[test]
fn server_reply_after_client_half_close_arrives() {
    // The server reads until the client's FIN, then answers 1 MB and closes:
    // the proxy must keep the server→client direction open after the client's
    // shutdown(WR) and forward the FIN both ways.
    let reply = pattern(1 << 20, 99);
    let expected = reply.clone();
    let backend = TcpBackend::start(move |mut s| {
        let mut sink = Vec::new();
        if s.read_to_end(&mut sink).is_err() {
            return;
        }
        let mut out = format!("got {} bytes\n", sink.len()).into_bytes();
        out.extend(&reply);
        let _ = s.write_all(&out);
    });
    let cfg = ListenCfg::tcp(free_port()).server("late", backend.port);
    let lb = Ringlb::start(&cfg.render());
    let got = send_all_half_close_and_read(connect(lb.port()), pattern(300_000, 5));
    let mut want = b"got 300000 bytes\n".to_vec();
    want.extend(&expected);
    assert_same_bytes(&got, &want, "reply sent after the client's half-close");
}

#[test]
fn concurrent_relays_stay_separate() {
    let echo = TcpBackend::echo();
    let cfg = ListenCfg::tcp(free_port()).server("echo", echo.port);
    let lb = Ringlb::start(&cfg.render());
    let port = lb.port();
    let handles: Vec<_> = (0..8u64)
        .map(|i| {
            thread::spawn(move || {
                let data = pattern(256 * 1024 + i as usize * 1000, 100 + i);
                let got = send_all_half_close_and_read(connect(port), data.clone());
                assert_same_bytes(&got, &data, &format!("connection {i}"));
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a relay failed");
    }
}

/// Reads until EOF or reset; panics if the connection is still open after `within`.
fn assert_closed_within(mut s: TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("client connection still open after {within:?}")
            }
            Err(_) => return start.elapsed(),
        }
    }
}

#[test]
fn refused_server_closes_client_promptly() {
    let cfg = ListenCfg::tcp(free_port())
        .server("gone", closed_port())
        .timeout_connect("1s");
    let lb = Ringlb::start(&cfg.render());
    let mut s = connect(lb.port());
    let _ = s.write_all(b"hello");
    let took = assert_closed_within(s, Duration::from_secs(5));
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
}

#[test]
fn killed_server_closes_client_and_later_connections() {
    let mut echo = TcpBackend::echo();
    let cfg = ListenCfg::tcp(free_port())
        .server("echo", echo.port)
        .timeout_connect("1s");
    let lb = Ringlb::start(&cfg.render());
    let mut s = connect(lb.port());
    s.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    echo.kill();
    // The open relay ends because the server side ended.
    assert_closed_within(s, Duration::from_secs(3));
    // A new connection is closed promptly too (server refuses now).
    let mut s = connect(lb.port());
    let _ = s.write_all(b"again");
    let took = assert_closed_within(s, Duration::from_secs(5));
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
}

#[test]
fn idle_relay_closed_after_timeouts() {
    let echo = TcpBackend::echo();
    let cfg = ListenCfg::tcp(free_port())
        .server("echo", echo.port)
        .timeout_client("1s")
        .timeout_server("1s");
    let lb = Ringlb::start(&cfg.render());
    let mut s = connect(lb.port());
    s.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    s.read_exact(&mut one).unwrap();
    let took = assert_closed_within(s, Duration::from_secs(4));
    assert!(
        took >= Duration::from_millis(800),
        "closed after {took:?}, before the 1 s timeouts"
    );
}

/// The kernel's timers (`/proc/net/tcp`'s `tr`: 2 is the keepalive timer)
/// of established connections whose local (`column` 1) or remote (2) port
/// is `port`.
fn timers(port: u16, column: usize) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let p = u16::from_str_radix(f.get(column)?.rsplit(':').next()?, 16).ok()?;
            // 01: established; the timer is `tr:when`.
            (p == port && f.get(3) == Some(&"01"))
                .then(|| {
                    f.get(5)
                        .map(|t| t.split(':').next().unwrap_or("").to_string())
                })
                .flatten()
        })
        .collect()
}

/// The proxy's side of connections accepted on `port`.
fn accepted_timers(port: u16) -> Vec<String> {
    timers(port, 1)
}

/// `option clitcpka` (as `option tcpka`'s client half) turns TCP keep-alive
/// on for client connections; without it they have none.
#[test]
fn clitcpka_keeps_client_connections_probed() {
    for (opt, want) in [("    option clitcpka\n", "02"), ("", "00")] {
        let backend = TcpBackend::echo();
        let port = free_port();
        let cfg = ListenCfg::tcp(port)
            .line(opt.trim_end())
            .server("s1", backend.port)
            .render();
        let _lb = Ringlb::start(&cfg);
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).unwrap();
        let timers = accepted_timers(port);
        assert!(
            timers.iter().any(|t| t == want),
            "option {opt:?}: timers {timers:?}, want {want}"
        );
    }
}

/// The proxy's side of connections to `port` (a server).
fn connections_to(port: u16) -> Vec<String> {
    timers(port, 2)
}

/// `option srvtcpka` (and `tcpka` in a listen) turns TCP keep-alive on for
/// server connections; the client side only with `clitcpka`/`tcpka`.
#[test]
fn srvtcpka_keeps_server_connections_probed() {
    for (opt, srv, cli) in [
        ("option srvtcpka", "02", "00"),
        ("option tcpka", "02", "02"),
        ("", "00", "00"),
    ] {
        let backend = TcpBackend::echo();
        let port = free_port();
        let cfg = ListenCfg::tcp(port)
            .line(opt)
            .server("s1", backend.port)
            .render();
        let _lb = Ringlb::start(&cfg);
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).unwrap();
        let (s, a) = (connections_to(backend.port), accepted_timers(port));
        assert!(
            s.iter().any(|t| t == srv),
            "{opt:?}: server side {s:?}, want {srv}"
        );
        assert!(
            a.iter().any(|t| t == cli),
            "{opt:?}: client side {a:?}, want {cli}"
        );
    }
}
