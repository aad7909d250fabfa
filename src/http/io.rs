//! Reads and writes with deadlines over owned buffers.
//!
//! io_uring owns a buffer while an operation runs, so a read or write that
//! reaches its deadline is dropped with its buffer (monoio cancels it and
//! frees the buffer when the kernel lets go): `buf` comes back empty, without
//! capacity. Every deadline here ends the connection, so what was in flight
//! is not wanted. The one wait that must go on reading after a wake-up (a
//! soft-stop check while a client is idle) keeps its read in flight across
//! wake-ups ([`read_more_watch`]); the one that must keep bytes racing a
//! deadline (the RDP cookie wait) cancels and awaits ([`read_more_kept`]).
//! Deadlines wait on a [`LazyTimer`] kept by the caller, one per direction.
//! Every select here is `biased;`, the operation before its deadline: an
//! operation done wins over a deadline passing in the same poll, and no
//! random number is drawn per poll (4-5 % of userspace instructions).

use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, SliceMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller,
};
use monoio::time::Instant;

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
/// waiting on `timer` until `deadline` at most. On a timeout the read is
/// dropped and `buf` is left without capacity.
pub async fn read_more<R: AsyncReadRent>(
    s: &mut R,
    buf: &mut Vec<u8>,
    timer: &mut LazyTimer,
    deadline: Instant,
) -> ReadOutcome {
    read_unless(s, buf, timer.expired_at(deadline)).await
}

/// [`read_more`] for a loop of reads with an idle deadline that activity
/// elsewhere may push back (a relay): `deadline()` is read again whenever
/// `timer` fires.
pub async fn read_more_idle<R: AsyncReadRent>(
    s: &mut R,
    buf: &mut Vec<u8>,
    timer: &mut LazyTimer,
    deadline: impl Fn() -> Instant,
) -> ReadOutcome {
    read_unless(s, buf, timer.expired(deadline)).await
}

/// One read into `buf`'s spare capacity, dropped if `expired` ends first.
async fn read_unless<R: AsyncReadRent>(
    s: &mut R,
    buf: &mut Vec<u8>,
    expired: impl std::future::Future<Output = ()>,
) -> ReadOutcome {
    monoio::select! {
        biased;
        (res, slice) = s.read(spare(buf)) => {
            *buf = slice.into_inner();
            outcome(res)
        }
        _ = expired => ReadOutcome::Timeout,
    }
}

/// [`read_more`] that also wakes up every `every` to ask `give_up()`; the
/// read stays in flight across wake-ups (no byte can be lost to one), and
/// giving up reads as a timeout.
pub async fn read_more_watch<R: AsyncReadRent>(
    s: &mut R,
    buf: &mut Vec<u8>,
    timer: &mut LazyTimer,
    deadline: Instant,
    every: Duration,
    mut give_up: impl FnMut() -> bool,
) -> ReadOutcome {
    let mut read = std::pin::pin!(s.read(spare(buf)));
    loop {
        let wake = deadline.min(crate::deadline::coarse_now() + every);
        monoio::select! {
            biased;
            (res, slice) = &mut read => {
                *buf = slice.into_inner();
                return outcome(res);
            }
            _ = timer.expired_at(wake) => {
                if wake >= deadline || give_up() {
                    return ReadOutcome::Timeout;
                }
            }
        }
    }
}

/// Appends what arrives on `s` to `buf` until `deadline`, keeping every byte:
/// a read reaching the deadline is cancelled and then awaited, so it ends
/// either with the bytes that raced in or as a timeout, and `buf` always
/// comes back. For a wait after which the connection goes on.
pub async fn read_more_kept<R: CancelableAsyncReadRent>(
    s: &mut R,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> ReadOutcome {
    let canceller = Canceller::new();
    let read = s.cancelable_read(spare(buf), canceller.handle());
    let mut read = std::pin::pin!(read);
    let mut timed_out = false;
    let (res, slice) = monoio::select! {
        biased;
        r = &mut read => r,
        _ = crate::deadline::timer(deadline) => {
            timed_out = true;
            canceller.cancel();
            (&mut read).await
        }
    };
    *buf = slice.into_inner();
    match res {
        Err(_) if timed_out => ReadOutcome::Timeout,
        res => outcome(res),
    }
}

/// Takes `buf` out for a read into its spare capacity (it must have some);
/// the read gives it back.
fn spare(buf: &mut Vec<u8>) -> SliceMut<Vec<u8>> {
    let b = std::mem::take(buf);
    let (len, cap) = (b.len(), b.capacity());
    debug_assert!(len < cap);
    b.slice_mut(len..cap)
}

fn outcome(res: std::io::Result<usize>) -> ReadOutcome {
    match res {
        Ok(0) => ReadOutcome::Eof,
        Ok(n) => ReadOutcome::Data(n),
        Err(e) => ReadOutcome::Error(e),
    }
}

/// Writes `buf[start..end]` entirely to `s`, waiting on `timer` until
/// `deadline` at most. On a timeout the write is dropped and `buf` is left
/// without capacity.
pub async fn write_range<W: AsyncWriteRent>(
    s: &mut W,
    buf: &mut Vec<u8>,
    (start, end): (usize, usize),
    timer: &mut LazyTimer,
    deadline: Instant,
) -> Result<(), WriteFail> {
    if start == end {
        return Ok(());
    }
    let b = std::mem::take(buf);
    monoio::select! {
        biased;
        (res, slice) = s.write_all(b.slice(start..end)) => {
            *buf = slice.into_inner();
            res.map(|_| ()).map_err(WriteFail::Error)
        }
        _ = timer.expired_at(deadline) => Err(WriteFail::Timeout),
    }
}

/// Writes all of `buf` to `s` (see [`write_range`]).
pub async fn write_all<W: AsyncWriteRent>(
    s: &mut W,
    buf: &mut Vec<u8>,
    timer: &mut LazyTimer,
    deadline: Instant,
) -> Result<(), WriteFail> {
    let end = buf.len();
    write_range(s, buf, (0, end), timer, deadline).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use monoio::io::AsyncWriteRentExt;

    use super::*;

    use crate::test_runtime as rt;

    #[test]
    fn read_times_out_then_keeps_later_bytes() {
        rt().block_on(async {
            let (mut a, mut b) = monoio::net::UnixStream::pair().unwrap();
            let mut buf = Vec::with_capacity(64);
            let r =
                read_more_kept(&mut a, &mut buf, Instant::now() + Duration::from_millis(20)).await;
            assert!(matches!(r, ReadOutcome::Timeout));
            assert_eq!(buf.capacity(), 64, "the buffer comes back after a timeout");
            let (res, _) = b.write_all(b"hello".to_vec()).await;
            res.unwrap();
            let r = read_more_kept(&mut a, &mut buf, Instant::now() + Duration::from_secs(1)).await;
            assert!(matches!(r, ReadOutcome::Data(5)));
            assert_eq!(buf, b"hello");
        });
    }

    #[test]
    fn a_watched_read_keeps_going_across_wake_ups() {
        rt().block_on(async {
            let (mut a, mut b) = monoio::net::UnixStream::pair().unwrap();
            let mut timer = LazyTimer::new();
            let mut buf = Vec::with_capacity(64);
            let wakes = std::cell::Cell::new(0);
            let deadline = Instant::now() + Duration::from_secs(5);
            let read = read_more_watch(
                &mut a,
                &mut buf,
                &mut timer,
                deadline,
                Duration::from_millis(10),
                || {
                    wakes.set(wakes.get() + 1);
                    false
                },
            );
            let write = async {
                monoio::time::sleep(Duration::from_millis(60)).await;
                b.write_all(b"late".to_vec()).await.0.unwrap();
            };
            let (r, ()) = monoio::join!(read, write);
            assert!(matches!(r, ReadOutcome::Data(4)), "{r:?}");
            assert_eq!(buf, b"late");
            assert!(wakes.get() >= 2, "woke {} times", wakes.get());
            // Giving up ends the wait as a timeout; so does the deadline.
            buf.clear();
            let r = read_more_watch(
                &mut a,
                &mut buf,
                &mut timer,
                deadline,
                Duration::from_millis(10),
                || true,
            )
            .await;
            assert!(matches!(r, ReadOutcome::Timeout));
            let mut buf = Vec::with_capacity(64);
            let soon = Instant::now() + Duration::from_millis(20);
            let r = read_more(&mut a, &mut buf, &mut timer, soon).await;
            assert!(matches!(r, ReadOutcome::Timeout));
            assert_eq!(buf.capacity(), 0, "the read was dropped with its buffer");
        });
    }
}
