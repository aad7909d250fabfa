//! Reads and writes with deadlines over owned buffers.
//!
//! io_uring takes ownership of a buffer for the duration of an operation. When
//! a deadline expires the operation is cancelled and its buffer is not handed
//! back, so these helpers put a fresh pool buffer in its place; the caller is
//! about to end the exchange in that case anyway.

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::time::Instant;

use crate::bufpool;
use crate::stream::Stream;

/// Result of reading more bytes into a buffer.
#[derive(Debug)]
pub enum ReadOutcome {
    /// `n` bytes were appended.
    Data(usize),
    /// The peer closed its side.
    Eof,
    /// The deadline passed first.
    Timeout,
    /// The socket failed.
    Error(std::io::Error),
}

/// Why a write did not complete.
#[derive(Debug)]
pub enum WriteFail {
    /// The deadline passed first.
    Timeout,
    /// The socket failed.
    Error(std::io::Error),
}

/// Appends what arrives on `s` to `buf` (which must have spare capacity).
pub async fn read_more(s: &mut Stream, buf: &mut Vec<u8>, deadline: Instant) -> ReadOutcome {
    let b = std::mem::take(buf);
    let (len, cap) = (b.len(), b.capacity());
    debug_assert!(len < cap);
    match monoio::time::timeout_at(deadline, s.read(b.slice_mut(len..cap))).await {
        Ok((res, slice)) => {
            *buf = slice.into_inner();
            match res {
                Ok(0) => ReadOutcome::Eof,
                Ok(n) => ReadOutcome::Data(n),
                Err(e) => ReadOutcome::Error(e),
            }
        }
        Err(_) => {
            *buf = bufpool::take();
            ReadOutcome::Timeout
        }
    }
}

/// Writes `buf[range]` entirely to `s`.
pub async fn write_range(
    s: &mut Stream,
    buf: &mut Vec<u8>,
    start: usize,
    end: usize,
    deadline: Instant,
) -> Result<(), WriteFail> {
    if start == end {
        return Ok(());
    }
    let b = std::mem::take(buf);
    match monoio::time::timeout_at(deadline, s.write_all(b.slice(start..end))).await {
        Ok((res, slice)) => {
            *buf = slice.into_inner();
            res.map(|_| ()).map_err(WriteFail::Error)
        }
        Err(_) => {
            *buf = bufpool::take();
            Err(WriteFail::Timeout)
        }
    }
}

/// Writes all of `buf` to `s`.
pub async fn write_all(
    s: &mut Stream,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(), WriteFail> {
    let end = buf.len();
    write_range(s, buf, 0, end, deadline).await
}
