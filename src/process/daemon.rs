//! Detach from the terminal: fork, new session, standard streams to /dev/null.
//!
//! The working directory is kept on purpose: configuration files name paths
//! (pidfile, certificates) relative to where ringlb was started.

use super::ProcessError;
use std::io;

/// Forks into the background; the parent exits 0 at once, the child returns `Ok`.
///
/// Must be called before any thread is spawned: it checks and refuses otherwise,
/// because only the calling thread survives a fork.
pub fn daemonize() -> Result<(), ProcessError> {
    let threads = thread_count();
    if threads > 1 {
        return Err(ProcessError::Threaded(threads));
    }
    // SAFETY: the process has a single thread (checked just above), so the child
    // is a full copy with no lock held by a vanished thread; fork has no memory
    // preconditions.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(ProcessError::Fork(io::Error::last_os_error()));
    }
    if pid > 0 {
        // SAFETY: _exit takes no pointers and ends the parent without running
        // atexit handlers or destructors, which belong to the child now.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: setsid takes no arguments; in a freshly forked child (not a group
    // leader) it cannot fail with EPERM and touches no memory of ours.
    if unsafe { libc::setsid() } < 0 {
        return Err(ProcessError::Setsid(io::Error::last_os_error()));
    }
    redirect_std_to_devnull()
}

/// Points fds 0, 1 and 2 at /dev/null so stray writes neither fail nor reach a
/// terminal that is gone.
fn redirect_std_to_devnull() -> Result<(), ProcessError> {
    // SAFETY: the path is a valid NUL-terminated C string literal with static
    // lifetime; open does not retain the pointer.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(ProcessError::DevNull {
            what: "open",
            source: io::Error::last_os_error(),
        });
    }
    let streams = [
        (libc::STDIN_FILENO, "stdin"),
        (libc::STDOUT_FILENO, "stdout"),
        (libc::STDERR_FILENO, "stderr"),
    ];
    for (target, what) in streams {
        if fd == target {
            continue;
        }
        // SAFETY: fd is an open descriptor we own and target is one of the
        // standard descriptor numbers; dup2 replaces it atomically and the
        // duplicate does not inherit O_CLOEXEC.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(ProcessError::DevNull {
                what,
                source: io::Error::last_os_error(),
            });
        }
    }
    if fd > libc::STDERR_FILENO {
        // SAFETY: fd was opened above, is not one of 0..=2, and nothing else
        // refers to it, so closing it cannot pull a descriptor from under
        // other code.
        unsafe { libc::close(fd) };
    } else {
        // fd landed on a standard slot (it was closed before): it stays as that
        // stream, so it must survive exec like the others.
        // SAFETY: fd is open; F_SETFD with 0 only clears FD_CLOEXEC.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    Ok(())
}

/// Number of threads of this process, from /proc/self/task (1 if unreadable,
/// since a process always has at least its own thread).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| dir.count())
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_fork_a_threaded_process() {
        // Keep a second thread alive so the check is exercised whatever the
        // test harness's own threading; the refusal must come before any fork.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        let result = daemonize();
        drop(tx);
        helper.join().expect("helper thread");
        assert!(matches!(result, Err(ProcessError::Threaded(n)) if n >= 2));
    }
}
