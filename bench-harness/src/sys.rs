//! Facts about the machine and small system helpers: CPU lists, free ports,
//! waiting for a port, a smoke request, versions, dates.

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::procs::Proc;

/// Expands a taskset-style CPU list ("0-3,6") into CPU numbers.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
            None => (part.parse::<usize>(), part.parse::<usize>()),
        };
        let (lo, hi) = (lo?, hi?);
        if lo > hi || hi > 4095 {
            bail!("bad CPU range '{part}' in '{list}'");
        }
        cpus.extend(lo..=hi);
    }
    if cpus.is_empty() {
        bail!("empty CPU list '{list}'");
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// A port free right now on 127.0.0.1 (bound to :0, then released).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Waits until 127.0.0.1:`port` accepts, failing early if `proc` exits.
pub fn wait_for_port(port: u16, proc: &mut Proc, limit: Duration) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    loop {
        if let Some(status) = proc.exited() {
            bail!("{} exited ({status}): {}", proc.name, proc.output_tail(3));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!(
                "{} did not accept on port {port} within {limit:?}: {}",
                proc.name,
                proc.output_tail(3)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends one `GET /` and returns the status line, failing unless it is a 200.
pub fn smoke_request(port: u16) -> Result<String> {
    smoke_request_path(port, "/")
}

/// Sends one `GET <path>` and returns the status line, failing unless it is a 200.
pub fn smoke_request_path(port: u16, path: &str) -> Result<String> {
    let head = smoke_request_head(port, path, &[])?;
    Ok(head.lines().next().unwrap_or("").trim().to_string())
}

/// Sends one `GET <path>` with `headers` ("Name: value"; a Host among them
/// replaces `Host: bench`) and returns the response head, failing unless
/// the status is 200.
pub fn smoke_request_head(port: u16, path: &str, headers: &[&str]) -> Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let has_host = headers.iter().any(|h| {
        h.split(':')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case("host"))
    });
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    if !has_host {
        req.push_str("Host: bench\r\n");
    }
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    // A reset after a complete answer is fine: keep what arrived.
    let _ = s.take(64 * 1024).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let status = text.lines().next().unwrap_or("").trim().to_string();
    if status.is_empty() {
        bail!("smoke request: connection closed without a response");
    }
    if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
        bail!("smoke request answered '{status}'");
    }
    let end = text.find("\r\n\r\n").unwrap_or(text.len());
    Ok(text[..end].to_string())
}

/// Finds a program: an explicit path, else the first existing candidate, else
/// a PATH lookup. `None` when nowhere to be found.
pub fn find_program(explicit: Option<&Path>, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return p.is_file().then(|| p.to_path_buf());
    }
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() {
            if p.is_file() {
                return Some(p.to_path_buf());
            }
            continue;
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            let full = dir.join(p);
            if full.is_file() {
                return Some(full);
            }
        }
    }
    None
}

/// First non-empty line a command prints (stdout then stderr), if it runs.
pub fn first_line_of(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// `VmRSS` of a /proc/<pid>/status text, in bytes.
pub fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let kb: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(kb * 1024),
        _ => None,
    }
}

/// The process group (5th field) of a /proc/<pid>/stat text.
pub fn parse_stat_pgrp(stat: &str) -> Option<i32> {
    // "pid (comm with spaces) state ppid pgrp ..."
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The pids of every process in group `pgid` (nginx: master and workers).
pub fn group_pids(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // Processes may end between listing and reading: skip those.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| parse_stat_pgrp(&stat) == Some(pgid))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// State (3rd field) and parent pid (4th) of a /proc/<pid>/stat text.
pub fn parse_stat_state_ppid(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    Some((state, f.next()?.parse().ok()?))
}

/// The pids of `parent`'s children that still run (zombies left out: a
/// worker that has exited but is not reaped yet counts as gone).
pub fn live_children(parent: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                matches!(parse_stat_state_ppid(&stat), Some((st, pp)) if pp == parent && st != 'Z' && st != 'X')
            })
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether a /proc/<pid>/status text says `sig` would be acted on, not
/// lost: not ignored, and caught by a handler or blocked (pending for a
/// `sigwait`). A process that has just exec'd has neither until it sets up.
pub fn parse_takes_signal(status: &str, sig: i32) -> bool {
    let mask = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let bit = 1u64 << (sig - 1);
    mask("SigIgn:") & bit == 0 && (mask("SigCgt:") | mask("SigBlk:")) & bit != 0
}

/// [`parse_takes_signal`] for a running process; or one waiting in
/// `sigwait` (ringlb's master), whose waited signals the kernel takes out of
/// the blocked set shown in /proc while it waits.
pub fn takes_signal(pid: i32, sig: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|s| parse_takes_signal(&s, sig))
        || std::fs::read_to_string(format!("/proc/{pid}/wchan"))
            .is_ok_and(|w| w.contains("sigtimedwait"))
}

/// Total RSS in bytes of every process in group `pgid`, and how many there are.
pub fn group_rss(pgid: i32) -> Result<(u64, usize)> {
    let mut total = 0;
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        // Processes may end between listing and reading: skip those.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if parse_stat_pgrp(&stat) != Some(pgid) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        if let Some(rss) = parse_vmrss(&status) {
            total += rss;
            count += 1;
        }
    }
    if count == 0 {
        bail!("no process with VmRSS in group {pgid}");
    }
    Ok((total, count))
}

/// The hard open-file limit (children inherit it).
pub fn hard_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_max
}

/// Raises the soft open-file limit to the hard one; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// The CPU model from /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// CPUs this process may run on (what `nproc` prints).
pub fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The 1-minute load average from /proc/loadavg.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The kernel release (`uname -r`).
pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// The repository root: the nearest ancestor of the current directory with
/// `bench-harness/Cargo.toml`, else the current directory.
pub fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|d| d.join("bench-harness/Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or(cwd)
}

/// UTC now as ("YYYY-MM-DD", "HH:MM").
pub fn utc_now() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}", rem / 3600, rem % 3600 / 60),
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_masks() {
        let st = |ign: &str, blk: &str, cgt: &str| {
            format!("Name:\tx\nSigBlk:\t{blk}\nSigIgn:\t{ign}\nSigCgt:\t{cgt}\n")
        };
        // SIGUSR2 is 12: bit 11, 0x800.
        let usr2 = libc::SIGUSR2;
        assert!(parse_takes_signal(&st("0", "0", "800"), usr2));
        assert!(parse_takes_signal(&st("0", "800", "0"), usr2));
        assert!(!parse_takes_signal(&st("0", "0", "0"), usr2));
        assert!(!parse_takes_signal(&st("800", "0", "800"), usr2));
        assert!(parse_takes_signal(&st("0", "0", "1"), libc::SIGHUP));
    }

    #[test]
    fn stat_state_and_parent() {
        let stat = "42 (a (b) c) Z 7 42 42 0 -1";
        assert_eq!(parse_stat_state_ppid(stat), Some(('Z', 7)));
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(live_children(me).contains(&(child.id() as i32)));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!live_children(me).contains(&(child.id() as i32)));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("0-3,6").unwrap(), vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list("4-9").unwrap().len(), 6);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn proc_files() {
        let status = "Name:\thaproxy\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads: 1\n";
        assert_eq!(parse_vmrss(status), Some(1234 * 1024));
        assert_eq!(parse_vmrss("Name: x\n"), None);
        let stat = "4242 (nginx: worker) S 4200 4200 4200 0 -1 4194624 0";
        assert_eq!(parse_stat_pgrp(stat), Some(4200));
        assert_eq!(parse_stat_pgrp("garbage"), None);
        // Our own group has at least this process.
        // SAFETY: getpgrp has no preconditions.
        let me = unsafe { libc::getpgrp() };
        let (rss, n) = group_rss(me).unwrap();
        assert!(rss > 0 && n >= 1);
        assert!(group_pids(me).contains(&(std::process::id() as i32)));
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
