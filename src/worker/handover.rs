//! Listening sockets passed from one process to another, so that a reload
//! never closes a socket with connections waiting in its queue: a master
//! hands its sockets to each new worker process (inherited across `exec`),
//! and a new process takes an old one's with `-x` (over the stats socket,
//! `expose-fd listeners`).
//!
//! A socket is named by the frontend, the bind address and the worker that
//! uses it ([`SocketKey`]); a new configuration takes the sockets whose names
//! it still has and binds the rest.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Environment variable a master uses to list the sockets a worker inherits.
pub const ENV_LISTENERS: &str = "RINGLB_LISTENERS";

/// Which listening socket this is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SocketKey {
    /// The frontend's (or listen section's) name.
    pub frontend: String,
    /// The bind address as written in canonical form (`127.0.0.1:80`, `unix@/p`).
    pub address: String,
    /// The worker (thread) it belongs to.
    pub worker: usize,
}

/// Sockets received from another process, waiting to be taken by a bind.
#[derive(Debug, Default)]
pub struct Inherited {
    sockets: HashMap<SocketKey, OwnedFd>,
}

/// Set when another process may accept on this process's listening sockets
/// (a master holds them, or a newer process took them with `-x`): a soft stop
/// must then leave them as they are instead of refusing SYNs on them.
static SHARED: AtomicBool = AtomicBool::new(false);

/// Whether this process's listening sockets are shared (see [`SHARED`]).
pub fn shared() -> bool {
    SHARED.load(Ordering::Relaxed)
}

/// Marks this process's listening sockets as shared with another process.
pub fn mark_shared() {
    SHARED.store(true, Ordering::Relaxed);
}

/// This process's listening sockets, duplicated, for `-x` (filled only when
/// a stats socket has `expose-fd listeners`).
static EXPORTABLE: Mutex<Vec<(SocketKey, OwnedFd)>> = Mutex::new(Vec::new());

/// Keeps duplicates of these sockets for a later `_getsocks`.
pub fn register_exportable(sockets: Vec<(SocketKey, OwnedFd)>) {
    if let Ok(mut e) = EXPORTABLE.lock() {
        e.extend(sockets);
    }
}

/// The inventory text and fds to send for `_getsocks`; marks the sockets
/// shared, since the asking process will accept on them.
pub fn export() -> (String, Vec<RawFd>) {
    let Ok(e) = EXPORTABLE.lock() else {
        return (String::new(), Vec::new());
    };
    if !e.is_empty() {
        mark_shared();
    }
    let text = encode(e.iter().map(|(k, fd)| (k, fd.as_raw_fd())));
    (text, e.iter().map(|(_, fd)| fd.as_raw_fd()).collect())
}

/// One line per socket: `fd<TAB>worker<TAB>frontend<TAB>address`.
pub fn encode<'a>(sockets: impl Iterator<Item = (&'a SocketKey, RawFd)>) -> String {
    let mut s = String::new();
    for (k, fd) in sockets {
        s += &format!("{fd}\t{}\t{}\t{}\n", k.worker, k.frontend, k.address);
    }
    s
}

/// Parses [`encode`]'s text; `fd_of` maps each line's fd number to the fd
/// this process holds (the same number when inherited across exec).
fn decode(
    text: &str,
    mut fd_of: impl FnMut(RawFd) -> Option<RawFd>,
    own_rejects: bool,
) -> Inherited {
    let mut sockets = HashMap::new();
    for line in text.lines() {
        let mut w = line.splitn(4, '\t');
        let (Some(fd), Some(worker), Some(frontend), Some(address)) =
            (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        let (Ok(fd), Ok(worker)) = (fd.parse::<RawFd>(), worker.parse::<usize>()) else {
            continue;
        };
        let Some(fd) = fd_of(fd) else { continue };
        if !is_listening_socket(fd) {
            if own_rejects {
                // SAFETY: received for this process alone; nothing else holds it.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            continue;
        }
        let key = SocketKey {
            frontend: frontend.to_string(),
            address: address.to_string(),
            worker,
        };
        // SAFETY: `fd` is an open listening socket handed to this process for
        // this purpose (checked just above); nothing else here owns it.
        sockets.insert(key, unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Inherited { sockets }
}

/// Whether `fd` is an open socket in the listening state.
fn is_listening_socket(fd: RawFd) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given; a bad
    // fd only makes the call fail.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&raw mut v).cast(),
            &mut len,
        )
    };
    rc == 0 && v == 1
}

impl Inherited {
    /// The sockets a master passed in [`ENV_LISTENERS`], if any; the
    /// variable is removed so that nothing this process starts sees it.
    pub fn from_env() -> Option<Inherited> {
        let text = std::env::var(ENV_LISTENERS).ok()?;
        // SAFETY: called in main before any other thread exists.
        unsafe { std::env::remove_var(ENV_LISTENERS) };
        // An fd number that is not a listening socket is left alone: it may
        // be anything this process was started with.
        Some(decode(&text, Some, false))
    }

    /// Sockets received from `_getsocks`: `fds[i]` is the i-th line's socket.
    pub fn from_received(text: &str, fds: Vec<OwnedFd>) -> Inherited {
        let mut by_line: Vec<Option<OwnedFd>> = fds.into_iter().map(Some).collect();
        let mut line = 0;
        decode(
            text,
            |_| {
                let fd = by_line.get_mut(line).and_then(Option::take);
                line += 1;
                fd.map(|f| {
                    let raw = f.as_raw_fd();
                    std::mem::forget(f);
                    raw
                })
            },
            true,
        )
    }

    /// Sockets this process already holds, to be taken again by name.
    pub fn from_sockets(sockets: HashMap<SocketKey, OwnedFd>) -> Inherited {
        Inherited { sockets }
    }

    /// Takes the socket of this name, if it was handed over.
    pub fn take(&mut self, key: &SocketKey) -> Option<OwnedFd> {
        self.sockets.remove(key)
    }

    /// How many sockets are left untaken.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Whether every socket was taken (or none came).
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

/// The command a new process sends on the old one's stats socket (`-x`).
pub const GETSOCKS: &str = "_getsocks";
/// At most this many fds go in one message (the kernel's limit is 253).
const FDS_PER_MESSAGE: usize = 200;

/// Answers `_getsocks` on a connected Unix socket: a header line
/// (`RINGLB-SOCKS <fds> <text bytes>`), the inventory text, then the fds in
/// messages of one byte each carrying up to [`FDS_PER_MESSAGE`] of them.
pub fn send_sockets(conn: RawFd) -> std::io::Result<()> {
    let (text, fds) = export();
    let head = format!("RINGLB-SOCKS {} {}\n{text}", fds.len(), text.len());
    write_all_fd(conn, head.as_bytes())?;
    for batch in fds.chunks(FDS_PER_MESSAGE) {
        send_fds(conn, batch)?;
    }
    Ok(())
}

fn write_all_fd(fd: RawFd, mut b: &[u8]) -> std::io::Result<()> {
    while !b.is_empty() {
        // SAFETY: `b` is a valid buffer of `b.len()` bytes for the call.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        b = &b[n as usize..];
    }
    Ok(())
}

/// Room for a control message carrying [`FDS_PER_MESSAGE`] fds.
const CMSG_ROOM: usize = 1024;

fn send_fds(conn: RawFd, fds: &[RawFd]) -> std::io::Result<()> {
    let mut byte = [b'F'];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u64; CMSG_ROOM / 8];
    let data_len = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(data_len as u32) } as usize;
    // SAFETY: an all-zero msghdr is valid; every pointer set below points at
    // a local that outlives the sendmsg call, and `control` (8-byte aligned)
    // has room for `space` bytes (200 fds take 824).
    let rc = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(data_len as u32) as usize;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        libc::sendmsg(conn, &msg, 0)
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Receives one message's fds (appended to `out`).
fn recv_fds(conn: RawFd, out: &mut Vec<OwnedFd>) -> std::io::Result<()> {
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u64; CMSG_ROOM / 8];
    // SAFETY: as in `send_fds`; the kernel writes at most `msg_controllen`
    // bytes of control data, and the fds it reports are new in this process
    // (MSG_CMSG_CLOEXEC), owned by nothing else.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_ROOM;
        let n = libc::recvmsg(conn, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the old process closed before sending every socket",
            ));
        }
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let len = (*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize;
                let count = len / std::mem::size_of::<RawFd>();
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..count {
                    out.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(())
}

/// `-x <socket>`: asks the process behind this stats socket for its
/// listening sockets (it needs `expose-fd listeners` there).
pub fn fetch(path: &std::path::Path) -> std::io::Result<Inherited> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    s.write_all(format!("{GETSOCKS}\n").as_bytes())?;
    // Read exactly what precedes the fds' messages, never more: a plain read
    // of one of those bytes would drop (close) the fds it carries.
    let mut head = String::new();
    let mut b = [0u8];
    while b[0] != b'\n' && head.len() < 128 {
        s.read_exact(&mut b)?;
        head.push(b[0] as char);
    }
    let bad = || std::io::Error::other(format!("unexpected answer to {GETSOCKS}: {}", head.trim()));
    let mut w = head.split_whitespace();
    let (Some("RINGLB-SOCKS"), Some(n), Some(len)) = (w.next(), w.next(), w.next()) else {
        return Err(bad());
    };
    let (Ok(n), Ok(len)) = (n.parse::<usize>(), len.parse::<usize>()) else {
        return Err(bad());
    };
    let mut text = vec![0u8; len];
    s.read_exact(&mut text)?;
    let mut fds = Vec::with_capacity(n);
    while fds.len() < n {
        recv_fds(s.as_raw_fd(), &mut fds)?;
    }
    Ok(Inherited::from_received(
        &String::from_utf8_lossy(&text),
        fds,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn received_sockets_are_found_by_name() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let ka = SocketKey {
            frontend: "fe:1".into(),
            address: a.local_addr().unwrap().to_string(),
            worker: 0,
        };
        let kb = SocketKey {
            worker: 1,
            ..ka.clone()
        };
        let text = encode([(&ka, a.as_raw_fd()), (&kb, b.as_raw_fd())].into_iter());
        let (pa, pb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut inh = Inherited::from_received(&text, vec![OwnedFd::from(a), OwnedFd::from(b)]);
        assert_eq!(inh.len(), 2);
        let got = TcpListener::from(inh.take(&kb).unwrap());
        assert_eq!(got.local_addr().unwrap(), pb);
        let got = TcpListener::from(inh.take(&ka).unwrap());
        assert_eq!(got.local_addr().unwrap(), pa);
        assert!(inh.is_empty());
    }

    #[test]
    fn fds_cross_a_unix_socket() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let ls: Vec<TcpListener> = (0..250)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let raw: Vec<RawFd> = ls.iter().map(AsRawFd::as_raw_fd).collect();
        let sender = std::thread::spawn(move || {
            for batch in raw.chunks(FDS_PER_MESSAGE) {
                send_fds(a.as_raw_fd(), batch).unwrap();
            }
            a
        });
        let mut got = Vec::new();
        while got.len() < ls.len() {
            recv_fds(b.as_raw_fd(), &mut got).unwrap();
        }
        sender.join().unwrap();
        for (l, fd) in ls.iter().zip(got) {
            let g = TcpListener::from(fd);
            assert_eq!(g.local_addr().unwrap(), l.local_addr().unwrap());
        }
    }

    #[test]
    fn a_socket_that_is_not_listening_is_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let k = SocketKey {
            frontend: "f".into(),
            address: "x".into(),
            worker: 0,
        };
        let text = encode([(&k, c.as_raw_fd())].into_iter());
        let inh = Inherited::from_received(&text, vec![OwnedFd::from(c)]);
        assert!(inh.is_empty());
    }
}
