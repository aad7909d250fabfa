//! Process limits: `maxconn` (global and per frontend) stops accepting rather
//! than refusing; the open-file limit is raised for maxconn or maxconn lowered
//! with a clear warning (`strict-limits` refuses to start instead, `no
//! strict-limits` keeps maxconn); `uid`/`gid` drop privileges; `nbthread` defaults to
//! one worker per core.

mod common;

use common::{HttpBackend, HttpClient, ListenCfg, Ringlb, TcpBackend, connect, free_port, get};
use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// maxconn
// ---------------------------------------------------------------------------

/// How long a connection beyond the limit is watched for (no reply expected).
const NOT_SERVED_FOR: Duration = Duration::from_millis(500);

/// One echo round trip on an open relay.
fn echo_roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("no echo of {:?}: {e}", String::from_utf8_lossy(msg)));
    assert_eq!(buf, msg);
}

/// With ringlb limited to `limit` connections in front of an echo server:
/// `limit` clients are served and stay open; one more is not refused (connect
/// succeeds: it waits in the kernel backlog) but is not served either, and the
/// backend sees no connection for it; once one of the first closes, it is served.
fn check_limit(cfg: ListenCfg, echo: &TcpBackend, limit: usize) {
    let lb = Ringlb::start(&cfg.render());
    let mut held: Vec<TcpStream> = (0..limit)
        .map(|i| {
            let mut s = connect(lb.port());
            echo_roundtrip(&mut s, format!("held {i}").as_bytes());
            s
        })
        .collect();
    // Each held connection was relayed, so all `limit` slots are taken now.
    let backend_conns = echo.accepted();
    assert_eq!(echo.active(), limit, "backend connections open");

    let mut extra = TcpStream::connect(("127.0.0.1", lb.port()))
        .unwrap_or_else(|e| panic!("connection over maxconn refused instead of queued: {e}"));
    extra.set_write_timeout(Some(common::IO_TIMEOUT)).unwrap();
    extra.write_all(b"extra").unwrap();
    extra.set_read_timeout(Some(NOT_SERVED_FOR)).unwrap();
    let mut buf = [0u8; 64];
    match extra.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Ok(0) => panic!("connection over maxconn was closed instead of waiting"),
        Ok(n) => panic!(
            "connection over maxconn {limit} was served: got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("connection over maxconn failed instead of waiting: {e}"),
    }
    assert_eq!(
        echo.accepted(),
        backend_conns,
        "the backend got a connection beyond maxconn {limit}"
    );
    // The held ones still work.
    for (i, s) in held.iter_mut().enumerate() {
        echo_roundtrip(s, format!("still {i}").as_bytes());
    }

    // Free one slot: the waiting connection is accepted and relayed.
    drop(held.remove(0));
    extra.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    let mut got = [0u8; 5];
    extra
        .read_exact(&mut got)
        .unwrap_or_else(|e| panic!("queued connection not served after a slot freed: {e}"));
    assert_eq!(&got, b"extra");
    echo_roundtrip(&mut extra, b"and more");
    assert_eq!(echo.accepted(), backend_conns + 1);
}

#[test]
fn global_maxconn_queues_excess_connections() {
    let echo = TcpBackend::echo();
    let cfg = ListenCfg::tcp(free_port())
        .nbthread(Some(1))
        .global("maxconn 4")
        .server("echo", echo.port);
    check_limit(cfg, &echo, 4);
}

/// One worker here; with several, see [`frontend_maxconn_counts_every_worker`].
#[test]
fn frontend_maxconn_queues_excess_connections() {
    let echo = TcpBackend::echo();
    let cfg = ListenCfg::tcp(free_port())
        .nbthread(Some(1))
        .line("maxconn 2")
        .server("echo", echo.port);
    check_limit(cfg, &echo, 2);
}

/// `bind ... defer-accept`: the kernel hands over a connection only once the
/// client has sent something, so a client that connects and stays silent does
/// not take a `maxconn` slot; without it, it would hold the only slot until
/// `timeout http-request` and the talking client would wait behind it.
#[test]
fn defer_accept_keeps_silent_connections_out_of_maxconn() {
    let a = HttpBackend::start("a");
    let port = free_port();
    let cfg = ListenCfg::http(port)
        .bind_at(&format!("127.0.0.1:{port} defer-accept"))
        .nbthread(Some(1))
        .global("maxconn 1")
        .line("timeout http-request 20s")
        .server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    assert_eq!(lb.port(), port);
    let silent = connect(port);
    // The kernel accepts a silent client after its first SYN-ACK resend (1 s
    // for HAProxy's setting), so the talking client must be served well
    // before: a 500 ms read timeout leaves that margin.
    let mut s = connect(port);
    s.set_read_timeout(Some(NOT_SERVED_FOR)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let got = s.read_to_end(&mut reply);
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "talking client not served while a silent one waited in the kernel: {got:?} {:?}",
        String::from_utf8_lossy(&reply)
    );
    drop(silent);
}

// ---------------------------------------------------------------------------
// maxconn with several workers: one limit for the whole process
// ---------------------------------------------------------------------------

/// Workers for the process-wide tests: with four, the kernel's SO_REUSEPORT
/// hash spreads `PROCESS_LIMIT` connections exactly evenly (3 each) only about
/// 2 % of the time, and each round draws new source ports, so a limit split
/// between workers (each serving only its share) fails [`ROUNDS`] rounds in
/// a row all but about 0.05 % of the time.
const WORKERS: u32 = 4;
const PROCESS_LIMIT: usize = 12;
const ROUNDS: usize = 2;

/// How long the held clients have, together, to get their replies.
const SERVED_WITHIN: Duration = Duration::from_secs(3);

/// A client that holds its connection open after being served: an echo
/// round trip in mode tcp, a keep-alive GET in mode http.
enum Held {
    Tcp(TcpStream, Vec<u8>),
    Http(HttpClient),
}

impl Held {
    /// Connects (the kernel completes it even when ringlb does not accept)
    /// and sends its request, tagged `tag`.
    fn send(port: u16, http: bool, tag: &str) -> Held {
        if http {
            let mut c = HttpClient::connect(port);
            c.send(format!("GET /{tag} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
            Held::Http(c)
        } else {
            let mut s = connect(port);
            s.write_all(tag.as_bytes()).unwrap();
            Held::Tcp(s, tag.as_bytes().to_vec())
        }
    }

    /// Waits up to `within` for the reply, leaving the connection open.
    fn served(&mut self, within: Duration) -> Result<(), String> {
        let within = within.max(Duration::from_millis(1));
        match self {
            Held::Tcp(s, tag) => {
                s.set_read_timeout(Some(within)).unwrap();
                let mut buf = vec![0u8; tag.len()];
                let r = s.read_exact(&mut buf);
                s.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
                match r {
                    Ok(()) if buf == *tag => Ok(()),
                    Ok(()) => Err(format!("echo {:?}", String::from_utf8_lossy(&buf))),
                    Err(e) => Err(e.to_string()),
                }
            }
            Held::Http(c) => {
                c.conn.stream.set_read_timeout(Some(within)).unwrap();
                let r = c.try_response();
                c.conn
                    .stream
                    .set_read_timeout(Some(common::IO_TIMEOUT))
                    .unwrap();
                match r {
                    Ok(r) if r.status == 200 => Ok(()),
                    Ok(r) => Err(format!("status {}", r.status)),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }
}

/// `limit` clients at once are all served, whichever workers the kernel
/// hands them to, and stay open; one more connects (it waits in a backlog)
/// but is neither served nor forwarded (`forwarded`: what the backend has
/// seen) until one of the first closes, then it is served. Twice, with fresh
/// connections.
fn check_process_limit(lb: &Ringlb, limit: usize, http: bool, forwarded: &dyn Fn() -> usize) {
    for round in 0..ROUNDS {
        let mut held: Vec<Held> = (0..limit)
            .map(|i| Held::send(lb.port(), http, &format!("r{round}c{i}")))
            .collect();
        let deadline = Instant::now() + SERVED_WITHIN;
        let unserved: Vec<String> = held
            .iter_mut()
            .enumerate()
            .filter_map(|(i, h)| {
                let left = deadline.saturating_duration_since(Instant::now());
                h.served(left).err().map(|e| format!("client {i}: {e}"))
            })
            .collect();
        assert!(
            unserved.is_empty(),
            "round {round}: maxconn {limit} with {WORKERS} workers served only {} of {limit} \
             concurrent clients: {unserved:?}",
            limit - unserved.len()
        );

        let seen = forwarded();
        let mut extra = Held::send(lb.port(), http, &format!("r{round}extra"));
        if let Ok(()) = extra.served(NOT_SERVED_FOR) {
            panic!(
                "round {round}: client {} of maxconn {limit} was served",
                limit + 1
            );
        }
        assert_eq!(
            forwarded(),
            seen,
            "round {round}: the backend got a request beyond maxconn {limit}"
        );

        // One closes: its slot goes to the waiting client, on whichever
        // worker the kernel queued it.
        drop(held.remove(round % limit));
        extra.served(common::IO_TIMEOUT).unwrap_or_else(|e| {
            panic!("round {round}: the waiting client was not served after a slot freed: {e}")
        });
    }
}

#[test]
fn global_maxconn_counts_every_worker() {
    let echo = TcpBackend::echo();
    let cfg = ListenCfg::tcp(free_port())
        .nbthread(Some(WORKERS))
        .global(&format!("maxconn {PROCESS_LIMIT}"))
        .server("echo", echo.port);
    let lb = Ringlb::start(&cfg.render());
    check_process_limit(&lb, PROCESS_LIMIT, false, &|| echo.accepted());
}

#[test]
fn frontend_maxconn_counts_every_worker() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .nbthread(Some(WORKERS))
        .line(&format!("maxconn {PROCESS_LIMIT}"))
        .server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    check_process_limit(&lb, PROCESS_LIMIT, true, &|| a.request_count());
}

// ---------------------------------------------------------------------------
// Open-file limit
// ---------------------------------------------------------------------------

/// (soft, hard) RLIMIT_NOFILE of this process, which ringlb inherits.
fn nofile_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid, writable rlimit that outlives the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit");
    (lim.rlim_cur, lim.rlim_max)
}

/// Whether this process (and so ringlb) has CAP_SYS_RESOURCE, which lets it
/// raise the hard open-file limit.
fn has_cap_sys_resource() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

/// "Max open files" (soft, hard) of a running process.
fn proc_nofile(pid: i32) -> (u64, u64) {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).expect("read /proc/pid/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn maxconn_beyond_open_file_limit_is_lowered_with_a_warning() {
    const MAXCONN: u64 = 50_000;
    // Two fds per connection plus listeners and a margin: at least this many.
    const NEEDED: u64 = 2 * MAXCONN;
    let (_, hard) = nofile_limit();
    if hard == libc::RLIM_INFINITY || hard > NEEDED + 1000 {
        println!("SKIPPED: hard open-file limit {hard} already allows maxconn {MAXCONN}");
        return;
    }
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let can_raise = has_cap_sys_resource() && nr_open > NEEDED + 1000;

    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global(&format!("maxconn {MAXCONN}"))
        .server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    // It starts and serves either way.
    let r = get(lb.port(), "/");
    assert_eq!(r.status, 200, "{}", r.text());
    let err = lb.stderr();
    let (soft_now, hard_now) = proc_nofile(lb.pid());
    if can_raise {
        // Privileged: the limit is raised for maxconn and nothing is lowered.
        assert!(
            soft_now >= NEEDED,
            "open-file limit {soft_now}, maxconn {MAXCONN} needs {NEEDED}\nstderr: {err}"
        );
        assert!(!err.contains("maxconn lowered"), "stderr: {err}");
    } else {
        assert!(
            err.contains("Cannot raise FD limit"),
            "no 'Cannot raise FD limit' warning (hard limit {hard})\nstderr: {err}"
        );
        assert!(
            err.contains("maxconn lowered"),
            "no 'maxconn lowered' warning\nstderr: {err}"
        );
        assert!(
            err.contains(&format!("from {MAXCONN}")),
            "warning does not name the configured maxconn\nstderr: {err}"
        );
        // It took what the system allows.
        assert_eq!(
            (soft_now, hard_now),
            (hard, hard),
            "ringlb's open-file limit"
        );
    }
}

/// A maxconn no system allows: twice it exceeds the kernel's fs.nr_open
/// ceiling (1,048,576 by default), even for root.
const MAXCONN_BEYOND_ANY_LIMIT: u64 = 600_000;

/// A backend and a config asking for [`MAXCONN_BEYOND_ANY_LIMIT`] with the
/// given `strict-limits` line; None (test skipped) where fs.nr_open allows it.
fn beyond_any_limit(strict_line: &str) -> Option<(HttpBackend, String)> {
    let beyond = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .is_some_and(|n| n < 2 * MAXCONN_BEYOND_ANY_LIMIT);
    if !beyond {
        println!("SKIPPED: fs.nr_open allows maxconn {MAXCONN_BEYOND_ANY_LIMIT}");
        return None;
    }
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global(&format!("maxconn {MAXCONN_BEYOND_ANY_LIMIT}"))
        .global(strict_line)
        .server("a", a.port());
    Some((a, cfg.render()))
}

#[test]
fn strict_limits_refuses_to_start_when_fds_are_short() {
    let Some((_a, cfg)) = beyond_any_limit("strict-limits") else {
        return;
    };
    let mut lb = Ringlb::spawn(&cfg, &["-db"]);
    let status = lb
        .wait_exit(Duration::from_secs(10))
        .expect("ringlb keeps running");
    assert!(!status.success(), "exit status {status}");
    let err = lb.stderr();
    assert!(
        err.contains("Cannot raise FD limit") && err.contains("strict-limits"),
        "stderr: {err}"
    );
}

#[test]
fn no_strict_limits_keeps_maxconn_and_serves() {
    let Some((_a, cfg)) = beyond_any_limit("no strict-limits") else {
        return;
    };
    let lb = Ringlb::start(&cfg);
    let r = get(lb.port(), "/");
    assert_eq!(r.status, 200, "{}", r.text());
    let err = lb.stderr();
    assert!(err.contains("Cannot raise FD limit"), "stderr: {err}");
    assert!(!err.contains("maxconn lowered"), "stderr: {err}");
}

// ---------------------------------------------------------------------------
// Privileges
// ---------------------------------------------------------------------------

/// The ids on a `/proc/<pid>/status` line such as `Uid:`.
fn status_ids(status: &str, key: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} line in {status}"))
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn uid_gid_drop_privileges() {
    const NOBODY: u32 = 65534;
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global(&format!("uid {NOBODY}"))
        .global(&format!("gid {NOBODY}"))
        .server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    // SAFETY: geteuid takes no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        // Listeners bound as root keep working after the drop.
        let r = get(lb.port(), "/");
        assert_eq!(r.status, 200, "{}", r.text());
        // Every thread (main and workers): real, effective, saved and fs ids.
        let tasks = fs::read_dir(format!("/proc/{}/task", lb.pid())).expect("task dir");
        let mut seen = 0;
        for t in tasks {
            let path = t.unwrap().path().join("status");
            let Ok(status) = fs::read_to_string(&path) else {
                continue;
            };
            assert_eq!(
                status_ids(&status, "Uid:"),
                [NOBODY; 4],
                "{}",
                path.display()
            );
            assert_eq!(
                status_ids(&status, "Gid:"),
                [NOBODY; 4],
                "{}",
                path.display()
            );
            // Root's supplementary groups are gone (HAProxy clears the list,
            // keeping only `gid` is as safe).
            let groups = status_ids(&status, "Groups:");
            assert!(
                groups.iter().all(|&g| g == NOBODY),
                "supplementary groups of {}: {groups:?}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 2, "only {seen} threads seen");
    } else {
        let err = lb.stderr();
        assert!(
            err.contains("not running as root"),
            "no warning about uid/gid without root\nstderr: {err}"
        );
        assert_eq!(get(lb.port(), "/").status, 200);
    }
}

// ---------------------------------------------------------------------------
// nbthread
// ---------------------------------------------------------------------------

/// Names (`comm`) of every thread of a process.
fn thread_names(pid: i32) -> Vec<String> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn nbthread_defaults_to_one_worker_per_core() {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .nbthread(None)
        .server("a", a.port());
    assert!(!cfg.render().contains("nbthread"));
    let lb = Ringlb::start(&cfg.render());
    assert_eq!(get(lb.port(), "/").status, 200);
    // Listeners are bound before the workers start: wait for them to appear.
    let deadline = Instant::now() + Duration::from_secs(5);
    let workers = loop {
        let names = thread_names(lb.pid());
        let workers: BTreeSet<String> = names
            .iter()
            .filter(|n| n.starts_with("ringlb-w"))
            .cloned()
            .collect();
        if workers.len() >= cores || Instant::now() > deadline {
            break workers;
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(
        workers.len() >= cores,
        "{} ringlb-w* threads for {cores} cores: {workers:?} (all: {:?})",
        workers.len(),
        thread_names(lb.pid())
    );
    for i in 0..cores {
        assert!(
            workers.contains(&format!("ringlb-w{i}")),
            "no thread ringlb-w{i}: {workers:?}"
        );
    }
}
