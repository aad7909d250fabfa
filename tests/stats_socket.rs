//! The stats socket (run-time API) end to end, through the binary with 2
//! workers: `show info`, `show stat` and `show servers state` answer in
//! HAProxy's formats; `set weight`, `set server ... weight|state`,
//! `enable`/`disable server` change where traffic goes at once, on every
//! worker, and the page and CSV show it (MAINT, DRAIN); a drained server
//! still gets its sticky clients, a maintained one does not; levels are
//! enforced with HAProxy's "Permission denied"; `;` separates commands;
//! garbage gets the help text and the socket keeps serving; `mode` and the
//! owner apply; `stats maxconn` bounds the clients served at once (all sockets
//! together) and `stats timeout` frees the slot of an idle one; `shutdown
//! sessions server` ends the TCP relays and HTTP exchanges using a server.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{
    HttpBackend, ListenCfg, Ringlb, TcpBackend, TestDir, free_port, get, get_with, parse_stats_csv,
    stats_command, stats_exchange, stats_num, stats_row,
};

/// A running ringlb with servers `a` and `b` (weight 1 each, cookie
/// stickiness) and three stats sockets: admin, user and operator.
struct Farm {
    lb: Ringlb,
    port: u16,
    a: HttpBackend,
    b: HttpBackend,
    admin: PathBuf,
    user: PathBuf,
    operator: PathBuf,
    _dir: TestDir,
}

fn farm() -> Farm {
    let a = HttpBackend::start("a");
    let b = HttpBackend::start("b");
    let dir = TestDir::new("stats-socket");
    let admin = dir.path().join("admin.sock");
    let user = dir.path().join("user.sock");
    let operator = dir.path().join("operator.sock");
    let port = free_port();
    let cfg = ListenCfg::http(port)
        .global(&format!(
            "stats socket {} mode 600 level admin",
            admin.display()
        ))
        .global(&format!("stats socket {} level user", user.display()))
        .global(&format!("stats socket unix@{}", operator.display()))
        .global("stats timeout 5s")
        .line("stats uri /admin")
        .line("cookie SRV insert indirect")
        .line(&format!("server a 127.0.0.1:{} cookie a", a.port()))
        .line(&format!("server b 127.0.0.1:{} cookie b", b.port()));
    let lb = Ringlb::start(&cfg.render());
    Farm {
        lb,
        port,
        a,
        b,
        admin,
        user,
        operator,
        _dir: dir,
    }
}

impl Farm {
    /// How many of `n` fresh requests each server got.
    fn spread(&self, n: usize) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        for i in 0..n {
            let r = get(self.port, &format!("/r/{i}"));
            assert_eq!(r.status, 200, "{}", r.text());
            *seen.entry(r.server()).or_insert(0) += 1;
        }
        seen
    }

    /// Asserts both servers got traffic in the ratio `a:b`, give or take one
    /// rotation cycle per worker (each of the 2 workers rotates on its own).
    fn assert_ratio(&self, n: usize, a: usize, b: usize) {
        let seen = self.spread(n);
        let (got_a, got_b) = (
            seen.get("a").copied().unwrap_or(0),
            seen.get("b").copied().unwrap_or(0),
        );
        let want_a = n * a / (a + b);
        assert!(
            got_a.abs_diff(want_a) <= 2 * a.max(b) && got_a + got_b == n,
            "expected about {a}:{b} of {n}, got {seen:?}"
        );
    }

    /// Runs a command on the admin socket; it must answer nothing but the empty line.
    fn admin_ok(&self, cmd: &str) {
        assert_eq!(stats_command(&self.admin, cmd), "\n", "{cmd}");
    }

    /// A server's CSV row.
    fn row(&self, server: &str) -> HashMap<String, String> {
        let rows = parse_stats_csv(&stats_command(&self.admin, "show stat"));
        stats_row(&rows, "test", server).clone()
    }

    /// The stats page's row class and status cell text of a server.
    fn page(&self, server: &str) -> String {
        get(self.port, "/admin")
            .text()
            .split("<tr class=\"")
            .find(|r| r.contains(&format!(">{server}</td>")))
            .unwrap_or_else(|| panic!("no page row for {server}"))
            .to_string()
    }

    /// Who answers a request carrying the stickiness cookie of `server`.
    fn sticky(&self, server: &str) -> String {
        get_with(self.port, "/s", None, Some(&format!("SRV={server}"))).server()
    }
}

#[test]
fn show_commands_answer_in_haproxy_formats() {
    let f = farm();
    f.spread(4);
    let info = stats_command(&f.user, "show info");
    let fields: HashMap<&str, &str> = info.lines().filter_map(|l| l.split_once(": ")).collect();
    assert_eq!(fields["Name"], "ringlb");
    assert_eq!(fields["Nbthread"], "2");
    assert_eq!(fields["Pid"], f.lb.pid().to_string());
    assert!(fields["Uptime"].starts_with("0d 0h00m"), "{info}");
    assert!(fields["CumConns"].parse::<u64>().unwrap() >= 4);
    assert!(info.ends_with("\n\n"), "an empty line ends every answer");

    let stat = stats_command(&f.user, "show stat");
    assert!(stat.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,"));
    let rows = parse_stats_csv(&stat);
    assert_eq!(rows.len(), 4, "FRONTEND, a, b, BACKEND");
    assert_eq!(stats_num(stats_row(&rows, "test", "BACKEND"), "stot"), 4);
    // `show stat <iid> <type> <sid>`: servers only (type 4), server 2 only.
    // The proxy is number 2: HAProxy's CLI frontend (the stats socket) is 1.
    let only_b = parse_stats_csv(&stats_command(&f.user, "show stat 2 4 2"));
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0]["svname"], "b");

    let state = stats_command(&f.user, "show servers state test");
    let lines: Vec<&str> = state.lines().collect();
    assert_eq!(lines[0], "1");
    assert!(lines[1].starts_with("# be_id be_name srv_id srv_name srv_addr srv_op_state"));
    let a_line: Vec<&str> = lines[2].split(' ').collect();
    assert_eq!(
        &a_line[..9],
        // be_id 2: the stats socket's CLI frontend is proxy 1, as in HAProxy.
        &["2", "test", "1", "a", "127.0.0.1", "2", "0", "1", "1"]
    );
    assert_eq!(a_line[18], f.a.port().to_string(), "srv_port");
    assert_eq!(
        stats_command(&f.user, "show servers state nope"),
        "Can't find backend.\n\n"
    );

    // Several commands on one line, separated by `;`: one answer each.
    let both = stats_command(
        &f.user,
        "get weight test/a; get weight test/b;get weight test/c",
    );
    assert_eq!(
        both,
        "1 (initial 1)\n\n1 (initial 1)\n\nNo such server.\n\n"
    );
}

#[test]
fn weight_and_state_changes_move_traffic_and_show_on_the_page() {
    let f = farm();
    f.assert_ratio(20, 1, 1);

    // Weight 0: no balanced traffic for a, shown as DRAIN.
    f.admin_ok("set weight test/a 0");
    assert_eq!(
        stats_command(&f.admin, "get weight test/a"),
        "0 (initial 1)\n\n"
    );
    assert_eq!(f.spread(20).get("a"), None);
    assert_eq!(f.row("a")["weight"], "0");
    assert_eq!(f.row("a")["status"], "DRAIN");
    // Back to its configured weight, relatively.
    f.admin_ok("set server test/a weight 100%");
    f.assert_ratio(20, 1, 1);
    // Weight 3 against 1.
    f.admin_ok("set server test/a weight 3");
    f.assert_ratio(40, 3, 1);
    f.admin_ok("set weight test/a 1");

    // Maintenance: no traffic at all, not even sticky; MAINT on page and CSV.
    f.admin_ok("set server test/b state maint");
    assert_eq!(f.spread(20)["a"], 20);
    assert_eq!(
        f.sticky("b"),
        "a",
        "a maintained server loses its sticky clients"
    );
    let row = f.row("b");
    // HAProxy 2.6 keeps showing the effective weight in maintenance (its
    // CSV and exporter: checked in tests/prometheus.rs).
    assert_eq!(
        (row["status"].as_str(), row["weight"].as_str()),
        ("MAINT", "1")
    );
    assert_eq!(row["uweight"], "1");
    let page = f.page("b");
    assert!(page.starts_with("maint\""), "MAINT colour: {page}");
    assert!(page.contains(" MAINT</td>"), "{page}");
    let state = stats_command(&f.admin, "show servers state");
    assert!(
        state.contains("2 test 2 b 127.0.0.1 0 1 1 1 "),
        "srv_op_state 0, srv_admin_state 1 (FMAINT): {state}"
    );

    // Drain: no balanced traffic, but sticky clients still reach it.
    f.admin_ok("set server test/b state drain");
    assert_eq!(f.spread(20)["a"], 20);
    assert_eq!(
        f.sticky("b"),
        "b",
        "a drained server keeps its sticky clients"
    );
    assert_eq!(f.row("b")["status"], "DRAIN");
    assert!(f.page("b").starts_with("drain\""));

    // Ready: both again.
    f.admin_ok("set server test/b state ready");
    f.assert_ratio(20, 1, 1);
    assert_eq!(f.row("b")["status"], "no check");

    // The older spellings.
    f.admin_ok("disable server test/a");
    assert_eq!(f.spread(10)["b"], 10);
    assert_eq!(f.row("a")["status"], "MAINT");
    f.admin_ok("enable server test/a");
    f.assert_ratio(20, 1, 1);
    assert!(f.a.request_count() > 0 && f.b.request_count() > 0);
    // The changes are logged as HAProxy logs them.
    let stderr = f.lb.stderr();
    assert!(
        stderr.contains("Server test/b is going DOWN for maintenance."),
        "{stderr}"
    );
    assert!(
        stderr.contains("Server test/b enters drain state. 1 active and 0 backup servers online."),
        "{stderr}"
    );
    assert!(
        stderr.contains("Server test/a is UP/READY (leaving forced maintenance)."),
        "{stderr}"
    );
}

#[test]
fn levels_are_enforced() {
    let f = farm();
    for sock in [&f.user, &f.operator] {
        for cmd in [
            "set server test/a state maint",
            "set weight test/a 0",
            "disable server test/a",
            "enable server test/a",
        ] {
            assert_eq!(stats_command(sock, cmd), "Permission denied\n\n", "{cmd}");
        }
        assert!(stats_command(sock, "show info").starts_with("Name: ringlb\n"));
        assert_eq!(
            stats_command(sock, "get weight test/a"),
            "1 (initial 1)\n\n"
        );
    }
    assert_eq!(f.row("a")["status"], "no check", "nothing changed");
    assert_eq!(f.spread(10).len(), 2);
    // Errors, as HAProxy words them, at admin level.
    for (cmd, answer) in [
        (
            "set server test/a state off",
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n",
        ),
        ("set server nope/a state maint", "No such backend.\n"),
        ("set server test state maint", "Require 'backend/server'.\n"),
        (
            "set weight test/a 300",
            "Absolute weight can only be between 0 and 256 inclusive.\n",
        ),
        (
            "set weight test/a -5%",
            "Relative weight must be positive.\n",
        ),
    ] {
        assert_eq!(stats_command(&f.admin, cmd), format!("{answer}\n"), "{cmd}");
    }
}

#[test]
fn garbage_unknown_commands_and_prompt_mode() {
    let f = farm();
    let unknown = stats_command(&f.admin, "frobnicate everything");
    assert!(
        unknown.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        ),
        "{unknown}"
    );
    assert!(unknown.contains("  show stat") && unknown.contains("  quit "));
    let partial = stats_command(&f.admin, "show nothing");
    assert!(
        partial.contains("show info") && !partial.contains("set weight"),
        "{partial}"
    );
    let help = stats_command(&f.user, "help");
    assert!(help.starts_with("The following commands are valid at this level:\n"));
    // Bytes that are no command at all, an endless line, a hang-up mid-line.
    let _ = stats_exchange(&f.admin, b"\x00\xff\xfe\x1b[2J;;;\\\n\r\n");
    let _ = stats_exchange(&f.admin, &vec![b'x'; 100_000]);
    let _ = stats_exchange(&f.admin, b"set server test/");
    // Still serving, and nothing changed.
    assert!(stats_command(&f.admin, "show info").starts_with("Name: ringlb\n"));
    assert_eq!(f.spread(10).len(), 2);
    // Interactive mode: a prompt after each answer, until `quit`.
    let session = stats_exchange(&f.admin, b"prompt\nget weight test/a\nquit\n");
    assert_eq!(session, "\n> 1 (initial 1)\n\n> ");
}

#[test]
fn socket_mode_is_applied() {
    let f = farm();
    let mode = |p: &PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&f.admin), 0o600);
    assert!(std::fs::metadata(&f.user).unwrap().file_type().is_socket());
}

/// A ringlb with two admin sockets (`a.sock`, `b.sock`) and `extra` global lines.
fn limited(extra: &[&str]) -> (Ringlb, PathBuf, PathBuf, TestDir) {
    let dir = TestDir::new("stats-limits");
    let (a, b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let backend = free_port();
    let mut cfg = ListenCfg::http(free_port())
        .global(&format!("stats socket {} level admin", a.display()))
        .global(&format!("stats socket {} level admin", b.display()))
        .server("s", backend);
    for line in extra {
        cfg = cfg.global(line);
    }
    (Ringlb::start(&cfg.render()), a, b, dir)
}

/// `n` clients connected to `path` that send nothing.
fn idle_clients(path: &PathBuf, n: usize) -> Vec<UnixStream> {
    (0..n)
        .map(|_| {
            let s = UnixStream::connect(path).expect("connect (the backlog takes it)");
            s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
            s
        })
        .collect()
}

/// Sends `show info` on a fresh connection; the answer's first line.
fn show_info_first_line(path: &PathBuf, wait: Duration) -> String {
    let mut s = UnixStream::connect(path).expect("connect");
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(b"show info\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.contains(&b'\n') {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer within {wait:?}: {e}"),
        }
    }
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Reads until the peer closes (an idle client dropped by `stats timeout`).
fn closed_by_peer(s: &mut UnixStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0))
        || matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

#[test]
fn idle_clients_hold_a_slot_only_until_stats_timeout() {
    // Default `stats maxconn` (10), for both sockets together, as HAProxy's
    // GLOBAL frontend; `stats timeout 1s`.
    let (_lb, a, b, _dir) = limited(&["stats timeout 1s"]);
    let mut idle = idle_clients(&a, 12);
    // Let ringlb accept the first 10; the 2 others wait in the backlog.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    // The 13th, on the other socket, is served once the idle ones time out.
    assert_eq!(
        show_info_first_line(&b, Duration::from_secs(8)),
        "Name: ringlb"
    );
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "10 idle clients fill every slot: the 13th waits for their timeout (waited {waited:?})"
    );
    // Every idle client, the 2 from the backlog included, is served and then
    // closed for its silence.
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(closed_by_peer(s), "idle client {i} was not closed");
    }
    // And the socket serves at once again.
    assert_eq!(
        show_info_first_line(&a, Duration::from_secs(2)),
        "Name: ringlb"
    );
}

#[test]
fn stats_maxconn_raises_the_limit() {
    // 20 slots and a long timeout: 12 idle clients leave room for a 13th.
    let (_lb, a, b, _dir) = limited(&["stats maxconn 20", "stats timeout 30s"]);
    let _idle = idle_clients(&a, 12);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        show_info_first_line(&b, Duration::from_secs(5)),
        "Name: ringlb",
        "served long before the idle clients' 30 s timeout"
    );
    assert_eq!(
        show_info_first_line(&a, Duration::from_secs(5)),
        "Name: ringlb"
    );
}

#[test]
fn socket_owner_is_applied() {
    let dir = TestDir::new("stats-owner");
    let path = dir.path().join("owned.sock");
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // Root may give the socket away; anyone may "give" it to themselves.
    let (to_uid, to_gid) = if uid == 0 { (65534, 65534) } else { (uid, gid) };
    let cfg = ListenCfg::http(free_port())
        .global(&format!(
            "stats socket {} mode 660 uid {to_uid} gid {to_gid} level admin",
            path.display()
        ))
        .server("s", free_port());
    let _lb = Ringlb::start(&cfg.render());
    let meta = std::fs::metadata(&path).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (to_uid, to_gid));
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
}

/// A backend that names itself (`<name>\n`) on connect, then echoes until EOF.
fn naming_echo(name: &'static str) -> TcpBackend {
    TcpBackend::start(move |mut s| {
        let _ = s.write_all(format!("{name}\n").as_bytes());
        common::echo_until_eof(s);
    })
}

/// A client through ringlb: the connection and the server that greeted it.
fn tcp_client(port: u16) -> (TcpStream, String) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut greeting = [0u8; 2];
    c.read_exact(&mut greeting).unwrap();
    (c, String::from_utf8_lossy(&greeting[..1]).into_owned())
}

/// Whether the relay still carries bytes both ways.
fn still_relays(c: &mut TcpStream) -> bool {
    let mut back = [0u8; 4];
    c.write_all(b"ping").is_ok() && c.read_exact(&mut back).is_ok() && &back == b"ping"
}

/// Reads until the connection ends (EOF or reset); false if it stays open.
fn ended(c: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn shutdown_sessions_server_ends_the_tcp_sessions_of_that_server() {
    let (a, b) = (naming_echo("a"), naming_echo("b"));
    let dir = TestDir::new("stats-shutdown-tcp");
    let sock = dir.path().join("admin.sock");
    let cfg = ListenCfg::tcp(free_port())
        .global(&format!("stats socket {} level admin", sock.display()))
        .timeout_client("30s")
        .timeout_server("30s")
        .server("a", a.port)
        .server("b", b.port);
    let lb = Ringlb::start(&cfg.render());
    // Long-lived relays on both servers (each worker rotates on its own).
    let mut on: HashMap<String, Vec<TcpStream>> = HashMap::new();
    for _ in 0..8 {
        let (mut c, server) = tcp_client(lb.port());
        assert!(still_relays(&mut c));
        on.entry(server).or_default().push(c);
    }
    assert!(
        on.contains_key("a") && on.contains_key("b"),
        "{:?}",
        on.keys()
    );

    // HAProxy's errors.
    assert_eq!(
        stats_command(&sock, "shutdown sessions server test/nope"),
        "No such server.\n\n"
    );
    assert_eq!(
        stats_command(&sock, "shutdown sessions server test/a"),
        "\n",
        "answered at once"
    );
    for c in on.get_mut("a").unwrap() {
        assert!(
            ended(c),
            "a session on a survived 'shutdown sessions server'"
        );
    }
    for c in on.get_mut("b").unwrap() {
        assert!(still_relays(c), "a session on b was killed");
    }
    // New sessions to a work: the kill was for the sessions of that moment.
    let fresh = (0..4)
        .map(|_| tcp_client(lb.port()))
        .find(|(_, s)| s == "a");
    let (mut c, _) = fresh.expect("a new session on a");
    assert!(still_relays(&mut c));
    assert!(stats_command(&sock, "show info").starts_with("Name: ringlb\n"));
}

#[test]
fn shutdown_sessions_server_ends_a_slow_http_response() {
    // Headers and part of the body at once, the rest never.
    let slow = TcpBackend::start(|mut s| {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
        std::thread::sleep(Duration::from_secs(20));
    });
    let dir = TestDir::new("stats-shutdown-http");
    let sock = dir.path().join("admin.sock");
    let user = dir.path().join("user.sock");
    let cfg = ListenCfg::http(free_port())
        .global(&format!("stats socket {} level admin", sock.display()))
        .global(&format!("stats socket {} level operator", user.display()))
        .timeout_client("30s")
        .timeout_server("30s")
        .server("slow", slow.port);
    let lb = Ringlb::start(&cfg.render());
    let mut c = TcpStream::connect(("127.0.0.1", lb.port())).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"partial") {
        let n = c.read(&mut buf).expect("the response starts");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        stats_command(&user, "shutdown sessions server test/slow"),
        "Permission denied\n\n"
    );
    let t = Instant::now();
    assert_eq!(
        stats_command(&sock, "shutdown sessions server test/slow"),
        "\n"
    );
    assert!(ended(&mut c), "the slow response was not cut");
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "cut by the kill, not by a timeout"
    );
}
