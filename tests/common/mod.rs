//! Shared harness for ringlb's end-to-end tests.
//!
//! - [`free_port`]: a parallel-safe port allocator for the proxy's `bind` lines.
//! - [`Ringlb`]: the real binary, started on a config text, killed on drop.
//! - [`ListenCfg`]: builds the one-`listen` configs most tests need (every one
//!   sets `nbthread 2` and `timeout connect|client|server`).
//! - Mock backends on std threads: [`HttpBackend`] (keep-alive aware, records
//!   what it received), [`SilentBackend`] (accepts, never answers),
//!   [`TcpBackend::echo`] and the generic [`TcpBackend`].
//! - Clients: [`HttpClient`] (one connection, several exchanges, precise framing)
//!   and [`raw_exchange`] (send bytes, read until the peer closes).
//!
//! Every socket gets read and write timeouts: a test that goes wrong fails in
//! seconds with what it had received, it never hangs.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Path of the binary under test, built by cargo for integration tests.
pub const RINGLB: &str = env!("CARGO_BIN_EXE_ringlb");

/// The binary the tests run: ringlb, or the one named by `RINGLB_E2E_BIN`.
///
/// Pointing the suite at `/usr/sbin/haproxy` checks the tests themselves: the
/// data-path and process tests encode HAProxy's behaviour, so HAProxy should pass
/// them (the `-c` message tests are ringlb's own wording and will not).
pub fn binary() -> String {
    std::env::var("RINGLB_E2E_BIN").unwrap_or_else(|_| RINGLB.to_string())
}

/// Read timeout of every client socket: far above any expected latency, far below a hang.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Ports and temporary directories
// ---------------------------------------------------------------------------

/// Every port handed out in this test process, so that two parallel tests never
/// receive the same one (the kernel may hand a just-released port out again).
fn handed_out() -> &'static Mutex<BTreeSet<u16>> {
    static SET: OnceLock<Mutex<BTreeSet<u16>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(BTreeSet::new()))
}

/// Lock files held for the life of the process, one per port handed out.
fn port_locks() -> &'static Mutex<Vec<fs::File>> {
    static LOCKS: OnceLock<Mutex<Vec<fs::File>>> = OnceLock::new();
    LOCKS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Takes an advisory lock on `port` shared by every test process on this
/// machine (several `cargo test` runs at once, in other checkouts too). The
/// kernel drops the lock when the process ends, so nothing goes stale. This
/// matters because ringlb binds with SO_REUSEPORT: two ringlb processes of the
/// same user can bind one port, and connections would then reach the wrong one.
fn lock_port_across_processes(port: u16) -> bool {
    let dir = std::env::temp_dir().join("ringlb-e2e-ports");
    let _ = fs::create_dir_all(&dir);
    let Ok(f) = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(port.to_string()))
    else {
        // No lock directory: fall back to the in-process guarantee only.
        return true;
    };
    // SAFETY: flock(2) on a file descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return false;
    }
    port_locks().lock().unwrap().push(f);
    true
}

/// Records a port as taken; false when it already was (here or, for ports
/// chosen by [`free_port`], in another test process).
fn claim_port(port: u16) -> bool {
    handed_out().lock().unwrap().insert(port)
}

/// A free TCP port on 127.0.0.1 that no other test has received, in this
/// process or in any other test process running the harness at the same time.
///
/// The port is found by binding `127.0.0.1:0` and then released, so the proxy
/// can bind it. Linux gives `connect()` and `bind(0)` ports of different parity,
/// which keeps the window in which a client socket could take it negligible.
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().unwrap().port();
        if claim_port(port) && lock_port_across_processes(port) {
            return port;
        }
    }
}

/// A port where nothing listens (connections to it are refused).
pub fn closed_port() -> u16 {
    free_port()
}

/// A per-test directory under cargo's target tmpdir; removed on drop unless the
/// test is failing, so a failure leaves the config and ringlb's stderr to read.
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates a fresh, unique directory whose name starts with `tag`.
    pub fn new(tag: &str) -> TestDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("ringlb-e2e")
            .join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create test dir");
        TestDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path.join(name);
        fs::write(&p, text).expect("write test file");
        p
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------

/// Builder for a config with one `listen` section on 127.0.0.1.
///
/// Emits `nbthread 2` (the test machine has 2 cores; [`ListenCfg::nbthread`]
/// changes it) and all three mandatory timeouts, so no test depends on
/// ringlb's defaults or warnings.
#[derive(Clone)]
pub struct ListenCfg {
    mode: &'static str,
    bind: u16,
    bind_addr: Option<String>,
    nbthread: Option<u32>,
    timeout_connect: String,
    timeout_client: String,
    timeout_server: String,
    servers: Vec<String>,
    lines: Vec<String>,
    global_lines: Vec<String>,
}

impl ListenCfg {
    /// `mode http` listening on `127.0.0.1:bind`.
    pub fn http(bind: u16) -> ListenCfg {
        Self::new("http", bind)
    }

    /// `mode tcp` listening on `127.0.0.1:bind`.
    pub fn tcp(bind: u16) -> ListenCfg {
        Self::new("tcp", bind)
    }

    fn new(mode: &'static str, bind: u16) -> ListenCfg {
        ListenCfg {
            mode,
            bind,
            bind_addr: None,
            nbthread: Some(2),
            timeout_connect: "1s".into(),
            timeout_client: "5s".into(),
            timeout_server: "5s".into(),
            servers: Vec::new(),
            lines: Vec::new(),
            global_lines: Vec::new(),
        }
    }

    /// `mode http` with `bind <addr>` written as given (`unix@/path`, `fd@3`,
    /// `[::1]:80`, `"${VAR}:80"`, ...).
    pub fn http_at(addr: &str) -> ListenCfg {
        Self::new("http", 0).bind_at(addr)
    }

    /// `mode tcp` with `bind <addr>` written as given.
    pub fn tcp_at(addr: &str) -> ListenCfg {
        Self::new("tcp", 0).bind_at(addr)
    }

    /// Replaces the `bind` address with `addr`, written as given.
    pub fn bind_at(mut self, addr: &str) -> Self {
        self.bind_addr = Some(addr.to_string());
        self
    }

    /// Sets `nbthread` (2 unless changed); `None` leaves the line out, so
    /// ringlb's default applies.
    pub fn nbthread(mut self, n: Option<u32>) -> Self {
        self.nbthread = n;
        self
    }

    /// Adds `server <name> 127.0.0.1:<port>` (weight left to the default, 1).
    pub fn server(mut self, name: &str, port: u16) -> Self {
        self.servers.push(format!("server {name} 127.0.0.1:{port}"));
        self
    }

    /// Adds `server <name> 127.0.0.1:<port> weight <w>`.
    pub fn weighted(mut self, name: &str, port: u16, weight: u32) -> Self {
        self.servers
            .push(format!("server {name} 127.0.0.1:{port} weight {weight}"));
        self
    }

    /// Adds a line to the `listen` section (e.g. `option httpclose`).
    pub fn line(mut self, text: &str) -> Self {
        self.lines.push(text.to_string());
        self
    }

    /// Adds a line to `global` (e.g. `pidfile /x`).
    pub fn global(mut self, text: &str) -> Self {
        self.global_lines.push(text.to_string());
        self
    }

    /// Sets `timeout connect`.
    pub fn timeout_connect(mut self, t: &str) -> Self {
        self.timeout_connect = t.into();
        self
    }

    /// Sets `timeout client`.
    pub fn timeout_client(mut self, t: &str) -> Self {
        self.timeout_client = t.into();
        self
    }

    /// Sets `timeout server`.
    pub fn timeout_server(mut self, t: &str) -> Self {
        self.timeout_server = t.into();
        self
    }

    /// The configuration text.
    pub fn render(&self) -> String {
        let mut s = String::from("global\n");
        if let Some(n) = self.nbthread {
            s += &format!("    nbthread {n}\n");
        }
        for l in &self.global_lines {
            s += &format!("    {l}\n");
        }
        let bind = match &self.bind_addr {
            Some(a) => a.clone(),
            None => format!("127.0.0.1:{}", self.bind),
        };
        s += &format!(
            "\nlisten test\n    mode {}\n    bind {bind}\n    \
             timeout connect {}\n    timeout client {}\n    timeout server {}\n",
            self.mode, self.timeout_connect, self.timeout_client, self.timeout_server
        );
        if !self.lines.iter().any(|l| l.starts_with("balance")) {
            s += "    balance roundrobin\n";
        }
        for l in self.lines.iter().chain(&self.servers) {
            s += &format!("    {l}\n");
        }
        s
    }
}

/// Ports of the `bind` lines and `listen <name> <addr>` lines of a config text.
pub fn bind_ports(config: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    for line in config.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let addr = match words.as_slice() {
            ["bind", addr, ..] => addr,
            ["listen", _, addr, ..] => addr,
            _ => continue,
        };
        let addr = addr.trim_matches('"');
        if let Some(port) = addr.rsplit(':').next().and_then(|p| p.parse().ok()) {
            ports.push(port);
        }
    }
    ports
}

// ---------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------

/// A running ringlb process. Killed (SIGKILL) and reaped on drop; when the test
/// is failing, its stderr is printed so the failure explains itself.
pub struct Ringlb {
    child: Child,
    status: Option<ExitStatus>,
    dir: TestDir,
    /// The ports of its `bind` lines, in config order.
    pub ports: Vec<u16>,
}

impl Ringlb {
    /// Starts `ringlb -db -f <config>` and waits (at most 10 s) until every bind
    /// port accepts connections. Panics with ringlb's stderr if it exits first.
    pub fn start(config: &str) -> Ringlb {
        Self::start_with_args(config, &[])
    }

    /// As [`Ringlb::start`], with extra command-line arguments after `-f`.
    pub fn start_with_args(config: &str, args: &[&str]) -> Ringlb {
        let mut all = vec!["-db"];
        all.extend_from_slice(args);
        let mut r = Self::spawn(config, &all);
        r.wait_ready();
        r
    }

    /// Spawns `ringlb -f <config> <args>` without waiting for anything.
    pub fn spawn(config: &str, args: &[&str]) -> Ringlb {
        Self::spawn_with(config, args, |_| {})
    }

    /// As [`Ringlb::spawn`], letting `customize` adjust the command before it
    /// starts (environment variables, an inherited fd via `pre_exec`, ...).
    /// `ports` holds the config's parsable `ip:port` binds; set it, or use
    /// [`Ringlb::wait_until`], for addresses the helper cannot read.
    pub fn spawn_with(config: &str, args: &[&str], customize: impl FnOnce(&mut Command)) -> Ringlb {
        let dir = TestDir::new("ringlb");
        let cfg = dir.write("test.cfg", config);
        let stdout = fs::File::create(dir.path().join("stdout.log")).unwrap();
        let stderr = fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("-f")
            .arg(&cfg)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        customize(&mut cmd);
        let child = cmd.spawn().expect("spawn ringlb");
        Ringlb {
            child,
            status: None,
            dir,
            ports: bind_ports(config),
        }
    }

    /// Waits until every bind port accepts, at most 10 s.
    pub fn wait_ready(&mut self) {
        assert!(!self.ports.is_empty(), "config has no bind port");
        let deadline = Instant::now() + Duration::from_secs(10);
        for &port in &self.ports.clone() {
            loop {
                if let Some(st) = self.child.try_wait().unwrap() {
                    self.status = Some(st);
                    panic!(
                        "ringlb exited with {st} before accepting on {port}\n--- stderr ---\n{}",
                        self.stderr()
                    );
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                if Instant::now() > deadline {
                    panic!(
                        "ringlb did not accept on port {port} within 10 s\n--- stderr ---\n{}",
                        self.stderr()
                    );
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Polls `ready` every 20 ms until it returns true, at most 10 s; panics
    /// with ringlb's stderr if the process exits first or time runs out.
    /// For binds [`Ringlb::wait_ready`] cannot probe (Unix sockets, IPv6).
    pub fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.status = Some(st);
                panic!(
                    "ringlb exited with {st} before {what}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            if ready() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "not ready within 10 s: {what}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first bind port.
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal (`libc::SIGTERM`, ...).
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// Waits at most `timeout` for the process to exit; None if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.status = Some(st);
                return self.status;
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.status.is_none() && self.child.try_wait().unwrap().is_none()
    }

    /// Everything ringlb wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The per-process directory (config, logs); a good place for a pidfile.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Ringlb {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("--- ringlb stderr ---\n{}--- end ---", self.stderr());
        }
    }
}

/// Output of a ringlb run that is expected to exit by itself.
pub struct CliOutput {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `ringlb <args>` in `cwd` and waits at most 10 s for it to exit (then
/// kills it and panics: a `-c` or `-v` must not start serving).
pub fn run_cli(cwd: &Path, args: &[&str]) -> CliOutput {
    let out_path = cwd.join(format!("cli-{}.out", std::process::id()));
    let err_path = cwd.join(format!("cli-{}.err", std::process::id()));
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn ringlb");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ringlb {args:?} still running after 10 s\nstderr: {}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    CliOutput {
        code: status.code(),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------
// Buffered socket with HTTP framing helpers (used by clients and backends)
// ---------------------------------------------------------------------------

/// A stream (a TcpStream, or bytes already received) with a read buffer and
/// the framing operations HTTP needs.
pub struct BufStream<S = TcpStream> {
    /// The socket.
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: Read> BufStream<S> {
    /// Wraps a stream (timeouts are the caller's business).
    pub fn new(stream: S) -> BufStream<S> {
        BufStream {
            stream,
            buf: Vec::new(),
        }
    }

    /// Bytes received but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads more bytes into the buffer; Ok(0) at end of stream.
    pub fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 65536];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Reads up to and including the blank line ending a message head.
    /// Ok(None) when the stream ends cleanly before a single byte arrives.
    pub fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                return Ok(Some(self.take(i + 4)));
            }
            if self.fill()? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "stream ended inside a message head: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("stream ended after {} of {n} body bytes", self.buf.len()),
                ));
            }
        }
        Ok(self.take(n))
    }

    /// Reads one CRLF-terminated line, without the CRLF.
    pub fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let mut line = self.take(i + 2);
                line.truncate(i);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "stream ended inside a line",
                ));
            }
        }
    }

    /// Reads and decodes a chunked body (extensions and trailers skipped).
    pub fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let line = String::from_utf8_lossy(&line);
            let size_txt = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_txt, 16).map_err(|_| {
                io::Error::new(ErrorKind::InvalidData, format!("bad chunk size {line:?}"))
            })?;
            if size == 0 {
                // Trailers, then the empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.read_n(size)?);
            if !self.read_line()?.is_empty() {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "chunk not followed by CRLF",
                ));
            }
        }
    }

    /// Reads until end of stream (a reset after some data also ends it).
    pub fn read_to_eof(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => return Err(e),
            }
        }
        Ok(std::mem::take(&mut self.buf))
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Case-insensitive lookup in a header list.
fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// True when a comma-separated header value (e.g. `Connection`) has `token`.
fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

// ---------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------

/// One HTTP response as the client received it.
#[derive(Debug, Clone)]
pub struct Response {
    /// `HTTP/1.x`, as `1.0` → 0, `1.1` → 1.
    pub minor: u8,
    /// Status code.
    pub status: u16,
    /// Headers in order, as received.
    pub headers: Vec<(String, String)>,
    /// Decoded body (chunked framing removed).
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
}

impl Response {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// Body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Connection` header contains `close`.
    pub fn says_close(&self) -> bool {
        has_token(self.header("connection"), "close")
    }

    /// The backend's name from the `X-Server` header of [`HttpBackend`] replies.
    pub fn server(&self) -> String {
        self.header("x-server").unwrap_or("<none>").to_string()
    }
}

/// Reads one response from `s` (`head_request`: the request was HEAD, no body).
pub fn read_response<S: Read>(s: &mut BufStream<S>, head_request: bool) -> io::Result<Response> {
    let head = s.read_head()?.ok_or_else(|| {
        io::Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed before any response byte",
        )
    })?;
    let mut hbuf = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut hbuf);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        other => {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "unparsable response head ({other:?}): {:?}",
                    String::from_utf8_lossy(&head)
                ),
            ));
        }
    }
    let status = resp.code.unwrap();
    let minor = resp.version.unwrap();
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let chunked = has_token(header_in(&headers, "transfer-encoding"), "chunked");
    let body = if head_request || status / 100 == 1 || status == 204 || status == 304 {
        Vec::new()
    } else if chunked {
        s.read_chunked()?
    } else if let Some(cl) = header_in(&headers, "content-length") {
        let n: usize = cl
            .trim()
            .parse()
            .map_err(|_| io::Error::new(ErrorKind::InvalidData, "bad Content-Length"))?;
        s.read_n(n)?
    } else {
        s.read_to_eof()?
    };
    Ok(Response {
        minor,
        status,
        headers,
        body,
        chunked,
    })
}

/// Connects to 127.0.0.1:`port` with [`IO_TIMEOUT`] on reads and writes.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A client connection for several exchanges, reading responses with exact framing.
pub struct HttpClient {
    /// The buffered connection.
    pub conn: BufStream,
}

impl HttpClient {
    /// Connects to the proxy.
    pub fn connect(port: u16) -> HttpClient {
        HttpClient {
            conn: BufStream::new(connect(port)),
        }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.conn.stream.write_all(bytes).expect("write request");
    }

    /// Sends `req` and reads one response; panics with the reason on failure.
    pub fn request(&mut self, req: &[u8]) -> Response {
        self.send(req);
        self.response()
    }

    /// `GET path HTTP/1.1` with a Host header, keep-alive.
    pub fn get(&mut self, path: &str) -> Response {
        self.request(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
    }

    /// Reads one final response (interim 1xx responses are skipped); panics
    /// with the reason on failure.
    pub fn response(&mut self) -> Response {
        loop {
            let r = read_response(&mut self.conn, false)
                .unwrap_or_else(|e| panic!("reading response: {e}"));
            if r.status / 100 != 1 {
                return r;
            }
        }
    }

    /// `HEAD path HTTP/1.1`, keep-alive: the response has no body whatever its headers say.
    pub fn head(&mut self, path: &str) -> Response {
        self.send(format!("HEAD {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        read_response(&mut self.conn, true).unwrap_or_else(|e| panic!("reading HEAD response: {e}"))
    }

    /// Reads one response, returning the error instead of panicking.
    pub fn try_response(&mut self) -> io::Result<Response> {
        read_response(&mut self.conn, false)
    }

    /// True when the peer closes (EOF or reset) within `within` without sending
    /// anything more; false if the connection stays open that long.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        assert!(
            self.conn.buffered().is_empty(),
            "unexpected extra bytes: {:?}",
            String::from_utf8_lossy(self.conn.buffered())
        );
        self.conn.stream.set_read_timeout(Some(within)).unwrap();
        let r = self.conn.fill();
        self.conn.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        match r {
            Ok(0) => true,
            Ok(_) => panic!(
                "unexpected extra bytes: {:?}",
                String::from_utf8_lossy(self.conn.buffered())
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => true,
        }
    }
}

/// A fresh connection, one `GET path` with `Connection: close`, one response.
pub fn get(port: u16, path: &str) -> Response {
    HttpClient::connect(port).request(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Sends `bytes` on a fresh connection (write errors ignored: the proxy may
/// answer and close before reading everything), then reads until the peer closes
/// or `timeout` passes. Returns what arrived and how long the read took.
pub fn raw_exchange(port: u16, bytes: &[u8], timeout: Duration) -> (Vec<u8>, Duration) {
    let s = connect(port);
    raw_exchange_on(s, bytes, timeout)
}

/// As [`raw_exchange`] on an already connected stream.
pub fn raw_exchange_on(mut s: TcpStream, bytes: &[u8], timeout: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let _ = s.write_all(bytes);
    let deadline = start + timeout;
    let mut out = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (out, start.elapsed())
}

/// Sends `bytes` on a fresh connection (write errors ignored, as in
/// [`raw_exchange`]) and reads exactly one response, within `timeout`. Returns
/// it and the time until its last byte: the connection may stay open after it
/// (keep-alive), so this never waits for the close. Panics, showing what
/// arrived, when no complete response came.
pub fn exchange(port: u16, bytes: &[u8], timeout: Duration) -> (Response, Duration) {
    let mut s = connect(port);
    let start = Instant::now();
    let _ = s.write_all(bytes);
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut bs = BufStream::new(s);
    match read_response(&mut bs, false) {
        Ok(r) => (r, start.elapsed()),
        Err(e) => panic!(
            "no complete response after {:?} ({e}); received: {:?}",
            start.elapsed(),
            String::from_utf8_lossy(&bs.buffered()[..bs.buffered().len().min(2000)])
        ),
    }
}

/// Parses a complete response from bytes (as returned by [`raw_exchange`]);
/// panics, showing the bytes, when they are not one.
pub fn parse_response(bytes: &[u8]) -> Response {
    let mut bs = BufStream::new(io::Cursor::new(bytes));
    read_response(&mut bs, false).unwrap_or_else(|e| {
        panic!(
            "cannot parse response ({e}): {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(2000)])
        )
    })
}

/// Deterministic pseudo-random bytes (xorshift), so reordering or loss shows.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Compares two byte buffers; on mismatch, panics naming the first differing offset
/// (never dumping megabytes).
pub fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: got {} bytes, want {}; first difference at offset {first}",
        got.len(),
        want.len()
    );
}

// ---------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------

/// Counters shared between a backend's threads and the test.
#[derive(Default)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: AtomicUsize,
    /// Connections currently open (accepted and not yet ended).
    pub active: AtomicUsize,
}

type Handler = Arc<dyn Fn(TcpStream) + Send + Sync>;

/// A listener on 127.0.0.1:0 that runs `handler` on a thread per connection.
/// [`TcpBackend::kill`] closes the listener and shuts every live connection down,
/// as a crashed server would (later connects are refused).
pub struct TcpBackend {
    /// The port it listens on.
    pub port: u16,
    /// Connection counters.
    pub counters: Arc<Counters>,
    listener_fd: i32,
    stopped: Arc<AtomicBool>,
    live: Arc<Mutex<HashMap<usize, TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpBackend {
    /// Starts a backend running `handler` for each accepted connection.
    pub fn start(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> TcpBackend {
        let handler: Handler = Arc::new(handler);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let port = listener.local_addr().unwrap().port();
        claim_port(port);
        let counters = Arc::new(Counters::default());
        let stopped = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<HashMap<usize, TcpStream>>> = Arc::new(Mutex::new(HashMap::new()));
        let listener_fd = listener.as_raw_fd();
        let acceptor = {
            let (counters, stopped, live) = (counters.clone(), stopped.clone(), live.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let id = counters.accepted.fetch_add(1, Ordering::SeqCst);
                    counters.active.fetch_add(1, Ordering::SeqCst);
                    // Idle pooled connections from the proxy may stay open for the
                    // whole test: bound the thread's life anyway.
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
                    // A clone lets kill() shut the connection down; it is dropped
                    // when the handler returns, so the socket really closes then.
                    if let Ok(c) = conn.try_clone() {
                        live.lock().unwrap().insert(id, c);
                    }
                    let (handler, counters, live) =
                        (handler.clone(), counters.clone(), live.clone());
                    thread::spawn(move || {
                        handler(conn);
                        live.lock().unwrap().remove(&id);
                        counters.active.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                // The listener is dropped (closed) here.
            })
        };
        TcpBackend {
            port,
            counters,
            listener_fd,
            stopped,
            live,
            acceptor: Some(acceptor),
        }
    }

    /// Echo server: returns every byte; on the client's half-close, half-closes too.
    pub fn echo() -> TcpBackend {
        Self::start(|mut s| {
            let mut buf = vec![0u8; 65536];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = s.shutdown(Shutdown::Write);
        })
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.counters.active.load(Ordering::SeqCst)
    }

    /// Stops listening (connects are refused from now on) and shuts down every
    /// connection it holds. Idempotent.
    pub fn kill(&mut self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        // SAFETY: shutdown(2) on the listener fd owned by the acceptor thread, which
        // is still alive (joined below); it wakes the blocked accept() with an error.
        unsafe {
            libc::shutdown(self.listener_fd, libc::SHUT_RDWR);
        }
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for (_, c) in self.live.lock().unwrap().drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TcpBackend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A backend that accepts and reads but never answers (for `timeout server`).
pub struct SilentBackend {
    /// The underlying listener.
    pub tcp: TcpBackend,
}

impl SilentBackend {
    /// Starts it.
    pub fn start() -> SilentBackend {
        SilentBackend {
            tcp: TcpBackend::start(|mut s| {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            }),
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.tcp.port
    }
}

/// One request as an [`HttpBackend`] received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// HTTP minor version.
    pub minor: u8,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Decoded body.
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
    /// Index of the backend connection it came on (0-based accept order).
    pub conn: usize,
}

impl Received {
    /// First header of that name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// All values of that header, joined with ", " (equivalent per RFC 9110).
    pub fn joined(&self, name: &str) -> Option<String> {
        let v: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    }
}

/// Size of the `/big` response.
pub const BIG_LEN: usize = 1 << 20;

/// Body of the `/big` response of every [`HttpBackend`].
pub fn big_body() -> Vec<u8> {
    pattern(BIG_LEN, 42)
}

/// Pause between the two chunks of the `/trickle` response.
pub const TRICKLE_PAUSE: Duration = Duration::from_millis(1500);

/// Body of the `/eof` response (no length, ended by closing the connection).
pub fn eof_body() -> Vec<u8> {
    pattern(100_000, 3)
}

/// Chunk sizes of the `/chunked` response (odd sizes, one over 16 KB).
pub const CHUNK_SIZES: [usize; 7] = [1, 10, 100, 1000, 4095, 16385, 70000];

/// The decoded body of the `/chunked` response.
pub fn chunked_body() -> Vec<u8> {
    pattern(CHUNK_SIZES.iter().sum(), 7)
}

/// An HTTP/1.1 origin server for tests.
///
/// Keep-alive aware (closes after `Connection: close` or an HTTP/1.0 request
/// without `keep-alive`), answers `Expect: 100-continue`, decodes Content-Length
/// and chunked request bodies and records every request. Replies, by path:
/// - `/big`: 1 MB ([`big_body`]) with Content-Length;
/// - `/chunked`: [`chunked_body`] in chunks of [`CHUNK_SIZES`];
/// - `/eof`: [`eof_body`] without Content-Length, ended by closing;
/// - `/trickle`: chunked `first\n`, then after [`TRICKLE_PAUSE`] `last\n`;
/// - `HEAD`: the head of the default reply (with its Content-Length), no body;
/// - anything else: `text/plain` naming the server (`server=<name>`) and echoing
///   the request line, body length and every request header (`h: Name: value`).
///
/// Every reply carries `X-Server: <name>`.
pub struct HttpBackend {
    /// The name it answers with.
    pub name: String,
    /// The underlying listener.
    pub tcp: TcpBackend,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl HttpBackend {
    /// Starts a backend answering as `name`.
    pub fn start(name: &str) -> HttpBackend {
        let requests: Arc<Mutex<Vec<Received>>> = Arc::new(Mutex::new(Vec::new()));
        let conn_ids = Arc::new(AtomicUsize::new(0));
        let (n, reqs) = (name.to_string(), requests.clone());
        let tcp = TcpBackend::start(move |s| {
            let id = conn_ids.fetch_add(1, Ordering::SeqCst);
            serve_http(&n, s, id, &reqs);
        });
        HttpBackend {
            name: name.to_string(),
            tcp,
            requests,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.tcp.port
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.tcp.accepted()
    }

    /// Requests served.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// The last request received (panics if none).
    pub fn last(&self) -> Received {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("backend received no request")
    }

    /// See [`TcpBackend::kill`].
    pub fn kill(&mut self) {
        self.tcp.kill();
    }
}

/// Serves HTTP requests on one connection until close (see [`HttpBackend`]).
fn serve_http(name: &str, s: TcpStream, conn: usize, log: &Mutex<Vec<Received>>) {
    let mut bs = BufStream::new(s);
    loop {
        let Ok(Some(head)) = bs.read_head() else {
            return;
        };
        let mut hbuf = [httparse::EMPTY_HEADER; 256];
        let mut req = httparse::Request::new(&mut hbuf);
        if !matches!(req.parse(&head), Ok(httparse::Status::Complete(_))) {
            let _ = bs.stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        let method = req.method.unwrap().to_string();
        let path = req.path.unwrap().to_string();
        let minor = req.version.unwrap();
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let chunked = has_token(header_in(&headers, "transfer-encoding"), "chunked");
        if has_token(header_in(&headers, "expect"), "100-continue")
            && bs
                .stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .is_err()
        {
            return;
        }
        let body = if chunked {
            bs.read_chunked()
        } else if let Some(cl) = header_in(&headers, "content-length") {
            bs.read_n(cl.trim().parse().unwrap_or(0))
        } else {
            Ok(Vec::new())
        };
        let Ok(body) = body else { return };
        let conn_hdr = header_in(&headers, "connection");
        let keep = if minor == 0 {
            has_token(conn_hdr, "keep-alive")
        } else {
            !has_token(conn_hdr, "close")
        };
        let mut echo = format!("server={name}\nrequest={method} {path} HTTP/1.{minor}\n");
        echo += &format!("body-len={}\n", body.len());
        for (n, v) in &headers {
            echo += &format!("h: {n}: {v}\n");
        }
        log.lock().unwrap().push(Received {
            method: method.clone(),
            path: path.clone(),
            minor,
            headers,
            body,
            chunked,
            conn,
        });
        let conn_line = match (keep, minor) {
            (false, _) => "Connection: close\r\n",
            (true, 0) => "Connection: keep-alive\r\n",
            (true, _) => "",
        };
        let is_head = method == "HEAD";
        let ok = if path == "/eof" {
            // No length: the body ends when this server closes the connection.
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: application/octet-stream\r\n\
                 Connection: close\r\n\r\n"
            );
            let _ = bs.stream.write_all(head.as_bytes());
            let _ = bs.stream.write_all(&eof_body());
            return;
        } else if path == "/trickle" {
            // First chunk at once, the rest after a pause: shows whether the proxy
            // streams the body or waits for all of it.
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: text/plain\r\n\
                 Transfer-Encoding: chunked\r\n{conn_line}\r\n6\r\nfirst\n\r\n"
            );
            let ok = bs.stream.write_all(head.as_bytes()).is_ok();
            thread::sleep(TRICKLE_PAUSE);
            ok && bs.stream.write_all(b"5\r\nlast\n\r\n0\r\n\r\n").is_ok()
        } else if is_head {
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\n{conn_line}\r\n",
                echo.len()
            );
            bs.stream.write_all(head.as_bytes()).is_ok()
        } else if path == "/big" {
            let body = big_body();
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\n{conn_line}\r\n",
                body.len()
            );
            bs.stream.write_all(head.as_bytes()).is_ok() && bs.stream.write_all(&body).is_ok()
        } else if path == "/chunked" {
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: application/octet-stream\r\n\
                 Transfer-Encoding: chunked\r\n{conn_line}\r\n"
            );
            let body = chunked_body();
            let mut out = head.into_bytes();
            let mut off = 0;
            for size in CHUNK_SIZES {
                out.extend(format!("{size:x}\r\n").as_bytes());
                out.extend(&body[off..off + size]);
                out.extend(b"\r\n");
                off += size;
            }
            out.extend(b"0\r\n\r\n");
            // Written in pieces with pauses, so the proxy sees chunks split across reads.
            let mut ok = true;
            for piece in out.chunks(5000) {
                ok &= bs.stream.write_all(piece).is_ok();
                thread::sleep(Duration::from_millis(1));
            }
            ok
        } else {
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\n{conn_line}\r\n",
                echo.len()
            );
            bs.stream
                .write_all(&[head.as_bytes(), echo.as_bytes()].concat())
                .is_ok()
        };
        if !ok || !keep {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// Health-check backends
// ---------------------------------------------------------------------------

/// An HTTP backend for health-check tests: its check path answers a status
/// the test switches at run time ([`CheckedBackend::set_check_status`], 200 at
/// start), every other path answers 200 naming the server (`X-Server: <name>`).
/// Check requests are recorded byte for byte; other requests are only counted.
pub struct CheckedBackend {
    /// The name it answers with.
    pub name: String,
    /// The underlying listener.
    pub tcp: TcpBackend,
    status: Arc<std::sync::atomic::AtomicU16>,
    checks: Arc<Mutex<Vec<Vec<u8>>>>,
    served: Arc<AtomicUsize>,
}

impl CheckedBackend {
    /// Starts a backend answering as `name`, with `check_path` as its check URI.
    pub fn start(name: &str, check_path: &str) -> CheckedBackend {
        let status = Arc::new(std::sync::atomic::AtomicU16::new(200));
        let checks: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::new(AtomicUsize::new(0));
        let (n, path) = (name.to_string(), check_path.to_string());
        let (st, ch, sv) = (status.clone(), checks.clone(), served.clone());
        let tcp = TcpBackend::start(move |s| serve_checked(&n, &path, s, &st, &ch, &sv));
        CheckedBackend {
            name: name.to_string(),
            tcp,
            status,
            checks,
            served,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.tcp.port
    }

    /// Sets the status the check path answers from now on.
    pub fn set_check_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Check requests received so far.
    pub fn checks(&self) -> usize {
        self.checks.lock().unwrap().len()
    }

    /// Every check request head received, byte for byte.
    pub fn check_requests(&self) -> Vec<Vec<u8>> {
        self.checks.lock().unwrap().clone()
    }

    /// Requests other than checks served so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// Waits (at most 5 s) until at least `n` check requests have arrived.
    pub fn wait_checks(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.checks() < n {
            assert!(
                Instant::now() < deadline,
                "{}: {} of {n} checks after 5 s",
                self.name,
                self.checks()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Serves one connection of a [`CheckedBackend`] until close.
fn serve_checked(
    name: &str,
    check_path: &str,
    s: TcpStream,
    status: &std::sync::atomic::AtomicU16,
    checks: &Mutex<Vec<Vec<u8>>>,
    served: &AtomicUsize,
) {
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
        if req.path == Some(check_path) {
            checks.lock().unwrap().push(head.clone());
            let code = status.load(Ordering::SeqCst);
            let reason = match code {
                200 => "OK",
                404 => "Not Found",
                500 => "Internal Server Error",
                503 => "Service Unavailable",
                _ => "Other",
            };
            let _ = bs.stream.write_all(
                format!(
                    "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            return;
        }
        served.fetch_add(1, Ordering::SeqCst);
        let minor = req.version.unwrap_or(1);
        let conn = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("connection"))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase());
        let keep = match (minor, conn.as_deref()) {
            (0, Some(c)) => c.contains("keep-alive"),
            (0, None) => false,
            (_, Some(c)) => !c.contains("close"),
            (_, None) => true,
        };
        let body = format!("server={name}\n");
        let head = format!(
            "HTTP/1.1 200 OK\r\nX-Server: {name}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\n{}\r\n",
            body.len(),
            match (keep, minor) {
                (false, _) => "Connection: close\r\n",
                (true, 0) => "Connection: keep-alive\r\n",
                (true, _) => "",
            }
        );
        if bs
            .stream
            .write_all(&[head.as_bytes(), body.as_bytes()].concat())
            .is_err()
            || !keep
        {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers for the regression tests
// ---------------------------------------------------------------------------

impl TcpBackend {
    /// As [`TcpBackend::start`], listening on 127.0.0.1:`port` (a port from
    /// [`free_port`], or the port of a backend killed before): a server that
    /// restarts keeps its address. Panics if the port cannot be bound.
    pub fn start_on(port: u16, handler: impl Fn(TcpStream) + Send + Sync + 'static) -> TcpBackend {
        let handler: Handler = Arc::new(handler);
        // std sets SO_REUSEADDR: a port whose old connections are in TIME_WAIT
        // binds. Sockets of a just-killed backend may take a moment to go: retry.
        let deadline = Instant::now() + Duration::from_secs(3);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("bind backend on 127.0.0.1:{port}: {e}"),
            }
        };
        claim_port(port);
        let counters = Arc::new(Counters::default());
        let stopped = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<HashMap<usize, TcpStream>>> = Arc::new(Mutex::new(HashMap::new()));
        let listener_fd = listener.as_raw_fd();
        let acceptor = {
            let (counters, stopped, live) = (counters.clone(), stopped.clone(), live.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let id = counters.accepted.fetch_add(1, Ordering::SeqCst);
                    counters.active.fetch_add(1, Ordering::SeqCst);
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
                    if let Ok(c) = conn.try_clone() {
                        live.lock().unwrap().insert(id, c);
                    }
                    let (handler, counters, live) =
                        (handler.clone(), counters.clone(), live.clone());
                    thread::spawn(move || {
                        handler(conn);
                        live.lock().unwrap().remove(&id);
                        counters.active.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            })
        };
        TcpBackend {
            port,
            counters,
            listener_fd,
            stopped,
            live,
            acceptor: Some(acceptor),
        }
    }
}

impl HttpBackend {
    /// As [`HttpBackend::start`], listening on 127.0.0.1:`port` (see
    /// [`TcpBackend::start_on`]): kill it and start it again on the same port
    /// to model a server restart.
    pub fn start_on(name: &str, port: u16) -> HttpBackend {
        let requests: Arc<Mutex<Vec<Received>>> = Arc::new(Mutex::new(Vec::new()));
        let conn_ids = Arc::new(AtomicUsize::new(0));
        let (n, reqs) = (name.to_string(), requests.clone());
        let tcp = TcpBackend::start_on(port, move |s| {
            let id = conn_ids.fetch_add(1, Ordering::SeqCst);
            serve_http(&n, s, id, &reqs);
        });
        HttpBackend {
            name: name.to_string(),
            tcp,
            requests,
        }
    }
}

/// TCP sockets of this network namespace in `state` (the hex code of
/// `/proc/net/tcp`, e.g. `0x08` for CLOSE-WAIT) whose remote port is `port`:
/// with `port` a backend's, these are the proxy's connections to it.
pub fn sockets_to_port_in_state(port: u16, state: u8) -> usize {
    let mut n = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let rem_port = f[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let st = u8::from_str_radix(f[3], 16).ok();
            if rem_port == Some(port) && st == Some(state) {
                n += 1;
            }
        }
    }
    n
}

/// `/proc/net/tcp` state code of CLOSE-WAIT.
pub const TCP_CLOSE_WAIT: u8 = 0x08;

/// Reads from `s` until the peer closes (EOF or reset) or `timeout` passes.
/// Returns the bytes and whether the peer closed (false: still open at the deadline).
pub fn read_until_close(s: &mut TcpStream, timeout: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut tmp) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (out, false);
            }
            Err(_) => return (out, true),
        }
    }
}

// ---------------------------------------------------------------------------
// Stats page, stats socket, headless Chromium
// ---------------------------------------------------------------------------

/// One row of HAProxy's stats CSV: column name → value.
pub type StatsRow = HashMap<String, String>;

/// Parses HAProxy's stats CSV (`# pxname,svname,...` then one line per row,
/// each field followed by a comma; quoted fields may hold commas).
pub fn parse_stats_csv(text: &str) -> Vec<StatsRow> {
    let mut lines = text.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .unwrap_or_else(|| panic!("no '# ' header line in the CSV:\n{text}"));
    let columns = split_csv_line(header);
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let values = split_csv_line(l);
            assert_eq!(values.len(), columns.len(), "field count of {l:?}");
            columns.iter().cloned().zip(values).collect()
        })
        .collect()
}

/// Splits one CSV line whose fields each end with a comma.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The row of `pxname`/`svname`; panics listing the rows when absent.
pub fn stats_row<'a>(rows: &'a [StatsRow], px: &str, sv: &str) -> &'a StatsRow {
    rows.iter()
        .find(|r| r["pxname"] == px && r["svname"] == sv)
        .unwrap_or_else(|| {
            let names: Vec<String> = rows
                .iter()
                .map(|r| format!("{}/{}", r["pxname"], r["svname"]))
                .collect();
            panic!("no row {px}/{sv} in {names:?}")
        })
}

/// A column of a row as a number (panics when empty or not a number).
pub fn stats_num(row: &StatsRow, column: &str) -> u64 {
    row[column].parse().unwrap_or_else(|_| {
        panic!(
            "{}/{}: column {column} is {:?}, not a number",
            row["pxname"], row["svname"], row[column]
        )
    })
}

/// Sends `command` and a line feed on the stats socket at `path` and returns
/// everything ringlb writes until it closes (at most [`IO_TIMEOUT`]).
pub fn stats_command(path: &Path, command: &str) -> String {
    stats_exchange(path, format!("{command}\n").as_bytes())
}

/// Sends raw bytes on the stats socket at `path`, then reads until ringlb
/// closes (or resets); returns what came (lossy text).
pub fn stats_exchange(path: &Path, bytes: &[u8]) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .unwrap_or_else(|e| panic!("connect to the stats socket {}: {e}", path.display()));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let _ = s.write_all(bytes);
    // Done sending, as `socat` at the end of its input.
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // ringlb closed with input unread (a line it refused): a close.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "stats socket: {e} after {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET path` on a fresh connection with optional `Authorization` and
/// `Cookie` headers, `Connection: close`.
pub fn get_with(
    port: u16,
    path: &str,
    authorization: Option<&str>,
    cookie: Option<&str>,
) -> Response {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(a) = authorization {
        req += &format!("Authorization: {a}\r\n");
    }
    if let Some(c) = cookie {
        req += &format!("Cookie: {c}\r\n");
    }
    req += "\r\n";
    HttpClient::connect(port).request(req.as_bytes())
}

/// The Chromium binary for the page tests (`RINGLB_CHROMIUM` or
/// `/usr/bin/chromium`), or `None` when it is not installed.
pub fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("RINGLB_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    p.exists().then_some(p)
}

/// Runs headless Chromium on `url` with `extra` arguments (`--dump-dom`,
/// `--screenshot=...`) and a fresh profile in `profile`; returns its stdout.
/// Killed after 60 s.
pub fn chromium_run(chromium: &Path, profile: &Path, extra: &[&str], url: &str) -> String {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null());
    let out_path = profile.with_extension("stdout");
    let err_path = profile.with_extension("stderr");
    cmd.stdout(fs::File::create(&out_path).expect("chromium stdout file"))
        .stderr(fs::File::create(&err_path).expect("chromium stderr file"));
    let mut child = cmd.spawn().expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium did not finish within 60 s; stderr:\n{}",
                    fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            None => thread::sleep(Duration::from_millis(50)),
        }
    }
    fs::read_to_string(&out_path).unwrap_or_default()
}
