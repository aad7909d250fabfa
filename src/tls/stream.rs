//! The TLS stream: rustls over a monoio socket, safe to split into a read
//! half and a write half that the sessions use at the same time.
//!
//! Not monoio-rustls: its read path flushes pending writes and both halves
//! mutate the session across awaits. Here the rules are:
//! - the handshake is complete and flushed before the stream exists
//!   (`handshake.rs`), except a TLS 1.3 server's session tickets, which stay
//!   queued for the first write (the response) to carry;
//! - the rustls connection sits in a `RefCell` borrowed only in synchronous
//!   sections, never across an await, so the halves' borrows never overlap
//!   (and a mistake would panic, not corrupt);
//! - the write side writes ciphertext to the socket; records the read side
//!   causes (a KeyUpdate reply, the no_renegotiation alert) it sends at once
//!   with a non-blocking `send` only while no write is in flight (else the
//!   write side's flush takes them after its own), so bytes never interleave;
//! - the read side reads ciphertext into the caller's buffer, hands it to
//!   rustls and copies the plaintext back over it: no second 16 KB buffer
//!   per connection (rustls's own record buffer shrinks to 4 KB when idle).

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead as _, Write as _};

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelHandle};
use rustls::Connection;

use super::info::TlsInfo;
use crate::stream::{Peek, Stream};

/// Most ciphertext read from the socket at once: one full record.
const MAX_READ: usize = 16 * 1024 + 256;

/// rustls refuses more ciphertext while it holds more plaintext than this
/// (its received-plaintext limit): the rest waits in the spill.
const PLAINTEXT_LIMIT: usize = 16 * 1024;

/// Most plaintext encrypted per write: rustls queues at most 64 KB of records.
const MAX_WRITE: usize = 48 * 1024;

/// A reader with nothing yet (not the end of the stream).
struct Drained;

impl io::Read for Drained {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// A TLS connection over a TCP or Unix socket, past its handshake.
pub struct TlsStream {
    /// The socket (never itself `Stream::Tls`).
    sock: Stream,
    /// The rustls state; borrowed only between awaits.
    conn: RefCell<Connection>,
    /// Read side only: ciphertext read but not yet taken by rustls (its
    /// plaintext buffer was full); empty and unallocated but for that moment.
    spill: RefCell<Vec<u8>>,
    /// Write side only: the ciphertext being sent (taken while a write is
    /// in flight, dropped once it is sent). May hold bytes a non-blocking
    /// send could not take: they go first.
    wbuf: Vec<u8>,
    /// A write side's flush is awaiting the socket: the read side must not send.
    writing: Cell<bool>,
    /// What the handshake settled.
    info: TlsInfo,
    /// A server-side connection's `maxsslconn` slot, given back with the stream.
    slot: Option<super::limit::SslSlot>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("info", &self.info)
            .finish()
    }
}

impl TlsStream {
    /// A stream over `sock` whose handshake `conn` completed (and was flushed).
    pub(super) fn new(sock: Stream, conn: Connection) -> Self {
        let info = TlsInfo::of(&conn);
        TlsStream {
            sock,
            conn: RefCell::new(conn),
            spill: RefCell::new(Vec::new()),
            wbuf: Vec::new(),
            writing: Cell::new(false),
            info,
            slot: None,
        }
    }

    /// Keeps `slot` (a `maxsslconn` place) until the stream is dropped.
    pub fn hold(&mut self, slot: super::limit::SslSlot) {
        self.slot = Some(slot);
    }

    /// The socket under the TLS layer.
    pub fn socket(&self) -> &Stream {
        &self.sock
    }

    /// What the handshake settled (version, cipher, SNI, ALPN, client certificate).
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Asks the peer to update its keys as well (a TLS 1.3 KeyUpdate with
    /// update_requested, sent with the next write): the tests' way to make
    /// the peer's read side answer while its write side is busy.
    #[cfg(test)]
    pub(super) fn request_key_update(&self) {
        self.conn.borrow_mut().refresh_traffic_keys().unwrap();
    }

    /// What the handshake settled, for the connecting side to note the SNI it sent.
    pub(super) fn info_mut(&mut self) -> &mut TlsInfo {
        &mut self.info
    }

    /// Copies decrypted plaintext to `dst` (`cap` bytes): `None` when rustls
    /// has none and more ciphertext is needed; `Some(Ok(0))` after the peer's
    /// `close_notify`.
    fn take_plaintext(&self, dst: *mut u8, cap: usize) -> Option<io::Result<usize>> {
        let mut conn = self.conn.borrow_mut();
        let mut reader = conn.reader();
        match reader.fill_buf() {
            Ok(chunk) => {
                let n = chunk.len().min(cap);
                // SAFETY: `dst` is valid for writes of `cap` bytes (the caller's
                // buffer, not otherwise borrowed), and `chunk` is rustls's own
                // memory: the ranges cannot overlap.
                unsafe { std::ptr::copy_nonoverlapping(chunk.as_ptr(), dst, n) };
                reader.consume(n);
                Some(Ok(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            // The socket's EOF without close_notify: EOF all the same (HTTP
            // and the relays have their own framing).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Some(Ok(0)),
            Err(e) => Some(Err(e)),
        }
    }

    /// Hands `data` (ciphertext) to rustls and decrypts it. A TLS error is
    /// `InvalidData`; the alert rustls queues goes out with the next write.
    /// Ciphertext spilled earlier goes first.
    fn feed(&self, data: &[u8]) -> io::Result<bool> {
        let pending = std::mem::take(&mut *self.spill.borrow_mut());
        if pending.is_empty() {
            return self.feed_now(data);
        }
        let mut all = pending;
        all.extend_from_slice(data);
        self.feed_now(&all)
    }

    /// [`feed`](Self::feed) without the spill: what rustls cannot take yet
    /// (its plaintext buffer is full) is spilled.
    /// Whether it made rustls queue records to send (an alert, a KeyUpdate).
    fn feed_now(&self, mut data: &[u8]) -> io::Result<bool> {
        let invalid = |e| io::Error::new(io::ErrorKind::InvalidData, e);
        let mut conn = self.conn.borrow_mut();
        let mut queued_before = None;
        while !data.is_empty() {
            let state = conn.process_new_packets().map_err(invalid)?;
            queued_before.get_or_insert(state.tls_bytes_to_write());
            if state.plaintext_bytes_to_read() > PLAINTEXT_LIMIT {
                self.spill.borrow_mut().extend_from_slice(data);
                break;
            }
            if conn.read_tls(&mut data)? == 0 {
                break;
            }
        }
        let queued = conn
            .process_new_packets()
            .map_err(invalid)?
            .tls_bytes_to_write();
        // A read that finds nothing lets rustls shrink its record buffer
        // (to 4 KB) once it holds no partial record: an idle connection does
        // not keep the room a large record needed.
        let _ = conn.read_tls(&mut Drained);
        Ok(queued > queued_before.unwrap_or(queued))
    }

    /// The read side's feed: records it made rustls queue go at once when no
    /// write is in flight (a peer waiting for our answer to its renegotiation
    /// request or KeyUpdate must not wait for our next response).
    fn feed_and_answer(&mut self, data: &[u8]) -> io::Result<()> {
        if self.feed(data)? && !self.writing.get() {
            self.send_queued_now(0);
        }
        Ok(())
    }

    /// Reads plaintext into `buf` (the socket read optionally cancelable).
    async fn read_inner<T: IoBufMut>(
        &mut self,
        mut buf: T,
        cancel: Option<CancelHandle>,
    ) -> BufResult<usize, T> {
        let cap = buf.bytes_total();
        if cap == 0 {
            return (Ok(0), buf);
        }
        loop {
            let ptr = buf.write_ptr();
            if let Some(r) = self.take_plaintext(ptr, cap) {
                if let Ok(n) = r {
                    // SAFETY: `n` bytes were just written at the buffer's start.
                    unsafe { buf.set_init(n) };
                }
                return (r, buf);
            }
            // Spilled ciphertext first: the plaintext was drained, so it goes in.
            if !self.spill.borrow().is_empty() {
                if let Err(e) = self.feed_and_answer(&[]) {
                    return (Err(e), buf);
                }
                continue;
            }
            // Ciphertext straight into the caller's buffer, then decrypted
            // back over it.
            let want = cap.min(MAX_READ);
            // SAFETY: `want <= bytes_total`.
            let slice = unsafe { buf.slice_mut_unchecked(0..want) };
            let (r, slice) = match (&mut self.sock, cancel.clone()) {
                (Stream::Tcp(s), None) => s.read(slice).await,
                (Stream::Unix(s), None) => s.read(slice).await,
                (Stream::Tcp(s), Some(c)) => {
                    monoio::io::CancelableAsyncReadRent::cancelable_read(s, slice, c).await
                }
                (Stream::Unix(s), Some(c)) => {
                    monoio::io::CancelableAsyncReadRent::cancelable_read(s, slice, c).await
                }
                (Stream::Tls(_), _) => unreachable!("TLS over TLS"),
            };
            buf = slice.into_inner();
            let n = match r {
                Ok(0) => return (Ok(0), buf),
                Ok(n) => n,
                Err(e) => return (Err(e), buf),
            };
            // SAFETY: the socket read initialised the first `n` bytes.
            let data = unsafe { std::slice::from_raw_parts(buf.write_ptr(), n) };
            if let Err(e) = self.feed_and_answer(data) {
                return (Err(e), buf);
            }
        }
    }

    /// Sends every record rustls has queued (`write_all` of one reusable buffer).
    async fn flush_records(&mut self) -> io::Result<()> {
        loop {
            let mut out = std::mem::take(&mut self.wbuf);
            {
                let mut conn = self.conn.borrow_mut();
                while conn.wants_write() {
                    conn.write_tls(&mut out)?;
                }
            }
            if out.is_empty() {
                self.wbuf = out;
                return Ok(());
            }
            self.writing.set(true);
            let (r, out) = match &mut self.sock {
                Stream::Tcp(s) => s.write_all(out).await,
                Stream::Unix(s) => s.write_all(out).await,
                Stream::Tls(_) => unreachable!("TLS over TLS"),
            };
            self.writing.set(false);
            // A connection keeps no write buffer between writes: an idle one
            // would hold its last flight's size (up to 16 KiB) for nothing.
            // The next flush allocates once (rustls writes its records with
            // one vectored write, which reserves their total).
            drop(out);
            r?;
        }
    }

    /// Sends `close_notify` (and anything still queued) without waiting: the
    /// sessions shut down without a timer, and a peer that stopped reading
    /// must not hold the connection open; it then gets the FIN alone.
    fn send_close_notify(&mut self) {
        self.send_close_notify_with(0);
    }

    /// [`Self::send_close_notify`] with extra `send` flags: `MSG_MORE` when a
    /// shutdown follows at once, so the alert leaves with the FIN in one segment.
    fn send_close_notify_with(&mut self, flags: libc::c_int) {
        self.conn.borrow_mut().send_close_notify();
        self.send_queued_now(flags);
        // Best effort: what the socket did not take is dropped with it.
        self.wbuf.clear();
    }

    /// Sends what is queued (`wbuf`'s leftovers first, then rustls's records)
    /// with a non-blocking `send`; what the socket does not take stays in
    /// `wbuf` for the next flush. Never while a write is in flight.
    fn send_queued_now(&mut self, flags: libc::c_int) {
        let mut out = std::mem::take(&mut self.wbuf);
        {
            let mut conn = self.conn.borrow_mut();
            while conn.wants_write() {
                if conn.write_tls(&mut out).is_err() {
                    break;
                }
            }
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.sock);
        let mut sent = 0;
        while sent < out.len() {
            // SAFETY: `out[sent..]` is valid for reads for the call; the fd is
            // this live stream's. MSG_DONTWAIT never blocks, MSG_NOSIGNAL turns
            // a closed peer into EPIPE.
            let n = unsafe {
                libc::send(
                    fd,
                    out[sent..].as_ptr().cast(),
                    out.len() - sent,
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL | flags,
                )
            };
            if n <= 0 {
                break;
            }
            sent += n as usize;
        }
        out.drain(..sent);
        self.wbuf = out;
    }

    /// Encrypts (some of) `data` and sends it: the count of plaintext bytes taken.
    async fn write_slice(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let n = {
            let mut conn = self.conn.borrow_mut();
            conn.writer().write(&data[..data.len().min(MAX_WRITE)])?
        };
        self.flush_records().await?;
        Ok(n)
    }

    /// What an idle peer has done meanwhile: ciphertext waiting on the socket
    /// is taken in (without waiting) and decrypted; a `close_notify`, an
    /// error or the socket's end is `Closed`, application data is `Data`,
    /// handshake records (a NewSessionTicket) are `Nothing`.
    pub fn peek(&self) -> Peek {
        let mut buf = [0u8; 2048];
        loop {
            {
                let mut conn = self.conn.borrow_mut();
                match conn.reader().fill_buf() {
                    Ok([]) => return Peek::Closed,
                    Ok(_) => return Peek::Data,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Peek::Closed,
                }
            }
            if !self.spill.borrow().is_empty() {
                if self.feed(&[]).is_err() {
                    return Peek::Closed;
                }
                continue;
            }
            let fd = std::os::fd::AsRawFd::as_raw_fd(&self.sock);
            // SAFETY: `buf` is valid for writes of its length for the call and
            // the fd is this live stream's; MSG_DONTWAIT never blocks. The
            // bytes taken go to rustls at once.
            let n =
                unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            match n {
                0 => return Peek::Closed,
                1.. => {
                    if self.feed(&buf[..n as usize]).is_err() {
                        return Peek::Closed;
                    }
                }
                _ if io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock => {
                    return Peek::Nothing;
                }
                _ => return Peek::Closed,
            }
        }
    }

    /// Reads into the first iovec with room (scatter reads are rare here).
    async fn readv_inner<T: IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let tmp = Vec::with_capacity(MAX_READ);
        let (r, tmp) = self.read_inner(tmp, None).await;
        let n = match r {
            Ok(n) => n,
            Err(e) => return (Err(e), buf),
        };
        let mut done = 0;
        let iovs = buf.write_iovec_ptr();
        for i in 0..buf.write_iovec_len() {
            // SAFETY: `write_iovec_ptr` points at `write_iovec_len` iovecs,
            // each valid for writes of its length.
            let iov = unsafe { *iovs.add(i) };
            let k = (n - done).min(iov.iov_len);
            // SAFETY: as above; `tmp` is ours, so the ranges cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(tmp[done..].as_ptr(), iov.iov_base.cast(), k) };
            done += k;
            if done == n {
                break;
            }
        }
        // SAFETY: `done` bytes were written across the iovecs in order.
        unsafe { buf.set_init(done) };
        (Ok(done), buf)
    }
}

/// A TLS stream closes with `close_notify` (or the alert a failure queued),
/// sent without waiting, however the session ends: a relay that ends both
/// ways drops its streams, and the peer must see a clean close, as HAProxy's
/// `SSL_shutdown` gives it.
impl Drop for TlsStream {
    fn drop(&mut self) {
        self.send_close_notify();
    }
}

impl AsyncReadRent for TlsStream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        self.read_inner(buf, None).await
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        self.readv_inner(buf).await
    }
}

impl monoio::io::CancelableAsyncReadRent for TlsStream {
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        self.read_inner(buf, Some(c)).await
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        _c: CancelHandle,
    ) -> BufResult<usize, T> {
        self.readv_inner(buf).await
    }
}

impl AsyncWriteRent for TlsStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: the buffer's first `bytes_init` bytes are initialised, and it
        // is neither moved nor written while `data` lives (rustls copies it
        // before the first await).
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let r = self.write_slice(data).await;
        (r, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let mut plain = Vec::new();
        let iovs = buf.read_iovec_ptr();
        for i in 0..buf.read_iovec_len() {
            // SAFETY: `read_iovec_ptr` points at `read_iovec_len` iovecs, each
            // valid for reads of its length.
            let iov = unsafe { *iovs.add(i) };
            let part =
                unsafe { std::slice::from_raw_parts(iov.iov_base as *const u8, iov.iov_len) };
            plain.extend_from_slice(part);
            if plain.len() >= MAX_WRITE {
                break;
            }
        }
        let r = self.write_slice(&plain).await;
        (r, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flush_records().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        let more = if matches!(self.sock, Stream::Tcp(_)) {
            libc::MSG_MORE
        } else {
            0
        };
        self.send_close_notify_with(more);
        match &mut self.sock {
            Stream::Tcp(s) => s.shutdown().await,
            Stream::Unix(s) => s.shutdown().await,
            Stream::Tls(_) => unreachable!("TLS over TLS"),
        }
    }
}
