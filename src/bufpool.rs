//! The per-worker pool of 16 KB buffers, and a smaller one of 64 KB buffers
//! for streaming large bodies.
//!
//! Each worker thread keeps its own free lists, so taking and returning a
//! buffer is a thread-local push/pop with no lock. Buffers that a cancelled
//! io_uring operation keeps are simply not returned; the pool allocates a new
//! one.
//!
//! Heads and small bodies fit in 16 KB (HAProxy's `tune.bufsize`). A body
//! larger than that is streamed through a 64 KB buffer instead: a quarter of
//! the reads and sends, and of the wake-ups of the peer they cause. On 1 MB
//! responses that took ringlb from 1,100 to 1,800-2,100 responses/s on one
//! core (HAProxy with 16 KB: 1,500-1,750), for 64 KB held only while such a
//! body is in flight.

use std::cell::RefCell;

/// Size of one session buffer, as HAProxy's default `tune.bufsize`.
pub const BUF_SIZE: usize = 16 * 1024;
/// Size of a buffer that streams a large body.
pub const STREAM_BUF_SIZE: usize = 64 * 1024;
/// Free buffers kept per worker beyond which returned ones are freed.
const MAX_FREE: usize = 4096;
/// Free streaming buffers kept per worker (4 MB).
const MAX_FREE_STREAM: usize = 64;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static FREE_STREAM: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Takes an empty buffer of [`STREAM_BUF_SIZE`] capacity from this worker's pool.
pub fn take_stream() -> Vec<u8> {
    FREE_STREAM
        .with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(STREAM_BUF_SIZE))
}

/// Takes an empty buffer of [`BUF_SIZE`] capacity from this worker's pool.
pub fn take() -> Vec<u8> {
    FREE.with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE))
}

/// Returns a buffer to this worker's pool (cleared; odd-sized ones are dropped).
pub fn give(mut buf: Vec<u8>) {
    let (list, max) = match buf.capacity() {
        BUF_SIZE => (&FREE, MAX_FREE),
        STREAM_BUF_SIZE => (&FREE_STREAM, MAX_FREE_STREAM),
        _ => return,
    };
    buf.clear();
    list.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < max {
            f.push(buf);
        }
    });
}

/// Moves what `buf` holds into `to`, and `buf`'s old storage back to the pool.
pub fn move_into(buf: &mut Vec<u8>, mut to: Vec<u8>) {
    to.extend_from_slice(buf);
    give(std::mem::replace(buf, to));
}

/// Sizes a buffer that streams one direction of a flow, after a read of
/// `last_read` bytes that `filled` the buffer or not: bulk (a read fills the
/// 16 KB buffer) moves to a 64 KB one, and reads under 4 KB move it back, so
/// a long-poll, an event stream or a quiet TCP session holds 16 KB, not 64.
/// Both the HTTP body relay and the TCP relay follow this one rule.
pub fn fit_to_flow(buf: &mut Vec<u8>, filled: bool, last_read: usize) {
    if filled && buf.capacity() == BUF_SIZE {
        move_into(buf, take_stream());
    } else if buf.capacity() == STREAM_BUF_SIZE && last_read < BUF_SIZE / 4 && buf.len() < BUF_SIZE
    {
        move_into(buf, take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_cleared() {
        let mut b = take();
        assert_eq!(b.capacity(), BUF_SIZE);
        b.extend_from_slice(b"abc");
        let p = b.as_ptr();
        give(b);
        let b2 = take();
        assert!(b2.is_empty());
        assert_eq!(b2.as_ptr(), p);
    }

    #[test]
    fn stream_buffers_have_their_own_list() {
        let s = take_stream();
        assert_eq!(s.capacity(), STREAM_BUF_SIZE);
        let p = s.as_ptr();
        give(s);
        let small = take();
        assert_eq!(small.capacity(), BUF_SIZE, "a 16 KB take never gets 64 KB");
        let again = take_stream();
        assert_eq!(again.as_ptr(), p);
    }

    #[test]
    fn a_flow_grows_on_full_reads_and_shrinks_on_small_ones() {
        let mut b = take();
        b.extend_from_slice(b"left");
        fit_to_flow(&mut b, false, BUF_SIZE - 1);
        assert_eq!(b.capacity(), BUF_SIZE, "a read short of full stays small");
        fit_to_flow(&mut b, true, BUF_SIZE);
        assert_eq!((b.capacity(), &b[..]), (STREAM_BUF_SIZE, &b"left"[..]));
        fit_to_flow(&mut b, false, BUF_SIZE / 4);
        assert_eq!(b.capacity(), STREAM_BUF_SIZE, "a 4 KB read keeps it big");
        b.resize(BUF_SIZE, 0);
        fit_to_flow(&mut b, false, 10);
        assert_eq!(
            b.capacity(),
            STREAM_BUF_SIZE,
            "16 KB left over does not fit back"
        );
        b.truncate(4);
        fit_to_flow(&mut b, false, 10);
        assert_eq!((b.capacity(), &b[..]), (BUF_SIZE, &b"left"[..]));
    }

    #[test]
    fn foreign_sizes_are_not_pooled() {
        give(Vec::with_capacity(10));
        let b = take();
        assert_eq!(b.capacity(), BUF_SIZE);
    }
}
