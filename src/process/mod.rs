//! Process-level plumbing for a Unix daemon: detaching, pidfile, dropping
//! privileges, the open-file limit, signal handling, the master-worker mode
//! and systemd's readiness protocol (`-Ws`). Linux only, via `libc`.
//!
//! Each submodule is a handful of plain functions called once, in order, by
//! `main` before the workers start; all failures come back as [`ProcessError`].

pub mod daemon;
pub mod limits;
pub mod master;
pub mod master_cli;
pub mod pidfile;
pub mod privileges;
pub mod sd_notify;
pub mod signals;

use std::io;
use std::path::PathBuf;

/// A failed process-level system call, with what was being attempted.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// `daemonize` was called after other threads were started.
    #[error(
        "cannot daemonize: process already runs {0} threads (fork must happen before any thread is spawned)"
    )]
    Threaded(usize),
    /// `fork()` failed.
    #[error("cannot daemonize: fork failed: {0}")]
    Fork(#[source] io::Error),
    /// `setsid()` failed in the child.
    #[error("cannot daemonize: setsid failed: {0}")]
    Setsid(#[source] io::Error),
    /// Opening or duplicating /dev/null onto the standard streams failed.
    #[error("cannot daemonize: redirecting {what} to /dev/null failed: {source}")]
    DevNull {
        /// Which step: "open" or the stream name.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Writing the pidfile failed.
    #[error("cannot write pidfile '{}': {source}", path.display())]
    Pidfile {
        /// The pidfile path from the configuration.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `setgroups()` failed.
    #[error("cannot drop privileges: setgroups([{gid}]) failed: {source}")]
    Setgroups {
        /// The only group kept.
        gid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `setgid()` failed.
    #[error("cannot drop privileges: setgid({gid}) failed: {source}")]
    Setgid {
        /// The configured gid.
        gid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `chroot()` (or the `chdir("/")` after it) failed.
    #[error("[haproxy.main()] Cannot chroot({})", path.display())]
    Chroot {
        /// The configured directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `setuid()` failed.
    #[error("cannot drop privileges: setuid({uid}) failed: {source}")]
    Setuid {
        /// The configured uid.
        uid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `getrlimit(RLIMIT_NOFILE)` failed.
    #[error("cannot read the open-file limit (RLIMIT_NOFILE): {0}")]
    GetRlimit(#[source] io::Error),
    /// `setrlimit(RLIMIT_NOFILE)` failed for a reason other than a refusal.
    #[error("cannot set the open-file limit to soft={soft} hard={hard}: {source}")]
    SetRlimit {
        /// The soft limit asked for.
        soft: u64,
        /// The hard limit asked for.
        hard: u64,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `pthread_sigmask()` failed.
    #[error("cannot block SIGTERM/SIGINT/SIGUSR1: pthread_sigmask failed: {0}")]
    SigMask(#[source] io::Error),
    /// Ignoring SIGPIPE failed.
    #[error("cannot ignore SIGPIPE: {0}")]
    SigPipe(#[source] io::Error),
}
