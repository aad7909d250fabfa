//! Ports and per-test directories: the parallel-safe port allocator
//! ([`free_port`], [`closed_port`]) with its in-process set and cross-process
//! lock files, and [`TestDir`].

use std::collections::BTreeSet;
use std::fs;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self};

/// Every port handed out in this test process, so that two parallel tests never
/// receive the same one (the kernel may hand a just-released port out again).
fn handed_out() -> &'static Mutex<BTreeSet<u16>> {
    static SET: OnceLock<Mutex<BTreeSet<u16>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(BTreeSet::new()))
}

/// Lock files held for the life of the process, one per port handed out.
fn port_locks() -> &'static Mutex<Vec<fs::File>> {
    static LOCKS: OnceLock<Mutex<Vec<fs::File>>> = OnceLock::new();
    LOCKS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Takes an advisory lock on `port` shared by every test process on this
/// machine (several `cargo test` runs at once, in other checkouts too). The
/// kernel drops the lock when the process ends, so nothing goes stale. This
/// matters because ringlb binds with SO_REUSEPORT: two ringlb processes of the
/// same user can bind one port, and connections would then reach the wrong one.
fn lock_port_across_processes(port: u16) -> bool {
    let dir = std::env::temp_dir().join("ringlb-e2e-ports");
    let _ = fs::create_dir_all(&dir);
    let Ok(f) = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(port.to_string()))
    else {
        // No lock directory: fall back to the in-process guarantee only.
        return true;
    };
    // SAFETY: flock(2) on a file descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return false;
    }
    port_locks().lock().unwrap().push(f);
    true
}

/// Records a port as taken; false when it already was (here or, for ports
/// chosen by [`free_port`], in another test process).
pub(super) fn claim_port(port: u16) -> bool {
    handed_out().lock().unwrap().insert(port)
}

/// Ports handed out to tests: below Linux's ephemeral range (32768–60999), so
/// no client socket of a parallel test can be sitting on one (a wildcard bind
/// such as `bind :port` would then fail with EADDRINUSE).
const TEST_PORTS: std::ops::Range<u16> = 20000..32000;

/// A free TCP port that no other test has received, in this process or in any
/// other test process running the harness at the same time.
///
/// Candidates come from [`TEST_PORTS`], starting at a point that depends on the
/// process id; one is taken when it can be bound on the wildcard address
/// (nothing uses it on any address) and its cross-process lock is free.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let span = usize::from(TEST_PORTS.end - TEST_PORTS.start);
    let start = (std::process::id() as usize).wrapping_mul(7919) % span;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < span, "no free test port left in {TEST_PORTS:?}");
        let port = TEST_PORTS.start + ((start + n) % span) as u16;
        if TcpListener::bind(("0.0.0.0", port)).is_err() {
            continue;
        }
        if claim_port(port) && lock_port_across_processes(port) {
            return port;
        }
    }
}

/// A port where nothing listens (connections to it are refused).
pub fn closed_port() -> u16 {
    free_port()
}

/// A per-test directory under cargo's target tmpdir; removed on drop unless the
/// test is failing, so a failure leaves the config and ringlb's stderr to read.
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates a fresh, unique directory whose name starts with `tag`.
    pub fn new(tag: &str) -> TestDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("ringlb-e2e")
            .join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create test dir");
        TestDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path.join(name);
        fs::write(&p, text).expect("write test file");
        p
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
