//! One stream type for both sides of a session: TCP or Unix socket, or TLS
//! over either.
//!
//! Binds and servers accept `ip:port`, `unix@path` and `fd@n` alike, so the
//! session code works over this enum instead of being generic twice. Nothing
//! outside reaches around a stream to its socket for I/O: the peeks, the
//! closing `send(MSG_MORE)` and splicing ask the stream, which knows whether
//! bytes on the socket are the session's or TLS records.

use std::os::fd::{AsRawFd, RawFd};

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, CancelHandle, CancelableAsyncReadRent, Split};
use monoio::net::{TcpStream, UnixStream};

use crate::tls::{TlsInfo, TlsStream};

/// A connected stream socket.
#[derive(Debug)]
pub enum Stream {
    /// TCP over IPv4 or IPv6.
    Tcp(TcpStream),
    /// A Unix stream socket.
    Unix(UnixStream),
    /// TLS over one of the above (boxed: the plain variants stay small).
    Tls(Box<TlsStream>),
}

// SAFETY: the plain variants implement `Split` in monoio (their reads and
// writes are independent operations on one fd), and the enum only forwards
// to them. The TLS variant is split-safe by construction (`tls/stream.rs`):
// the read half touches only the socket's read operation, its own spill
// buffer and the rustls state, the write half only the socket's write operation, its own write
// buffer and the rustls state; the rustls state is in a `RefCell` borrowed
// only in synchronous sections (never across an await), and monoio runs
// both halves on one thread, so the two borrows never overlap in time.
unsafe impl Split for Stream {}

/// What a non-blocking look at an idle peer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peek {
    /// The end of the stream (FIN, `close_notify`) or an error (reset).
    Closed,
    /// Bytes for the session to read before any close.
    Data,
    /// Nothing yet.
    Nothing,
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.socket().as_raw_fd(),
        }
    }
}

impl Stream {
    /// Whether an idle connection is still open and silent: a peer that closed or
    /// sent unsolicited bytes must not carry the next request. On TLS, a
    /// `close_notify` or application data counts; a NewSessionTicket does not.
    pub fn is_idle_and_open(&self) -> bool {
        self.peek() == Peek::Nothing
    }

    /// Looks, without waiting, at what the peer did since the last read (on
    /// TLS, records waiting on the socket are taken in and decrypted).
    pub fn peek(&self) -> Peek {
        if let Stream::Tls(s) = self {
            return s.peek();
        }
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
        match n {
            0 => Peek::Closed,
            1.. => Peek::Data,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => {
                Peek::Nothing
            }
            _ => Peek::Closed,
        }
    }

    /// Throws away what the peer sent and nobody will read (at most 64 KiB),
    /// without waiting: a socket closed with unread bytes sends a reset
    /// instead of a FIN. HAProxy drains so before closing a connection it
    /// gives up on (a `mode tcp` connection with no backend).
    pub fn discard_pending(&self) {
        let mut buf = [0u8; 4096];
        for _ in 0..16 {
            // SAFETY: `buf` is valid for writes of its length for the call and
            // the fd belongs to this live stream; MSG_DONTWAIT never blocks.
            let n = unsafe {
                libc::recv(
                    self.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                break;
            }
        }
    }

    /// Waits until the socket is readable (for TLS, its ciphertext).
    pub async fn readable(&self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable(false).await,
            Stream::Unix(s) => s.readable(false).await,
            Stream::Tls(s) => Box::pin(s.socket().readable()).await,
        }
    }

    /// The socket when bytes written to it raw are the session's own: `None`
    /// on TLS, where only the stream may write (no `send(MSG_MORE)`, no splice).
    pub fn plain_fd(&self) -> Option<RawFd> {
        match self {
            Stream::Tls(_) => None,
            s => Some(s.as_raw_fd()),
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// What the TLS handshake settled, on a TLS stream.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        match self {
            Stream::Tls(s) => Some(s.info()),
            _ => None,
        }
    }
}

impl AsyncReadRent for Stream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
            // Boxed: the TLS future would widen every plain read's.
            Stream::Tls(s) => Box::pin(s.read(buf)).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.readv(buf).await,
            Stream::Unix(s) => s.readv(buf).await,
            Stream::Tls(s) => Box::pin(s.readv(buf)).await,
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
            Stream::Tls(s) => Box::pin(s.cancelable_read(buf, c)).await,
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
            Stream::Tls(s) => Box::pin(s.cancelable_readv(buf, c)).await,
        }
    }
}

impl AsyncWriteRent for Stream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.write(buf).await,
            Stream::Unix(s) => s.write(buf).await,
            Stream::Tls(s) => Box::pin(s.write(buf)).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Tcp(s) => s.writev(buf).await,
            Stream::Unix(s) => s.writev(buf).await,
            Stream::Tls(s) => Box::pin(s.writev(buf)).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tls(s) => Box::pin(s.flush()).await,
            _ => Ok(()),
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown().await,
            Stream::Unix(s) => s.shutdown().await,
            // close_notify, then the socket's write side.
            Stream::Tls(s) => Box::pin(s.shutdown()).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_variant_does_not_grow_the_stream() {
        assert!(
            std::mem::size_of::<Stream>()
                <= std::mem::size_of::<TcpStream>().max(std::mem::size_of::<UnixStream>()) + 8
        );
    }
}
