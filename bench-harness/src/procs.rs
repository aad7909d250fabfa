//! Child processes that never outlive the harness.
//!
//! Every child runs in its own process group (so nginx's workers are stopped
//! with their master), gets SIGTERM if the harness dies (PR_SET_PDEATHSIG), is
//! stopped by `Drop` (normal exit and panics) and by the Ctrl-C/SIGTERM handler
//! through a registry of live process groups.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Process groups of the children alive now, for the signal handler.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// A directory the interrupt handler removes (exit skips the TempDir's Drop).
static SCRATCH: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Has the interrupt handler remove `dir` too (`None`: keep it).
pub fn remove_on_interrupt(dir: Option<PathBuf>) {
    if let Ok(mut s) = SCRATCH.lock() {
        *s = dir;
    }
}

/// Installs the Ctrl-C/SIGTERM handler that stops every child and exits 130.
pub fn install_interrupt_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        eprintln!("\ninterrupted: stopping children");
        let groups: Vec<i32> = LIVE.lock().map(|g| g.clone()).unwrap_or_default();
        signal_groups(&groups, libc::SIGTERM);
        std::thread::sleep(Duration::from_millis(500));
        signal_groups(&groups, libc::SIGKILL);
        if let Some(dir) = SCRATCH.lock().ok().and_then(|s| s.clone()) {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(130);
    })
    .context("installing the Ctrl-C handler")
}

/// Sends `sig` to each process group.
fn signal_groups(groups: &[i32], sig: i32) {
    for &pgid in groups {
        // SAFETY: killpg takes plain integers; pgid is a group this harness
        // created (its leader is our child) and is still registered as live.
        unsafe { libc::killpg(pgid, sig) };
    }
}

/// A running child process, stopped (with its whole group) when dropped.
pub struct Proc {
    /// Short name for messages ("haproxy", "wrk"...).
    pub name: String,
    child: Child,
    log: PathBuf,
    done: Option<ExitStatus>,
    stdin: Option<ChildStdin>,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc> {
        Self::spawn_inner(name, cmd, log, false)
    }

    /// Like [`Proc::spawn`], with a pipe on stdin for [`Proc::send_line`];
    /// the pipe closes (EOF for the child) when the `Proc` is dropped.
    pub fn spawn_with_stdin(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc> {
        Self::spawn_inner(name, cmd, log, true)
    }

    fn spawn_inner(name: &str, cmd: &mut Command, log: &Path, piped: bool) -> Result<Proc> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file")?;
        let parent = std::process::id();
        cmd.stdin(if piped { Stdio::piped() } else { Stdio::null() })
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only
        // makes async-signal-safe calls (prctl, getppid, raise) without
        // allocating or taking locks.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                // The harness may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    libc::raise(libc::SIGTERM);
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        let stdin = child.stdin.take();
        if let Ok(mut live) = LIVE.lock() {
            live.push(child.id() as i32);
        }
        Ok(Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            done: None,
            stdin,
        })
    }

    /// Writes `line` and a newline to the child's stdin (see
    /// [`Proc::spawn_with_stdin`]).
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            bail!("{} has no stdin pipe", self.name);
        };
        writeln!(stdin, "{line}").with_context(|| format!("writing to {}", self.name))?;
        stdin.flush()?;
        Ok(())
    }

    /// The child's pid, which is also its process group.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.done.is_none() {
            self.done = self.child.try_wait().ok().flatten();
        }
        self.done
    }

    /// The exit status seen by the last [`Proc::exited`] (no new check).
    pub fn done_yet(&self) -> Option<ExitStatus> {
        self.done
    }

    /// Sends `sig` to the process alone (not its group), if it still runs.
    pub fn signal(&mut self, sig: i32) {
        if self.exited().is_none() {
            // SAFETY: kill takes plain integers; the child is not reaped yet
            // (exited() said so), so its pid cannot have been reused.
            unsafe { libc::kill(self.pid(), sig) };
        }
    }

    /// Waits for the process to end on its own, at most `limit`.
    pub fn wait_for(&mut self, limit: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            if start.elapsed() > limit {
                bail!("{} still running after {:?}", self.name, limit);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` non-empty lines of its output, joined with " / ".
    pub fn output_tail(&self, n: usize) -> String {
        let text = self.output();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            return "(no output)".into();
        }
        lines[lines.len().saturating_sub(n)..].join(" / ")
    }

    /// Stops the group: SIGTERM, up to 5 s grace, then SIGKILL.
    fn stop(&mut self) {
        // EOF first: a child waiting on stdin may then end on its own.
        drop(self.stdin.take());
        let pgid = self.child.id() as i32;
        if self.exited().is_none() {
            signal_groups(&[pgid], libc::SIGTERM);
            if self.wait_for(Duration::from_secs(5)).is_err() {
                signal_groups(&[pgid], libc::SIGKILL);
                let _ = self.child.wait();
            }
        }
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|&g| g != pgid);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}
