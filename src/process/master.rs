//! Master-worker mode (`-W`, `master-worker` in `global`), as HAProxy runs it:
//! a master process that binds the listening sockets and keeps them, and a
//! worker process (ringlb itself, started again) that inherits them and
//! serves. On SIGUSR2 (or SIGHUP) the master re-reads the configuration,
//! starts a new worker on the same sockets, and once it is ready soft-stops
//! the old one: no socket ever closes, so no connection waiting in a queue is
//! reset. A configuration error keeps the old worker serving and says why.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::master_cli::{self, MasterCliAddr, ProcEntry};
use super::sd_notify::{self, Notifier};
use super::signals::{self, MasterSignal};
use crate::config::{self, model::Config};
use crate::worker::handover::{self, ENV_LISTENERS, Inherited, SocketKey};
use crate::worker::{self, listen};

/// Set in a worker's environment: it runs under a master.
pub const ENV_WORKER: &str = "RINGLB_MASTER_PID";
/// The fd a worker writes one byte to once it serves.
pub const ENV_READY_FD: &str = "RINGLB_READY_FD";
/// How long a new worker may take to be ready.
const READY_WAIT: Duration = Duration::from_secs(10);

/// Why the master could not go on.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// Binding a listener failed.
    #[error(transparent)]
    Bind(#[from] listen::BindError),
    /// Starting or waiting for a worker failed.
    #[error("cannot start a worker: {0}")]
    Worker(#[source] io::Error),
    /// The master CLI's socket could not be bound.
    #[error("cannot bind the master CLI (-S): {0}")]
    Cli(#[source] io::Error),
    /// A signal or process call failed.
    #[error(transparent)]
    Process(#[from] super::ProcessError),
}

/// What the master needs to start workers.
#[derive(Debug, Clone)]
pub struct MasterOpts {
    /// The configuration files, read again on each reload.
    pub files: Vec<PathBuf>,
    /// Extra arguments for each worker (`-d`).
    pub worker_args: Vec<String>,
    /// The master CLI's address (`-S`), if any.
    pub cli: Option<MasterCliAddr>,
    /// Processes to soft-stop once the first worker serves (`-sf`).
    pub soft_finish: Vec<i32>,
    /// Processes to terminate once the first worker serves (`-st`).
    pub terminate: Vec<i32>,
    /// `-Ws`: tell systemd (`$NOTIFY_SOCKET`) when serving, reloading, stopping.
    pub systemd: bool,
}

/// The master's messages to systemd (`-Ws`); silent without `$NOTIFY_SOCKET`.
struct Systemd(Option<Notifier>);

impl Systemd {
    fn new(enabled: bool) -> Systemd {
        match Notifier::from_env().filter(|_| enabled) {
            Some(Ok(n)) => Systemd(Some(n)),
            Some(Err(e)) => {
                eprintln!("[WARNING] master: cannot use $NOTIFY_SOCKET: {e}");
                Systemd(None)
            }
            None => Systemd(None),
        }
    }

    /// Sends `state` (`KEY=value` lines) then `status` as `STATUS=`.
    fn tell(&self, state: &str, status: &str) {
        let Some(n) = &self.0 else { return };
        let msg = format!("{state}{}", sd_notify::status_line(status));
        if let Err(e) = n.send(&msg) {
            eprintln!("[WARNING] master: cannot notify systemd: {e}");
        }
    }
}

/// A worker process the master started.
struct Worker {
    child: Child,
    /// Its position in HAProxy's numbering (1, 2, ...) for the messages.
    relative: u32,
    started: std::time::SystemTime,
}

/// Publishes the processes (and a reload's outcome) for the master CLI.
fn publish(
    state: &master_cli::Shared,
    current: &Worker,
    former: &[Worker],
    outcome: Option<Result<(), String>>,
) {
    let (lock, cv) = &**state;
    let Ok(mut st) = lock.lock() else { return };
    let master = st.procs.first().cloned();
    st.procs = master.into_iter().collect();
    for (w, old) in [(current, false)]
        .into_iter()
        .chain(former.iter().map(|w| (w, true)))
    {
        st.procs.push(ProcEntry {
            pid: w.child.id(),
            kind: "worker",
            relative: w.relative,
            reloads: w.relative - 1,
            started: w.started,
            old,
        });
    }
    if let Some(o) = outcome {
        st.attempts += 1;
        st.last = Some(o);
        cv.notify_all();
    }
}

/// The master's listening sockets, by name.
type Sockets = HashMap<SocketKey, OwnedFd>;

/// Binds the sockets `config` needs, reusing those of `previous` by name
/// (the rest of `previous` closes here: the workers that use them keep
/// their own copies until they stop).
fn bind(config: &Config, previous: Sockets) -> Result<Sockets, MasterError> {
    let mut inherited = Inherited::from_sockets(previous);
    let workers = worker::count(config.global.nbthread);
    let lists = listen::bind_all(config, workers, &mut inherited)?;
    Ok(lists
        .into_iter()
        .flatten()
        .map(|bl| (bl.key, bl.listener.into()))
        .collect())
}

/// Runs the master until it is told to stop; returns the exit status.
pub fn run(opts: &MasterOpts, config: &Config) -> Result<i32, MasterError> {
    let systemd = Systemd::new(opts.systemd);
    // The binary's path now, not /proc/self/exe at each reload: after a
    // package upgrade replaced it, a reload starts the new binary's worker.
    let exe = std::env::current_exe().map_err(MasterError::Worker)?;
    let mut sockets = bind(config, Sockets::new())?;
    signals::block_master()?;
    // The CLI first: a master that cannot serve it fails before any worker.
    let state = master_cli::Shared::default();
    if let Ok(mut st) = state.0.lock() {
        st.procs.push(ProcEntry {
            pid: std::process::id(),
            kind: "master",
            relative: 0,
            reloads: 0,
            started: std::time::SystemTime::now(),
            old: false,
        });
    }
    if let Some(addr) = &opts.cli {
        master_cli::spawn(addr, state.clone()).map_err(MasterError::Cli)?;
    }
    let mut generation = 1;
    let mut current = start_worker(opts, &exe, &sockets, generation)?;
    let pid = std::process::id();
    systemd.tell(
        &format!("READY=1\nMAINPID={pid}\n"),
        &format!("worker #1 (pid {}) serves", current.child.id()),
    );
    eprintln!(
        "[NOTICE] master {}: worker #{generation} (pid {}) serves",
        std::process::id(),
        current.child.id()
    );
    // As a plain process would once serving: replace the old ones.
    signals::send_all(&opts.soft_finish, libc::SIGUSR1);
    signals::send_all(&opts.terminate, libc::SIGTERM);
    let mut former: Vec<Worker> = Vec::new();
    publish(&state, &current, &former, None);
    loop {
        match signals::wait_master() {
            MasterSignal::Reload => {
                systemd.tell(
                    &format!(
                        "RELOADING=1\nMONOTONIC_USEC={}\n",
                        sd_notify::monotonic_usec()
                    ),
                    "reloading",
                );
                let taken = std::mem::take(&mut sockets);
                let outcome = match reload(opts, &exe, taken, generation + 1) {
                    (kept, Ok(new)) => {
                        sockets = kept;
                        generation += 1;
                        signals::send_all(&[current.child.id() as i32], libc::SIGUSR1);
                        eprintln!(
                            "[NOTICE] master: worker #{generation} (pid {}) serves; worker #{} \
                             (pid {}) soft-stops",
                            new.child.id(),
                            current.relative,
                            current.child.id()
                        );
                        systemd.tell(
                            "READY=1\n",
                            &format!(
                                "worker #{generation} (pid {}) serves (reloaded)",
                                new.child.id()
                            ),
                        );
                        former.push(std::mem::replace(&mut current, new));
                        Ok(())
                    }
                    (kept, Err(why)) => {
                        sockets = kept;
                        eprintln!(
                            "[ALERT] master: reload failed, worker #{} keeps serving: {why}",
                            current.relative
                        );
                        // Ready again: the old worker serves on.
                        systemd.tell(
                            "READY=1\n",
                            &format!(
                                "reload failed, worker #{} (pid {}) keeps serving: {why}",
                                current.relative,
                                current.child.id()
                            ),
                        );
                        Err(why)
                    }
                };
                publish(&state, &current, &former, Some(outcome));
            }
            MasterSignal::Child => {
                if let Some(code) = reap(&mut current, &mut former) {
                    systemd.tell("STOPPING=1\n", "the current worker exited");
                    return Ok(code);
                }
                publish(&state, &current, &former, None);
            }
            MasterSignal::Terminate => {
                systemd.tell("STOPPING=1\n", "stopping");
                let all: Vec<i32> = former
                    .iter()
                    .chain([&current])
                    .map(|w| w.child.id() as i32)
                    .collect();
                signals::send_all(&all, libc::SIGTERM);
                return Ok(0);
            }
            MasterSignal::SoftStop => {
                systemd.tell(
                    "STOPPING=1\n",
                    "soft-stopping: the workers finish their connections",
                );
                return Ok(soft_stop(&sockets, current, former));
            }
        }
    }
}

/// Reads the configuration again and starts a worker on it. The sockets
/// come back whatever happens: the new set on success, the old on failure.
fn reload(
    opts: &MasterOpts,
    exe: &Path,
    sockets: Sockets,
    generation: u32,
) -> (Sockets, Result<Worker, String>) {
    let loaded = match config::load_files(&opts.files) {
        Ok(l) => l,
        Err(e) => return (sockets, Err(e.errors.join("; "))),
    };
    for w in &loaded.warnings {
        eprintln!("[WARNING] {}: {}", w.origin, w.message);
    }
    // Keep duplicates of the old sockets, so a failed bind loses none.
    let backup: Sockets = sockets
        .iter()
        .filter_map(|(k, fd)| fd.try_clone().ok().map(|fd| (k.clone(), fd)))
        .collect();
    let new = match bind(&loaded.config, sockets) {
        Ok(s) => s,
        Err(e) => return (backup, Err(e.to_string())),
    };
    match start_worker(opts, exe, &new, generation) {
        Ok(w) => (new, Ok(w)),
        Err(e) => (backup, Err(e.to_string())),
    }
}

/// Starts a worker on `sockets` and waits until it serves.
fn start_worker(
    opts: &MasterOpts,
    exe: &Path,
    sockets: &Sockets,
    relative: u32,
) -> Result<Worker, MasterError> {
    // Removed since the master started (package purged): the master's own image.
    let exe = if exe.exists() {
        exe
    } else {
        Path::new("/proc/self/exe")
    };
    let (ready_r, ready_w) = pipe().map_err(MasterError::Worker)?;
    let inherit: Vec<RawFd> = sockets
        .values()
        .map(AsRawFd::as_raw_fd)
        .chain([ready_w.as_raw_fd()])
        .collect();
    let mut cmd = Command::new(exe);
    for f in &opts.files {
        cmd.arg("-f").arg(f);
    }
    cmd.arg("-db")
        .args(&opts.worker_args)
        // systemd hears from the master only (NotifyAccess=main).
        .env_remove(sd_notify::ENV_NOTIFY_SOCKET)
        .env(ENV_WORKER, std::process::id().to_string())
        .env(ENV_READY_FD, ready_w.as_raw_fd().to_string())
        .env(
            ENV_LISTENERS,
            handover::encode(sockets.iter().map(|(k, fd)| (k, fd.as_raw_fd()))),
        );
    // SAFETY: runs in the child between fork and exec, calling only fcntl
    // and prctl, which are async-signal-safe; it touches no memory of the
    // parent's.
    unsafe {
        cmd.pre_exec(move || {
            // A worker whose master died soft-stops instead of serving on
            // unsupervised.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGUSR1);
            for &fd in &inherit {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(MasterError::Worker)?;
    drop(ready_w);
    match wait_ready(ready_r, &mut child) {
        Ok(()) => Ok(Worker {
            child,
            relative,
            started: std::time::SystemTime::now(),
        }),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(MasterError::Worker(e))
        }
    }
}

/// Waits for the worker's ready byte, at most [`READY_WAIT`].
fn wait_ready(ready: OwnedFd, child: &mut Child) -> io::Result<()> {
    let deadline = Instant::now() + READY_WAIT;
    let mut pfd = libc::pollfd {
        fd: ready.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    while Instant::now() < deadline {
        // SAFETY: one valid pollfd, alive for the call.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n > 0 {
            let mut f = std::fs::File::from(ready);
            let mut b = [0u8; 1];
            return match f.read(&mut b) {
                Ok(1) => Ok(()),
                _ => Err(io::Error::other(format!(
                    "the worker exited before serving ({})",
                    exit_text(child.wait().ok())
                ))),
            };
        }
    }
    Err(io::Error::other("the worker did not get ready within 10 s"))
}

fn exit_text(st: Option<std::process::ExitStatus>) -> String {
    st.map_or_else(|| "unknown status".into(), |s| s.to_string())
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reaps exited workers; `Some(status)` when the current one died, which
/// ends the master as HAProxy's does.
fn reap(current: &mut Worker, former: &mut Vec<Worker>) -> Option<i32> {
    former.retain_mut(|w| match w.child.try_wait() {
        Ok(Some(st)) => {
            eprintln!(
                "[NOTICE] master: former worker #{} (pid {}) exited with {st}",
                w.relative,
                w.child.id()
            );
            false
        }
        _ => true,
    });
    match current.child.try_wait() {
        Ok(Some(st)) => {
            eprintln!(
                "[ALERT] master: current worker #{} (pid {}) exited with {st}: exiting",
                current.relative,
                current.child.id()
            );
            Some(st.code().unwrap_or(1))
        }
        _ => None,
    }
}

/// SIGUSR1 to the master: the listeners refuse new connections, every worker
/// soft-stops, and the master exits after the last one.
fn soft_stop(sockets: &Sockets, current: Worker, former: Vec<Worker>) -> i32 {
    for fd in sockets.values() {
        let _ = listen::refuse_new_connections(fd.as_raw_fd());
    }
    let mut all: Vec<Worker> = former;
    all.push(current);
    let pids: Vec<i32> = all.iter().map(|w| w.child.id() as i32).collect();
    signals::send_all(&pids, libc::SIGUSR1);
    for mut w in all {
        let _ = w.child.wait();
    }
    0
}

/// In a worker: tells the master it serves (no-op when not under one).
pub fn notify_ready() {
    let Some(fd) = std::env::var(ENV_READY_FD)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
    else {
        return;
    };
    // SAFETY: the master passed this pipe's write end for this one write.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let _ = std::io::Write::write_all(&mut f, b"R");
}

/// In a worker: whether it runs under a master.
pub fn under_master() -> bool {
    std::env::var_os(ENV_WORKER).is_some()
}
