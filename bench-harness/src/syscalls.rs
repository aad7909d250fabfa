//! System calls a proxy's processes make during a wrk run, counted by `perf
//! stat -e raw_syscalls:sys_enter -x,` attached (`-p`) to every pid of the
//! proxy's process group.
//!
//! The count comes from one extra run after the measured ones: with perf
//! attached each syscall of the counted processes costs ~0.1 µs more, which
//! put 4-9 % on HAProxy's CPU µs/req when counted during measured runs.
//!
//! perf needs ~50 ms to attach, so `perf stat -p ... -- sleep <secs>` started
//! beside wrk misses the start of the load (tried: a 0.05 s burst of 200,000
//! syscalls counted as 114). Instead perf starts with its counters disabled
//! (`-D -1`), is enabled through its control FIFO and acknowledges before wrk
//! starts, and is stopped with SIGINT after wrk ends; the few syscalls of the
//! idle proxy around the load are counted too.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::procs::Proc;
use crate::sys;

/// The tracepoint hit on every system call entry.
pub const EVENT: &str = "raw_syscalls:sys_enter";

/// How long perf may take to attach and acknowledge `enable`.
const ACK_LIMIT: Duration = Duration::from_secs(10);

/// Header line explaining the syscalls/req column (`perf`: the probe's outcome).
pub fn note(perf: &Result<PathBuf, String>) -> String {
    match perf {
        Ok(_) => format!(
            "syscalls/req: system calls made by the proxy's whole process group (nginx: \
             master + workers) during one more wrk run with the same load after the \
             measured ones (`perf stat -e {EVENT}` attached to every pid, counting from \
             before wrk starts until it ends) / requests that run completed; that run's \
             req/s and CPU are not reported, as perf slows each counted syscall. An \
             `io_uring_enter` counts once however many operations it submits or reaps: \
             this counts kernel entries, not kernel work (that is in proxy CPU). The \
             direct row shows \"-\""
        ),
        Err(why) => format!("syscalls/req: not measured (–): {why}"),
    }
}

/// Finds perf and checks that it can count [`EVENT`] on an attached process
/// (the harness itself), with the control FIFO this module uses.
pub fn probe(dir: &Path) -> Result<PathBuf, String> {
    let perf = sys::find_program(None, &["perf"]).ok_or("perf not found (linux-perf)")?;
    let counted = Counter::start(&perf, &[std::process::id() as i32], None, dir, "probe")
        .and_then(Counter::finish);
    match counted {
        Ok(_) => Ok(perf),
        // The usual cause: unprivileged and kernel.perf_event_paranoid > -1.
        Err(why) => Err(
            match std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid") {
                Ok(p) => format!("{why} (kernel.perf_event_paranoid = {})", p.trim()),
                Err(_) => why,
            },
        ),
    }
}

/// perf attached to a set of processes, counting.
pub struct Counter {
    perf: Proc,
    csv: PathBuf,
    fifos: [PathBuf; 2],
}

impl Counter {
    /// Attaches perf (pinned to `cpus` if given) to `pids` and returns once it
    /// counts; `tag` names its files in `dir`.
    pub fn start(
        perf: &Path,
        pids: &[i32],
        cpus: Option<&str>,
        dir: &Path,
        tag: &str,
    ) -> Result<Counter, String> {
        if pids.is_empty() {
            return Err("no process to count".into());
        }
        let csv = dir.join(format!("perf-{tag}.csv"));
        let fifos = [
            dir.join(format!("perf-{tag}.ctl")),
            dir.join(format!("perf-{tag}.ack")),
        ];
        let (mut ctl, ack) = (fifo(&fifos[0])?, fifo(&fifos[1])?);
        let pid_list = pids
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut cmd = match cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(perf);
                c
            }
            None => Command::new(perf),
        };
        cmd.env("LC_ALL", "C")
            .args(["stat", "-e", EVENT, "-x,", "-D", "-1", "--control"])
            .arg(format!(
                "fifo:{},{}",
                fifos[0].to_string_lossy(),
                fifos[1].to_string_lossy()
            ))
            .arg("-o")
            .arg(&csv)
            .arg("-p")
            .arg(pid_list);
        let log = dir.join(format!("perf-{tag}.log"));
        let mut proc = Proc::spawn("perf", &mut cmd, &log).map_err(|e| format!("{e:#}"))?;
        // Both FIFOs are open read-write here, so this never blocks and perf
        // reads the command once it has attached.
        ctl.write_all(b"enable\n")
            .map_err(|e| format!("writing perf's control FIFO: {e}"))?;
        wait_ack(&ack, &mut proc)?;
        Ok(Counter {
            perf: proc,
            csv,
            fifos,
        })
    }

    /// Stops perf (SIGINT makes it print its counts) and returns the count.
    pub fn finish(mut self) -> Result<u64, String> {
        self.perf.signal(libc::SIGINT);
        let status = self
            .perf
            .wait_for(Duration::from_secs(5))
            .map_err(|e| format!("{e:#}"))?;
        let text = std::fs::read_to_string(&self.csv).unwrap_or_default();
        parse_csv(&text)
            .map_err(|why| format!("{why} (perf {status}: {})", self.perf.output_tail(2)))
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        for f in &self.fifos {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Creates the FIFO `path` and opens it read-write and non-blocking (a FIFO
/// opened so has both ends and never blocks, whatever perf does).
fn fifo(path: &Path) -> Result<File, String> {
    let _ = std::fs::remove_file(path);
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: c is a NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(format!(
            "mkfifo {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))
}

/// Waits until perf writes "ack" on `ack` (it has enabled its counters), or
/// fails if perf exits or takes longer than [`ACK_LIMIT`].
fn wait_ack(mut ack: &File, perf: &mut Proc) -> Result<(), String> {
    let start = Instant::now();
    let mut got = Vec::new();
    loop {
        let mut pfd = libc::pollfd {
            fd: ack.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for an fd `ack` keeps open.
        if unsafe { libc::poll(&mut pfd, 1, 50) } > 0 {
            let mut buf = [0u8; 64];
            if let Ok(n) = ack.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            if got.windows(3).any(|w| w == b"ack") {
                return Ok(());
            }
        }
        if let Some(status) = perf.exited() {
            return Err(format!("perf stat {status}: {}", perf.output_tail(2)));
        }
        if start.elapsed() > ACK_LIMIT {
            return Err(format!("perf did not start counting within {ACK_LIMIT:?}"));
        }
    }
}

/// The [`EVENT`] count in `perf stat -x,` output ("value,unit,event,...");
/// "<not counted>" (enabled, but no target ran) is 0.
pub fn parse_csv(text: &str) -> Result<u64, String> {
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 3 || fields[2] != EVENT {
            continue;
        }
        return match fields[0] {
            "<not counted>" => Ok(0),
            v => v
                .parse()
                .map_err(|_| format!("perf could not count {EVENT}: {v}")),
        };
    }
    Err(format!("no {EVENT} line in perf's output"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_perf_csv() {
        let out = "# started on Wed Nov 25 04:04:30 2026\n\n\
                   200321,,raw_syscalls:sys_enter,57588353,100.00,,\n";
        assert_eq!(parse_csv(out), Ok(200_321));
        // stderr noise mixed in, and a count with a unit field.
        let out = "Events disabled\nEvents enabled\n42,,raw_syscalls:sys_enter,1,100.00,,\n";
        assert_eq!(parse_csv(out), Ok(42));
        let idle = "<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n";
        assert_eq!(parse_csv(idle), Ok(0));
        let unsupported = "<not supported>,,raw_syscalls:sys_enter,0,100.00,,\n";
        assert!(
            parse_csv(unsupported)
                .unwrap_err()
                .contains("not supported")
        );
        let other = "12,,cycles,1,100.00,,\n";
        assert!(parse_csv(other).is_err());
        assert!(parse_csv("").is_err());
        assert!(note(&Err("perf not found".into())).contains("not measured (–): perf not found"));
    }

    #[test]
    fn counts_own_syscalls_when_perf_works() {
        let dir = tempfile::tempdir().unwrap();
        let Ok(perf) = probe(dir.path()) else {
            // No perf, or not permitted here: the column then shows "–".
            return;
        };
        let me = [std::process::id() as i32];
        let counter = Counter::start(&perf, &me, None, dir.path(), "t").unwrap();
        for _ in 0..2000 {
            // SAFETY: getppid has no preconditions.
            std::hint::black_box(unsafe { libc::getppid() });
        }
        let n = counter.finish().unwrap();
        assert!(n >= 2000, "{n}");
    }
}
