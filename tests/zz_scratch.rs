//! Address forms on `bind` and `server` lines, as HAProxy accepts them:
//! `fd@<n>` (a listening socket inherited from the parent, on which every
//! worker accepts), `unix@/path` on both sides, `[::1]:port`, `:port` (all
//! addresses), and environment variables expanded inside double quotes.

mod common;

use common::{
    BufStream, HttpBackend, HttpClient, IO_TIMEOUT, ListenCfg, Ringlb, TestDir, free_port, get,
    read_response, run_cli,
};
use std::io::{self, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

// ---------------------------------------------------------------------------
// fd@<n>
// ---------------------------------------------------------------------------

/// Spawns `ringlb -db` so that it inherits `fd` under the same number.
///
/// FD_CLOEXEC is cleared with fcntl in the child only (between fork and exec):
/// clearing it in the test process would leak the listener into every other
/// ringlb that parallel tests start meanwhile.
fn spawn_inheriting(config: &str, fd: RawFd) -> Ringlb {
    Ringlb::spawn_with(config, &["-db"], move |cmd| {
        // SAFETY: the closure runs in the forked child before exec and only
        // calls fcntl(2), which is async-signal-safe; it touches the child's
        // own copy of the descriptor table.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

/// A listener on 127.0.0.1:0 for ringlb to inherit: (listener, port).
fn inheritable_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Waits until ringlb answers a GET on `port` (the inherited socket accepts
/// from the start, so a connect proves nothing; a response does).
fn wait_serving(lb: &mut Ringlb, port: u16) {
    lb.wait_until(&format!("an HTTP answer on 127.0.0.1:{port}"), || {
        let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut bs = BufStream::new(s);
        if bs
            .stream
            .write_all(b"GET /probe HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        matches!(read_response(&mut bs, false), Ok(r) if r.status == 200)
    });
}

#[test]
fn bind_fd_inherited_listener_serves_requests() {
    let a = HttpBackend::start("a");
    let (l, port) = inheritable_listener();
    let cfg = ListenCfg::http_at(&format!("fd@{}", l.as_raw_fd())).server("a", a.port());
    let mut lb = spawn_inheriting(&cfg.render(), l.as_raw_fd());
    // The child has its copy now: from here only ringlb holds the socket, so a
    // ringlb that did not take it over would make connects fail, not hang.
    drop(l);
    wait_serving(&mut lb, port);
    for i in 0..6 {
        let r = get(port, &format!("/fd/{i}"));
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.server(), "a");
        assert!(
            r.text().contains(&format!("request=GET /fd/{i} HTTP/1.1")),
            "request {i} not echoed by the backend: {}",
            r.text()
        );
    }
    let paths: Vec<String> = a.requests().into_iter().map(|r| r.path).collect();
    for i in 0..6 {
        assert!(
            paths.contains(&format!("/fd/{i}")),
            "backend did not receive /fd/{i}; got {paths:?}"
        );
    }
    assert!(lb.is_running());
}

/// `global maxconn 2` over two workers: two client connections held open at
/// once are both served (as HAProxy would). ringlb splits maxconn per worker
/// (one each here), so the second one can only be served if the other worker
/// accepts on the inherited socket too.
#[test]
fn bind_fd_every_worker_accepts() {
    let a = HttpBackend::start("a");
    let (l, port) = inheritable_listener();
    let cfg = ListenCfg::http_at(&format!("fd@{}", l.as_raw_fd()))
        .global("maxconn 1").nbthread(Some(1))
        .server("a", a.port());
    let mut lb = spawn_inheriting(&cfg.render(), l.as_raw_fd());
    drop(l);
    wait_serving(&mut lb, port);
    let mut c1 = HttpClient::connect(port);
    let r = c1.get("/first");
    assert_eq!(r.status, 200, "{}", r.text());
    // c1 stays open (keep-alive) and holds its worker's slot.
    let mut c2 = HttpClient::connect(port);
    let r = c2.get("/second");
    assert_eq!(r.status, 200, "{}", r.text());
    // Both connections keep working side by side.
    for i in 0..3 {
        assert_eq!(c1.get(&format!("/c1/{i}")).status, 200);
        assert_eq!(c2.get(&format!("/c2/{i}")).status, 200);
    }
}

// ---------------------------------------------------------------------------
// unix@/path
// ---------------------------------------------------------------------------

/// Connects to a Unix socket with [`IO_TIMEOUT`] on reads and writes.
fn unix_connect(path: &Path) -> UnixStream {
    let s =
        UnixStream::connect(path).unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

#[test]
fn bind_unix_socket_proxies_to_tcp_backend() {
    let a = HttpBackend::start("a");
    let dir = TestDir::new("bind-unix");
    let sock = dir.path().join("lb.sock");
    let cfg = ListenCfg::http_at(&format!("unix@{}", sock.display()))
        .line("option forwardfor")
        .server("a", a.port());
    let mut lb = Ringlb::spawn(&cfg.render(), &["-db"]);
    lb.wait_until(&format!("accepting on {}", sock.display()), || {
        UnixStream::connect(&sock).is_ok()
    });

    // Two exchanges on one keep-alive connection, then one that closes.
    let mut bs = BufStream::new(unix_connect(&sock));
    for (i, close) in [(0, false), (1, false), (2, true)] {
        let conn = if close { "Connection: close\r\n" } else { "" };
        bs.stream
            .write_all(format!("GET /unix/{i} HTTP/1.1\r\nHost: test\r\n{conn}\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut bs, false)
            .unwrap_or_else(|e| panic!("response {i} over the Unix socket: {e}"));
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.server(), "a");
        assert!(
            r.text()
                .contains(&format!("request=GET /unix/{i} HTTP/1.1")),
            "{}",
            r.text()
        );
    }
    assert_eq!(a.request_count(), 3);
    // A Unix client has no IP: whatever ringlb does with forwardfor, it must
    // not invent a bogus address.
    if let Some(xff) = a.last().header("x-forwarded-for") {
        assert!(
            !xff.is_empty() && !xff.contains("None") && !xff.contains("0.0.0.0"),
            "X-Forwarded-For for a Unix client: {xff:?}"
        );
    }
}

/// A tiny HTTP/1.1 server on a Unix socket (std threads), keep-alive aware.
struct UnixHttpBackend {
    path: PathBuf,
    /// `METHOD path body-len` of every request, in order.
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl UnixHttpBackend {
    fn start(path: &Path) -> UnixHttpBackend {
        let l = UnixListener::bind(path).expect("bind backend Unix socket");
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (requests, stop) = (requests.clone(), stop.clone());
            thread::spawn(move || {
                for conn in l.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(c) = conn else { continue };
                    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    c.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
                    let requests = requests.clone();
                    thread::spawn(move || serve_unix_http(c, &requests));
                }
            })
        };
        UnixHttpBackend {
            path: path.to_path_buf(),
            requests,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for UnixHttpBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept so the thread sees the flag.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

fn serve_unix_http(s: UnixStream, log: &Mutex<Vec<String>>) {
    let mut bs = BufStream::new(s);
    loop {
        let Ok(Some(head)) = bs.read_head() else {
            return;
        };
        let mut hbuf = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut hbuf);
        if !matches!(req.parse(&head), Ok(httparse::Status::Complete(_))) {
            let _ = bs.stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let close = header("connection").is_some_and(|v| v.contains("close"));
        let (method, path) = (
            req.method.unwrap().to_string(),
            req.path.unwrap().to_string(),
        );
        let Ok(body) = bs.read_n(len) else { return };
        let line = format!("{method} {path} {}", body.len());
        log.lock().unwrap().push(line.clone());
        let text = format!("unix backend: {line}\n");
        let conn = if close { "Connection: close\r\n" } else { "" };
        let reply = format!(
            "HTTP/1.1 200 OK\r\nX-Server: unix\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\n{conn}\r\n{text}",
            text.len()
        );
        if bs.stream.write_all(reply.as_bytes()).is_err() || close {
            return;
        }
    }
}

#[test]
fn server_on_unix_socket_gets_tcp_clients_requests() {
    let dir = TestDir::new("server-unix");
    let sock = dir.path().join("backend.sock");
    let backend = UnixHttpBackend::start(&sock);
    let cfg = ListenCfg::http(free_port()).line(&format!("server u unix@{}", sock.display()));
    let lb = Ringlb::start(&cfg.render());

    let r = get(lb.port(), "/over-unix");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.server(), "unix");
    assert_eq!(r.text(), "unix backend: GET /over-unix 0\n");

    // Keep-alive client, a request with a body, then another.
    let mut c = HttpClient::connect(lb.port());
    let r =
        c.request(b"POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello unix!");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "unix backend: POST /post 11\n");
    let r = c.get("/again");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "unix backend: GET /again 0\n");

    let got = backend.requests();
    for want in ["GET /over-unix 0", "POST /post 11", "GET /again 0"] {
        assert!(
            got.iter().any(|l| l == want),
            "backend did not log {want:?}: {got:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// [::1]:port and :port
// ---------------------------------------------------------------------------

/// Connects to `addr` with [`IO_TIMEOUT`] on reads and writes.
fn connect_addr(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

#[test]
fn bind_ipv6_loopback() {
    if let Err(e) = TcpListener::bind("[::1]:0") {
        println!("SKIPPED bind_ipv6_loopback: cannot bind [::1] on this machine ({e})");
        return;
    }
    let a = HttpBackend::start("a");
    let port = free_port();
    let cfg = ListenCfg::http_at(&format!("[::1]:{port}"))
        .line("option forwardfor")
        .server("a", a.port());
    let mut lb = Ringlb::spawn(&cfg.render(), &["-db"]);
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    lb.wait_until(&format!("accepting on {v6}"), || {
        TcpStream::connect(v6).is_ok()
    });

    let mut bs = BufStream::new(connect_addr(v6));
    bs.stream
        .write_all(b"GET /v6 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut bs, false).unwrap_or_else(|e| panic!("response over ::1: {e}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.server(), "a");
    let last = a.last();
    assert_eq!(last.path, "/v6");
    assert_eq!(
        last.header("x-forwarded-for"),
        Some("::1"),
        "X-Forwarded-For of an IPv6 client"
    );
    // Bound to ::1 only: nothing listens on 127.0.0.1 at that port.
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "bind [::1]:{port} also accepts on 127.0.0.1"
    );
}

#[test]
fn bind_any_address_with_bare_port() {
    let a = HttpBackend::start("a");
    let port = free_port();
    let cfg = ListenCfg::http_at(&format!(":{port}")).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    assert_eq!(lb.port(), port);
    let r = get(port, "/any");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.server(), "a");
    // Another loopback address reaches it too: the socket is bound to
    // 0.0.0.0, not to 127.0.0.1 only.
    let mut bs = BufStream::new(connect_addr(SocketAddr::from(([127, 0, 0, 2], port))));
    bs.stream
        .write_all(b"GET /any2 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut bs, false).unwrap_or_else(|e| panic!("via 127.0.0.2: {e}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(a.last().path, "/any2");
}

// ---------------------------------------------------------------------------
// Environment variables
// ---------------------------------------------------------------------------

#[test]
fn bind_address_from_environment_variables() {
    const ADDR: &str = "RINGLB_TEST_ADDR";
    const PORT: &str = "RINGLB_TEST_PORT";
    // Only the child gets them: the test process must not have them.
    assert!(std::env::var_os(ADDR).is_none() && std::env::var_os(PORT).is_none());
    let a = HttpBackend::start("a");
    let port = free_port();
    let cfg = ListenCfg::http_at(&format!("\"${{{ADDR}}}:${{{PORT}}}\"")).server("a", a.port());
    let text = cfg.render();
    assert!(text.contains(r#"bind "${RINGLB_TEST_ADDR}:${RINGLB_TEST_PORT}""#));

    let port_text = port.to_string();
    let mut lb = Ringlb::spawn_with(&text, &["-db"], |cmd| {
        cmd.env(ADDR, "127.0.0.1").env(PORT, &port_text);
    });
    lb.ports = vec![port];
    lb.wait_ready();
    let r = get(port, "/env");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.server(), "a");
    assert_eq!(a.last().path, "/env");

    // Without the variables the address expands to ":" and is refused.
    let dir = TestDir::new("env-unset");
    let path = dir.write("unset.cfg", &text);
    let out = run_cli(dir.path(), &["-c", "-f", path.to_str().unwrap()]);
    assert_ne!(
        out.code,
        Some(0),
        "config with unset variables accepted\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
}
