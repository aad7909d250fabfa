//! The open-file limit (RLIMIT_NOFILE) and the maxconn it allows.
//!
//! Each proxied connection holds a client fd and a server fd, plus one fd per
//! listener and a margin for logs, checks and the like: HAProxy's `maxsock`.

use super::ProcessError;
use std::io;

/// Fds kept aside for logs, health checks, pidfile, stats and the runtime.
const RESERVED_FDS: u64 = 32;

/// What [`raise_nofile`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileOutcome {
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit now in force.
    pub hard: u64,
    /// True when `wanted` exceeded what the system allows and soft was set to hard.
    pub refused: bool,
}

/// Fds needed for `maxconn` proxied connections and `listeners` listening sockets.
pub fn fds_needed(maxconn: u64, listeners: u64) -> u64 {
    maxconn
        .saturating_mul(2)
        .saturating_add(listeners)
        .saturating_add(RESERVED_FDS)
}

/// The largest maxconn whose [`fds_needed`] fits in `fds`.
pub fn maxconn_for_fds(fds: u64, listeners: u64) -> u64 {
    fds.saturating_sub(listeners.saturating_add(RESERVED_FDS)) / 2
}

/// Raises the soft open-file limit to `wanted` (never lowers it); above the hard
/// limit, tries to raise hard too (root only), else sets soft = hard and
/// reports `refused`.
pub fn raise_nofile(wanted: u64) -> Result<NofileOutcome, ProcessError> {
    let (soft, hard) = get()?;
    if wanted <= soft {
        return Ok(NofileOutcome {
            soft,
            hard,
            refused: false,
        });
    }
    if wanted <= hard {
        set(wanted, hard)?;
        return Ok(NofileOutcome {
            soft: wanted,
            hard,
            refused: false,
        });
    }
    // Beyond the hard limit: only a privileged process may raise it, and the
    // kernel caps it at fs.nr_open anyway. EPERM is the expected refusal.
    match set(wanted, wanted) {
        Ok(()) => Ok(NofileOutcome {
            soft: wanted,
            hard: wanted,
            refused: false,
        }),
        Err(ProcessError::SetRlimit { source, .. })
            if source.raw_os_error() == Some(libc::EPERM) =>
        {
            if soft < hard {
                set(hard, hard)?;
            }
            Ok(NofileOutcome {
                soft: hard,
                hard,
                refused: true,
            })
        }
        Err(e) => Err(e),
    }
}

/// `ulimit-n`: sets the soft limit to exactly `n`, lowering it if need be;
/// above the hard limit it behaves as [`raise_nofile`].
pub fn set_nofile(n: u64) -> Result<NofileOutcome, ProcessError> {
    let (soft, hard) = get()?;
    if n >= soft {
        return raise_nofile(n);
    }
    set(n, hard)?;
    Ok(NofileOutcome {
        soft: n,
        hard,
        refused: false,
    })
}

/// Current (soft, hard) RLIMIT_NOFILE.
fn get() -> Result<(u64, u64), ProcessError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid, writable rlimit that outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(ProcessError::GetRlimit(io::Error::last_os_error()));
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// Sets RLIMIT_NOFILE to (soft, hard).
fn set(soft: u64, hard: u64) -> Result<(), ProcessError> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid, initialised rlimit that setrlimit only reads.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(ProcessError::SetRlimit {
            soft,
            hard,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fds_arithmetic() {
        assert_eq!(fds_needed(4096, 1), 4096 * 2 + 1 + 32);
        assert_eq!(fds_needed(0, 0), 32);
        assert_eq!(fds_needed(u64::MAX, 1), u64::MAX);
        assert_eq!(maxconn_for_fds(fds_needed(4096, 3), 3), 4096);
        assert_eq!(maxconn_for_fds(20_000, 1), (20_000 - 33) / 2);
        assert_eq!(maxconn_for_fds(10, 1), 0);
        for maxconn in [1, 7, 1000, 8000] {
            assert!(fds_needed(maxconn_for_fds(20_000, 2), 2) <= 20_000);
            assert_eq!(maxconn_for_fds(fds_needed(maxconn, 2), 2), maxconn);
        }
    }

    // One test only: the limit is process-wide and tests run in parallel.
    #[test]
    fn raise_lower_and_refuse() {
        let (soft0, hard0) = get().expect("getrlimit");

        // Never lowers.
        let out = raise_nofile(1).expect("no-op");
        assert_eq!((out.soft, out.hard, out.refused), (soft0, hard0, false));

        // Lower the soft limit (always allowed), then raise it back. 256 keeps
        // room for the fds the other tests open meanwhile.
        let low = soft0.min(256);
        set(low, hard0).expect("lower soft");
        let out = raise_nofile(soft0).expect("raise back");
        assert_eq!((out.soft, out.hard, out.refused), (soft0, hard0, false));
        assert_eq!(get().expect("getrlimit"), (soft0, hard0));

        // Beyond the hard limit: either refused (soft = hard) or, when
        // privileged, granted; lowering back is always allowed.
        if hard0 < 1 << 20 {
            let out = raise_nofile(hard0 + 1000).expect("raise beyond hard");
            if out.refused {
                assert_eq!((out.soft, out.hard), (hard0, hard0));
            } else {
                assert_eq!((out.soft, out.hard), (hard0 + 1000, hard0 + 1000));
            }
            set(soft0, hard0).expect("restore");
        }
        assert_eq!(get().expect("getrlimit"), (soft0, hard0));
    }
}
