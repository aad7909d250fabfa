//! [`Haproxy`]: HAProxy 2.6 (Debian's package) run on the same configuration
//! text as ringlb, the oracle for behaviour HAProxy defines.
//!
//! CI installs it (`.ci/run`); elsewhere a test that needs it says so and
//! skips, unless `RINGLB_REQUIRE_HAPROXY` or `CI` is set, where it fails.

use std::fs;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// A running `haproxy -db -f <config>`, killed on drop.
pub struct Haproxy {
    child: Child,
    _dir: TestDir,
}

/// The haproxy binary, if installed.
pub fn haproxy_binary() -> Option<PathBuf> {
    [
        "/usr/sbin/haproxy",
        "/usr/local/sbin/haproxy",
        "/usr/bin/haproxy",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

impl Haproxy {
    /// Starts HAProxy on `config` and waits until `port` accepts; `None` (with
    /// a note on stderr) when HAProxy is not installed and not required.
    pub fn start(config: &str, port: u16) -> Option<Haproxy> {
        let Some(bin) = haproxy_binary() else {
            let required = std::env::var_os("RINGLB_REQUIRE_HAPROXY").is_some()
                || std::env::var_os("CI").is_some();
            assert!(
                !required,
                "haproxy is not installed (apt-get install haproxy)"
            );
            eprintln!("haproxy not installed: the comparison with HAProxy is skipped");
            return None;
        };
        let dir = TestDir::new("haproxy");
        let cfg = dir.write("haproxy.cfg", config);
        let log = fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn haproxy");
        let mut h = Haproxy { child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(st) = h.child.try_wait().unwrap() {
                let err = fs::read_to_string(h._dir.path().join("stderr.log")).unwrap_or_default();
                panic!("haproxy exited with {st}:\n{err}");
            }
            assert!(
                Instant::now() < deadline,
                "haproxy did not accept on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(h)
    }
}

impl Haproxy {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What HAProxy printed on stderr so far (its `-db` log lines).
    pub fn stderr(&self) -> String {
        fs::read_to_string(self._dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Sends `sig` to HAProxy (SIGUSR1: soft stop).
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the configuration `cfg(port)` for ringlb, then for HAProxy (when
/// installed), each on a free port; `look(port)` is what clients see. The
/// two must see the same (`what` names the case); returns ringlb's.
pub fn same_as_haproxy<T: PartialEq + std::fmt::Debug>(
    what: &str,
    cfg: impl Fn(u16) -> String,
    look: impl Fn(u16) -> T,
) -> T {
    let port = free_port();
    let ours = {
        let _lb = Ringlb::start(&cfg(port));
        look(port)
    };
    let port = free_port();
    if let Some(_h) = Haproxy::start(&cfg(port), port) {
        assert_eq!(ours, look(port), "ringlb, then HAProxy 2.6: {what}");
    }
    ours
}
