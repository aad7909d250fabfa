//! Proxy keywords end to end, most against HAProxy 2.6 on the same text:
//! `source` (the server sees the configured address), `disabled` (the
//! frontend does not listen, the backend answers 503), `rate-limit
//! sessions` and `maxsessrate` (connections past the rate wait in the
//! backlog), `id` (the stats CSV's `iid`/`sid`), server `minconn` under
//! `fullconn` (the queue forms at `minconn` while the backend is idle), and
//! 1.4's `grace` (HAProxy 2.5+ refuses it; ringlb keeps its 1.4 meaning).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Haproxy, Ringlb, TcpBackend, free_port, get, get_with, parse_stats_csv, stats_row};

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// A TCP backend that writes the address the connection came from, then closes.
fn peer_echo() -> TcpBackend {
    TcpBackend::start(|mut s| {
        let peer = s.peer_addr().map(|p| p.to_string()).unwrap_or_default();
        let _ = s.write_all(peer.as_bytes());
    })
}

/// What a TCP connection through `port` reads until the peer closes.
fn read_all(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Listens with `source` on the backend side: the server sees 127.0.0.2
/// (any port), one server with its own `source` sees 127.0.0.3 at the port
/// written.
fn source_config([port, own]: [u16; 2], b: &TcpBackend, fixed: u16) -> String {
    format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
         listen any\n    bind 127.0.0.1:{port}\n    source 127.0.0.2\n    server s 127.0.0.1:{}\n\
         listen own\n    bind 127.0.0.1:{own}\n    source 127.0.0.2\n    \
         server s 127.0.0.1:{} source 127.0.0.3:{fixed}\n",
        b.port, b.port
    )
}

/// The addresses the backend saw: through `any`, then through `own`.
fn source_cases([port, own]: [u16; 2], fixed: u16, who: &str) {
    let any = read_all(port);
    assert!(
        any.starts_with("127.0.0.2:"),
        "{who}: the server saw {any:?}"
    );
    assert_ne!(any, "127.0.0.2:0", "{who}");
    let own = read_all(own);
    assert_eq!(own, format!("127.0.0.3:{fixed}"), "{who}");
}

fn free_pair() -> [u16; 2] {
    [free_port(), free_port()]
}

#[test]
fn source_binds_server_connections_to_the_address_written() {
    let b = peer_echo();
    let port = free_pair();
    let fixed = free_port();
    // Waits on the first port only: a start-up probe through `own` would
    // leave the fixed source port's 4-tuple in TIME_WAIT for the real one.
    let mut lb = Ringlb::spawn(&source_config(port, &b, fixed), &["-db"]);
    let p0 = port[0];
    lb.wait_until("the first listener", || {
        TcpStream::connect(("127.0.0.1", p0)).is_ok()
    });
    source_cases(port, fixed, "ringlb");
    drop(lb);
    let port = free_pair();
    let fixed = free_port();
    let Some(_h) = Haproxy::start(&source_config(port, &b, fixed), port[0]) else {
        return;
    };
    source_cases(port, fixed, "haproxy 2.6");
}

/// `f_on` routes to the disabled backend `b_off` by `use_backend`, `f_off`
/// is disabled, the disabled listen `l_off` does not listen either.
fn disabled_config(ports: [u16; 3], server: u16) -> String {
    format!(
        "{DEFAULTS}frontend f_on\n    bind 127.0.0.1:{}\n    use_backend b_off if {{ path_beg /off }}\n    \
         default_backend b_on\n\
         frontend f_off\n    bind 127.0.0.1:{}\n    disabled\n    default_backend b_on\n\
         listen l_off\n    bind 127.0.0.1:{}\n    disabled\n    server s 127.0.0.1:{server}\n\
         backend b_on\n    server s 127.0.0.1:{server}\n\
         backend b_off\n    disabled\n    server s 127.0.0.1:{server}\n",
        ports[0], ports[1], ports[2]
    )
}

fn disabled_cases(ports: [u16; 3], who: &str) {
    assert_eq!(get(ports[0], "/on").status, 200, "{who}");
    assert_eq!(get(ports[0], "/off").status, 503, "{who}");
    for p in &ports[1..] {
        assert!(
            TcpStream::connect(("127.0.0.1", *p)).is_err(),
            "{who}: a disabled proxy listens on {p}"
        );
    }
}

#[test]
fn disabled_proxies_neither_listen_nor_serve() {
    let server = common::HttpBackend::start("s");
    let ports = [free_port(), free_port(), free_port()];
    let mut lb = Ringlb::spawn(&disabled_config(ports, server.port()), &["-db"]);
    let p0 = ports[0];
    lb.wait_until("f_on listens", || {
        TcpStream::connect(("127.0.0.1", p0)).is_ok()
    });
    disabled_cases(ports, "ringlb");
    drop(lb);
    let ports = [free_port(), free_port(), free_port()];
    let Some(_h) = Haproxy::start(&disabled_config(ports, server.port()), ports[0]) else {
        return;
    };
    disabled_cases(ports, "haproxy 2.6");
}

/// `n` connections, one after the other, each answered; how long it took.
fn sequential_gets(port: u16, n: usize) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        assert_eq!(get(port, &format!("/{i}")).status, 200);
    }
    start.elapsed()
}

#[test]
fn rate_limit_sessions_holds_connections_in_the_backlog() {
    let server = common::HttpBackend::start("s");
    let port = free_port();
    let cfg = format!(
        "global\n    nbthread 2\n{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    \
         rate-limit sessions 10\n    stats enable\n    stats uri /stats\n    \
         server s 127.0.0.1:{}\n",
        server.port()
    );
    let _lb = Ringlb::start(&cfg);
    // Ten at once, then one each 100 ms: 30 more take about 3 s.
    let took = sequential_gets(port, 40);
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(15),
        "40 sessions at 10/s took {took:?}"
    );
    // The stats show the limit (HAProxy's `rate_lim`).
    let rows = parse_stats_csv(&get_with(port, "/stats;csv", None, None).text());
    assert_eq!(stats_row(&rows, "l", "FRONTEND")["rate_lim"], "10");
}

#[test]
fn global_maxsessrate_limits_every_frontend_together() {
    let server = common::HttpBackend::start("s");
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "global\n    maxsessrate 20\n    maxconnrate 50\n{DEFAULTS}\
         listen a\n    bind 127.0.0.1:{p1}\n    server s 127.0.0.1:{0}\n\
         listen b\n    bind 127.0.0.1:{p2}\n    server s 127.0.0.1:{0}\n",
        server.port()
    );
    let _lb = Ringlb::start(&cfg);
    // 20 at once (shared by both frontends), then 20 a second: 20 more on
    // the other frontend take about 1 s.
    let start = Instant::now();
    sequential_gets(p1, 20);
    sequential_gets(p2, 20);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(10),
        "40 sessions at 20/s took {took:?}"
    );
}

/// Proxies and servers with and without `id`, and the stats page.
fn id_config(port: u16, server: u16) -> String {
    format!(
        "{DEFAULTS}listen st\n    bind 127.0.0.1:{port}\n    stats enable\n    stats uri /stats\n\
         backend a\n    id 2\n    server s1 127.0.0.1:{server} id 5\n    server s2 127.0.0.1:{server}\n    \
         server s3 127.0.0.1:{server} id 1\n\
         backend b\n    server s1 127.0.0.1:{server}\n\
         backend c\n    id 7\n    server s1 127.0.0.1:{server}\n"
    )
}

/// `pxname/svname iid sid` of every row.
fn ids(port: u16) -> Vec<String> {
    let r = get_with(port, "/stats;csv", None, None);
    let rows = parse_stats_csv(&r.text());
    let mut out: Vec<String> = [
        "a/s1",
        "a/s2",
        "a/s3",
        "a/BACKEND",
        "b/s1",
        "c/s1",
        "st/FRONTEND",
    ]
    .iter()
    .map(|n| {
        let (px, sv) = n.split_once('/').unwrap();
        let row = stats_row(&rows, px, sv);
        format!("{n} {} {}", row["iid"], row["sid"])
    })
    .collect();
    out.sort();
    out
}

#[test]
fn ids_number_proxies_and_servers_as_haproxy() {
    let server = common::HttpBackend::start("s");
    let port = free_port();
    let lb = Ringlb::start(&id_config(port, server.port()));
    let ours = ids(port);
    drop(lb);
    // Written ids stand; the others take the lowest free number in order.
    assert!(ours.contains(&"a/s1 2 5".to_string()), "{ours:?}");
    assert!(ours.contains(&"a/s2 2 2".to_string()), "{ours:?}");
    assert!(ours.contains(&"b/s1 3 1".to_string()), "{ours:?}");
    let port = free_port();
    let Some(_h) = Haproxy::start(&id_config(port, server.port()), port) else {
        return;
    };
    assert_eq!(ours, ids(port), "ringlb vs haproxy 2.6");
}

/// A backend that holds each request `hold`, counting the most served at once.
fn slow_backend(hold: Duration) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let max = Arc::new(AtomicUsize::new(0));
    let now = Arc::new(AtomicUsize::new(0));
    let m = max.clone();
    thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let (now, max) = (now.clone(), m.clone());
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                let cur = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(cur, Ordering::SeqCst);
                thread::sleep(hold);
                now.fetch_sub(1, Ordering::SeqCst);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    (port, max)
}

fn minconn_config(port: u16, server: u16) -> String {
    format!(
        "global\n    nbthread 2\n{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    \
         timeout queue 5s\n    fullconn 100\n    server s 127.0.0.1:{server} minconn 2 maxconn 50\n"
    )
}

/// 6 clients at once: the server sees at most `minconn` of them at a time
/// (6 in the backend: 6*50/100 = 3 would be allowed once all are in;
/// the first two enter alone, so 2 or 3).
fn minconn_case(port: u16, max: &AtomicUsize, who: &str) {
    let clients: Vec<_> = (0..6)
        .map(|i| thread::spawn(move || get(port, &format!("/{i}")).status))
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), 200, "{who}");
    }
    let seen = max.load(Ordering::SeqCst);
    assert!((2..=3).contains(&seen), "{who}: {seen} served at once");
}

#[test]
fn minconn_queues_at_the_floor_while_the_backend_is_idle() {
    let (server, max) = slow_backend(Duration::from_millis(300));
    let port = free_port();
    let lb = Ringlb::start(&minconn_config(port, server));
    minconn_case(port, &max, "ringlb");
    drop(lb);
    max.store(0, Ordering::SeqCst);
    let port = free_port();
    let Some(_h) = Haproxy::start(&minconn_config(port, server), port) else {
        return;
    };
    minconn_case(port, &max, "haproxy 2.6");
}

/// HAProxy 2.5+ refuses `grace`; ringlb keeps 1.4's meaning: after a soft
/// stop the frontend keeps accepting for that long, one without `grace`
/// stops at once.
#[test]
fn grace_keeps_a_frontend_listening_after_soft_stop() {
    let server = common::HttpBackend::start("s");
    let (pg, pn) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}listen g\n    bind 127.0.0.1:{pg}\n    grace 1500ms\n    server s 127.0.0.1:{0}\n\
         listen n\n    bind 127.0.0.1:{pn}\n    server s 127.0.0.1:{0}\n",
        server.port()
    );
    let mut lb = Ringlb::start(&cfg);
    assert!(lb.stderr().contains("'grace' was removed in HAProxy 2.5"));
    lb.signal(libc::SIGUSR1);
    let stopped = Instant::now();
    // The frontend without grace stops listening at once.
    let deadline = Instant::now() + Duration::from_secs(1);
    while TcpStream::connect(("127.0.0.1", pn)).is_ok() {
        assert!(Instant::now() < deadline, "'n' still listens");
        thread::sleep(Duration::from_millis(20));
    }
    // The one with grace still serves new connections.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(get(pg, "/").status, 200);
    assert!(stopped.elapsed() < Duration::from_millis(1400));
    // And stops after it.
    let status = lb.wait_exit(Duration::from_secs(5));
    assert!(status.is_some(), "ringlb did not stop after its grace");
    assert!(stopped.elapsed() >= Duration::from_millis(1400));
    assert!(TcpStream::connect(("127.0.0.1", pg)).is_err());
}

/// `dispatch` alone, and beside a server: HAProxy 2.6 sends every
/// connection to the dispatch address either way; the stats show the
/// backend UP and no row for the address.
fn dispatch_config(ports: [u16; 3], to: u16, server: u16) -> String {
    format!(
        "{DEFAULTS}listen alone\n    bind 127.0.0.1:{}\n    dispatch 127.0.0.1:{to}\n    \
         stats enable\n    stats uri /stats\n\
         listen beside\n    bind 127.0.0.1:{}\n    dispatch 127.0.0.1:{to}\n    \
         server s 127.0.0.1:{server}\n\
         listen tcp\n    mode tcp\n    bind 127.0.0.1:{}\n    dispatch 127.0.0.1:{to}\n",
        ports[0], ports[1], ports[2]
    )
}

fn dispatch_cases(ports: [u16; 3], who: &str) {
    for p in &ports[..2] {
        let r = get(*p, "/");
        assert_eq!(
            (r.status, r.server()),
            (200, "dispatched".to_string()),
            "{who}"
        );
    }
    let mut s = TcpStream::connect(("127.0.0.1", ports[2])).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = String::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_string(&mut got);
    assert!(got.starts_with("HTTP/1.1 200"), "{who}: tcp got {got:?}");
    let rows = parse_stats_csv(&get_with(ports[0], "/stats;csv", None, None).text());
    let names: Vec<String> = rows
        .iter()
        .filter(|r| r["pxname"] == "alone" || r["pxname"] == "beside")
        .map(|r| {
            let (px, sv) = (&r["pxname"], &r["svname"]);
            format!(
                "{px}/{sv} {} {}/{}/{}",
                r["status"], r["weight"], r["act"], r["bck"]
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "alone/FRONTEND OPEN //",
            "alone/BACKEND UP 0/0/0",
            "beside/FRONTEND OPEN //",
            // HAProxy balances nothing beside `dispatch`: weights 0, and
            // the backend is DOWN for it, though it serves.
            "beside/s no check 0/1/0",
            "beside/BACKEND DOWN 0/1/0"
        ],
        "{who}"
    );
}

#[test]
fn dispatch_sends_every_connection_to_its_address() {
    let to = common::HttpBackend::start("dispatched");
    let server = common::HttpBackend::start("server");
    let ports = [free_port(), free_port(), free_port()];
    let lb = Ringlb::start(&dispatch_config(ports, to.port(), server.port()));
    dispatch_cases(ports, "ringlb");
    drop(lb);
    let ports = [free_port(), free_port(), free_port()];
    let Some(_h) = Haproxy::start(&dispatch_config(ports, to.port(), server.port()), ports[0])
    else {
        return;
    };
    dispatch_cases(ports, "haproxy 2.6");
    assert_eq!(
        server.request_count(),
        0,
        "the server beside 'dispatch' got requests"
    );
}

/// `disabled` in `defaults` reaches every proxy after it, `enabled` undoes
/// it; disabled proxies keep their automatic number (HAProxy numbers them).
fn disabled_defaults_config(ports: [u16; 2], server: u16) -> String {
    format!(
        "defaults\n    mode http\n    disabled\n    timeout connect 2s\n    timeout client 5s\n    \
         timeout server 5s\nfrontend f1\n    bind 127.0.0.1:{}\n    default_backend b\n\
         listen st\n    bind 127.0.0.1:{}\n    enabled\n    stats enable\n    stats uri /stats\n    \
         server s 127.0.0.1:{server}\nbackend b\n    server s 127.0.0.1:{server}\n",
        ports[0], ports[1]
    )
}

fn disabled_defaults_case(ports: [u16; 2], who: &str) {
    assert!(
        TcpStream::connect(("127.0.0.1", ports[0])).is_err(),
        "{who}"
    );
    let rows = parse_stats_csv(&get_with(ports[1], "/stats;csv", None, None).text());
    let shown: Vec<String> = rows
        .iter()
        .map(|r| format!("{}/{} {}", r["pxname"], r["svname"], r["iid"]))
        .collect();
    assert_eq!(shown, ["st/FRONTEND 2", "st/s 2", "st/BACKEND 2"], "{who}");
}

#[test]
fn disabled_in_defaults_and_the_numbering_of_disabled_proxies() {
    let server = common::HttpBackend::start("s");
    let ports = [free_port(), free_port()];
    let mut lb = Ringlb::spawn(&disabled_defaults_config(ports, server.port()), &["-db"]);
    let p = ports[1];
    lb.wait_until("st listens", || {
        TcpStream::connect(("127.0.0.1", p)).is_ok()
    });
    disabled_defaults_case(ports, "ringlb");
    drop(lb);
    let ports = [free_port(), free_port()];
    let cfg = disabled_defaults_config(ports, server.port());
    let Some(_h) = Haproxy::start(&cfg, ports[1]) else {
        return;
    };
    disabled_defaults_case(ports, "haproxy 2.6");
}

/// A disabled backend is not health-checked (HAProxy checks none of its
/// servers), and its checks come from the `source` address when enabled.
#[test]
fn checks_skip_disabled_backends_and_come_from_the_source() {
    let peers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = peers.clone();
    let checked = TcpBackend::start(move |s| {
        if let Ok(p) = s.peer_addr() {
            seen.lock().unwrap().push(p.ip().to_string());
        }
    });
    let off = TcpBackend::start(|_| {});
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind 127.0.0.1:{port}\n    default_backend on\n\
         backend on\n    source 127.0.0.2\n    server s 127.0.0.1:{} check inter 100\n\
         backend off\n    disabled\n    server s 127.0.0.1:{} check inter 100\n",
        checked.port, off.port
    );
    let _lb = Ringlb::start(&cfg);
    thread::sleep(Duration::from_millis(600));
    let got = peers.lock().unwrap().clone();
    assert!(
        got.len() >= 2,
        "the enabled backend was not checked: {got:?}"
    );
    assert!(got.iter().all(|ip| ip == "127.0.0.2"), "{got:?}");
    assert_eq!(off.accepted(), 0, "a disabled backend was checked");
}
