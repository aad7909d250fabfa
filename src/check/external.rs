//! `option external-check`: the health check runs a program instead of
//! connecting, as HAProxy 2.6 does (`extcheck.c`):
//!
//! - arguments `<proxy_address> <proxy_port> <server_address> <server_port>`
//!   (the proxy's first bind, `NOT_USED` for a backend without one);
//! - a fresh environment holding only `PATH` (`external-check path`, empty
//!   by default, also where a bare command is searched) and the
//!   `HAPROXY_PROXY_*` / `HAPROXY_SERVER_*` variables (`NOT_USED` is empty there);
//! - exit status 0 passes (`PROCOK`), anything else fails (`PROCERR`, the
//!   status as the code); past the limit the program gets SIGTERM and the
//!   check fails (`PROCTOUT`). The limit is `inter`, or min(`inter`,
//!   `timeout connect`) when `timeout check` is set, as HAProxy's.
//!
//! The checker thread never blocks on the program: it polls the child's exit
//! between timer ticks, so the other servers' checks keep running.

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::status::{CheckReport, CheckStatus};
use crate::config::model::{Address, ExternalCheck, Mode};
use crate::runtime::Shared;

/// How often a running program's exit is polled.
const POLL: Duration = Duration::from_millis(5);

/// HAProxy's placeholder for an argument that does not apply.
const NOT_USED: &str = "NOT_USED";

/// Runs the program once for server `s` of backend `b`; never fails, every
/// problem is a [`CheckReport`].
pub async fn run(x: &ExternalCheck, shared: &Shared, b: usize, s: usize) -> CheckReport {
    let start = Instant::now();
    let (status, code, info) = match spawn(x, shared, b, s) {
        Err(e) => (CheckStatus::SockErr, 0, e.to_string()),
        Ok(mut child) => {
            let limit = limit(shared, b, s);
            match wait(&mut child, start + limit).await {
                Some(st) => judge(st),
                None => {
                    // SAFETY: plain kill(2) of the child we spawned and have not reaped.
                    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
                    // Reaped off the checker: a program ignoring SIGTERM must
                    // not stall the other checks (HAProxy does not wait either).
                    std::thread::spawn(move || child.wait());
                    (CheckStatus::ProcTimeout, 0, String::new())
                }
            }
        }
    };
    CheckReport {
        status,
        code,
        info,
        duration: start.elapsed(),
    }
}

/// HAProxy's limit for one run (`process_chk_proc`): `inter`, or
/// min(`inter`, `timeout connect`) when `timeout check` is set.
fn limit(shared: &Shared, b: usize, s: usize) -> Duration {
    let be = &shared.backends[b];
    let inter = be.servers[s].check.inter;
    let t = &be.model.timeouts;
    match (t.check, t.connect) {
        (Some(_), Some(c)) => inter.min(c),
        _ => inter,
    }
}

/// Polls the child until it exits or `deadline` passes (`None`).
async fn wait(child: &mut std::process::Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) => {}
            // Not ours to wait for any more: count it as a failure.
            Err(_) => return Some(std::os::unix::process::ExitStatusExt::from_raw(255 << 8)),
        }
        if Instant::now() >= deadline {
            return None;
        }
        monoio::time::sleep(POLL).await;
    }
}

/// `PROCOK` for exit 0, else `PROCERR` with the exit status as the code.
fn judge(st: ExitStatus) -> (CheckStatus, u16, String) {
    match st.code() {
        Some(0) => (CheckStatus::ProcOk, 0, String::new()),
        Some(c) => (CheckStatus::ProcErr, c as u16, String::new()),
        // Killed by a signal: HAProxy's code is -1, which a status code
        // here cannot hold; 0 stands for it.
        None => (CheckStatus::ProcErr, 0, String::new()),
    }
}

/// Starts the program with HAProxy's arguments and environment.
fn spawn(
    x: &ExternalCheck,
    shared: &Shared,
    b: usize,
    s: usize,
) -> std::io::Result<std::process::Child> {
    let args = Args::of(shared, b, s);
    let mut cmd = Command::new(&x.command);
    cmd.args([
        &args.proxy_addr,
        &args.proxy_port,
        &args.server_addr,
        &args.server_port,
    ])
    .env_clear()
    .stdin(Stdio::null());
    for (k, v) in args.env(x) {
        cmd.env(k, v);
    }
    cmd.spawn()
}

/// What the program is told.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Args {
    proxy_addr: String,
    proxy_port: String,
    server_addr: String,
    server_port: String,
    proxy_name: String,
    proxy_id: u32,
    server_name: String,
    server_id: u32,
    maxconn: u32,
    curconn: u64,
    ssl: bool,
    proto: &'static str,
}

impl Args {
    /// Reads them from the running configuration.
    fn of(shared: &Shared, b: usize, s: usize) -> Args {
        let be = &shared.backends[b];
        let srv = &be.servers[s];
        let model = &be.model.servers[s];
        let (proxy_addr, proxy_port) = first_bind(shared, &be.name);
        let (server_addr, server_port) = match &*srv.address() {
            Address::Inet(sa) => (sa.ip().to_string(), sa.port().to_string()),
            Address::Unix(p) => (p.display().to_string(), NOT_USED.into()),
            Address::Abstract(n) => (n.clone(), NOT_USED.into()),
            Address::Fd(_) => (NOT_USED.into(), NOT_USED.into()),
        };
        Args {
            proxy_addr,
            proxy_port,
            server_addr,
            server_port,
            proxy_name: be.name.clone(),
            proxy_id: crate::stats::view::backend_ids(shared)[b],
            server_name: srv.name.clone(),
            server_id: crate::stats::view::server_ids(be)[s],
            maxconn: model.maxconn.unwrap_or(0),
            curconn: srv.active.load(std::sync::atomic::Ordering::Relaxed),
            ssl: model.ssl.is_some(),
            // HAProxy: the server's `proto` in HTTP mode (refused by
            // ringlb), else HTTP/1's token.
            proto: match be.mode {
                Mode::Http => "h1",
                Mode::Tcp => "tcp",
            },
        }
    }

    /// The whole environment, `NOT_USED` written empty as HAProxy does.
    fn env(&self, x: &ExternalCheck) -> Vec<(&'static str, String)> {
        let v = |s: &str| {
            if s == NOT_USED {
                String::new()
            } else {
                s.to_string()
            }
        };
        vec![
            ("PATH", x.path.clone()),
            ("HAPROXY_PROXY_NAME", self.proxy_name.clone()),
            ("HAPROXY_PROXY_ID", self.proxy_id.to_string()),
            ("HAPROXY_PROXY_ADDR", v(&self.proxy_addr)),
            ("HAPROXY_PROXY_PORT", v(&self.proxy_port)),
            ("HAPROXY_SERVER_NAME", self.server_name.clone()),
            ("HAPROXY_SERVER_ID", self.server_id.to_string()),
            ("HAPROXY_SERVER_ADDR", v(&self.server_addr)),
            ("HAPROXY_SERVER_PORT", v(&self.server_port)),
            ("HAPROXY_SERVER_MAXCONN", self.maxconn.to_string()),
            ("HAPROXY_SERVER_CURCONN", self.curconn.to_string()),
            (
                "HAPROXY_SERVER_SSL",
                if self.ssl { "1" } else { "0" }.into(),
            ),
            ("HAPROXY_SERVER_PROTO", self.proto.into()),
        ]
    }
}

/// The proxy's first bind (a `listen` section's): address and port, or a
/// UNIX socket's path and `NOT_USED`; `NOT_USED` twice without one.
fn first_bind(shared: &Shared, name: &str) -> (String, String) {
    let binds = shared
        .frontends
        .iter()
        .filter(|f| f.name == name)
        .flat_map(|f| f.model.binds.iter());
    for bind in binds {
        match &bind.address {
            Address::Inet(sa) => return (sa.ip().to_string(), sa.port().to_string()),
            Address::Unix(p) => return (p.display().to_string(), NOT_USED.into()),
            _ => continue,
        }
    }
    (NOT_USED.into(), NOT_USED.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_judge_the_check() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(judge(ExitStatus::from_raw(0)).0, CheckStatus::ProcOk);
        assert_eq!(
            judge(ExitStatus::from_raw(3 << 8)),
            (CheckStatus::ProcErr, 3, String::new())
        );
        assert_eq!(
            judge(ExitStatus::from_raw(libc::SIGKILL)).0,
            CheckStatus::ProcErr
        );
    }

    #[test]
    fn a_slow_program_times_out_without_blocking() {
        crate::test_runtime().block_on(async {
            let mut child = Command::new("/bin/sleep").arg("5").spawn().unwrap();
            let start = Instant::now();
            assert!(
                wait(&mut child, start + Duration::from_millis(50))
                    .await
                    .is_none()
            );
            assert!(start.elapsed() < Duration::from_secs(1));
            child.kill().unwrap();
            child.wait().unwrap();
        });
    }
}
