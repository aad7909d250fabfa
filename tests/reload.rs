//! Seamless reload, as HAProxy operators do it (issue #14): under keep-alive
//! and new-connection load, no request is lost and no connect refused
//! across a reload with `-sf`, with `-x` + `-sf`, and in master-worker mode
//! (`-W`, SIGUSR2). With the sockets handed over (`-x`, `-W`) no client even
//! waits for a SYN to be sent again; with `-sf` alone the old process refuses
//! SYNs on its own sockets while it drains them, so some clients retry after
//! a second (the kernel's SYN retransmission), but none fails.

mod common;

use common::{HttpBackend, ListenCfg, Load, Ringlb, TestDir, free_port};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

fn check(tally: &Arc<common::Tally>, max_wait: Option<Duration>) {
    let f = tally.failures.lock().unwrap();
    let (lost, refused) = (
        tally.lost.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
    );
    let answered = tally.answered.load(Ordering::Relaxed);
    assert_eq!((lost, refused), (0, 0), "{answered} answered; {f:?}");
    if let Some(max) = max_wait {
        let slowest = *tally.slowest.lock().unwrap();
        assert!(
            slowest < max,
            "a request took {slowest:?}: a SYN was dropped?"
        );
    }
}

#[test]
fn sf_reload_under_load_loses_nothing() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 2")
        .server("a", a.port())
        .render();
    let mut old = Ringlb::start(&cfg);
    let load = Load::start(old.ports[0], 8, 4);
    for _ in 0..2 {
        thread::sleep(Duration::from_millis(400));
        let pid = old.pid().to_string();
        let new = Ringlb::start_with_args(&cfg, &["-sf", &pid]);
        assert!(
            old.wait_exit(Duration::from_secs(10)).is_some(),
            "old process still running"
        );
        old = new;
    }
    thread::sleep(Duration::from_millis(300));
    let tally = load.finish();
    check(&tally, None);
}

#[test]
fn x_reload_takes_the_sockets_and_loses_nothing() {
    let a = HttpBackend::start("a");
    let dir = TestDir::new("reload-x");
    let sock = dir.path().join("admin.sock");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 2")
        .global(&format!(
            "stats socket {} level admin expose-fd listeners",
            sock.display()
        ))
        .server("a", a.port())
        .render();
    let mut old = Ringlb::start(&cfg);
    let load = Load::start(old.ports[0], 8, 4);
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(300));
        let pid = old.pid().to_string();
        let s = sock.display().to_string();
        let new = Ringlb::start_with_args(&cfg, &["-x", &s, "-sf", &pid]);
        assert!(
            old.wait_exit(Duration::from_secs(10)).is_some(),
            "old process still running"
        );
        assert!(!new.stderr().contains("cannot take"), "{}", new.stderr());
        old = new;
    }
    thread::sleep(Duration::from_millis(300));
    let tally = load.finish();
    check(&tally, Some(Duration::from_millis(900)));
}

#[test]
fn master_worker_reload_under_load_loses_nothing_and_survives_a_bad_config() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 2")
        .server("a", a.port())
        .render();
    let mut master = Ringlb::start_with_args(&cfg, &["-W"]);
    let log = master.dir().join("stderr.log");
    let says = |what: String| {
        let log = log.clone();
        move || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(&what)
        }
    };
    let load = Load::start(master.ports[0], 8, 4);
    for i in 0..3 {
        thread::sleep(Duration::from_millis(400));
        master.signal(libc::SIGUSR2);
        master.wait_until("the new worker", says(format!("worker #{} (pid", i + 2)));
    }
    // A broken configuration: the reload fails, the current worker serves on.
    let file = master.dir().join("test.cfg");
    std::fs::write(&file, format!("{cfg}    balanse x\n")).unwrap();
    master.signal(libc::SIGUSR2);
    master.wait_until("the failed reload", says("reload failed".into()));
    thread::sleep(Duration::from_millis(300));
    let tally = load.finish();
    check(&tally, Some(Duration::from_millis(900)));
    let err = master.stderr();
    assert!(
        err.contains("test.cfg:"),
        "the reload error names file:line: {err}"
    );
    assert!(err.contains("worker #4 keeps serving"), "{err}");
    master.signal(libc::SIGUSR1);
    let st = master.wait_exit(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "master: {st:?}");
}

/// One command on the master CLI; its whole answer.
fn master_cli(path: &std::path::Path, cmd: &str) -> String {
    use std::io::{Read, Write};
    // The master binds its CLI while starting: on a loaded machine the
    // socket may appear a little after the workers answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() > deadline => panic!("master CLI: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn master_cli_reload_answers_its_outcome() {
    let a = HttpBackend::start("a");
    let dir = TestDir::new("master-cli");
    let sock = dir.path().join("master.sock");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 1")
        .server("a", a.port())
        .render();
    let s = format!("{},mode 600", sock.display());
    let mut master = Ringlb::start_with_args(&cfg, &["-W", "-S", &s]);
    master.wait_until("the master CLI to list a worker", || {
        sock.exists() && master_cli(&sock, "show proc").contains("worker")
    });
    let procs = master_cli(&sock, "show proc");
    assert!(
        procs.contains("master") && procs.contains("worker"),
        "{procs}"
    );
    assert_eq!(master_cli(&sock, "reload"), "Success=1\n");
    let get = common::get(master.ports[0], "/");
    assert_eq!(get.status, 200);
    std::fs::write(
        master.dir().join("test.cfg"),
        format!("{cfg}    balanse x\n"),
    )
    .unwrap();
    let failed = master_cli(&sock, "reload");
    assert!(failed.starts_with("Success=0\n--\n"), "{failed}");
    assert!(
        failed.contains("test.cfg:") && failed.contains("balanse"),
        "{failed}"
    );
    assert_eq!(common::get(master.ports[0], "/").status, 200);
    let help = master_cli(&sock, "frobnicate");
    assert!(help.contains("Unknown command"), "{help}");
}

#[test]
fn a_worker_whose_master_dies_stops() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 1")
        .server("a", a.port())
        .render();
    let mut master = Ringlb::start_with_args(&cfg, &["-W"]);
    let log = master.dir().join("stderr.log");
    master.wait_until("worker #1", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("worker #1 (pid ")
    });
    let err = master.stderr();
    let pid: i32 = err
        .split("worker #1 (pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no worker pid in: {err}"));
    master.signal(libc::SIGKILL);
    let gone = || {
        // Exited, or a zombie waiting for whoever adopted it.
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
            .unwrap_or(true)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !gone() {
        assert!(
            std::time::Instant::now() < deadline,
            "worker {pid} still serving 5 s after its master died"
        );
        thread::sleep(Duration::from_millis(50));
    }
}
