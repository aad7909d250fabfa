//! The per-worker pool of 16 KB buffers.
//!
//! Each worker thread keeps its own free list, so taking and returning a buffer
//! is a thread-local push/pop with no lock. Buffers that a cancelled io_uring
//! operation keeps are simply not returned; the pool allocates a new one.

use std::cell::RefCell;

/// Size of one session buffer, as HAProxy's default `tune.bufsize`.
pub const BUF_SIZE: usize = 16 * 1024;
/// Free buffers kept per worker beyond which returned ones are freed.
const MAX_FREE: usize = 4096;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Takes an empty buffer of [`BUF_SIZE`] capacity from this worker's pool.
pub fn take() -> Vec<u8> {
    FREE.with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE))
}

/// Returns a buffer to this worker's pool (cleared; odd-sized ones are dropped).
pub fn give(mut buf: Vec<u8>) {
    if buf.capacity() != BUF_SIZE {
        return;
    }
    buf.clear();
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < MAX_FREE {
            f.push(buf);
        }
    });
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
    fn foreign_sizes_are_not_pooled() {
        give(Vec::with_capacity(10));
        let b = take();
        assert_eq!(b.capacity(), BUF_SIZE);
    }
}
