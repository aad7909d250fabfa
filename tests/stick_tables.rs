//! Stick tables (`stick-table`, `stick on|match|store-request|store-response`)
//! end to end through the binary, each scenario run the same way on HAProxy
//! 2.6 with the same configuration text, the two answers compared:
//!
//! - `mode tcp`, `balance roundrobin` + `stick on src`: each client address
//!   (the client socket bound to 127.0.0.2, .3, ...) keeps its server over
//!   new connections; `show table` lists the same entries (entry addresses
//!   and remaining times aside); `clear table` forgets.
//! - `expire` forgets an idle client, which is balanced again.
//! - A client whose server went into maintenance is balanced to another
//!   server, and stays there once it is back (the entry is rewritten).
//! - `mode http`, `stick on req.cook(sid)` + `stick store-response
//!   res.cook(sid)`: a session cookie the server set keeps its server.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Haproxy, Ringlb, TcpBackend, TestDir, free_port, stats_command};

/// A TCP server that writes its name and closes.
fn name_server(name: &'static str) -> TcpBackend {
    TcpBackend::start(move |mut s| {
        let _ = s.write_all(name.as_bytes());
    })
}

/// An HTTP server answering `X-Server: <name>`; to a request without a
/// `sid` cookie it sets one, `sid=<name>-<n>`.
fn http_server(name: &'static str) -> TcpBackend {
    let n = Arc::new(AtomicUsize::new(0));
    TcpBackend::start(move |mut s| {
        let mut head = Vec::new();
        let mut b = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(k) => head.extend_from_slice(&b[..k]),
            }
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let cookie = if text.contains("sid=") {
            String::new()
        } else {
            let k = n.fetch_add(1, Ordering::SeqCst) + 1;
            format!("Set-Cookie: sid={name}-{k}; path=/\r\n")
        };
        let _ = s.write_all(
            format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\n{cookie}Content-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        );
    })
}

/// A connection to `port` from the local address `src`.
fn connect_from(src: &str, port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&from.into()).expect("bind the client address");
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    sock.connect(&to.into()).expect("connect");
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// What a `mode tcp` connection from `src` reads: the server's name.
fn tcp_server_of(src: &str, port: u16) -> String {
    let mut s = connect_from(src, port);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// An HTTP GET from `src` with an optional cookie: (server, cookie set).
fn http_get(src: &str, port: u16, cookie: Option<&str>) -> (String, String) {
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    http_request(src, port, "/", &cookie)
}

/// An HTTP GET of `path` from `src` with `headers` (whole lines):
/// (server, cookie set).
fn http_request(src: &str, port: u16, path: &str, headers: &str) -> (String, String) {
    let mut s = connect_from(src, port);
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let header = |name: &str| {
        out.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let set = header("set-cookie");
    let set = set.split(';').next().unwrap_or("").to_string();
    (header("x-server"), set)
}

/// `show table` output without what differs between processes: entry
/// addresses and the remaining times.
fn normalize(table: &str) -> String {
    table
        .lines()
        .map(|l| {
            let l = match l.strip_prefix("0x") {
                Some(rest) => rest.split_once(": ").map_or(rest, |(_, r)| r),
                None => l,
            };
            l.split(' ')
                .map(|w| if w.starts_with("exp=") { "exp=N" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The configuration of a scenario: `body` in `listen test`, two servers.
/// The start-up probes (from 127.0.0.1) are turned away before a server is
/// chosen, so that they neither turn the rotation nor fill the table.
fn config(sock: &Path, port: u16, mode: &str, body: &str, servers: [u16; 2]) -> String {
    format!(
        "global\n    stats socket {} level admin\n\ndefaults\n    mode {mode}\n    \
         timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\n\
         listen test\n    bind 127.0.0.1:{port}\n    balance roundrobin\n    \
         tcp-request connection reject if {{ src 127.0.0.1 }}\n{body}\n    \
         server s1 127.0.0.1:{} cookie s1\n    server s2 127.0.0.1:{} cookie s2\n",
        sock.display(),
        servers[0],
        servers[1]
    )
}

/// Runs `scenario` on ringlb, then on HAProxy when installed, each in
/// front of fresh servers from `servers`; answers both transcripts.
fn both(
    mode: &str,
    body: &str,
    servers: fn() -> [TcpBackend; 2],
    scenario: impl Fn(u16, &Path) -> Vec<String>,
) -> (Vec<String>, Option<Vec<String>>) {
    let run = |oracle: bool| {
        let dir = TestDir::new("stick");
        let sock = dir.path().join("stats.sock");
        let backends = servers();
        let port = free_port();
        let text = config(
            &sock,
            port,
            mode,
            body,
            [backends[0].port, backends[1].port],
        );
        if oracle {
            let _h = Haproxy::start(&text, port)?;
            Some(scenario(port, &sock))
        } else {
            let _lb = Ringlb::start(&text);
            Some(scenario(port, &sock))
        }
    };
    let ours = run(false).expect("ringlb ran");
    let theirs = run(true);
    if let Some(t) = &theirs {
        assert_eq!(&ours, t, "ringlb and HAProxy 2.6 differ");
    }
    (ours, theirs)
}

fn names() -> [TcpBackend; 2] {
    [name_server("s1"), name_server("s2")]
}

fn https() -> [TcpBackend; 2] {
    [http_server("s1"), http_server("s2")]
}

const CLIENTS: [&str; 4] = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];

#[test]
fn stick_on_src_keeps_each_client_on_its_server_in_tcp_mode() {
    let body = "    stick-table type ip size 100 expire 30s\n    stick on src";
    let (ours, _) = both("tcp", body, names, |port, sock| {
        let mut t = Vec::new();
        for _ in 0..3 {
            for c in CLIENTS {
                t.push(format!("{c} {}", tcp_server_of(c, port)));
            }
        }
        t.push(stats_command(sock, "show table"));
        t.push(normalize(&stats_command(sock, "show table test")));
        t.push(stats_command(sock, "clear table test key 127.0.0.2"));
        t.push(stats_command(sock, "clear table test key nonsense"));
        t.push(normalize(&stats_command(sock, "show table test")));
        t.push(format!("again {}", tcp_server_of("127.0.0.2", port)));
        t.push(stats_command(sock, "clear table test"));
        t.push(stats_command(sock, "show table test"));
        t.push(stats_command(sock, "show table nope"));
        t
    });
    let first: Vec<&str> = ours[..4].iter().map(String::as_str).collect();
    assert_eq!(
        first,
        [
            "127.0.0.2 s1",
            "127.0.0.3 s2",
            "127.0.0.4 s1",
            "127.0.0.5 s2"
        ]
    );
    assert_eq!(ours[..4], ours[4..8]);
    assert_eq!(ours[..4], ours[8..12]);
    assert_eq!(ours[12], "# table: test, type: ip, size:100, used:4\n\n");
    assert!(
        ours[13].contains("\nkey=127.0.0.2 use=0 exp=N server_id=1 server_key=s1\n"),
        "{}",
        ours[13]
    );
    assert!(ours[16].contains("used:3") && !ours[16].contains("127.0.0.2"));
    // Forgotten: balanced again, the rotation going on.
    assert_eq!(ours[17], "again s1");
    assert_eq!(ours[19], "# table: test, type: ip, size:100, used:0\n\n");
    assert_eq!(ours[20], "No such table\n\n");
}

#[test]
fn expire_forgets_an_idle_client() {
    let body = "    stick-table type ip size 100 expire 1s\n    stick on src";
    let (ours, _) = both("tcp", body, names, |port, sock| {
        let mut t = vec![
            tcp_server_of("127.0.0.2", port),
            tcp_server_of("127.0.0.3", port),
        ];
        std::thread::sleep(Duration::from_millis(1600));
        t.push(stats_command(sock, "show table"));
        // Balanced again: each gets the next server in the rotation.
        t.push(tcp_server_of("127.0.0.3", port));
        t.push(tcp_server_of("127.0.0.2", port));
        t
    });
    // Without `expire` 127.0.0.3 would go back to s2.
    assert_eq!(
        ours,
        [
            "s1",
            "s2",
            "# table: test, type: ip, size:100, used:0\n\n",
            "s1",
            "s2"
        ]
    );
}

#[test]
fn a_client_of_a_server_in_maintenance_is_balanced_and_moves() {
    let body = "    stick-table type ip size 100\n    stick on src";
    let (ours, _) = both("tcp", body, names, |port, sock| {
        let mut t = vec![
            tcp_server_of("127.0.0.2", port),
            tcp_server_of("127.0.0.3", port),
        ];
        t.push(stats_command(sock, "disable server test/s1"));
        t.push(tcp_server_of("127.0.0.2", port));
        t.push(stats_command(sock, "enable server test/s1"));
        // The entry now names s2: the client stays there; the clients of
        // s1 find it again. (A new client is not compared: how HAProxy's
        // roundrobin places a server coming back is its balancer's matter.)
        t.push(tcp_server_of("127.0.0.2", port));
        t.push(tcp_server_of("127.0.0.3", port));
        t.push(normalize(&stats_command(sock, "show table test")));
        t
    });
    assert_eq!(&ours[..2], ["s1", "s2"]);
    assert_eq!(ours[3], "s2");
    assert_eq!(ours[5], "s2");
    assert_eq!(ours[6], "s2");
    assert!(ours[7].contains("key=127.0.0.2 use=0 exp=N server_id=2 server_key=s2"));
}

#[test]
fn a_session_cookie_the_server_set_keeps_its_server() {
    let body = "    stick-table type string len 32 size 100 expire 30s\n    \
                stick on req.cook(sid)\n    stick store-response res.cook(sid)";
    let (ours, _) = both("http", body, https, |port, sock| {
        let c = "127.0.0.2";
        let mut t = Vec::new();
        let mut get = |cookie: Option<&str>| {
            let (srv, set) = http_get(c, port, cookie);
            t.push(format!("{srv} {set}"));
        };
        get(None);
        get(None);
        get(Some("sid=s1-1"));
        get(Some("a=b; sid=s1-1"));
        get(Some("sid=s2-1"));
        get(None);
        get(Some("sid=unknown"));
        get(Some("sid=unknown"));
        t.push(normalize(&stats_command(sock, "show table test")));
        t
    });
    assert_eq!(
        &ours[..8],
        [
            "s1 sid=s1-1",
            "s2 sid=s2-1",
            "s1 ",
            "s1 ",
            "s2 ",
            "s1 sid=s1-2",
            "s2 ",
            "s2 "
        ]
    );
    assert_eq!(
        ours[8],
        "# table: test, type: string, size:100, used:4\n\
         key=s1-1 use=0 exp=N server_id=1 server_key=s1\n\
         key=s1-2 use=0 exp=N server_id=1 server_key=s1\n\
         key=s2-1 use=0 exp=N server_id=2 server_key=s2\n\
         key=unknown use=0 exp=N server_id=2 server_key=s2\n"
    );
}

#[test]
fn the_persistence_cookie_wins_over_stick_rules() {
    let body = "    cookie SRV insert indirect nocache\n    \
                stick-table type ip size 10\n    stick on src";
    let (ours, _) = both("http", body, https, |port, _| {
        let c = "127.0.0.2";
        [None, Some("SRV=s2"), None, Some("SRV=s1"), None]
            .into_iter()
            .map(|cookie| http_get(c, port, cookie).0)
            .collect()
    });
    // The cookie chooses, and `stick on` stores where the request went.
    assert_eq!(ours, ["s1", "s2", "s2", "s1", "s1"]);
}

#[test]
fn option_persist_keeps_a_match_on_a_server_in_maintenance() {
    let body = "    option persist\n    stick-table type ip size 10\n    stick on src";
    let (ours, _) = both("tcp", body, names, |port, sock| {
        let mut t = vec![
            tcp_server_of("127.0.0.2", port),
            tcp_server_of("127.0.0.3", port),
        ];
        t.push(stats_command(sock, "disable server test/s1"));
        t.push(tcp_server_of("127.0.0.2", port));
        t.push(tcp_server_of("127.0.0.4", port));
        t
    });
    assert_eq!(ours, ["s1", "s2", "\n", "s1", "s2"]);
}

#[test]
fn match_and_store_request_rules_with_conditions() {
    let body = "    stick-table type string len 8 size 10\n    \
                stick match req.hdr(x-user) if { path_beg /app }\n    \
                stick store-request req.hdr(x-user)";
    let (ours, _) = both("http", body, https, |port, sock| {
        let c = "127.0.0.2";
        let mut t: Vec<String> = [
            ("/app", "X-User: alice\r\n"),
            ("/app", "X-User: bob\r\n"),
            ("/app", "X-User: alice\r\n"),
            ("/app", "X-User: bob\r\n"),
            // No match outside /app: balanced (and stored again).
            ("/other", "X-User: alice\r\n"),
            ("/app", "X-User: alice\r\n"),
            // The key is cut to the table's `len`.
            ("/app", "X-User: alice-longer-name\r\n"),
        ]
        .into_iter()
        .map(|(p, h)| http_request(c, port, p, h).0)
        .collect();
        t.push(normalize(&stats_command(sock, "show table test")));
        t
    });
    assert_eq!(&ours[..7], ["s1", "s2", "s1", "s2", "s1", "s1", "s2"]);
}
