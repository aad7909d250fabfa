//! The binary under test: its path ([`RINGLB`], [`binary`]), the config
//! builder [`ListenCfg`] and [`bind_ports`], the running process handle
//! [`Ringlb`] and [`run_cli`] for runs that exit by themselves.

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self};
use std::time::{Duration, Instant};

use super::*;

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
