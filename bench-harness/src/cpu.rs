//! CPU time a proxy spends on a run: utime + stime of every process in its
//! group (nginx's master and workers), read from /proc before and after.
//!
//! On a box where the proxy's core is not saturated, req/s says little about
//! efficiency; CPU time per request does.

use std::time::Instant;

use crate::sys::parse_stat_pgrp;

/// utime + stime (fields 14 and 15, in clock ticks) of a /proc/<pid>/stat text.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses: count fields after
    // the last ')', where field 3 (state) is the first.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Total utime + stime ticks of the processes in group `pgid` (0 if none).
pub fn group_ticks(pgid: i32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        // Processes may end between listing and reading: skip those.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if parse_stat_pgrp(&stat) == Some(pgid) {
            total += parse_stat_ticks(&stat).unwrap_or(0);
        }
    }
    total
}

/// A reading taken before a run, to compare with the group's time after it.
pub struct CpuMark {
    pgid: i32,
    ticks: u64,
    at: Instant,
}

/// The proxy's CPU use over one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// CPU seconds (user + system) the group used.
    pub cpu_secs: f64,
    /// Wall seconds between the two readings.
    pub wall_secs: f64,
}

impl CpuUse {
    /// Microseconds of CPU per request (`None` without requests).
    pub fn us_per_req(&self, requests: u64) -> Option<f64> {
        (requests > 0).then(|| self.cpu_secs * 1e6 / requests as f64)
    }

    /// Busy share of the wall time in percent (100 = one core busy).
    pub fn percent(&self) -> f64 {
        if self.wall_secs > 0.0 {
            100.0 * self.cpu_secs / self.wall_secs
        } else {
            0.0
        }
    }
}

impl CpuMark {
    /// Reads group `pgid`'s CPU time now.
    pub fn start(pgid: i32) -> CpuMark {
        CpuMark {
            pgid,
            ticks: group_ticks(pgid),
            at: Instant::now(),
        }
    }

    /// CPU and wall time since [`CpuMark::start`].
    pub fn finish(&self) -> CpuUse {
        let ticks = group_ticks(self.pgid).saturating_sub(self.ticks);
        CpuUse {
            cpu_secs: ticks as f64 / clock_ticks(),
            wall_secs: self.at.elapsed().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields() {
        // Fields 14/15 are utime/stime; the name holds ") (" on purpose.
        let stat = "77 (a) (b) S 1 77 77 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat_ticks(stat), Some(300));
        assert_eq!(parse_stat_ticks("77 (x) S 1"), None);
        assert!(clock_ticks() >= 1.0);
    }

    #[test]
    fn own_group_uses_cpu() {
        // SAFETY: getpgrp has no preconditions.
        let me = unsafe { libc::getpgrp() };
        let mark = CpuMark::start(me);
        let start = Instant::now();
        let mut x = 0u64;
        // Spin past a few clock ticks so the group's counters move.
        while start.elapsed().as_millis() < 60 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let used = mark.finish();
        assert!(used.cpu_secs > 0.0, "{used:?}");
        assert!(used.percent() > 0.0);
        assert_eq!(used.us_per_req(0), None);
        assert!(used.us_per_req(10).unwrap() > 0.0);
    }
}
