//! `option splice-auto|splice-request|splice-response`: one direction of the
//! relay moved socket → pipe → socket with splice(2), the bytes never copied
//! to user space.
//!
//! Each spliced direction holds one pipe of its own; the process holds at
//! most `maxpipes` at once (HAProxy's default: a quarter of `maxconn`), a
//! direction that finds none free stays on the copy path. `tune.pipesize`
//! sizes the pipes (F_SETPIPE_SZ). The splices are nonblocking calls made
//! when the socket is ready (a poll on a duplicate of the socket's fd, the
//! same on io_uring and on the epoll fallback): io_uring's own splice
//! opcode would park a kernel worker thread on every idle connection.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use monoio::net::TcpStream;
use monoio::time::Instant;

use crate::deadline::LazyTimer;

/// A proxy's splice options (`option splice-*`); a session splices a
/// direction when its frontend or its backend asks for it (as HAProxy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpliceOpts {
    /// `option splice-auto`: both directions, once one looks like a large
    /// transfer.
    pub auto: bool,
    /// `option splice-request`: client → server from the first byte.
    pub request: bool,
    /// `option splice-response`: server → client from its first byte.
    pub response: bool,
}

/// When a direction switches from copying to splicing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// From the first byte (`splice-request`, `splice-response`).
    Always,
    /// After the first read that fills a whole buffer (`splice-auto`): small
    /// exchanges never pay for a pipe, a bulk transfer fills the buffer on
    /// its first or second read.
    Auto,
}

impl SpliceOpts {
    /// The frontend's and the backend's options together.
    pub fn with(self, other: SpliceOpts) -> SpliceOpts {
        SpliceOpts {
            auto: self.auto || other.auto,
            request: self.request || other.request,
            response: self.response || other.response,
        }
    }

    /// When client → server switches to splice, if ever.
    pub fn up(self) -> Option<When> {
        Self::when(self.request, self.auto)
    }

    /// When server → client switches to splice, if ever.
    pub fn down(self) -> Option<When> {
        Self::when(self.response, self.auto)
    }

    fn when(always: bool, auto: bool) -> Option<When> {
        match (always, auto) {
            (true, _) => Some(When::Always),
            (false, true) => Some(When::Auto),
            _ => None,
        }
    }
}

/// The process's pipes: how many are in use against `maxpipes`, and their size.
#[derive(Debug)]
pub struct Pipes {
    limit: usize,
    size: Option<u32>,
    used: AtomicUsize,
}

/// HAProxy's default `maxpipes` without `maxconn` (its default maxconn, a quarter).
const DEFAULT_MAXPIPES: usize = 4096 / 4;

impl Pipes {
    /// `maxpipes` (default: a quarter of `maxconn`) and `tune.pipesize`.
    pub fn new(maxpipes: Option<u32>, maxconn: Option<u32>, size: Option<u32>) -> Pipes {
        let limit = match (maxpipes, maxconn) {
            (Some(n), _) => n as usize,
            (None, Some(c)) => (c as usize / 4).max(1),
            (None, None) => DEFAULT_MAXPIPES,
        };
        Pipes {
            limit,
            size,
            used: AtomicUsize::new(0),
        }
    }

    /// Pipes in use now (for tests and stats).
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A pipe, unless `maxpipes` are in use or the kernel refuses one.
    fn take(&self) -> Option<Pipe<'_>> {
        let mut n = self.used.load(Ordering::Relaxed);
        loop {
            if n >= self.limit {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        // The slot is given back by `Pipe`'s drop, or here on failure.
        let slot = Slot(self);
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return None;
        }
        // SAFETY: pipe2 succeeded: both fds are open and owned by nobody else.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        if let Some(size) = self.size {
            // SAFETY: plain fcntl on an fd we own; failure leaves the default size.
            unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) };
        }
        // SAFETY: as above.
        let cap = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_GETPIPE_SZ) };
        let cap = if cap > 0 { cap as usize } else { 65536 };
        Some(Pipe {
            r,
            w,
            cap,
            _slot: slot,
        })
    }
}

/// One unit of `maxpipes`, given back when dropped.
struct Slot<'a>(&'a Pipes);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A pipe held by one direction of one session (closed when dropped).
struct Pipe<'a> {
    r: OwnedFd,
    w: OwnedFd,
    cap: usize,
    _slot: Slot<'a>,
}

/// One direction set up to splice: its pipe and a readiness handle on each socket.
pub struct Splicer<'a> {
    pipe: Pipe<'a>,
    src: RawFd,
    dst: RawFd,
    // Duplicates of `src` and `dst`, only polled: monoio offers readiness on
    // its own socket types, and the relay's halves keep theirs to themselves.
    src_ready: TcpStream,
    dst_ready: TcpStream,
}

/// How a spliced direction ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The source ended its writes; everything read was written.
    Eof,
    /// Reading failed (`true`: the idle timeout passed).
    ReadFailed(bool),
    /// Writing failed (`true`: the destination's timeout passed).
    WriteFailed(bool),
}

impl<'a> Splicer<'a> {
    /// A pipe from `pipes` for `src` → `dst`, or `None` (the copy path goes
    /// on): none free, or the kernel refused a pipe or an fd.
    pub fn new(pipes: &'a Pipes, src: RawFd, dst: RawFd) -> Option<Splicer<'a>> {
        let pipe = pipes.take()?;
        let src_ready = ready_handle(src).ok()?;
        let dst_ready = ready_handle(dst).ok()?;
        Some(Splicer {
            pipe,
            src,
            dst,
            src_ready,
            dst_ready,
        })
    }

    /// Moves bytes until the source ends or fails, or the destination fails.
    /// A read waits until the session has been idle (both directions) for
    /// `read_idle`, `last` being the last activity; a write is bounded by
    /// `write_idle`, as the copy path. Returns the bytes moved and how it ended.
    pub async fn run(
        self,
        (read_idle, write_idle): (Duration, Duration),
        last: &Cell<Instant>,
    ) -> (u64, End) {
        self.run_until(|| last.get() + read_idle, write_idle, last)
            .await
    }

    /// [`Splicer::run`], a read giving up at `read_deadline()` (read again
    /// as the wait goes on: the relay's half-closed timeouts move it).
    pub async fn run_until(
        self,
        read_deadline: impl Fn() -> Instant,
        write_idle: Duration,
        last: &Cell<Instant>,
    ) -> (u64, End) {
        let mut total = 0u64;
        let mut read_timer = LazyTimer::new();
        let mut write_timer = LazyTimer::new();
        loop {
            let n = match splice(self.src, self.pipe.w.as_raw_fd(), self.pipe.cap) {
                Ok(0) => return (total, End::Eof),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let deadline = &read_deadline;
                    monoio::select! {
                        r = self.src_ready.readable(false) => if r.is_err() {
                            return (total, End::ReadFailed(false));
                        },
                        _ = read_timer.expired(deadline) => return (total, End::ReadFailed(true)),
                    }
                    continue;
                }
                Err(_) => return (total, End::ReadFailed(false)),
            };
            let now = Instant::now();
            last.set(now);
            total += n as u64;
            if let Err(timeout) = self.drain(n, &mut write_timer, now + write_idle).await {
                return (total, End::WriteFailed(timeout));
            }
            last.set(Instant::now());
        }
    }

    /// Writes the `left` bytes in the pipe to the destination by `deadline`;
    /// `Err(true)` when it passed, `Err(false)` on an error.
    async fn drain(
        &self,
        mut left: usize,
        timer: &mut LazyTimer,
        deadline: Instant,
    ) -> Result<(), bool> {
        while left > 0 {
            match splice(self.pipe.r.as_raw_fd(), self.dst, left) {
                Ok(0) => return Err(false),
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    monoio::select! {
                        r = self.dst_ready.writable(false) => if r.is_err() {
                            return Err(false);
                        },
                        _ = timer.expired_at(deadline) => return Err(true),
                    }
                }
                Err(_) => return Err(false),
            }
        }
        Ok(())
    }
}

/// One nonblocking splice(2) of at most `len` bytes.
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: both fds are open for the call (the relay's halves and the
    // pipe outlive it); null offsets are allowed for sockets and pipes.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A monoio handle on a duplicate of `fd` to poll it, the socket made
/// nonblocking (the flag is the open file's, shared with the original fd, so
/// a splice can never block the worker; monoio's own reads and writes work
/// on nonblocking sockets alike, its connects make them so).
fn ready_handle(fd: RawFd) -> io::Result<TcpStream> {
    // SAFETY: fcntl on an fd the relay holds open; F_DUPFD_CLOEXEC returns a
    // new fd we own.
    let dup = unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 && fl & libc::O_NONBLOCK == 0 {
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0)
    };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` is a fresh fd owned by nobody else. It may be a Unix
    // socket: the handle is only polled, which works on any socket.
    let std = unsafe { std::net::TcpStream::from_raw_fd(dup) };
    TcpStream::from_std(std)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_choose_each_direction() {
        let auto = SpliceOpts {
            auto: true,
            ..Default::default()
        };
        let req = SpliceOpts {
            request: true,
            ..Default::default()
        };
        assert_eq!(auto.up(), Some(When::Auto));
        assert_eq!(auto.down(), Some(When::Auto));
        assert_eq!(req.up(), Some(When::Always));
        assert_eq!(req.down(), None);
        let both = auto.with(req);
        assert_eq!(both.up(), Some(When::Always));
        assert_eq!(both.down(), Some(When::Auto));
        assert_eq!(SpliceOpts::default().up(), None);
    }

    #[test]
    fn splices_a_stream_to_its_end_on_the_epoll_driver() {
        use std::io::{Read, Write};
        use std::os::unix::net::UnixStream;
        // src: the proxy's end of (writer, src); dst: of (dst, reader).
        let (mut writer, src) = UnixStream::pair().unwrap();
        let (dst, mut reader) = UnixStream::pair().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let feed = std::thread::spawn(move || {
            writer.write_all(&sent).unwrap();
        });
        let drain = std::thread::spawn(move || {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).unwrap();
            got
        });
        let pipes = Pipes::new(Some(1), None, None);
        let (n, end) = crate::test_runtime().block_on(async {
            let s = Splicer::new(&pipes, src.as_raw_fd(), dst.as_raw_fd()).expect("a pipe");
            let last = Cell::new(Instant::now());
            let idle = Duration::from_secs(20);
            s.run((idle, idle), &last).await
        });
        assert_eq!((n, end), (data.len() as u64, End::Eof));
        feed.join().unwrap();
        drop((src, dst));
        assert!(drain.join().unwrap() == data, "bytes differ");
        assert_eq!(pipes.in_use(), 0);
    }

    #[test]
    fn an_idle_source_times_out_and_a_stuck_destination_too() {
        use std::io::Write;
        use std::os::unix::net::UnixStream;
        let (_quiet, src) = UnixStream::pair().unwrap();
        let (dst, _never_reads) = UnixStream::pair().unwrap();
        let pipes = Pipes::new(None, None, None);
        let idle = Duration::from_millis(50);
        let rt = &mut crate::test_runtime();
        let end = rt.block_on(async {
            let s = Splicer::new(&pipes, src.as_raw_fd(), dst.as_raw_fd()).unwrap();
            s.run((idle, idle), &Cell::new(Instant::now())).await
        });
        assert_eq!(end, (0, End::ReadFailed(true)), "timeout client/server");
        // A destination that never reads: the write times out, as the copy path's.
        let (mut feed, src) = UnixStream::pair().unwrap();
        let filler = std::thread::spawn(move || {
            let chunk = vec![7u8; 1 << 16];
            while feed.write_all(&chunk).is_ok() {}
        });
        let (n, end) = rt.block_on(async {
            let s = Splicer::new(&pipes, src.as_raw_fd(), dst.as_raw_fd()).unwrap();
            s.run((Duration::from_secs(5), idle), &Cell::new(Instant::now()))
                .await
        });
        assert_eq!(end, End::WriteFailed(true));
        assert!(n > 0);
        drop(src);
        filler.join().unwrap();
    }

    #[test]
    fn maxpipes_bounds_the_pipes_in_use() {
        let pipes = Pipes::new(Some(1), None, Some(1 << 20));
        let a = pipes.take().expect("one pipe");
        assert!(a.cap >= 1 << 20, "tune.pipesize applied: {}", a.cap);
        assert!(pipes.take().is_none(), "maxpipes 1");
        drop(a);
        assert_eq!(pipes.in_use(), 0);
        assert!(pipes.take().is_some());
        assert_eq!(Pipes::new(None, Some(100), None).limit, 25);
    }
}
