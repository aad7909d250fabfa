//! Signals, handled synchronously: the main thread blocks them before spawning
//! workers (which inherit the mask) and then waits for them with `sigwait`, so
//! no async signal handler ever runs.

use super::ProcessError;
use std::io;

/// A signal that asks ringlb to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: stop now.
    Terminate,
    /// SIGINT: stop now (Ctrl-C in the foreground).
    Interrupt,
    /// SIGUSR1: soft stop, stop accepting and finish current connections.
    SoftStop,
}

/// The signals [`wait`] reports, in one set.
fn handled_set() -> libc::sigset_t {
    // SAFETY: sigset_t is a plain bit array for which all-zero is a valid
    // value; sigemptyset then initialises it properly.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid, writable sigset_t; the signal numbers are valid,
    // so these calls cannot fail.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGUSR1);
    }
    set
}

/// Blocks SIGTERM, SIGINT and SIGUSR1 in the calling thread (threads spawned
/// afterwards inherit the mask) and ignores SIGPIPE process-wide.
pub fn block() -> Result<(), ProcessError> {
    let set = handled_set();
    // SAFETY: set is an initialised sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        // pthread_* functions return the error number instead of setting errno.
        return Err(ProcessError::SigMask(io::Error::from_raw_os_error(rc)));
    }
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE; no handler code runs.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(ProcessError::SigPipe(io::Error::last_os_error()));
    }
    Ok(())
}

/// Waits until one of the blocked signals arrives (call [`block`] first).
pub fn wait() -> Signal {
    let set = handled_set();
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: set is initialised and sig is a valid writable int; both
        // outlive the call.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc != 0 {
            // Only EINVAL is documented, impossible with this set: wait again
            // rather than report a signal that did not come.
            continue;
        }
        match sig {
            libc::SIGTERM => return Signal::Terminate,
            libc::SIGINT => return Signal::Interrupt,
            libc::SIGUSR1 => return Signal::SoftStop,
            _ => continue,
        }
    }
}

/// What a master process is told (`-W`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterSignal {
    /// SIGTERM or SIGINT: stop every worker now.
    Terminate,
    /// SIGUSR1: soft-stop every worker, then exit.
    SoftStop,
    /// SIGUSR2 or SIGHUP: re-read the configuration and replace the worker.
    Reload,
    /// SIGCHLD: a worker exited.
    Child,
}

fn master_set() -> libc::sigset_t {
    let mut set = handled_set();
    // SAFETY: set is an initialised sigset_t and the signal numbers are valid.
    unsafe {
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigaddset(&mut set, libc::SIGCHLD);
    }
    set
}

/// Blocks the master's signals (those of [`block`], SIGUSR2, SIGHUP and
/// SIGCHLD) in the calling thread and ignores SIGPIPE.
pub fn block_master() -> Result<(), ProcessError> {
    block()?;
    let set = master_set();
    // SAFETY: set is an initialised sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(ProcessError::SigMask(io::Error::from_raw_os_error(rc)));
    }
    Ok(())
}

/// Waits for one of the master's signals (call [`block_master`] first).
pub fn wait_master() -> MasterSignal {
    let set = master_set();
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: as in [`wait`].
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            continue;
        }
        match sig {
            libc::SIGTERM | libc::SIGINT => return MasterSignal::Terminate,
            libc::SIGUSR1 => return MasterSignal::SoftStop,
            libc::SIGUSR2 | libc::SIGHUP => return MasterSignal::Reload,
            libc::SIGCHLD => return MasterSignal::Child,
            _ => continue,
        }
    }
}

/// Sends `sig` to each process; says which could not be signalled.
pub fn send_all(pids: &[i32], sig: libc::c_int) {
    for &pid in pids {
        // SAFETY: kill has no memory effects; a bad pid only fails.
        if unsafe { libc::kill(pid, sig) } != 0 {
            eprintln!(
                "[WARNING] cannot signal process {pid}: {}",
                io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_signal_is_reported_by_wait() {
        // Run on a fresh thread so the mask change stays confined to it.
        let got = std::thread::spawn(|| {
            block().expect("block");
            // SAFETY: pthread_self is always valid; the signal goes to this
            // very thread, where it is blocked, so it stays pending until
            // sigwait takes it instead of running a default action.
            let rc = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR1) };
            assert_eq!(rc, 0);
            wait()
        })
        .join()
        .expect("signal thread");
        assert_eq!(got, Signal::SoftStop);
    }
}
