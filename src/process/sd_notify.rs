//! systemd's readiness protocol (`sd_notify(3)`), for `-Ws` under a unit of
//! `Type=notify`: the master says `READY=1` once its first worker serves,
//! `RELOADING=1` (with `MONOTONIC_USEC`, as `Type=notify-reload` wants) when
//! a reload starts and `READY=1` again when it is over, `STOPPING=1` when it
//! stops, and a `STATUS=` line each time for `systemctl status`.
//!
//! The protocol is one datagram of `KEY=value` lines sent to the Unix socket
//! named by `$NOTIFY_SOCKET`: a path, or an abstract name when it starts with
//! `@`. Hand-written (a dozen lines) rather than a dependency.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for a `Type=notify` service.
pub const ENV_NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// A connection to systemd's notification socket.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names; `None` when it is unset or empty
    /// (not started by systemd: nothing to tell).
    pub fn from_env() -> Option<io::Result<Notifier>> {
        let name = std::env::var_os(ENV_NOTIFY_SOCKET)?;
        let name = name.to_str()?;
        (!name.is_empty()).then(|| Notifier::new(name))
    }

    /// A notifier for the socket `name`: a path, or `@name` for an abstract one.
    pub fn new(name: &str) -> io::Result<Notifier> {
        let addr = match name.strip_prefix('@') {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name)?,
            None => SocketAddr::from_pathname(name)?,
        };
        Ok(Notifier {
            sock: UnixDatagram::unbound()?,
            addr,
        })
    }

    /// Sends `state`, newline-separated `KEY=value` assignments, in one datagram.
    pub fn send(&self, state: &str) -> io::Result<()> {
        self.sock.send_to_addr(state.as_bytes(), &self.addr)?;
        Ok(())
    }
}

/// `STATUS=` takes one line: newlines in `text` become "; ".
pub fn status_line(text: &str) -> String {
    let one: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    format!("STATUS={}", one.join("; "))
}

/// `MONOTONIC_USEC=`: CLOCK_MONOTONIC now, in microseconds, which systemd
/// compares with the time it sent the reload signal (`Type=notify-reload`).
pub fn monotonic_usec() -> u64 {
    // SAFETY: all-zero is a valid timespec; clock_gettime only writes it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_one_datagram_to_a_path() {
        let dir = std::env::temp_dir().join(format!("ringlb-sdn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        n.send("READY=1\nSTATUS=up").unwrap();
        let mut buf = [0u8; 64];
        let got = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got], b"READY=1\nSTATUS=up");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn at_prefix_names_an_abstract_socket() {
        let name = format!("ringlb-sdn-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        let n = Notifier::new(&format!("@{name}")).unwrap();
        n.send("STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let got = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got], b"STOPPING=1");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let n = Notifier::new("/nonexistent/ringlb/notify").unwrap();
        assert!(n.send("READY=1").is_err());
    }

    #[test]
    fn status_is_one_line() {
        assert_eq!(status_line("a\n\nb\n"), "STATUS=a; b");
    }

    #[test]
    fn monotonic_clock_moves_forward() {
        let a = monotonic_usec();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_usec() >= a + 1_000);
    }
}
