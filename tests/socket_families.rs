//! Socket families beyond `ip:port` and `/path`: `abns@<name>` (Linux's
//! abstract Unix namespace) on `bind`, `server` and `stats socket` lines,
//! as configurations chain two proxies of one process without a file; and
//! `fd@<n>` for the stats socket (a socket the parent opened, as systemd's
//! socket activation hands over). The abstract chain is compared with
//! HAProxy 2.6 on the same configuration.

mod common;

use common::{Haproxy, HttpBackend, Ringlb, TestDir, free_port, get, run_cli};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::time::Duration;

/// A name no other test (or process) uses.
fn unique(tag: &str) -> String {
    format!("ringlb-test-{tag}-{}-{}", std::process::id(), free_port())
}

/// Two proxies chained over an abstract socket: `front` on TCP hands every
/// request to `inner`'s `bind abns@<name>`, which sends it to the backend.
fn chain(port: u16, name: &str, backend: u16) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
         timeout server 5s\n\
         frontend front\n    bind 127.0.0.1:{port}\n    default_backend to_inner\n\
         backend to_inner\n    http-request set-header X-Hop front\n    \
         server inner abns@{name}\n\
         frontend inner\n    bind abns@{name}\n    default_backend app\n\
         backend app\n    http-request add-header X-Hop inner\n    \
         server app 127.0.0.1:{backend}\n"
    )
}

#[test]
fn an_abstract_socket_chains_two_proxies_as_in_haproxy() {
    let be = HttpBackend::start("app");
    let port = free_port();
    let name = unique("chain");
    let rl = Ringlb::start(&chain(port, &name, be.port()));
    let r = get(port, "/through");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.server(), "app");
    let hops = be.last().joined("x-hop");
    assert_eq!(hops.as_deref(), Some("front, inner"));
    drop(rl);

    // HAProxy 2.6, same configuration (its own name: the abstract socket
    // ends with the process that held it, but a new name rules out a race).
    let name = unique("chain-h");
    let port = free_port();
    if let Some(_h) = Haproxy::start(&chain(port, &name, be.port()), port) {
        let h = get(port, "/through");
        assert_eq!(h.status, 200);
        assert_eq!(
            be.last().joined("x-hop"),
            hops,
            "HAProxy's server saw other hops"
        );
    }
}

/// Sends `show info` to a connected stats socket and reads the answer.
fn show_info(mut s: UnixStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"show info\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn stats_socket_in_the_abstract_namespace() {
    let be = HttpBackend::start("app");
    let port = free_port();
    let name = unique("stats");
    let cfg = format!(
        "global\n    stats socket abns@{name} level admin\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
         timeout server 5s\n\
         listen web\n    bind 127.0.0.1:{port}\n    server app 127.0.0.1:{}\n",
        be.port()
    );
    let _rl = Ringlb::start(&cfg);
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let info = show_info(UnixStream::connect_addr(&addr).unwrap());
    assert!(info.contains("Name: "), "{info}");
    assert!(info.contains("Pid: "), "{info}");
}

#[test]
fn stats_socket_on_an_inherited_fd() {
    let be = HttpBackend::start("app");
    let port = free_port();
    let dir = TestDir::new("stats-fd");
    let path = dir.path().join("inherited.sock");
    let l = UnixListener::bind(&path).unwrap();
    let fd: RawFd = l.as_raw_fd();
    let cfg = format!(
        "global\n    stats socket fd@{fd}\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
         timeout server 5s\n\
         listen web\n    bind 127.0.0.1:{port}\n    server app 127.0.0.1:{}\n",
        be.port()
    );
    let mut rl = Ringlb::spawn_with(&cfg, &["-db"], move |cmd| {
        // SAFETY: runs in the forked child before exec; fcntl(2) is
        // async-signal-safe and only touches the child's descriptor table.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    rl.wait_ready();
    // From here only ringlb holds the listening socket.
    drop(l);
    let info = show_info(UnixStream::connect(&path).unwrap());
    assert!(info.contains("Pid: "), "{info}");
}

#[test]
fn a_stats_fd_that_is_no_listening_socket_is_named() {
    let dir = TestDir::new("stats-fd-bad");
    let cfg = format!(
        "global\n    stats socket fd@0\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
         timeout server 5s\n\
         listen web\n    bind 127.0.0.1:{}\n    server app 127.0.0.1:9\n",
        free_port()
    );
    dir.write("bad.cfg", &cfg);
    let out = run_cli(dir.path(), &["-db", "-f", "bad.cfg"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("stats socket 'fd@0'"), "{}", out.stderr);
    let out = run_cli(dir.path(), &["-c", "-f", "bad.cfg"]);
    assert_eq!(
        out.code,
        Some(0),
        "a -c check does not open sockets: {}",
        out.stderr
    );
    let e = {
        dir.write("pair.cfg", &cfg.replace("fd@0", "sockpair@0"));
        run_cli(dir.path(), &["-c", "-f", "pair.cfg"]).stderr
    };
    assert!(e.contains("pair.cfg:2") && e.contains("'sockpair@'"), "{e}");
}
