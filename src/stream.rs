//! One stream type for both sides of a session: TCP or Unix socket.
//!
//! Binds and servers accept `ip:port`, `unix@path` and `fd@n` alike, so the
//! session code works over this enum instead of being generic twice.

use std::os::fd::{AsRawFd, RawFd};

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, CancelHandle, CancelableAsyncReadRent, Split};
use monoio::net::{TcpStream, UnixStream};

/// A connected stream socket.
#[derive(Debug)]
pub enum Stream {
    /// TCP over IPv4 or IPv6.
    Tcp(TcpStream),
    /// A Unix stream socket.
    Unix(UnixStream),
}

// SAFETY: both variants implement `Split` in monoio (their reads and writes are
// independent operations on one fd), and the enum only forwards to them.
unsafe impl Split for Stream {}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Stream {
    /// Whether an idle connection is still open and silent: a peer that closed or
    /// sent unsolicited bytes must not carry the next request.
    pub fn is_idle_and_open(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: `byte` is a valid, writable 1-byte buffer for the duration of the
        // call, and the fd belongs to this live stream. MSG_DONTWAIT never blocks.
        let n = unsafe {
            libc::recv(
                self.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
    }
}

impl AsyncReadRent for Stream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.readv(buf).await,
            Stream::Unix(s) => s.readv(buf).await,
        }
    }
}

impl CancelableAsyncReadRent for Stream {
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.cancelable_read(buf, c).await,
            Stream::Unix(s) => s.cancelable_read(buf, c).await,
        }
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.cancelable_readv(buf, c).await,
            Stream::Unix(s) => s.cancelable_readv(buf, c).await,
        }
    }
}

impl AsyncWriteRent for Stream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.write(buf).await,
            Stream::Unix(s) => s.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.writev(buf).await,
            Stream::Unix(s) => s.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown().await,
            Stream::Unix(s) => s.shutdown().await,
        }
    }
}
