//! Process-wide facts the stats page and `show info` print: start time,
//! effective `maxconn`, node name.
//!
//! They are known only in `main` (maxconn after the open-file limit is
//! applied), so `admin::bind` records them once at start; readers that come
//! before (unit tests) get sensible fallbacks.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What `main` knows about the process once it is configured.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    /// When the process started serving (for uptime).
    pub started: Instant,
    /// The same moment as Unix seconds (`Start_time_sec`).
    pub started_unix: u64,
    /// The effective global `maxconn`.
    pub maxconn: usize,
    /// `global node`, or the host name.
    pub node: String,
}

static INFO: OnceLock<ProcessInfo> = OnceLock::new();

/// Records the process facts; the first call wins (later ones are ignored).
pub fn init(maxconn: usize, node: Option<&str>) {
    let _ = INFO.set(ProcessInfo {
        started: Instant::now(),
        started_unix: unix_now(),
        maxconn,
        node: node.map_or_else(hostname, str::to_string),
    });
}

/// The recorded facts, or fallbacks (now, no maxconn, the host name) when
/// [`init`] was not called.
pub fn get() -> &'static ProcessInfo {
    INFO.get_or_init(|| ProcessInfo {
        started: Instant::now(),
        started_unix: unix_now(),
        maxconn: 0,
        node: hostname(),
    })
}

/// Seconds since the process started.
pub fn uptime_secs() -> u64 {
    get().started.elapsed().as_secs()
}

/// Now as Unix seconds (0 if the clock is before the epoch).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The system's host name (`localhost` when it cannot be read).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for writes of its whole length, which is
    // what we pass; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(s) if !s.is_empty() => s.to_string(),
        _ => "localhost".into(),
    }
}

/// HAProxy's uptime form: `0d 0h08m16s`.
pub fn uptime_text(secs: u64) -> String {
    format!(
        "{}d {}h{:02}m{:02}s",
        secs / 86400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// HAProxy's short duration form on the stats page: `12s`, `5m3s`, `2h10m`, `3d4h`.
pub fn human_time(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, (s / 60) % 60),
        s => format!("{}d{}h", s / 86400, (s / 3600) % 24),
    }
}

/// The soft open-file limit (`Ulimit-n`), if it can be read.
pub fn nofile() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the call's duration.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_haproxy() {
        assert_eq!(uptime_text(496), "0d 0h08m16s");
        assert_eq!(uptime_text(90061), "1d 1h01m01s");
        assert_eq!(human_time(0), "0s");
        assert_eq!(human_time(303), "5m3s");
        assert_eq!(human_time(7800), "2h10m");
        assert_eq!(human_time(3 * 86400 + 4 * 3600 + 5), "3d4h");
    }

    #[test]
    fn host_name_is_never_empty() {
        assert!(!hostname().is_empty());
    }
}
