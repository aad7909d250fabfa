//! `bind` port ranges and socket options, and servers written without a
//! port (or with `+<n>`/`-<n>`), which connect to the port the client
//! connected to. Each behaviour HAProxy 2.6 defines is run against HAProxy
//! on the same configuration too.

mod common;

use common::{Haproxy, HttpBackend, Ringlb, free_port, get};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::thread;
use std::time::Duration;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    \
                        timeout client 5s\n    timeout server 5s\n\n";

/// `n` consecutive free ports (free_port hands them out in sequence, so
/// a few tries find a run).
fn consecutive_ports(n: u16) -> u16 {
    loop {
        let first = free_port();
        if (1..n).all(|i| free_port() == first + i) {
            return first;
        }
    }
}

/// Which proxy runs a configuration.
#[derive(Clone, Copy, Debug)]
enum Proxy {
    Ringlb,
    Haproxy,
}

/// A running proxy of either kind.
enum Running {
    Ringlb(#[allow(dead_code)] Ringlb),
    Haproxy(#[allow(dead_code)] Haproxy),
}

/// Starts `proxy` on `config`, waiting until `port` answers; `None` when
/// HAProxy is not installed.
fn start(proxy: Proxy, config: &str, port: u16) -> Option<Running> {
    match proxy {
        Proxy::Ringlb => {
            let mut lb = Ringlb::spawn(config, &["-db"]);
            lb.wait_until(&format!("accepting on {port}"), || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            Some(Running::Ringlb(lb))
        }
        Proxy::Haproxy => Haproxy::start(config, port).map(Running::Haproxy),
    }
}

#[test]
fn a_port_range_listens_on_every_port() {
    let backend = HttpBackend::start("b");
    for proxy in [Proxy::Ringlb, Proxy::Haproxy] {
        let first = consecutive_ports(3);
        let config = format!(
            "{DEFAULTS}listen r\n    bind 127.0.0.1:{first}-{} name web backlog 64\n    \
             server s 127.0.0.1:{}\n",
            first + 2,
            backend.port()
        );
        let Some(_p) = start(proxy, &config, first) else {
            continue;
        };
        for port in first..=first + 2 {
            let r = get(port, "/");
            assert_eq!(
                (r.status, r.server()),
                (200, "b".into()),
                "{proxy:?} port {port}"
            );
        }
    }
}

/// A free port, and a listener on 127.0.0.2 at that port plus `offset`
/// (another test may hold that one, on a wildcard address: then another).
fn port_with_server(offset: i32) -> (u16, TcpListener) {
    loop {
        let p = free_port();
        let at = SocketAddr::from(([127, 0, 0, 2], (i32::from(p) + offset) as u16));
        if let Ok(l) = TcpListener::bind(at) {
            return (p, l);
        }
    }
}

/// A plain HTTP server on `l` answering every request with `name`.
fn named_server(l: TcpListener, name: &'static str) {
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                name.len()
            );
        }
    });
}

/// The body answered on `port` through a proxy, by a plain TCP exchange
/// in `tcp` mode or an HTTP GET.
fn answer(port: u16, tcp: bool) -> String {
    if !tcp {
        return get(port, "/").text();
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.rsplit("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Two frontend ports, a server `127.0.0.2<suffix>` without a fixed port,
/// and test servers on 127.0.0.2 at each frontend port plus `offset`: each
/// client reaches the server on its own port (plus the offset).
fn portless_server_follows(proxy: Proxy, suffix: &str, offset: i32, tcp: bool) {
    let (p1, first) = port_with_server(offset);
    let (p2, second) = port_with_server(offset);
    named_server(first, "first");
    named_server(second, "second");
    let mode = if tcp { "    mode tcp\n" } else { "" };
    let config = format!(
        "{DEFAULTS}listen r\n{mode}    bind 127.0.0.1:{p1}\n    bind 127.0.0.1:{p2}\n    \
         server s 127.0.0.2{suffix}\n"
    );
    let Some(_p) = start(proxy, &config, p1) else {
        return;
    };
    for _ in 0..2 {
        assert_eq!(answer(p1, tcp), "first", "{proxy:?} {suffix} via {p1}");
        assert_eq!(answer(p2, tcp), "second", "{proxy:?} {suffix} via {p2}");
    }
}

#[test]
fn a_server_without_port_is_reached_on_the_clients_port() {
    for proxy in [Proxy::Ringlb, Proxy::Haproxy] {
        portless_server_follows(proxy, "", 0, false);
        portless_server_follows(proxy, "", 0, true);
    }
}

#[test]
fn relative_server_ports_add_to_the_clients_port() {
    for proxy in [Proxy::Ringlb, Proxy::Haproxy] {
        portless_server_follows(proxy, ":+1", 1, false);
        portless_server_follows(proxy, ":-3", -3, true);
    }
}

#[test]
fn v6only_keeps_ipv4_clients_out() {
    for proxy in [Proxy::Ringlb, Proxy::Haproxy] {
        let (only, both) = (free_port(), free_port());
        let backend = HttpBackend::start("b");
        let config = format!(
            "{DEFAULTS}listen r\n    bind 127.0.0.1:{}\n    bind [::]:{only} v6only\n    \
             bind [::]:{both} v4v6\n    server s 127.0.0.1:{}\n",
            free_port(),
            backend.port()
        );
        let Some(_p) = start(proxy, &config, both) else {
            continue;
        };
        assert!(TcpStream::connect(("::1", only)).is_ok(), "{proxy:?}");
        assert!(
            TcpStream::connect(("127.0.0.1", only)).is_err(),
            "{proxy:?}: IPv4 reached a v6only listener"
        );
        assert_eq!(get(both, "/").status, 200, "{proxy:?}");
    }
}

/// Ringlb's listening socket on `port`, taken from the process with
/// pidfd_getfd (the tests run as root or as the same user).
fn listener_of(pid: i32, port: u16) -> OwnedFd {
    // SAFETY: plain syscalls; the returned fds are checked and owned below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: pidfd_open returned a new fd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let Ok(n) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: as above.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), n, 0) } as i32;
        if fd < 0 {
            continue;
        }
        // SAFETY: pidfd_getfd returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sock = socket2::SockRef::from(&fd);
        let listening = sock.is_listener().unwrap_or(false);
        let local = sock.local_addr().ok().and_then(|a| a.as_socket());
        if listening && local.is_some_and(|a| a.port() == port) {
            return fd;
        }
    }
    panic!("no listener on port {port} in process {pid}");
}

/// An integer socket option of `fd`.
fn int_opt(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given.
    let rc =
        unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&raw mut v).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockopt: {}", std::io::Error::last_os_error());
    v
}

/// The accept queue length `ss` reports for the listener on `port`.
fn ss_backlog(port: u16) -> Option<u32> {
    let out = Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Only ringlb's listener on 127.0.0.1: tests running beside this one may
    // listen on the same port number on other loopback addresses.
    let want = format!("127.0.0.1:{port}");
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(3) == Some(&want.as_str()))?
        .get(2)?
        .parse()
        .ok()
}

#[test]
fn socket_options_reach_the_listener() {
    let backend = HttpBackend::start("b");
    let port = free_port();
    let config = format!(
        "{DEFAULTS}listen r\n    bind 127.0.0.1:{port} backlog 77 tfo mss 1300 interface lo\n    \
         bind [::1]:{} v6only\n    server s 127.0.0.1:{}\n",
        free_port(),
        backend.port()
    );
    let mut lb = Ringlb::spawn(&config, &["-db"]);
    lb.wait_until("accepting", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let fd = listener_of(lb.pid(), port);
    assert_eq!(int_opt(&fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG), 1300);
    // The Fast Open queue is as long as the accept queue.
    assert_eq!(int_opt(&fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN), 77);
    let dev = socket2::SockRef::from(&fd).device().unwrap();
    assert_eq!(dev.as_deref(), Some(&b"lo"[..]));
    if let Some(b) = ss_backlog(port) {
        assert_eq!(b, 77);
    }
    assert_eq!(get(port, "/").status, 200);
}

#[test]
fn transparent_is_set_or_refused_by_name() {
    let backend = HttpBackend::start("b");
    let port = free_port();
    let config = format!(
        "{DEFAULTS}listen r\n    bind 127.0.0.1:{port} transparent\n    server s 127.0.0.1:{}\n",
        backend.port()
    );
    let mut lb = Ringlb::spawn(&config, &["-db"]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Without CAP_NET_ADMIN the bind fails, naming the option and the privilege.
        let st = lb.wait_exit(Duration::from_secs(10)).expect("ringlb exits");
        assert!(!st.success());
        assert!(
            lb.stderr().contains("needs CAP_NET_ADMIN"),
            "{}",
            lb.stderr()
        );
        return;
    }
    lb.wait_until("accepting", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let fd = listener_of(lb.pid(), port);
    assert_eq!(int_opt(&fd, libc::SOL_IP, libc::IP_TRANSPARENT), 1);
    assert_eq!(get(port, "/").status, 200);
}

// `bind ... maxconn` (a per-listener limit): tests/bind_maxconn.rs.

#[test]
fn stats_show_relative_ports_as_haproxy_does() {
    let mut seen = Vec::new();
    for proxy in [Proxy::Ringlb, Proxy::Haproxy] {
        let dir = common::TestDir::new("bind-stats");
        let sock = dir.path().join("admin.sock");
        let port = free_port();
        let config = format!(
            "global\n    stats socket {}\n{DEFAULTS}listen r\n    bind 127.0.0.1:{port}\n    \
             server s 127.0.0.2\n    server t 127.0.0.2:+1\n    server u 127.0.0.2:-1\n",
            sock.display()
        );
        let Some(_p) = start(proxy, &config, port) else {
            continue;
        };
        let rows = common::parse_stats_csv(&common::stats_command(&sock, "show stat"));
        let addrs: Vec<String> = ["s", "t", "u"]
            .iter()
            .map(|sv| common::stats_row(&rows, "r", sv)["addr"].clone())
            .collect();
        seen.push(addrs);
    }
    assert_eq!(seen[0], ["127.0.0.2:0", "127.0.0.2:1", "127.0.0.2:-1"]);
    if let Some(theirs) = seen.get(1) {
        assert_eq!(&seen[0], theirs, "ringlb vs HAProxy");
    }
}

/// `backlog` in the proxy (or its defaults) is the accept queue of its
/// `bind` lines that set none; a bind's own `backlog` wins.
#[test]
fn proxy_backlog_is_the_default_of_its_binds() {
    let backend = HttpBackend::start("b");
    let (p1, p2) = (free_port(), free_port());
    let config = format!(
        "{DEFAULTS}    backlog 55\nlisten r\n    bind 127.0.0.1:{p1}\n    \
         bind 127.0.0.1:{p2} backlog 33\n    server s 127.0.0.1:{}\n",
        backend.port()
    );
    let _lb = Ringlb::start(&config);
    let (Some(a), Some(b)) = (ss_backlog(p1), ss_backlog(p2)) else {
        eprintln!("no ss: the queue lengths cannot be read");
        return;
    };
    assert_eq!((a, b), (55, 33));
}
