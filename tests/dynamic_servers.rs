//! Dynamic servers on the stats socket (issue #18): `add server` and `del
//! server`, end to end through the binary (2 workers), compared with HAProxy
//! 2.6 on the same configuration and commands: the answers (added,
//! duplicate name, bad address or keyword, algorithm without dynamic
//! servers, delete of a server not in maintenance, delete), and the effects
//! through traffic: an added and enabled server takes its round-robin share;
//! once disabled and deleted it takes none and is gone from `show stat` and
//! `show servers state`.
//!
//! Intentional differences: ringlb ends every answer with the empty line
//! (HAProxy omits it after some), so answers are compared without their
//! trailing line feeds; ringlb builds `weight`, `maxconn` and `backup` on a
//! dynamic server and refuses `check` and the other options with its own
//! message (HAProxy accepts them), and needs an IP address with a port.

mod common;

use std::path::{Path, PathBuf};

use common::{Haproxy, HttpBackend, ListenCfg, Ringlb, TestDir, free_port, get, stats_command};

/// The configuration both run: listen `test` (round-robin) with servers `a`
/// and `b`, a `balance source` backend `bsrc`, an admin socket at `sock`.
fn config(port: u16, sock: &Path, a: u16, b: u16) -> String {
    let listen = ListenCfg::http(port)
        .nbthread(Some(2))
        .global(&format!("stats socket {} level admin", sock.display()))
        .server("a", a)
        .server("b", b)
        .render();
    format!(
        "{listen}\nbackend bsrc\n    mode http\n    balance source\n    \
         timeout connect 1s\n    timeout server 5s\n    server s1 127.0.0.1:{a}\n"
    )
}

/// A running proxy (ringlb or HAProxy) with its socket.
struct Side {
    port: u16,
    sock: PathBuf,
    _dir: TestDir,
}

impl Side {
    fn ask(&self, cmd: &str) -> String {
        stats_command(&self.sock, cmd)
    }

    /// The answer without its trailing line feeds (see the module's doc).
    fn answer(&self, cmd: &str) -> String {
        self.ask(cmd).trim_end_matches('\n').to_string()
    }
}

/// Starts ringlb on `cfg(port, sock)`.
fn ringlb(cfg: impl Fn(u16, &Path) -> String) -> (Ringlb, Side) {
    let dir = TestDir::new("dynamic-servers");
    let sock = dir.path().join("lb.sock");
    let port = free_port();
    let lb = Ringlb::start(&cfg(port, &sock));
    (
        lb,
        Side {
            port,
            sock,
            _dir: dir,
        },
    )
}

/// Starts HAProxy on `cfg(port, sock)`, when installed.
fn haproxy(cfg: impl Fn(u16, &Path) -> String) -> Option<(Haproxy, Side)> {
    let dir = TestDir::new("dynamic-servers-haproxy");
    let sock = dir.path().join("h.sock");
    let port = free_port();
    let h = Haproxy::start(&cfg(port, &sock), port)?;
    Some((
        h,
        Side {
            port,
            sock,
            _dir: dir,
        },
    ))
}

#[test]
fn answers_match_haproxy() {
    let a = HttpBackend::start("a");
    let b = HttpBackend::start("b");
    let c = HttpBackend::start("c");
    let cfg = |port: u16, sock: &Path| config(port, sock, a.port(), b.port());
    let (_lb, ours) = ringlb(cfg);
    let Some((_h, theirs)) = haproxy(cfg) else {
        return;
    };
    let cp = c.port();
    let commands = [
        format!("add server test/c 127.0.0.1:{cp}"),
        format!("add server test/c 127.0.0.1:{cp}"),
        format!("add server test/a 127.0.0.1:{cp}"),
        format!("add server nope/c 127.0.0.1:{cp}"),
        format!("add server bsrc/c 127.0.0.1:{cp}"),
        format!("add server test 127.0.0.1:{cp}"),
        "add server test/d".into(),
        format!("add server test/d 127.0.0.1:{cp} maint"),
        format!("add server test/d 127.0.0.1:{cp} cookie x"),
        "add server test/d 127.0.0.1:99999".into(),
        "add server test/d 127.0.0.1:abc".into(),
        format!("add server test/d 127.0.0.1:{cp} weight 300"),
        "get weight test/c".into(),
        "del server test/a".into(),
        "del server test/zz".into(),
        "del server nope/a".into(),
        "del server test".into(),
        "enable server test/c".into(),
        "del server test/c".into(),
        "disable server test/c".into(),
        "del server test/c".into(),
        "del server test/c".into(),
        "get weight test/c".into(),
        format!("add server test/e 127.0.0.1:{cp} weight 3 maxconn 10 backup"),
        "get weight test/e".into(),
        "del server test/e".into(),
    ];
    for cmd in &commands {
        assert_eq!(
            ours.answer(cmd),
            theirs.answer(cmd),
            "answers to '{cmd}' differ"
        );
    }
}

#[test]
fn ringlb_refuses_what_it_does_not_build() {
    let a = HttpBackend::start("a");
    let (_lb, ours) = ringlb(|port, sock| config(port, sock, a.port(), a.port()));
    let check = ours.answer("add server test/c 127.0.0.1:1 check");
    assert!(check.contains("does not support 'check'"), "{check}");
    assert!(
        ours.answer("add server test/c localhost:80")
            .contains("IP address")
    );
    assert!(ours.answer("add server test/c 127.0.0.1").contains("port"));
    // Nothing was added by the refusals.
    assert_eq!(ours.answer("get weight test/c"), "No such server.");
}

/// Requests to each of `backends` after `n` requests through `side`.
fn shares(side: &Side, backends: &[&HttpBackend], n: usize) -> Vec<usize> {
    let before: Vec<usize> = backends.iter().map(|b| b.request_count()).collect();
    for _ in 0..n {
        assert_eq!(get(side.port, "/").status, 200);
    }
    backends
        .iter()
        .zip(before)
        .map(|(b, was)| b.request_count() - was)
        .collect()
}

/// Whether `show stat` and `show servers state` list server `c` of `test`.
fn listed(side: &Side) -> (bool, bool) {
    let stat = side.ask("show stat");
    let state = side.ask("show servers state test");
    (
        stat.lines().any(|l| l.starts_with("test,c,")),
        state.lines().any(|l| l.split(' ').nth(3) == Some("c")),
    )
}

/// Adds `c`, enables it, counts the shares; disables, deletes, counts again.
fn add_use_delete(
    side: &Side,
    a: &HttpBackend,
    b: &HttpBackend,
    c: &HttpBackend,
) -> [Vec<usize>; 3] {
    let all = [a, b, c];
    let before = shares(side, &all, 12);
    assert_eq!(
        side.answer(&format!("add server test/c 127.0.0.1:{}", c.port())),
        "New server registered."
    );
    // A new server starts in maintenance: still no traffic.
    let added = shares(side, &all, 12);
    assert_eq!(added[2], 0, "a server in maintenance got requests");
    assert_eq!(listed(side), (true, true));
    assert_eq!(side.answer("set server test/c state ready"), "");
    let enabled = shares(side, &all, 30);
    assert_eq!(side.answer("disable server test/c"), "");
    assert_eq!(side.answer("del server test/c"), "Server deleted.");
    let deleted = shares(side, &all, 12);
    assert_eq!(listed(side), (false, false));
    assert_eq!(before[2] + deleted[2], 0);
    [before, enabled, deleted]
}

#[test]
fn added_server_takes_its_share_until_deleted() {
    let (a, b, c) = (
        HttpBackend::start("a"),
        HttpBackend::start("b"),
        HttpBackend::start("c"),
    );
    let cfg = |port: u16, sock: &Path| config(port, sock, a.port(), b.port());
    let (_lb, ours) = ringlb(cfg);
    let [_, enabled, _] = add_use_delete(&ours, &a, &b, &c);
    // Round-robin over three servers of weight 1: a third each.
    assert_eq!(enabled, vec![10, 10, 10], "shares with c enabled");
    if let Some((_h, theirs)) = haproxy(cfg) {
        let [_, h_enabled, _] = add_use_delete(&theirs, &a, &b, &c);
        assert_eq!(enabled, h_enabled, "shares differ from HAProxy's");
    }
}

#[test]
fn weighted_dynamic_server_gets_its_weight() {
    let (a, b, c) = (
        HttpBackend::start("a"),
        HttpBackend::start("b"),
        HttpBackend::start("c"),
    );
    let (_lb, ours) = ringlb(|port, sock| config(port, sock, a.port(), b.port()));
    let add = format!("add server test/c 127.0.0.1:{} weight 2", c.port());
    assert_eq!(ours.answer(&add), "New server registered.");
    assert_eq!(ours.answer("get weight test/c"), "2 (initial 2)");
    assert_eq!(ours.answer("enable server test/c"), "");
    let got = shares(&ours, &[&a, &b, &c], 40);
    assert_eq!(got, vec![10, 10, 20]);
    // A deleted name can be added again (in a new slot), and traffic follows.
    assert_eq!(ours.answer("disable server test/c"), "");
    assert_eq!(ours.answer("del server test/c"), "Server deleted.");
    assert_eq!(ours.answer(&add), "New server registered.");
    assert_eq!(ours.answer("enable server test/c"), "");
    assert_eq!(shares(&ours, &[&a, &b, &c], 40), vec![10, 10, 20]);
}
