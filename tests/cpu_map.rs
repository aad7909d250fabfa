//! `cpu-map`: each worker thread runs on the CPUs HAProxy 2.6 gives its
//! thread of the same number, read from `/proc/<pid>/task/*/status`
//! (`Cpus_allowed_list`) of both processes on the same configuration.
//! Differences, on purpose: a line without a thread set (no effect in 2.6)
//! leaves ringlb's own placement (worker n on core n) rather than unbound
//! threads; `0,1` is the CPUs 0 and 1 (2.6 reads only the 0); and several
//! lines each act as documented (a thread gets the CPUs of every line naming
//! it), where HAProxy 2.6.12 was seen to leave every thread unbound as soon
//! as two lines are given (`cpu-map 1/1 1` + `cpu-map 1/2 0`).

mod common;

use common::{Haproxy, Ringlb, free_port};
use std::fs;
use std::thread;
use std::time::Duration;

/// The `Cpus_allowed_list` of each thread of `pid` whose name starts with
/// `prefix`, in thread-id order (the order the process started them).
fn affinities(pid: u32, prefix: &str) -> Vec<String> {
    let mut tasks: Vec<u32> = fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tasks.sort_unstable();
    tasks
        .into_iter()
        .filter(|t| {
            fs::read_to_string(format!("/proc/{pid}/task/{t}/comm"))
                .is_ok_and(|c| c.trim_end().starts_with(prefix))
        })
        .filter_map(|t| {
            let st = fs::read_to_string(format!("/proc/{pid}/task/{t}/status")).ok()?;
            st.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_string())
        })
        .collect()
}

/// [`affinities`] once the process has started its `n` workers and they
/// have placed themselves (a thread binds itself once it runs, after the
/// listeners accept: the same reading twice, 100 ms apart).
fn workers(pid: u32, prefix: &str, n: usize) -> Vec<String> {
    let mut last = Vec::new();
    for _ in 0..100 {
        thread::sleep(Duration::from_millis(100));
        let a = affinities(pid, prefix);
        if a.len() >= n && a == last {
            return a;
        }
        last = a;
        thread::sleep(Duration::from_millis(20));
    }
    panic!("{pid} did not start {n} threads named {prefix}*");
}

fn config(line: &str, port: u16) -> String {
    format!(
        "global\n    nbthread 2\n    {line}\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
         timeout server 1s\n\
         listen web\n    bind 127.0.0.1:{port}\n    server a 127.0.0.1:9\n"
    )
}

fn cpus() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn workers_run_where_haproxy_runs_its_threads() {
    if cpus() < 2 {
        eprintln!("one CPU: every placement is the same, nothing to compare");
        return;
    }
    for line in [
        "cpu-map auto:1/1-2 0-1",
        "cpu-map 1/all 1",
        "cpu-map 1/2 0",
        "cpu-map auto:1/1-2 1 0",
    ] {
        let port = free_port();
        let rl = Ringlb::start(&config(line, port));
        let ours = workers(rl.pid() as u32, "ringlb-w", 2);
        drop(rl);
        let port = free_port();
        let Some(h) = Haproxy::start(&config(line, port), port) else {
            return;
        };
        let theirs = workers(h.pid(), "haproxy", 2);
        assert_eq!(
            ours, theirs,
            "'{line}': ringlb's workers vs HAProxy's threads"
        );
    }
}

#[test]
fn without_a_thread_set_ringlb_keeps_its_own_placement() {
    if cpus() < 2 {
        return;
    }
    let port = free_port();
    let rl = Ringlb::start(&config("cpu-map 1 0", port));
    assert_eq!(workers(rl.pid() as u32, "ringlb-w", 2), ["0", "1"]);
    assert!(rl.stderr().contains("has no effect"), "{}", rl.stderr());
    // A 1.x file with nbproc: process numbers name the threads it became.
    let port = free_port();
    let old = config("cpu-map 1 1\n    cpu-map 2 0", port).replace("nbthread 2", "nbproc 2");
    let rl = Ringlb::start(&old);
    assert_eq!(workers(rl.pid() as u32, "ringlb-w", 2), ["1", "0"]);
    // auto: needs as many CPUs as threads, as HAProxy says.
    let dir = common::TestDir::new("cpu-map-auto");
    dir.write("a.cfg", &config("cpu-map auto:1/all 0-1", free_port()));
    let out = common::run_cli(dir.path(), &["-c", "-f", "a.cfg"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("a.cfg:3") && out.stderr.contains("same size"),
        "{}",
        out.stderr
    );
    // Two lines, each as documented; the same thread on two lines gets both.
    let port = free_port();
    let two = config("cpu-map 1/1 1\n    cpu-map 1/2 0\n    cpu-map 1/2 1", port);
    let rl = Ringlb::start(&two);
    assert_eq!(workers(rl.pid() as u32, "ringlb-w", 2), ["1", "0-1"]);
}
