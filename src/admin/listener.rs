//! Binding the stats sockets and serving their connections.
//!
//! [`bind`] runs in `main` before privileges are dropped (a socket under
//! `/run` needs root, as for HAProxy) and before daemonizing: it only creates
//! sockets, no thread, so the fork that follows keeps them. A Unix socket is
//! bound under a temporary name, given its `mode` and owner (`user`/`uid`,
//! `group`/`gid`), then renamed over the path: a socket left by a previous
//! process is replaced atomically and clients never see a socket with the
//! wrong permissions.
//!
//! [`spawn`] starts one accepting thread for all the sockets; each connection
//! gets its own short-lived thread, so a slow client never holds up another,
//! and none of this runs on a worker. As HAProxy's `GLOBAL` frontend:
//!
//! - at most `stats maxconn` connections (default 10) are served at once, all
//!   sockets together. At the limit the thread stops accepting, so the next
//!   clients wait in the kernel's backlog (never accepted and dropped) and are
//!   served, in order, as soon as a slot frees;
//! - a client that sends nothing (or reads nothing) for `stats timeout`
//!   (default 10 s) is closed, which frees its slot: idle clients cannot hold
//!   the socket for longer than that.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::cli::{self, After, Level, Session};
use crate::config::model::{Address, Global, StatsSocket};
use crate::runtime::Shared;
use crate::stats::process;
use crate::worker::handover;

/// `stats maxconn` when unset: connections served at once, all stats sockets
/// together (HAProxy's default).
pub const DEFAULT_MAXCONN: usize = 10;

/// `stats timeout` when unset (HAProxy's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the stats sockets could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The socket could not be created, bound or given its mode and owner.
    #[error("cannot bind the stats socket '{address}': {source}")]
    Bind {
        /// The address as configured.
        address: String,
        /// The system's error.
        source: io::Error,
    },
    /// An `fd@` stats socket that is not an inherited listening socket.
    #[error("stats socket 'fd@{0}': {1}")]
    Fd(i32, String),
    /// A thread could not be started.
    #[error("cannot start the stats socket thread: {0}")]
    Spawn(io::Error),
}

/// A bound listener of either family.
#[derive(Debug)]
enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    fn fd(&self) -> RawFd {
        match self {
            Listener::Unix(l) => l.as_raw_fd(),
            Listener::Tcp(l) => l.as_raw_fd(),
        }
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Listener::Unix(l) => l.set_nonblocking(true),
            Listener::Tcp(l) => l.set_nonblocking(true),
        }
    }

    /// Accepts one connection (the listener is non-blocking: `WouldBlock`
    /// when none is waiting).
    fn accept(&self) -> io::Result<Box<dyn CliStream>> {
        Ok(match self {
            Listener::Unix(l) => Box::new(l.accept()?.0),
            Listener::Tcp(l) => Box::new(l.accept()?.0),
        })
    }
}

/// One bound `stats socket` line.
#[derive(Debug)]
struct Bound {
    listener: Listener,
    level: Level,
    /// `expose-fd listeners`: `_getsocks` is answered here.
    expose_fd: bool,
}

/// The stats sockets, bound and waiting for [`spawn`].
#[derive(Debug)]
pub struct Sockets {
    bound: Vec<Bound>,
    timeout: Duration,
    maxconn: usize,
}

/// Records the process facts the stats page and `show info` print (effective
/// `maxconn`, node name, start time) and binds every `stats socket`.
pub fn bind(global: &Global, maxconn: usize) -> Result<Sockets, AdminError> {
    process::init(maxconn, global.node.as_deref());
    let mut bound = Vec::new();
    for s in &global.stats_sockets {
        let listener = match &s.address {
            Address::Unix(path) => {
                bind_unix(path, s)
                    .map(Listener::Unix)
                    .map_err(|source| AdminError::Bind {
                        address: path.display().to_string(),
                        source,
                    })?
            }
            Address::Inet(sa) => {
                TcpListener::bind(sa)
                    .map(Listener::Tcp)
                    .map_err(|source| AdminError::Bind {
                        address: sa.to_string(),
                        source,
                    })?
            }
            Address::Abstract(name) => crate::worker::listen::abstract_socket(name)
                .map(Listener::Unix)
                .map_err(|source| AdminError::Bind {
                    address: format!("abns@{name}"),
                    source,
                })?,
            Address::Fd(n) => inherited(*n)?,
        };
        bound.push(Bound {
            listener,
            level: Level::parse(&s.level),
            expose_fd: s.expose_fd,
        });
    }
    Ok(Sockets {
        bound,
        timeout: global.stats_timeout.unwrap_or(DEFAULT_TIMEOUT),
        maxconn: global.stats_maxconn.map_or(DEFAULT_MAXCONN, |n| n as usize),
    })
}

/// Takes over `fd@<n>`, a listening socket (Unix or TCP) the parent process
/// opened and left to ringlb (systemd socket activation, a supervisor).
fn inherited(n: i32) -> Result<Listener, AdminError> {
    let bad = |why: String| AdminError::Fd(n, why);
    // SAFETY: only inspects `n`; an fd that is not open fails with EBADF.
    let st = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(n, &mut st) == 0).then_some(st)
    };
    let st = st.ok_or_else(|| {
        bad(format!(
            "not an open file descriptor ({})",
            io::Error::last_os_error()
        ))
    })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(bad("not a socket".into()));
    }
    // SAFETY: `n` is an open socket this process was given to own, and
    // nothing else in the process uses it.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(n) };
    let sock = socket2::SockRef::from(&fd);
    if !sock.is_listener().unwrap_or(false) {
        std::mem::forget(fd); // not ours to close: leave it as it came
        return Err(bad("not a listening socket".into()));
    }
    let unix = sock.local_addr().is_ok_and(|a| a.is_unix());
    Ok(if unix {
        Listener::Unix(UnixListener::from(fd))
    } else {
        Listener::Tcp(TcpListener::from(fd))
    })
}

/// Binds a Unix socket at the path with its `mode` and owner, replacing any
/// socket there.
fn bind_unix(path: &Path, s: &StatsSocket) -> io::Result<UnixListener> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    let placed = s
        .mode
        .map_or(Ok(()), |m| {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(m))
        })
        .and_then(|()| {
            if s.uid.is_some() || s.gid.is_some() {
                std::os::unix::fs::lchown(&tmp, s.uid, s.gid)
            } else {
                Ok(())
            }
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(listener)
}

/// Starts serving the bound sockets on one accepting thread.
pub fn spawn(shared: Arc<Shared>, sockets: Sockets) -> Result<(), AdminError> {
    if sockets.bound.is_empty() {
        return Ok(());
    }
    for b in &sockets.bound {
        b.listener.set_nonblocking().map_err(AdminError::Spawn)?;
    }
    std::thread::Builder::new()
        .name("ringlb-cli".into())
        .spawn(move || accept_loop(shared, sockets))
        .map_err(AdminError::Spawn)?;
    Ok(())
}

/// A stream the CLI can serve, with its timeouts set.
trait CliStream: Read + Write + Send + 'static {
    fn prepare(&self, t: Duration) -> io::Result<()>;
    fn raw_fd(&self) -> RawFd;
}

impl CliStream for std::os::unix::net::UnixStream {
    fn raw_fd(&self) -> RawFd {
        self.as_raw_fd()
    }

    fn prepare(&self, t: Duration) -> io::Result<()> {
        self.set_nonblocking(false)?;
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

impl CliStream for std::net::TcpStream {
    fn raw_fd(&self) -> RawFd {
        self.as_raw_fd()
    }

    fn prepare(&self, t: Duration) -> io::Result<()> {
        self.set_nonblocking(false)?;
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

/// The connections being served, against `stats maxconn`, shared by the
/// accepting thread and the connection threads.
#[derive(Debug)]
struct Slots {
    busy: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

impl Slots {
    fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            busy: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
        })
    }

    /// Waits until a connection may be served; the number of free slots.
    fn wait_free(&self) -> usize {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while *busy >= self.max {
            busy = self.freed.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        self.max - *busy
    }

    /// Takes a slot (the caller saw one free: only the accepting thread takes).
    fn take(self: &Arc<Self>) -> Slot {
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Slot(self.clone())
    }

    #[cfg(test)]
    fn busy(&self) -> usize {
        *self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One connection's slot, given back when dropped (the connection ended).
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.0.freed.notify_one();
    }
}

fn accept_loop(shared: Arc<Shared>, sockets: Sockets) {
    let slots = Slots::new(sockets.maxconn);
    let mut fds: Vec<libc::pollfd> = sockets
        .bound
        .iter()
        .map(|b| libc::pollfd {
            fd: b.listener.fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // At the limit, stop accepting: clients wait in the backlog, as with
        // HAProxy, and are accepted as soon as a connection ends.
        let mut free = slots.wait_free();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() != ErrorKind::Interrupted {
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        }
        for (pfd, b) in fds.iter().zip(&sockets.bound) {
            if pfd.revents == 0 || free == 0 {
                continue;
            }
            match b.listener.accept() {
                Ok(stream) => {
                    free -= 1;
                    let how = Serve {
                        level: b.level,
                        expose_fd: b.expose_fd,
                        timeout: sockets.timeout,
                    };
                    serve_on_thread(stream, &shared, how, slots.take());
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// How one stats socket serves its connections.
#[derive(Debug, Clone, Copy)]
struct Serve {
    level: Level,
    expose_fd: bool,
    timeout: Duration,
}

/// Serves one connection on its own thread, holding `slot` until it ends.
fn serve_on_thread(stream: Box<dyn CliStream>, shared: &Arc<Shared>, how: Serve, slot: Slot) {
    let shared = shared.clone();
    // A thread that cannot start drops the closure: the connection closes and
    // the slot is given back.
    let _ = std::thread::Builder::new()
        .name("ringlb-cli-conn".into())
        .spawn(move || {
            let _slot = slot;
            if stream.prepare(how.timeout).is_ok() {
                let expose = how.expose_fd.then(|| stream.raw_fd());
                serve(stream, &shared, how.level, expose, |s, t| {
                    let _ = s.prepare(t);
                });
            }
        });
}

/// Serves one connection as HAProxy does: run each command as it arrives and
/// answer it; outside interactive mode, close once no more input is pending.
///
/// `expose`: the connection's fd when the socket has `expose-fd listeners`,
/// where `_getsocks` hands this process's listening sockets over.
///
/// `retime` applies a new idle timeout (`set timeout cli`) to the connection.
fn serve<S: Read + Write>(
    mut s: S,
    shared: &Shared,
    level: Level,
    expose: Option<RawFd>,
    retime: impl Fn(&S, Duration),
) {
    let mut session = Session::new(shared, level);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some((cmd, payload, used)) = cli::next_request(&buf, false) {
            buf.drain(..used);
            if cmd.trim() == handover::GETSOCKS {
                match expose {
                    Some(fd) => {
                        if let Err(e) = handover::send_sockets(fd) {
                            eprintln!("[WARNING] stats socket: {}: {e}", handover::GETSOCKS);
                        }
                    }
                    None => {
                        let _ = s.write_all(b"Permission denied (no expose-fd listeners)\n\n");
                    }
                }
                return;
            }
            if !answer(&mut s, &mut session, &cmd, payload.as_deref()) {
                return;
            }
            if let Some(t) = session.idle_timeout.take() {
                retime(&s, t);
            }
            if !session.interactive && buf.is_empty() {
                return;
            }
        }
        if buf.len() > cli::MAX_COMMAND {
            return;
        }
        match s.read(&mut chunk) {
            Ok(0) => {
                // The peer is done sending: a last command without its line
                // feed is still run (HAProxy would drop it; scripts using
                // `printf` without `\n` are common enough to be kind to).
                match cli::next_request(&buf, true) {
                    Some((cmd, payload, _)) => {
                        let _ = answer(&mut s, &mut session, &cmd, payload.as_deref());
                    }
                    None => {
                        let last = String::from_utf8_lossy(&buf).into_owned();
                        let _ = answer(&mut s, &mut session, &last, None);
                    }
                }
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Timeout (`stats timeout`) or a broken connection.
            Err(_) => return,
        }
    }
}

/// Runs one command and writes its answer; false when the connection must close.
fn answer<S: Write>(
    s: &mut S,
    session: &mut Session<'_>,
    cmd: &str,
    payload: Option<&str>,
) -> bool {
    if cmd.trim().is_empty() {
        // Nothing to run: in interactive mode, just prompt again.
        return !session.interactive || s.write_all(b"> ").is_ok();
    }
    let (text, after) = session.run_with(cmd, payload);
    if after == After::Quit {
        return false;
    }
    let mut out = text.into_bytes();
    out.extend_from_slice(session.prompt().as_bytes());
    s.write_all(&out).and_then(|()| s.flush()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory connection: what the client sent, what the server wrote.
    struct Pipe {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Pipe {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.input.read(b)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn shared() -> Arc<Shared> {
        let loaded = crate::config::load_sources(&[(
            "t.cfg",
            "listen web\n    mode http\n    bind 127.0.0.1:1\n    timeout connect 1s\n    \
             timeout client 1s\n    timeout server 1s\n    server a 127.0.0.1:2\n    \
             server b 127.0.0.1:3 weight 3\n",
        )])
        .expect("config loads");
        Shared::build(&loaded.config, false, 1)
    }

    fn talk(shared: &Shared, level: Level, input: &[u8]) -> String {
        let mut p = Pipe {
            input: io::Cursor::new(input.to_vec()),
            output: Vec::new(),
        };
        serve(&mut p, shared, level, None, |_, _| {});
        String::from_utf8(p.output).expect("utf-8 answer")
    }

    #[test]
    fn slots_wait_until_one_frees() {
        let slots = Slots::new(2);
        assert_eq!(slots.wait_free(), 2);
        let first = slots.take();
        let second = slots.take();
        assert_eq!(slots.busy(), 2);
        let waiter = {
            let slots = slots.clone();
            std::thread::spawn(move || slots.wait_free())
        };
        // The waiter can only return once a connection ends.
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished());
        drop(first);
        assert_eq!(waiter.join().unwrap(), 1);
        drop(second);
        assert_eq!(slots.busy(), 0);
        assert_eq!(Slots::new(0).wait_free(), 1, "never a limit of 0");
    }

    #[test]
    fn one_command_one_answer_then_close() {
        let sh = shared();
        assert_eq!(
            talk(&sh, Level::User, b"get weight web/b\n"),
            "3 (initial 3)\n\n"
        );
        // Without the line feed, at end of input.
        assert_eq!(
            talk(&sh, Level::User, b"get weight web/a"),
            "1 (initial 1)\n\n"
        );
    }

    #[test]
    fn semicolons_separate_commands() {
        let sh = shared();
        let out = talk(
            &sh,
            Level::Admin,
            b"set weight web/a 7;get weight web/a;get weight web/nope\n",
        );
        assert_eq!(out, "\n7 (initial 1)\n\nNo such server.\n\n");
    }

    #[test]
    fn levels_are_enforced() {
        let sh = shared();
        for level in [Level::User, Level::Operator] {
            assert_eq!(
                talk(&sh, level, b"set server web/a state maint\n"),
                "Permission denied\n\n"
            );
        }
        assert!(!sh.backends[0].servers[0].admin.maint());
        assert_eq!(talk(&sh, Level::Admin, b"disable server web/a\n"), "\n");
        assert!(sh.backends[0].servers[0].admin.maint());
    }

    #[test]
    fn prompt_mode_keeps_the_connection_until_quit() {
        let sh = shared();
        let out = talk(
            &sh,
            Level::User,
            b"prompt\nget weight web/a\n\nquit\nget weight web/b\n",
        );
        assert_eq!(out, "\n> 1 (initial 1)\n\n> > ");
    }

    #[test]
    fn garbage_gets_the_help_and_never_panics() {
        let sh = shared();
        let out = talk(&sh, Level::Admin, b"\xff\xfe\x00garbage \\\n");
        assert!(out.starts_with("Unknown command"), "{out}");
        for junk in [
            &b"set server"[..],
            b"set server /",
            b"set weight a/",
            b"show stat x y",
            b";;;",
        ] {
            let _ = talk(&sh, Level::Admin, junk);
        }
        let long = vec![b'x'; cli::MAX_COMMAND + 10];
        assert_eq!(
            talk(&sh, Level::Admin, &long),
            "",
            "an endless line is dropped"
        );
    }
}
