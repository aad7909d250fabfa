//! Opening a connection to a server, bounded by `timeout connect`.

use std::time::Duration;

use monoio::net::{TcpStream, UnixStream};

use crate::config::model::Address;
use crate::stream::Stream;

/// Why a connection to a server could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `timeout connect` expired.
    #[error("connect timeout after {0:?}")]
    Timeout(Duration),
    /// The server refused or the network failed.
    #[error("connect failed: {0}")]
    Io(#[from] std::io::Error),
    /// The address kind cannot be connected to (an inherited fd).
    #[error("address {0:?} cannot be used for a server")]
    Unsupported(Address),
    /// A server without a port (or with a relative one) and no usable
    /// destination port on the client's connection.
    #[error("no port to connect to: the client's destination port is {0:?}")]
    NoPort(Option<u16>),
    /// `ssl`: the TLS handshake with the server failed (a connection
    /// failure, as HAProxy counts it: retried, then 503).
    #[error("{0}")]
    Handshake(std::io::Error),
}

/// The address to connect to: `address` itself, or for a server written
/// without a port or with `+<n>`/`-<n>` (`port_offset`), the client's
/// destination port `dst_port` plus the offset, as HAProxy does.
pub fn target(
    address: &Address,
    port_offset: Option<i32>,
    dst_port: Option<u16>,
) -> Result<Address, ConnectError> {
    let (Some(offset), Address::Inet(sa)) = (port_offset, address) else {
        return Ok(address.clone());
    };
    let port = dst_port
        .and_then(|p| u16::try_from(i32::from(p) + offset).ok())
        .filter(|p| *p != 0)
        .ok_or(ConnectError::NoPort(dst_port))?;
    let mut sa = *sa;
    sa.set_port(port);
    Ok(Address::Inet(sa))
}

/// Connects to `address` within `timeout`; `keepalive` turns TCP
/// keep-alive on (`option srvtcpka`).
pub async fn connect(
    address: &Address,
    timeout: Duration,
    keepalive: bool,
) -> Result<Stream, ConnectError> {
    connect_from(address, timeout, keepalive, None).await
}

/// [`connect`], from the local address `source` when given (`source`
/// keyword, proxy or server).
pub async fn connect_from(
    address: &Address,
    timeout: Duration,
    keepalive: bool,
    source: Option<std::net::SocketAddr>,
) -> Result<Stream, ConnectError> {
    let fut = async {
        match address {
            Address::Inet(sa) => {
                let s = match source {
                    None => TcpStream::connect_addr(*sa).await?,
                    Some(from) => connect_bound(*sa, from).await?,
                };
                // Requests and responses are written whole; Nagle would only delay them.
                let _ = s.set_nodelay(true);
                if keepalive {
                    use std::os::fd::{AsRawFd, BorrowedFd};
                    // SAFETY: the fd is the connected socket `s` owns, open
                    // for the whole call.
                    let fd = unsafe { BorrowedFd::borrow_raw(s.as_raw_fd()) };
                    let _ = socket2::SockRef::from(&fd).set_keepalive(true);
                }
                Ok(Stream::Tcp(s))
            }
            Address::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
            Address::Abstract(name) => Ok(Stream::Unix(connect_abstract(name)?)),
            Address::Fd(_) => Err(ConnectError::Unsupported(address.clone())),
        }
    };
    match crate::deadline::within(monoio::time::Instant::now() + timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout(timeout)),
    }
}

/// Connects to an abstract Unix socket. A Unix connect completes or fails
/// at once (no handshake to wait for), so the blocking call does not stall
/// the worker.
fn connect_abstract(name: &str) -> std::io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    s.set_nonblocking(true)?;
    UnixStream::from_std(s)
}

/// Connects to `to` from the local address `from`: the socket is bound
/// first (with IP_BIND_ADDRESS_NO_PORT when no port is given, so that the
/// port is picked with the destination known, as HAProxy does), then
/// connected without blocking and handed to the runtime to wait on.
async fn connect_bound(
    to: std::net::SocketAddr,
    from: std::net::SocketAddr,
) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    use std::os::fd::AsRawFd;
    if from.is_ipv4() != to.is_ipv4() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("source {from} and server {to} are not of the same address family"),
        ));
    }
    let sock = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
    sock.set_cloexec(true)?;
    sock.set_nonblocking(true)?;
    if from.port() != 0 {
        // As HAProxy: a fixed source port in TIME_WAIT from the last
        // connection can be bound again.
        sock.set_reuse_address(true)?;
    } else {
        // Best effort: without it the port is chosen at bind, from a smaller set.
        let one: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option value of the size given.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    sock.bind(&from.into())?;
    match sock.connect(&to.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let std: std::net::TcpStream = sock.into();
    let s = TcpStream::from_std(std)?;
    s.writable(false).await?;
    // SAFETY: the fd is the socket `s` owns, open for the whole call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(s.as_raw_fd()) };
    let sock = socket2::SockRef::from(&fd);
    if let Some(e) = sock.take_error()? {
        return Err(e);
    }
    // The epoll driver wants non-blocking sockets; io_uring's operations
    // expect blocking ones (as `worker/accept.rs` gives them).
    if !monoio::utils::is_legacy() {
        sock.set_nonblocking(false)?;
    }
    Ok(s)
}

/// A server's address as HAProxy's stats write it: `ip:port`, or for a
/// port-relative server `ip:<offset>` (`127.0.0.2:-1` for `:-1`).
pub fn shown_inet(sa: std::net::SocketAddr, port_offset: Option<i32>) -> String {
    match port_offset {
        Some(o) => {
            let mut s = sa.to_string();
            s.truncate(s.rfind(':').unwrap_or(s.len()));
            format!("{s}:{o}")
        }
        None => sa.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(s: &str) -> Address {
        Address::Inet(s.parse().expect("test address"))
    }

    #[test]
    fn relative_ports_follow_the_client() {
        // The address's own port (the offset, as HAProxy stores it) is not used.
        let a = inet("127.0.0.2:7");
        assert_eq!(
            target(&a, Some(0), Some(8080)).unwrap(),
            inet("127.0.0.2:8080")
        );
        assert_eq!(
            target(&a, Some(1), Some(8080)).unwrap(),
            inet("127.0.0.2:8081")
        );
        assert_eq!(
            target(&a, Some(-80), Some(8080)).unwrap(),
            inet("127.0.0.2:8000")
        );
        assert!(matches!(
            target(&a, Some(-1), Some(1)),
            Err(ConnectError::NoPort(_))
        ));
        assert!(matches!(
            target(&a, Some(1), Some(65535)),
            Err(ConnectError::NoPort(_))
        ));
        assert!(matches!(
            target(&a, Some(0), None),
            Err(ConnectError::NoPort(None))
        ));
        let fixed = inet("127.0.0.2:81");
        assert_eq!(target(&fixed, None, Some(8080)).unwrap(), fixed);
    }

    #[test]
    fn relative_ports_are_shown_as_offsets() {
        let sa = |s: &str| s.parse().expect("test address");
        assert_eq!(shown_inet(sa("127.0.0.2:65535"), Some(-1)), "127.0.0.2:-1");
        assert_eq!(shown_inet(sa("[::1]:1"), Some(1)), "[::1]:1");
        assert_eq!(shown_inet(sa("127.0.0.2:80"), None), "127.0.0.2:80");
    }
}
