//! Listening sockets, created before the workers start.
//!
//! Each worker gets its own SO_REUSEPORT socket for every `ip:port` bind, so
//! the kernel spreads new connections across workers without a shared accept
//! queue. `unix@` and `fd@` addresses are one socket, duplicated per worker.
//! Binding happens in the main thread, before privileges are dropped and
//! before daemonizing, so bind errors reach the operator's terminal.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

use socket2::{Domain, Socket, Type};

use super::handover::{Inherited, SocketKey};
use super::limit::ListenerMax;
use crate::config::model::{Address, Bind, BindOpts, Config};

/// Kernel accept backlog per listening socket.
const BACKLOG: i32 = 4096;

/// A listening socket handed to one worker.
#[derive(Debug)]
pub enum Listener {
    /// TCP, IPv4 or IPv6.
    Tcp(std::net::TcpListener),
    /// Unix stream socket.
    Unix(UnixListener),
}

impl From<Listener> for OwnedFd {
    fn from(l: Listener) -> OwnedFd {
        match l {
            Listener::Tcp(t) => t.into(),
            Listener::Unix(u) => u.into(),
        }
    }
}

/// A listener together with the frontend it feeds.
#[derive(Debug)]
pub struct BoundListener {
    /// Index of the frontend in the runtime.
    pub frontend: usize,
    /// Its name among the process's sockets, for handing it to another process.
    pub key: SocketKey,
    /// The socket.
    pub listener: Listener,
    /// `bind ... maxconn`: its counter in the process's limits, the same
    /// for every worker's copy of this socket; `None` costs nothing.
    pub maxconn: Option<ListenerMax>,
    /// `bind ... accept-proxy`: read a PROXY header before anything else.
    pub accept_proxy: bool,
    /// `bind ... ssl`: its TLS settings (the handshake asks them per ClientHello).
    pub tls: Option<std::sync::Arc<crate::tls::bind::BindTls>>,
    /// Its name in HAProxy's connection-error log lines: `name`, else its
    /// `id`, else its position in the frontend (from 1).
    pub label: String,
}

/// Why a bind failed, naming the address and where it was configured.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The socket call failed.
    #[error("{origin}: cannot bind {what} for proxy '{proxy}': {source}")]
    Io {
        /// file:line of the bind.
        origin: String,
        /// The address as text.
        what: String,
        /// Proxy name.
        proxy: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Seconds for TCP_DEFER_ACCEPT, as HAProxy sets it: the kernel turns them
/// into one SYN-ACK resend, after which a silent client is accepted anyway.
const DEFER_ACCEPT_SECS: libc::c_int = 1;

/// `defer-accept`: the kernel completes the accept only once the request's
/// first bytes are there, so the first read never waits and a close-heavy
/// load wakes the worker once per connection instead of twice.
fn set_defer_accept(sock: &Socket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the value lives across the call and its size is passed; the fd
    // is the socket `sock` owns, open for the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&DEFER_ACCEPT_SECS as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets an integer socket option.
fn set_int(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the value lives across the call and its size is passed; the fd
    // is the socket `sock` owns, open for the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Rewords a permission error on `option` to name the privilege it needs.
fn needs(e: std::io::Error, option: &str, privilege: &str) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        std::io::Error::new(
            e.kind(),
            format!("bind option '{option}' needs {privilege} (run as root or grant it): {e}"),
        )
    } else {
        std::io::Error::new(e.kind(), format!("bind option '{option}': {e}"))
    }
}

/// Applies the `bind` line's socket options before bind/listen.
fn apply_opts(sock: &Socket, sa: SocketAddr, o: &BindOpts) -> std::io::Result<()> {
    if sa.is_ipv6() {
        // HAProxy leaves the system default unless told; ringlb's default
        // has always been dual-stack.
        sock.set_only_v6(o.v6only.unwrap_or(false))?;
    }
    if let Some(mss) = o.mss {
        let mss = libc::c_int::try_from(mss).unwrap_or(libc::c_int::MAX);
        set_int(sock, libc::IPPROTO_TCP, libc::TCP_MAXSEG, mss)
            .map_err(|e| needs(e, "mss", "a valid segment size"))?;
    }
    if let Some(dev) = &o.interface {
        sock.bind_device(Some(dev.as_bytes()))
            .map_err(|e| needs(e, "interface", "CAP_NET_RAW"))?;
    }
    if o.transparent {
        let (level, name) = match sa {
            SocketAddr::V4(_) => (libc::SOL_IP, libc::IP_TRANSPARENT),
            SocketAddr::V6(_) => (libc::SOL_IPV6, libc::IPV6_TRANSPARENT),
        };
        set_int(sock, level, name, 1).map_err(|e| needs(e, "transparent", "CAP_NET_ADMIN"))?;
    }
    Ok(())
}

fn tcp_socket(sa: SocketAddr, bind: &Bind) -> std::io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(sa), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    apply_opts(&sock, sa, &bind.opts)?;
    sock.set_nonblocking(true)?;
    // Accepted sockets inherit it: responses are written whole, Nagle would
    // only delay them.
    sock.set_tcp_nodelay(true)?;
    if bind.defer_accept {
        set_defer_accept(&sock)?;
    }
    sock.bind(&sa.into())?;
    let backlog = bind
        .opts
        .backlog
        .map_or(BACKLOG, |b| i32::try_from(b).unwrap_or(i32::MAX));
    if bind.opts.tfo {
        // The queue of pending Fast Open requests, as long as the accept
        // queue (HAProxy uses the listener's backlog too).
        set_int(&sock, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, backlog)
            .map_err(|e| needs(e, "tfo", "TCP Fast Open support"))?;
    }
    sock.listen(backlog)?;
    Ok(sock.into())
}

fn from_inherited_fd(fd: i32, defer_accept: bool) -> std::io::Result<Listener> {
    // Refuse fds that are not sockets before taking ownership of them.
    let sock_type = {
        let mut ty: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `ty` and `len` are valid for writes of the sizes given; a bad fd
        // only makes the call fail with EBADF/ENOTSOCK.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                (&mut ty as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        ty
    };
    if sock_type != libc::SOCK_STREAM {
        return Err(std::io::Error::other(format!(
            "fd {fd} is not a stream socket"
        )));
    }
    // SAFETY: the fd was handed to us by the parent for this purpose, is an open
    // stream socket (checked above), and nothing else in the process owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let sock = Socket::from(owned);
    sock.set_nonblocking(true)?;
    let is_unix = sock
        .local_addr()
        .map(|a| a.as_pathname().is_some() || a.domain() == Domain::UNIX)
        .unwrap_or(false);
    Ok(if is_unix {
        Listener::Unix(UnixListener::from(OwnedFd::from(sock)))
    } else {
        // As for our own listeners; best effort on a socket we did not make.
        let _ = sock.set_tcp_nodelay(true);
        if defer_accept {
            set_defer_accept(&sock)?;
        }
        Listener::Tcp(sock.into())
    })
}

fn dup(l: &Listener) -> std::io::Result<Listener> {
    Ok(match l {
        Listener::Tcp(t) => Listener::Tcp(t.try_clone()?),
        Listener::Unix(u) => Listener::Unix(u.try_clone()?),
    })
}

/// The canonical text of a bind address, part of a socket's [`SocketKey`].
pub fn address_key(a: &Address) -> String {
    match a {
        Address::Inet(sa) => sa.to_string(),
        Address::Unix(p) => format!("unix@{}", p.display()),
        Address::Abstract(n) => format!("abns@{n}"),
        Address::Fd(n) => format!("fd@{n}"),
    }
}

/// Binds every frontend's addresses, taking from `inherited` the sockets
/// another process handed over under the same name; returns one list per
/// worker.
pub fn bind_all(
    config: &Config,
    workers: usize,
    inherited: &mut Inherited,
) -> Result<Vec<Vec<BoundListener>>, BindError> {
    let mut per_worker: Vec<Vec<BoundListener>> = (0..workers).map(|_| Vec::new()).collect();
    let mut limited = 0u32;
    for (fi, fe) in config.frontends.iter().enumerate() {
        for (bi, bind) in fe.binds.iter().enumerate() {
            let label = bind
                .opts
                .name
                .clone()
                .unwrap_or_else(|| bind.opts.id.map_or(bi + 1, |id| id as usize).to_string());
            // Each socket of a line (each address, each port of a range) is
            // its own listener with its own limit, as in HAProxy.
            let maxconn = bind.opts.maxconn.map(|max| {
                limited += 1;
                ListenerMax {
                    index: limited - 1,
                    max: max as usize,
                }
            });
            let err = |source: std::io::Error| BindError::Io {
                origin: bind.origin.to_string(),
                what: format!("{:?}", bind.address),
                proxy: fe.name.clone(),
                source,
            };
            let key = |worker| SocketKey {
                frontend: fe.name.clone(),
                address: address_key(&bind.address),
                worker,
            };
            match &bind.address {
                Address::Inet(sa) => {
                    for (wi, w) in per_worker.iter_mut().enumerate() {
                        let listener = match inherited.take(&key(wi)) {
                            Some(fd) => Listener::Tcp(fd.into()),
                            None => Listener::Tcp(tcp_socket(*sa, bind).map_err(err)?),
                        };
                        // Accepted connections inherit SO_KEEPALIVE (`option
                        // clitcpka`); set on inherited sockets too, whose old
                        // process may have had another configuration.
                        if let Listener::Tcp(l) = &listener {
                            socket2::SockRef::from(l)
                                .set_keepalive(bind.keepalive)
                                .map_err(err)?;
                            // `option nolinger`: inherited the same way, as
                            // HAProxy sets it on its listeners.
                            let linger = fe.nolinger.then_some(std::time::Duration::ZERO);
                            socket2::SockRef::from(l).set_linger(linger).map_err(err)?;
                        }
                        w.push(BoundListener {
                            frontend: fi,
                            key: key(wi),
                            listener,
                            maxconn,
                            accept_proxy: bind.opts.accept_proxy,
                            tls: bind.opts.ssl.clone(),
                            label: label.clone(),
                        });
                    }
                }
                Address::Unix(_) | Address::Abstract(_) => {
                    let first = match (inherited.take(&key(0)), &bind.address) {
                        (Some(fd), _) => Listener::Unix(fd.into()),
                        (None, Address::Unix(path)) => {
                            Listener::Unix(unix_socket(path).map_err(err)?)
                        }
                        (None, Address::Abstract(name)) => {
                            Listener::Unix(abstract_socket(name).map_err(err)?)
                        }
                        (None, _) => unreachable!("matched as a Unix address"),
                    };
                    for (wi, w) in per_worker.iter_mut().enumerate() {
                        w.push(BoundListener {
                            frontend: fi,
                            key: key(wi),
                            listener: dup(&first).map_err(err)?,
                            maxconn,
                            accept_proxy: bind.opts.accept_proxy,
                            tls: bind.opts.ssl.clone(),
                            label: label.clone(),
                        });
                    }
                }
                Address::Fd(fd) => {
                    let first = match inherited.take(&key(0)) {
                        Some(fd) => inherited_fd(fd, bind.defer_accept),
                        None => from_inherited_fd(*fd, bind.defer_accept),
                    }
                    .map_err(err)?;
                    for (wi, w) in per_worker.iter_mut().enumerate() {
                        w.push(BoundListener {
                            frontend: fi,
                            key: key(wi),
                            listener: dup(&first).map_err(err)?,
                            maxconn,
                            accept_proxy: bind.opts.accept_proxy,
                            tls: bind.opts.ssl.clone(),
                            label: label.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(per_worker)
}

/// Duplicates of every listener with its name, kept for `_getsocks`.
pub fn duplicates(lists: &[Vec<BoundListener>]) -> std::io::Result<Vec<(SocketKey, OwnedFd)>> {
    use std::os::fd::AsFd;
    let mut out = Vec::new();
    for bl in lists.iter().flatten() {
        let fd = match &bl.listener {
            Listener::Tcp(t) => t.as_fd().try_clone_to_owned()?,
            Listener::Unix(u) => u.as_fd().try_clone_to_owned()?,
        };
        out.push((bl.key.clone(), fd));
    }
    Ok(out)
}

/// A Unix listening socket at `path`, replacing a stale socket file.
fn unix_socket(path: &std::path::Path) -> std::io::Result<UnixListener> {
    // A stale socket file from a previous run would make bind fail.
    if std::fs::symlink_metadata(path)
        .map(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        })
        .unwrap_or(false)
    {
        let _ = std::fs::remove_file(path);
    }
    let l = UnixListener::bind(path)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// A listening socket in the abstract namespace (`abns@<name>`).
pub fn abstract_socket(name: &str) -> std::io::Result<UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let l = UnixListener::bind_addr(&addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// A socket that came as `fd@N` to a previous process and was handed over.
fn inherited_fd(fd: OwnedFd, defer_accept: bool) -> std::io::Result<Listener> {
    use std::os::fd::IntoRawFd;
    from_inherited_fd(fd.into_raw_fd(), defer_accept)
}

/// Whether the kernel hands the connections queued on a closing listener to
/// another listener of the same `SO_REUSEPORT` group
/// (`net.ipv4.tcp_migrate_req = 1`, Linux 5.14+), read once.
pub fn kernel_migrates() -> bool {
    static MIGRATES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MIGRATES.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req").is_ok_and(|v| v.trim() == "1")
    })
}

/// Makes a TCP listening socket drop the SYNs that would open new
/// connections (a socket filter on the TCP flags; handshakes already under
/// way complete). Used before a listener closes at soft stop: a SYN dropped
/// here is sent again by the client a second later and reaches whoever still
/// listens (the new process, on a reload), where a SYN queued on a socket
/// about to close would end in a reset. On a Unix socket it does nothing.
pub fn refuse_new_connections(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    // ldb [13]           TCP flags (the filter sees the TCP header first)
    // and #0x12          SYN | ACK
    // jeq #0x02, drop    a bare SYN
    // ret #-1            anything else passes whole
    // drop: ret #0
    let code = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 13,
        },
        libc::sock_filter {
            code: (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0x12,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 1,
            jf: 0,
            k: 0x02,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: u32::MAX,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let prog = libc::sock_fprog {
        len: code.len() as u16,
        filter: code.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `code`, both alive for the call; the kernel
    // copies the program.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const prog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod filter_tests {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    #[test]
    fn a_filtered_listener_takes_no_new_connection() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let before = TcpStream::connect_timeout(&addr, Duration::from_millis(500));
        assert!(before.is_ok());
        super::refuse_new_connections(l.as_raw_fd()).unwrap();
        let after = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
        assert!(after.is_err(), "connected through the filter");
        // The connection made before is still in the queue.
        assert!(l.accept().is_ok());
    }
}
