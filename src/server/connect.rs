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
}

/// Connects to `address` within `timeout`; `keepalive` turns TCP
/// keep-alive on (`option srvtcpka`).
pub async fn connect(
    address: &Address,
    timeout: Duration,
    keepalive: bool,
) -> Result<Stream, ConnectError> {
    let fut = async {
        match address {
            Address::Inet(sa) => {
                let s = TcpStream::connect_addr(*sa).await?;
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
            Address::Fd(_) => Err(ConnectError::Unsupported(address.clone())),
        }
    };
    match crate::deadline::within(monoio::time::Instant::now() + timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout(timeout)),
    }
}
