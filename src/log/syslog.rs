//! Syslog framing as HAProxy sends it by default, and the senders.
//!
//! A line is `<PRI>Mmm dd hh:mm:ss [hostname ]ringlb[pid]: message\n`
//! (RFC 3164; the host name only with `log-send-hostname`), or with `log ...
//! format <f>` as HAProxy 2.6 writes them: `rfc5424` `<PRI>1 <ISO date>
//! <host|-> ringlb <pid> - <structured data|-> message`, `priority`
//! `<PRI>message`, `short` `<level>message`, `iso` `<ISO date> message`,
//! `timed` `<level><ISO date> message`, `raw` the message alone. ISO dates
//! are local with microseconds and the offset (`2026-12-05T21:28:15.674818+00:00`).
//! The whole line, newline included, is cut to the target's `len` (1024 by
//! default).
//!
//! Every thread that logs (each worker, the health checker) has its own
//! sockets, opened on first use: one unconnected UDP socket per address
//! family, one unbound Unix datagram socket, and its own handle on
//! stdout/stderr. All of them are non-blocking: a line that cannot leave at
//! once (full socket buffer, syslog absent, pipe full) is dropped and counted,
//! never waited for, so logging can never slow or stop traffic.

use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Level;
use super::clock::{self, MONTHS};
use crate::config::model::{LogFormat, LogTarget};

/// HAProxy's default longest line (`len`), newline included.
pub const DEFAULT_LEN: usize = 1024;

/// The program name in the header (HAProxy's `log-tag`, `haproxy` there).
pub const TAG: &str = "ringlb";

/// Lines dropped because they could not be sent at once, all threads together.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Syslog facilities in code order (`kern` = 0 ... `local7` = 23).
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Where a target's lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// A syslog server over UDP.
    Udp(SocketAddr),
    /// A local syslog socket (datagram), e.g. `/dev/log`.
    Unix(PathBuf),
    /// An open file descriptor: `stdout` (1), `stderr` (2), `fd@<n>`.
    Fd(RawFd),
}

/// One resolved `log` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where to send.
    pub dest: Dest,
    /// Facility code (`local0` = 16).
    pub facility: u8,
    /// The least severe level sent (`<level>`; `debug` when not given).
    pub max_level: Level,
    /// Lines more severe than this are sent with this level (`<minlevel>`).
    pub min_level: Level,
    /// Longest line, newline included.
    pub len: usize,
    /// Framing.
    pub format: LogFormat,
    /// `sample <ranges>:<size>`: which lines this target takes.
    pub sample: Option<std::sync::Arc<Sampler>>,
}

/// `log ... sample`: HAProxy's line counter per target, shared by the
/// threads. A line is numbered from 1 modulo the size; it is sent when its
/// number falls in the current range, which moves on once its last number
/// is taken (HAProxy 2.6's `__do_send_log`).
#[derive(Debug)]
pub struct Sampler {
    ranges: Vec<(u32, u32)>,
    size: u32,
    /// Current range (high half) and last number taken (low half).
    state: AtomicU64,
}

impl PartialEq for Sampler {
    fn eq(&self, o: &Sampler) -> bool {
        self.ranges == o.ranges && self.size == o.size
    }
}

impl Eq for Sampler {}

impl Sampler {
    /// A counter at its start.
    pub fn new(ranges: Vec<(u32, u32)>, size: u32) -> Sampler {
        Sampler {
            ranges,
            size,
            state: AtomicU64::new(0),
        }
    }

    /// Counts one line; whether it is sent.
    pub fn take(&self) -> bool {
        let mut taken = false;
        let _ = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                let (mut rg, idx) = ((cur >> 32) as usize, cur as u32);
                let next = idx + 1;
                let (lo, hi) = self.ranges[rg];
                taken = lo <= next && next <= hi;
                if taken && next == hi {
                    rg = (rg + 1) % self.ranges.len();
                }
                Some(((rg as u64) << 32) | u64::from(next % self.size))
            });
        taken
    }
}

impl Target {
    /// Resolves a `log <address> ...` line; `None` for `log global` (the
    /// caller expands it) or an address ringlb cannot send to.
    pub fn from_model(t: &LogTarget) -> Option<Target> {
        if let LogTarget::Sampled {
            ranges,
            size,
            target,
        } = t
        {
            let mut t = Target::from_model(target)?;
            t.sample = Some(std::sync::Arc::new(Sampler::new(ranges.clone(), *size)));
            return Some(t);
        }
        let LogTarget::Syslog {
            address,
            len,
            format,
            facility,
            level,
            minlevel,
        } = t
        else {
            return None;
        };
        let dest = match address.as_str() {
            "stdout" => Dest::Fd(1),
            "stderr" => Dest::Fd(2),
            a => {
                if let Some(path) = a.strip_prefix("unix@") {
                    Dest::Unix(PathBuf::from(path))
                } else if let Some(fd) = a.strip_prefix("fd@") {
                    Dest::Fd(fd.parse().ok()?)
                } else {
                    Dest::Udp(a.parse().ok()?)
                }
            }
        };
        let level_of = |l: &Option<String>, default| {
            l.as_deref().and_then(Level::from_name).unwrap_or(default)
        };
        Some(Target {
            dest,
            facility: FACILITIES.iter().position(|f| f == facility)? as u8,
            max_level: level_of(level, Level::Debug),
            min_level: level_of(minlevel, Level::Emerg),
            len: len.unwrap_or(DEFAULT_LEN),
            format: *format,
            sample: None,
        })
    }

    /// The PRI value for a line of `level`, after the target's `minlevel`.
    pub fn pri(&self, level: Level) -> u8 {
        self.facility * 8 + level.max(self.min_level) as u8
    }
}

/// The variable parts of an RFC 3164 header.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// `Mmm dd hh:mm:ss` (15 bytes).
    pub stamp: &'a [u8],
    /// `log-send-hostname`.
    pub hostname: Option<&'a str>,
    /// Process id.
    pub pid: u32,
    /// The time of the line (ISO dates).
    pub now: SystemTime,
    /// `log-format-sd`'s structured data (RFC 5424), empty for none.
    pub sd: &'a [u8],
}

/// Appends one framed line (newline included, at most `len` bytes) to `out`.
pub fn frame(out: &mut Vec<u8>, t: &Target, level: Level, hdr: &Header<'_>, msg: &[u8]) {
    use std::io::Write;
    let start = out.len();
    match t.format {
        LogFormat::Rfc3164 => {
            let _ = write!(out, "<{}>", t.pri(level));
            out.extend_from_slice(hdr.stamp);
            out.push(b' ');
            if let Some(h) = hdr.hostname {
                out.extend_from_slice(h.as_bytes());
                out.push(b' ');
            }
            let _ = write!(out, "{TAG}[{}]: ", hdr.pid);
        }
        LogFormat::Short => {
            let _ = write!(out, "<{}>", level.max(t.min_level) as u8);
        }
        LogFormat::Priority => {
            let _ = write!(out, "<{}>", t.pri(level));
        }
        LogFormat::Raw => {}
        LogFormat::Iso => {
            iso(hdr.now, out);
            out.push(b' ');
        }
        LogFormat::Timed => {
            let _ = write!(out, "<{}>", level.max(t.min_level) as u8);
            iso(hdr.now, out);
            out.push(b' ');
        }
        LogFormat::Rfc5424 => {
            let _ = write!(out, "<{}>1 ", t.pri(level));
            iso(hdr.now, out);
            let host = hdr.hostname.unwrap_or("-");
            let sd = if hdr.sd.is_empty() { &b"-"[..] } else { hdr.sd };
            let _ = write!(out, " {host} {TAG} {} - ", hdr.pid);
            out.extend_from_slice(sd);
            out.push(b' ');
        }
    }
    // The newline always ends the line, even a cut one.
    let room = t.len.saturating_sub(out.len() - start + 1);
    out.extend_from_slice(&msg[..msg.len().min(room)]);
    out.push(b'\n');
}

/// `2026-12-05T21:28:15.674818+01:00`: local time, microseconds, offset.
pub fn iso(t: SystemTime, out: &mut Vec<u8>) {
    use std::io::Write;
    let (c, off) = clock::local_with_offset(t);
    let micros = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    let sign = if off < 0 { '-' } else { '+' };
    let m = off.unsigned_abs() / 60;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}{sign}{:02}:{:02}",
        c.year,
        c.month + 1,
        c.day,
        c.hour,
        c.min,
        c.sec,
        m / 60,
        m % 60
    );
}

/// `Mmm dd hh:mm:ss` for `t`, day padded with a space as syslog writes it.
pub fn stamp(t: SystemTime) -> [u8; 15] {
    let c = clock::local(t);
    let mut s = [b' '; 15];
    s[..3].copy_from_slice(MONTHS[c.month].as_bytes());
    let two = |v: u32, pad: u8| {
        [
            if v < 10 { pad } else { b'0' + (v / 10) as u8 },
            b'0' + (v % 10) as u8,
        ]
    };
    s[4..6].copy_from_slice(&two(c.day, b' '));
    s[7..9].copy_from_slice(&two(c.hour, b'0'));
    s[9] = b':';
    s[10..12].copy_from_slice(&two(c.min, b'0'));
    s[12] = b':';
    s[13..15].copy_from_slice(&two(c.sec, b'0'));
    s
}

/// Lines dropped so far (a full or absent log destination).
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A thread's handle on a file descriptor target.
#[derive(Debug)]
enum FdOut {
    /// A socket: `send(MSG_DONTWAIT)` never waits.
    Socket(RawFd),
    /// A regular file: writes never wait for a reader.
    File(RawFd),
    /// A pipe or terminal reopened non-blocking through `/proc/self/fd`, so
    /// the process's own descriptor keeps its flags.
    Reopened(OwnedFd),
    /// A pipe or terminal that could not be reopened: written only when
    /// poll(2) says it has room, so a reader that stopped is never waited for.
    Polled(RawFd),
}

impl FdOut {
    fn open(fd: RawFd) -> FdOut {
        // SAFETY: `st` is plain old data filled by fstat; fd is only inspected.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer for the call's duration.
        let kind = if unsafe { libc::fstat(fd, &mut st) } == 0 {
            st.st_mode & libc::S_IFMT
        } else {
            0
        };
        match kind {
            libc::S_IFSOCK => FdOut::Socket(fd),
            libc::S_IFREG => FdOut::File(fd),
            _ => {
                let path = format!("/proc/self/fd/{fd}\0");
                // SAFETY: a NUL-terminated path; the result is checked.
                let new = unsafe {
                    libc::open(
                        path.as_ptr().cast(),
                        libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
                    )
                };
                if new >= 0 {
                    // SAFETY: `new` was just opened and is owned by nobody else.
                    FdOut::Reopened(unsafe { OwnedFd::from_raw_fd(new) })
                } else {
                    FdOut::Polled(fd)
                }
            }
        }
    }

    fn write(&self, line: &[u8]) -> bool {
        // SAFETY: the buffer is valid for `line.len()` bytes; the fd is open.
        let n = unsafe {
            match self {
                FdOut::Socket(fd) => libc::send(
                    *fd,
                    line.as_ptr().cast(),
                    line.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                ),
                FdOut::File(fd) => libc::write(*fd, line.as_ptr().cast(), line.len()),
                FdOut::Reopened(fd) => {
                    libc::write(fd.as_raw_fd(), line.as_ptr().cast(), line.len())
                }
                FdOut::Polled(fd) => {
                    let mut p = libc::pollfd {
                        fd: *fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    if libc::poll(&mut p, 1, 0) == 1 && p.revents & libc::POLLOUT != 0 {
                        libc::write(*fd, line.as_ptr().cast(), line.len())
                    } else {
                        -1
                    }
                }
            }
        };
        n == line.len() as isize
    }
}

/// One thread's sockets and buffers, opened as targets need them.
struct Sender {
    pid: u32,
    udp4: Option<UdpSocket>,
    udp6: Option<UdpSocket>,
    unix: Option<UnixDatagram>,
    fds: Vec<(RawFd, FdOut)>,
    /// The framed line being sent.
    line: Vec<u8>,
    /// The header date and the second it was made for.
    stamp: (u64, [u8; 15]),
}

impl Sender {
    fn new() -> Sender {
        Sender {
            pid: std::process::id(),
            udp4: None,
            udp6: None,
            unix: None,
            fds: Vec::new(),
            line: Vec::with_capacity(DEFAULT_LEN),
            stamp: (u64::MAX, [b' '; 15]),
        }
    }

    fn udp(&mut self, v6: bool) -> Option<&UdpSocket> {
        let slot = if v6 { &mut self.udp6 } else { &mut self.udp4 };
        if slot.is_none() {
            let any = if v6 { "[::]:0" } else { "0.0.0.0:0" };
            let s = UdpSocket::bind(any).ok()?;
            s.set_nonblocking(true).ok()?;
            *slot = Some(s);
        }
        slot.as_ref()
    }

    fn unix(&mut self) -> Option<&UnixDatagram> {
        if self.unix.is_none() {
            let s = UnixDatagram::unbound().ok()?;
            s.set_nonblocking(true).ok()?;
            self.unix = Some(s);
        }
        self.unix.as_ref()
    }

    fn fd(&mut self, fd: RawFd) -> &FdOut {
        let i = match self.fds.iter().position(|(f, _)| *f == fd) {
            Some(i) => i,
            None => {
                self.fds.push((fd, FdOut::open(fd)));
                self.fds.len() - 1
            }
        };
        &self.fds[i].1
    }

    /// Sends `self.line` to `dest`; false when it did not leave whole at once.
    fn deliver(&mut self, dest: &Dest) -> bool {
        let line = std::mem::take(&mut self.line);
        let ok = match dest {
            Dest::Udp(sa) => self
                .udp(sa.is_ipv6())
                .is_some_and(|s| sent(s.send_to(&line, sa), line.len())),
            Dest::Unix(path) => self
                .unix()
                .is_some_and(|s| sent(s.send_to(&line, path), line.len())),
            Dest::Fd(fd) => self.fd(*fd).write(&line),
        };
        self.line = line;
        ok
    }

    /// The header date for now, made once per second.
    fn stamp(&mut self) -> [u8; 15] {
        let now = SystemTime::now();
        let sec = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if self.stamp.0 != sec {
            self.stamp = (sec, stamp(now));
        }
        self.stamp.1
    }
}

/// Whether a datagram left whole. Errors (would block, no buffer space,
/// nobody listening on a local socket) all mean the line is lost.
fn sent(r: std::io::Result<usize>, want: usize) -> bool {
    matches!(r, Ok(n) if n == want)
}

thread_local! {
    static SENDER: RefCell<Option<Sender>> = const { RefCell::new(None) };
}

/// Frames `msg` for every target that takes `level` and sends it from this
/// thread's sockets. Lines that cannot leave at once are dropped and counted.
pub fn send(targets: &[Target], hostname: Option<&str>, level: Level, msg: &[u8]) {
    send_sd(targets, hostname, level, msg, b"");
}

/// [`send`] with `log-format-sd`'s structured data for RFC 5424 targets.
pub fn send_sd(targets: &[Target], hostname: Option<&str>, level: Level, msg: &[u8], sd: &[u8]) {
    SENDER.with(|cell| {
        let Ok(mut guard) = cell.try_borrow_mut() else {
            // Only reachable if sending re-entered itself; never wait or panic.
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let s = guard.get_or_insert_with(Sender::new);
        let stamp = s.stamp();
        let now = SystemTime::now();
        // The level first, then the sample's count, as HAProxy.
        let takes =
            |t: &&Target| level <= t.max_level && t.sample.as_ref().is_none_or(|s| s.take());
        for t in targets.iter().filter(takes) {
            let hdr = Header {
                stamp: &stamp,
                hostname,
                pid: s.pid,
                now,
                sd,
            };
            let mut line = std::mem::take(&mut s.line);
            line.clear();
            frame(&mut line, t, level, &hdr, msg);
            s.line = line;
            if !s.deliver(&t.dest) {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(format: LogFormat) -> Target {
        Target {
            dest: Dest::Fd(1),
            facility: 16,
            max_level: Level::Debug,
            min_level: Level::Emerg,
            len: DEFAULT_LEN,
            format,
            sample: None,
        }
    }

    fn framed(t: &Target, level: Level, host: Option<&str>, msg: &str) -> String {
        let mut out = Vec::new();
        let hdr = Header {
            stamp: b"Nov  5 01:02:03",
            hostname: host,
            pid: 4242,
            now: UNIX_EPOCH + std::time::Duration::from_micros(1_795_570_512_345_678),
            sd: b"",
        };
        frame(&mut out, t, level, &hdr, msg.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rfc3164_header_as_haproxy_sends_it() {
        let t = target(LogFormat::Rfc3164);
        assert_eq!(
            framed(&t, Level::Info, None, "hello"),
            "<134>Nov  5 01:02:03 ringlb[4242]: hello\n"
        );
        assert_eq!(
            framed(&t, Level::Alert, Some("lb1"), "Server a/b is DOWN"),
            "<129>Nov  5 01:02:03 lb1 ringlb[4242]: Server a/b is DOWN\n"
        );
    }

    #[test]
    fn short_and_raw_formats() {
        assert_eq!(
            framed(&target(LogFormat::Short), Level::Notice, None, "x"),
            "<5>x\n",
            "HAProxy 2.6's short: the level alone"
        );
        assert_eq!(
            framed(&target(LogFormat::Priority), Level::Notice, None, "x"),
            "<133>x\n"
        );
        assert_eq!(
            framed(&target(LogFormat::Raw), Level::Notice, Some("h"), "x"),
            "x\n"
        );
    }

    /// `sample 1,3-4:5` takes lines 1, 3, 4, 6, 8, 9, ...; `sample 2:3`
    /// lines 2, 5, 8.
    #[test]
    fn sampling_counts_lines_as_haproxy() {
        let s = Sampler::new(vec![(1, 1), (3, 4)], 5);
        let took: Vec<u32> = (1..=10).filter(|_| s.take()).collect();
        assert_eq!(took, [1, 3, 4, 6, 8, 9]);
        let s = Sampler::new(vec![(2, 2)], 3);
        let took: Vec<u32> = (1..=9).filter(|_| s.take()).collect();
        assert_eq!(took, [2, 5, 8]);
    }

    #[test]
    fn minlevel_raises_the_priority_number() {
        let t = Target {
            min_level: Level::Notice,
            ..target(LogFormat::Short)
        };
        // An alert is sent as a notice; an info stays an info.
        assert_eq!(t.pri(Level::Alert), 16 * 8 + 5);
        assert_eq!(t.pri(Level::Info), 16 * 8 + 6);
    }

    #[test]
    fn lines_are_cut_to_len_with_their_newline() {
        let t = Target {
            len: 80,
            ..target(LogFormat::Rfc3164)
        };
        let line = framed(&t, Level::Info, None, &"x".repeat(500));
        assert_eq!(line.len(), 80);
        assert!(line.ends_with("xx\n"));
    }

    #[test]
    fn header_date_pads_the_day_with_a_space() {
        // 2026-11-05 01:02:03 UTC, shifted by the local offset: check the shape.
        let s = stamp(UNIX_EPOCH + std::time::Duration::from_secs(1_793_840_523));
        let s = std::str::from_utf8(&s).unwrap();
        assert_eq!(s.len(), 15);
        assert!(MONTHS.contains(&&s[..3]), "{s}");
        assert_eq!(&s[3..4], " ");
        assert_eq!((&s[9..10], &s[12..13]), (":", ":"), "{s}");
    }

    #[test]
    fn targets_from_the_model() {
        let t = Target::from_model(&LogTarget::Syslog {
            address: "127.0.0.1:514".into(),
            len: None,
            format: LogFormat::Rfc3164,
            facility: "local1".into(),
            level: Some("notice".into()),
            minlevel: None,
        })
        .unwrap();
        assert_eq!(t.dest, Dest::Udp("127.0.0.1:514".parse().unwrap()));
        assert_eq!((t.facility, t.max_level, t.len), (17, Level::Notice, 1024));
        let t = Target::from_model(&LogTarget::Syslog {
            address: "unix@/dev/log".into(),
            len: Some(4096),
            format: LogFormat::Raw,
            facility: "daemon".into(),
            level: None,
            minlevel: None,
        })
        .unwrap();
        assert_eq!(t.dest, Dest::Unix("/dev/log".into()));
        assert_eq!(t.facility, 3);
        assert!(Target::from_model(&LogTarget::Global).is_none());
    }

    #[test]
    fn a_closed_port_or_missing_socket_drops_without_blocking() {
        let t = Target {
            dest: Dest::Unix("/nonexistent/ringlb-log.sock".into()),
            ..target(LogFormat::Rfc3164)
        };
        let before = dropped();
        send(&[t], None, Level::Info, b"lost");
        assert!(dropped() > before);
    }
}
