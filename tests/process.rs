//! Process handling: SIGTERM and SIGINT stop at once with status 0; SIGUSR1
//! stops accepting and exits 0 once the last connection ends; `-p` and the
//! `pidfile` keyword write the pid; `daemon` detaches (and `-db` keeps it in the
//! foreground, which every other test relies on).

mod common;

use common::{HttpBackend, ListenCfg, Ringlb, TcpBackend, TestDir, connect, free_port, get};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

fn stop_with(sig: libc::c_int) {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let mut lb = Ringlb::start(&cfg.render());
    assert_eq!(get(lb.port(), "/").status, 200);
    // An idle client connection must not delay a hard stop.
    let _idle = connect(lb.port());
    lb.signal(sig);
    let st = lb
        .wait_exit(Duration::from_secs(2))
        .unwrap_or_else(|| panic!("still running 2 s after signal {sig}"));
    assert_eq!(st.code(), Some(0), "exit status {st}");
}

#[test]
fn sigterm_exits_0_at_once() {
    stop_with(libc::SIGTERM);
}

#[test]
fn sigint_exits_0_at_once() {
    stop_with(libc::SIGINT);
}

/// One echo round trip on an open relay.
fn echo_roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(buf, msg);
}

#[test]
fn sigusr1_soft_stop_waits_for_last_connection() {
    let echo = TcpBackend::echo();
    let cfg = ListenCfg::tcp(free_port())
        .server("echo", echo.port)
        .timeout_client("10s")
        .timeout_server("10s");
    let mut lb = Ringlb::start(&cfg.render());
    let mut s = connect(lb.port());
    echo_roundtrip(&mut s, b"before");
    lb.signal(libc::SIGUSR1);
    // Listeners close: new connections are refused within a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match TcpStream::connect(("127.0.0.1", lb.port())) {
            Err(_) => break,
            Ok(_) if Instant::now() > deadline => {
                panic!("still accepting 2 s after SIGUSR1")
            }
            Ok(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
    // The open connection keeps working and keeps the process alive.
    thread::sleep(Duration::from_millis(500));
    assert!(lb.is_running(), "exited with a connection still open");
    echo_roundtrip(&mut s, b"during soft stop");
    drop(s);
    let st = lb
        .wait_exit(Duration::from_secs(3))
        .expect("still running 3 s after the last connection ended");
    assert_eq!(st.code(), Some(0), "exit status {st}");
}

#[test]
fn sigusr1_closes_idle_keepalive_clients_and_exits() {
    // An idle keep-alive client waits with its read in flight; soft stop must
    // still notice (within its 1 s wake-up) and close it, not wait for
    // `timeout http-keep-alive`.
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 1")
        .line("timeout http-keep-alive 30s")
        .server("a", a.port());
    let mut lb = Ringlb::start(&cfg.render());
    let mut s = connect(lb.port());
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    assert!(s.read(&mut buf).unwrap() > 0, "no response");
    lb.signal(libc::SIGUSR1);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let n = s
        .read(&mut buf)
        .expect("idle client not closed within 5 s of SIGUSR1");
    assert_eq!(n, 0, "expected a close");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        t.elapsed()
    );
    let st = lb
        .wait_exit(Duration::from_secs(3))
        .expect("still running 3 s after its idle client was closed");
    assert_eq!(st.code(), Some(0), "exit status {st}");
}

#[test]
fn sigusr1_with_no_connection_exits_0() {
    // A small maxconn too: no accept loop may be left waiting for slots.
    for global in ["maxconn 4000", "maxconn 4"] {
        let a = HttpBackend::start("a");
        let cfg = ListenCfg::http(free_port())
            .global(global)
            .global("nbthread 1")
            .server("a", a.port());
        let mut lb = Ringlb::start(&cfg.render());
        lb.signal(libc::SIGUSR1);
        let st = lb
            .wait_exit(Duration::from_secs(3))
            .unwrap_or_else(|| panic!("idle process ({global}) still running 3 s after SIGUSR1"));
        assert_eq!(st.code(), Some(0), "exit status {st}");
    }
}

/// Reads a pidfile, waiting up to 5 s for it to appear with a number in it.
fn read_pidfile(path: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(t) = fs::read_to_string(path)
            && let Ok(pid) = t.trim().parse()
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "pidfile {} not written",
            path.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dash_p_writes_pidfile() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let dir = TestDir::new("pidfile");
    let pidfile = dir.path().join("ringlb.pid");
    let lb = Ringlb::start_with_args(&cfg.render(), &["-p", pidfile.to_str().unwrap()]);
    assert_eq!(read_pidfile(&pidfile), lb.pid());
}

#[test]
fn pidfile_keyword_writes_pidfile() {
    let a = HttpBackend::start("a");
    let dir = TestDir::new("pidfile-kw");
    let pidfile = dir.path().join("kw.pid");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .global(&format!("pidfile {}", pidfile.display()));
    let lb = Ringlb::start(&cfg.render());
    assert_eq!(read_pidfile(&pidfile), lb.pid());
}

/// True while `pid` exists and is not a zombie (an orphaned daemon is reaped
/// by init, which may take a moment or, in a container, never happen).
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Kills a daemonized ringlb on drop, found by its pidfile.
struct DaemonGuard(std::path::PathBuf);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Ok(t) = fs::read_to_string(&self.0)
            && let Ok(pid) = t.trim().parse::<i32>()
            && pid > 1
        {
            // SAFETY: kill(2) on the pid the daemon we started wrote; no memory involved.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

#[test]
fn daemon_detaches_and_serves() {
    let a = HttpBackend::start("a");
    let dir = TestDir::new("daemon");
    let pidfile = dir.path().join("daemon.pid");
    let _guard = DaemonGuard(pidfile.clone());
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .global("daemon")
        .global(&format!("pidfile {}", pidfile.display()));
    let mut lb = Ringlb::spawn(&cfg.render(), &[]);
    // The launching process returns 0 once the daemon is running.
    let st = lb
        .wait_exit(Duration::from_secs(5))
        .expect("launcher did not return with `daemon` set");
    assert_eq!(st.code(), Some(0), "launcher exit {st}\n{}", lb.stderr());
    let pid = read_pidfile(&pidfile);
    assert_ne!(pid, lb.pid(), "pidfile holds the launcher's pid");
    // The daemon serves.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", lb.port())).is_err() {
        assert!(Instant::now() < deadline, "daemon does not accept");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(get(lb.port(), "/").status, 200);
    // SIGTERM stops it.
    // SAFETY: kill(2) on the daemon's pid read from its pidfile.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive(pid) {
        assert!(Instant::now() < deadline, "daemon survived SIGTERM");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn db_keeps_daemon_config_in_foreground() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .server("a", a.port())
        .global("daemon");
    // Ringlb::start passes -db: the child itself must be the server.
    let mut lb = Ringlb::start(&cfg.render());
    assert!(lb.is_running(), "-db process exited");
    assert_eq!(get(lb.port(), "/").status, 200);
    lb.signal(libc::SIGTERM);
    let st = lb.wait_exit(Duration::from_secs(2)).expect("still running");
    assert_eq!(st.code(), Some(0));
}

/// `chroot <dir>`: taken after binding (the process's root is the
/// directory, and it still serves); a directory that cannot be taken stops
/// the start with HAProxy's alert.
#[test]
fn chroot_is_taken_after_binding() {
    let be = HttpBackend::start("jailed");
    let jail = TestDir::new("chroot-jail");
    let port = free_port();
    let cfg = |dir: &Path| {
        ListenCfg::http(port)
            .server("s1", be.port())
            .global(&format!("chroot {}", dir.display()))
            .render()
    };
    let missing = jail.path().join("missing");
    let out = common::run_cli(
        jail.path(),
        &["-db", "-f", &{
            let p = jail.write("bad.cfg", &cfg(&missing));
            p.display().to_string()
        }],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("Cannot chroot({})", missing.display())),
        "{}",
        out.stderr
    );
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: chroot(2) is refused, the serving half is skipped");
        return;
    }
    let rl = Ringlb::start(&cfg(jail.path()));
    let root = fs::read_link(format!("/proc/{}/root", rl.pid())).unwrap();
    assert_eq!(root, fs::canonicalize(jail.path()).unwrap());
    assert_eq!(get(port, "/in-jail").server(), "jailed");
}

/// In the foreground one line says what runs: workers, I/O driver, listeners.
#[test]
fn the_foreground_start_says_what_runs() {
    let be = HttpBackend::start("a");
    let port = free_port();
    let cfg = ListenCfg::http(port)
        .nbthread(Some(2))
        .server("s1", be.port())
        .render();
    let lb = Ringlb::start(&cfg);
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let err = lb.stderr();
        if let Some(l) = err.lines().find(|l| l.starts_with("[NOTICE] ringlb ")) {
            break l.to_owned();
        }
        assert!(Instant::now() < deadline, "no start-up line: {err}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(line.contains(": 2 workers ("), "{line}");
    assert!(
        line.contains("io_uring") || line.contains("epoll"),
        "{line}"
    );
    assert!(
        line.contains(&format!("listening: test on 127.0.0.1:{port}")),
        "{line}"
    );
}
