//! Reads and writes with deadlines over owned buffers.
//!
//! io_uring owns a buffer while an operation runs. Dropping an in-flight read
//! to honour a deadline would lose whatever the kernel completes it with, so a
//! read that reaches its deadline is *cancelled and then awaited*: it finishes
//! either with the bytes that raced in (kept) or with "cancelled" (a timeout),
//! and the buffer always comes back. Writes that miss their deadline end the
//! exchange, so they are simply dropped and the buffer replaced from the pool.

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller};
use monoio::time::Instant;

use crate::bufpool;
use crate::deadline::LazyTimer;

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

/// Appends what arrives on `s` to `buf` (which must have spare capacity),
/// waiting until `deadline` at most. No byte is ever lost to the deadline.
pub async fn read_more<R: CancelableAsyncReadRent>(
    s: &mut R,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> ReadOutcome {
    let b = std::mem::take(buf);
    let (len, cap) = (b.len(), b.capacity());
    debug_assert!(len < cap);
    let canceller = Canceller::new();
    let read = s.cancelable_read(b.slice_mut(len..cap), canceller.handle());
    let mut read = std::pin::pin!(read);
    let mut timed_out = false;
    let (res, slice) = monoio::select! {
        r = &mut read => r,
        _ = crate::deadline::timer(deadline) => {
            timed_out = true;
            canceller.cancel();
            (&mut read).await
        }
    };
    *buf = slice.into_inner();
    outcome(res, timed_out)
}

/// [`read_more`] for a loop of reads with an idle deadline (a relay):
/// waits on `timer`, kept across reads, until `deadline()`, and registers
/// the read with `canceller`, also kept (a fresh one replaces it after a
/// cancel). Neither a timer nor a canceller is made per read.
pub async fn read_more_idle<R: CancelableAsyncReadRent>(
    s: &mut R,
    buf: &mut Vec<u8>,
    timer: &mut LazyTimer,
    canceller: &mut Canceller,
    deadline: impl Fn() -> Instant,
) -> ReadOutcome {
    let b = std::mem::take(buf);
    let (len, cap) = (b.len(), b.capacity());
    debug_assert!(len < cap);
    let read = s.cancelable_read(b.slice_mut(len..cap), canceller.handle());
    let mut read = std::pin::pin!(read);
    let mut timed_out = false;
    let (res, slice) = monoio::select! {
        r = &mut read => r,
        _ = timer.expired(deadline) => {
            timed_out = true;
            *canceller = std::mem::take(canceller).cancel();
            (&mut read).await
        }
    };
    *buf = slice.into_inner();
    outcome(res, timed_out)
}

fn outcome(res: std::io::Result<usize>, timed_out: bool) -> ReadOutcome {
    match res {
        Ok(0) => ReadOutcome::Eof,
        Ok(n) => ReadOutcome::Data(n),
        Err(_) if timed_out => ReadOutcome::Timeout,
        Err(e) => ReadOutcome::Error(e),
    }
}

/// [`write_range`] for a loop of writes: waits on `timer`, kept across
/// writes, until `deadline()`.
pub async fn write_range_idle<W: AsyncWriteRent>(
    s: &mut W,
    buf: &mut Vec<u8>,
    range: (usize, usize),
    timer: &mut LazyTimer,
    deadline: impl Fn() -> Instant,
) -> Result<(), WriteFail> {
    let (start, end) = range;
    if start == end {
        return Ok(());
    }
    let b = std::mem::take(buf);
    monoio::select! {
        (res, slice) = s.write_all(b.slice(start..end)) => {
            *buf = slice.into_inner();
            res.map(|_| ()).map_err(WriteFail::Error)
        }
        _ = timer.expired(deadline) => {
            *buf = bufpool::take();
            Err(WriteFail::Timeout)
        }
    }
}

/// Writes `buf[start..end]` entirely to `s`.
pub async fn write_range<W: AsyncWriteRent>(
    s: &mut W,
    buf: &mut Vec<u8>,
    start: usize,
    end: usize,
    deadline: Instant,
) -> Result<(), WriteFail> {
    if start == end {
        return Ok(());
    }
    let b = std::mem::take(buf);
    match crate::deadline::within(deadline, s.write_all(b.slice(start..end))).await {
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
pub async fn write_all<W: AsyncWriteRent>(
    s: &mut W,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(), WriteFail> {
    let end = buf.len();
    write_range(s, buf, 0, end, deadline).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use monoio::io::AsyncWriteRentExt;

    use super::*;

    fn rt() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    #[test]
    fn read_times_out_then_keeps_later_bytes() {
        rt().block_on(async {
            let (mut a, mut b) = monoio::net::UnixStream::pair().unwrap();
            let mut buf = Vec::with_capacity(64);
            let r = read_more(&mut a, &mut buf, Instant::now() + Duration::from_millis(20)).await;
            assert!(matches!(r, ReadOutcome::Timeout));
            assert_eq!(buf.capacity(), 64, "the buffer comes back after a timeout");
            let (res, _) = b.write_all(b"hello".to_vec()).await;
            res.unwrap();
            let r = read_more(&mut a, &mut buf, Instant::now() + Duration::from_secs(1)).await;
            assert!(matches!(r, ReadOutcome::Data(5)));
            assert_eq!(buf, b"hello");
        });
    }
}
