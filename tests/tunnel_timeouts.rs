//! `timeout tunnel`, `timeout client-fin` and `timeout server-fin` end to
//! end, each scenario run on ringlb and on HAProxy 2.6 with the same config:
//! when the connection closes (generous bounds: a functional check, not a
//! timing one) and the termination state each logs.
//!
//! HAProxy's `-fin` timeouts are its half-closed timeouts: `client-fin`
//! bounds the wait on the client once HAProxy shut its writes to the client
//! (the server half-closed first), `server-fin` the wait on the server once
//! the client half-closed. So a client that half-closes while the server
//! stays silent is ended by `server-fin` (`sD`), not by `client-fin`; both
//! proxies are checked on that.

mod common;

use common::{Haproxy, Ringlb, Syslog, free_port};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What the test does once the connection (or the tunnel) is established.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Nothing: both sides stay silent.
    Idle,
    /// The client ends its writes; the server stays silent.
    ClientFin,
    /// The server ends its writes; the client stays silent.
    ServerFin,
}

/// How one proxy handled a scenario.
#[derive(Debug)]
struct Seen {
    /// From the action to the close the test watched; `None`: still open
    /// at the end of the wait.
    closed_after: Option<Duration>,
    /// The termination state logged (`None` when nothing was logged).
    state: Option<String>,
}

/// The configuration both proxies run: a `listen l` with server `s1`.
fn config(mode: &str, extra: &str, port: u16, server: u16, syslog: u16) -> String {
    let log = if mode == "tcp" { "tcplog" } else { "httplog" };
    format!(
        "global\n    log 127.0.0.1:{syslog} local0\n\
         defaults\n    mode {mode}\n    log global\n    option {log}\n\
         \x20   timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n{extra}\
         listen l\n    bind 127.0.0.1:{port}\n    server s1 127.0.0.1:{server}\n"
    )
}

/// The byte a `mode tcp` scenario's client sends first, so that the server
/// side knows its connection from a readiness probe's (one relayed after
/// `drain` on a loaded machine was once taken for the client's: CI saw its
/// reset). Sent before the timed part starts, read by the server at once.
const MARK: &[u8; 1] = b"!";

/// Accepts the proxy's connections to the server and hands over the first
/// that is the scenario's (in `mode http`, the first with a request head;
/// in `mode tcp`, the first that delivers [`MARK`]); the readiness probes'
/// connections are drained before too.
fn accept(listener: TcpListener, http: bool) -> mpsc::Receiver<TcpStream> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut s = s;
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                // Only the scenario's client: its upgrade request, or (tcp)
                // its marker byte. A readiness probe relayed late (a loaded
                // machine, after `drain`) sends nothing and closes.
                let ours = if http {
                    read_head(&mut s).is_some()
                } else {
                    let mut b = [0u8; 1];
                    matches!(s.read(&mut b), Ok(1) if b == *MARK)
                };
                if ours {
                    let _ = tx.send(s);
                }
            });
        }
    });
    rx
}

/// Reads until the header block's end (a 101 head or an upgrade request);
/// `None` when the connection ends first.
fn read_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut b = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    Some(got)
}

/// How long until `s` reads its end (EOF or reset) within `wait`, bytes
/// read before it ignored; `None` when it stayed open.
fn time_to_close(s: &mut TcpStream, start: Instant, wait: Duration) -> Option<Duration> {
    let end = start + wait;
    let mut b = [0u8; 256];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut b) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(start.elapsed()),
        }
    }
}

/// The termination state of the line logged for `l/s1`.
fn state_of(line: &str, mode: &str) -> Option<String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    let at = t.iter().position(|w| *w == "l/s1")?;
    // tcplog: timers, bytes, state; httplog: timers, status, bytes, 2 cookies, state.
    let skip = if mode == "tcp" { 3 } else { 6 };
    t.get(at + skip).map(|s| s.to_string())
}

/// Opens a connection (and its tunnel, in `mode http`) through `port`, does
/// `act`, and watches for the close for `wait`; with the client's address
/// as the log line starts with it.
fn scenario(
    port: u16,
    mode: &str,
    server: TcpListener,
    act: Act,
    wait: Duration,
) -> (Option<Duration>, String) {
    let rx = accept(server, mode == "http");
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let client = format!("127.0.0.1:{} ", c.local_addr().unwrap().port());
    if mode != "http" {
        c.write_all(MARK).unwrap();
    }
    if mode == "http" {
        c.write_all(
            b"GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    }
    let mut s = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the proxy connects to the server");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if mode == "http" {
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        )
        .unwrap();
        let head = read_head(&mut c).expect("a 101 head");
        assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    }
    let start = Instant::now();
    let closed = match act {
        Act::Idle => time_to_close(&mut c, start, wait),
        Act::ClientFin => {
            c.shutdown(Shutdown::Write).unwrap();
            // The server learns the client's end at once.
            let mut b = [0u8; 16];
            assert_eq!(s.read(&mut b).unwrap(), 0, "client FIN relayed");
            time_to_close(&mut c, start, wait)
        }
        Act::ServerFin => {
            s.shutdown(Shutdown::Write).unwrap();
            let mut b = [0u8; 16];
            assert_eq!(c.read(&mut b).unwrap(), 0, "server FIN relayed");
            time_to_close(&mut s, start, wait)
        }
    };
    (closed, client)
}

/// Drops the connections that the proxy's readiness probe made to the server.
fn drain(server: &TcpListener) {
    thread::sleep(Duration::from_millis(300));
    server.set_nonblocking(true).unwrap();
    while server.accept().is_ok() {}
    server.set_nonblocking(false).unwrap();
}

/// Runs the scenario on ringlb (and HAProxy when installed): what each saw.
fn both(mode: &str, extra: &str, act: Act, wait: Duration) -> (Seen, Option<Seen>) {
    let run = |haproxy: bool| -> Option<Seen> {
        let mut syslog = Syslog::new();
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free_port();
        let cfg = config(
            mode,
            extra,
            port,
            server.local_addr().unwrap().port(),
            syslog.port(),
        );
        let (_lb, _ha);
        if haproxy {
            _ha = Haproxy::start(&cfg, port)?;
        } else {
            _lb = Ringlb::start(&cfg);
        }
        drain(&server);
        let (closed_after, client) = scenario(port, mode, server, act, wait);
        let state = closed_after.map(|_| {
            let line = syslog.wait("for the session", |l| l.contains(&client));
            state_of(&line, mode).unwrap_or_else(|| panic!("no state in {line}"))
        });
        Some(Seen {
            closed_after,
            state,
        })
    };
    (run(false).expect("ringlb runs"), run(true))
}

/// Both closed between `lo` and `hi` after the action, logging `state`.
fn assert_closed(mode: &str, extra: &str, act: Act, range: (u64, u64), state: &str) {
    assert_closed_as(mode, extra, act, range, state, &[state]);
}

/// [`assert_closed`], with ringlb logging `state` and HAProxy one of `ha_states`.
fn assert_closed_as(
    mode: &str,
    extra: &str,
    act: Act,
    (lo, hi): (u64, u64),
    state: &str,
    ha_states: &[&str],
) {
    let (lb, ha) = both(mode, extra, act, Duration::from_secs(5));
    for (who, seen) in [("ringlb", Some(lb)), ("haproxy", ha)] {
        let Some(seen) = seen else { continue };
        let after = seen
            .closed_after
            .unwrap_or_else(|| panic!("{who}: {act:?} still open after 5 s ({extra:?})"));
        let range = Duration::from_millis(lo)..Duration::from_millis(hi);
        assert!(
            range.contains(&after),
            "{who}: {act:?} closed after {after:?}, expected {range:?} ({extra:?})"
        );
        let got = seen.state.as_deref();
        if who == "ringlb" {
            assert_eq!(got, Some(state), "{who}: {act:?} ({extra:?})");
        } else {
            assert!(
                got.is_some_and(|g| ha_states.contains(&g)),
                "{who}: {act:?} ({extra:?}) logged {got:?}, expected one of {ha_states:?}"
            );
        }
    }
}

/// Both still open `wait` after the action.
fn assert_open(mode: &str, extra: &str, act: Act, wait: Duration) {
    let (lb, ha) = both(mode, extra, act, wait);
    for (who, seen) in [("ringlb", Some(lb)), ("haproxy", ha)] {
        let Some(seen) = seen else { continue };
        assert_eq!(
            seen.closed_after, None,
            "{who}: {act:?} closed early ({extra:?})"
        );
    }
}

#[test]
fn tcp_tunnel_timeout_ends_an_idle_connection() {
    // `timeout tunnel` replaces client 10s and server 10s: HAProxy logs the
    // client side's timeout, as ringlb does. Both sides' timeouts expire at
    // the same moment, and on a loaded machine (CI's 2 CPUs) HAProxy 2.6 was
    // seen reporting the server side's instead (sD): either is HAProxy.
    let extra = "    timeout tunnel 500ms\n";
    assert_closed_as("tcp", extra, Act::Idle, (350, 3000), "cD", &["cD", "sD"]);
}

#[test]
fn tcp_without_tunnel_timeout_stays_open() {
    assert_open("tcp", "", Act::Idle, Duration::from_millis(1200));
}

#[test]
fn websocket_tunnel_after_101_ends_at_timeout_tunnel() {
    let extra = "    timeout tunnel 500ms\n";
    assert_closed("http", extra, Act::Idle, (350, 3000), "cD--");
}

#[test]
fn websocket_tunnel_without_timeout_tunnel_stays_open() {
    assert_open("http", "", Act::Idle, Duration::from_millis(1200));
}

#[test]
fn server_fin_bounds_the_wait_on_the_server_after_the_clients_fin() {
    let extra = "    timeout server-fin 300ms\n";
    assert_closed("tcp", extra, Act::ClientFin, (200, 2500), "sD");
    // Over a tunnel timeout too (it is longer here).
    let extra = "    timeout tunnel 3s\n    timeout server-fin 300ms\n";
    assert_closed("tcp", extra, Act::ClientFin, (200, 2500), "sD");
}

#[test]
fn client_fin_bounds_the_wait_on_the_client_after_the_servers_fin() {
    let extra = "    timeout client-fin 300ms\n";
    assert_closed("tcp", extra, Act::ServerFin, (200, 2500), "cD");
    let extra = "    timeout tunnel 3s\n    timeout client-fin 300ms\n";
    assert_closed("tcp", extra, Act::ServerFin, (200, 2500), "cD");
}

#[test]
fn client_fin_does_not_apply_after_the_clients_own_fin() {
    // HAProxy's meaning: the client half-closing leaves the server side
    // waited on, by `timeout server` (10 s) here.
    assert_open(
        "tcp",
        "    timeout client-fin 300ms\n",
        Act::ClientFin,
        Duration::from_millis(1200),
    );
    assert_open(
        "tcp",
        "    timeout server-fin 300ms\n",
        Act::ServerFin,
        Duration::from_millis(1200),
    );
}

#[test]
fn websocket_server_fin_after_the_clients_fin() {
    let extra = "    timeout server-fin 300ms\n";
    assert_closed("http", extra, Act::ClientFin, (200, 2500), "sD--");
}

#[test]
fn a_fin_timeout_longer_than_the_tunnel_one_applies_on_the_splice_path() {
    // Spliced from the first byte both ways; client-fin (1 s) replaces the
    // shorter tunnel timeout once the server half-closed.
    let extra = "    option splice-request\n    option splice-response\n\
                 \x20   timeout tunnel 300ms\n    timeout client-fin 1s\n";
    assert_closed("tcp", extra, Act::ServerFin, (800, 3000), "cD");
}
